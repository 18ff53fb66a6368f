/**
 * The registry of inference methods. Each turns a config and data into a
 * {@link Posterior}; everything after (scores, pruning, calibration) is shared.
 * @module
 */
import { trainOptionsFrom } from './train-options.js';
import type { Dataset } from '../data/dataset.js';
import type { ExperimentConfig } from '../experiment/config.js';
import { buildNetwork } from '../nn/builders.js';
import type { Network } from '../nn/network.js';
import type { RandomStream } from '../random.js';
import { meanFieldFactory, pointFactory } from './layer-factories.js';
import { NetworkPosterior } from './network-posterior.js';
import type { Posterior } from './posterior.js';
import { Trainer, type EpochStats, type TrainHooks } from './trainer.js';
import { fitSwag } from './swag.js';
import { fitSvgd } from './svgd.js';
import { fitLaplace } from './laplace.js';
import { fitLastLayerLaplace } from './last-layer-laplace.js';
import { fitGated } from '../bayes/gated-methods.js';
import { fitSlimming } from '../pruning/slimming.js';
import { applyDivergence } from '../bayes/js-divergence.js';
import { fitPackNet } from '../pruning/packnet-method.js';
import { fitDcff } from '../pruning/dcff.js';

/** Methods whose posterior sits on a point-estimate (Dense) network. */
const POINT_NETWORK_METHODS = new Set(['map', 'swag', 'svgd', 'laplace', 'laplace-last-layer']);

export interface FitContext {
  config: ExperimentConfig;
  train: Dataset;
  validation: Dataset;
  /** The variant's root stream; methods fork `init`, `train`, ... from it. */
  stream: RandomStream;
  hooks: TrainHooks;
  /** Restore state before training (resume); returns the epoch to start from. */
  restore?: (net: Network, trainer: Trainer) => Promise<void>;
}

export interface FitResult {
  posterior: Posterior;
  history: EpochStats[];
  /**
   * Further posteriors from the same training run (SWAG's SGD iterate, SWA mean and
   * SWAG-diagonal), each evaluated and reported as a model of its own, named
   * `<variant>/<name>` (`<name>` for the main model).
   */
  companions?: { name: string; posterior: Posterior }[];
  /** A method's own results (PackNet's tasks), shown as a section of report.md / report.html and as metrics.json `<key>`. */
  section?: MethodSection;
}

/** A report section of one method: a paragraph, a table, and the numbers behind them. */
export interface MethodSection {
  key: string;
  title: string;
  text: string;
  table: Record<string, string | number | null>[];
  metrics: Record<string, unknown>;
}

export interface InferenceMethod {
  name: string;
  description: string;
  fit(ctx: FitContext): Promise<FitResult>;
}

/** Build the network of a config with the layers of `method`. */
export function networkFor(config: ExperimentConfig, train: Dataset, stream: RandomStream): Network {
  const m = config.model;
  const i = config.inference;
  const factory = POINT_NETWORK_METHODS.has(i.method) ? pointFactory(m.init) : meanFieldFactory(i.prior, i.initLogSigma2, m.init);
  const net = buildNetwork({ arch: m.arch, hidden: m.hidden, activation: m.activation }, train.shape, train.numClasses, factory, stream.fork('init'));
  applyDivergence(net.layers, i.divergence);
  return net;
}

/** Gradient training through the shared {@link Trainer} (VI maximizes the ELBO; MAP has no KL). */
async function fitByTrainer(method: string, ctx: FitContext): Promise<FitResult> {
  const c = ctx.config;
  const net = networkFor(c, ctx.train, ctx.stream);
  const trainer = new Trainer(net, ctx.train, trainOptionsFrom(c), ctx.stream.fork('train'));
  try {
    await ctx.restore?.(net, trainer);
    const history = await trainer.run(ctx.hooks);
    return { posterior: new NetworkPosterior(method, net), history };
  } finally {
    trainer.dispose();
  }
}

const registry = new Map<string, InferenceMethod>();

export function registerMethod(m: InferenceMethod): void {
  registry.set(m.name, m);
}

export function getMethod(name: string): InferenceMethod {
  const m = registry.get(name);
  if (!m) throw new Error(`unknown inference method "${name}"; allowed: ${[...registry.keys()].join(', ')}`);
  return m;
}

registerMethod({
  name: 'vi',
  description: 'mean-field variational inference with the local reparameterization trick (ELBO, KL warm-up, temperature)',
  fit: (ctx) => fitByTrainer('vi', ctx),
});
registerMethod({
  name: 'map',
  description: 'point estimate by maximum likelihood (the plain network), trained by the same trainer',
  fit: (ctx) => fitByTrainer('map', ctx),
});
registerMethod({
  name: 'swag',
  description:
    'SWA / SWAG-diagonal / SWAG (inference.swag.variant): SGD with the reference schedule, Gaussian from the collected iterates (Maddox et al. 2019)',
  fit: fitSwag,
});
registerMethod({
  name: 'svgd',
  description: 'Stein variational gradient descent over n network particles, RBF kernel with the median heuristic (Liu & Wang 2016)',
  fit: fitSvgd,
});
registerMethod({
  name: 'laplace',
  description: 'diagonal Laplace after a MAP fit: GGN or empirical Fisher, prior precision by grid search on validation NLL',
  fit: fitLaplace,
});
registerMethod({
  name: 'laplace-last-layer',
  description:
    'last-layer Laplace with a full covariance after a MAP fit: exact GGN, Cholesky, λ by grid search on the probit validation NLL (inference.laplace)',
  fit: (ctx) => fitLastLayerLaplace(ctx),
});
// Gated methods of issue 3 (hard-concrete L0, spike-and-slab, unit gates): src/bayes/gated-methods.ts.
registerMethod({
  name: 'l0',
  description: 'hard-concrete L0 gates on point-estimate weights, penalty λ·E[L0]/N (Louizos, Welling & Kingma 2018); inference.gates',
  fit: (ctx) => fitGated('l0', ctx),
});
registerMethod({
  name: 'spike-slab',
  description: 'spike-and-slab variational layers, edge or node selection, closed-form KL (Bai et al. 2020; Jantre et al. 2023); inference.gates',
  fit: (ctx) => fitGated('spike-slab', ctx),
});
registerMethod({
  name: 'unit-gates',
  description: 'Bernoulli unit gates with a Gaussian scale-mixture prior; settled units removed during training; inference.gates',
  fit: (ctx) => fitGated('unit-gates', ctx),
});

registerMethod({
  name: 'slimming',
  description:
    'network slimming: L1 penalty λ·Σ|γ| on batch-norm scales, channels pruned by |γ| globally, compacted and fine-tuned (Liu et al. 2017); inference.slimming',
  fit: fitSlimming,
});

registerMethod({
  name: 'dcff',
  description:
    'DCFF: conv filters fused under temperature-annealed inter-similarity distributions, kept by a KL criterion, trained from scratch and compacted; FPGM at the same MACs beside it (Lin et al. 2023); inference.dcff',
  fit: fitDcff,
});

registerMethod({
  name: 'packnet',
  description: 'PackNet: tasks packed into one network by pruning and freezing, task-specific masks (Mallya & Lazebnik 2018); inference.packnet',
  fit: fitPackNet,
});

/** Names of the registered inference methods. */
export function methodNames(): string[] {
  return [...registry.keys()];
}
