/**
 * A posterior over the parameters of a point-estimate network (Dense layers) that
 * predicts by drawing whole weight samples: SWAG and diagonal Laplace.
 *
 * The network's variables hold the posterior mean (SWA mean, MAP). `predictSamples`
 * draws S parameter vectors, assigns each into the variables, runs the forward pass
 * and restores the mean afterwards (also when the forward pass throws). Masks live in
 * the layers (`Dense.effectiveWeight` = w∘m), so a sample of a pruned weight is
 * multiplied by 0: pruned weights are removed from the mean and the variance alike.
 *
 * Batch norm hook: SWAG (Maddox et al. 2019) refreshes batch-norm running statistics
 * after assigning each sample (training-mode passes over training data). `afterSample`
 * is a no-op by default; SWAG on a batch-norm network (`bn-cnn`) passes a callback that
 * recomputes the statistics for the weights currently assigned (`bnRefreshHooks` in swag.ts).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { Dense } from '../nn/dense.js';
import { Conv2d } from '../nn/conv2d.js';
import type { WeightMoments } from '../nn/layer.js';
import type { MaskSet, Network } from '../nn/network.js';
import type { RandomStream } from '../random.js';
import type { Posterior } from './posterior.js';

export interface WeightSamplingHooks {
  /** Called after each sample is assigned, before its forward pass (batch-norm refresh). */
  afterSample?: (net: Network) => void;
}

/** The weight layers of a point-estimate network for weight-sampling posteriors: Dense or Conv2d (SWAG). */
export function pointLayersOf(net: Network): (Dense | Conv2d)[] {
  return net.weightLayers().map((l) => {
    if (!(l instanceof Dense) && !(l instanceof Conv2d)) throw new Error(`layer "${l.name}" is ${l.kind}; SWAG and Laplace work on point-estimate networks`);
    return l;
  });
}

/** The Dense layers of a point-estimate network (every weight layer must be one). */
export function denseLayersOf(net: Network): Dense[] {
  return net.weightLayers().map((l) => {
    if (!(l instanceof Dense)) throw new Error(`layer "${l.name}" is ${l.kind}; SWAG, SVGD and Laplace work on point-estimate dense networks`);
    return l;
  });
}

export abstract class WeightSamplingPosterior implements Posterior {
  /** All trainable variables, in `network.variables()` order (weights and biases). */
  protected readonly params: tf.Variable[];
  /** Copies of the posterior mean, one per variable. */
  protected readonly meanValues: tf.Tensor[];
  protected readonly dense: (Dense | Conv2d)[];

  constructor(
    readonly method: string,
    readonly network: Network,
    mean: tf.Tensor[],
    protected readonly hooks: WeightSamplingHooks = {},
  ) {
    this.dense = pointLayersOf(network);
    this.params = network.variables();
    if (mean.length !== this.params.length) throw new Error(`${method}: ${mean.length} mean tensors for ${this.params.length} variables`);
    this.meanValues = mean.map((m) => tf.keep(tf.clone(m)));
    this.params.forEach((p, i) => p.assign(this.meanValues[i]!));
  }

  /** Whether draws differ from the mean (false for SWA: scale 0). */
  protected abstract get stochastic(): boolean;

  /** One draw of every variable (tensors shaped like `params`), created inside a tidy. */
  protected abstract drawSample(stream: RandomStream): tf.Tensor[];

  /** Unmasked per-weight variance of the i-th dense layer's weight (row-major). */
  protected abstract weightVariance(layerIndex: number): Float32Array;

  /** Index in `params` of a variable. */
  protected paramIndex(v: tf.Variable): number {
    const i = this.params.indexOf(v);
    if (i < 0) throw new Error(`variable ${v.name} is not a parameter of the network`);
    return i;
  }

  moments(): WeightMoments[] {
    return this.dense.map((l, i) => {
      const m = l.moments();
      const variance = this.weightVariance(i).slice();
      const mask = l.getMask();
      if (mask) for (let j = 0; j < variance.length; j++) variance[j]! *= mask[j]!;
      return { ...m, variance };
    });
  }

  /**
   * [S, n, k] class probabilities of S weight draws (Bayesian model averaging is the
   * mean over the first axis). `samples = 0`, or a posterior without spread, gives one
   * deterministic pass with the mean.
   */
  predictSamples(x: tf.Tensor, samples: number, stream: RandomStream): tf.Tensor3D {
    if (samples <= 0 || !this.stochastic) return tf.tidy(() => tf.expandDims(tf.softmax(this.network.forward(x, { sample: false })), 0) as tf.Tensor3D);
    try {
      return tf.tidy(() => {
        const out: tf.Tensor[] = [];
        for (let s = 0; s < samples; s++) {
          const draw = this.drawSample(stream);
          this.params.forEach((p, i) => p.assign(draw[i]!));
          tf.dispose(draw);
          this.hooks.afterSample?.(this.network);
          out.push(tf.softmax(this.network.forward(x, { sample: false })));
        }
        return tf.stack(out) as tf.Tensor3D;
      });
    } finally {
      this.restoreMean();
    }
  }

  /** Put the posterior mean back into the network's variables. */
  protected restoreMean(): void {
    this.params.forEach((p, i) => p.assign(this.meanValues[i]!));
    this.hooks.afterSample?.(this.network);
  }

  setMasks(masks: MaskSet | null): void {
    this.network.setMasks(masks);
  }

  getMasks(): MaskSet {
    return this.network.getMasks();
  }

  dispose(): void {
    tf.dispose(this.meanValues);
    this.network.dispose();
  }
}
