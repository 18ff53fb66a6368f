import { describe, expect, it } from 'vitest';
import { RandomStream } from '../../src/random.js';
import { inputHessian, invertSpd, reconstructionError, sparseGptLayer, upperCholesky } from '../../src/pruning/sparsegpt.js';

/** Plain Gauss–Jordan inverse with partial pivoting (independent of the Cholesky route). */
function gaussJordanInverse(a: number[][]): number[][] {
  const n = a.length;
  const m = a.map((row, i) => [...row, ...Array.from({ length: n }, (_, j) => (i === j ? 1 : 0))]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r]![c]!) > Math.abs(m[p]![c]!)) p = r;
    [m[c], m[p]] = [m[p]!, m[c]!];
    const piv = m[c]![c]!;
    for (let j = 0; j < 2 * n; j++) m[c]![j]! /= piv;
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r]![c]!;
      for (let j = 0; j < 2 * n; j++) m[r]![j]! -= f * m[c]![j]!;
    }
  }
  return m.map((row) => row.slice(n));
}

function problem(rows: number, cols: number, n: number, key: string) {
  const s = new RandomStream(key);
  // Correlated inputs (a shared factor), some columns never active: where second-order reconstruction matters.
  const x = new Float64Array(n * cols);
  for (let e = 0; e < n; e++) {
    const f = s.normal();
    for (let c = 0; c < cols; c++) x[e * cols + c] = c === cols - 1 ? 0 : 0.8 * f + 0.6 * s.normal() + (c % 3) * 0.1;
  }
  const w = Float64Array.from({ length: rows * cols }, () => s.normal());
  return { x, w, h: inputHessian(x, n, cols) };
}

/** Dampened H as the algorithm makes it: dead inputs get H_ii = 1, then + damping·mean(diag) on the diagonal. */
function dampened(h: Float64Array, cols: number, damping: number): number[][] {
  const a = Array.from({ length: cols }, (_, i) => Array.from({ length: cols }, (_, j) => h[i * cols + j]!));
  for (let i = 0; i < cols; i++) if (a[i]![i] === 0) a[i]![i] = 1;
  const mean = a.reduce((t, r, i) => t + r[i]!, 0) / cols;
  for (let i = 0; i < cols; i++) a[i]![i]! += damping * mean;
  return a;
}

describe('SparseGPT (one linear layer)', () => {
  it('H = XᵀX by a direct sum, and the SPD inverse and upper Cholesky factor of the inverse multiply back', () => {
    const cols = 6;
    const { x, h } = problem(2, cols, 40, 'hess');
    for (let i = 0; i < cols; i++)
      for (let j = 0; j < cols; j++) {
        let s = 0;
        for (let e = 0; e < 40; e++) s += x[e * cols + i]! * x[e * cols + j]!;
        expect(h[i * cols + j]).toBeCloseTo(s, 10);
      }
    const a = dampened(h, cols, 0.01);
    const flat = Float64Array.from(a.flat());
    const inv = invertSpd(flat, cols);
    const ref = gaussJordanInverse(a);
    for (let i = 0; i < cols; i++) for (let j = 0; j < cols; j++) expect(inv[i * cols + j]).toBeCloseTo(ref[i]![j]!, 9);
    const u = upperCholesky(inv, cols);
    for (let i = 0; i < cols; i++)
      for (let j = 0; j < cols; j++) {
        if (j < i) expect(u[i * cols + j]).toBe(0);
        let s = 0;
        for (let k = 0; k < cols; k++) s += u[k * cols + i]! * u[k * cols + j]!;
        expect(s).toBeCloseTo(ref[i]![j]!, 9);
      }
  });

  it('with a fixed mask, the Cholesky/lazy-block update equals sequential OBS with explicit inverses of the remaining columns', () => {
    const rows = 3;
    const cols = 7;
    const { w, h } = problem(rows, cols, 50, 'obs');
    const mask = new Uint8Array(rows * cols).fill(1);
    for (const j of [0, 3, 4, 8, 12, 13, 15, 19]) mask[j] = 0;
    const a = dampened(h, cols, 0.01);
    // Reference: per row, columns left to right; removing column i updates the columns ≥ i by
    // δ = −w_i/[H_F⁻¹]_00 · [H_F⁻¹]_0,: with F = {i, …, cols−1} and H_F⁻¹ inverted explicitly.
    const ref = Float64Array.from(w);
    // Inputs that are never active (H_cc = 0): their weights are 0 from the start.
    for (let c = 0; c < cols; c++) if (h[c * cols + c] === 0) for (let r = 0; r < rows; r++) ref[r * cols + c] = 0;
    for (let r = 0; r < rows; r++) {
      for (let i = 0; i < cols; i++) {
        if (mask[r * cols + i]) continue;
        const sub = a.slice(i).map((row) => row.slice(i));
        const hi = gaussJordanInverse(sub);
        const f = ref[r * cols + i]! / hi[0]![0]!;
        for (let j = i; j < cols; j++) ref[r * cols + j]! -= f * hi[0]![j - i]!;
        ref[r * cols + i] = 0;
      }
    }
    for (const blockSize of [cols, 3, 1]) {
      const out = sparseGptLayer(w, rows, cols, h, { mask, damping: 0.01, blockSize });
      for (let j = 0; j < rows * cols; j++) expect(out.w[j]).toBeCloseTo(ref[j]!, 9);
      expect([...out.mask]).toEqual([...mask]);
    }
  });

  it('reconstruction error ‖(W − Ŵ)X‖² is below magnitude pruning with the same number of weights removed', () => {
    const rows = 8;
    const cols = 24;
    const { w, h } = problem(rows, cols, 200, 'recon');
    for (const sparsity of [0.5, 0.7, 0.9]) {
      const out = sparseGptLayer(w, rows, cols, h, { sparsity, damping: 0.01, blockSize: 8 });
      const removed = out.mask.reduce((t, v) => t + (v ? 0 : 1), 0);
      expect(Math.abs(removed - sparsity * rows * cols)).toBeLessThanOrEqual(3 /* per-block rounding, 3 blocks */);
      for (let j = 0; j < w.length; j++) if (!out.mask[j]) expect(out.w[j]).toBe(0);
      // Per-layer magnitude with the same count: the `removed` smallest |w|, no update.
      const order = [...w.keys()].sort((a, b) => Math.abs(w[a]!) - Math.abs(w[b]!));
      const mag = Float64Array.from(w);
      for (const j of order.slice(0, removed)) mag[j] = 0;
      const eG = reconstructionError(w, out.w, rows, cols, h);
      const eM = reconstructionError(w, mag, rows, cols, h);
      expect(eG).toBeLessThan(eM);
    }
  });

  it('reconstructionError equals ‖(W − Ŵ)X‖²_F computed from X directly', () => {
    const rows = 2;
    const cols = 5;
    const n = 30;
    const { x, w, h } = problem(rows, cols, n, 'direct');
    const wh = Float64Array.from(w, (v, j) => (j % 3 === 0 ? 0 : v * 0.9));
    let direct = 0;
    for (let r = 0; r < rows; r++)
      for (let e = 0; e < n; e++) {
        let s = 0;
        for (let c = 0; c < cols; c++) s += (w[r * cols + c]! - wh[r * cols + c]!) * x[e * cols + c]!;
        direct += s * s;
      }
    expect(reconstructionError(w, wh, rows, cols, h)).toBeCloseTo(direct, 8);
  });

  it('N:M: exactly M − N of every M consecutive inputs of each output are removed', () => {
    const rows = 5;
    const cols = 16;
    const { w, h } = problem(rows, cols, 60, 'nm');
    for (const [n, m] of [
      [2, 4],
      [1, 4],
      [3, 8],
    ] as const) {
      const out = sparseGptLayer(w, rows, cols, h, { nm: { n, m }, damping: 0.01, blockSize: 8 });
      for (let r = 0; r < rows; r++)
        for (let g = 0; g < cols; g += m) {
          let kept = 0;
          for (let c = g; c < g + m; c++) kept += out.mask[r * cols + c]!;
          expect(kept).toBe(n);
        }
    }
  });
});
