/**
 * The posterior of a network whose layers carry their own posterior (mean-field
 * VI layers, gated layers) or none (MAP / maximum likelihood: a point mass).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { WeightMoments } from '../nn/layer.js';
import type { MaskSet, Network } from '../nn/network.js';
import type { RandomStream } from '../random.js';
import type { Posterior } from './posterior.js';

export class NetworkPosterior implements Posterior {
  constructor(
    readonly method: string,
    readonly network: Network,
  ) {}

  moments(): WeightMoments[] {
    return this.network.moments();
  }

  /**
   * S sampled forward passes (LRT sampling of every Bayesian layer, one noise draw per
   * example, which is an exact draw from each example's predictive), softmaxed.
   * A point-estimate network, or `samples = 0`, gives one deterministic pass.
   */
  predictSamples(x: tf.Tensor, samples: number, stream: RandomStream): tf.Tensor3D {
    return tf.tidy(() => {
      if (samples <= 0 || !this.network.isBayesian) return tf.expandDims(tf.softmax(this.network.forward(x, { sample: false })), 0) as tf.Tensor3D;
      const out: tf.Tensor[] = [];
      for (let s = 0; s < samples; s++) out.push(tf.softmax(this.network.forward(x, { sample: true, stream })));
      return tf.stack(out) as tf.Tensor3D;
    });
  }

  setMasks(masks: MaskSet | null): void {
    this.network.setMasks(masks);
  }

  getMasks(): MaskSet {
    return this.network.getMasks();
  }

  dispose(): void {
    this.network.dispose();
  }
}
