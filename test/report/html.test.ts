/**
 * The HTML report's building blocks without a browser: weight statistics against brute-force
 * loops, the CSV reader against the project's CSV writer, the Vega-Lite specs' data, the page's
 * self-containment, headless SVG rendering, and the SVG reliability diagram's gap boxes.
 */
import { describe, expect, it } from 'vitest';
import { parseCsv } from '../../src/report/html/csv.js';
import { htmlPage, renderSvg } from '../../src/report/html/page.js';
import { lineChart, reliabilityChart, seriesCount, type LinePoint } from '../../src/report/html/specs.js';
import { histogram, LOG_ALPHA_BINS, SNR_DB_BINS, weightStats } from '../../src/report/html/weight-stats.js';
import { reliabilityDiagram } from '../../src/report/svg.js';
import { toCsv } from '../../src/report/table.js';
import type { WeightMoments } from '../../src/nn/layer.js';

/** A deterministic generator (LCG) for test data. */
function lcg(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function moments(name: string, shape: number[], rnd: () => number): WeightMoments {
  const n = shape.reduce((a, b) => a * b, 1);
  const mean = new Float32Array(n);
  const variance = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    mean[i] = (rnd() - 0.5) * 2 * 10 ** (-3 * rnd());
    variance[i] = 10 ** (-6 * rnd());
  }
  return { name: `${name}.weight`, layer: name, shape, mean, variance, macsPerWeight: 1 };
}

describe('histogram', () => {
  it('counts like a loop over the bin edges, with out-of-range values in the end bins and NaN skipped', () => {
    const rnd = lcg(1);
    const xs = Array.from({ length: 500 }, () => (rnd() - 0.5) * 40);
    xs.push(NaN, Infinity, -Infinity);
    const h = histogram(xs, -10, 0.5, 40);
    const brute = new Array(40).fill(0);
    for (const x of xs) {
      if (Number.isNaN(x)) continue;
      let k = -1;
      for (let i = 0; i < 40; i++) if (x >= -10 + 0.5 * i && x < -10 + 0.5 * (i + 1)) k = i;
      if (k < 0) k = x < -10 ? 0 : 39;
      brute[k]++;
    }
    expect(h.counts).toEqual(brute);
    expect(h.counts.reduce((a, b) => a + b, 0)).toBe(502);
  });
});

describe('weightStats', () => {
  it('bins log α and SNR (dB) of every weight, counts kept weights, and maps kept first-layer weights to pixels', () => {
    const rnd = lcg(7);
    const fc1 = moments('fc1', [16, 3], rnd); // a 4×4 image, 3 units
    const fc2 = moments('fc2', [3, 2], rnd);
    const mask = Float32Array.from({ length: 48 }, () => (rnd() < 0.4 ? 0 : 1));
    const s = weightStats([fc1, fc2], new Map([['fc1.weight', mask]]), [4, 4, 1], 3);
    expect(s.threshold).toBe(3);
    expect(s.layers.map((l) => [l.layer, l.weights, l.kept])).toEqual([
      ['fc1', 48, mask.filter((m) => m !== 0).length],
      ['fc2', 6, 6],
    ]);
    // SNR (dB) = 10·log10(μ²/σ²) computed directly, binned by hand.
    const snr = Array.from(fc1.mean, (m, i) => 10 * Math.log10((m * m) / fc1.variance[i]!));
    const bySnr = new Array(SNR_DB_BINS.n).fill(0);
    for (const v of snr) bySnr[Math.min(SNR_DB_BINS.n - 1, Math.max(0, Math.floor((v - SNR_DB_BINS.lo) / SNR_DB_BINS.width)))]++;
    expect(s.layers[0]!.snrDb.counts).toEqual(bySnr);
    const la = Array.from(fc1.mean, (m, i) => Math.log(fc1.variance[i]! / (m * m)));
    const byLa = new Array(LOG_ALPHA_BINS.n).fill(0);
    for (const v of la) byLa[Math.min(LOG_ALPHA_BINS.n - 1, Math.max(0, Math.floor((v - LOG_ALPHA_BINS.lo) / LOG_ALPHA_BINS.width)))]++;
    expect(s.layers[0]!.logAlpha.counts).toEqual(byLa);
    // Pixel map: kept outgoing weights of each input row of the [16, 3] kernel.
    const rows = Array.from({ length: 16 }, (_, i) => [0, 1, 2].filter((j) => mask[i * 3 + j] !== 0).length);
    expect(s.inputMap).toEqual({ layer: 'fc1', height: 4, width: 4, channels: 1, outputs: 3, kept: rows });
  });

  it('sums the channels of a pixel, and has no map for a conv first layer or a non-image input', () => {
    const rnd = lcg(3);
    const fc = moments('fc1', [8, 2], rnd); // [2, 2, 2] image
    const mask = Float32Array.from([1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 1, 1, 0, 1, 0, 0]);
    const s = weightStats([fc], new Map([['fc1.weight', mask]]), [2, 2, 2], null);
    // Pixel p has inputs 2p and 2p+1; each input row has 2 weights.
    expect(s.inputMap!.kept).toEqual([1 + 2, 1 + 0, 2 + 2, 1 + 0]);
    expect(weightStats([moments('conv1', [3, 3, 1, 4], rnd)], null, [28, 28, 1], 3).inputMap).toBeNull();
    expect(weightStats([moments('fc1', [2, 4], rnd)], null, [2], 3).inputMap).toBeNull();
  });
});

describe('parseCsv', () => {
  it('reads back what toCsv writes: quotes, commas, line breaks, empty fields, NaN and infinities', () => {
    const rows = [
      { variant: 'main', criterion: 'snr', structure: '2:4', x: 0.1 + 0.2, note: 'a, "quoted"\nline', empty: null, nan: NaN, inf: -Infinity },
      { variant: 'b', criterion: 'random', structure: 'weights', x: 1e-12, note: '', empty: null, nan: 1, inf: Infinity },
    ];
    const back = parseCsv(toCsv(rows));
    expect(back).toHaveLength(2);
    expect(back[0]).toEqual({ ...rows[0], nan: NaN });
    // An empty string field is written as an empty field: it reads back as null.
    expect(back[1]).toEqual({ ...rows[1], note: null });
  });
});

describe('Vega-Lite specs', () => {
  const pts: LinePoint[] = [
    { series: 'a', x: 1, y: 90 },
    { series: 'a', x: 20, y: 80 },
    { series: 'b', x: 1, y: 90 },
    { series: 'b', x: 20, y: NaN },
    { series: 'c', x: NaN, y: 1 },
  ];
  it('keeps only finite points, counts series with a point, and adds the detail view only past its start', () => {
    expect(seriesCount(pts)).toBe(2);
    const plain = lineChart({ title: 't', xTitle: 'x', yTitle: 'y', points: pts, xLog: true });
    expect((plain.data as { values: unknown[] }).values).toHaveLength(3);
    expect(plain.vconcat).toBeUndefined();
    const focus = lineChart({ title: 't', xTitle: 'x', yTitle: 'y', points: pts, xLog: true, focusFrom: 10 });
    expect((focus.vconcat as unknown[]).length).toBe(2);
    // The detail view's y range fits the points from 0.98 · 10 on (one value, 80: ± 5 %), not the whole curve.
    const detail = (focus.vconcat as { layer: { encoding: { y: { scale: { domain: number[] } } } }[] }[])[0]!;
    expect(detail.layer[0]!.encoding.y.scale.domain).toEqual([76, 84]);
    expect(lineChart({ title: 't', xTitle: 'x', yTitle: 'y', points: pts, focusFrom: 20 }).vconcat).toBeUndefined();
  });

  it('reliability data: gap from min to max of accuracy and confidence, flagged over-confident where confidence is higher', () => {
    const spec = reliabilityChart({
      title: 'r',
      bins: [
        { lo: 0, hi: 0.5, count: 4, accuracy: 0.25, confidence: 0.4 },
        { lo: 0.5, hi: 1, count: 6, accuracy: 0.9, confidence: 0.7 },
        { lo: 1, hi: 1, count: 0, accuracy: null, confidence: null },
      ],
    });
    const v = (spec.data as { values: Record<string, unknown>[] }).values;
    expect(v.map((b) => [b.gapLo, b.gapHi, b.over])).toEqual([
      [0.25, 0.4, true],
      [0.7, 0.9, false],
      [null, null, null],
    ]);
  });
});

describe('htmlPage and renderSvg', () => {
  it('is self-contained: the three bundles inline, no external reference, data readable back', () => {
    const spec = lineChart({ title: 'x </script><!-- y', xTitle: 'x', yTitle: 'y', points: [{ series: '<b>', x: 1, y: 2 }] });
    const html = htmlPage({
      title: 'T & <t>',
      sections: [
        {
          title: 'S',
          blocks: [
            { kind: 'chart', id: 'c1', spec },
            { kind: 'table', rows: [{ a: '<i>', b: 0.5 }] },
          ],
        },
      ],
    });
    for (const b of ['vega', 'vega-lite', 'vega-embed']) expect(html).toContain(`<script data-bundle="${b}">`);
    // Outside the libraries' code, no element loads anything.
    const markup = html.replace(/<script data-bundle="[^"]+">[\s\S]*?<\/script>/g, '');
    expect(markup).not.toMatch(/<(script|link|img|iframe)[^>]+(src|href)=/i);
    expect(markup).not.toMatch(/https?:\/\/(?!vega\.github\.io\/schema)/);
    expect(html).toContain('<title>T &amp; &lt;t&gt;</title>');
    expect(html).toContain('<td>&lt;i&gt;</td>');
    // Every `</script` in the file closes one of the 5 script elements (3 bundles, the data, the runtime).
    expect(html.match(/<\/script/gi)).toHaveLength(5);
    const json = /<script type="application\/json" id="bp-specs">([\s\S]*?)<\/script>/.exec(html)![1]!;
    expect(JSON.parse(json)).toEqual([{ id: 'c1', spec }]);
    expect(() =>
      htmlPage({
        title: 't',
        sections: [
          {
            title: 's',
            blocks: [
              { kind: 'chart', id: 'a', spec },
              { kind: 'chart', id: 'a', spec },
            ],
          },
        ],
      }),
    ).toThrow(/duplicate chart id 'a'/);
  });

  it('renders a spec to SVG headless with one line path per series', async () => {
    const points: LinePoint[] = ['a', 'b', 'c'].flatMap((s, k) => [1, 2, 4].map((x) => ({ series: s, x, y: k + x })));
    const svg = await renderSvg(lineChart({ title: 'three', xTitle: 'x', yTitle: 'y', points, xLog: true }));
    expect(svg.startsWith('<svg')).toBe(true);
    // One line mark (a path in its own group) per series; one symbol per point.
    expect(svg.match(/aria-roledescription="line mark"/g)).toHaveLength(3);
    expect(svg.match(/<path [^>]*aria-roledescription="point"/g)).toHaveLength(9);
  }, 30_000);
});

describe('SVG reliability diagram gaps', () => {
  it('fills the gap only above the bar (over-confident); an under-confident gap inside the bar is an unfilled outline', () => {
    const svg = reliabilityDiagram([
      { lo: 0, hi: 0.5, count: 10, accuracy: 0.2, confidence: 0.45 },
      { lo: 0.5, hi: 1, count: 10, accuracy: 0.95, confidence: 0.7 },
    ]);
    const rects = (cls: string) => [...svg.matchAll(new RegExp(`<rect class="${cls}"[^>]*>`, 'g'))].map((m) => m[0]);
    const attr = (el: string, a: string) => Number(new RegExp(`\\s${a}="([^"]+)"`).exec(el)![1]);
    const bars = [...svg.slice(svg.indexOf('<g class="bars">'), svg.indexOf('<g class="gaps">')).matchAll(/<rect [^>]*>/g)].map((m) => m[0]);
    const [over] = rects('gap-over');
    const [under] = rects('gap-under');
    expect(rects('gap-over')).toHaveLength(1);
    expect(rects('gap-under')).toHaveLength(1);
    // The filled gap ends where its bar starts (y grows downwards): no overlap of fills.
    expect(attr(over!, 'y') + attr(over!, 'height')).toBeCloseTo(attr(bars[0]!, 'y'), 1);
    expect(over).toMatch(/fill-opacity="0.35"/);
    // The under-confident gap lies inside the second bar and has no fill.
    expect(under).toMatch(/fill="none"/);
    expect(attr(under!, 'y')).toBeCloseTo(attr(bars[1]!, 'y'), 1);
  });
});
