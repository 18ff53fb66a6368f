/**
 * Matrix products of the LRT training step on wasm by the SIMD gemm of src/kernels/mean-field.wat.
 *
 * The kernel `BayesPruneMatMul` computes C = A·B or C = Aᵀ·B (float32, row-major) in 4×8 tiles
 * held in registers, with K in chunks that stay in L1; Aᵀ is read in place, so the backward's
 * xᵀ·dy needs no materialized transpose (tfjs-backend-wasm's own transposed product is ~10×
 * slower, and src/nn/gradients.ts transposes first). Each entry of C is the float32 sum over k
 * in increasing order, as XNNPACK's kernel forms it (the products are bit-identical to tfjs's
 * matMul, tested). Measured against tfjs's matMul on this machine (fastest of 40 calls):
 * 100×784 by 784×300 in 1.20 ms vs 1.40 ms, xᵀ·dy 1.34 ms vs 1.52 ms (transpose + matMul).
 * Used inside {@link lrtDenseSample}; on other backends, without wasm SIMD, or with
 * `fusedPaths.gemmKernel` off, {@link matMulAB} is tf.matMul (transposes materialized on wasm).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { meanFieldWasm } from '../../kernels/mean-field.js';
import { fusedPaths } from './settings.js';
import { wasmBackendOf } from './wasm-heap.js';

export const MATMUL_KERNEL = 'BayesPruneMatMul';

function matMulWasm(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const backend = wasmBackendOf(args.backend);
  const simd = meanFieldWasm(args.backend);
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const transposeA = (args.attrs as unknown as { transposeA: boolean }).transposeA;
  const [ra, ca] = a.shape as [number, number];
  const [k, n] = b.shape as [number, number];
  const m = transposeA ? ca : ra;
  const out = backend.makeOutput([m, n], 'float32');
  const av = backend.typedArrayFromHeap(a);
  const bv = backend.typedArrayFromHeap(b);
  const cv = backend.typedArrayFromHeap(out);
  const sar = transposeA ? 4 : 4 * ca;
  const sak = transposeA ? 4 * ca : 4;
  // Tiles overhanging M (to a multiple of 4) or N (to a multiple of 8) read past the matrices' ends:
  // allowed only inside the heap.
  const mPad = Math.ceil(m / 4) * 4;
  const nPad = Math.ceil(n / 8) * 8;
  const heapBytes = cv.buffer.byteLength;
  const lastA = av.byteOffset + (mPad - 1) * sar + (k - 1) * sak + 4;
  const lastB = bv.byteOffset + (k - 1) * 4 * n + 4 * nPad;
  const lastC = cv.byteOffset + (mPad - 1) * 4 * n + 4 * nPad;
  if (!simd || Math.max(lastA, lastB, lastC) > heapBytes || k === 0) {
    backend.disposeData(out.dataId);
    const mm = tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc;
    if (!transposeA)
      return mm({ inputs: { a, b }, backend: args.backend as tf.KernelBackend, attrs: { transposeA: false, transposeB: false } }) as tf.TensorInfo;
    const t = tf
      .getKernel('Transpose', 'wasm')!
      .kernelFunc({ inputs: { x: a }, backend: args.backend as tf.KernelBackend, attrs: { perm: [1, 0] } }) as tf.TensorInfo;
    const r = mm({ inputs: { a: t, b }, backend: args.backend as tf.KernelBackend, attrs: { transposeA: false, transposeB: false } }) as tf.TensorInfo;
    backend.disposeData(t.dataId);
    return r;
  }
  simd.gemm(av.byteOffset, sar, sak, bv.byteOffset, 4 * n, cv.byteOffset, 4 * n, m, n, k);
  return out;
}

/** Whether the SIMD gemm runs on the active backend. */
export function gemmFused(): boolean {
  return fusedPaths.gemmKernel && tf.getKernel(MATMUL_KERNEL, tf.getBackend()) !== undefined && meanFieldWasm() !== null;
}

/** A·B, or Aᵀ·B with `transposeA`, of float32 matrices (not differentiable: used inside hand-written backward passes). */
export function matMulAB(a: tf.Tensor2D, b: tf.Tensor2D, transposeA = false): tf.Tensor2D {
  if (gemmFused() && a.dtype === 'float32' && b.dtype === 'float32') {
    return tf.engine().runKernel(MATMUL_KERNEL, { a, b }, { transposeA } as unknown as tf.NamedAttrMap) as tf.Tensor2D;
  }
  if (tf.getBackend() !== 'wasm') return tf.matMul(a, b, transposeA, false);
  return tf.matMul(transposeA ? (tf.transpose(a) as tf.Tensor2D) : a, b);
}

let registered = false;

/** Register the wasm kernel (idempotent; called on import). */
export function registerMatMulKernel(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({ kernelName: MATMUL_KERNEL, backendName: 'wasm', kernelFunc: matMulWasm as unknown as tf.KernelFunc });
}

registerMatMulKernel();
