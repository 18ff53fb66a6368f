/**
 * Stein variational gradient descent (Liu & Wang 2016, "Stein Variational Gradient
 * Descent: A General Purpose Bayesian Inference Algorithm").
 *
 * n particles x_1..x_n of the parameter vector move along
 *
 *   φ(x_i) = (1/n) Σ_j [ k(x_j, x_i) ∇log p(x_j)  +  ∇_{x_j} k(x_j, x_i) ]
 *
 * with the RBF kernel k(x, x') = exp(−‖x − x'‖²/h). For it, ∇_{x_j} k(x_j, x_i) =
 * (2/h)(x_i − x_j) k_ij, so in matrix form, with K = [k_ij], G = [∇log p(x_j)] and
 * X the particles as rows,
 *
 *   φ = ( K G + (2/h)(diag(K 1) X − K X) ) / n                       (driving + repulsive)
 *
 * Bandwidth (median heuristic), the variant of the reference code: h = med / log(n + 1),
 * med the median of the n² squared pairwise distances ‖x_i − x_j‖², zero diagonal
 * included (numpy's median: the mean of the two middle values). The paper writes
 * h = med²/log n with med the median distance; we follow the code (log(n + 1), diagonal
 * included). If all particles coincide (med = 0), h = 1.
 *
 * Step (reference `bayesian_nn.py`, an RMSProp-like AdaGrad): with α = 0.9, ε = 1e-6,
 *
 *   hist ← φ²  (first step),   hist ← α·hist + (1 − α)·φ²   (later)
 *   x ← x + stepSize · φ / (ε + √hist)
 *
 * Everything is vectorized over particles: each parameter is one tensor [n, ...shape];
 * ∇log p of all particles comes from one gradient of Σ_i log p(x_i) (particles do not
 * interact in it), the kernel from one [n, n] matrix. The only JavaScript loops run over
 * parameter tensors (layers), never over particles.
 *
 * For a network (`SvgdNetwork`), log p(x) = (N/B) Σ_batch log p(y | x_b, θ) + log N(θ; 0, σ_p² I)
 * over all weights and biases (the minibatch log-likelihood scaled to the data set plus a
 * Gaussian prior), divided by the temperature T (T = 1: the posterior; T < 1: cold).
 * The predictive averages the particles' softmax outputs. Per-weight moments across
 * particles (mean, population variance 1/n·Σ(x_i − x̄)²) give SNR pruning in the spirit of
 * DLLP (Stein variational inference for distribution-lossless pruning). Those moments
 * only mean something when the particles share one mode of the permutation-symmetric
 * network posterior, hence the default `shared` initialization (one draw of the
 * initializer, jittered per particle).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { batches } from '../data/batches.js';
import type { Dataset } from '../data/dataset.js';
import type { Dense } from '../nn/dense.js';
import type { WeightMoments } from '../nn/layer.js';
import type { MaskSet, Network } from '../nn/network.js';
import type { RandomStream } from '../random.js';
import { initWeight, type Initializer } from '../nn/init.js';
import { newVariable } from '../nn/names.js';
import { epochStats, finishStats, pointNetworkFor, reportEpoch } from './fit-utils.js';
import type { FitContext, FitResult } from './methods.js';
import type { Posterior } from './posterior.js';
import type { EpochStats, TrainHooks } from './trainer.js';
import { denseLayersOf } from './weight-sampling.js';
import { fitMapNetwork } from './laplace.js';

/** Reference RMSProp-like constants. */
export const SVGD_ALPHA = 0.9;
export const SVGD_FUDGE = 1e-6;

/**
 * Median-heuristic bandwidth h = median(‖x_i − x_j‖², all n² pairs)/log(n + 1) from the
 * [n, n] squared-distance matrix (1 when the median is 0). Read back to JavaScript (one
 * sync of n² numbers; sorting them there is much cheaper than a device top-k).
 */
export function medianBandwidth(sqDist: tf.Tensor2D): number {
  const n = sqDist.shape[0];
  const v = (sqDist.dataSync() as Float32Array).slice().sort();
  const m = v.length;
  const med = m % 2 === 1 ? v[(m - 1) / 2]! : (v[m / 2 - 1]! + v[m / 2]!) / 2;
  const h = med / Math.log(n + 1);
  return h > 0 && Number.isFinite(h) ? h : 1;
}

/**
 * Squared pairwise distances D_ij = Σ_p ‖x_ip − x_jp‖² over parameter tensors [n, ...]
 * (zero diagonal, ≥ 0), as one product of augmented matrices:
 * [−2X, 1, r]·[X, r, 1]ᵀ = r_i + r_j − 2 x_i·x_j with X all parameters side by side and
 * r_i = ‖x_i‖² (no broadcasting ops, which are slow on the cpu backend).
 */
export function pairwiseSqDist(params: tf.Tensor[]): tf.Tensor2D {
  return tf.tidy(() => {
    const n = params[0]!.shape[0]!;
    const xs = params.map((p) => tf.reshape(p, [n, -1]) as tf.Tensor2D);
    const X = xs.length === 1 ? xs[0]! : (tf.concat(xs, 1) as tf.Tensor2D);
    const r = tf.sum(tf.square(X), 1, true);
    const one = tf.ones([n, 1]);
    const A = tf.concat([tf.mul(X, -2), one, r], 1) as tf.Tensor2D;
    const B = tf.concat([X, r, one], 1) as tf.Tensor2D;
    const d = tf.relu(tf.matMul(A, B, false, true));
    // exact zeros on the diagonal (rounding leaves ~1e-7 there)
    return tf.mul(d, tf.sub(tf.onesLike(d), tf.eye(n))) as tf.Tensor2D;
  });
}

/**
 * The SVGD direction φ for particles `params` (tensors [n, ...]) with log-density
 * gradients `grads` (same shapes):
 *
 *   φ = (K G + (2/h)·L X)/n,   L = diag(K 1) − K   (so L X = diag(K1) X − K X, the repulsive sum).
 *
 * `h` defaults to the median heuristic. `repulsion` γ multiplies the repulsive term (1: SVGD;
 * annealed SVGD, D'Angelo & Fortuin 2021, varies the balance of the two terms over time).
 */
export function svgdDirection(params: tf.Tensor[], grads: tf.Tensor[], h?: number, repulsion = 1): { phi: tf.Tensor[]; h: number } {
  const n = params[0]!.shape[0]!;
  const sq = pairwiseSqDist(params);
  const bw = h ?? medianBandwidth(sq);
  const phi = tf.tidy(() => {
    const K = tf.exp(tf.mul(sq, -1 / bw)) as tf.Tensor2D;
    const L = tf.sub(tf.diag(tf.sum(K, 1)), K) as tf.Tensor2D;
    const Ls = tf.mul(L, (2 * repulsion) / bw) as tf.Tensor2D;
    return params.map((p, i) => {
      const x = tf.reshape(p, [n, -1]) as tf.Tensor2D;
      const g = tf.reshape(grads[i]!, [n, -1]) as tf.Tensor2D;
      return tf.reshape(tf.div(tf.add(tf.matMul(K, g), tf.matMul(Ls, x)), n), p.shape);
    });
  });
  sq.dispose();
  return { phi, h: bw };
}

/** Kernels: `full` one RBF on the whole parameter vector (the reference); `layer` one RBF per layer (block-diagonal); `weight` one 1-D RBF per weight (diagonal). */
export const SVGD_KERNELS = ['full', 'layer', 'weight'] as const;
export type SvgdKernel = (typeof SVGD_KERNELS)[number];

/** Median of the χ²₁ distribution: the median of (x_i − x_j)²/(2s²) for Gaussian particles of variance s². */
export const CHI2_1_MEDIAN = 0.454936;

/**
 * Per-coordinate bandwidths of the `weight` kernel, [1, d] for particles X [n, d]:
 * h_c = 2·s_c²·m/log(n + 1), s_c² the particles' population variance in coordinate c and
 * m = {@link CHI2_1_MEDIAN}: the median heuristic med_c/log(n + 1) with the median of the squared
 * pairwise differences taken as its value for Gaussian-spread particles (an exact median per
 * coordinate would sort n² numbers for each of the ~266k weights at every step). Floored at 1e-20
 * (coinciding particles: the repulsion (x_i − x_j)·k/h is 0 there anyway).
 */
export function coordinateBandwidths(X: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const n = X.shape[0];
    const v = tf.moments(X, 0, true).variance;
    return tf.maximum(tf.mul(v, (2 * CHI2_1_MEDIAN) / Math.log(n + 1)), 1e-20) as tf.Tensor2D;
  });
}

/**
 * SVGD direction with the diagonal matrix-valued kernel K(x, x') = diag_c k_c(x_c, x'_c),
 * k_c(a, b) = exp(−(a − b)²/h_c) (Wang, Tang, Bajaj & Liu 2019, matrix-valued kernels; the
 * fully local case of message-passing SVGD, Zhuo et al. 2018 / Wang, Zeng & Liu 2018):
 *
 *   φ_c(x_i) = (1/n) Σ_j k_c(x_jc, x_ic) [ ∂_c log p(x_j) + γ·(2/h_c)(x_ic − x_jc) ]
 *
 * γ = `repulsion` (1: SVGD). Each coordinate's particles repel in one dimension, so the
 * repulsion does not vanish with the dimension as the RBF kernel's on the whole vector does
 * (Ba et al. 2021); the fixed point matches per-coordinate (marginal) Stein identities.
 * Loops over the n particles j (n tensor ops of [n, d] each), never over coordinates.
 */
export function svgdDirectionCoordinatewise(params: tf.Tensor[], grads: tf.Tensor[], repulsion = 1): { phi: tf.Tensor[]; h: number } {
  const n = params[0]!.shape[0]!;
  let hMed = 0;
  const phi = params.map((p, pi) =>
    tf.tidy(() => {
      const X = tf.reshape(p, [n, -1]) as tf.Tensor2D;
      const G = tf.reshape(grads[pi]!, [n, -1]) as tf.Tensor2D;
      const h = coordinateBandwidths(X);
      if (pi === 0) {
        const hv = (h.dataSync() as Float32Array).slice().sort();
        hMed = hv[Math.floor(hv.length / 2)]!;
      }
      const negInv = tf.div(-1, h);
      const rep = tf.div(2 * repulsion, h);
      const xs = tf.split(X, n, 0);
      const gs = tf.split(G, n, 0);
      let acc: tf.Tensor = tf.zerosLike(X);
      for (let j = 0; j < n; j++) {
        const diff = tf.sub(X, xs[j]!); // x_i − x_j, [n, d]
        const k = tf.exp(tf.mul(tf.square(diff), negInv));
        const next = tf.add(acc, tf.mul(k, tf.add(gs[j]!, tf.mul(diff, rep))));
        acc.dispose();
        tf.dispose([diff, k]);
        acc = next;
      }
      return tf.reshape(tf.div(acc, n), p.shape);
    }),
  );
  return { phi, h: hMed };
}

/**
 * SVGD direction with a block-diagonal kernel: one RBF kernel (median-heuristic bandwidth of its
 * own) per block of parameter tensors (`blocks`: lists of indices into `params`, e.g. a layer's
 * weight and bias). `repulsion` γ weighs the repulsive term as in {@link svgdDirection}.
 */
export function svgdDirectionBlocks(params: tf.Tensor[], grads: tf.Tensor[], blocks: number[][], repulsion = 1): { phi: tf.Tensor[]; h: number } {
  const phi: tf.Tensor[] = new Array(params.length);
  let h = NaN;
  for (const b of blocks) {
    const r = svgdDirection(
      b.map((i) => params[i]!),
      b.map((i) => grads[i]!),
      undefined,
      repulsion,
    );
    b.forEach((i, k) => (phi[i] = r.phi[k]!));
    if (Number.isNaN(h)) h = r.h;
  }
  return { phi, h };
}

/** SVGD with the reference RMSProp-like step, over particle variables [n, ...]. */
export class SvgdSampler {
  private hist: tf.Tensor[] | null = null;
  /** Bandwidth of the last step. */
  lastH = NaN;
  steps = 0;

  constructor(
    readonly particles: tf.Variable[],
    public stepSize: number,
    readonly alpha = SVGD_ALPHA,
    readonly fudge = SVGD_FUDGE,
    /** Fixed bandwidth; undefined = median heuristic at every step (`full` kernel only). */
    readonly bandwidth?: number,
    /** Kernel; `layer` needs `blocks` (indices into `particles`, one list per block). */
    readonly kernel: SvgdKernel = 'full',
    readonly blocks?: number[][],
  ) {
    if (kernel === 'layer' && !blocks?.length) throw new Error('SVGD: the layer kernel needs parameter blocks');
  }

  /** Weight γ of the repulsive term (1: SVGD); annealing changes it between steps. */
  repulsion = 1;

  /** One step given a function returning Σ_i log p(x_i) (a scalar over all particles). */
  step(logProb: () => tf.Scalar): void {
    const { value, grads } = tf.variableGrads(logProb, this.particles);
    this.stepWithGrads(this.particles.map((p) => grads[p.name]!));
    tf.dispose([value, ...Object.values(grads)]);
  }

  /** One step from given log-density gradients (tensors like the particles). */
  stepWithGrads(grads: tf.Tensor[]): void {
    const first = this.hist === null;
    const { phi, h } =
      this.kernel === 'weight'
        ? svgdDirectionCoordinatewise(this.particles, grads, this.repulsion)
        : this.kernel === 'layer'
          ? svgdDirectionBlocks(this.particles, grads, this.blocks!, this.repulsion)
          : svgdDirection(this.particles, grads, this.bandwidth, this.repulsion);
    const hist = tf.tidy(() => {
      const hs = phi.map((f, i) => (first ? tf.square(f) : tf.add(tf.mul(this.hist![i]!, this.alpha), tf.mul(tf.square(f), 1 - this.alpha))));
      this.particles.forEach((p, i) => p.assign(tf.add(p, tf.mul(tf.div(phi[i]!, tf.add(tf.sqrt(hs[i]!), this.fudge)), this.stepSize))));
      return hs;
    });
    tf.dispose(phi);
    if (this.hist) tf.dispose(this.hist);
    this.hist = hist;
    this.lastH = h;
    this.steps++;
  }

  dispose(): void {
    if (this.hist) tf.dispose(this.hist);
    this.hist = null;
  }
}

/**
 * Particle initialization: `shared` = one initializer draw jittered per particle; `independent` = n draws;
 * `map` = the network trained to the MAP first (`mapEpochs`), jittered per particle like `shared`.
 */
export const SVGD_INITS = ['shared', 'independent', 'map'] as const;
export type SvgdInit = (typeof SVGD_INITS)[number];

/**
 * n particles of a dense network's parameters, stored as [n, in, out] weights and
 * [n, 1, out] biases, with a forward pass batched over particles
 * (x [B, in] → logits [n, B, k], one batched matMul per layer).
 */
export class ParticleNetwork {
  readonly weights: tf.Variable[];
  readonly biases: tf.Variable[];
  readonly dense: Dense[];
  private maskTensors: (tf.Tensor | null)[];

  constructor(
    readonly net: Network,
    readonly n: number,
    o: { init: SvgdInit; initSpread: number; initializer: Initializer; stream: RandomStream },
  ) {
    this.dense = denseLayersOf(net);
    this.maskTensors = this.dense.map(() => null);
    this.weights = this.dense.map((l) => {
      const [fi, fo] = l.weightShape as [number, number];
      const s = o.stream.fork(`particles/${l.name}`);
      const init =
        o.init === 'independent'
          ? initWeight([n, fi, fo], fi, fo, o.initializer, s)
          : tf.tidy(() => {
              const base = tf.expandDims(l.w, 0);
              const rms = tf.sqrt(tf.mean(tf.square(l.w)));
              return tf.add(base, tf.mul(tf.randomNormal([n, fi, fo], 0, 1, 'float32', s.nextSeed()), tf.mul(rms, o.initSpread)));
            });
      return newVariable(init, `${l.name}.particles.w`);
    });
    this.biases = this.dense.map((l) =>
      newVariable(
        tf.tidy(() => tf.tile(tf.reshape(l.b, [1, 1, -1]), [n, 1, 1])),
        `${l.name}.particles.b`,
      ),
    );
  }

  /** All particle variables (weights then biases). */
  variables(): tf.Variable[] {
    return [...this.weights, ...this.biases];
  }

  /** Refresh the mask tensors from the network's layers (call after `net.setMasks`). */
  syncMasks(): void {
    tf.dispose(this.maskTensors.filter((m): m is tf.Tensor => m !== null));
    this.maskTensors = this.dense.map((l) => {
      const m = l.getMask();
      return m ? tf.tensor(m, [1, ...l.weightShape]) : null;
    });
  }

  /** Logits of every particle: [n, B, k]. */
  forward(x: tf.Tensor): tf.Tensor3D {
    return tf.tidy(() => {
      let h: tf.Tensor = x;
      let li = 0;
      for (const l of this.net.layers) {
        if (l.weightShape) {
          if (li === 0) h = tf.reshape(h, [h.shape[0]!, -1]);
          const m = this.maskTensors[li];
          const w = m ? tf.mul(this.weights[li]!, m) : this.weights[li]!;
          let z: tf.Tensor;
          if (li === 0) {
            // The input is shared by all particles: one 2-D product x·[in, n·out] (the weights
            // transposed to [in, n, out]) instead of a batched one — several times faster on
            // the wasm and cpu backends — then back to [n, B, out].
            const [n, fi, fo] = w.shape as [number, number, number];
            const B = h.shape[0]!;
            const w2 = tf.reshape(tf.transpose(w, [1, 0, 2]), [fi, n * fo]) as tf.Tensor2D;
            z = tf.transpose(tf.reshape(tf.matMul(h as tf.Tensor2D, w2), [B, n, fo]), [1, 0, 2]);
          } else z = tf.matMul(h as tf.Tensor3D, w as tf.Tensor3D); // [n, B, in]·[n, in, out]
          h = tf.add(z, this.biases[li]!);
          li++;
        } else if (l.kind === 'flatten') {
          if (li > 0) throw new Error('SVGD: flatten after a dense layer is not supported');
        } else if (l.kind === 'activation') {
          h = l.forward(h, { sample: false });
        } else throw new Error(`SVGD: layer kind "${l.kind}" is not supported (dense networks only)`);
      }
      return h as tf.Tensor3D;
    });
  }

  /** Write the particle mean into the network's Dense variables. */
  assignMeanToNetwork(): void {
    tf.tidy(() => {
      this.dense.forEach((l, i) => {
        l.w.assign(tf.mean(this.weights[i]!, 0));
        l.b.assign(tf.reshape(tf.mean(this.biases[i]!, 0), [-1]));
      });
    });
  }

  dispose(): void {
    tf.dispose([...this.weights, ...this.biases]);
    tf.dispose(this.maskTensors.filter((m): m is tf.Tensor => m !== null));
  }
}

/** The SVGD posterior: the particle ensemble; the network holds the particle mean. */
export class SvgdPosterior implements Posterior {
  readonly method = 'svgd';

  constructor(
    readonly network: Network,
    readonly particles: ParticleNetwork,
  ) {
    particles.assignMeanToNetwork();
    particles.syncMasks();
  }

  /** Mean and population variance across particles, per weight (masked weights 0). */
  moments(): WeightMoments[] {
    return this.particles.dense.map((l, i) => {
      const [mean, variance] = tf.tidy(() => {
        const m = tf.moments(this.particles.weights[i]!, 0);
        return [m.mean, m.variance];
      });
      const mu = mean!.dataSync().slice() as Float32Array;
      const v = variance!.dataSync().slice() as Float32Array;
      tf.dispose([mean!, variance!]);
      const mask = l.getMask();
      if (mask)
        for (let j = 0; j < mu.length; j++) {
          mu[j]! *= mask[j]!;
          v[j]! *= mask[j]!;
        }
      return { name: `${l.name}.weight`, layer: l.name, shape: l.weightShape, mean: mu, variance: v, macsPerWeight: 1 };
    });
  }

  /**
   * Class probabilities of every particle, [n, B, k] (the SVGD predictive is their mean).
   * Any `samples ≥ 1` gives all n particles (the particle set is the posterior
   * approximation; S is not resampled). `samples = 0`: one pass of the particle-mean network.
   */
  predictSamples(x: tf.Tensor, samples: number, _stream: RandomStream): tf.Tensor3D {
    return tf.tidy(() => {
      if (samples <= 0) return tf.expandDims(tf.softmax(this.network.forward(x, { sample: false })), 0) as tf.Tensor3D;
      return tf.softmax(this.particles.forward(x)) as tf.Tensor3D;
    });
  }

  setMasks(masks: MaskSet | null): void {
    this.network.setMasks(masks);
    this.particles.syncMasks();
  }

  getMasks(): MaskSet {
    return this.network.getMasks();
  }

  dispose(): void {
    this.particles.dispose();
    this.network.dispose();
  }
}

export interface SvgdOptions {
  particles: number;
  epochs: number;
  batchSize: number;
  stepSize: number;
  /** Gaussian prior N(0, σ_p²) on every weight and bias. */
  priorSigma: number;
  /** Posterior temperature T (log p divided by T). */
  temperature: number;
  init: SvgdInit;
  /** Jitter of `shared` / `map` init, relative to the RMS of each layer's initial weights. */
  initSpread: number;
  initializer: Initializer;
  alpha?: number;
  /** Kernel (default `full`, the reference RBF on the whole parameter vector). */
  kernel?: SvgdKernel;
  /** Weight γ of the repulsive term (default 1). */
  repulsion?: number;
  /**
   * Annealed SVGD (D'Angelo & Fortuin 2021): over the first `anneal` fraction of the steps the
   * driving term's weight rises linearly from 0 to 1 (repulsion first), then stays 1. 0: off.
   */
  anneal?: number;
  hooks?: TrainHooks;
}

/** Run SVGD on a dense classifier's parameters over minibatches of `data`. */
export async function trainSvgd(
  net: Network,
  data: Dataset,
  o: SvgdOptions,
  stream: RandomStream,
): Promise<{ posterior: SvgdPosterior; history: EpochStats[] }> {
  if (data.n === 0) throw new Error('training set is empty');
  if (!(o.particles >= 2)) throw new Error(`SVGD needs at least 2 particles, got ${o.particles}`);
  const pn = new ParticleNetwork(net, o.particles, {
    init: o.init === 'map' ? 'shared' : o.init,
    initSpread: o.initSpread,
    initializer: o.initializer,
    stream: stream.fork('init'),
  });
  const L = pn.dense.length;
  const blocks = pn.dense.map((_, i) => [i, L + i]); // a layer's weights and biases
  const sampler = new SvgdSampler(pn.variables(), o.stepSize, o.alpha ?? SVGD_ALPHA, SVGD_FUDGE, undefined, o.kernel ?? 'full', blocks);
  sampler.repulsion = o.repulsion ?? 1;
  const totalSteps = o.epochs * Math.ceil(data.n / o.batchSize);
  const annealSteps = (o.anneal ?? 0) * totalSteps;
  const history: EpochStats[] = [];
  const N = data.n;
  const priorPrec = 1 / (o.priorSigma * o.priorSigma);
  try {
    for (let e = 0; e < o.epochs; e++) {
      const t0 = performance.now();
      let sums = tf.zeros([2]); // mean particle NLL, ensemble correct
      const steps = Math.ceil(N / o.batchSize);
      const every = o.hooks?.stepEvery ?? 10;
      let step = 0;
      for (const b of batches(data, o.batchSize, stream.fork(`epoch-${e}/shuffle`))) {
        const x = tf.tensor(b.x, [b.size, ...data.shape]);
        const y = tf.tensor1d(b.y, 'int32');
        let parts: tf.Tensor | undefined;
        const drive = annealSteps > 0 ? Math.min(1, sampler.steps / annealSteps) : 1;
        sampler.step(() => {
          const logits = pn.forward(x); // [n, B, k]
          const ll = tf.sum(tf.mul(tf.logSoftmax(logits), tf.oneHot(y, net.numClasses)), [1, 2]); // [n]
          const prior = tf.mul(tf.addN(pn.variables().map((v) => tf.sum(tf.square(v)))), -0.5 * priorPrec);
          const ensemble = tf.mean(tf.softmax(logits), 0);
          const correct = tf.sum(tf.cast(tf.equal(tf.argMax(ensemble, 1), y), 'float32'));
          parts = tf.keep(tf.stack([tf.div(tf.neg(tf.mean(ll)), b.size), correct]));
          return tf.mul(tf.add(tf.mul(tf.sum(ll), N / b.size), prior), drive / o.temperature) as tf.Scalar;
        });
        const next = tf.add(sums, parts!);
        tf.dispose([sums, x, y, parts!]);
        sums = next;
        step++;
        if (o.hooks?.onStep && (step % every === 0 || step === steps)) {
          const s = sums.dataSync();
          o.hooks.onStep({ epoch: e, step, steps, loss: s[0]! / step, nll: s[0]! / step, kl: 0, accuracy: s[1]! / Math.min(N, step * o.batchSize) });
        }
      }
      const s = sums.dataSync();
      sums.dispose();
      const stats = epochStats(e, o.stepSize, s[0]! / steps, s[0]! / steps, s[1]! / N);
      if (o.hooks?.validation) stats.validationAccuracy = ensembleAccuracy(pn, o.hooks.validation);
      finishStats(stats, t0);
      history.push(stats);
      if (o.hooks) {
        pn.assignMeanToNetwork();
        await reportEpoch(o.hooks, stats, net, e + 1);
      }
    }
  } catch (err) {
    sampler.dispose();
    pn.dispose();
    throw err;
  }
  sampler.dispose();
  return { posterior: new SvgdPosterior(net, pn), history };
}

/** Accuracy of the particle-averaged predictive on `ds`. */
export function ensembleAccuracy(pn: ParticleNetwork, ds: Dataset, batchSize = 500): number {
  let correct = 0;
  const d = ds.x.length / Math.max(ds.n, 1);
  for (let s = 0; s < ds.n; s += batchSize) {
    const size = Math.min(batchSize, ds.n - s);
    const c = tf.tidy(() => {
      const x = tf.tensor(ds.x.subarray(s * d, (s + size) * d), [size, ...ds.shape]);
      const p = tf.mean(tf.softmax(pn.forward(x)), 0);
      return tf.sum(tf.cast(tf.equal(tf.argMax(p, 1), tf.tensor1d(ds.y.subarray(s, s + size), 'int32')), 'float32'));
    });
    correct += c.dataSync()[0]!;
    c.dispose();
  }
  return ds.n ? correct / ds.n : 0;
}

/** Fit SVGD from an experiment config (`inference.svgd`). */
export async function fitSvgd(ctx: FitContext): Promise<FitResult> {
  const c = ctx.config;
  const s = c.inference.svgd;
  let net: Network;
  if (s.init === 'map') {
    // MAP first (the shared trainer, Adam, `mapEpochs` epochs), then the particles around it
    const cm: typeof c = { ...c, train: { ...c.train, epochs: s.mapEpochs } };
    net = (await fitMapNetwork({ ...ctx, config: cm, hooks: {}, restore: undefined })).net;
  } else net = pointNetworkFor(c, ctx.train, ctx.stream);
  try {
    return await trainSvgd(
      net,
      ctx.train,
      {
        particles: s.particles,
        epochs: c.train.epochs,
        batchSize: c.train.batchSize,
        stepSize: s.stepSize,
        priorSigma: s.priorSigma,
        temperature: c.inference.temperature,
        init: s.init,
        initSpread: s.initSpread,
        initializer: c.model.init,
        alpha: s.alpha,
        kernel: s.kernel,
        repulsion: s.repulsion,
        anneal: s.anneal,
        hooks: ctx.hooks,
      },
      ctx.stream.fork('train'),
    );
  } catch (e) {
    net.dispose();
    throw e;
  }
}
