import { describe, expect, it } from 'vitest';
import { entropy, mutualInformation, predictiveMean, splitSamples, uncertaintyDecomposition } from '../../src/metrics/uncertainty.js';
import { RandomStream } from '../../src/random.js';

function randomTable(rng: RandomStream, n: number, k: number): Float32Array {
  const t = new Float32Array(n * k);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < k; j++) {
      const v = Math.exp(2 * rng.normal());
      t[i * k + j] = v;
      s += v;
    }
    for (let j = 0; j < k; j++) t[i * k + j] /= s;
  }
  return t;
}

describe('uncertainty decomposition', () => {
  it('MI is 0 when all samples agree, and H[E p] = E[H p]', () => {
    const rng = new RandomStream('agree');
    const t = randomTable(rng, 20, 4);
    const d = uncertaintyDecomposition([t, t.slice(), t.slice()], 4);
    for (let i = 0; i < 20; i++) {
      expect(d.mutualInformation[i]).toBeLessThan(1e-12); // 0 up to float64 round-off
      expect(d.predictiveEntropy[i]).toBeCloseTo(d.expectedEntropy[i], 6);
    }
    expect(d.average.mutualInformation).toBeLessThan(1e-12);
  });

  it('MI > 0 when samples disagree; two confident opposite samples give MI = log 2', () => {
    const a = Float32Array.from([1, 0]);
    const b = Float32Array.from([0, 1]);
    const d = uncertaintyDecomposition([a, b], 2);
    expect(d.expectedEntropy[0]).toBe(0);
    expect(d.predictiveEntropy[0]).toBeCloseTo(Math.log(2), 12);
    expect(d.mutualInformation[0]).toBeCloseTo(Math.log(2), 12);
    expect(Array.from(d.mean)).toEqual([0.5, 0.5]);
  });

  it('satisfies H[E p] = E[H p] + MI with MI ≥ 0 on random samples', () => {
    const rng = new RandomStream('decomp');
    const samples = Array.from({ length: 8 }, () => randomTable(rng, 50, 5));
    const d = uncertaintyDecomposition(samples, 5);
    for (let i = 0; i < 50; i++) {
      expect(d.mutualInformation[i]).toBeGreaterThan(0);
      expect(d.predictiveEntropy[i]).toBeCloseTo(d.expectedEntropy[i] + d.mutualInformation[i], 10);
      expect(d.predictiveEntropy[i]).toBeLessThanOrEqual(Math.log(5) + 1e-9);
    }
    expect(d.average.predictiveEntropy).toBeCloseTo(d.average.expectedEntropy + d.average.mutualInformation, 10);
    expect(Array.from(mutualInformation(samples, 5))).toEqual(Array.from(d.mutualInformation));
  });

  it('computes the predictive mean and entropies with 0·log 0 = 0', () => {
    const m = predictiveMean([Float32Array.from([1, 0, 0, 1]), Float32Array.from([0, 1, 0, 1])], 2);
    expect(Array.from(m)).toEqual([0.5, 0.5, 0, 1]);
    const h = entropy(Float32Array.from([1, 0, 0.25, 0.75]), 2);
    expect(h[0]).toBe(0);
    expect(h[1]).toBeCloseTo(-(0.25 * Math.log(0.25) + 0.75 * Math.log(0.75)), 6);
  });

  it('splitSamples views an S×n×k array as S tables', () => {
    const stacked = Float32Array.from([1, 0, 0, 1, 0, 1, 0, 1]);
    const s = splitSamples(stacked, 2);
    expect(s).toHaveLength(2);
    expect(Array.from(s[1])).toEqual([0, 1, 0, 1]);
    expect(() => splitSamples(stacked, 3)).toThrow();
  });

  it('rejects samples of different sizes', () => {
    expect(() => uncertaintyDecomposition([new Float32Array(4), new Float32Array(6)], 2)).toThrow();
  });
});
