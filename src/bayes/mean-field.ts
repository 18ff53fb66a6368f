/**
 * What every factorized-Gaussian layer (dense or conv) computes the same way from its
 * (θ, log σ²) parameters and its mask: the KL of the kept weights, and per-weight moments.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { MaskSlot } from '../nn/mask-slot.js';
import { klTerm, type PriorSpec } from './priors.js';

/** KL(q ‖ prior) summed over the weights the mask keeps (removed weights contribute none). */
export function maskedKl(prior: PriorSpec, theta: tf.Tensor, logSigma2: tf.Tensor, mask: MaskSlot, seed?: number): tf.Scalar {
  const keep = mask.keptIndexTensor();
  if (!keep) return klTerm(prior, theta, logSigma2, seed);
  return tf.tidy(() => klTerm(prior, tf.gather(tf.reshape(theta, [-1]), keep), tf.gather(tf.reshape(logSigma2, [-1]), keep), seed));
}

/** Posterior mean θ and variance exp(log σ²) per weight; removed weights get exactly 0 for both. */
export function meanFieldMoments(theta: tf.Tensor, logSigma2: tf.Tensor, mask: MaskSlot): { mean: Float32Array; variance: Float32Array } {
  const mean = mask.zeroMasked(Float32Array.from(theta.dataSync()));
  const variance = mask.zeroMasked(Float32Array.from(logSigma2.dataSync(), Math.exp));
  return { mean, variance };
}
