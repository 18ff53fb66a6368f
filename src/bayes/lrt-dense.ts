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
import { expOp } from '../nn/fused/exp.js';
import { lrtDenseSample } from '../nn/fused/lrt-dense-op.js';
import { lrtNoise } from '../nn/fused/lrt-noise.js';
import { fusedPaths } from '../nn/fused/settings.js';

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
      if (!opts.sample) return this.preActivationMean(x);
      if (fusedPaths.lrtDenseOp && x.rank === 2) {
        // One recorded op with a hand-written backward, bit-identical to the composed ops below (src/nn/fused/lrt-dense-op.ts).
        if (!opts.stream) throw new Error(`${this.name}: a sampled forward pass needs a random stream`);
        const theta = this.mask.apply(this.theta) as tf.Tensor2D;
        const sigma2 = this.mask.apply(expOp(this.logSigma2)) as tf.Tensor2D;
        const eps = lrtNoise([x.shape[0]!, this.weightShape[1]!], opts.stream.nextSeed()) as tf.Tensor2D;
        return lrtDenseSample(x as tf.Tensor2D, theta, sigma2, this.b as tf.Tensor1D, eps);
      }
      const { mean, variance } = this.preActivationMoments(x);
      return this.lrtSample(mean, variance, opts.stream);
    });
  }

  /** Mean of the pre-activation, x·θ + b (masked θ). */
  preActivationMean(x: tf.Tensor): tf.Tensor {
    return tf.add(tf.matMul(x as tf.Tensor2D, this.mask.apply(this.theta) as tf.Tensor2D), this.b);
  }

  /**
   * Mean x·θ + b and variance (x∘x)·σ² of the pre-activation (masked weights): what every
   * LRT draw for the batch `x` shares, so a Monte Carlo predictive computes it once.
   */
  preActivationMoments(x: tf.Tensor): { mean: tf.Tensor; variance: tf.Tensor } {
    const mean = this.preActivationMean(x);
    const sigma2 = this.mask.apply(expOp(this.logSigma2)) as tf.Tensor2D; // SIMD exp on wasm (src/nn/fused/exp.ts)
    return { mean, variance: tf.matMul(tf.square(x as tf.Tensor2D), sigma2) };
  }
}
