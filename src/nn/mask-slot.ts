/**
 * The 0/1 keep-mask of one weight tensor, held as data (for moments), as a tensor
 * (for the forward pass) and, for layers whose KL must skip removed weights, as the
 * flat indices of the kept entries.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { WeightMoments } from './layer.js';

/** Flat indices of the kept (non-zero) mask entries. */
export function keptIndices(mask: Float32Array): Int32Array {
  let n = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i] !== 0) n++;
  const out = new Int32Array(n);
  for (let i = 0, j = 0; i < mask.length; i++) if (mask[i] !== 0) out[j++] = i;
  return out;
}

export class MaskSlot {
  tensor: tf.Tensor | null = null;
  data: Float32Array | null = null;
  private keepIdx: tf.Tensor1D | null = null;

  /** Set (or clear, with null) the mask of a weight of `shape`. */
  set(mask: Float32Array | null, shape: number[]): void {
    this.dispose();
    this.data = mask;
    this.tensor = mask ? tf.tensor(mask, shape) : null;
  }

  /** `t` times the mask (or `t` itself when there is none). */
  apply(t: tf.Tensor): tf.Tensor {
    return this.tensor ? tf.mul(t, this.tensor) : t;
  }

  /** Flat indices of the kept weights as an int32 tensor (null when unmasked); built once per mask. */
  keptIndexTensor(): tf.Tensor1D | null {
    // Kept: this may first be called inside a tidy scope (a loss function), and the tensor outlives it.
    if (this.data && !this.keepIdx) this.keepIdx = tf.keep(tf.tensor1d(keptIndices(this.data), 'int32'));
    return this.keepIdx;
  }

  /** Set the entries of `values` that the mask removes to exactly 0 (in place); returns `values`. */
  zeroMasked(values: Float32Array): Float32Array {
    const m = this.data;
    if (m) for (let i = 0; i < values.length; i++) if (m[i] === 0) values[i] = 0;
    return values;
  }

  dispose(): void {
    this.tensor?.dispose();
    this.tensor = null;
    this.keepIdx?.dispose();
    this.keepIdx = null;
  }
}

/**
 * What every layer with a prunable weight shares: its {@link MaskSlot}, `setMask` /
 * `getMask` through it, and `dispose` of its variables and mask.
 */
export abstract class MaskedWeightLayer {
  abstract readonly name: string;
  abstract readonly weightShape: number[];
  protected readonly mask = new MaskSlot();

  /** The moments of a point estimate: the weights `w` (a copy, masked entries 0) with zero variance. */
  protected pointMoments(w: ArrayLike<number>, macsPerWeight: number): WeightMoments {
    const mean = this.mask.zeroMasked(Float32Array.from(w));
    return { name: `${this.name}.weight`, layer: this.name, shape: this.weightShape, mean, variance: new Float32Array(mean.length), macsPerWeight };
  }

  abstract variables(): tf.Variable[];

  setMask(mask: Float32Array | null): void {
    this.mask.set(mask, this.weightShape);
  }

  getMask(): Float32Array | null {
    return this.mask.data;
  }

  dispose(): void {
    for (const v of this.variables()) v.dispose();
    this.mask.dispose();
  }
}
