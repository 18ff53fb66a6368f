/**
 * Loader of the SIMD mean-field module (src/kernels/mean-field.wat): instantiated once per
 * tfjs wasm heap, with that heap's `WebAssembly.Memory` imported, so its functions read and
 * write tensors in place (pointers are the tensors' byte offsets in the heap).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { MEAN_FIELD_WASM_BASE64 } from './mean-field-wasm.js';

export interface MeanFieldWasm {
  /** Σ KL of entries [0, n4) (n4 a multiple of 4); writes ∂KL/∂θ, ∂KL/∂log σ². mask = 0: none. */
  kl(theta: number, logSigma2: number, mask: number, gTheta: number, gLogSigma2: number, n4: number): number;
  /** Adam's update of n entries (outputs may alias inputs). */
  adam(
    x: number,
    m: number,
    v: number,
    g: number,
    outX: number,
    outM: number,
    outV: number,
    n: number,
    beta1: number,
    oneMinusBeta1: number,
    beta2: number,
    oneMinusBeta2: number,
    oneMinusAccBeta1: number,
    oneMinusAccBeta2: number,
    epsilon: number,
    negLr: number,
  ): void;
  /** KL + gradient + Adam of one mean-field weight (see mean-field.wat `klAdam`); returns the KL. */
  klAdam(io: number, n4: number, prior: number, twoSigma2: number, scale: number, constants: number): number;
  /** C = A·B (M×K by K×N, float32) with A's entry (r, k) at a + r·sar + k·sak; row strides sb, sc in bytes. */
  gemm(a: number, sar: number, sak: number, b: number, sb: number, c: number, sc: number, m: number, n: number, k: number): void;
  /** n standard normal draws into dst from the four lane seeds (xoshiro128** per lane, Box–Muller). */
  normal(dst: number, n: number, k0: number, k1: number, k2: number, k3: number): void;
  /** LRT draws from moments repeating every `period` entries: out = relu?(mean + √(var + 1e-8)·eps), out2 = out² (0: none). */
  lrtSample(mean: number, v: number, eps: number, out: number, out2: number, n: number, period: number, relu: number): void;
  /** Elementwise ln / exp of n entries (n a multiple of 4), for tests of the approximations. */
  log4(src: number, dst: number, n: number): void;
  exp4(src: number, dst: number, n: number): void;
}

let bytes: Uint8Array<ArrayBuffer> | undefined;
const instances = new WeakMap<WebAssembly.Memory, MeanFieldWasm | null>();

/** The heap memory of a tfjs wasm backend, or undefined for any other backend. */
export function wasmMemoryOf(backend: unknown): WebAssembly.Memory | undefined {
  const mem = (backend as { wasm?: { asm?: { memory?: unknown } } } | undefined)?.wasm?.asm?.memory;
  return mem instanceof WebAssembly.Memory ? mem : undefined;
}

/** The module bound to `backend`'s heap; null when the backend is not wasm or SIMD is unavailable. */
export function meanFieldWasm(backend: unknown = tf.backend()): MeanFieldWasm | null {
  const memory = wasmMemoryOf(backend);
  if (!memory) return null;
  if (instances.has(memory)) return instances.get(memory)!;
  bytes ??= new Uint8Array(Buffer.from(MEAN_FIELD_WASM_BASE64, 'base64'));
  let inst: MeanFieldWasm | null = null;
  try {
    if (WebAssembly.validate(bytes)) inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports as unknown as MeanFieldWasm;
  } catch {
    inst = null; // no SIMD, or a memory that cannot be imported (e.g. a shared one): callers use the composed path
  }
  instances.set(memory, inst);
  return inst;
}
