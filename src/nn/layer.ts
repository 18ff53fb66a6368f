/**
 * The layer contract shared by point-estimate and Bayesian layers.
 *
 * Every layer owns at most one prunable weight tensor and reports its posterior
 * moments ({@link WeightMoments}), the central contract of the framework: scores,
 * masks and calibration never ask which method produced them.
 * @module
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { RandomStream } from '../random.js';

/** How a forward pass treats the weights. */
export interface ForwardOptions {
  /**
   * `true`: draw from the posterior (LRT noise for mean-field layers, gate noise for gates).
   * `false`: deterministic pass with posterior means (the "mean" network).
   */
  sample: boolean;
  /** Stream that supplies a fresh seed to every random op (required when `sample` is true). */
  stream?: RandomStream;
  /** Training-mode flag for layers that behave differently while training (gates, batch norm). */
  training?: boolean;
}

/** Per-weight posterior moments of one prunable weight tensor. */
export interface WeightMoments {
  /** Unique name, `<layer>.weight`. */
  name: string;
  /** Layer name. */
  layer: string;
  /** Weight tensor shape, e.g. [in, out] for dense, [kh, kw, cin, cout] for conv. */
  shape: number[];
  /** Posterior mean E[w] (row-major, length = product of shape). */
  mean: Float32Array;
  /** Posterior variance Var[w]. */
  variance: Float32Array;
  /** Inclusion probability P(w ≠ 0) where the layer has gates. */
  inclusion?: Float32Array;
  /** Multiply-adds one kept weight costs per example (1 for dense; output positions for conv). */
  macsPerWeight: number;
}

/** A layer of a feed-forward network. */
export interface Layer {
  readonly name: string;
  /** Registry name of the layer type, e.g. `dense`, `lrt-dense`. */
  readonly kind: string;
  /** Shape of the prunable weight, or undefined for layers without weights. */
  readonly weightShape?: number[];
  /** Multiply-adds per kept weight per example (1 for dense, output positions for conv). */
  readonly macsPerWeight?: number;
  forward(x: tf.Tensor, opts: ForwardOptions): tf.Tensor;
  /** KL(q ‖ p) of this layer's posterior to its prior; absent for point estimates. */
  kl?(opts?: { stream?: RandomStream }): tf.Scalar;
  /** A regularizer added to the per-example training loss (e.g. network slimming's λ·Σ|γ|), or null when off. */
  penalty?(): tf.Scalar | null;
  /** Trainable variables. */
  variables(): tf.Variable[];
  /**
   * Non-trainable state that training changes (batch norm's running statistics), saved in
   * checkpoints beside {@link variables} so a resumed run is bit-identical; absent = none.
   */
  stateVariables?(): tf.Variable[];
  /** Per-weight posterior moments of the prunable weight (undefined when there is none). */
  moments(): WeightMoments | undefined;
  /** Set (or clear, with null) the 0/1 keep-mask on the prunable weight; it multiplies mean and variance. */
  setMask(mask: Float32Array | null): void;
  /** The current mask, or null. */
  getMask(): Float32Array | null;
  dispose(): void;
}
