/**
 * Batch normalization (Ioffe & Szegedy 2015) over the last axis: features of a dense
 * layer ([B, C]) or channels of a conv layer (NHWC, [B, H, W, C]).
 *
 * Training (`ForwardOptions.training`): with the batch statistics over every axis but the
 * last (batch and spatial positions, m = B·H·W values per channel)
 *
 *   μ_B = (1/m) Σ x,   σ²_B = (1/m) Σ (x − μ_B)²,   y = γ·(x − μ_B)/√(σ²_B + ε) + β,
 *
 * and the running statistics move with momentum p (PyTorch's convention, p = 0.1; the
 * running variance takes the unbiased batch variance):
 *
 *   μ_run ← (1 − p)·μ_run + p·μ_B,   σ²_run ← (1 − p)·σ²_run + p·σ²_B·m/(m − 1).
 *
 * Evaluation (no `training` flag): y = γ·(x − μ_run)/√(σ²_run + ε) + β.
 *
 * γ and β are trainable point estimates (also in Bayesian networks, like biases); the
 * running statistics are state, not variables (`buffers()`), so optimizers, SWAG and
 * weight decay never touch them.
 *
 * Refresh ({@link beginRefresh} / {@link endRefresh}): while refreshing, a training-mode
 * forward accumulates the batch statistics instead of the momentum update, and at the
 * end the running statistics are their cumulative averages over the batches (PyTorch's
 * `momentum=None`, what SWAG's `bn_update` does for every sampled network; Maddox et
 * al. 2019). With one batch they are exactly that batch's mean and unbiased variance.
 *
 * Network slimming (Liu et al. 2017): {@link penalty} is λ·Σ|γ| (λ = `l1`, 0 = off), added
 * to the training loss by the trainer through `Network.penalty()`; its subgradient is
 * λ·sign(γ) (tfjs takes −λ at γ = 0 exactly, also a subgradient).
 *
 * Compaction: {@link keepChannels} gives a batch norm over a subset of the channels (γ, β
 * and both running statistics cut alike), used when the weight layer before it loses
 * output units (`src/pruning/compaction.ts`).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ForwardOptions, Layer } from './layer.js';
import { newVariable } from './names.js';
import type { Dataset } from '../data/dataset.js';

export interface BatchNormOptions {
  name: string;
  /** Features / channels C (the last axis). */
  channels: number;
  /** Running-statistics momentum p (PyTorch 0.1). */
  momentum?: number;
  /** ε added to the variance (PyTorch 1e-5). */
  epsilon?: number;
  /** L1 penalty λ on γ (network slimming); 0 = none. */
  l1?: number;
}

export class BatchNorm implements Layer {
  readonly kind = 'batchnorm';
  readonly name: string;
  readonly channels: number;
  readonly momentum: number;
  readonly epsilon: number;
  /** L1 penalty λ on γ (network slimming); 0 = none. */
  l1: number;
  readonly gamma: tf.Variable;
  readonly beta: tf.Variable;
  readonly runningMean: tf.Variable;
  readonly runningVar: tf.Variable;
  /** Sums of batch means / unbiased variances while refreshing (null otherwise). */
  private refresh: { mean: tf.Tensor; variance: tf.Tensor; batches: number } | null = null;

  constructor(o: BatchNormOptions) {
    if (!(Number.isInteger(o.channels) && o.channels >= 1)) throw new Error(`batch norm "${o.name}": channels must be a positive integer, got ${o.channels}`);
    this.name = o.name;
    this.channels = o.channels;
    this.momentum = o.momentum ?? 0.1;
    this.epsilon = o.epsilon ?? 1e-5;
    this.l1 = o.l1 ?? 0;
    this.gamma = newVariable(tf.ones([o.channels]), `${o.name}.gamma`);
    this.beta = newVariable(tf.zeros([o.channels]), `${o.name}.beta`);
    this.runningMean = newVariable(tf.zeros([o.channels]), `${o.name}.runningMean`, false);
    this.runningVar = newVariable(tf.ones([o.channels]), `${o.name}.runningVar`, false);
  }

  private check(x: tf.Tensor): void {
    if (x.shape.at(-1) !== this.channels)
      throw new Error(`batch norm "${this.name}": input has ${x.shape.at(-1)} channels (last axis), expected ${this.channels}`);
  }

  forward(x: tf.Tensor, opts: ForwardOptions): tf.Tensor {
    this.check(x);
    if (!opts.training) {
      return tf.tidy(() => tf.add(tf.mul(tf.div(tf.sub(x, this.runningMean), tf.sqrt(tf.add(this.runningVar, this.epsilon))), this.gamma), this.beta));
    }
    const axes = x.shape.slice(0, -1).map((_, i) => i);
    const m = x.size / this.channels;
    return tf.tidy(() => {
      const { mean, variance } = tf.moments(x, axes);
      const y = tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, this.epsilon))), this.gamma), this.beta);
      const unbiased = m > 1 ? tf.mul(variance, m / (m - 1)) : variance;
      if (this.refresh) {
        const r = this.refresh;
        const nm = tf.keep(tf.add(r.mean, mean));
        const nv = tf.keep(tf.add(r.variance, unbiased));
        tf.dispose([r.mean, r.variance]);
        this.refresh = { mean: nm, variance: nv, batches: r.batches + 1 };
      } else {
        const p = this.momentum;
        this.runningMean.assign(tf.add(tf.mul(this.runningMean, 1 - p), tf.mul(mean, p)));
        this.runningVar.assign(tf.add(tf.mul(this.runningVar, 1 - p), tf.mul(unbiased, p)));
      }
      return y;
    });
  }

  /** λ·Σ|γ| (network slimming), or null when λ = 0. */
  penalty(): tf.Scalar | null {
    if (!(this.l1 > 0)) return null;
    return tf.tidy(() => tf.mul(tf.sum(tf.abs(this.gamma)), this.l1) as tf.Scalar);
  }

  /** Start accumulating batch statistics of training-mode passes (see the module doc). */
  beginRefresh(): void {
    this.endRefresh(false);
    this.refresh = { mean: tf.zeros([this.channels]), variance: tf.zeros([this.channels]), batches: 0 };
  }

  /** Stop accumulating; with `apply` (default) the running statistics become the averages (unchanged if no batch was seen). */
  endRefresh(apply = true): void {
    const r = this.refresh;
    if (!r) return;
    this.refresh = null;
    if (apply && r.batches > 0) {
      tf.tidy(() => {
        this.runningMean.assign(tf.div(r.mean, r.batches));
        this.runningVar.assign(tf.div(r.variance, r.batches));
      });
    }
    tf.dispose([r.mean, r.variance]);
  }

  /** Running statistics (state, not trained). */
  buffers(): tf.Variable[] {
    return [this.runningMean, this.runningVar];
  }

  variables(): tf.Variable[] {
    return [this.gamma, this.beta];
  }

  /** The running statistics: state that training changes, saved in checkpoints (see `Layer.stateVariables`). */
  stateVariables(): tf.Variable[] {
    return this.buffers();
  }

  moments(): undefined {
    return undefined;
  }

  setMask(mask: Float32Array | null): void {
    if (mask) throw new Error(`${this.name} (batch norm) has no prunable weight to mask; mask the weight layer before it`);
  }

  getMask(): null {
    return null;
  }

  /** A batch norm over the channels `keep` (in that order): γ, β and running statistics cut alike. */
  keepChannels(keep: Int32Array): BatchNorm {
    for (const c of keep) if (!(c >= 0 && c < this.channels)) throw new Error(`batch norm "${this.name}": channel ${c} out of range [0, ${this.channels})`);
    const out = new BatchNorm({ name: this.name, channels: keep.length, momentum: this.momentum, epsilon: this.epsilon, l1: this.l1 });
    tf.tidy(() => {
      const idx = tf.tensor1d(keep, 'int32');
      for (const [from, to] of [
        [this.gamma, out.gamma],
        [this.beta, out.beta],
        [this.runningMean, out.runningMean],
        [this.runningVar, out.runningVar],
      ] as const)
        to.assign(tf.gather(from, idx));
    });
    return out;
  }

  /**
   * The evaluation-mode map of constant inputs: channel `channels[r]` receiving the constant
   * `values[r]` outputs γ·(v − μ_run)/√(σ²_run + ε) + β (compaction folds removed units with it).
   */
  evalConstant(values: Float32Array, channels: ArrayLike<number>): Float32Array {
    const g = this.gamma.dataSync();
    const b = this.beta.dataSync();
    const mu = this.runningMean.dataSync();
    const v = this.runningVar.dataSync();
    return Float32Array.from(values, (x, r) => {
      const c = channels[r]!;
      return (g[c]! * (x - mu[c]!)) / Math.sqrt(v[c]! + this.epsilon) + b[c]!;
    });
  }

  dispose(): void {
    this.endRefresh(false);
    tf.dispose([this.gamma, this.beta, this.runningMean, this.runningVar]);
  }
}

/** The batch-norm layers of a list of layers. */
export function batchNormLayers(layers: readonly Layer[]): BatchNorm[] {
  return layers.filter((l): l is BatchNorm => l instanceof BatchNorm);
}

/** Options of {@link refreshBatchNorm}. */
export interface RefreshOptions {
  /** Use the first n training examples (0 or undefined = all). */
  examples?: number;
  /** Examples per training-mode pass (each pass contributes one batch mean / variance). */
  batchSize?: number;
}

/**
 * Recompute the running statistics of every batch norm of `net` for the weights it holds
 * now: training-mode passes over the first `examples` examples of `data` (in order), the
 * running statistics becoming the cumulative averages of the batch statistics (SWAG's
 * `bn_update`, Maddox et al. 2019). Layers before a batch norm see the other batch norms
 * normalizing with their batch statistics, as in the reference. Returns the number of
 * batch-norm layers refreshed (0: nothing to do, no pass is run).
 */
export function refreshBatchNorm(
  net: { layers: readonly Layer[]; forward(x: tf.Tensor, o: ForwardOptions): tf.Tensor },
  data: Dataset,
  o: RefreshOptions = {},
): number {
  const bns = batchNormLayers(net.layers);
  if (!bns.length) return 0;
  const n = o.examples && o.examples > 0 ? Math.min(o.examples, data.n) : data.n;
  if (n === 0) throw new Error('batch-norm refresh: no training examples');
  const bs = o.batchSize && o.batchSize > 0 ? o.batchSize : n;
  const d = data.x.length / data.n;
  for (const b of bns) b.beginRefresh();
  try {
    for (let s = 0; s < n; s += bs) {
      const size = Math.min(bs, n - s);
      tf.tidy(() => {
        net.forward(tf.tensor(data.x.subarray(s * d, (s + size) * d), [size, ...data.shape]), { sample: false, training: true });
      });
    }
    for (const b of bns) b.endRefresh(true);
  } finally {
    for (const b of bns) b.endRefresh(false);
  }
  return bns.length;
}
