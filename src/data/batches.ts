/**
 * Mini-batch iteration over a {@link Dataset}.
 * @module
 */
import type { RandomStream } from '../random.js';
import { type Dataset, featureSize } from './dataset.js';

/** One mini-batch. */
export interface Batch {
  /** Features of the batch, row-major `size × featureSize` (a copy). */
  x: Float32Array;
  /** Labels of the batch (a copy). */
  y: Int32Array;
  /** Number of examples in the batch. */
  size: number;
  /** Data set indices of the batch's examples (a read-only view into this epoch's permutation). */
  indices: Int32Array;
}

/** Number of batches of an epoch: `ceil(n / batchSize)`, or `floor` when `dropLast`. */
export function numBatches(n: number, batchSize: number, dropLast = false): number {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batchSize must be a positive integer, got ${batchSize}`);
  return dropLast ? Math.floor(n / batchSize) : Math.ceil(n / batchSize);
}

/**
 * Yields one epoch of mini-batches. With a `stream`, each call draws one new
 * permutation of `0..n−1` from it (so successive calls = successive epochs
 * differ, and the same stream key gives the same batches); without one, the
 * order is `0..n−1`. The last, smaller batch is skipped when `dropLast`.
 */
export function* batches(ds: Dataset, batchSize: number, stream?: RandomStream, opts: { dropLast?: boolean } = {}): Generator<Batch, void, undefined> {
  const count = numBatches(ds.n, batchSize, opts.dropLast ?? false);
  const perm = stream ? stream.permutation(ds.n) : Int32Array.from({ length: ds.n }, (_, i) => i);
  const f = featureSize(ds);
  for (let b = 0; b < count; b++) {
    const start = b * batchSize;
    const end = Math.min(start + batchSize, ds.n);
    const size = end - start;
    const indices = perm.subarray(start, end);
    const x = new Float32Array(size * f);
    const y = new Int32Array(size);
    for (let k = 0; k < size; k++) {
      const i = indices[k]!;
      x.set(ds.x.subarray(i * f, (i + 1) * f), k * f);
      y[k] = ds.y[i]!;
    }
    yield { x, y, size, indices };
  }
}
