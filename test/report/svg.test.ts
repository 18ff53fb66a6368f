import { describe, expect, it } from 'vitest';
import { reliabilityBins } from '../../src/metrics/calibration.js';
import { barChart, escapeXml, formatTick, linePlot, reliabilityDiagram } from '../../src/report/svg.js';

/**
 * Minimal XML well-formedness check: one root <svg>, every start tag closed
 * in order, attribute values quoted, no stray '<' or unescaped '&' in text.
 */
function checkWellFormed(svg: string): void {
  expect(svg.startsWith('<svg ')).toBe(true);
  expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
  const stack: string[] = [];
  const tagRe = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  let last = 0;
  let m: RegExpExecArray | null;
  let roots = 0;
  while ((m = tagRe.exec(svg))) {
    const text = svg.slice(last, m.index);
    expect(text, `stray markup before ${m[0]}`).not.toMatch(/[<>]/);
    expect(text).not.toMatch(/&(?!(amp|lt|gt|quot|#39);)/);
    last = tagRe.lastIndex;
    const [, close, name, , self] = m;
    if (close) expect(stack.pop(), `closing </${name}>`).toBe(name);
    else if (!self) {
      if (stack.length === 0) roots++;
      stack.push(name);
    }
  }
  expect(svg.slice(last).trim()).toBe('');
  expect(stack).toEqual([]);
  expect(roots).toBe(1);
  const opens = (svg.match(/<g[\s>]/g) ?? []).length;
  const closes = (svg.match(/<\/g>/g) ?? []).length;
  expect(opens).toBe(closes);
}

describe('linePlot', () => {
  const svg = linePlot({
    title: 'Accuracy vs compression <test> & "quotes"',
    xLabel: 'compression (×)',
    yLabel: 'accuracy',
    xScale: 'log',
    series: [
      { name: 'SNR <VD>', x: [2, 4, 8, 16, 32], y: [0.98, 0.979, 0.975, 0.96, 0.9] },
      { name: 'magnitude', x: [2, 4, 8, 16, 32], y: [0.98, 0.975, 0.96, 0.9, NaN], dashed: true },
      { name: 'random', x: [2, 4, 8], y: [0.97, 0.9, 0.7] },
    ],
  });

  it('is well-formed and contains every (escaped) series name', () => {
    checkWellFormed(svg);
    expect(svg).toContain('SNR &lt;VD&gt;');
    expect(svg).toContain('magnitude');
    expect(svg).toContain('random');
    expect(svg).toContain('&lt;test&gt; &amp; &quot;quotes&quot;');
    expect(svg).not.toContain('<VD>');
  });

  it('draws one path per series with distinct colors and a dashed baseline', () => {
    const series = svg.slice(svg.indexOf('<g class="series"'));
    const paths = series.match(/<path d="M[^"]*" fill="none" stroke="(#[0-9A-F]{6})"/g) ?? [];
    const colors = new Set(paths.map((p) => p.match(/stroke="(#[0-9A-F]{6})"/)![1]));
    expect(colors.size).toBe(3);
    expect(svg).toContain('stroke-dasharray="6 4"');
    // The NaN point breaks nothing: the magnitude path has 4 points.
    const mag = paths[1].match(/[ML][\d.]+,[\d.]+/g) ?? [];
    expect(mag).toHaveLength(4);
  });

  it('labels log ticks at powers of ten', () => {
    expect(svg).toMatch(/>10<\/text>/);
    expect(svg).toMatch(/>100<\/text>/);
  });

  it('handles an empty series list and a fixed y range', () => {
    checkWellFormed(linePlot({ title: 't', xLabel: 'x', yLabel: 'y', series: [] }));
    checkWellFormed(linePlot({ title: 't', xLabel: 'x', yLabel: 'y', yRange: [0, 1], series: [{ name: 'a', x: [0, 1], y: [2, 2] }] }));
  });
});

describe('reliabilityDiagram', () => {
  it('is well-formed, shows the ECE in the title and one bar per non-empty bin', () => {
    const probs = Float32Array.from([0.9, 0.1, 0.8, 0.2, 0.6, 0.4, 0.3, 0.7]);
    const labels = Int32Array.from([0, 1, 0, 1]);
    const bins = reliabilityBins(probs, labels, { bins: 10 });
    const svg = reliabilityDiagram(bins, { title: 'MNIST & SVD' });
    checkWellFormed(svg);
    expect(svg).toMatch(/MNIST &amp; SVD \(ECE = \d\.\d{4}\)/);
    const nonEmpty = bins.filter((b) => b.count > 0).length;
    const bars = svg.slice(svg.indexOf('<g class="bars">'), svg.indexOf('<g class="gaps">'));
    expect((bars.match(/<rect /g) ?? []).length).toBe(nonEmpty);
    expect(svg).toContain('Perfect calibration');
  });
});

describe('barChart', () => {
  it('is well-formed with one bar per finite value and the category labels', () => {
    const svg = barChart({
      title: 'Per-layer sparsity',
      categories: ['conv1', 'conv2', 'fc1_with_a_long_name', 'fc2'],
      series: [
        { name: 'SparseVD', values: [0.5, 0.9, 0.99, 0.6] },
        { name: 'L0', values: [0.4, 0.8, 0.97, NaN] },
      ],
      yLabel: 'sparsity',
      yRange: [0, 1],
    });
    checkWellFormed(svg);
    for (const n of ['SparseVD', 'L0', 'conv1', 'fc1_with_a_long_name']) expect(svg).toContain(n);
    const bars = svg.slice(svg.indexOf('<g class="bars">'), svg.indexOf('<g class="categories"'));
    expect((bars.match(/<rect /g) ?? []).length).toBe(7);
  });
});

describe('helpers', () => {
  it('escapes all five XML special characters', () => {
    expect(escapeXml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });
  it('formats ticks without float noise', () => {
    expect(formatTick(0.30000000000000004, 0.1)).toBe('0.3');
    expect(formatTick(2.5, 2.5)).toBe('2.5');
    expect(formatTick(-0.2, 0.2)).toBe('\u22120.2');
    expect(formatTick(1e-5, 1e-5)).toBe('1e\u22125');
  });
});
