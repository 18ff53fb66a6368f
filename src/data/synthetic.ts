/**
 * Small deterministic synthetic data sets for tests. Every random draw comes
 * from the {@link RandomStream} passed in, so a stream key fixes the data.
 * @module
 */
import type { RandomStream } from '../random.js';
import { type Dataset, validateDataset } from './dataset.js';

/** Options of {@link gaussianBlobs}. */
export interface BlobsOptions {
  /** Number of examples. */
  n: number;
  /** Feature dimension. */
  dim: number;
  /** Number of classes (blobs). */
  numClasses: number;
  /** Norm of each class centre (centres are random unit directions times this). Default 3. */
  separation?: number;
  /** Source of all randomness. */
  stream: RandomStream;
  /** Data set name; default `blobs`. */
  name?: string;
}

/**
 * Isotropic unit-variance Gaussian blobs: class centres are random unit
 * vectors scaled by `separation`; labels cycle `0, 1, …` before a shuffle so
 * class sizes differ by at most one. Shape `[dim]`.
 */
export function gaussianBlobs(opts: BlobsOptions): Dataset {
  const { n, dim, numClasses, stream } = opts;
  const separation = opts.separation ?? 3;
  if (!Number.isInteger(n) || n < 0 || !Number.isInteger(dim) || dim < 1 || !Number.isInteger(numClasses) || numClasses < 1) {
    throw new Error(`gaussianBlobs: bad sizes n=${n} dim=${dim} numClasses=${numClasses}`);
  }
  const centres = new Float64Array(numClasses * dim);
  for (let c = 0; c < numClasses; c++) {
    let norm = 0;
    for (let j = 0; j < dim; j++) {
      const v = stream.normal();
      centres[c * dim + j] = v;
      norm += v * v;
    }
    norm = Math.sqrt(norm) || 1;
    for (let j = 0; j < dim; j++) centres[c * dim + j] = (centres[c * dim + j]! / norm) * separation;
  }
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) y[i] = i % numClasses;
  stream.shuffle(y);
  const x = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const c = y[i]!;
    for (let j = 0; j < dim; j++) x[i * dim + j] = centres[c * dim + j]! + stream.normal();
  }
  return validateDataset({ name: opts.name ?? 'blobs', x, y, n, shape: [dim], numClasses });
}

/** Options of {@link linearRegression}. */
export interface LinearRegressionOptions {
  n: number;
  dim: number;
  /** Standard deviation of the additive Gaussian noise on `y`. */
  noiseStd: number;
  stream: RandomStream;
  /** True weights (length `dim`); drawn standard normal if omitted. */
  weights?: ArrayLike<number>;
}

/**
 * `y = X w + ε` with `X` standard normal (row-major `n×dim`) and
 * `ε ~ N(0, noiseStd²)`. Returns the weights used as `trueWeights`.
 */
export function linearRegression(opts: LinearRegressionOptions): { X: Float32Array; y: Float32Array; trueWeights: Float32Array } {
  const { n, dim, noiseStd, stream } = opts;
  if (opts.weights && opts.weights.length !== dim) throw new Error(`linearRegression: weights has length ${opts.weights.length}, expected dim=${dim}`);
  const w = new Float32Array(dim);
  for (let j = 0; j < dim; j++) w[j] = opts.weights ? opts.weights[j]! : stream.normal();
  const X = new Float32Array(n * dim);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < dim; j++) {
      const v = stream.normal();
      X[i * dim + j] = v;
      s += v * w[j]!;
    }
    y[i] = s + noiseStd * stream.normal();
  }
  return { X, y, trueWeights: w };
}

/**
 * A deterministic `n×dim` design (row-major) with mutually orthogonal ±1
 * columns, so `XᵀX = n·I`. With `H` the smallest power of two `>= dim`, row `i`
 * is row `i mod H` of the Sylvester Hadamard matrix of order `H` (entry
 * `(i, j) = (−1)^popcount(i & j)`), restricted to its first `dim` columns
 * (column 0 is all ones). Requires `n` to be a multiple of `H`.
 */
export function orthogonalDesign(n: number, dim: number): Float32Array {
  if (!Number.isInteger(dim) || dim < 1) throw new Error(`orthogonalDesign: dim must be a positive integer, got ${dim}`);
  let h = 1;
  while (h < dim) h *= 2;
  if (!Number.isInteger(n) || n < 1 || n % h !== 0) {
    throw new Error(`orthogonalDesign: n must be a positive multiple of ${h} (the smallest power of two >= dim=${dim}), got ${n}`);
  }
  const X = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const r = i % h;
    for (let j = 0; j < dim; j++) {
      let v = r & j;
      let parity = 0;
      while (v) {
        parity ^= 1;
        v &= v - 1;
      }
      X[i * dim + j] = parity ? -1 : 1;
    }
  }
  return X;
}

/**
 * `n` examples of `dim` features uniform on [0, 1) with labels uniform on 0…numClasses−1, drawn
 * features first, then labels, from `stream`: inputs for timing and for tests of arithmetic that
 * does not depend on the data being learnable.
 */
export function uniformNoise(opts: { n: number; dim: number; numClasses: number; stream: RandomStream; name?: string }): Dataset {
  const { n, dim, numClasses, stream } = opts;
  return validateDataset({
    name: opts.name ?? 'uniform-noise',
    x: Float32Array.from({ length: n * dim }, () => stream.uniform()),
    y: Int32Array.from({ length: n }, () => stream.int(numClasses)),
    n,
    shape: [dim],
    numClasses,
  });
}
