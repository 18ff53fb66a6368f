/**
 * The posterior contract every inference method produces.
 *
 * Whatever a method keeps inside (variational parameters, gates, SWAG moments,
 * SVGD particles, a diagonal Laplace), it hands the pipeline per-weight moments
 * and a way to draw predictive samples. Scores, masks and calibration use only this.
 * @module
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { WeightMoments } from '../nn/layer.js';
import type { MaskSet, Network } from '../nn/network.js';
import type { RandomStream } from '../random.js';

export interface Posterior {
  /** Inference method that produced it (`vi`, `map`, `swag`, ...). */
  readonly method: string;
  /** The network whose weights the posterior is over (its layer names key masks and moments). */
  readonly network: Network;
  /** Per-weight posterior mean and variance of every prunable weight, with masks applied. */
  moments(): WeightMoments[];
  /**
   * Class probabilities of `samples` posterior draws for the batch `x`: a tensor [S, n, k].
   * `samples = 0` means one deterministic pass with the posterior mean.
   */
  predictSamples(x: tf.Tensor, samples: number, stream: RandomStream): tf.Tensor3D;
  /** Apply (or clear) keep-masks; masked weights are removed from mean and variance alike. */
  setMasks(masks: MaskSet | null): void;
  getMasks(): MaskSet;
  dispose(): void;
}
