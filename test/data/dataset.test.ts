import { describe, expect, it } from 'vitest';
import { classCounts, featureSize, makeDataset, reshape, subset, validateDataset, type Dataset } from '../../src/data/index.js';

const ds: Dataset = {
  name: 'tiny',
  x: Float32Array.from({ length: 4 * 6 }, (_, i) => i),
  y: Int32Array.from([2, 0, 2, 1]),
  n: 4,
  shape: [2, 3],
  numClasses: 3,
};

describe('Dataset helpers', () => {
  it('featureSize and classCounts', () => {
    expect(featureSize(ds)).toBe(6);
    expect(classCounts(ds)).toEqual([1, 1, 2]);
  });

  it('subset copies the chosen rows in order', () => {
    const s = subset(ds, [3, 0, 3]);
    expect(s.n).toBe(3);
    expect(Array.from(s.y)).toEqual([1, 2, 1]);
    expect(Array.from(s.x.subarray(0, 6))).toEqual([18, 19, 20, 21, 22, 23]);
    expect(Array.from(s.x.subarray(6, 12))).toEqual([0, 1, 2, 3, 4, 5]);
    s.x[0] = -1;
    expect(ds.x[18]).toBe(18);
    expect(() => subset(ds, [4])).toThrow(/outside \[0, 4\)/);
  });

  it('reshape checks the product', () => {
    expect(reshape(ds, [6]).shape).toEqual([6]);
    expect(reshape(ds, [3, 2, 1]).x).toBe(ds.x);
    expect(() => reshape(ds, [5])).toThrow(/cannot view shape \[2, 3\]/);
  });

  it('validation rejects wrong lengths and labels', () => {
    expect(() => validateDataset({ ...ds, x: new Float32Array(23) })).toThrow(/x.length is 23, expected/);
    expect(() => validateDataset({ ...ds, y: Int32Array.from([0, 1, 2]) })).toThrow(/y.length/);
    expect(() => makeDataset({ ...ds, y: Int32Array.from([0, 1, 3, 0]) })).toThrow(/y\[2\] = 3 is outside \[0, 3\)/);
    expect(() => makeDataset({ ...ds, y: Int32Array.from([0, -1, 2, 0]) })).toThrow(/outside/);
    expect(makeDataset(ds).n).toBe(4);
  });
});
