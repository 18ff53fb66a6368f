/**
 * SparseGPT (Frantar & Alistarh 2023): one-shot pruning of one linear layer with
 * second-order weight reconstruction, no retraining.
 *
 * Notation of the paper: W is [rows × cols] with rows = output units and cols = inputs;
 * X [cols × n] holds the layer's inputs on n calibration examples. The layer-wise problem
 * min ‖WX − ŴX‖² over Ŵ with a given sparsity has the Hessian H = 2XXᵀ (the factor 2 does
 * not change the solution and is dropped here). The algorithm:
 *
 * 1. H ← XXᵀ + λI with λ = damping · mean(diag H); inputs that are never active (H_ii = 0)
 *    get H_ii = 1 and their weights are 0 already in effect;
 * 2. U = upper Cholesky factor of H⁻¹ (H⁻¹ = UᵀU); row i of U, divided by U_ii, is the OBS
 *    update of the columns ≥ i when column i is removed with the columns < i already fixed;
 * 3. column blocks of `blockSize`: at a block's start the mask of the block is chosen
 *    (unstructured: the round(p·rows·B) smallest w²/U_ii² of the block, adaptive mask
 *    selection; N:M: at every M-th column the M − N smallest of each row's group);
 *    inside the block column by column: q = w with pruned entries 0, err = (w − q)/U_ii,
 *    W[:, i:blockEnd] −= err·U[i, i:blockEnd]; after the block the lazy update
 *    W[:, blockEnd:] −= Err·U[block, blockEnd:].
 *
 * Plain Float64 loops: the Hessian of LeNet-300-100's first layer is 784 × 784.
 * @module
 */

/** Options of {@link sparseGptLayer}. Exactly one of `sparsity`, `nm`, `mask` chooses what is removed. */
export interface SparseGptOptions {
  /** Fraction removed (unstructured, per column block). */
  sparsity?: number;
  /** N:M: keep N of every M consecutive inputs of each output unit. */
  nm?: { n: number; m: number };
  /** A fixed keep-mask [rows × cols] (1 keep, 0 remove): only the reconstruction is done. */
  mask?: Uint8Array;
  /** Column block size (the paper: 128). */
  blockSize?: number;
  /** Relative dampening λ / mean(diag H) (the paper: 0.01). */
  damping?: number;
}

/** H = XᵀX (inputs as rows: X [n × cols], row-major), [cols × cols]. */
export function inputHessian(x: Float32Array | Float64Array, n: number, cols: number): Float64Array {
  const h = new Float64Array(cols * cols);
  for (let e = 0; e < n; e++) {
    const off = e * cols;
    for (let i = 0; i < cols; i++) {
      const xi = x[off + i]!;
      if (xi === 0) continue;
      const row = i * cols;
      for (let j = i; j < cols; j++) h[row + j]! += xi * x[off + j]!;
    }
  }
  for (let i = 0; i < cols; i++) for (let j = 0; j < i; j++) h[i * cols + j] = h[j * cols + i]!;
  return h;
}

/** Lower Cholesky factor L (A = LLᵀ) of a symmetric positive definite [n × n] matrix; throws if not positive definite. */
export function choleskyLower(a: Float64Array, n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let d = a[j * n + j]!;
    for (let k = 0; k < j; k++) d -= l[j * n + k]! * l[j * n + k]!;
    if (!(d > 0)) throw new Error(`SparseGPT: the dampened Hessian is not positive definite (pivot ${j}: ${d}); raise the damping`);
    const ljj = Math.sqrt(d);
    l[j * n + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let s = a[i * n + j]!;
      for (let k = 0; k < j; k++) s -= l[i * n + k]! * l[j * n + k]!;
      l[i * n + j] = s / ljj;
    }
  }
  return l;
}

/** Inverse of a symmetric positive definite matrix through its Cholesky factor. */
export function invertSpd(a: Float64Array, n: number): Float64Array {
  const l = choleskyLower(a, n);
  // L⁻¹ (lower triangular) by forward substitution, then A⁻¹ = L⁻ᵀ L⁻¹.
  const li = new Float64Array(n * n);
  for (let c = 0; c < n; c++) {
    li[c * n + c] = 1 / l[c * n + c]!;
    for (let i = c + 1; i < n; i++) {
      let s = 0;
      for (let k = c; k < i; k++) s -= l[i * n + k]! * li[k * n + c]!;
      li[i * n + c] = s / l[i * n + i]!;
    }
  }
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let k = i; k < n; k++) s += li[k * n + i]! * li[k * n + j]!;
      out[i * n + j] = s;
      out[j * n + i] = s;
    }
  }
  return out;
}

/** The dampened Hessian (copy): dead inputs get H_ii = 1, every diagonal entry + damping·mean(diag). Also returns the dead inputs. */
export function dampenedHessian(h: Float64Array, cols: number, damping: number): { h: Float64Array; dead: Uint8Array } {
  const out = Float64Array.from(h);
  const dead = new Uint8Array(cols);
  for (let i = 0; i < cols; i++) {
    if (out[i * cols + i] === 0) {
      dead[i] = 1;
      out[i * cols + i] = 1;
    }
  }
  let mean = 0;
  for (let i = 0; i < cols; i++) mean += out[i * cols + i]!;
  mean /= cols;
  for (let i = 0; i < cols; i++) out[i * cols + i]! += damping * mean;
  return { h: out, dead };
}

/** k smallest indices of `v` (ties by index). */
function smallestK(v: ArrayLike<number>, idx: number[], k: number): number[] {
  return [...idx].sort((a, b) => v[a]! - v[b]! || a - b).slice(0, k);
}

/**
 * Prune and reconstruct one layer. `w` is [rows × cols] row-major (rows = outputs), `h` the
 * (undampened) Hessian XXᵀ [cols × cols]. Returns the new weights and the keep-mask.
 */
export function sparseGptLayer(w: Float64Array, rows: number, cols: number, h: Float64Array, o: SparseGptOptions): { w: Float64Array; mask: Uint8Array } {
  const blockSize = Math.max(1, o.blockSize ?? 128);
  const { h: hd, dead } = dampenedHessian(h, cols, o.damping ?? 0.01);
  const W = Float64Array.from(w);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) if (dead[c]) W[r * cols + c] = 0;
  // U with H⁻¹ = UᵀU: row i of U from column i on is the (scaled) row of the inverse Hessian of the
  // columns i.. (those not yet fixed), i.e. what sequential OBS needs, without re-inverting.
  const hinv = invertSpd(hd, cols);
  const U = upperCholesky(hinv, cols);
  const keep = new Uint8Array(rows * cols).fill(1);
  if (o.mask) keep.set(o.mask);
  const nm = o.nm;
  for (let i1 = 0; i1 < cols; i1 += blockSize) {
    const i2 = Math.min(i1 + blockSize, cols);
    const bs = i2 - i1;
    const err = new Float64Array(rows * bs);
    if (!o.mask && !nm) {
      const p = o.sparsity ?? 0;
      const tmp = new Float64Array(rows * bs);
      for (let r = 0; r < rows; r++) {
        for (let c = i1; c < i2; c++) {
          const d = U[c * cols + c]!;
          tmp[r * bs + (c - i1)] = (W[r * cols + c]! * W[r * cols + c]!) / (d * d);
        }
      }
      const k = Math.round(p * rows * bs);
      const all = Array.from({ length: rows * bs }, (_, j) => j);
      for (const j of smallestK(tmp, all, k)) keep[Math.floor(j / bs) * cols + i1 + (j % bs)] = 0;
    }
    for (let i = i1; i < i2; i++) {
      if (nm && (i - i1) % nm.m === 0) {
        const g = Math.min(nm.m, i2 - i);
        for (let r = 0; r < rows; r++) {
          const tmp = new Float64Array(g);
          for (let c = 0; c < g; c++) {
            const d = U[(i + c) * cols + i + c]!;
            tmp[c] = (W[r * cols + i + c]! * W[r * cols + i + c]!) / (d * d);
          }
          const drop = Math.round(((nm.m - nm.n) * g) / nm.m);
          for (const c of smallestK(tmp, [...Array(g).keys()], drop)) keep[r * cols + i + c] = 0;
        }
      }
      const d = U[i * cols + i]!;
      for (let r = 0; r < rows; r++) {
        const wi = W[r * cols + i]!;
        const q = keep[r * cols + i] ? wi : 0;
        const e = (wi - q) / d;
        err[r * bs + (i - i1)] = e;
        if (e !== 0) for (let c = i; c < i2; c++) W[r * cols + c]! -= e * U[i * cols + c]!;
        W[r * cols + i] = q;
      }
    }
    // Lazy update of the columns after the block.
    for (let r = 0; r < rows; r++) {
      for (let b = 0; b < bs; b++) {
        const e = err[r * bs + b]!;
        if (e === 0) continue;
        const urow = (i1 + b) * cols;
        for (let c = i2; c < cols; c++) W[r * cols + c]! -= e * U[urow + c]!;
      }
    }
  }
  for (let j = 0; j < W.length; j++) if (!keep[j]) W[j] = 0;
  return { w: W, mask: keep };
}

/** Upper triangular U with A = UᵀU (the Cholesky factor torch.linalg.cholesky(A, upper=True) returns). */
export function upperCholesky(a: Float64Array, n: number): Float64Array {
  // A = LLᵀ with L lower; U = Lᵀ satisfies UᵀU = LLᵀ = A.
  const l = choleskyLower(a, n);
  const u = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) u[j * n + i] = l[i * n + j]!;
  return u;
}

/** ‖(W − Ŵ)X‖²_F = Σ_rows δᵀ H δ with H = XXᵀ (rows = outputs), for reconstruction-error checks. */
export function reconstructionError(w: Float64Array, wHat: Float64Array, rows: number, cols: number, h: Float64Array): number {
  let total = 0;
  const d = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) d[c] = w[r * cols + c]! - wHat[r * cols + c]!;
    for (let i = 0; i < cols; i++) {
      if (d[i] === 0) continue;
      let s = 0;
      for (let j = 0; j < cols; j++) s += h[i * cols + j]! * d[j]!;
      total += d[i]! * s;
    }
  }
  return total;
}
