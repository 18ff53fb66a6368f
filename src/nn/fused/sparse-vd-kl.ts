/**
 * The sparse-VD KL of a mean-field weight (Molchanov et al. 2017, eq. 14) and its gradient
 * with respect to θ and log σ² in one pass, as a kernel of the wasm backend.
 *
 * With t = θ² + 1e-8, r = log σ² − log t, la = clip(r, ±8), s = σ(k2 + k3·la), q = σ(la):
 *
 *   KL = Σ k1 − k1·s − ½·log q,
 *   g = ∂KL/∂la = −k1·k3·s(1 − s) − ½(1 − q)   (0 where |r| > 8),
 *   ∂KL/∂log σ² = g,  ∂KL/∂θ = g·(−2θ / t).
 *
 * The composed path ({@link klLogUniformFused} in bayes/priors.ts) runs this as ~25 small
 * tfjs kernels forward and backward, four of them transcendental and scalar on wasm. The
 * kernel `BayesPruneSparseVdKl` computes the value and both gradients in one SIMD pass over
 * the wasm heap (src/kernels/mean-field.wat: float32 lanes, polynomial ln / exp accurate to
 * a few float32 ulps, value summed in float64; the last n mod 4 entries by a float64 JS loop),
 * so the backward pass is two multiplications by the incoming scalar. Registered for `wasm`
 * only; on every other backend, without wasm SIMD, or with `fusedPaths.klKernel` off,
 * {@link sparseVdKl} is the composed path. Results agree with the composed path to float32
 * rounding (tested), not bit for bit.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { klLogUniformFused, LOG_ALPHA_CLIP, SPARSE_VD_K } from '../../bayes/priors.js';
import { fusedPaths } from './settings.js';
import { wasmBackendOf } from './wasm-heap.js';
import { meanFieldWasm } from '../../kernels/mean-field.js';

export const SPARSE_VD_KL_KERNEL = 'BayesPruneSparseVdKl';

/**
 * The loop itself: returns Σ KL over the kept entries (all when `mask` is null) and fills
 * ∂KL/∂θ and ∂KL/∂log σ² (0 for removed entries). Exported for tests.
 */
export function sparseVdKlLoop(
  theta: Float32Array,
  logSigma2: Float32Array,
  gTheta: Float32Array,
  gLogSigma2: Float32Array,
  mask: Float32Array | null = null,
): number {
  const { k1, k2, k3 } = SPARSE_VD_K;
  const C = LOG_ALPHA_CLIP;
  const k1k3 = k1 * k3;
  let sum = 0;
  const n = theta.length;
  for (let i = 0; i < n; i++) {
    if (mask !== null && mask[i] === 0) {
      gLogSigma2[i] = 0;
      gTheta[i] = 0;
      continue;
    }
    const th = theta[i]!;
    const t = th * th + 1e-8;
    const r = logSigma2[i]! - Math.log(t);
    if (r <= C && r >= -C) {
      const e = Math.exp(-r);
      const es = Math.exp(-k2 - k3 * r);
      const s = 1 / (1 + es);
      // −½·log q = ½·log1p(e^−la); s(1 − s) = es·s²
      sum += k1 - k1 * s + 0.5 * Math.log1p(e);
      const g = -k1k3 * es * s * s - (0.5 * e) / (1 + e);
      gLogSigma2[i] = g;
      gTheta[i] = (g * (-2 * th)) / t;
    } else {
      const la = r > C ? C : -C;
      sum += k1 - k1 / (1 + Math.exp(-k2 - k3 * la)) + 0.5 * Math.log1p(Math.exp(-la));
      gLogSigma2[i] = 0;
      gTheta[i] = 0;
    }
  }
  return sum;
}

function klKernelWasm(args: { inputs: tf.NamedTensorInfoMap; backend: unknown }): tf.TensorInfo[] {
  const backend = wasmBackendOf(args.backend);
  const simd = meanFieldWasm(args.backend);
  const theta = args.inputs.theta!;
  const logSigma2 = args.inputs.logSigma2!;
  const mask = args.inputs.mask;
  const value = backend.makeOutput([], 'float32');
  const gTheta = backend.makeOutput(theta.shape, 'float32');
  const gLs = backend.makeOutput(theta.shape, 'float32');
  // Views after every allocation (an allocation may grow the heap and detach older views).
  const heap = (t: tf.TensorInfo) => backend.typedArrayFromHeap(t) as Float32Array;
  const [th, ls, gt, gl] = [heap(theta), heap(logSigma2), heap(gTheta), heap(gLs)];
  const m = mask ? heap(mask) : null;
  const n = th.length;
  const n4 = simd ? n - (n % 4) : 0;
  // SIMD for the first 4k entries, the JS loop for the rest (and everything without SIMD).
  let sum = simd ? simd.kl(th.byteOffset, ls.byteOffset, m ? m.byteOffset : 0, gt.byteOffset, gl.byteOffset, n4) : 0;
  if (n4 < n) sum += sparseVdKlLoop(th.subarray(n4), ls.subarray(n4), gt.subarray(n4), gl.subarray(n4), m ? m.subarray(n4) : null);
  heap(value)[0] = sum;
  return [value, gTheta, gLs];
}

/** Whether the fused kernel runs on the active backend (switch on, kernel registered). */
export function sparseVdKlFused(): boolean {
  return fusedPaths.klKernel && tf.getKernel(SPARSE_VD_KL_KERNEL, tf.getBackend()) !== undefined && meanFieldWasm() !== null;
}

/**
 * Σ sparse-VD KL of (θ, log σ²) over the entries `mask` keeps (0/1, same size; all when
 * absent), differentiable: the fused kernel where registered, else {@link klLogUniformFused}
 * (composed tfjs ops, on the kept entries gathered).
 */
export function sparseVdKl(theta: tf.Tensor, logSigma2: tf.Tensor, mask?: tf.Tensor | null, keptIndices?: tf.Tensor1D | null): tf.Scalar {
  if (!sparseVdKlFused()) {
    if (!mask) return klLogUniformFused(theta, logSigma2);
    const keep = keptIndices ?? null;
    if (!keep) throw new Error('sparseVdKl: the composed path of a masked KL needs the kept indices');
    return tf.tidy(() => klLogUniformFused(tf.gather(tf.reshape(theta, [-1]), keep), tf.gather(tf.reshape(logSigma2, [-1]), keep)));
  }
  if (theta.dtype !== 'float32' || logSigma2.dtype !== 'float32') throw new Error('sparseVdKl: θ and log σ² must be float32');
  if (theta.size !== logSigma2.size || (mask && mask.size !== theta.size)) {
    throw new Error(`sparseVdKl: θ has ${theta.size} entries, log σ² ${logSigma2.size}, mask ${mask?.size ?? 'none'}`);
  }
  const m = mask ?? null;
  const f = tf.customGrad(((th: tf.Tensor, ls: tf.Tensor, save: tf.GradSaveFunc) => {
    const inputs: tf.NamedTensorMap = m ? { theta: th, logSigma2: ls, mask: m } : { theta: th, logSigma2: ls };
    const [value, gTheta, gLs] = tf.engine().runKernel(SPARSE_VD_KL_KERNEL, inputs) as tf.Tensor[];
    save([gTheta!, gLs!]);
    return {
      value: value as tf.Scalar,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [tf.mul(saved[0]!, dy), tf.mul(saved[1]!, dy)],
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(theta, logSigma2) as tf.Scalar;
}

let registered = false;

/** Register the wasm kernel (idempotent; called on import). */
export function registerSparseVdKlKernel(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({ kernelName: SPARSE_VD_KL_KERNEL, backendName: 'wasm', kernelFunc: klKernelWasm as unknown as tf.KernelFunc });
}

registerSparseVdKlKernel();
