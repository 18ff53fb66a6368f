import { describe, expect, it } from 'vitest';
import { classCounts, DATASETS, loadDataset } from '../../src/data/index.js';

describe('loadDataset', { timeout: 60_000 }, () => {
  it('lists allowed names for an unknown name', () => {
    expect(() => loadDataset('cifar-10')).toThrow(/unknown data set 'cifar-10'; allowed: mnist-embedded, fashion-mnist, blobs/);
    expect([...DATASETS]).toEqual(['mnist-embedded', 'fashion-mnist', 'blobs']);
  });

  it('mnist-embedded gives the fixed split', () => {
    const d = loadDataset('mnist-embedded', { flat: true });
    expect([d.train.n, d.validation.n, d.test.n]).toEqual([8000, 1000, 1000]);
    expect(d.train.shape).toEqual([784]);
    expect(d.split).toBe('mnist-embedded-split-v1');
  });

  it('blobs: deterministic, sized, all classes present, shared centres', () => {
    const a = loadDataset('blobs');
    const b = loadDataset('blobs');
    expect([a.train.n, a.validation.n, a.test.n]).toEqual([600, 200, 200]);
    expect(a.train.x).toEqual(b.train.x);
    expect(a.test.y).toEqual(b.test.y);
    for (const part of [a.train, a.validation, a.test]) expect(classCounts(part).every((c) => c > 0)).toBe(true);
    const c = loadDataset('blobs', { blobs: { seedKey: 'other' } });
    expect(c.train.x).not.toEqual(a.train.x);
  });
});
