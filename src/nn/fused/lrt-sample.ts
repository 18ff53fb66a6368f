/**
 * LRT draws from pre-activation moments in one pass (the evaluation engine's dense path,
 * src/experiment/mc-engine.ts): h = relu?(mean + √(var + 1e-8)·ε) and h², where the moments
 * [m, N] may be shared by S draws of [S·m, N] (the first layer's moments). On wasm one SIMD
 * pass (`lrtSample` of src/kernels/mean-field.wat) replaces the six elementwise kernels (add,
 * sqrt, multiply, add, relu, square) and their five intermediate tensors; elsewhere, or with
 * `fusedPaths.lrtSampleKernel` off, the same composition of tfjs ops. Every operation is
 * rounded to float32 in the same order, so both give the same values (tested).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { meanFieldWasm } from '../../kernels/mean-field.js';
import { fusedPaths } from './settings.js';
import { wasmBackendOf } from './wasm-heap.js';

export const LRT_SAMPLE_KERNEL = 'BayesPruneLrtSample';

/** Variance floor inside the square root (as src/bayes/mean-field.ts lrtStd). */
const VAR_EPS = 1e-8;

function lrtSampleWasm(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo[] {
  const backend = wasmBackendOf(args.backend);
  const simd = meanFieldWasm(args.backend)!;
  const { mean, variance, eps } = args.inputs as { mean: tf.TensorInfo; variance: tf.TensorInfo; eps: tf.TensorInfo };
  const { relu, squares } = args.attrs as unknown as { relu: boolean; squares: boolean };
  const n = eps.shape.reduce((a, b) => a * b, 1);
  const period = mean.shape.reduce((a, b) => a * b, 1);
  const out = backend.makeOutput(eps.shape, 'float32');
  const out2 = squares ? backend.makeOutput(eps.shape, 'float32') : null;
  const off = (t: tf.TensorInfo) => backend.typedArrayFromHeap(t).byteOffset;
  simd.lrtSample(off(mean), off(variance), off(eps), off(out), out2 ? off(out2) : 0, n, period, relu ? 1 : 0);
  return out2 ? [out, out2] : [out];
}

/** Whether the fused kernel runs on the active backend. */
export function lrtSampleFused(): boolean {
  return fusedPaths.lrtSampleKernel && tf.getKernel(LRT_SAMPLE_KERNEL, tf.getBackend()) !== undefined && meanFieldWasm() !== null;
}

/**
 * Draws [S·m, N] (S = eps rows / mean rows) from moments [m, N]: relu?(mean + √(var + 1e-8)·ε),
 * and with `squares` their squares (else null). Not differentiable (evaluation only).
 */
export function lrtSample(
  mean: tf.Tensor2D,
  variance: tf.Tensor2D,
  eps: tf.Tensor2D,
  relu: boolean,
  squares: boolean,
): { h: tf.Tensor2D; h2: tf.Tensor2D | null } {
  const [m, N] = mean.shape;
  const [r, n2] = eps.shape;
  if (N !== n2 || r % m !== 0 || variance.shape[0] !== m || variance.shape[1] !== N)
    throw new Error(`lrtSample: moments [${m}, ${N}] do not fit noise [${r}, ${n2}]`);
  if (lrtSampleFused() && mean.dtype === 'float32' && variance.dtype === 'float32' && eps.dtype === 'float32') {
    const out = tf.engine().runKernel(LRT_SAMPLE_KERNEL, { mean, variance, eps }, { relu, squares } as unknown as tf.NamedAttrMap) as unknown as tf.Tensor2D[];
    return { h: out[0]!, h2: squares ? out[1]! : null };
  }
  return tf.tidy(() => {
    const std = tf.sqrt(tf.add(variance, VAR_EPS));
    const S = r / m;
    let x: tf.Tensor2D = S === 1 ? tf.add(mean, tf.mul(std, eps)) : (tf.reshape(tf.add(mean, tf.mul(std, tf.reshape(eps, [S, m, N]))), [r, N]) as tf.Tensor2D);
    if (relu) x = tf.relu(x);
    return { h: x, h2: squares ? tf.square(x) : null } as unknown as tf.TensorContainer;
  }) as unknown as { h: tf.Tensor2D; h2: tf.Tensor2D | null };
}

let registered = false;

/** Register the wasm kernel (idempotent; called on import). */
export function registerLrtSampleKernel(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({ kernelName: LRT_SAMPLE_KERNEL, backendName: 'wasm', kernelFunc: lrtSampleWasm as unknown as tf.KernelFunc });
}

registerLrtSampleKernel();
