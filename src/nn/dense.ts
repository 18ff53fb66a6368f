/**
 * Point-estimate dense layer y = x·W + b (the MAP / maximum-likelihood baseline,
 * and the architecture that SWAG, SVGD and Laplace put posteriors on).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ForwardOptions, Layer, WeightMoments } from './layer.js';
import { initBias, initWeight, type Initializer } from './init.js';
import type { RandomStream } from '../random.js';
import { newVariable } from './names.js';
import { MaskedWeightLayer } from './mask-slot.js';

export interface DenseOptions {
  name: string;
  inFeatures: number;
  outFeatures: number;
  init?: Initializer;
  stream: RandomStream;
}

/** Deterministic dense layer; its "posterior" is a point mass (variance 0). */
export class Dense extends MaskedWeightLayer implements Layer {
  readonly kind = 'dense';
  readonly name: string;
  readonly weightShape: number[];
  readonly w: tf.Variable;
  readonly b: tf.Variable;

  constructor(o: DenseOptions) {
    super();
    this.name = o.name;
    this.weightShape = [o.inFeatures, o.outFeatures];
    const init = o.init ?? 'he-normal';
    this.w = newVariable(initWeight(this.weightShape, o.inFeatures, o.outFeatures, init, o.stream), `${o.name}.w`);
    this.b = newVariable(initBias(o.outFeatures, o.inFeatures, init, o.stream), `${o.name}.b`);
  }

  /** The weight with its mask applied. */
  effectiveWeight(): tf.Tensor {
    return this.mask.apply(this.w);
  }

  forward(x: tf.Tensor, _opts: ForwardOptions): tf.Tensor {
    return tf.tidy(() => tf.add(tf.matMul(x as tf.Tensor2D, this.effectiveWeight() as tf.Tensor2D), this.b));
  }

  variables(): tf.Variable[] {
    return [this.w, this.b];
  }

  moments(): WeightMoments {
    return this.pointMoments(this.w.dataSync() as Float32Array, 1);
  }
}
