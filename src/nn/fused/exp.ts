/**
 * σ² = exp(log σ²) for the LRT forward pass, as one SIMD kernel on wasm.
 *
 * tfjs-backend-wasm's `Exp` is a scalar loop (~5 ns per entry); the kernel `BayesPruneExp`
 * runs the polynomial exp of src/kernels/mean-field.wat over four lanes at a time (inputs
 * |x| < 80; relative error a few float32 ulps), the last n mod 4 entries by Math.exp.
 * Gradient dy·exp(x), as tfjs's. On every other backend, without wasm SIMD, or with
 * `fusedPaths.expKernel` off, {@link expOp} is `tf.exp`. Agrees with it to float32 rounding.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { meanFieldWasm } from '../../kernels/mean-field.js';
import { fusedPaths } from './settings.js';
import { wasmBackendOf } from './wasm-heap.js';

export const EXP_KERNEL = 'BayesPruneExp';

function expKernelWasm(args: { inputs: tf.NamedTensorInfoMap; backend: unknown }): tf.TensorInfo {
  const backend = wasmBackendOf(args.backend);
  const simd = meanFieldWasm(args.backend);
  if (!simd) throw new Error(`${EXP_KERNEL}: the wasm backend has no SIMD support`);
  const x = args.inputs.x!;
  const out = backend.makeOutput(x.shape, 'float32');
  const xs = backend.typedArrayFromHeap(x) as Float32Array;
  const ys = backend.typedArrayFromHeap(out) as Float32Array;
  const n = xs.length;
  const n4 = n - (n % 4);
  simd.exp4(xs.byteOffset, ys.byteOffset, n4);
  for (let i = n4; i < n; i++) ys[i] = Math.exp(xs[i]!);
  return out;
}

/** Whether the SIMD exp runs on the active backend. */
export function expFused(): boolean {
  return fusedPaths.expKernel && tf.getKernel(EXP_KERNEL, tf.getBackend()) !== undefined && meanFieldWasm() !== null;
}

/** exp(x) of a float32 tensor with entries in (−80, 80) (log variances), differentiable. */
export function expOp(x: tf.Tensor): tf.Tensor {
  if (!expFused() || x.dtype !== 'float32') return tf.exp(x);
  const f = tf.customGrad(((a: tf.Tensor, save: tf.GradSaveFunc) => {
    const y = tf.engine().runKernel(EXP_KERNEL, { x: a }) as tf.Tensor;
    save([y]);
    return { value: y, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, saved[0]!) };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(x);
}

let registered = false;

/** Register the wasm kernel (idempotent; called on import). */
export function registerExpKernel(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({ kernelName: EXP_KERNEL, backendName: 'wasm', kernelFunc: expKernelWasm as unknown as tf.KernelFunc });
}

registerExpKernel();
