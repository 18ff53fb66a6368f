import { describe, expect, it } from 'vitest';
import { fitTemperature, nllAtInverseTemperature, softmaxWithTemperature } from '../../src/metrics/temperature.js';
import { RandomStream } from '../../src/random.js';

/** Direct mean NLL of softmax(z / T) with a naive (unstabilized) softmax. */
function naiveNll(z: number[], y: number[], k: number, T: number): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) {
    let den = 0;
    for (let j = 0; j < k; j++) den += Math.exp(z[i * k + j]! / T);
    s -= Math.log(Math.exp(z[i * k + y[i]!]! / T) / den);
  }
  return s / y.length;
}

describe('temperature scaling', () => {
  const r = new RandomStream('ts');
  const n = 400;
  const k = 5;
  // Over-confident logits: true class favoured, then scaled up by 4.
  const y = Array.from({ length: n }, () => r.int(k));
  const z = y.flatMap((c) => Array.from({ length: k }, (_, j) => 4 * ((j === c ? 1.2 : 0) + r.normal())));

  it('NLL and softmax match a naive computation', () => {
    expect(nllAtInverseTemperature(z, y, 1 / 2.5)).toBeCloseTo(naiveNll(z, y, k, 2.5), 10);
    const p = softmaxWithTemperature(z.slice(0, k), k, 3);
    const e = z.slice(0, k).map((v) => Math.exp(v / 3));
    const sum = e.reduce((a, b) => a + b, 0);
    for (let j = 0; j < k; j++) expect(p[j]).toBeCloseTo(e[j]! / sum, 6);
  });

  it('finds the optimum of a fine grid search and lowers the NLL', () => {
    const fit = fitTemperature(z, y);
    let best = Infinity;
    let bestT = NaN;
    for (let T = 0.5; T <= 20; T += 0.001) {
      const v = naiveNll(z, y, k, T);
      if (v < best) {
        best = v;
        bestT = T;
      }
    }
    expect(Math.abs(fit.temperature - bestT)).toBeLessThan(0.002);
    expect(fit.nll).toBeLessThanOrEqual(best + 1e-9);
    expect(fit.temperature).toBeGreaterThan(1); // over-confident → T > 1
    expect(fit.nll).toBeLessThan(fit.nllBefore);
    expect(fit.nllBefore).toBeCloseTo(naiveNll(z, y, k, 1), 10);
  });
});
