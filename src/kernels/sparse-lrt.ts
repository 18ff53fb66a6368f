/**
 * Loader of the sparse LRT evaluation module (src/kernels/sparse-lrt.wat). Unlike the training
 * kernels it owns its memory (it never touches tfjs's heap), so it runs under any tfjs backend
 * wherever WebAssembly SIMD is available; {@link sparseLrtModule} returns null elsewhere.
 * @module
 */
import { SPARSE_LRT_WASM_BASE64 } from './sparse-lrt-wasm.js';

export interface SparseLrtExports {
  memory: WebAssembly.Memory;
  /** One layer over R examples in the transposed layout (see sparse-lrt.wat `layer`; mode 0 moments, 1 sampled, 2 mean). */
  layer(
    h: number,
    h2: number,
    R: number,
    colPtr: number,
    rowIdx: number,
    theta: number,
    sigma2: number,
    bias: number,
    N: number,
    epsRow: number,
    out: number,
    out2: number,
    mode: number,
    relu: number,
  ): void;
  /** The S draws of the first layer from its moments (see sparse-lrt.wat `expand`). */
  expand(mu: number, v: number, m: number, N: number, S: number, epsRow: number, out: number, out2: number, relu: number): void;
}

let compiled: WebAssembly.Module | null | undefined;

/** A fresh instance of the module (own memory), or null where WebAssembly SIMD is unavailable. */
export function sparseLrtModule(): SparseLrtExports | null {
  if (compiled === undefined) {
    const bytes = new Uint8Array(Buffer.from(SPARSE_LRT_WASM_BASE64, 'base64'));
    compiled = WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
  }
  return compiled ? (new WebAssembly.Instance(compiled, {}).exports as unknown as SparseLrtExports) : null;
}

/** The arena would outgrow its limit. */
export class WasmArenaFull extends Error {
  constructor(need: number, max: number) {
    super(`sparse evaluation path: needs ${(need / 2 ** 20).toFixed(0)} MiB of WebAssembly memory, more than its ${(max / 2 ** 20).toFixed(0)} MiB`);
  }
}

/**
 * A bump allocator over an instance's memory (16-byte aligned blocks, grown on demand). Views
 * are re-made after every growth: read them through {@link f32} / {@link i32} each time.
 */
export class WasmArena {
  private top = 16;
  private f32View: Float32Array;
  private i32View: Int32Array;

  constructor(
    readonly mod: SparseLrtExports,
    /** Largest memory the arena may grow to (bytes); beyond it {@link alloc} throws {@link WasmArenaFull}. */
    readonly maxBytes = 3 * 2 ** 30,
  ) {
    this.f32View = new Float32Array(mod.memory.buffer);
    this.i32View = new Int32Array(mod.memory.buffer);
  }

  /** Byte offset of a fresh block of `n` 4-byte entries. */
  alloc(n: number): number {
    const p = this.top;
    const top = p + Math.ceil((n * 4) / 16) * 16 + 16;
    if (top > this.maxBytes) throw new WasmArenaFull(top, this.maxBytes);
    this.top = top;
    const need = this.top - this.mod.memory.buffer.byteLength;
    if (need > 0) this.mod.memory.grow(Math.ceil(need / 65536));
    return p;
  }

  /** The current end of the allocations (for {@link reset}). */
  mark(): number {
    return this.top;
  }

  /** Frees every block allocated after `mark`. */
  reset(mark: number): void {
    this.top = mark;
  }

  get f32(): Float32Array {
    if (this.f32View.buffer !== this.mod.memory.buffer) this.f32View = new Float32Array(this.mod.memory.buffer);
    return this.f32View;
  }

  get i32(): Int32Array {
    if (this.i32View.buffer !== this.mod.memory.buffer) this.i32View = new Int32Array(this.mod.memory.buffer);
    return this.i32View;
  }
}
