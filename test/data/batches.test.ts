import { describe, expect, it } from 'vitest';
import { RandomStream } from '../../src/random.js';
import { batches, numBatches, type Dataset } from '../../src/data/index.js';

/** n examples of 3 features; example i has features [i, -i, 0.5 i] and label i mod 4. */
function toy(n: number): Dataset {
  const x = new Float32Array(n * 3);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    x.set([i, -i, 0.5 * i], i * 3);
    y[i] = i % 4;
  }
  return { name: 'toy', x, y, n, shape: [3], numClasses: 4 };
}

const order = (it: Iterable<{ indices: Int32Array }>) => Array.from(it).flatMap((b) => Array.from(b.indices));

describe('batches', () => {
  const ds = toy(103);

  it('numBatches', () => {
    expect(numBatches(103, 10)).toBe(11);
    expect(numBatches(103, 10, true)).toBe(10);
    expect(numBatches(100, 10)).toBe(10);
    expect(numBatches(5, 10, true)).toBe(0);
    expect(() => numBatches(5, 0)).toThrow();
  });

  it('covers every index exactly once per epoch; rows match indices', () => {
    const s = new RandomStream('batches-test');
    for (let epoch = 0; epoch < 3; epoch++) {
      const seen = new Int32Array(ds.n);
      let nb = 0;
      for (const b of batches(ds, 10, s)) {
        nb++;
        expect(b.size).toBe(b.indices.length);
        expect(b.x.length).toBe(b.size * 3);
        for (let k = 0; k < b.size; k++) {
          const i = b.indices[k]!;
          seen[i]!++;
          expect(Array.from(b.x.subarray(k * 3, k * 3 + 3))).toEqual([i, -i, 0.5 * i]);
          expect(b.y[k]).toBe(i % 4);
        }
      }
      expect(nb).toBe(11);
      expect(seen.every((c) => c === 1)).toBe(true);
    }
  });

  it('differs across epochs, identical for the same seed', () => {
    const s1 = new RandomStream('batches-seed');
    const s2 = new RandomStream('batches-seed');
    const e1 = order(batches(ds, 16, s1));
    const e2 = order(batches(ds, 16, s1));
    expect(e1).not.toEqual(e2);
    expect(e1).not.toEqual(Array.from({ length: ds.n }, (_, i) => i));
    expect(order(batches(ds, 16, s2))).toEqual(e1);
    expect(order(batches(ds, 16, s2))).toEqual(e2);
    expect(order(batches(ds, 16, new RandomStream('other-seed')))).not.toEqual(e1);
  });

  it('without a stream iterates in order; dropLast drops the short batch', () => {
    expect(order(batches(ds, 10))).toEqual(Array.from({ length: ds.n }, (_, i) => i));
    const sizes = Array.from(batches(ds, 10, new RandomStream('d'), { dropLast: true })).map((b) => b.size);
    expect(sizes).toEqual(new Array(10).fill(10));
    expect(Array.from(batches(ds, 10)).at(-1)!.size).toBe(3);
  });
});
