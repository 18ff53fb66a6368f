import { describe, expect, it } from 'vitest';
import { fpgmFilterScores } from '../../src/scores/fpgm.js';
import { RandomStream } from '../../src/random.js';

/**
 * FPGM (He et al. 2019) approximates "distance to the geometric median" by the summed Euclidean
 * distance of a filter to all the others, d_i = Σ_j ‖F_i − F_j‖₂. Two closed forms:
 * - filters on one line, F_i = t_i·u: d_i = ‖u‖·Σ_j |t_i − t_j|, minimized by the median t (the
 *   filter FPGM prunes first is the median one, the one-dimensional geometric median);
 * - a filter plus a symmetric set around it (F_0 = c, F_{±k} = c ± v_k): c is the geometric
 *   median and has the smallest d.
 */
describe('FPGM scores against closed forms', () => {
  it('collinear filters: d_i = ‖u‖·Σ_j |t_i − t_j| and the median filter scores lowest', () => {
    const s = new RandomStream('fpgm-line');
    const [size, nOut] = [7, 9];
    const u = Array.from({ length: size }, () => s.normal());
    const t = Array.from({ length: nOut }, () => 4 * s.normal());
    // Weight [size, nOut]: entry k·nOut + j = t_j·u_k (filter j is column j).
    const w = Float32Array.from({ length: size * nOut }, (_, f) => t[f % nOut]! * u[Math.floor(f / nOut)]!);
    const d = fpgmFilterScores(w, [size, nOut]);
    const norm = Math.hypot(...u);
    t.forEach((ti, i) => expect(d[i]).toBeCloseTo(norm * t.reduce((a, tj) => a + Math.abs(ti - tj), 0), 3));
    const median = [...t.keys()].sort((a, b) => t[a]! - t[b]!)[Math.floor(nOut / 2)]!;
    const lowest = [...d.keys()].sort((a, b) => d[a]! - d[b]!)[0]!;
    expect(lowest).toBe(median);
  });

  it('a centre with filters placed symmetrically around it scores lowest', () => {
    const s = new RandomStream('fpgm-sym');
    const size = 10;
    const c = Array.from({ length: size }, () => s.normal());
    const vs = Array.from({ length: 3 }, () => Array.from({ length: size }, () => s.normal()));
    const filters = [c, ...vs.flatMap((v) => [c.map((x, k) => x + v[k]!), c.map((x, k) => x - v[k]!)])];
    const nOut = filters.length;
    const w = Float32Array.from({ length: size * nOut }, (_, f) => filters[f % nOut]![Math.floor(f / nOut)]!);
    const d = fpgmFilterScores(w, [size, nOut]);
    // d_0 = Σ_k 2‖v_k‖ exactly.
    expect(d[0]).toBeCloseTo(
      vs.reduce((a, v) => a + 2 * Math.hypot(...v), 0),
      4,
    );
    for (let i = 1; i < nOut; i++) expect(d[i]).toBeGreaterThan(d[0]!);
  });
});
