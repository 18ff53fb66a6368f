/**
 * Mean-field Gaussian 2-D convolution trained with the local reparameterization trick.
 *
 * Posterior: every kernel weight w ~ N(θ, σ²), parameterized additively by (θ, log σ²)
 * as in sparse variational dropout (Molchanov, Ashukha & Vetrov 2017). The
 * pre-activation at every output position is a sum of independent Gaussians, so
 * (Kingma, Salimans & Welling 2015; Molchanov et al. 2017 for conv layers)
 *
 *   b ~ N(conv(a, θ) + bias, conv(a∘a, σ²)),
 *
 * sampled with one N(0, 1) draw per example, position and channel: a mean
 * convolution and a variance convolution replace the weight sample.
 * (The noise of neighbouring positions is treated as independent, which is the
 * standard LRT approximation for convolutions: it matches every marginal exactly.)
 *
 * `macsPerWeight` is the number of output positions H_out·W_out, fixed by the
 * input size given to the constructor. KL against any prior of `priors.ts`.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ForwardOptions, Layer } from '../nn/layer.js';
import { conv, convOutputSize, geometryOf, initKernel, type ConvGeometry, type ConvOptions } from '../nn/conv2d.js';
import { newVariable } from '../nn/names.js';
import { RandomStream } from '../random.js';
import { weightStructure, type UnitStructure } from '../nn/structure.js';
import type { PriorSpec } from './priors.js';
import { expOp } from '../nn/fused/exp.js';
import { MeanFieldLayer } from './mean-field.js';

export interface LrtConv2dOptions extends ConvOptions {
  prior: PriorSpec;
  /** Initial log σ² of every kernel weight (Molchanov et al.: −10). */
  initLogSigma2?: number;
}

/** A conv layer with a factorized Gaussian posterior over its kernel and LRT sampling. */
export class LrtConv2d extends MeanFieldLayer implements Layer {
  readonly kind = 'lrt-conv2d';
  readonly name: string;
  readonly geometry: ConvGeometry;
  readonly weightShape: number[];
  readonly macsPerWeight: number;
  readonly prior: PriorSpec;
  readonly theta: tf.Variable;
  readonly logSigma2: tf.Variable;
  readonly b: tf.Variable;

  constructor(o: LrtConv2dOptions) {
    super();
    this.name = o.name;
    this.prior = o.prior;
    this.geometry = geometryOf(o);
    const [oh, ow] = convOutputSize(o.inH, o.inW, o.k, this.geometry.stride);
    this.macsPerWeight = oh * ow;
    this.weightShape = [o.k, o.k, o.cin, o.cout];
    this.theta = newVariable(initKernel(this.geometry, o.init ?? 'he-normal', o.stream), `${o.name}.theta`);
    this.logSigma2 = newVariable(tf.fill(this.weightShape, o.initLogSigma2 ?? -10), `${o.name}.logSigma2`);
    this.b = newVariable(tf.zeros([o.cout]), `${o.name}.b`);
  }

  /** The analytic mean and variance of the pre-activation for input x (masks applied). */
  preActivationMoments(x: tf.Tensor): { mean: tf.Tensor4D; variance: tf.Tensor4D } {
    return tf.tidy(() => {
      const s = this.geometry.stride;
      const theta = this.mask.apply(this.theta);
      const sigma2 = this.mask.apply(expOp(this.logSigma2));
      return { mean: tf.add(conv(x, theta, s), this.b) as tf.Tensor4D, variance: conv(tf.square(x), sigma2, s) };
    });
  }

  forward(x: tf.Tensor, opts: ForwardOptions): tf.Tensor {
    return tf.tidy(() => {
      const s = this.geometry.stride;
      const mean = tf.add(conv(x, this.mask.apply(this.theta), s), this.b);
      if (!opts.sample) return mean;
      return this.lrtSample(mean, conv(tf.square(x), this.mask.apply(expOp(this.logSigma2)), s), opts.stream);
    });
  }

  structure(): UnitStructure {
    const g = this.geometry;
    return weightStructure(this.weightShape, this.b, {
      parameterAxes: () => [
        { variable: this.theta, inAxis: 2, outAxis: 3 },
        { variable: this.logSigma2, inAxis: 2, outAxis: 3 },
        { variable: this.b, outAxis: 0 },
      ],
      deterministicWeight: () => tf.tidy(() => (this.mask.tensor ? this.mask.apply(this.theta) : this.theta.clone()).dataSync() as Float32Array),
      resized: (i, o) =>
        new LrtConv2d({
          name: this.name,
          inH: g.inH,
          inW: g.inW,
          cin: i,
          cout: o,
          k: g.k,
          stride: g.stride,
          prior: this.prior,
          stream: new RandomStream(`resize/${this.name}`),
        }),
    });
  }
}
