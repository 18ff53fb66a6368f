import { describe, expect, it } from 'vitest';
import { RandomStream } from '../../src/random.js';
import { classCounts, gaussianBlobs, linearRegression, orthogonalDesign, uniformNoise } from '../../src/data/index.js';

describe('gaussianBlobs', () => {
  const make = (key: string, separation = 4) => gaussianBlobs({ n: 300, dim: 5, numClasses: 3, separation, stream: new RandomStream(key) });

  it('is deterministic for a seed and differs across seeds', () => {
    const a = make('blobs-a');
    expect(make('blobs-a').x).toEqual(a.x);
    expect(make('blobs-a').y).toEqual(a.y);
    expect(make('blobs-b').x).not.toEqual(a.x);
  });

  it('has balanced classes and separated class means', () => {
    const a = make('blobs-a', 6);
    expect(classCounts(a)).toEqual([100, 100, 100]);
    expect(a.shape).toEqual([5]);
    const means = [0, 1, 2].map(() => new Float64Array(5));
    for (let i = 0; i < a.n; i++) for (let j = 0; j < 5; j++) means[a.y[i]!]![j]! += a.x[i * 5 + j]! / 100;
    // Each centre has norm 6; with unit noise the empirical mean norm is close to it.
    for (const m of means) expect(Math.hypot(...m)).toBeGreaterThan(5);
    for (let p = 0; p < 3; p++)
      for (let q = p + 1; q < 3; q++) {
        expect(Math.hypot(...means[p]!.map((v, j) => v - means[q]![j]!))).toBeGreaterThan(1);
      }
  });
});

describe('linearRegression', () => {
  it('is deterministic and noiseless data fits the true weights exactly', () => {
    const a = linearRegression({ n: 50, dim: 4, noiseStd: 0, stream: new RandomStream('lr') });
    const b = linearRegression({ n: 50, dim: 4, noiseStd: 0, stream: new RandomStream('lr') });
    expect(b.X).toEqual(a.X);
    expect(b.y).toEqual(a.y);
    expect(b.trueWeights).toEqual(a.trueWeights);
    for (let i = 0; i < 50; i++) {
      let s = 0;
      for (let j = 0; j < 4; j++) s += a.X[i * 4 + j]! * a.trueWeights[j]!;
      expect(a.y[i]).toBeCloseTo(s, 4);
    }
  });

  it('uses given weights and adds noise of the requested scale', () => {
    const w = [1, -2, 0.5];
    const r = linearRegression({ n: 4000, dim: 3, noiseStd: 0.3, stream: new RandomStream('lr2'), weights: w });
    expect(Array.from(r.trueWeights)).toEqual(w);
    let ss = 0;
    for (let i = 0; i < 4000; i++) {
      const res = r.y[i]! - (r.X[i * 3]! * 1 - 2 * r.X[i * 3 + 1]! + 0.5 * r.X[i * 3 + 2]!);
      ss += res * res;
    }
    expect(Math.sqrt(ss / 4000)).toBeGreaterThan(0.27);
    expect(Math.sqrt(ss / 4000)).toBeLessThan(0.33);
  });
});

describe('orthogonalDesign', () => {
  for (const [n, dim] of [
    [8, 8],
    [16, 5],
    [24, 3],
  ] as const) {
    it(`X^T X = n I for n=${n}, dim=${dim}`, () => {
      const X = orthogonalDesign(n, dim);
      expect(X.length).toBe(n * dim);
      for (const v of X) expect(Math.abs(v)).toBe(1);
      for (let p = 0; p < dim; p++)
        for (let q = 0; q < dim; q++) {
          let s = 0;
          for (let i = 0; i < n; i++) s += X[i * dim + p]! * X[i * dim + q]!;
          expect(s).toBe(p === q ? n : 0);
        }
    });
  }
  it('rejects n not a multiple of the Hadamard order', () => {
    expect(() => orthogonalDesign(12, 5)).toThrow(/multiple of 8/);
  });
});

describe('uniformNoise', () => {
  it('draws the features, then the labels, from the stream in order; features in [0, 1), labels in range and balanced', () => {
    const d = uniformNoise({ n: 3000, dim: 4, numClasses: 5, stream: new RandomStream('noise') });
    const s = new RandomStream('noise');
    const x = Array.from({ length: 3000 * 4 }, () => s.uniform());
    const y = Array.from({ length: 3000 }, () => s.int(5));
    expect(Array.from(d.x)).toEqual(x.map(Math.fround));
    expect(Array.from(d.y)).toEqual(y);
    expect(d.shape).toEqual([4]);
    expect(Math.min(...d.x)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...d.x)).toBeLessThan(1);
    // 3,000 labels over 5 classes: each count 600 ± 4 binomial standard deviations (√(3000·0.2·0.8) ≈ 21.9).
    for (const c of classCounts(d)) expect(Math.abs(c - 600)).toBeLessThan(4 * 21.9);
  });
});
