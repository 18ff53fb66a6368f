/**
 * Last-layer Laplace approximation with a full covariance (Kristiadi, Hein & Hennig 2020;
 * Daxberger et al. 2021, laplace-torch's default `subset_of_weights='last_layer',
 * hessian_structure='full'`): every layer but the last is fixed at the MAP; the last
 * dense layer's weights and bias θ = vec(W̃), W̃ = [W; bᵀ] ((d+1)×k, index (a, c) → a·k + c)
 * get the Gaussian posterior N(θ*, P⁻¹) with
 *
 *   P = H / T + λ I,   H = Σ_i (φ̃_i φ̃_iᵀ) ⊗ (diag p_i − p_i p_iᵀ),
 *
 * φ̃_i = [φ(x_i); 1] the penultimate features with a 1 for the bias and p_i the MAP softmax.
 * The logits are linear in θ, so this GGN is the exact Hessian of the summed negative
 * log-likelihood. P is factored by Cholesky (P = L Lᵀ); Σ = P⁻¹ from L.
 *
 * Predictive for an input with features φ̃: f = W̃ᵀ φ̃ and Var f_c = φ̃ᵀ Σ_cc φ̃ (Σ_cc the
 * (d+1)×(d+1) block of class c), then either the probit approximation
 * p ≈ softmax(f_c / √(1 + π/8 · Var f_c)) (MacKay 1992; laplace-torch `link_approx='probit'`)
 * or Monte Carlo: θ = θ* + L⁻ᵀ z, z ~ N(0, I).
 * The diagonal variant keeps only diag(P) (what the diagonal Laplace of this project does).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from '../data/dataset.js';
import type { WeightMoments } from '../nn/layer.js';
import type { MaskSet, Network } from '../nn/network.js';
import type { RandomStream } from '../random.js';
import type { FitContext, FitResult } from './methods.js';
import type { Posterior } from './posterior.js';
import { fitMapNetwork } from './laplace.js';

/** Cholesky factor L (lower, row-major n×n) of a symmetric positive-definite A; throws if A is not. */
export function cholesky(a: Float64Array, n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let s = a[j * n + j]!;
    for (let p = 0; p < j; p++) s -= l[j * n + p]! * l[j * n + p]!;
    if (!(s > 0)) throw new Error(`cholesky: matrix is not positive definite (pivot ${j} = ${s})`);
    const d = Math.sqrt(s);
    l[j * n + j] = d;
    for (let i = j + 1; i < n; i++) {
      let t = a[i * n + j]!;
      for (let p = 0; p < j; p++) t -= l[i * n + p]! * l[j * n + p]!;
      l[i * n + j] = t / d;
    }
  }
  return l;
}

/** (L Lᵀ)⁻¹ from the Cholesky factor L: L⁻¹ by forward substitution, then L⁻ᵀ L⁻¹. */
export function choleskyInverse(l: Float64Array, n: number): Float64Array {
  const li = new Float64Array(n * n); // L⁻¹, lower
  for (let j = 0; j < n; j++) {
    li[j * n + j] = 1 / l[j * n + j]!;
    for (let i = j + 1; i < n; i++) {
      let s = 0;
      for (let p = j; p < i; p++) s += l[i * n + p]! * li[p * n + j]!;
      li[i * n + j] = -s / l[i * n + i]!;
    }
  }
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let p = i; p < n; p++) s += li[p * n + i]! * li[p * n + j]!;
      out[i * n + j] = s;
      out[j * n + i] = s;
    }
  }
  return out;
}

/** Solve Lᵀ x = z (back substitution); L lower, row-major. */
export function solveUpperTransposed(l: Float64Array, n: number, z: Float64Array): Float64Array {
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let s = z[i]!;
    for (let p = i + 1; p < n; p++) s -= l[p * n + i]! * x[p]!;
    x[i] = s / l[i * n + i]!;
  }
  return x;
}

/**
 * GGN (= Hessian) of the summed softmax cross-entropy with respect to the last layer's
 * θ = vec([W; bᵀ]) for features `phi` (n×d) and MAP probabilities `probs` (n×k):
 * H[(a,c),(b,e)] = Σ_i φ̃_ia φ̃_ib (δ_ce p_ic − p_ic p_ie). Returned row-major, P = (d+1)·k.
 */
export function lastLayerGgn(phi: Float32Array, probs: Float32Array, n: number, d: number, k: number): Float64Array {
  const D = d + 1;
  const P = D * k;
  const h = new Float64Array(P * P);
  tf.tidy(() => {
    const ph = tf.concat([tf.tensor2d(phi, [n, d]), tf.ones([n, 1])], 1); // n×D
    const pr = tf.tensor2d(probs, [n, k]);
    for (let c = 0; c < k; c++) {
      for (let e = c; e < k; e++) {
        const pc = tf.slice(pr, [0, c], [n, 1]);
        const lam = c === e ? tf.mul(pc, tf.sub(1, pc)) : tf.neg(tf.mul(pc, tf.slice(pr, [0, e], [n, 1])));
        const block = tf.matMul(tf.mul(ph, lam), ph, true, false).dataSync(); // D×D
        for (let a = 0; a < D; a++) {
          for (let b = 0; b < D; b++) {
            const v = block[a * D + b]!;
            h[(a * k + c) * P + (b * k + e)] = v;
            h[(b * k + e) * P + (a * k + c)] = v;
          }
        }
      }
    }
  });
  return h;
}

/** Penultimate features φ(x) (n×d) and MAP logits (n×k) of `network` on `ds` (current masks, posterior mean). */
export function featuresAndLogits(network: Network, ds: Dataset, batchSize = 1000): { phi: Float32Array; logits: Float32Array; d: number } {
  const body = network.layers.slice(0, -1);
  const last = network.layers.at(-1)!;
  const f = ds.x.length / ds.n;
  const parts: Float32Array[] = [];
  const lparts: Float32Array[] = [];
  let d = 0;
  for (let s = 0; s < ds.n; s += batchSize) {
    const size = Math.min(batchSize, ds.n - s);
    const [ph, lg] = tf.tidy(() => {
      let h: tf.Tensor = tf.tensor(ds.x.subarray(s * f, (s + size) * f), [size, ...ds.shape]);
      for (const l of body) h = l.forward(h, { sample: false });
      h = tf.reshape(h, [size, -1]);
      return [h, last.forward(h, { sample: false })];
    });
    d = ph.shape[1]!;
    parts.push(ph.dataSync() as Float32Array);
    lparts.push(lg.dataSync() as Float32Array);
    tf.dispose([ph, lg]);
  }
  const cat = (xs: Float32Array[]) => {
    const out = new Float32Array(xs.reduce((a, x) => a + x.length, 0));
    let o = 0;
    for (const x of xs) {
      out.set(x, o);
      o += x.length;
    }
    return out;
  };
  return { phi: cat(parts), logits: cat(lparts), d };
}

function softmaxRows(z: Float64Array | Float32Array, n: number, k: number): Float32Array {
  const out = new Float32Array(n * k);
  for (let i = 0; i < n; i++) {
    let m = -Infinity;
    for (let c = 0; c < k; c++) m = Math.max(m, z[i * k + c]!);
    let s = 0;
    for (let c = 0; c < k; c++) s += Math.exp(z[i * k + c]! - m);
    for (let c = 0; c < k; c++) out[i * k + c] = Math.exp(z[i * k + c]! - m) / s;
  }
  return out;
}

/** A fitted last-layer Laplace posterior (full or diagonal precision). */
export class LastLayerLaplace {
  readonly P: number;
  private chol: Float64Array | null = null;
  private cov: Float64Array | null = null;
  private diagVar: Float64Array | null = null;
  private lambda = 1;

  /**
   * @param theta MAP θ* = vec([W; bᵀ]) ((d+1)·k)
   * @param ggn H from {@link lastLayerGgn} (summed over the training examples used, rescaled to N)
   */
  constructor(
    readonly theta: Float64Array,
    readonly ggn: Float64Array,
    readonly d: number,
    readonly k: number,
    readonly structure: 'full' | 'diag',
    readonly temperature = 1,
  ) {
    this.P = (d + 1) * k;
    if (theta.length !== this.P || ggn.length !== this.P * this.P)
      throw new Error(`last-layer Laplace: θ has ${theta.length}, H ${ggn.length} entries; expected ${this.P} and ${this.P ** 2}`);
  }

  get priorPrecision(): number {
    return this.lambda;
  }

  /** Set λ: P = H/T + λI, factored (full) or inverted elementwise (diag). */
  setPriorPrecision(lambda: number): void {
    if (!(lambda > 0)) throw new Error(`prior precision must be > 0, got ${lambda}`);
    this.lambda = lambda;
    const P = this.P;
    if (this.structure === 'diag') {
      this.diagVar = Float64Array.from({ length: P }, (_, i) => 1 / (this.ggn[i * P + i]! / this.temperature + lambda));
      return;
    }
    const prec = new Float64Array(P * P);
    for (let i = 0; i < P * P; i++) prec[i] = this.ggn[i]! / this.temperature;
    for (let i = 0; i < P; i++) prec[i * P + i]! += lambda;
    this.chol = cholesky(prec, P);
    this.cov = choleskyInverse(this.chol, P);
  }

  /** Posterior covariance entry Σ[(a,c),(b,e)]. */
  covariance(i: number, j: number): number {
    if (this.structure === 'diag') return i === j ? this.diagVar![i]! : 0;
    return this.cov![i * this.P + j]!;
  }

  /** Mean logits f = W̃ᵀ φ̃ and their variances Var f_c = φ̃ᵀ Σ_cc φ̃, per example (n×k each). */
  logitMoments(phi: Float32Array, n: number): { mean: Float64Array; variance: Float64Array } {
    const { d, k, P } = this;
    const D = d + 1;
    const mean = new Float64Array(n * k);
    const variance = new Float64Array(n * k);
    const x = new Float64Array(D);
    for (let i = 0; i < n; i++) {
      for (let a = 0; a < d; a++) x[a] = phi[i * d + a]!;
      x[d] = 1;
      for (let c = 0; c < k; c++) {
        let m = 0;
        for (let a = 0; a < D; a++) m += x[a]! * this.theta[a * k + c]!;
        mean[i * k + c] = m;
        let v = 0;
        if (this.structure === 'diag') {
          for (let a = 0; a < D; a++) v += x[a]! * x[a]! * this.diagVar![a * k + c]!;
        } else {
          const cov = this.cov!;
          for (let a = 0; a < D; a++) {
            const row = (a * k + c) * P;
            let t = 0;
            for (let b = 0; b < D; b++) t += cov[row + b * k + c]! * x[b]!;
            v += x[a]! * t;
          }
        }
        variance[i * k + c] = v;
      }
    }
    return { mean, variance };
  }

  /** Probit-approximated predictive probabilities, n×k. */
  predictProbit(phi: Float32Array, n: number): Float32Array {
    const { mean, variance } = this.logitMoments(phi, n);
    const z = new Float64Array(mean.length);
    for (let i = 0; i < z.length; i++) z[i] = mean[i]! / Math.sqrt(1 + (Math.PI / 8) * variance[i]!);
    return softmaxRows(z, n, this.k);
  }

  /** One posterior draw θ = θ* + L⁻ᵀ z (full) or θ* + σ ∘ z (diag). */
  sampleTheta(stream: RandomStream): Float64Array {
    const z = Float64Array.from({ length: this.P }, () => stream.normal());
    if (this.structure === 'diag') return Float64Array.from(this.theta, (t, i) => t + Math.sqrt(this.diagVar![i]!) * z[i]!);
    const e = solveUpperTransposed(this.chol!, this.P, z);
    return Float64Array.from(this.theta, (t, i) => t + e[i]!);
  }

  /** Monte Carlo predictive: S draws of θ, softmax of each, averaged (n×k). */
  predictMc(phi: Float32Array, n: number, samples: number, stream: RandomStream): Float32Array {
    const { d, k } = this;
    const out = new Float64Array(n * k);
    for (let s = 0; s < samples; s++) {
      const th = this.sampleTheta(stream);
      const z = new Float64Array(n * k);
      for (let i = 0; i < n; i++)
        for (let c = 0; c < k; c++) {
          let m = th[d * k + c]!;
          for (let a = 0; a < d; a++) m += phi[i * d + a]! * th[a * k + c]!;
          z[i * k + c] = m;
        }
      const p = softmaxRows(z, n, k);
      for (let i = 0; i < out.length; i++) out[i]! += p[i]! / samples;
    }
    return Float32Array.from(out);
  }
}

/** θ* = vec([W; bᵀ]) of the network's last (dense) layer. */
export function lastLayerTheta(network: Network): { theta: Float64Array; d: number; k: number } {
  const last = network.layers.at(-1)! as unknown as { w?: tf.Variable; b?: tf.Variable };
  if (!last.w || !last.b || last.w.shape.length !== 2)
    throw new Error('last-layer Laplace: the last layer must be a dense layer with weights [d, k] and bias [k]');
  const [d, k] = last.w.shape as [number, number];
  const w = last.w.dataSync();
  const b = last.b.dataSync();
  const theta = new Float64Array((d + 1) * k);
  for (let i = 0; i < d * k; i++) theta[i] = w[i]!;
  for (let c = 0; c < k; c++) theta[d * k + c] = b[c]!;
  return { theta, d, k };
}

/**
 * The last-layer Laplace as a {@link Posterior} (method `laplace-last-layer`): every layer but the
 * last at the MAP (variance 0), the last dense layer's weights and bias from N(θ*, Σ). Masks act on
 * the network as usual; a masked last-layer weight is 0 in the mean and in every draw (its row and
 * column of Σ dropped: the kept weights keep their joint marginal). Predictive: S draws of θ on the
 * MAP features (Monte Carlo, the same as every posterior here); S = 0 is the MAP network.
 */
export class LastLayerLaplacePosterior implements Posterior {
  readonly method = 'laplace-last-layer';
  private readonly lastName: string;

  constructor(
    readonly network: Network,
    readonly laplace: LastLayerLaplace,
  ) {
    this.lastName = network.layers.at(-1)!.name;
  }

  get priorPrecision(): number {
    return this.laplace.priorPrecision;
  }

  private lastMask(): Float32Array | undefined {
    return this.network.getMasks().get(`${this.lastName}.weight`);
  }

  moments(): WeightMoments[] {
    const ms = this.network.moments();
    const { d, k } = this.laplace;
    const mask = this.lastMask();
    return ms.map((m) => {
      if (m.layer !== this.lastName) return m;
      const variance = new Float32Array(d * k);
      for (let i = 0; i < d * k; i++) variance[i] = mask && mask[i] === 0 ? 0 : this.laplace.covariance(i, i);
      return { ...m, variance };
    });
  }

  predictSamples(x: tf.Tensor, samples: number, stream: RandomStream): tf.Tensor3D {
    if (samples === 0) return tf.tidy(() => tf.expandDims(tf.softmax(this.network.forward(x, { sample: false })), 0) as tf.Tensor3D);
    const { d, k } = this.laplace;
    const n = x.shape[0]!;
    const phiT = tf.tidy(() => {
      let h: tf.Tensor = x;
      for (const l of this.network.layers.slice(0, -1)) h = l.forward(h, { sample: false });
      return tf.reshape(h, [n, -1]);
    });
    const phi = phiT.dataSync() as Float32Array;
    phiT.dispose();
    const mask = this.lastMask();
    const out = new Float32Array(samples * n * k);
    const z = new Float64Array(k);
    for (let s = 0; s < samples; s++) {
      const th = this.laplace.sampleTheta(stream);
      if (mask) for (let i = 0; i < d * k; i++) if (mask[i] === 0) th[i] = 0;
      for (let i = 0; i < n; i++) {
        let m = -Infinity;
        for (let c = 0; c < k; c++) {
          let v = th[d * k + c]!;
          for (let a = 0; a < d; a++) v += phi[i * d + a]! * th[a * k + c]!;
          z[c] = v;
          m = Math.max(m, v);
        }
        let sum = 0;
        for (let c = 0; c < k; c++) sum += Math.exp(z[c]! - m);
        for (let c = 0; c < k; c++) out[(s * n + i) * k + c] = Math.exp(z[c]! - m) / sum;
      }
    }
    return tf.tensor3d(out, [samples, n, k]);
  }

  setMasks(masks: MaskSet | null): void {
    this.network.setMasks(masks);
  }

  getMasks(): MaskSet {
    return this.network.getMasks();
  }

  dispose(): void {
    this.network.dispose();
  }
}

/**
 * Fit method `laplace-last-layer`: the MAP with the shared trainer (as method `laplace`), then the
 * full last-layer Laplace: GGN on `inference.laplace.curvatureExamples` training examples (0 = all,
 * a subset rescaled by N/n), λ from `inference.laplace.priorPrecisions` by the validation NLL of the
 * probit predictive (on `gridExamples`, 0 = all), temperature `inference.temperature`.
 */
export async function fitLastLayerLaplace(ctx: FitContext): Promise<FitResult> {
  const c = ctx.config;
  const lc = c.inference.laplace;
  const { net, history } = await fitMapNetwork(ctx);
  const { theta, d, k } = lastLayerTheta(net);
  const nCurv = lc.curvatureExamples > 0 ? Math.min(lc.curvatureExamples, ctx.train.n) : ctx.train.n;
  const tr = featuresAndLogits(
    net,
    { ...ctx.train, x: ctx.train.x.subarray(0, nCurv * (ctx.train.x.length / ctx.train.n)), y: ctx.train.y.subarray(0, nCurv), n: nCurv },
    lc.batchSize,
  );
  const h = lastLayerGgn(tr.phi, softmaxRows(tr.logits, nCurv, k), nCurv, d, k);
  const scale = ctx.train.n / nCurv;
  if (scale !== 1) for (let i = 0; i < h.length; i++) h[i]! *= scale;
  const la = new LastLayerLaplace(theta, h, d, k, 'full', c.inference.temperature);
  la.setPriorPrecision(lc.priorPrecisions[0]!);
  const v = ctx.validation;
  const nv = lc.gridExamples > 0 ? Math.min(lc.gridExamples, v.n) : v.n;
  if (lc.priorPrecisions.length > 1 && nv > 0) {
    const va = featuresAndLogits(net, { ...v, x: v.x.subarray(0, nv * (v.x.length / v.n)), y: v.y.subarray(0, nv), n: nv }, lc.batchSize);
    let best = { lambda: lc.priorPrecisions[0]!, nll: Infinity };
    for (const lambda of lc.priorPrecisions) {
      la.setPriorPrecision(lambda);
      const p = la.predictProbit(va.phi, nv);
      let s = 0;
      for (let i = 0; i < nv; i++) s -= Math.log(Math.max(p[i * k + v.y[i]!]!, 1e-12));
      if (s / nv < best.nll) best = { lambda, nll: s / nv };
    }
    la.setPriorPrecision(best.lambda);
  }
  return { posterior: new LastLayerLaplacePosterior(net, la), history };
}
