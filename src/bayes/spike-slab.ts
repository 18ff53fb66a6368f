/**
 * Spike-and-slab variational dense layer: edge selection (one inclusion variable per
 * weight, Bai, Song & Cheng 2020) and node selection (one per output unit, Jantre,
 * Bhattacharya & Maiti 2023).
 *
 * Variational family, for a weight w with gate z (per weight or per node):
 *
 *   q(w) = φ·N(μ, σ²) + (1 − φ)·δ0,   φ = sigmoid(θ),
 *
 * against the prior p(w) = λ·N(0, σ0²) + (1 − λ)·δ0 with a small layer-wise prior
 * inclusion λ. Closed-form KL (per weight for edges; per node for nodes, with the
 * Gaussian part summed over the node's incoming weights):
 *
 *   KL = φ log(φ/λ) + (1 − φ) log((1 − φ)/(1 − λ)) + φ·Σ_i [log σ0 − log σ_i + (σ_i² + μ_i²)/(2σ0²) − ½].
 *
 * Training: z is relaxed by a binary concrete (Gumbel-sigmoid) sample with temperature τ
 * (0.5), z̃ = sigmoid((θ + log u − log(1 − u))/τ), and used as the straight-through hard
 * sample z = 1[z̃ > ½] (forward) with ∂z/∂z̃ := 1 (backward). The hard sample is exactly
 * Bernoulli(φ) for any τ, so MC prediction uses it too. The slab is sampled with the
 * local reparameterization trick (Kingma et al. 2015): for edges the gated mean and
 * variance matrices give b ~ N(x·(z∘μ), x²·(z∘σ²)); node gates multiply the unit's
 * LRT pre-activation, with one gate draw per example (like LRT noise: an unbiased
 * estimate of the expected log-likelihood with lower variance than one draw per batch).
 * The bias is a point estimate and is not gated.
 *
 * The deterministic pass (`sample: false`) is the median model of the references:
 * w = μ·1[φ > ½] ("keep where φ > 0.5").
 *
 * Moments of a gated weight (issue 4): E[w] = φμ, Var[w] = φ(σ² + μ²) − φ²μ², so SNR is
 * defined; `inclusion` = φ. With a Gaussian spike N(0, σ_s²) instead of δ0 (the scale-mixture
 * unit gates of `unit-gates.ts`) Var[w] gains (1 − φ)σ_s².
 *
 * Parameterization: (μ, log σ²) as in `lrt-dense.ts` (init log σ² = −12, σ ≈ 0.0025),
 * φ initialized at 0.99 (θ = logit 0.99).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ForwardOptions, Layer, WeightMoments } from '../nn/layer.js';
import { initWeight, type Initializer } from '../nn/init.js';
import { newVariable } from '../nn/names.js';
import { MaskedWeightLayer } from '../nn/mask-slot.js';
import { gateToWeight, weightStructure, type GateInfo, type UnitStructure } from '../nn/structure.js';
import { RandomStream } from '../random.js';

/** `weight` = edge selection (Bai et al. 2020); `output` = node selection (Jantre et al. 2023). */
export type SpikeSlabGranularity = 'weight' | 'output';

export interface SpikeSlabOptions {
  name: string;
  inFeatures: number;
  outFeatures: number;
  granularity: SpikeSlabGranularity;
  /** Prior inclusion probability λ (small: 1e-4 … 2e-3 in the references). */
  priorInclusion: number;
  /** Slab prior standard deviation σ0 (≈ 1). */
  slabSigma?: number;
  /** Standard deviation of a Gaussian spike (0 = the point mass δ0). */
  spikeSigma?: number;
  /** Binary-concrete temperature τ (0.5). */
  temperature?: number;
  /** Initial inclusion probability φ (0.99). */
  initInclusion?: number;
  /** Initial log σ² of the slab (−12). */
  initLogSigma2?: number;
  init?: Initializer;
  stream: RandomStream;
  /** Registry kind (default `spike-slab-dense`). */
  kind?: string;
}

/** Variance floor inside the square root. */
const VAR_EPS = 1e-8;
const U_EPS = 1e-6;

/** Straight-through estimator: forward 1[x > ½], backward identity. */
const straightThrough = tf.customGrad(((soft: tf.Tensor) => ({
  value: tf.cast(tf.greater(soft, 0.5), 'float32'),
  gradFunc: (dy: tf.Tensor) => [dy],
})) as unknown as Parameters<typeof tf.customGrad>[0]);

/**
 * Binary-concrete gate sample of `shape` with logits θ (broadcast): the hard value
 * 1[θ + L > 0] (exactly Bernoulli(sigmoid θ)); with `relaxed`, its gradient is that of
 * z̃ = sigmoid((θ + L)/τ) (straight-through), L = log u − log(1 − u).
 */
export function sampleBinaryConcrete(logit: tf.Tensor, shape: number[], temperature: number, seed: number, relaxed: boolean): tf.Tensor {
  return tf.tidy(() => {
    const u = tf.clipByValue(tf.randomUniform(shape, 0, 1, 'float32', seed), U_EPS, 1 - U_EPS);
    const arg = tf.add(tf.sub(tf.log(u), tf.log1p(tf.neg(u))), logit);
    if (!relaxed) return tf.cast(tf.greater(arg, 0), 'float32');
    return straightThrough(tf.sigmoid(tf.div(arg, temperature)));
  });
}

/**
 * KL of a Bernoulli(φ) to Bernoulli(λ), elementwise, from logits θ (stable):
 * φ(log φ − log λ) + (1 − φ)(log(1 − φ) − log(1 − λ)), log φ = −softplus(−θ), log(1 − φ) = −softplus(θ).
 */
export function bernoulliKl(logit: tf.Tensor, lambda: number): tf.Tensor {
  return tf.tidy(() => {
    const phi = tf.sigmoid(logit);
    const a = tf.mul(phi, tf.sub(tf.neg(tf.softplus(tf.neg(logit))), Math.log(lambda)));
    const b = tf.mul(tf.sub(1, phi), tf.sub(tf.neg(tf.softplus(logit)), Math.log(1 - lambda)));
    return tf.add(a, b);
  });
}

/** KL(N(μ, σ²) ‖ N(0, σ0²)) elementwise: log σ0 − ½ log σ² + (σ² + μ²)/(2σ0²) − ½. */
export function gaussianKlElementwise(mu: tf.Tensor, logSigma2: tf.Tensor, sigma0: number): tf.Tensor {
  return tf.tidy(() => tf.add(tf.add(tf.mul(logSigma2, -0.5), tf.div(tf.add(tf.exp(logSigma2), tf.square(mu)), 2 * sigma0 * sigma0)), Math.log(sigma0) - 0.5));
}

/** The closed-form spike-and-slab KL of one gate in plain JS (for tests and reports). */
export function spikeSlabKlScalar(phi: number, lambda: number, mus: number[], sigmas: number[], sigma0: number): number {
  const xlogy = (x: number, y: number) => (x === 0 ? 0 : x * Math.log(y));
  let g = 0;
  for (let i = 0; i < mus.length; i++) g += Math.log(sigma0) - Math.log(sigmas[i]!) + (sigmas[i]! ** 2 + mus[i]! ** 2) / (2 * sigma0 * sigma0) - 0.5;
  return xlogy(phi, phi / lambda) + xlogy(1 - phi, (1 - phi) / (1 - lambda)) + phi * g;
}

/** Spike-and-slab dense layer (see the module comment). */
export class SpikeSlabDense extends MaskedWeightLayer implements Layer {
  readonly kind: string;
  readonly name: string;
  readonly weightShape: number[];
  readonly macsPerWeight = 1;
  readonly granularity: SpikeSlabGranularity;
  readonly priorInclusion: number;
  readonly slabSigma: number;
  readonly spikeSigma: number;
  readonly temperature: number;
  readonly mu: tf.Variable;
  readonly logSigma2: tf.Variable;
  /** θ = logit φ: [in, out] for edges, [out] for nodes. */
  readonly logitPhi: tf.Variable;
  readonly b: tf.Variable;
  protected readonly opts: SpikeSlabOptions;

  constructor(o: SpikeSlabOptions) {
    super();
    if (!(o.priorInclusion > 0 && o.priorInclusion < 1)) throw new Error(`${o.name}: prior inclusion λ must be in (0, 1), got ${o.priorInclusion}`);
    this.opts = o;
    this.kind = o.kind ?? 'spike-slab-dense';
    this.name = o.name;
    this.granularity = o.granularity;
    this.priorInclusion = o.priorInclusion;
    this.slabSigma = o.slabSigma ?? 1;
    this.spikeSigma = o.spikeSigma ?? 0;
    this.temperature = o.temperature ?? 0.5;
    this.weightShape = [o.inFeatures, o.outFeatures];
    const phi0 = o.initInclusion ?? 0.99;
    this.mu = newVariable(initWeight(this.weightShape, o.inFeatures, o.outFeatures, o.init ?? 'he-normal', o.stream), `${o.name}.mu`);
    this.logSigma2 = newVariable(tf.fill(this.weightShape, o.initLogSigma2 ?? -12), `${o.name}.logSigma2`);
    this.logitPhi = newVariable(tf.fill(this.gateShape(), Math.log(phi0) - Math.log1p(-phi0)), `${o.name}.logitPhi`);
    this.b = newVariable(tf.zeros([o.outFeatures]), `${o.name}.b`);
  }

  gateShape(): number[] {
    return this.granularity === 'weight' ? [...this.weightShape] : [this.weightShape[1]!];
  }

  forward(x: tf.Tensor, opts: ForwardOptions): tf.Tensor {
    return tf.tidy(() => {
      const x2 = x as tf.Tensor2D;
      const mu = this.mask.apply(this.mu) as tf.Tensor2D;
      if (!opts.sample) {
        const keep = tf.cast(tf.greater(this.logitPhi, 0), 'float32');
        return tf.add(tf.matMul(x2, tf.mul(mu, keep) as tf.Tensor2D), this.b);
      }
      if (!opts.stream) throw new Error(`${this.name}: a sampled forward pass needs a random stream`);
      const relaxed = opts.training === true;
      const sigma2 = this.mask.apply(tf.exp(this.logSigma2)) as tf.Tensor2D;
      const xx = tf.square(x2);
      const s2 = this.spikeSigma * this.spikeSigma;
      let mean: tf.Tensor;
      let variance: tf.Tensor;
      if (this.granularity === 'weight') {
        const z = sampleBinaryConcrete(this.logitPhi, this.weightShape, this.temperature, opts.stream.nextSeed(), relaxed);
        mean = tf.matMul(x2, tf.mul(mu, z) as tf.Tensor2D);
        let v = tf.mul(sigma2, z);
        if (s2 > 0) v = tf.add(v, this.mask.apply(tf.mul(tf.sub(1, z), s2)));
        variance = tf.matMul(xx, v as tf.Tensor2D);
      } else {
        const z = sampleBinaryConcrete(this.logitPhi, [x.shape[0]!, this.weightShape[1]!], this.temperature, opts.stream.nextSeed(), relaxed);
        mean = tf.mul(tf.matMul(x2, mu), z);
        variance = tf.mul(tf.matMul(xx, sigma2), z);
        if (s2 > 0) {
          const ones = this.mask.tensor ?? tf.onesLike(this.mu);
          variance = tf.add(variance, tf.mul(tf.mul(tf.matMul(xx, ones as tf.Tensor2D), tf.sub(1, z)), s2));
        }
      }
      const eps = tf.randomNormal(mean.shape, 0, 1, 'float32', opts.stream.nextSeed());
      return tf.add(tf.add(mean, tf.mul(tf.sqrt(tf.add(variance, VAR_EPS)), eps)), this.b);
    });
  }

  /** Closed-form KL (see the module comment); masked weights (and fully masked nodes) are removed from the model. */
  kl(): tf.Scalar {
    return tf.tidy(() => {
      const phi = tf.sigmoid(this.logitPhi);
      const bern = bernoulliKl(this.logitPhi, this.priorInclusion);
      let gauss = gaussianKlElementwise(this.mu, this.logSigma2, this.slabSigma);
      const m = this.mask.tensor;
      if (m) gauss = tf.mul(gauss, m);
      if (this.granularity === 'weight') {
        const perWeight = tf.add(bern, tf.mul(phi, gauss));
        return tf.sum(m ? tf.mul(perWeight, m) : perWeight) as tf.Scalar;
      }
      const perNodeGauss = tf.sum(gauss, 0);
      const alive = m ? tf.cast(tf.greater(tf.sum(m, 0), 0), 'float32') : null;
      const perNode = tf.add(bern, tf.mul(phi, perNodeGauss));
      return tf.sum(alive ? tf.mul(perNode, alive) : perNode) as tf.Scalar;
    });
  }

  variables(): tf.Variable[] {
    return [this.mu, this.logSigma2, this.logitPhi, this.b];
  }

  /** φ per gate. */
  inclusionPerGate(): Float32Array {
    return tf.tidy(() => tf.sigmoid(this.logitPhi).dataSync() as Float32Array);
  }

  moments(): WeightMoments {
    const mu = this.mu.dataSync();
    const ls2 = this.logSigma2.dataSync();
    const phi = gateToWeight(this.inclusionPerGate(), this.granularity, this.weightShape);
    const s2 = this.spikeSigma * this.spikeSigma;
    const mask = this.mask.data;
    const n = mu.length;
    const mean = new Float32Array(n);
    const variance = new Float32Array(n);
    const inclusion = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const k = mask ? mask[i]! : 1;
      const p = phi[i]!;
      const m = mu[i]!;
      mean[i] = k * p * m;
      variance[i] = k * Math.max(0, p * (Math.exp(ls2[i]!) + m * m) + (1 - p) * s2 - p * p * m * m);
      inclusion[i] = k * p;
    }
    return { name: `${this.name}.weight`, layer: this.name, shape: this.weightShape, mean, variance, inclusion, macsPerWeight: 1 };
  }

  gates(): GateInfo {
    const inclusion = this.inclusionPerGate();
    return { granularity: this.granularity, inclusion, keep: Uint8Array.from(inclusion, (p) => (p > 0.5 ? 1 : 0)) };
  }

  structure(): UnitStructure {
    return weightStructure(this.weightShape, this.b, {
      parameterAxes: () => [
        { variable: this.mu, inAxis: 0, outAxis: 1 },
        { variable: this.logSigma2, inAxis: 0, outAxis: 1 },
        this.granularity === 'weight' ? { variable: this.logitPhi, inAxis: 0, outAxis: 1 } : { variable: this.logitPhi, outAxis: 0 },
        { variable: this.b, outAxis: 0 },
      ],
      deterministicWeight: () => tf.tidy(() => tf.mul(this.mask.apply(this.mu), tf.cast(tf.greater(this.logitPhi, 0), 'float32')).dataSync() as Float32Array),
      resized: (i, o) => this.resizedCopy(i, o),
    });
  }

  /** A fresh layer with the same settings and new sizes. */
  protected resizedCopy(i: number, o: number): Layer {
    return new SpikeSlabDense({ ...this.opts, inFeatures: i, outFeatures: o, stream: new RandomStream(`resize/${this.name}`) });
  }
}
