/**
 * Mean-field Gaussian dense layer trained with the local reparameterization trick.
 *
 * Posterior: w_ij ~ N(θ_ij, σ_ij²), parameterized additively by (θ, log σ²) as in
 * sparse variational dropout (Molchanov, Ashukha & Vetrov 2017), so that
 * log α = log σ² − log θ² is free of the multiplicative-noise variance problem.
 *
 * Local reparameterization (Kingma, Salimans & Welling 2015): for an input batch a,
 * the pre-activation of each example is Gaussian,
 *
 *   b ~ N(a·θ + bias, (a∘a)·σ²),
 *
 * so the layer samples b with one N(0,1) draw per example and unit instead of
 * sampling the weights. Gradient variance then falls as 1/batch.
 * The bias is a point estimate.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ForwardOptions, Layer } from '../nn/layer.js';
import { initWeight, type Initializer } from '../nn/init.js';
import type { RandomStream } from '../random.js';
import { newVariable } from '../nn/names.js';
import type { PriorSpec } from './priors.js';
import { MeanFieldLayer } from './mean-field.js';

export interface LrtDenseOptions {
  name: string;
  inFeatures: number;
  outFeatures: number;
  prior: PriorSpec;
  /** Initial log σ² for every weight (Molchanov et al. use −10). */
  initLogSigma2?: number;
  init?: Initializer;
  stream: RandomStream;
}

/** A dense layer with a factorized Gaussian posterior and LRT sampling. */
export class LrtDense extends MeanFieldLayer implements Layer {
  readonly kind = 'lrt-dense';
  readonly name: string;
  readonly weightShape: number[];
  readonly macsPerWeight = 1;
  readonly prior: PriorSpec;
  readonly theta: tf.Variable;
  readonly logSigma2: tf.Variable;
  readonly b: tf.Variable;

  constructor(o: LrtDenseOptions) {
    super();
    this.name = o.name;
    this.prior = o.prior;
    this.weightShape = [o.inFeatures, o.outFeatures];
    this.theta = newVariable(initWeight(this.weightShape, o.inFeatures, o.outFeatures, o.init ?? 'he-normal', o.stream), `${o.name}.theta`);
    this.logSigma2 = newVariable(tf.fill(this.weightShape, o.initLogSigma2 ?? -10), `${o.name}.logSigma2`);
    this.b = newVariable(tf.zeros([o.outFeatures]), `${o.name}.b`);
  }

  forward(x: tf.Tensor, opts: ForwardOptions): tf.Tensor {
    return tf.tidy(() => {
      const x2 = x as tf.Tensor2D;
      const theta = this.mask.apply(this.theta) as tf.Tensor2D;
      const mean = tf.add(tf.matMul(x2, theta), this.b);
      if (!opts.sample) return mean;
      const sigma2 = this.mask.apply(tf.exp(this.logSigma2)) as tf.Tensor2D;
      return this.lrtSample(mean, tf.matMul(tf.square(x2), sigma2), opts.stream);
    });
  }
}
