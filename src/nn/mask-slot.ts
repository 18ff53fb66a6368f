/**
 * The 0/1 keep-mask of one weight tensor, held as data (for moments) and as a tensor
 * (for the forward pass).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';

export class MaskSlot {
  tensor: tf.Tensor | null = null;
  data: Float32Array | null = null;

  /** Set (or clear, with null) the mask of a weight of `shape`. */
  set(mask: Float32Array | null, shape: number[]): void {
    this.tensor?.dispose();
    this.data = mask;
    this.tensor = mask ? tf.tensor(mask, shape) : null;
  }

  /** `t` times the mask (or `t` itself when there is none). */
  apply(t: tf.Tensor): tf.Tensor {
    return this.tensor ? tf.mul(t, this.tensor) : t;
  }

  dispose(): void {
    this.tensor?.dispose();
    this.tensor = null;
  }
}
