/**
 * The in-memory classification data set type and small helpers on it.
 *
 * A {@link Dataset} stores `n` examples row-major in one `Float32Array`
 * (`x.length === n * prod(shape)`) and their integer labels in an `Int32Array`.
 * @module
 */

/** A labelled classification data set held in memory. */
export interface Dataset {
  /** Human-readable name, e.g. `mnist-embedded/train`. */
  name: string;
  /** Features, row-major: example `i` occupies `x[i*F .. (i+1)*F)` with `F = featureSize`. */
  x: Float32Array;
  /** Labels in `[0, numClasses)`. */
  y: Int32Array;
  /** Number of examples. */
  n: number;
  /** Per-example shape, e.g. `[784]` or `[28, 28, 1]`. */
  shape: number[];
  /** Number of classes. */
  numClasses: number;
}

/** Product of the entries of `shape` (1 for `[]`). */
export function shapeSize(shape: readonly number[]): number {
  let p = 1;
  for (const d of shape) p *= d;
  return p;
}

/** Number of features per example: `prod(ds.shape)`. */
export function featureSize(ds: Dataset): number {
  return shapeSize(ds.shape);
}

/**
 * Checks a data set's invariants and returns it: positive-integer shape,
 * `x.length === n * prod(shape)`, `y.length === n`, every label an integer in
 * `[0, numClasses)`. Throws an `Error` naming the data set otherwise.
 */
export function validateDataset<T extends Dataset>(ds: T): T {
  const where = `dataset '${ds.name}'`;
  if (!Number.isInteger(ds.n) || ds.n < 0) throw new Error(`${where}: n must be a non-negative integer, got ${ds.n}`);
  if (!Number.isInteger(ds.numClasses) || ds.numClasses < 1) {
    throw new Error(`${where}: numClasses must be a positive integer, got ${ds.numClasses}`);
  }
  for (const d of ds.shape) {
    if (!Number.isInteger(d) || d < 1) throw new Error(`${where}: shape [${ds.shape.join(', ')}] has a non-positive or non-integer dimension`);
  }
  const f = shapeSize(ds.shape);
  if (ds.x.length !== ds.n * f) {
    throw new Error(`${where}: x.length is ${ds.x.length}, expected n × prod(shape) = ${ds.n} × ${f} = ${ds.n * f}`);
  }
  if (ds.y.length !== ds.n) throw new Error(`${where}: y.length is ${ds.y.length}, expected n = ${ds.n}`);
  for (let i = 0; i < ds.n; i++) {
    const c = ds.y[i]!;
    if (c < 0 || c >= ds.numClasses) {
      throw new Error(`${where}: label y[${i}] = ${c} is outside [0, ${ds.numClasses})`);
    }
  }
  return ds;
}

/** Builds a {@link Dataset} from its parts and validates it (see {@link validateDataset}). */
export function makeDataset(parts: Dataset): Dataset {
  return validateDataset({ ...parts, shape: [...parts.shape] });
}

/**
 * A new data set holding copies of the examples at `indices`, in that order
 * (repeats allowed). Throws on an index outside `[0, n)`.
 */
export function subset(ds: Dataset, indices: ArrayLike<number>, name?: string): Dataset {
  const f = featureSize(ds);
  const m = indices.length;
  const x = new Float32Array(m * f);
  const y = new Int32Array(m);
  for (let k = 0; k < m; k++) {
    const i = indices[k]!;
    if (!Number.isInteger(i) || i < 0 || i >= ds.n) throw new Error(`subset of '${ds.name}': index ${i} at position ${k} is outside [0, ${ds.n})`);
    x.set(ds.x.subarray(i * f, (i + 1) * f), k * f);
    y[k] = ds.y[i]!;
  }
  return { name: name ?? ds.name, x, y, n: m, shape: [...ds.shape], numClasses: ds.numClasses };
}

/**
 * The same examples viewed with another per-example shape (the arrays are
 * shared, not copied). Throws if `prod(shape)` differs from the current feature size.
 */
export function reshape(ds: Dataset, shape: number[]): Dataset {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 1) throw new Error(`reshape of '${ds.name}': bad shape [${shape.join(', ')}]`);
  }
  const from = featureSize(ds);
  const to = shapeSize(shape);
  if (from !== to) {
    throw new Error(`reshape of '${ds.name}': cannot view shape [${ds.shape.join(', ')}] (${from} features) as [${shape.join(', ')}] (${to} features)`);
  }
  return { ...ds, shape: [...shape] };
}

/** Number of examples per class: `counts[c]` for `c` in `[0, numClasses)`. */
export function classCounts(ds: Dataset): number[] {
  const counts = new Array<number>(ds.numClasses).fill(0);
  for (let i = 0; i < ds.n; i++) counts[ds.y[i]!]!++;
  return counts;
}
