/**
 * A weightless layer that keeps a subset of the features on the last axis: the
 * network-input end of a compacted network whose first layer lost input units
 * (e.g. pixels cut by L0 input gates), so the compacted network still takes the
 * original input.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ForwardOptions, Layer } from './layer.js';

export class SelectFeatures implements Layer {
  readonly kind = 'select-features';
  private readonly idx: tf.Tensor1D;

  constructor(
    readonly name: string,
    /** Kept feature indices on the last axis, ascending. */
    readonly indices: Int32Array,
  ) {
    this.idx = tf.tensor1d(indices, 'int32');
  }

  forward(x: tf.Tensor, _opts: ForwardOptions): tf.Tensor {
    return tf.gather(x, this.idx, x.rank - 1);
  }

  variables(): tf.Variable[] {
    return [];
  }

  moments(): undefined {
    return undefined;
  }

  setMask(mask: Float32Array | null): void {
    if (mask) throw new Error(`${this.name} has no weights to mask`);
  }

  getMask(): null {
    return null;
  }

  dispose(): void {
    this.idx.dispose();
  }
}
