/**
 * A weightless layer that keeps a subset of the features on the last axis: the
 * network-input end of a compacted network whose first layer lost input units
 * (e.g. pixels cut by L0 input gates), so the compacted network still takes the
 * original input.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ForwardOptions } from './layer.js';
import { Weightless } from './activations.js';

export class SelectFeatures extends Weightless {
  readonly kind = 'select-features';
  private readonly idx: tf.Tensor1D;

  constructor(
    name: string,
    /** Kept feature indices on the last axis, ascending. */
    readonly indices: Int32Array,
  ) {
    super(name);
    this.idx = tf.tensor1d(indices, 'int32');
  }

  forward(x: tf.Tensor, _opts: ForwardOptions): tf.Tensor {
    return tf.gather(x, this.idx, x.rank - 1);
  }

  override dispose(): void {
    this.idx.dispose();
  }
}
