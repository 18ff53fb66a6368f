/**
 * The sampled LRT dense forward pass as one differentiable op with a hand-written backward.
 *
 *   y = x·θ + b + √((x∘x)·σ² + 1e-8) ∘ ε
 *
 * Through the tape this is ten recorded ops per layer, each with its own gradient function
 * (broadcast reductions, a recomputed √, transposes, accumulation copies). {@link lrtDenseSample}
 * records one: the forward runs the same kernels in the same order, and the backward computes
 *
 *   dv = (dy∘ε) / (2·√(v + 1e-8)),  dθ = xᵀ·dy,  dσ² = (x∘x)ᵀ·dv,  db = Σ_batch dy,
 *   dx = dy·θᵀ + dv·σ²ᵀ ∘ 2x   (only when the tape needs it: not for a network's input batch),
 *
 * with the same kernels, in the same order, as tfjs's gradients of the composed ops (and
 * src/nn/gradients.ts's matMul gradient), so training through it is bit-identical to the tape
 * (tested). Works on every backend; `fusedPaths.lrtDenseOp` off gives the composed ops.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { matMulAB } from './matmul.js';

/** a·b with the transposes materialized on wasm, as src/nn/gradients.ts does. */
function mm(a: tf.Tensor, b: tf.Tensor, ta: boolean, tb: boolean): tf.Tensor {
  if (tf.getBackend() !== 'wasm') return tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, ta, tb);
  return tf.matMul((ta ? tf.transpose(a) : a) as tf.Tensor2D, (tb ? tf.transpose(b) : b) as tf.Tensor2D);
}

interface CustomOpEngine {
  runKernelFunc(p: {
    forwardFunc: (backend: unknown, save: (t: tf.Tensor[]) => void) => tf.Tensor;
    backwardsFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => Record<string, () => tf.Tensor>;
    inputs: Record<string, tf.Tensor>;
  }): tf.Tensor;
}

/**
 * One LRT draw of a dense layer's pre-activation for the batch x [n, in], with (masked) weights
 * θ and σ² [in, out], bias b [out] and standard normal noise ε [n, out]. Differentiable in x, θ,
 * σ², b. Recorded on the tape as one node whose gradient functions are lazy, so the tape computes
 * only those it needs (no dx for a network's input batch).
 */
export function lrtDenseSample(x: tf.Tensor2D, theta: tf.Tensor2D, sigma2: tf.Tensor2D, b: tf.Tensor1D, eps: tf.Tensor2D): tf.Tensor2D {
  const engine = tf.engine() as unknown as CustomOpEngine;
  return engine.runKernelFunc({
    inputs: { x, theta, sigma2, b, eps },
    forwardFunc: (_backend, save) => {
      const mean = tf.add(matMulAB(x, theta), b);
      const xx = tf.square(x);
      const sum = tf.add(matMulAB(xx, sigma2), 1e-8);
      const value = tf.add(mean, tf.mul(tf.sqrt(sum), eps));
      save([x, xx, theta, sigma2, sum, eps]);
      return value;
    },
    backwardsFunc: (dy, saved) => {
      const [x0, xx0, th0, s20, sum0, eps0] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
      // tfjs's gradients: Mul (dy·ε), Sqrt (dy / (√s·2)); the tape keeps dv until its backward pass ends.
      const dv = tf.div(tf.mul(dy, eps0), tf.mul(tf.sqrt(sum0), 2));
      return {
        x: () => tf.add(mm(dy, th0, false, true), tf.mul(mm(dv, s20, false, true), tf.mul(x0, 2))),
        theta: () => matMulAB(x0, dy as tf.Tensor2D, true),
        sigma2: () => matMulAB(xx0, dv as tf.Tensor2D, true),
        // the bias of an Add: the sum over the broadcast (batch) axis
        b: () => tf.reshape(tf.sum(dy, 0), b.shape),
        eps: () => tf.zerosLike(eps0),
      };
    },
  }) as tf.Tensor2D;
}
