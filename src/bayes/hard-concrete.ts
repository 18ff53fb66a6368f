/**
 * Hard-concrete L0 gates (Louizos, Welling & Kingma 2018, "Learning sparse neural
 * networks through L0 regularization") and the gated layers built on them.
 *
 * A gate z ∈ [0, 1] with location log α is sampled as (β = 2/3, γ = −0.1, ζ = 1.1)
 *
 *   u ~ U(0, 1),  s = sigmoid((log u − log(1 − u) + log α)/β),  z = min(1, max(0, s(ζ − γ) + γ)).
 *
 * The stretch to (γ, ζ) and the clamp give z exact point masses at 0 and 1, so
 *
 *   P(z ≠ 0) = 1 − Q(s ≤ −γ/(ζ−γ)) = sigmoid(log α − β·log(−γ/ζ)) = sigmoid(log α + 1.5986),
 *
 * and the expected L0 norm of the gated parameters is Σ_gates P(z ≠ 0)·(parameters the gate controls).
 * The deterministic test-time gate is ẑ = min(1, max(0, sigmoid(log α)(ζ − γ) + γ)).
 *
 * Training objective (paper eq. 14, reference code): expected NLL + (λ/N)·E[L0]. In this
 * framework a layer's `kl()` slot carries λ·E[L0], so the shared trainer adds it as
 * β(t)·T·λ·E[L0]/N: with no warm-up and T = 1 this is exactly the paper's penalty
 * (λ from `inference.gates.lambda`). The L2 part of the reference code's penalty is not used.
 *
 * Granularity: one gate per weight, per input unit (row of a dense weight; the
 * reference code's choice for MLPs) or per output unit / output channel (the reference
 * code's choice for conv layers). Input and output gates are sampled once per example
 * (as in the reference code), weight gates once per minibatch.
 *
 * Moments of a gated weight w = θ·z (θ a point estimate): E[w] = θ·E[z], Var[w] = θ²·Var[z].
 * E[z] and E[z²] are computed, not approximated: the point masses P(z = 0), P(z = 1) in
 * closed form, and the continuous part ∫ z(u) du over the u-interval where 0 < z < 1 by
 * 64-point Gauss–Legendre quadrature (error far below float32 precision; checked against
 * Monte Carlo in the tests). `inclusion` = P(z ≠ 0).
 * (The Bernoulli approximation z ∈ {0, 1} with φ = P(z ≠ 0), E[w] = φθ, Var[w] = φ(1 − φ)θ²,
 * is {@link bernoulliGateMoments}; it overstates the variance of a gate that is mostly
 * inside (0, 1).)
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ForwardOptions, Layer, WeightMoments } from '../nn/layer.js';
import { initWeight, type Initializer } from '../nn/init.js';
import { newVariable } from '../nn/names.js';
import { conv, convOutputSize, geometryOf, initKernel, type ConvGeometry, type ConvOptions } from '../nn/conv2d.js';
import { gateToWeight, weightStructure, type GateInfo, type UnitStructure } from '../nn/structure.js';
import { MaskedWeightLayer } from '../nn/mask-slot.js';
import { RandomStream } from '../random.js';

/** Hard-concrete constants of Louizos et al. (2018): stretch (γ, ζ) and temperature β. */
export const HARD_CONCRETE = { gamma: -0.1, zeta: 1.1, beta: 2 / 3 } as const;

/** β·log(−γ/ζ) ≈ −1.5986: P(z ≠ 0) = sigmoid(log α − this). */
export const HC_SHIFT = HARD_CONCRETE.beta * Math.log(-HARD_CONCRETE.gamma / HARD_CONCRETE.zeta);

/** Uniform draws are clamped to (U_EPS, 1 − U_EPS) so log u and log(1 − u) stay finite. */
const U_EPS = 1e-6;

/**
 * Sample hard-concrete gates of `shape` (log α broadcast to it) with a fresh seed:
 * z = clamp(sigmoid((log u − log(1 − u) + log α)/β)·(ζ − γ) + γ, 0, 1).
 */
export function sampleHardConcrete(logAlpha: tf.Tensor, shape: number[], seed: number): tf.Tensor {
  const { gamma, zeta, beta } = HARD_CONCRETE;
  return tf.tidy(() => {
    const u = tf.clipByValue(tf.randomUniform(shape, 0, 1, 'float32', seed), U_EPS, 1 - U_EPS);
    const s = tf.sigmoid(tf.div(tf.add(tf.sub(tf.log(u), tf.log1p(tf.neg(u))), logAlpha), beta));
    return tf.clipByValue(tf.add(tf.mul(s, zeta - gamma), gamma), 0, 1);
  });
}

/** P(z ≠ 0) = sigmoid(log α − β·log(−γ/ζ)), elementwise. */
export function probNonZero(logAlpha: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.sigmoid(tf.sub(logAlpha, HC_SHIFT)));
}

/** Expected L0 norm Σ_gates P(z ≠ 0)·groupSize (groupSize = parameters per gate). */
export function expectedL0(logAlpha: tf.Tensor, groupSize = 1): tf.Scalar {
  return tf.tidy(() => tf.mul(tf.sum(probNonZero(logAlpha)), groupSize) as tf.Scalar);
}

/** Deterministic test-time gate ẑ = clamp(sigmoid(log α)(ζ − γ) + γ, 0, 1). */
export function testTimeGate(logAlpha: tf.Tensor): tf.Tensor {
  const { gamma, zeta } = HARD_CONCRETE;
  return tf.tidy(() => tf.clipByValue(tf.add(tf.mul(tf.sigmoid(logAlpha), zeta - gamma), gamma), 0, 1));
}

/** JS versions of the scalar formulas. */
const sigmoid = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

/** P(z ≠ 0) of one gate. */
export function probNonZeroScalar(logAlpha: number): number {
  return sigmoid(logAlpha - HC_SHIFT);
}

/** ẑ of one gate. */
export function testTimeGateScalar(logAlpha: number): number {
  const { gamma, zeta } = HARD_CONCRETE;
  return Math.min(1, Math.max(0, sigmoid(logAlpha) * (zeta - gamma) + gamma));
}

/** Gauss–Legendre nodes and weights on [−1, 1] (Newton iteration on P_n). */
function gaussLegendre(n: number): { x: Float64Array; w: Float64Array } {
  const x = new Float64Array(n);
  const w = new Float64Array(n);
  for (let i = 0; i < Math.ceil(n / 2); i++) {
    let t = Math.cos((Math.PI * (i + 0.75)) / (n + 0.5));
    let dp = 0;
    for (let it = 0; it < 100; it++) {
      let p0 = 1;
      let p1 = t;
      for (let k = 2; k <= n; k++) {
        const p2 = ((2 * k - 1) * t * p1 - (k - 1) * p0) / k;
        p0 = p1;
        p1 = p2;
      }
      dp = (n * (t * p1 - p0)) / (t * t - 1);
      const dt = p1 / dp;
      t -= dt;
      if (Math.abs(dt) < 1e-15) break;
    }
    x[i] = -t;
    x[n - 1 - i] = t;
    w[i] = w[n - 1 - i] = 2 / ((1 - t * t) * dp * dp);
  }
  return { x, w };
}

const GL = gaussLegendre(64);

/** Moments of one hard-concrete gate. */
export interface GateMoments {
  /** P(z = 0). */
  pZero: number;
  /** P(z = 1). */
  pOne: number;
  /** E[z]. */
  mean: number;
  /** Var[z]. */
  variance: number;
}

/**
 * E[z] and Var[z] of a hard-concrete gate, without Monte Carlo.
 * With L = log u − log(1 − u): z = 0 ⇔ u ≤ u0 = sigmoid(β·log(−γ/ζ) − log α),
 * z = 1 ⇔ u ≥ u1 = sigmoid(β·log((1 − γ)/(ζ − 1)) − log α); so
 * E[zᵏ] = (1 − u1) + ∫_{u0}^{u1} z(u)ᵏ du, the integral by 64-point Gauss–Legendre.
 */
export function hardConcreteMoments(logAlpha: number): GateMoments {
  const { gamma, zeta, beta } = HARD_CONCRETE;
  const u0 = sigmoid(beta * Math.log(-gamma / zeta) - logAlpha);
  const u1 = sigmoid(beta * Math.log((1 - gamma) / (zeta - 1)) - logAlpha);
  const pOne = 1 - u1;
  const half = (u1 - u0) / 2;
  const mid = (u1 + u0) / 2;
  let m1 = 0;
  let m2 = 0;
  for (let i = 0; i < GL.x.length; i++) {
    const u = mid + half * GL.x[i]!;
    const s = sigmoid((Math.log(u) - Math.log1p(-u) + logAlpha) / beta);
    const z = Math.min(1, Math.max(0, s * (zeta - gamma) + gamma));
    m1 += GL.w[i]! * z;
    m2 += GL.w[i]! * z * z;
  }
  const mean = pOne + half * m1;
  const second = pOne + half * m2;
  return { pZero: u0, pOne, mean, variance: Math.max(0, second - mean * mean) };
}

/** The Bernoulli approximation of a gated weight θ·z with φ = P(z ≠ 0): E = φθ, Var = φ(1 − φ)θ². */
export function bernoulliGateMoments(theta: number, phi: number): { mean: number; variance: number } {
  return { mean: phi * theta, variance: phi * (1 - phi) * theta * theta };
}

/** Where a gate sits. */
export type L0Granularity = 'weight' | 'input' | 'output';
export const L0_GRANULARITIES = ['weight', 'input', 'output'] as const;

/** Initial log α for an initial drop rate p: log(1 − p) − log p (Louizos et al.'s `droprate_init`). */
export function logAlphaForDropRate(p: number): number {
  if (!(p > 0 && p < 1)) throw new Error(`initial drop rate must be in (0, 1), got ${p}`);
  return Math.log(1 - p) - Math.log(p);
}

export interface L0DenseOptions {
  name: string;
  inFeatures: number;
  outFeatures: number;
  granularity: L0Granularity;
  /** λ of the expected-L0 penalty (per gated parameter). */
  lambda: number;
  /** Initial gate drop rate p: log α is initialized at log(1 − p) − log p (+ N(0, 0.01²) noise). Default 0.2. */
  initDropRate?: number;
  init?: Initializer;
  stream: RandomStream;
}

/** Per-weight moments from per-gate moments (w = θ·z; masked weights are 0 with variance 0). */
function gatedMoments(theta: Float32Array, logAlpha: Float32Array, granularity: L0Granularity, shape: number[], mask: Float32Array | null) {
  const n = logAlpha.length;
  const gm = new Float32Array(n);
  const gv = new Float32Array(n);
  const gp = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const m = hardConcreteMoments(logAlpha[i]!);
    gm[i] = m.mean;
    gv[i] = m.variance;
    gp[i] = 1 - m.pZero;
  }
  const em = gateToWeight(gm, granularity, shape);
  const ev = gateToWeight(gv, granularity, shape);
  const inclusion = gateToWeight(gp, granularity, shape);
  const mean = new Float32Array(theta.length);
  const variance = new Float32Array(theta.length);
  for (let i = 0; i < theta.length; i++) {
    const k = mask ? mask[i]! : 1;
    const t = theta[i]!;
    mean[i] = k * t * em[i]!;
    variance[i] = k * t * t * ev[i]!;
    inclusion[i]! *= k;
  }
  return { mean, variance, inclusion };
}

function gateInfo(logAlpha: Float32Array, granularity: L0Granularity): GateInfo {
  const inclusion = Float32Array.from(logAlpha, probNonZeroScalar);
  const keep = Uint8Array.from(logAlpha, (a) => (testTimeGateScalar(a) > 0 ? 1 : 0));
  return { granularity, inclusion, keep };
}

/**
 * Dense layer with hard-concrete L0 gates: y = x·(θ ∘ z) + b, θ a point estimate.
 * Training (and MC prediction, `sample: true`) samples z; the deterministic pass uses ẑ.
 * `kl()` returns λ·E[L0] (see the module comment).
 */
export class L0Dense extends MaskedWeightLayer implements Layer {
  readonly kind = 'l0-dense';
  readonly name: string;
  readonly weightShape: number[];
  readonly macsPerWeight = 1;
  readonly granularity: L0Granularity;
  readonly lambda: number;
  readonly theta: tf.Variable;
  readonly logAlpha: tf.Variable;
  readonly b: tf.Variable;
  private readonly initDropRate: number;
  private readonly init: Initializer;

  constructor(o: L0DenseOptions) {
    super();
    this.name = o.name;
    this.granularity = o.granularity;
    this.lambda = o.lambda;
    this.initDropRate = o.initDropRate ?? 0.2;
    this.init = o.init ?? 'he-normal';
    this.weightShape = [o.inFeatures, o.outFeatures];
    this.theta = newVariable(initWeight(this.weightShape, o.inFeatures, o.outFeatures, this.init, o.stream), `${o.name}.theta`);
    this.logAlpha = newVariable(
      tf.randomNormal(this.gateShape(), logAlphaForDropRate(this.initDropRate), 0.01, 'float32', o.stream.nextSeed()),
      `${o.name}.logAlpha`,
    );
    this.b = newVariable(tf.zeros([o.outFeatures]), `${o.name}.b`);
  }

  /** Shape of the gate tensor: [in, out] (weight), [in] (input) or [out] (output). */
  gateShape(): number[] {
    const [i, o] = this.weightShape as [number, number];
    return this.granularity === 'weight' ? [i, o] : this.granularity === 'input' ? [i] : [o];
  }

  /** Reshape a gate tensor so that it broadcasts over the weight [in, out]. */
  private toWeight(g: tf.Tensor): tf.Tensor {
    if (this.granularity === 'input') return tf.reshape(g, [-1, 1]);
    if (this.granularity === 'output') return tf.reshape(g, [1, -1]);
    return g;
  }

  forward(x: tf.Tensor, opts: ForwardOptions): tf.Tensor {
    return tf.tidy(() => {
      const theta = this.mask.apply(this.theta) as tf.Tensor2D;
      const x2 = x as tf.Tensor2D;
      if (!opts.sample) return tf.add(tf.matMul(x2, tf.mul(theta, this.toWeight(testTimeGate(this.logAlpha))) as tf.Tensor2D), this.b);
      if (!opts.stream) throw new Error(`${this.name}: a sampled forward pass needs a random stream`);
      const seed = opts.stream.nextSeed();
      const B = x.shape[0]!;
      const [nIn, nOut] = this.weightShape as [number, number];
      switch (this.granularity) {
        case 'weight':
          return tf.add(tf.matMul(x2, tf.mul(theta, sampleHardConcrete(this.logAlpha, [nIn, nOut], seed)) as tf.Tensor2D), this.b);
        case 'input':
          return tf.add(tf.matMul(tf.mul(x2, sampleHardConcrete(this.logAlpha, [B, nIn], seed)) as tf.Tensor2D, theta), this.b);
        case 'output':
          return tf.add(tf.mul(tf.matMul(x2, theta), sampleHardConcrete(this.logAlpha, [B, nOut], seed)), this.b);
      }
    });
  }

  /** Expected L0 norm of the (kept) gated weights: Σ_weights mask·P(z ≠ 0). */
  expectedL0(): tf.Scalar {
    return tf.tidy(() => {
      const p = probNonZero(this.logAlpha);
      if (this.mask.tensor) return tf.sum(tf.mul(this.toWeight(p), this.mask.tensor)) as tf.Scalar;
      const [i, o] = this.weightShape as [number, number];
      return tf.mul(tf.sum(p), this.granularity === 'input' ? o : this.granularity === 'output' ? i : 1) as tf.Scalar;
    });
  }

  /** λ·E[L0]: the L0 penalty carried in the KL slot (the trainer divides by N). */
  kl(): tf.Scalar {
    return tf.tidy(() => tf.mul(this.expectedL0(), this.lambda) as tf.Scalar);
  }

  variables(): tf.Variable[] {
    return [this.theta, this.logAlpha, this.b];
  }

  moments(): WeightMoments {
    const m = gatedMoments(this.theta.dataSync() as Float32Array, this.logAlpha.dataSync() as Float32Array, this.granularity, this.weightShape, this.mask.data);
    return {
      name: `${this.name}.weight`,
      layer: this.name,
      shape: this.weightShape,
      mean: m.mean,
      variance: m.variance,
      inclusion: m.inclusion,
      macsPerWeight: 1,
    };
  }

  gates(): GateInfo {
    return gateInfo(this.logAlpha.dataSync() as Float32Array, this.granularity);
  }

  structure(): UnitStructure {
    return weightStructure(this.weightShape, this.b, {
      parameterAxes: () => [
        { variable: this.theta, inAxis: 0, outAxis: 1 },
        this.granularity === 'weight'
          ? { variable: this.logAlpha, inAxis: 0, outAxis: 1 }
          : this.granularity === 'input'
            ? { variable: this.logAlpha, inAxis: 0 }
            : { variable: this.logAlpha, outAxis: 0 },
        { variable: this.b, outAxis: 0 },
      ],
      deterministicWeight: () => tf.tidy(() => tf.mul(this.mask.apply(this.theta), this.toWeight(testTimeGate(this.logAlpha))).dataSync() as Float32Array),
      resized: (i, o) =>
        new L0Dense({
          name: this.name,
          inFeatures: i,
          outFeatures: o,
          granularity: this.granularity,
          lambda: this.lambda,
          initDropRate: this.initDropRate,
          init: this.init,
          stream: new RandomStream(`resize/${this.name}`),
        }),
    });
  }
}

export interface L0Conv2dOptions extends ConvOptions {
  /** λ of the expected-L0 penalty (per gated parameter). */
  lambda: number;
  /** Initial gate drop rate (default 0.2). */
  initDropRate?: number;
}

/**
 * Conv layer with one hard-concrete gate per output channel (Louizos et al. 2018, the
 * reference code's conv granularity): y = conv(x, θ)·z_c + b, z sampled per example
 * and channel in training; ẑ folded into the kernel in the deterministic pass.
 */
export class L0Conv2d extends MaskedWeightLayer implements Layer {
  readonly kind = 'l0-conv2d';
  readonly name: string;
  readonly geometry: ConvGeometry;
  readonly weightShape: number[];
  readonly macsPerWeight: number;
  readonly granularity = 'output' as const;
  readonly lambda: number;
  readonly theta: tf.Variable;
  readonly logAlpha: tf.Variable;
  readonly b: tf.Variable;
  private readonly initDropRate: number;
  private readonly init: Initializer;

  constructor(o: L0Conv2dOptions) {
    super();
    this.name = o.name;
    this.lambda = o.lambda;
    this.initDropRate = o.initDropRate ?? 0.2;
    this.init = o.init ?? 'he-normal';
    this.geometry = geometryOf(o);
    const [oh, ow] = convOutputSize(o.inH, o.inW, o.k, this.geometry.stride);
    this.macsPerWeight = oh * ow;
    this.weightShape = [o.k, o.k, o.cin, o.cout];
    this.theta = newVariable(initKernel(this.geometry, this.init, o.stream), `${o.name}.theta`);
    this.logAlpha = newVariable(tf.randomNormal([o.cout], logAlphaForDropRate(this.initDropRate), 0.01, 'float32', o.stream.nextSeed()), `${o.name}.logAlpha`);
    this.b = newVariable(tf.zeros([o.cout]), `${o.name}.b`);
  }

  forward(x: tf.Tensor, opts: ForwardOptions): tf.Tensor {
    return tf.tidy(() => {
      const s = this.geometry.stride;
      const theta = this.mask.apply(this.theta);
      if (!opts.sample) return tf.add(conv(x, tf.mul(theta, testTimeGate(this.logAlpha)), s), this.b);
      if (!opts.stream) throw new Error(`${this.name}: a sampled forward pass needs a random stream`);
      const z = sampleHardConcrete(this.logAlpha, [x.shape[0]!, this.geometry.cout], opts.stream.nextSeed());
      return tf.add(tf.mul(conv(x, theta, s), tf.reshape(z, [-1, 1, 1, this.geometry.cout])), this.b);
    });
  }

  /** Σ_weights mask·P(z_channel ≠ 0). */
  expectedL0(): tf.Scalar {
    return tf.tidy(() => {
      const p = probNonZero(this.logAlpha);
      if (this.mask.tensor) return tf.sum(tf.mul(p, this.mask.tensor)) as tf.Scalar;
      const g = this.geometry;
      return tf.mul(tf.sum(p), g.k * g.k * g.cin) as tf.Scalar;
    });
  }

  /** λ·E[L0] (see the module comment). */
  kl(): tf.Scalar {
    return tf.tidy(() => tf.mul(this.expectedL0(), this.lambda) as tf.Scalar);
  }

  variables(): tf.Variable[] {
    return [this.theta, this.logAlpha, this.b];
  }

  moments(): WeightMoments {
    const m = gatedMoments(this.theta.dataSync() as Float32Array, this.logAlpha.dataSync() as Float32Array, 'output', this.weightShape, this.mask.data);
    return {
      name: `${this.name}.weight`,
      layer: this.name,
      shape: this.weightShape,
      mean: m.mean,
      variance: m.variance,
      inclusion: m.inclusion,
      macsPerWeight: this.macsPerWeight,
    };
  }

  gates(): GateInfo {
    return gateInfo(this.logAlpha.dataSync() as Float32Array, 'output');
  }

  structure(): UnitStructure {
    const g = this.geometry;
    return weightStructure(this.weightShape, this.b, {
      parameterAxes: () => [
        { variable: this.theta, inAxis: 2, outAxis: 3 },
        { variable: this.logAlpha, outAxis: 0 },
        { variable: this.b, outAxis: 0 },
      ],
      deterministicWeight: () => tf.tidy(() => tf.mul(this.mask.apply(this.theta), testTimeGate(this.logAlpha)).dataSync() as Float32Array),
      resized: (i, o) =>
        new L0Conv2d({
          name: this.name,
          inH: g.inH,
          inW: g.inW,
          cin: i,
          cout: o,
          k: g.k,
          stride: g.stride,
          lambda: this.lambda,
          initDropRate: this.initDropRate,
          init: this.init,
          stream: new RandomStream(`resize/${this.name}`),
        }),
    });
  }
}
