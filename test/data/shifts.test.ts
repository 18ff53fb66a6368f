import { describe, expect, it } from 'vitest';
import { gaussianNoiseDataset, imageGeometry, invertDataset, rotateDataset, rotateImage, uniformNoiseDataset } from '../../src/data/shifts.js';
import type { Dataset } from '../../src/data/dataset.js';
import { RandomStream } from '../../src/random.js';

/** Counter-clockwise 90° rotation of an n×n row-major image by index permutation: out[r][c] = in[c][n−1−r]. */
function rot90Perm(a: number[], n: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) out.push(a[c * n + (n - 1 - r)]!);
  return out;
}

describe('rotateImage', () => {
  it('rotates a hand-made 3×3 image by 90° counter-clockwise as the index permutation', () => {
    const img = [1, 2, 3, 4, 5, 6, 7, 8, 9];
    // On screen: 1 2 3 / 4 5 6 / 7 8 9 → 3 6 9 / 2 5 8 / 1 4 7.
    expect(Array.from(rotateImage(img, 3, 3, 1, 90))).toEqual([3, 6, 9, 2, 5, 8, 1, 4, 7]);
  });

  it('equals the permutation on a 5×5 image, 180° twice-applied and 270° = three 90° turns', () => {
    const img = Array.from({ length: 25 }, (_, i) => (i * 7) % 11);
    const r90 = Array.from(rotateImage(img, 5, 5, 1, 90));
    expect(r90).toEqual(rot90Perm(img, 5));
    expect(Array.from(rotateImage(img, 5, 5, 1, 180))).toEqual(rot90Perm(rot90Perm(img, 5), 5));
    expect(Array.from(rotateImage(img, 5, 5, 1, 270))).toEqual(rot90Perm(rot90Perm(rot90Perm(img, 5), 5), 5));
    expect(Array.from(rotateImage(img, 5, 5, 1, 0))).toEqual(img);
  });

  it('rotates every channel alike', () => {
    const img = [1, 10, 2, 20, 3, 30, 4, 40]; // 2×2×2
    // Channel 0: 1 2 / 3 4 → 2 4 / 1 3.
    expect(Array.from(rotateImage(img, 2, 2, 2, 90))).toEqual([2, 20, 4, 40, 1, 10, 3, 30]);
  });

  it('interpolates bilinearly at 45° (centre pixel kept, corners fall outside → 0)', () => {
    const img = [0, 0, 0, 0, 1, 0, 0, 0, 0];
    const out = rotateImage(img, 3, 3, 1, 45);
    expect(out[4]).toBeCloseTo(1, 6);
    // Pixel (0,1): source r' = 1 − cos45 ≈ 0.293, c' = 1 + sin45 ≈ 1.707; the centre (1,1) gets the
    // bilinear weight fr·(1 − fc) = (1 − √2/2)·(1 − √2/2).
    expect(out[1]).toBeCloseTo((1 - Math.SQRT1_2) ** 2, 6); // float32 output
    // Pixel (0,0): source (1 − √2, 1) lies outside (r' < 0 with weight only on row −1 and row 0 = zeros).
    expect(out[0]).toBe(0);
    // Rotating a constant image keeps interior pixels whose source lies inside.
    const ones = rotateImage(new Array(9).fill(1), 3, 3, 1, 30);
    expect(ones[4]).toBeCloseTo(1, 6);
  });
});

const ds = (x: number[], shape: number[], n: number): Dataset => ({ name: 't', x: Float32Array.from(x), y: new Int32Array(n), n, shape, numClasses: 2 });

describe('dataset shifts', () => {
  it('recognizes image shapes', () => {
    expect(imageGeometry([784])).toEqual({ h: 28, w: 28, c: 1 });
    expect(imageGeometry([28, 28, 1])).toEqual({ h: 28, w: 28, c: 1 });
    expect(imageGeometry([10])).toBeNull();
  });

  it('rotates flat [9] examples per example and keeps labels', () => {
    const d = ds([1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 8, 7, 6, 5, 4, 3, 2, 1], [9], 2);
    d.y = Int32Array.from([1, 0]);
    const r = rotateDataset(d, 90);
    expect(Array.from(r.x)).toEqual([...rot90Perm([1, 2, 3, 4, 5, 6, 7, 8, 9], 3), ...rot90Perm([9, 8, 7, 6, 5, 4, 3, 2, 1], 3)]);
    expect(Array.from(r.y)).toEqual([1, 0]);
    expect(() => rotateDataset(ds([1, 2, 3], [3], 1), 90)).toThrow(/rotation needs image data/);
  });

  it('inverts, adds clipped Gaussian noise of the given σ, and draws uniform noise in [0, 1)', () => {
    expect(Array.from(invertDataset(ds([0, 0.25, 1, 0.5], [4], 1)).x)).toEqual([1, 0.75, 0, 0.5]);
    const n = 20000;
    const base = ds(new Array(n).fill(0.5), [n], 1);
    const g = gaussianNoiseDataset(base, 0.1, new RandomStream('g'));
    let s = 0;
    let s2 = 0;
    for (const v of g.x) {
      s += v - 0.5;
      s2 += (v - 0.5) ** 2;
    }
    expect(Math.abs(s / n)).toBeLessThan(0.005); // 5 standard errors of the mean
    expect(Math.sqrt(s2 / n)).toBeCloseTo(0.1, 2);
    const wide = gaussianNoiseDataset(base, 5, new RandomStream('g'));
    expect(Math.min(...wide.x)).toBe(0);
    expect(Math.max(...wide.x)).toBe(1);
    const u = uniformNoiseDataset(ds([0, 0, 0, 0], [4], 1), 5000, new RandomStream('u'));
    expect(u.n).toBe(5000);
    expect(u.x.length).toBe(20000);
    const mean = u.x.reduce((a, b) => a + b, 0) / u.x.length;
    expect(mean).toBeGreaterThan(0.49);
    expect(mean).toBeLessThan(0.51);
    expect(Math.min(...u.x)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u.x)).toBeLessThan(1);
  });
});
