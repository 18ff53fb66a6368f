import { describe, expect, it } from 'vitest';
import { linePlot } from '../../src/report/svg.js';

/** The numbers of a `points="x,y x,y …"` attribute as [x, y] pairs. */
const pairs = (pts: string) => pts.split(' ').map((p) => p.split(',').map(Number) as [number, number]);

describe('linePlot error bands and overlay', () => {
  const svg = linePlot({
    title: 'bands',
    xLabel: 'x',
    yLabel: 'y',
    series: [
      { name: 'a', x: [0, 1, 2, 3, 4], y: [10, 11, 12, 13, 14], lower: [9, 10, null, 12, 13], upper: [11, 12, 13, 14, 15] },
      { name: 'b', x: [0, 4], y: [20, 20] },
    ],
    overlay: { name: 'Pareto front', x: [4, 0, NaN], y: [14, 20, 1], labels: ['a @ 4', 'b @ 0', 'bad'] },
  });
  const bands = [...svg.matchAll(/<polygon points="([^"]+)"/g)].map((m) => pairs(m[1]!));
  const line = [...svg.matchAll(/<path d="(M[^"]+)" fill="none"/g)].map((m) =>
    m[1]!
      .replace(/[ML]/g, ' ')
      .trim()
      .split(/\s+/)
      .map((p) => p.split(',').map(Number)),
  );

  it('draws one band per run of points with both bounds, around the line, behind every line', () => {
    // Series a: points 0–1 have bounds, point 2 has none (a break), points 3–4 have bounds → 2 polygons; b has no band.
    expect(bands).toHaveLength(2);
    expect(bands.map((b) => b.length)).toEqual([4, 4]);
    const a = line[0]!;
    // First band: upper edge left to right over x0, x1, then the lower edge back; pixel y grows downwards.
    const [u0, u1, l1, l0] = bands[0]!;
    expect([u0![0], u1![0], l1![0], l0![0]]).toEqual([a[0]![0], a[1]![0], a[1]![0], a[0]![0]]);
    expect(u0![1]).toBeLessThan(a[0]![1]!);
    expect(l0![1]).toBeGreaterThan(a[0]![1]!);
    // Bound 11 at x0 and the line value 11 at x1 sit at the same height.
    expect(u0![1]).toBeCloseTo(a[1]![1]!, 6);
    expect(svg.indexOf('class="bands"')).toBeLessThan(svg.indexOf('class="series"'));
  });

  it('fits the y axis to the bands', () => {
    const low = linePlot({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 'a', x: [0, 1], y: [1, 1.2], lower: [-5, 1], upper: [1.5, 1.4] }] });
    const ticks = [...low.matchAll(/text-anchor="end">([^<]+)</g)].map((m) => Number(m[1]!.replace('\u2212', '-')));
    expect(Math.min(...ticks)).toBeLessThanOrEqual(-5);
  });

  it('rings each finite overlay point and lists the overlay in the legend', () => {
    const overlay = svg.slice(svg.indexOf('class="overlay"'), svg.indexOf('class="spine"'));
    expect((overlay.match(/<circle /g) ?? []).length).toBe(2);
    expect(overlay).toContain('<title>a @ 4</title>');
    expect(overlay).not.toContain('bad');
    expect(svg.slice(svg.indexOf('class="legend"'))).toContain('Pareto front');
    // The ring of (4, 14) is centred on series a's last point.
    const c = /<circle cx="([\d.]+)" cy="([\d.]+)" r="7"/.exec(overlay)!;
    expect([Number(c[1]), Number(c[2])]).toEqual(line[0]!.at(-1));
  });

  it('rejects bounds of the wrong length with a message naming the series', () => {
    expect(() => linePlot({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 'acc', x: [1, 2], y: [1, 2], lower: [1], upper: [2, 3] }] })).toThrow(
      "series 'acc' has 2 x and 1 lower values",
    );
  });
});
