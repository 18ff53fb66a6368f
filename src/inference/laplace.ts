/**
 * Diagonal Laplace approximation after a MAP fit (MacKay 1992; Ritter et al. 2018;
 * Daxberger et al. 2021, laplace-torch; used for Fisher vs SNR pruning by Mohan et al. 2022).
 *
 * Around the MAP estimate θ* the posterior is approximated by
 *
 *   q(θ) = N(θ*, diag(P)⁻¹),   P = H/T + λ,
 *
 * with H the diagonal of a curvature of the negative log-likelihood summed over the N
 * training examples (see `curvature.ts`): the exact diagonal GGN (`ggn`, for softmax
 * outputs the true Fisher, computed sampling-free with one backward pass per class),
 * the diagonal empirical Fisher Σ_i g_i² (`ef`), or its one-sample Monte Carlo GGN
 * (`mc-fisher`, labels drawn from the model); λ the prior precision (a Gaussian prior
 * N(0, λ⁻¹) on every weight and bias) and T the temperature (T < 1: cold posterior;
 * the curvature factor 1/T as laplace-torch's `temperature`). When the curvature is
 * estimated on a subset of n < N examples it is multiplied by N/n.
 *
 * λ is chosen by grid search on the validation negative log-likelihood of the MC
 * predictive (the same random numbers for every grid value), as laplace-torch's
 * `optimize_prior_precision(method='gridsearch')`. The MAP itself is fitted by the
 * shared trainer: by default maximum likelihood, like method `map`, the prior entering
 * only through λ, post hoc, which is what the grid search tunes (so θ* is not the mode
 * under N(0, 1/λ)); with `inference.laplace.mapPrior` the fit is the mode under the one
 * prior N(0, 1/λ) the posterior then uses (per-example penalty λ‖θ‖²/(2N)), which is what
 * Bayesian model reduction (src/scores/bmr.ts) needs for q to be that prior's posterior.
 *
 * Predictive: Monte Carlo over S draws θ ~ N(θ*, diag(P)⁻¹) of all weights and biases,
 * each assigned into the network (`WeightSamplingPosterior`).
 * For linear-Gaussian regression the GGN is the exact Hessian XᵀX/σ², so the Laplace
 * variances are 1/diag(XᵀX/σ² + λI): the exact marginals when the features are orthogonal.
 * @module
 */
import { trainOptionsFrom } from './train-options.js';
import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from '../data/dataset.js';
import type { Network } from '../nn/network.js';
import type { RandomStream } from '../random.js';
import { datasetBatches, diagonalCurvature, type CurvatureKind, type LayerCurvature } from './curvature.js';
import { pointNetworkFor } from './fit-utils.js';
import type { FitContext, FitResult } from './methods.js';
import { Trainer } from './trainer.js';
import { WeightSamplingPosterior, type WeightSamplingHooks } from './weight-sampling.js';

/** Default prior-precision grid (log-spaced, 10⁻⁴ … 10⁴). */
export const DEFAULT_PRIOR_PRECISIONS = [1e-4, 1e-3, 1e-2, 1e-1, 1, 10, 100, 1e3, 1e4];

/** The diagonal Laplace posterior. */
export class LaplacePosterior extends WeightSamplingPosterior {
  /** Diagonal curvature per variable (sum over the training set). */
  private readonly curv: tf.Tensor[];
  private std: tf.Tensor[] = [];
  private variance: tf.Tensor[] = [];
  private lambda = 1;

  constructor(
    network: Network,
    curvature: LayerCurvature[],
    priorPrecision: number,
    readonly temperature = 1,
    hooks: WeightSamplingHooks = {},
  ) {
    super('laplace', network, network.variables(), hooks);
    if (!(temperature > 0)) throw new Error(`Laplace temperature must be > 0, got ${temperature}`);
    const byLayer = new Map(curvature.map((c) => [c.layer, c]));
    this.curv = this.params.map(() => null as unknown as tf.Tensor);
    for (const l of this.dense) {
      const c = byLayer.get(l.name);
      if (!c) throw new Error(`Laplace: no curvature for layer "${l.name}"`);
      this.curv[this.paramIndex(l.w)] = tf.keep(tf.tensor(c.weight, l.weightShape));
      this.curv[this.paramIndex(l.b)] = tf.keep(tf.tensor(c.bias, l.b.shape));
    }
    if (this.curv.some((c) => !c)) throw new Error('Laplace: the network has variables outside its dense layers');
    this.setPriorPrecision(priorPrecision);
  }

  get priorPrecision(): number {
    return this.lambda;
  }

  /** Set λ and recompute the posterior variances 1/(H/T + λ). */
  setPriorPrecision(lambda: number): void {
    if (!(lambda > 0)) throw new Error(`prior precision must be > 0, got ${lambda}`);
    this.lambda = lambda;
    tf.dispose([...this.std, ...this.variance]);
    this.variance = this.curv.map((h) => tf.tidy(() => tf.reciprocal(tf.add(tf.div(h, this.temperature), lambda))));
    this.std = this.variance.map((v) => tf.sqrt(v));
  }

  protected get stochastic(): boolean {
    return true;
  }

  protected drawSample(stream: RandomStream): tf.Tensor[] {
    return tf.tidy(() => this.meanValues.map((m, i) => tf.add(m, tf.mul(this.std[i]!, tf.randomNormal(m.shape, 0, 1, 'float32', stream.nextSeed())))));
  }

  protected weightVariance(layerIndex: number): Float32Array {
    return this.variance[this.paramIndex(this.dense[layerIndex]!.w)]!.dataSync().slice() as Float32Array;
  }

  override dispose(): void {
    tf.dispose([...this.curv, ...this.std, ...this.variance]);
    super.dispose();
  }
}

/** Mean negative log-likelihood of the S-sample MC predictive on (the first `maxExamples` of) `ds`. */
export function predictiveNll(
  posterior: WeightSamplingPosterior,
  ds: Dataset,
  samples: number,
  stream: RandomStream,
  maxExamples = 0,
  batchSize = 500,
): number {
  const n = maxExamples > 0 ? Math.min(maxExamples, ds.n) : ds.n;
  const d = ds.x.length / Math.max(ds.n, 1);
  let total = 0;
  for (let s = 0, b = 0; s < n; s += batchSize, b++) {
    const size = Math.min(batchSize, n - s);
    const t = tf.tidy(() => {
      const x = tf.tensor(ds.x.subarray(s * d, (s + size) * d), [size, ...ds.shape]);
      const p = tf.mean(posterior.predictSamples(x, samples, stream.fork(`batch-${b}`)), 0);
      const py = tf.sum(tf.mul(p, tf.oneHot(tf.tensor1d(ds.y.subarray(s, s + size), 'int32'), ds.numClasses)), 1);
      return tf.sum(tf.neg(tf.log(tf.maximum(py, 1e-12))));
    });
    total += t.dataSync()[0]!;
    t.dispose();
  }
  return n ? total / n : NaN;
}

export interface LaplaceOptions {
  curvature: CurvatureKind;
  temperature: number;
  /** Prior precisions to try (one value: fixed, no search). */
  priorPrecisions: number[];
  /** MC samples of the grid-search predictive. */
  gridSamples: number;
  /** Validation examples used by the grid search (0 = all). */
  gridExamples: number;
  /** Training examples used for the curvature (0 = all; a subset is rescaled by N/n). */
  curvatureExamples: number;
  batchSize: number;
  hooks?: WeightSamplingHooks;
}

/** One grid point: prior precision and its validation NLL. */
export interface GridPoint {
  priorPrecision: number;
  nll: number;
}

/**
 * Diagonal Laplace around the current (MAP) weights of `net`: curvature on `train`,
 * λ by grid search on `validation` (skipped with one grid value or an empty validation set).
 */
export function laplaceAround(
  net: Network,
  train: Dataset,
  validation: Dataset,
  o: LaplaceOptions,
  stream: RandomStream,
): { posterior: LaplacePosterior; grid: GridPoint[] } {
  if (!o.priorPrecisions.length) throw new Error('Laplace: the prior-precision grid is empty');
  const nCurv = o.curvatureExamples > 0 ? Math.min(o.curvatureExamples, train.n) : train.n;
  const curv = diagonalCurvature(
    net,
    datasetBatches(train, o.batchSize, nCurv, nCurv < train.n ? stream.fork('curvature-subset') : undefined),
    o.curvature,
    { type: 'categorical' },
    stream.fork('curvature'),
  );
  if (nCurv < train.n) {
    const f = train.n / nCurv;
    for (const c of curv) {
      for (let i = 0; i < c.weight.length; i++) c.weight[i]! *= f;
      for (let i = 0; i < c.bias.length; i++) c.bias[i]! *= f;
    }
  }
  const posterior = new LaplacePosterior(net, curv, o.priorPrecisions[0]!, o.temperature, o.hooks);
  const grid: GridPoint[] = [];
  if (o.priorPrecisions.length > 1 && validation.n > 0) {
    const gs = stream.fork('grid');
    for (const lambda of o.priorPrecisions) {
      posterior.setPriorPrecision(lambda);
      grid.push({ priorPrecision: lambda, nll: predictiveNll(posterior, validation, o.gridSamples, gs, o.gridExamples, o.batchSize) });
    }
    const best = grid.reduce((a, b) => (b.nll < a.nll ? b : a));
    posterior.setPriorPrecision(best.priorPrecision);
  }
  return { posterior, grid };
}

/**
 * Train the network a Laplace approximation is built around: the shared trainer at temperature 1, no KL warm-up
 * (resumable from checkpoints through `ctx.restore`), on the likelihood alone (maximum likelihood, `priorPrecision`
 * 0, the default) or on the log posterior under N(0, 1/λ) for `priorPrecision` λ > 0 (per-example loss
 * mean NLL + λ‖θ‖²/(2N) over every weight and bias: the MAP). The network is disposed if training throws.
 */
export async function fitMapNetwork(ctx: FitContext, priorPrecision = 0): Promise<{ net: Network; history: Awaited<ReturnType<Trainer['run']>> }> {
  const net = pointNetworkFor(ctx.config, ctx.train, ctx.stream);
  // The prior N(0, 1/λ) on every weight and bias as the trainer's per-example penalty λ‖θ‖²/(2N): the loss is then the negative
  // log posterior over N, and the fit its mode (0: maximum likelihood).
  const trainer = new Trainer(net, ctx.train, { ...trainOptionsFrom(ctx.config), temperature: 1, warmup: undefined, priorPrecision }, ctx.stream.fork('train'));
  try {
    await ctx.restore?.(net, trainer);
    return { net, history: await trainer.run(ctx.hooks) };
  } catch (e) {
    net.dispose();
    throw e;
  } finally {
    trainer.dispose();
  }
}

/** Fit the MAP with the shared trainer, then the diagonal Laplace (`inference.laplace`). */
export async function fitLaplace(ctx: FitContext): Promise<FitResult & { grid: GridPoint[] }> {
  const c = ctx.config;
  const lc = c.inference.laplace;
  const { net, history } = await fitMapNetwork(ctx, lc.mapPrior ? lc.priorPrecisions[0]! : 0);
  const { posterior, grid } = laplaceAround(
    net,
    ctx.train,
    ctx.validation,
    {
      curvature: lc.curvature,
      temperature: c.inference.temperature,
      priorPrecisions: lc.priorPrecisions,
      gridSamples: lc.gridSamples,
      gridExamples: lc.gridExamples,
      curvatureExamples: lc.curvatureExamples,
      batchSize: lc.batchSize,
    },
    ctx.stream.fork('laplace'),
  );
  return { posterior, history, grid };
}
