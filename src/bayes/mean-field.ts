/**
 * What every factorized-Gaussian layer (dense or conv) computes the same way from its
 * (θ, log σ²) parameters and its mask: the KL of the kept weights, per-weight moments,
 * log α, and the local-reparameterization sample of a pre-activation.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { WeightMoments } from '../nn/layer.js';
import { MaskedWeightLayer, type MaskSlot } from '../nn/mask-slot.js';
import type { RandomStream } from '../random.js';
import { lrtNoise } from '../nn/fused/lrt-noise.js';
import { sparseVdKl, sparseVdKlFused } from '../nn/fused/sparse-vd-kl.js';
import { klTerm, logAlpha, type PriorSpec } from './priors.js';
import { divergenceTerm, KL_DIVERGENCE, type DivergenceSpec } from './js-divergence.js';

/**
 * KL(q ‖ prior) summed over the weights the mask keeps (removed weights contribute none);
 * with `divergence` js-geometric, the skew geometric JS divergence instead (js-divergence.ts).
 */
export function maskedKl(
  prior: PriorSpec,
  theta: tf.Tensor,
  logSigma2: tf.Tensor,
  mask: MaskSlot,
  seed?: number,
  divergence: DivergenceSpec = KL_DIVERGENCE,
): tf.Scalar {
  const term = divergence.type === 'kl' ? klTerm : (p: PriorSpec, m: tf.Tensor, l: tf.Tensor, s?: number) => divergenceTerm(divergence, p, m, l, s);
  // The sparse-VD KL runs as one fused kernel where the backend has it (src/nn/fused/sparse-vd-kl.ts).
  if (divergence.type === 'kl' && prior.type === 'log-uniform' && sparseVdKlFused()) return sparseVdKl(theta, logSigma2, mask.tensor);
  const keep = mask.keptIndexTensor();
  if (!keep) return term(prior, theta, logSigma2, seed);
  return tf.tidy(() => term(prior, tf.gather(tf.reshape(theta, [-1]), keep), tf.gather(tf.reshape(logSigma2, [-1]), keep), seed));
}

/** Posterior mean θ and variance exp(log σ²) per weight; removed weights get exactly 0 for both. */
export function meanFieldMoments(theta: tf.Tensor, logSigma2: tf.Tensor, mask: MaskSlot): { mean: Float32Array; variance: Float32Array } {
  const mean = mask.zeroMasked(Float32Array.from(theta.dataSync()));
  const variance = mask.zeroMasked(Float32Array.from(logSigma2.dataSync(), Math.exp));
  return { mean, variance };
}

/** Variance floor added inside the square root, so the gradient of sqrt stays finite. */
const VAR_EPS = 1e-8;

/** The standard deviation of an LRT pre-activation, √(variance + 1e-8). */
export function lrtStd(variance: tf.Tensor): tf.Tensor {
  return tf.sqrt(tf.add(variance, VAR_EPS));
}

/**
 * Base of the layers whose weights have a factorized Gaussian posterior N(θ, σ²) in the
 * additive (θ, log σ²) parameterization, with a point-estimate bias. Subclasses set the
 * variables and say how many multiply-adds each weight costs.
 */
export abstract class MeanFieldLayer extends MaskedWeightLayer {
  abstract readonly prior: PriorSpec;
  abstract readonly theta: tf.Variable;
  abstract readonly logSigma2: tf.Variable;
  abstract readonly b: tf.Variable;
  abstract readonly macsPerWeight: number;
  /** The regularizer `kl()` computes: the KL (default) or the geometric JS divergence (`inference.divergence`). */
  divergence: DivergenceSpec = KL_DIVERGENCE;

  /** KL (or the configured divergence) of the kept weights (pruned weights are removed from the model and contribute none). */
  kl(opts?: { stream?: RandomStream }): tf.Scalar {
    const seed = this.prior.type === 'scale-mixture' ? opts?.stream?.nextSeed() : undefined;
    return maskedKl(this.prior, this.theta, this.logSigma2, this.mask, seed, this.divergence);
  }

  /** log α per weight (clipped to ±8), the sparse-VD dropout-rate parameter. */
  logAlpha(): tf.Tensor {
    return logAlpha(this.theta, this.logSigma2);
  }

  variables(): tf.Variable[] {
    return [this.theta, this.logSigma2, this.b];
  }

  moments(): WeightMoments {
    const { mean, variance } = meanFieldMoments(this.theta, this.logSigma2, this.mask);
    return { name: `${this.name}.weight`, layer: this.name, shape: this.weightShape, mean, variance, macsPerWeight: this.macsPerWeight };
  }

  /** One local-reparameterization draw mean + √variance·ε, ε ~ N(0, 1) per entry. */
  protected lrtSample(mean: tf.Tensor, variance: tf.Tensor, stream: RandomStream | undefined): tf.Tensor {
    return this.lrtDraw(mean, lrtStd(variance), stream);
  }

  /** One LRT draw mean + std·ε from a precomputed std = √(variance + 1e-8) (see {@link lrtStd}). */
  lrtDraw(mean: tf.Tensor, std: tf.Tensor, stream: RandomStream | undefined): tf.Tensor {
    if (!stream) throw new Error(`${this.name}: a sampled forward pass needs a random stream`);
    // On wasm drawn by the backend's SIMD generator; elsewhere tfjs's sequence for the seed (src/nn/fused/lrt-noise.ts).
    const eps = lrtNoise(mean.shape, stream.nextSeed());
    return tf.add(mean, tf.mul(std, eps));
  }
}
