/**
 * The sparse path of the shared evaluation engine (src/experiment/mc-engine.ts): an operating
 * point's LRT network evaluated by the SIMD module of src/kernels/sparse-lrt.wat, over the point's
 * kept weights only. Activations run transposed ([units, examples]); each layer lists its kept
 * weights by output column, so a mask costs nothing and a layer costs in proportion to the weights
 * it keeps (2.5–4·10⁹ kept-weight × example updates per second here — each a multiply-add for μ and
 * one for v —, against ~6·10⁹ dense entries for the two XNNPACK products of the dense path): the
 * engine takes this path where a point's kept-weight work is below {@link SPARSE_PATH_DENSITY} of
 * its compacted products' entries.
 *
 * Same arithmetic as the dense path: μ = b + Σ θ·h, v = Σ σ²·h², pre-activation μ + √(v + 1e-8)·ε
 * with the same ε, then ReLU; only the order of the float32 sums differs.
 * @module
 */
import { sparseLrtModule, WasmArena } from '../kernels/sparse-lrt.js';

/**
 * A point takes the sparse path when its kept weights' work (kept weights × examples, summed over
 * layers) is below this fraction of the dense path's (compacted rows × columns × examples): the
 * two paths cost the same at ~0.6 (one 300×100 LRT layer over 1,000 examples, 2026-11-30).
 */
export const SPARSE_PATH_DENSITY = 0.55;

/** One weight layer of a point for the sparse path: CSC over its computed columns (in the engine's compacted order). */
export interface SparseLayer {
  /** Input rows: the original input feature (first layer) or the position in the previous layer's computed columns. */
  colPtr: Int32Array;
  rowIdx: Int32Array;
  theta: Float32Array;
  sigma2: Float32Array;
  /** Bias of every computed column. */
  bias: Float32Array;
  /** Original unit index of every computed column (for the noise). */
  cols: Int32Array;
  /** ReLU after this layer (false for the logits). */
  relu: boolean;
}

interface Placed {
  colPtr: number;
  rowIdx: number;
  theta: number;
  sigma2: number;
  bias: number;
  n: number;
  cols: Int32Array;
  relu: boolean;
}

const pad4 = (m: number) => Math.ceil(m / 4) * 4;

export class SparsePath {
  private readonly arena: WasmArena;
  private readonly pointBase: number;
  private readonly pointCapacity: number;
  private readonly scratch: { mu: number; v: number; a: number; a2: number; b: number; b2: number; epsRow: number };
  /** Transposed inputs [d, mp] and their squares, by batch. */
  private readonly inputs = new Map<unknown, { x: number; x2: number }>();
  /** Transposed noise per batch key and LRT layer: [units, S·mp] (element (n, s·mp + i) = ε of sample s, example i, unit n). */
  private readonly noise = new Map<string, number[]>();
  private layers: Placed[] = [];

  private constructor(
    mod: NonNullable<ReturnType<typeof sparseLrtModule>>,
    private readonly widths: { inF: number; outF: number }[],
    private readonly samples: number,
    maxBatch: number,
    maxBytes: number,
  ) {
    this.arena = new WasmArena(mod, maxBytes);
    const S = samples;
    const mp = pad4(maxBatch);
    const wide = Math.max(...widths.map((w) => w.outF));
    const first = widths[0]!.outF;
    this.scratch = {
      mu: this.arena.alloc(first * mp),
      v: this.arena.alloc(first * mp),
      a: this.arena.alloc(wide * S * mp),
      a2: this.arena.alloc(wide * S * mp),
      b: this.arena.alloc(wide * S * mp),
      b2: this.arena.alloc(wide * S * mp),
      epsRow: this.arena.alloc(wide),
    };
    // A point's CSC arrays: at most every weight, plus column pointers and biases.
    this.pointCapacity = widths.reduce((a, w) => a + 3 * w.inF * w.outF + 2 * w.outF + 1 + 16, 0);
    this.pointBase = this.arena.alloc(this.pointCapacity);
  }

  /**
   * The sparse path for LRT layers of these widths, or null where WebAssembly SIMD is unavailable;
   * its memory may grow to `maxBytes` (beyond, an allocation throws {@link WasmArenaFull} and the
   * engine goes back to the dense path).
   */
  static create(widths: { inF: number; outF: number }[], samples: number, maxBatch: number, maxBytes?: number): SparsePath | null {
    const mod = sparseLrtModule();
    return mod ? new SparsePath(mod, widths, samples, maxBatch, maxBytes ?? 3 * 2 ** 30) : null;
  }

  /** Bytes of the module's memory in use (scratch, a point's capacity, and the inputs and noise made so far). */
  get bytes(): number {
    return this.arena.mark();
  }

  /** Writes a point's layers into the module's memory (replacing the previous point's). */
  setPoint(layers: SparseLayer[]): void {
    let p = this.pointBase;
    const end = this.pointBase + this.pointCapacity * 4;
    const take = (n: number) => {
      const at = p;
      p += Math.ceil(n / 4) * 16;
      if (p > end) throw new Error('sparse path: point larger than its network');
      return at;
    };
    this.layers = layers.map((l) => {
      const nnz = l.rowIdx.length;
      const placed: Placed = {
        colPtr: take(l.colPtr.length),
        rowIdx: take(nnz),
        theta: take(nnz),
        sigma2: take(nnz),
        bias: take(l.bias.length),
        n: l.bias.length,
        cols: l.cols,
        relu: l.relu,
      };
      this.arena.i32.set(l.colPtr, placed.colPtr / 4);
      this.arena.i32.set(l.rowIdx, placed.rowIdx / 4);
      this.arena.f32.set(l.theta, placed.theta / 4);
      this.arena.f32.set(l.sigma2, placed.sigma2 / 4);
      this.arena.f32.set(l.bias, placed.bias / 4);
      return placed;
    });
  }

  /** The transposed inputs of a batch (made once per batch). */
  private batchInputs(key: unknown, host: Float32Array, m: number): { x: number; x2: number } {
    const hit = this.inputs.get(key);
    if (hit) return hit;
    const d = host.length / m;
    const mp = pad4(m);
    const x = this.arena.alloc(d * mp);
    const x2 = this.arena.alloc(d * mp);
    const f = this.arena.f32;
    const xo = x / 4;
    const x2o = x2 / 4;
    for (let i = 0; i < m; i++) {
      const o = i * d;
      for (let k = 0; k < d; k++) {
        const v = host[o + k]!;
        f[xo + k * mp + i] = v;
        f[x2o + k * mp + i] = Math.fround(v * v);
      }
    }
    const v = { x, x2 };
    this.inputs.set(key, v);
    return v;
  }

  /** The transposed noise of batch key `key` (host noise per LRT layer: [S, m, units], sample-major). */
  private batchNoise(key: string, host: Float32Array[], m: number): number[] {
    const hit = this.noise.get(key);
    if (hit) return hit;
    const S = this.samples;
    const mp = pad4(m);
    const out = host.map((buf, l) => {
      const units = this.widths[l]!.outF;
      const at = this.arena.alloc(units * S * mp);
      const f = this.arena.f32;
      const base = at / 4;
      for (let s = 0; s < S; s++)
        for (let i = 0; i < m; i++) {
          const src = (s * m + i) * units;
          const dst = base + s * mp + i;
          for (let n = 0; n < units; n++) f[dst + n * S * mp] = buf[src + n]!;
        }
      return at;
    });
    this.noise.set(key, out);
    return out;
  }

  private epsRows(base: number, cols: Int32Array, rowBytes: number): number {
    const at = this.scratch.epsRow;
    const i32 = this.arena.i32;
    for (let q = 0; q < cols.length; q++) i32[at / 4 + q] = base + cols[q]! * rowBytes;
    return at;
  }

  /**
   * Class probabilities of the S-sample LRT predictive for one batch of `m` examples, written to
   * `out[s]` from row `start` on (k classes per row).
   */
  predict(batchKey: unknown, host: Float32Array, m: number, noiseKey: string, noise: () => Float32Array[], out: Float32Array[], start: number): void {
    const S = this.samples;
    const mp = pad4(m);
    const R = S * mp;
    const { x, x2 } = this.batchInputs(batchKey, host, m);
    const eps = this.batchNoise(noiseKey, noise(), m);
    const mod = this.arena.mod;
    const sc = this.scratch;
    const L0 = this.layers[0]!;
    mod.layer(x, x2, mp, L0.colPtr, L0.rowIdx, L0.theta, L0.sigma2, L0.bias, L0.n, 0, sc.mu, sc.v, 0, 0);
    let h = sc.a;
    let h2 = sc.a2;
    mod.expand(sc.mu, sc.v, mp, L0.n, S, this.epsRows(eps[0]!, L0.cols, R * 4), h, h2, L0.relu ? 1 : 0);
    for (let l = 1; l < this.layers.length; l++) {
      const L = this.layers[l]!;
      const o = h === sc.a ? sc.b : sc.a;
      const o2 = h === sc.a ? sc.b2 : sc.a2;
      const last = l === this.layers.length - 1;
      mod.layer(h, h2, R, L.colPtr, L.rowIdx, L.theta, L.sigma2, L.bias, L.n, this.epsRows(eps[l]!, L.cols, R * 4), o, last ? 0 : o2, 1, L.relu ? 1 : 0);
      h = o;
      h2 = o2;
    }
    const k = this.layers.at(-1)!.n;
    softmaxColumns(this.arena.f32, h / 4, k, R, (s, i) => (s < S && i < m ? out[s]!.subarray((start + i) * k, (start + i + 1) * k) : null), mp);
  }

  /** Logits of the posterior-mean network for one batch, written to `out` from row `start` on. */
  meanLogits(batchKey: unknown, host: Float32Array, m: number, out: Float32Array, start: number): void {
    const mp = pad4(m);
    const { x } = this.batchInputs(batchKey, host, m);
    const mod = this.arena.mod;
    const sc = this.scratch;
    let h = x;
    for (let l = 0; l < this.layers.length; l++) {
      const L = this.layers[l]!;
      const o = h === sc.a ? sc.b : sc.a;
      mod.layer(h, 0, mp, L.colPtr, L.rowIdx, L.theta, L.sigma2, L.bias, L.n, 0, o, 0, 2, L.relu ? 1 : 0);
      h = o;
    }
    const k = this.layers.at(-1)!.n;
    const f = this.arena.f32;
    for (let i = 0; i < m; i++) for (let c = 0; c < k; c++) out[(start + i) * k + c] = f[h / 4 + c * mp + i]!;
  }
}

/**
 * Softmax of every column of a [k, R] block at `base` (float offsets), column r = s·mp + i,
 * written to `dest(s, i)` (skipped where null): max-subtracted, in float32 like tf.softmax.
 */
function softmaxColumns(f: Float32Array, base: number, k: number, R: number, dest: (s: number, i: number) => Float32Array | null, mp: number): void {
  const e = new Float64Array(k);
  for (let r = 0; r < R; r++) {
    const row = dest(Math.floor(r / mp), r % mp);
    if (!row) continue;
    let max = -Infinity;
    for (let c = 0; c < k; c++) max = Math.max(max, f[base + c * R + r]!);
    let sum = 0;
    for (let c = 0; c < k; c++) {
      e[c] = Math.fround(Math.exp(Math.fround(f[base + c * R + r]! - max)));
      sum += e[c]!;
    }
    const fs = Math.fround(sum);
    for (let c = 0; c < k; c++) row[c] = Math.fround(e[c]! / fs);
  }
}
