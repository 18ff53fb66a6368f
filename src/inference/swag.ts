/**
 * SWAG: stochastic weight averaging Gaussian (Maddox, Garipov, Izmailov, Vetrov &
 * Wilson 2019, "A Simple Baseline for Bayesian Uncertainty in Deep Learning"), with
 * its special cases SWA (Izmailov et al. 2018) and SWAG-diagonal.
 *
 * Training: SGD with momentum and weight decay (loss = mean NLL + ½·wd·‖θ‖², all
 * parameters, as the reference's `weight_decay`), under the reference learning-rate
 * schedule {@link swagLearningRate}. After a burn-in of `swaStart` epochs, iterates
 * θ_i are collected once per epoch (at the epoch's end, as the reference's
 * `(epoch + 1) > swa_start`) or every `collectEvery` SGD steps. The collector keeps
 *
 *   θ̄ = (1/n) Σ θ_i,   θ²‾ = (1/n) Σ θ_i²     (running, updated as θ̄ ← θ̄·n/(n+1) + θ/(n+1))
 *   D = [θ_i − θ̄_i]  for the last K collected iterates (θ̄_i the mean just after adding θ_i; K = 20)
 *
 *   Σ_diag = clamp(θ²‾ − θ̄², 1e-30)
 *
 * Sampling (reference `sample_fullrank`):
 *
 *   θ̃ = θ̄ + √scale · ( √Σ_diag ∘ z₁ + D z₂ / √(K − 1) ),   z₁ ~ N(0, I_d), z₂ ~ N(0, I_K)
 *
 * i.e. θ̃ ~ N(θ̄, scale·(Σ_diag + D Dᵀ/(K − 1))). As in the reference, the divisor is the
 * configured rank K even while fewer than K deviations are stored. Variants: `swa`
 * (scale 0: the SWA mean, a point estimate), `swag-diag` (scale 1, no low-rank part),
 * `swag` (scale 0.5, low rank + diagonal).
 *
 * Posterior moments (the pruning contract) are those of the sampling distribution:
 * mean θ̄ and variance scale·(Σ_diag + diag(D Dᵀ)/(K − 1)), where diag(D Dᵀ)_j = Σ_k D_jk²
 * (the marginal variances of the low-rank-plus-diagonal Gaussian; 0 for SWA).
 *
 * Predictive: Bayesian model averaging over S weight draws (the paper uses 30), each
 * assigned into the network. Batch norm (`model.arch: bn-cnn`): the running statistics a
 * network carries belong to the last SGD iterate, not to a draw, so after each draw (and
 * after the mean is put back) they are recomputed on training data through the
 * `afterSample` hook of {@link WeightSamplingPosterior} ({@link bnRefreshHooks}; reference
 * `utils.bn_update`). γ and β are parameters like any other and are sampled.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { batches } from '../data/batches.js';
import type { Dataset } from '../data/dataset.js';
import type { Network } from '../nn/network.js';
import type { RandomStream } from '../random.js';
import { epochStats, finishStats, pointNetworkFor, reportEpoch } from './fit-utils.js';
import type { FitContext, FitResult } from './methods.js';
import { meanAccuracy, type EpochStats, type TrainHooks } from './trainer.js';
import { WeightSamplingPosterior, type WeightSamplingHooks } from './weight-sampling.js';
import { batchNormLayers, refreshBatchNorm } from '../nn/batchnorm.js';

/**
 * Sampling hooks that refresh every batch norm of the sampled network on the first
 * `examples` training examples (0 = all) in passes of `batchSize` (SWAG's `bn_update`).
 * Empty hooks for a network without batch norm.
 */
export function bnRefreshHooks(net: Network, train: Dataset, examples: number, batchSize: number): WeightSamplingHooks {
  if (!batchNormLayers(net.layers).length) return {};
  return { afterSample: (n) => void refreshBatchNorm(n, train, { examples, batchSize }) };
}

export const SWAG_VARIANTS = ['swa', 'swag-diag', 'swag'] as const;
export type SwagVariant = (typeof SWAG_VARIANTS)[number];

/** Default sampling scale of each variant (Maddox et al.: 0.5 for SWAG, 1 for SWAG-diag; 0 = SWA). */
export const SWAG_DEFAULT_SCALE: Record<SwagVariant, number> = { swa: 0, 'swag-diag': 1, swag: 0.5 };

/** Variance clamp of the reference. */
export const SWAG_VAR_CLAMP = 1e-30;

/**
 * The reference learning-rate schedule (swa_gaussian `run_swag.py`, `schedule(epoch)`):
 * with t = epoch / swaStart and r = swaLr / lr,
 *
 *   factor = 1                          for t ≤ 0.5
 *          = 1 − (1 − r)(t − 0.5)/0.4   for 0.5 < t ≤ 0.9
 *          = r                          for t > 0.9   (so the whole collection phase runs at swaLr)
 *
 * and the rate is lr·factor. `swaStart = 0` gives swaLr throughout.
 */
export function swagLearningRate(epoch: number, swaStart: number, lr: number, swaLr: number): number {
  if (swaStart <= 0) return swaLr;
  const t = epoch / swaStart;
  const r = swaLr / lr;
  let factor: number;
  if (t <= 0.5) factor = 1;
  else if (t <= 0.9) factor = 1 - ((1 - r) * (t - 0.5)) / 0.4;
  else factor = r;
  return lr * factor;
}

/**
 * Running SWAG moments of a list of tensors (one per parameter): mean, mean of squares,
 * and the last K deviations, stored per parameter as a [rows ≤ K, size] tensor.
 */
export class SwagCollector {
  /** Number of collected iterates. */
  n = 0;
  private mean: tf.Tensor[] = [];
  private sqMean: tf.Tensor[] = [];
  /** Per parameter: [rows, size] deviations, oldest first. */
  private dev: (tf.Tensor2D | null)[] = [];

  constructor(
    readonly shapes: number[][],
    /** Maximum number of deviation columns K (0 = diagonal only). */
    readonly rank: number,
  ) {}

  /** Add one iterate (tensors shaped like `shapes`; not disposed). */
  collect(values: tf.Tensor[]): void {
    if (values.length !== this.shapes.length) throw new Error(`SwagCollector: ${values.length} tensors, expected ${this.shapes.length}`);
    const n = this.n;
    const m: tf.Tensor[] = [];
    const sq: tf.Tensor[] = [];
    const dev: (tf.Tensor2D | null)[] = [];
    values.forEach((v, i) => {
      const [mi, sqi] = tf.tidy(() => [
        n === 0 ? tf.clone(v) : tf.add(tf.mul(this.mean[i]!, n / (n + 1)), tf.div(v, n + 1)),
        n === 0 ? tf.square(v) : tf.add(tf.mul(this.sqMean[i]!, n / (n + 1)), tf.div(tf.square(v), n + 1)),
      ]);
      m.push(mi!);
      sq.push(sqi!);
      if (this.rank > 0) {
        dev.push(
          tf.tidy(() => {
            const row = tf.reshape(tf.sub(v, mi!), [1, -1]) as tf.Tensor2D;
            const old = this.dev[i];
            let d = old ? (tf.concat([old, row], 0) as tf.Tensor2D) : row;
            if (d.shape[0] > this.rank) d = tf.slice(d, [d.shape[0] - this.rank, 0], [this.rank, -1]);
            return d;
          }),
        );
      } else dev.push(null);
    });
    tf.dispose([...this.mean, ...this.sqMean, ...this.dev.filter((d): d is tf.Tensor2D => d !== null)]);
    this.mean = m;
    this.sqMean = sq;
    this.dev = dev;
    this.n++;
  }

  private check(): void {
    if (this.n === 0) throw new Error('SWAG: no iterates collected yet');
  }

  /** Running mean θ̄ of parameter i (not a copy: do not dispose). */
  meanOf(i: number): tf.Tensor {
    this.check();
    return this.mean[i]!;
  }

  /** Running mean of squares of parameter i (not a copy). */
  sqMeanOf(i: number): tf.Tensor {
    this.check();
    return this.sqMean[i]!;
  }

  /** Stored deviations of parameter i, [rows, size] (null without low rank; not a copy). */
  deviationsOf(i: number): tf.Tensor2D | null {
    this.check();
    return this.dev[i] ?? null;
  }

  /** Σ_diag = clamp(θ²‾ − θ̄², 1e-30) of parameter i (a new tensor). */
  diagVariance(i: number): tf.Tensor {
    this.check();
    return tf.tidy(() => tf.maximum(tf.sub(this.sqMean[i]!, tf.square(this.mean[i]!)), SWAG_VAR_CLAMP));
  }

  /** diag(D Dᵀ)/(K − 1) of parameter i (zeros without deviations; a new tensor). */
  lowRankVariance(i: number): tf.Tensor {
    this.check();
    return tf.tidy(() => {
      const d = this.dev[i];
      if (!d || this.rank < 2) return tf.zerosLike(this.mean[i]!);
      return tf.reshape(tf.div(tf.sum(tf.square(d), 0), this.rank - 1), this.shapes[i]!);
    });
  }

  /**
   * One draw θ̃ = θ̄ + √scale·(√Σ_diag∘z₁ + D z₂/√(K−1)) of every parameter
   * (`lowRank` false: diagonal only). New tensors.
   */
  sample(scale: number, lowRank: boolean, stream: RandomStream): tf.Tensor[] {
    this.check();
    return tf.tidy(() =>
      this.mean.map((m, i) => {
        let r = tf.mul(tf.sqrt(this.diagVariance(i)), tf.randomNormal(m.shape, 0, 1, 'float32', stream.nextSeed()));
        const d = this.dev[i];
        if (lowRank && d && this.rank >= 2) {
          const z2 = tf.randomNormal([1, d.shape[0]], 0, 1, 'float32', stream.nextSeed()) as tf.Tensor2D;
          r = tf.add(r, tf.reshape(tf.div(tf.matMul(z2, d), Math.sqrt(this.rank - 1)), m.shape));
        }
        return tf.add(m, tf.mul(r, Math.sqrt(scale)));
      }),
    );
  }

  private refs = 1;

  /** One more owner (a companion posterior sharing these moments); each owner calls dispose once. */
  retain(): this {
    this.refs++;
    return this;
  }

  /** Release one owner's hold; the tensors are freed when the last owner lets go. */
  dispose(): void {
    if (--this.refs > 0) return;
    tf.dispose([...this.mean, ...this.sqMean, ...this.dev.filter((d): d is tf.Tensor2D => d !== null)]);
    this.mean = [];
    this.sqMean = [];
    this.dev = [];
  }
}

/** The SWAG posterior: SWA mean in the network, draws from the collector. */
export class SwagPosterior extends WeightSamplingPosterior {
  constructor(
    method: string,
    network: Network,
    readonly collector: SwagCollector,
    readonly variant: SwagVariant,
    readonly scale: number,
    hooks: WeightSamplingHooks = {},
  ) {
    super(
      method,
      network,
      network.variables().map((_, i) => collector.meanOf(i)),
      hooks,
    );
  }

  protected get stochastic(): boolean {
    return this.scale > 0 && this.variant !== 'swa';
  }

  protected drawSample(stream: RandomStream): tf.Tensor[] {
    return this.collector.sample(this.scale, this.variant === 'swag', stream);
  }

  protected weightVariance(layerIndex: number): Float32Array {
    if (!this.stochastic) return new Float32Array(this.dense[layerIndex]!.weightShape.reduce((a, b) => a * b, 1));
    const i = this.paramIndex(this.dense[layerIndex]!.w);
    const v = tf.tidy(() => {
      let s = this.collector.diagVariance(i);
      if (this.variant === 'swag') s = tf.add(s, this.collector.lowRankVariance(i));
      return tf.mul(s, this.scale);
    });
    const out = v.dataSync().slice() as Float32Array;
    v.dispose();
    return out;
  }

  override dispose(): void {
    super.dispose();
    this.collector.dispose();
  }
}

/** Options of {@link trainSwag}. */
export interface SwagOptions {
  variant: SwagVariant;
  epochs: number;
  batchSize: number;
  /** Initial SGD learning rate. */
  lr: number;
  /** Learning rate of the collection phase. */
  swaLr: number;
  /** Collection starts after this many epochs (burn-in). */
  swaStart: number;
  momentum: number;
  weightDecay: number;
  /** 0 = collect once per epoch (end of epoch); c > 0 = every c SGD steps. */
  collectEvery: number;
  /** K, the number of deviation columns kept. */
  rank: number;
  /** Sampling scale (default by variant: swag 0.5, swag-diag 1, swa 0). */
  scale?: number;
  hooks?: TrainHooks;
  sampling?: WeightSamplingHooks;
  /** Called after each collection with the collected iterate (tests). */
  onCollect?: (values: tf.Tensor[]) => void;
  /**
   * Further posteriors from the same SGD trajectory, each on its own copy of the network
   * (built by `makeNetwork`): `swa` (the SWA mean), `swag-diag` (diagonal, scale 1) and
   * `sgd` (the SGD iterate SWAG starts from: the first collected iterate, at the end of
   * the burn-in). They share the collected moments, so SGD, SWA, SWAG-diagonal and SWAG
   * are compared on exactly one training run.
   */
  companions?: SwagCompanion[];
  makeNetwork?: () => Network;
}

export const SWAG_COMPANIONS = ['swa', 'swag-diag', 'sgd'] as const;
export type SwagCompanion = (typeof SWAG_COMPANIONS)[number];

/** The SGD iterate as a point-estimate posterior (no spread). */
class IteratePosterior extends WeightSamplingPosterior {
  protected get stochastic(): boolean {
    return false;
  }
  protected drawSample(): tf.Tensor[] {
    return this.meanValues.map((m) => tf.clone(m));
  }
  protected weightVariance(layerIndex: number): Float32Array {
    return new Float32Array(this.dense[layerIndex]!.weightShape.reduce((a, b) => a * b, 1));
  }
}

/**
 * Train `net` by SGD with the reference schedule, collect iterates after the burn-in
 * and return the SWAG posterior. If no iterate was collected (swaStart ≥ epochs),
 * the final iterate is collected once, so SWA is then the SGD solution.
 */
export async function trainSwag(
  net: Network,
  data: Dataset,
  o: SwagOptions,
  stream: RandomStream,
): Promise<{ posterior: SwagPosterior; history: EpochStats[]; companions: { name: SwagCompanion; posterior: WeightSamplingPosterior }[] }> {
  if (data.n === 0) throw new Error('training set is empty');
  const companions = o.companions ?? [];
  if (companions.includes(o.variant as SwagCompanion)) throw new Error(`SWAG companions ${JSON.stringify(companions)} repeat the main variant "${o.variant}"`);
  if (companions.length && !o.makeNetwork) throw new Error('SWAG companions need makeNetwork (a fresh copy of the network for each)');
  const vars = net.variables();
  const collector = new SwagCollector(
    vars.map((v) => v.shape),
    o.variant === 'swag' ? o.rank : 0,
  );
  const optimizer = tf.train.momentum(o.lr, o.momentum);
  const history: EpochStats[] = [];
  let firstIterate: tf.Tensor[] | null = null;
  const collect = () => {
    if (collector.n === 0 && companions.includes('sgd')) firstIterate = vars.map((v) => tf.keep(tf.clone(v)));
    collector.collect(vars);
    o.onCollect?.(vars);
  };
  try {
    for (let e = 0; e < o.epochs; e++) {
      const t0 = performance.now();
      const lr = swagLearningRate(e, o.swaStart, o.lr, o.swaLr);
      optimizer.setLearningRate(lr);
      let sums = tf.zeros([3]); // loss, nll, correct
      let step = 0;
      const steps = Math.ceil(data.n / o.batchSize);
      const every = o.hooks?.stepEvery ?? 10;
      for (const b of batches(data, o.batchSize, stream.fork(`epoch-${e}/shuffle`))) {
        const x = tf.tensor(b.x, [b.size, ...data.shape]);
        const y = tf.tensor1d(b.y, 'int32');
        let parts: tf.Tensor | undefined;
        optimizer.minimize(
          () => {
            const logits = net.forward(x, { sample: false, training: true });
            const nll = tf.mean(tf.neg(tf.sum(tf.mul(tf.oneHot(y, net.numClasses), tf.logSoftmax(logits)), 1)));
            const correct = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), y), 'float32'));
            const decay = o.weightDecay > 0 ? tf.mul(tf.addN(vars.map((v) => tf.sum(tf.square(v)))), 0.5 * o.weightDecay) : tf.scalar(0);
            const loss = tf.add(nll, decay) as tf.Scalar;
            parts = tf.keep(tf.stack([loss, nll, correct]));
            return loss;
          },
          false,
          vars,
        );
        const next = tf.add(sums, parts!);
        tf.dispose([sums, x, y, parts!]);
        sums = next;
        step++;
        if (o.collectEvery > 0 && e >= o.swaStart && step % o.collectEvery === 0) collect();
        if (o.hooks?.onStep && (step % every === 0 || step === steps)) {
          const s = sums.dataSync();
          o.hooks.onStep({ epoch: e, step, steps, loss: s[0]! / step, nll: s[1]! / step, kl: 0, accuracy: s[2]! / Math.min(data.n, step * o.batchSize) });
        }
      }
      if (o.collectEvery === 0 && e + 1 > o.swaStart) collect();
      const s = sums.dataSync();
      sums.dispose();
      const stats = epochStats(e, lr, s[0]! / steps, s[1]! / steps, s[2]! / data.n);
      if (o.hooks?.validation) stats.validationAccuracy = meanAccuracy(net, o.hooks.validation);
      finishStats(stats, t0);
      history.push(stats);
      if (o.hooks) await reportEpoch(o.hooks, stats, net, e + 1);
    }
    if (collector.n === 0) collect();
  } catch (err) {
    collector.dispose();
    if (firstIterate) tf.dispose(firstIterate);
    throw err;
  } finally {
    optimizer.dispose();
  }
  const scale = o.variant === 'swa' ? 0 : (o.scale ?? SWAG_DEFAULT_SCALE[o.variant]);
  const method = o.variant === 'swag' ? 'swag' : o.variant;
  const out: { name: SwagCompanion; posterior: WeightSamplingPosterior }[] = [];
  for (const c of companions) {
    const copy = o.makeNetwork!();
    if (c === 'sgd') {
      out.push({ name: c, posterior: new IteratePosterior('sgd', copy, firstIterate!, o.sampling) });
    } else {
      // A companion keeps the main variant's scale only where the variants agree (swag-diag: 1).
      out.push({ name: c, posterior: new SwagPosterior(c, copy, collector.retain(), c, c === 'swa' ? 0 : SWAG_DEFAULT_SCALE[c], o.sampling) });
    }
  }
  if (firstIterate) tf.dispose(firstIterate);
  return { posterior: new SwagPosterior(method, net, collector, o.variant, scale, o.sampling), history, companions: out };
}

/** Fit SWAG from an experiment config (`inference.swag`). */
export async function fitSwag(ctx: FitContext): Promise<FitResult> {
  const c = ctx.config;
  const s = c.inference.swag;
  const net = pointNetworkFor(c, ctx.train, ctx.stream);
  const epochs = c.train.epochs;
  const swaStart = Math.min(Math.max(0, Math.floor(s.start * epochs)), Math.max(0, epochs - 1));
  let copies = 0;
  try {
    const r = await trainSwag(
      net,
      ctx.train,
      {
        variant: s.variant,
        epochs,
        batchSize: c.train.batchSize,
        lr: s.lr,
        swaLr: s.swaLr,
        swaStart,
        momentum: s.momentum,
        weightDecay: s.weightDecay,
        collectEvery: s.collectEvery,
        rank: s.rank,
        scale: s.scale,
        hooks: ctx.hooks,
        companions: s.companions,
        sampling: s.bnRefresh ? bnRefreshHooks(net, ctx.train, s.bnRefreshExamples, c.train.batchSize) : undefined,
        makeNetwork: () => pointNetworkFor(c, ctx.train, ctx.stream.fork(`companion-${copies++}`)),
      },
      ctx.stream.fork('train'),
    );
    return { posterior: r.posterior, history: r.history, companions: r.companions };
  } catch (e) {
    net.dispose();
    throw e;
  }
}
