/**
 * LRT noise drawn on the backend: standard normal draws written straight into the wasm heap.
 *
 * The kernel `BayesPruneNormal` (wasm only) fills a fresh tensor with standard normal values
 * from four independent xoshiro128** generators (Blackman & Vigna), one per SIMD lane, whose
 * states are splitmix32 hashes of the seed, turned into normals by Box–Muller with polynomial
 * ln / sin / cos (src/kernels/mean-field.wat; each value within ~1e-6 of the exact transform
 * of its uniforms). ~40× faster than tfjs's `randomNormal` and ~20× faster than the JS loop of
 * random-normal.ts, with no copy from JavaScript into the heap.
 *
 * It is a different stream from `tf.randomNormal` (the same seed gives other numbers), so a
 * seeded run is reproducible bit for bit on the same backend, not across backends. On every
 * other backend, without wasm SIMD, or with `fusedPaths.backendNoise` off, {@link lrtNoise}
 * is tfjs's sequence (the fast JS loop when `fusedPaths.fastNormal`, else `tf.randomNormal`).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { meanFieldWasm } from '../../kernels/mean-field.js';
import { standardNormal } from './random-normal.js';
import { fusedPaths } from './settings.js';
import { wasmBackendOf } from './wasm-heap.js';

export const NORMAL_KERNEL = 'BayesPruneNormal';

/** splitmix32's finalizer (32-bit). */
function mix32(z: number): number {
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) | 0;
}

/** The four lane seeds of the generator for `seed`. */
export function laneSeeds(seed: number): [number, number, number, number] {
  const base = mix32(seed | 0) ^ mix32(Math.floor(seed / 2 ** 32) | 0);
  return [0, 1, 2, 3].map((j) => mix32((base + Math.imul(j + 1, 0x68e31da4)) | 0)) as [number, number, number, number];
}

function normalKernelWasm(args: { backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const backend = wasmBackendOf(args.backend);
  const simd = meanFieldWasm(args.backend);
  if (!simd) throw new Error(`${NORMAL_KERNEL}: the wasm backend has no SIMD support`);
  const { shape, seed } = args.attrs as unknown as { shape: number[]; seed: number };
  const out = backend.makeOutput(shape, 'float32');
  const view = backend.typedArrayFromHeap(out);
  const [k0, k1, k2, k3] = laneSeeds(seed);
  simd.normal(view.byteOffset, view.length, k0, k1, k2, k3);
  return out;
}

/** Whether the backend kernel draws the noise on the active backend. */
export function backendNoiseFused(): boolean {
  return fusedPaths.backendNoise && tf.getKernel(NORMAL_KERNEL, tf.getBackend()) !== undefined && meanFieldWasm() !== null;
}

/**
 * Standard normal noise of `shape` for the seed `seed` (an integer ≥ 1): the backend kernel
 * where registered (wasm), else tfjs's sequence for that seed. Not differentiable (noise).
 */
export function lrtNoise(shape: number[], seed: number): tf.Tensor {
  if (backendNoiseFused()) return tf.engine().runKernel(NORMAL_KERNEL, {}, { shape, seed } as unknown as tf.NamedAttrMap) as tf.Tensor;
  return fusedPaths.fastNormal ? standardNormal(shape, seed) : tf.randomNormal(shape, 0, 1, 'float32', seed);
}

let registered = false;

/** Register the wasm kernel (idempotent; called on import). */
export function registerNormalKernel(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({ kernelName: NORMAL_KERNEL, backendName: 'wasm', kernelFunc: normalKernelWasm as unknown as tf.KernelFunc });
}

registerNormalKernel();
