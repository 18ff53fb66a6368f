/**
 * Priors over weights and the KL terms of a factorized Gaussian posterior
 * q(w) = Π N(μ, σ²) against them.
 *
 * All functions return the KL summed over every weight of the tensors given.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';

/** Prior specifications accepted in configs (`inference.prior`). */
export type PriorSpec = { type: 'log-uniform' } | { type: 'gaussian'; sigma: number } | { type: 'scale-mixture'; pi: number; sigma1: number; sigma2: number };

export const PRIOR_TYPES = ['log-uniform', 'gaussian', 'scale-mixture'] as const;

/** Constants of the sparse-VD KL approximation (Molchanov, Ashukha & Vetrov 2017, eq. 14). */
export const SPARSE_VD_K = { k1: 0.63576, k2: 1.8732, k3: 1.48695 } as const;

/** log α is clipped to this range inside the KL and for thresholds, as in the reference code. */
export const LOG_ALPHA_CLIP = 8;

/**
 * log α = log σ² − log μ² (clipped to ±{@link LOG_ALPHA_CLIP}); Molchanov et al. 2017, additive parameterization.
 * A small 1e-8 keeps μ = 0 finite.
 */
export function logAlpha(mu: tf.Tensor, logSigma2: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.clipByValue(tf.sub(logSigma2, tf.log(tf.add(tf.square(mu), 1e-8))), -LOG_ALPHA_CLIP, LOG_ALPHA_CLIP));
}

/**
 * KL(q ‖ log-uniform) per weight, approximated (Molchanov et al. 2017, eq. 14):
 *
 *   KL ≈ k1 − k1·σ(k2 + k3·log α) + ½·log1p(exp(−log α)),
 *   k1 = 0.63576, k2 = 1.87320, k3 = 1.48695.
 *
 * The log-uniform prior is improper; this is −(negative KL up to the constant −k1), which is ≥ 0 and → 0 as α → ∞.
 */
export function klLogUniform(logAlphaT: tf.Tensor): tf.Scalar {
  const { k1, k2, k3 } = SPARSE_VD_K;
  return tf.tidy(() => {
    const a = tf.mul(tf.sigmoid(tf.add(tf.mul(logAlphaT, k3), k2)), -k1);
    const b = tf.mul(tf.softplus(tf.neg(logAlphaT)), 0.5); // ½·log1p(exp(−log α))
    return tf.add(tf.sum(tf.add(a, b)), k1 * logAlphaT.size) as tf.Scalar;
  });
}

/**
 * KL(N(μ, σ²) ‖ N(0, s²)) per weight, closed form:
 *
 *   log(s/σ) + (σ² + μ²)/(2s²) − ½.
 */
export function klGaussian(mu: tf.Tensor, logSigma2: tf.Tensor, s: number): tf.Scalar {
  return tf.tidy(() => {
    const t = tf.add(tf.mul(logSigma2, -0.5), tf.div(tf.add(tf.exp(logSigma2), tf.square(mu)), 2 * s * s));
    return tf.add(tf.sum(t), (Math.log(s) - 0.5) * mu.size) as tf.Scalar;
  });
}

/** log N(w; 0, s²) elementwise. */
function logNormal0(w: tf.Tensor, s: number): tf.Tensor {
  return tf.sub(tf.div(tf.square(w), -2 * s * s), Math.log(s) + 0.5 * Math.log(2 * Math.PI));
}

/**
 * Log density of the two-component scale mixture π·N(0, s1²) + (1 − π)·N(0, s2²)
 * (Blundell et al. 2015), computed stably by log-sum-exp.
 */
export function logScaleMixture(w: tf.Tensor, pi: number, s1: number, s2: number): tf.Tensor {
  return tf.tidy(() => {
    const a = tf.add(logNormal0(w, s1), Math.log(pi));
    const b = tf.add(logNormal0(w, s2), Math.log(1 - pi));
    const m = tf.maximum(a, b);
    return tf.add(m, tf.log(tf.add(tf.exp(tf.sub(a, m)), tf.exp(tf.sub(b, m)))));
  });
}

/**
 * Single-sample Monte Carlo estimate of KL(q ‖ scale mixture) (Blundell et al. 2015, eq. 2):
 *
 *   KL ≈ Σ log q(w̃) − log p(w̃),  w̃ = μ + σ·ε,  ε ~ N(0, 1).
 *
 * log q(w̃) = −½ log 2π − log σ − ε²/2 exactly, which lowers the variance of the estimate.
 * Unbiased; its gradient is the reparameterization gradient. The noise is per weight, so
 * it costs one normal draw per weight each step.
 */
export function klScaleMixtureMC(mu: tf.Tensor, logSigma2: tf.Tensor, pi: number, s1: number, s2: number, seed: number): tf.Scalar {
  return tf.tidy(() => {
    const eps = tf.randomNormal(mu.shape, 0, 1, 'float32', seed);
    const sigma = tf.exp(tf.mul(logSigma2, 0.5));
    const w = tf.add(mu, tf.mul(sigma, eps));
    const logq = tf.sub(tf.mul(logSigma2, -0.5), tf.add(tf.mul(tf.square(eps), 0.5), 0.5 * Math.log(2 * Math.PI)));
    return tf.sum(tf.sub(logq, logScaleMixture(w, pi, s1, s2))) as tf.Scalar;
  });
}

/**
 * The sparse-VD KL of (θ, log σ²) with its gradient written out, for speed: autodiff
 * through the approximation costs about twice as many elementwise kernels, and on the
 * wasm backend transcendental kernels (log, exp, softplus) dominate a training step.
 *
 * With la = clip(log σ² − log(θ² + 1e-8), −8, 8), s = σ(k2 + k3·la), q = σ(la):
 *
 *   KL = Σ k1 − k1·s − ½·log q            (½·log1p(exp(−la)) = −½·log σ(la))
 *   ∂KL/∂la = −k1·k3·s(1 − s) − ½(1 − q)
 *   ∂la/∂log σ² = 1,  ∂la/∂θ = −2θ / (θ² + 1e-8)   (both 0 where the clip is active)
 *
 * Equal to `klLogUniform(logAlpha(θ, log σ²))` in value and gradient (tested).
 */
export function klLogUniformFused(theta: tf.Tensor, logSigma2: tf.Tensor): tf.Scalar {
  const { k1, k2, k3 } = SPARSE_VD_K;
  const f = tf.customGrad(((th: tf.Tensor, ls: tf.Tensor, save: tf.GradSaveFunc) => {
    const t = tf.add(tf.square(th), 1e-8);
    const raw = tf.sub(ls, tf.log(t));
    const la = tf.clipByValue(raw, -LOG_ALPHA_CLIP, LOG_ALPHA_CLIP);
    const s = tf.sigmoid(tf.add(tf.mul(la, k3), k2));
    const q = tf.sigmoid(la);
    const value = tf.add(tf.mul(tf.sum(tf.add(tf.mul(s, k1), tf.mul(tf.log(q), 0.5))), -1), k1 * th.size) as tf.Scalar;
    save([th, t, raw, s, q]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [th0, t0, raw0, s0, q0] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        const inRange = tf.cast(tf.lessEqual(tf.abs(raw0), LOG_ALPHA_CLIP), 'float32');
        // g = dy · inRange · (−k1·k3·s(1−s) − ½(1−q))
        const g = tf.mul(tf.mul(inRange, dy), tf.sub(tf.mul(tf.mul(s0, tf.sub(1, s0)), -k1 * k3), tf.mul(tf.sub(1, q0), 0.5)));
        return [tf.mul(g, tf.div(tf.mul(th0, -2), t0)), g];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(theta, logSigma2) as tf.Scalar;
}

/** KL of a factorized Gaussian posterior (μ, log σ²) to `prior`, summed. `seed` is needed for Monte Carlo priors. */
export function klTerm(prior: PriorSpec, mu: tf.Tensor, logSigma2: tf.Tensor, seed?: number): tf.Scalar {
  switch (prior.type) {
    case 'log-uniform':
      return klLogUniformFused(mu, logSigma2);
    case 'gaussian':
      return klGaussian(mu, logSigma2, prior.sigma);
    case 'scale-mixture':
      if (seed === undefined) throw new Error('scale-mixture KL is a Monte Carlo estimate: a seed is required');
      return klScaleMixtureMC(mu, logSigma2, prior.pi, prior.sigma1, prior.sigma2, seed);
  }
}
