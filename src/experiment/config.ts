/**
 * The experiment config: one schema is the single source of truth. It validates
 * configs (every problem reported with its key path and what is allowed), fills
 * documented defaults, and the TypeScript type {@link ExperimentConfig} is derived from it.
 * @module
 */
import { readFileSync, statSync } from 'node:fs';
import { z } from 'zod';
import YAML from 'yaml';
import { BACKEND_CHOICES } from '../backend.js';
import { DATASETS } from '../data/registry.js';
import { ARCHITECTURES } from '../nn/builders.js';
import { ACTIVATIONS } from '../nn/activations.js';
import { BIAS_DRAWING_INITIALIZERS, INITIALIZERS } from '../nn/init.js';
import { LR_SCHEDULES } from '../inference/schedules.js';
import { PRUNING_SCOPES } from '../pruning/masks.js';
import { criterionNames } from '../scores/registry.js';
import { expandValues, sweepSchema } from './sweep-spec.js';
import { errnoCode, fsErrorMessage } from './paths.js';
import { oodConfigSchema, riskControlConfigSchema } from './uncertainty-config.js';
import { protocolIssues, protocolsSchema } from './protocol-schema.js';
import { didYouMean } from '../suggest.js';
import { divergenceIssues, divergenceSchema } from '../bayes/js-divergence.js';
import { dcffIssues, dcffOptionsSchema } from '../pruning/dcff-config.js';
import { packnetIssues, packnetOptionsSchema } from '../pruning/packnet-config.js';

/**
 * A name used as a file or directory name (experiment, variant): letters, digits, ".", "_"
 * and "-", not starting with "." (so never "." or ".."), at most 128 characters.
 */
export const NAME_PATTERN = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;
const NAME_RULE = 'letters, digits, ".", "_" and "-" only, not starting with "." (at most 128 characters)';
const plainName = () => z.string().regex(NAME_PATTERN, NAME_RULE);

/** Every number of the schema is finite (zod's plain number accepts ±Infinity; YAML's `.inf` and `.nan` are refused). */
const num = () => z.number().finite();
const posInt = (max: number) => num().int().min(1).max(max);
const fraction = num().min(0).max(1);

const prior = z.discriminatedUnion('type', [
  z.object({ type: z.literal('log-uniform') }).strict(),
  z.object({ type: z.literal('gaussian'), sigma: num().positive().default(1) }).strict(),
  z
    .object({
      type: z.literal('scale-mixture'),
      pi: num().gt(0).lt(1).default(0.5),
      sigma1: num().positive().default(1),
      sigma2: num().positive().default(Math.exp(-6)),
    })
    .strict(),
]);

/** Inference methods available in this build (`inference.method`). */
export const INFERENCE_METHODS = [
  'vi',
  'map',
  'swag',
  'svgd',
  'laplace',
  'laplace-last-layer',
  'l0',
  'spike-slab',
  'unit-gates',
  'slimming',
  'dcff',
  'packnet',
] as const;

/**
 * Options of the posterior families of issue 4 (`inference.swag`, `inference.svgd`,
 * `inference.laplace`); each is used only by its method. Formulas: src/inference/swag.ts,
 * svgd.ts, laplace.ts. (Enum values are spelled out here to keep this module free of the
 * method implementations; they mirror SWAG_VARIANTS, SVGD_INITS and CURVATURE_KINDS.)
 */
const swagOptions = z
  .object({
    /** `swa` (mean only), `swag-diag` (diagonal, scale 1), `swag` (low rank + diagonal, scale 0.5). */
    variant: z.enum(['swa', 'swag-diag', 'swag']).default('swag'),
    /** Collection starts after floor(start · train.epochs) epochs of burn-in (at most epochs − 1). */
    start: fraction.default(0.5),
    /** Initial SGD learning rate (constant for the first half of the burn-in, then linear to swaLr by 90 %). */
    lr: num().gt(0).max(10).default(0.05),
    /** SGD learning rate of the collection phase (keep it high enough for the iterates to move). */
    swaLr: num().gt(0).max(10).default(0.02),
    momentum: num().min(0).lt(1).default(0.9),
    /** L2 weight decay wd (loss + ½·wd·‖θ‖², all parameters). */
    weightDecay: num().min(0).max(1).default(1e-4),
    /** 0 = collect once per epoch; c > 0 = every c SGD steps. */
    collectEvery: num().int().min(0).default(0),
    /** K, the number of deviation columns of the low-rank part. */
    rank: num().int().min(2).max(1000).default(20),
    /** Sampling scale; default by variant (swag 0.5, swag-diag 1; swa always 0). */
    scale: num().min(0).max(100).optional(),
    /**
     * Further models from the same SGD trajectory, reported beside the main one: `swa`,
     * `swag-diag`, and `sgd` (the iterate SWAG starts from, at the end of the burn-in).
     */
    companions: z.array(z.enum(['swa', 'swag-diag', 'sgd'])).default([]),
    /** Batch-norm networks: recompute the running statistics for every sampled network (and the mean) on training data (Maddox et al. 2019). */
    bnRefresh: z.boolean().default(true),
    /** Training examples of each refresh (0 = all), in passes of `train.batchSize`. */
    bnRefreshExamples: num().int().min(0).default(1000),
  })
  .strict()
  .superRefine((o, ctx) => {
    if ((o.companions as string[]).includes(o.variant))
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['companions'],
        message: `"${o.variant}" is the main variant; companions may be the other ones of swa, swag-diag, sgd`,
      });
    if (new Set(o.companions).size !== o.companions.length)
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['companions'], message: 'each companion at most once' });
  });

const svgdOptions = z
  .object({
    /** Number of particles n (the reference BNN uses 20). */
    particles: num().int().min(2).max(1000).default(20),
    /** Step size of the RMSProp-like update (reference 1e-3). */
    stepSize: num().gt(0).max(10).default(1e-3),
    /** Decay α of the squared-step history (reference 0.9). */
    alpha: num().gt(0).lt(1).default(0.9),
    /** Gaussian prior N(0, σ²) on every weight and bias. */
    priorSigma: num().positive().default(1),
    /** `shared`: one initial network jittered per particle (one mode: meaningful per-weight moments); `independent`: n initial draws. */
    init: z.enum(['shared', 'independent', 'map']).default('shared'),
    /** Jitter of the shared init, relative to the RMS of the initial weights. */
    initSpread: num().min(0).max(10).default(0.1),
    /** Epochs of MAP training before the particles are spread around it (init `map`). */
    mapEpochs: num().int().min(1).max(10000).default(5),
    /** `full`: RBF on the whole parameter vector (reference); `layer`: one RBF per layer; `weight`: one 1-D RBF per weight (svgd.ts). */
    kernel: z.enum(['full', 'layer', 'weight']).default('full'),
    /** Weight of the repulsive term (1: SVGD). */
    repulsion: num().gt(0).max(1e6).default(1),
    /** Annealed SVGD: fraction of the steps over which the driving term's weight rises from 0 to 1 (0: off). */
    anneal: num().min(0).max(1).default(0),
  })
  .strict();

const laplaceOptions = z
  .object({
    /** Diagonal curvature: exact GGN (= true Fisher for softmax), empirical Fisher, or MC Fisher. */
    curvature: z.enum(['ggn', 'ef', 'mc-fisher']).default('ggn'),
    /** Prior precisions searched on the validation NLL (one value: fixed). */
    priorPrecisions: z.array(num().positive()).min(1).default([1e-4, 1e-3, 1e-2, 1e-1, 1, 10, 100, 1e3, 1e4]),
    /** MC samples of the grid-search predictive. */
    gridSamples: num().int().min(1).max(1000).default(10),
    /** Validation examples used by the grid search (0 = all). */
    gridExamples: num().int().min(0).default(1000),
    /** Training examples used for the curvature (0 = all; a subset is rescaled by N/n). */
    curvatureExamples: num().int().min(0).default(0),
    /** Batch size of the curvature and grid passes. */
    batchSize: posInt(65536).default(250),
    /**
     * Train the MAP under the Laplace prior N(0, 1/λ) (per-example penalty λ‖θ‖²/(2N)), λ the one value of priorPrecisions,
     * so that q is the Laplace approximation of the posterior under the prior it is scored with (method laplace; false:
     * maximum likelihood, λ post hoc).
     */
    mapPrior: z.boolean().default(false),
  })
  .strict();

/**
 * Options of the gated layers of issue 3 (`inference.gates`), used by the methods `l0`
 * (hard-concrete L0 gates, Louizos et al. 2018), `spike-slab` (Bai et al. 2020; Jantre et
 * al. 2023) and `unit-gates` (Bernoulli unit gates, Gaussian scale-mixture prior).
 * Formulas: src/bayes/hard-concrete.ts, spike-slab.ts, unit-gates.ts.
 */
const gateOptions = z
  .object({
    /**
     * What one gate controls: `weight` (= `edge`), `input` (a dense layer's input unit; l0 only)
     * or `output` (= `node`: an output unit). Default: l0 `input`; spike-slab and unit-gates `node`.
     * l0 conv layers always gate output channels.
     */
    granularity: z.enum(['weight', 'input', 'output', 'edge', 'node']).optional(),
    /** λ of the expected-L0 penalty λ·E[L0]/N (l0; per gated parameter). */
    lambda: num().min(0).max(1e6).default(0.1),
    /** Initial gate drop rate p of hard-concrete gates: log α = log(1 − p) − log p (l0). */
    initDropRate: num().gt(0).lt(1).default(0.2),
    /** Temperature τ of the binary-concrete relaxation (spike-slab, unit-gates); not the KL temperature. */
    concreteTemperature: num().gt(0).max(100).default(0.5),
    /** Prior inclusion probability λ of spike-and-slab / unit gates. */
    priorInclusion: num().gt(0).lt(1).default(1e-3),
    /** Initial inclusion probability φ. */
    initInclusion: num().gt(0).lt(1).default(0.99),
    /** Slab prior σ0 (spike-slab) / wide mixture component σ1 (unit-gates). */
    slabSigma: num().positive().default(1),
    /** Narrow mixture component σ2 of the unit-gates prior (the spike). */
    spikeSigma: num().min(0).default(1e-3),
    /**
     * Remove units whose P(gate ≠ 0) stays below `threshold` for `patience` consecutive
     * epoch-end checks, while training goes on (default on for unit-gates, off otherwise;
     * null turns it off).
     */
    removal: z
      .object({ threshold: num().gt(0).lt(1).default(0.01), patience: num().int().min(1).max(1000).default(3) })
      .strict()
      .nullable()
      .optional(),
  })
  .strict();

const schema = z
  .object({
    /** Name of the experiment: results go to results/<experiment>/<run-id>/. */
    experiment: plainName(),
    description: z.string().default(''),
    /** Root seed: every random draw derives from it. */
    seed: num()
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .default(1),
    backend: z.enum(BACKEND_CHOICES).default('auto'),
    data: z
      .object({
        name: z.enum(DATASETS).default('mnist-embedded'),
        /** Directory for file-based data sets (fashion-mnist). */
        dir: z
          .string()
          .min(1, 'an empty directory name; leave the key out for the default')
          .refine((d) => !d.includes('\0'), 'contains a NUL character')
          .optional(),
        /** Use only the first n training examples (quick runs); 0 = all. */
        trainLimit: num().int().min(0).default(0),
        /** Symmetric label noise on the training split: this fraction of labels flipped to a uniformly drawn other class, seeded by `seed` (src/data/label-noise.ts). */
        labelNoise: fraction.default(0),
      })
      .strict()
      .default({}),
    model: z
      .object({
        arch: z.enum(ARCHITECTURES).default('lenet-300-100'),
        hidden: z.array(posInt(100000)).optional(),
        activation: z.enum(ACTIVATIONS).default('relu'),
        /** Weight initializer (src/nn/init.ts); `torch-default` is PyTorch's nn.Linear / nn.Conv2d default, U(±1/√fan_in) for weights and biases. */
        init: z.enum(INITIALIZERS).default('he-normal'),
      })
      .strict()
      .default({}),
    inference: z
      .object({
        method: z.enum(INFERENCE_METHODS).default('vi'),
        prior: prior.default({ type: 'log-uniform' }),
        /** The ELBO's regularizer: kl, or js-geometric with skew alpha (src/bayes/js-divergence.ts). */
        divergence: divergenceSchema.default({ type: 'kl' }),
        /** Initial log σ² of mean-field layers (Molchanov et al.: −10). */
        initLogSigma2: num().min(-30).max(5).default(-10),
        /** Posterior temperature T: KL weight after warm-up (1 = ELBO, < 1 = cold posterior). */
        temperature: num().gt(0).max(1e6).default(1),
        /** KL warm-up: β = 0 before startEpoch, linear to 1 at endEpoch. */
        warmup: z
          .object({ startEpoch: num().min(0), endEpoch: num().min(0) })
          .strict()
          .optional(),
        /** SWAG options (method swag). */
        swag: swagOptions.default({}),
        /** SVGD options (method svgd). */
        svgd: svgdOptions.default({}),
        /** Diagonal Laplace options (method laplace). */
        laplace: laplaceOptions.default({}),
        /** Gate options (methods l0, spike-slab, unit-gates). */
        gates: gateOptions.default({}),
        /** Network slimming (method slimming; src/pruning/slimming.ts): λ·Σ|γ| while training, then per ratio prune by |γ| globally, compact, fine-tune. */
        slimming: z
          .object({
            /** L1 penalty λ on the batch-norm scales γ (Liu et al. 2017: 1e-4). */
            lambda: num().min(0).max(10).default(1e-4),
            /** Fractions of the batch-normalized channels removed; each gives a compacted companion model `slim-<ratio>`. */
            ratios: z.array(num().gt(0).lt(1)).default([]),
            /** `global`: one |γ| ranking over all layers (the paper); `layer`: the ratio in every layer. */
            scope: z.enum(PRUNING_SCOPES).default('global'),
            /** Global scope: fraction of each layer's channels always kept (≥ 1 channel); the ranking skips a layer at its floor. */
            minKeep: num().min(0).max(1).default(0),
            /** Fine-tuning epochs of each compacted network (0 = none). */
            fineTuneEpochs: num().int().min(0).max(10000).default(0),
            /** Adam learning rate (constant) of the fine-tuning. */
            fineTuneLr: num().gt(0).max(10).default(1e-3),
          })
          .strict()
          .default({}),
        /** PackNet (method packnet; src/pruning/packnet-config.ts): task 2, prune fraction per task, retrain epochs, same-capacity baseline. */
        packnet: packnetOptionsSchema.default({}),
        /** DCFF (method dcff; src/pruning/dcff-config.ts): ratio / keep per conv layer, temperature schedule, FPGM comparison. */
        dcff: dcffOptionsSchema.default({}),
      })
      .strict()
      .default({}),
    train: z
      .object({
        epochs: num().int().min(0).max(10000).default(50),
        batchSize: posInt(65536).default(100),
        optimizer: z
          .object({
            name: z.literal('adam').default('adam'),
            lr: num().gt(0).max(10).default(1e-3),
            schedule: z.enum(LR_SCHEDULES).default('linear'),
            finalFraction: fraction.default(0),
            /** `step` schedule: multiply the learning rate by `gamma` every `every` epochs (unused by the other schedules). */
            every: posInt(100000).default(30),
            gamma: num().gt(0).max(1).default(0.1),
          })
          .strict()
          .default({}),
        /** Save a resumable checkpoint every this many epochs (0 = never). */
        checkpointEvery: num().int().min(0).default(1),
      })
      .strict()
      .default({}),
    eval: z
      .object({
        /** Posterior samples S averaged by the predictive. */
        samples: num().int().min(1).max(10000).default(10),
        batchSize: posInt(100000).default(1000),
        /**
         * Worker threads that evaluate operating points on other cores (src/experiment/eval-pool.ts):
         * a number (0 = main thread only) or `auto` (on the wasm backend one per spare core on curves of
         * 12 points or more; none inside sweep workers, which already fill the cores, or on tfjs-node).
         * The results do not depend on it.
         */
        workers: z
          .union([z.literal('auto'), num().int().min(0).max(64)], { errorMap: () => ({ message: 'must be "auto" or a whole number of threads from 0 to 64' }) })
          .default('auto'),
        /** Which split the curves are measured on. */
        split: z.enum(['test', 'validation']).default('test'),
        /** Out-of-distribution / dataset-shift evaluation (src/experiment/uncertainty-config.ts). */
        ood: oodConfigSchema,
      })
      .strict()
      .default({}),
    pruning: z
      .object({
        criteria: z.array(z.string()).min(1).default(['log-alpha', 'magnitude', 'random']),
        scope: z.enum(PRUNING_SCOPES).default('global'),
        /** Target sparsities (fractions removed) of the curves. */
        sparsities: z.array(num().min(0).lt(1)).min(1).default([0, 0.5, 0.8, 0.9, 0.95, 0.97, 0.98, 0.99]),
        /** Threshold operating point: prune where log α ≥ this (sparse VD uses 3); null = none (the one non-number allowed). */
        logAlphaThreshold: num().nullable().default(3),
        /** N:M semi-structured patterns evaluated for every criterion, e.g. `["2:4", "1:4"]` (keep N of every M consecutive inputs). */
        nm: z
          .array(
            z
              .string()
              .regex(/^\d+:\d+$/, 'an N:M pattern such as "2:4"')
              .refine((p) => {
                const [n, m] = p.split(':').map(Number);
                return n! >= 1 && n! < m!;
              }, 'N:M needs 1 ≤ N < M'),
          )
          .default([]),
        /**
         * First-layer weights fed only by inputs that are 0 in every training example:
         * `as-scored` (rank them as the criterion scores them) or `prune-first` (score −∞ for
         * every criterion but random; the exact posterior over them is the prior, mean 0).
         */
        deadInputs: z.enum(['as-scored', 'prune-first']).default('as-scored'),
        /** Learn-then-Test risk-controlled choice of sparsity (src/experiment/uncertainty-config.ts). */
        riskControl: riskControlConfigSchema,
        /** Structured pruning: remove whole units / channels by their aggregated scores, at these fractions of units. */
        units: z
          .object({
            ratios: z.array(num().gt(0).lt(1)).default([]),
            /** How a unit's weight scores become one score (its column / filter). */
            aggregate: z.enum(['l2', 'l1', 'mean', 'max']).default('l2'),
            scope: z.enum(PRUNING_SCOPES).default('layer'),
            /** Which hidden layers lose units: `all`, `conv` (filters only), `dense`, or a list of layer names. */
            layers: z.union([z.enum(['all', 'conv', 'dense']), z.array(z.string()).min(1)]).default('all'),
          })
          .strict()
          .default({}),
        /** Pruning protocols (post-hoc, fine-tune, iterative, at-init, rigl, sparsegpt), each a curve; see src/experiment/protocol-schema.ts. */
        protocols: protocolsSchema,
        /** Criterion `bmr`'s own operating point prunes every weight whose ΔF₀ ≥ margin (nats; src/scores/bmr.ts, docs/guide.md). */
        bmr: z
          .object({ margin: num().min(0).max(50).default(3) })
          .strict()
          .default({}),
      })
      .strict()
      .default({}),
    /**
     * Further models trained and evaluated in the same run, each the base config with
     * some keys changed (dot paths), e.g. a Gaussian-prior network beside sparse VD.
     */
    variants: z.array(z.object({ name: plainName(), set: z.record(z.unknown()) }).strict()).default([]),
    /**
     * Sweep grid for `bayesprune sweep`: dot path → list of values; every combination is
     * one run, and curves are aggregated over seeds (mean ± std).
     */
    sweep: sweepSchema,
  })
  .strict();

/** A validated experiment config with every default filled in. */
export type ExperimentConfig = z.infer<typeof schema>;

/** A config problem: where, and what is wrong. */
export interface ConfigIssue {
  path: string;
  message: string;
  /** Where the offending value came from when not the config file, e.g. `override train.epochs=-1`. */
  origin?: string;
  /** Which derived config it concerns, e.g. `variant "gaussian-prior"` or `sweep point seed-2`. */
  scope?: string;
}

/** One line of a problem list: `[scope] origin: path: message`. */
export function formatIssue(i: ConfigIssue): string {
  const where = i.path || '(root)';
  const scope = i.scope ? `[${i.scope}] ` : '';
  if (i.origin) {
    const key = i.origin.replace(/^override /, '').split('=')[0];
    return `${scope}${i.origin}: ${key === i.path || i.path === '' ? '' : `${where}: `}${i.message}`;
  }
  return `${scope}${where}: ${i.message}`;
}

/** Thrown when a config is invalid; `issues` lists every problem found. */
export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly issues: ConfigIssue[],
  ) {
    super(`${source}: invalid config (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n` + issues.map((i) => `  - ${formatIssue(i)}`).join('\n'));
    this.name = 'ConfigError';
  }
}

// Suggestions live in src/suggest.ts (dependency-free, for the CLI's fast start); re-exported here.
export { editDistance, closest, didYouMean } from '../suggest.js';

const show = (v: unknown): string => {
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v);
  if (typeof v === 'number') return String(v);
  try {
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 60)}…` : s;
  } catch {
    return String(v);
  }
};

function valueAt(obj: unknown, path: (string | number)[]): unknown {
  let o = obj;
  for (const p of path) {
    if (o === null || typeof o !== 'object' || !Object.hasOwn(o, p)) return undefined;
    o = (o as Record<string | number, unknown>)[p];
  }
  return o;
}

function describeIssue(i: z.ZodIssue, raw: unknown): string {
  switch (i.code) {
    case 'unrecognized_keys': {
      const allowed = allowedKeys(i.path, raw);
      const keys = i.keys.map((k) => `"${k}"${didYouMean(k, allowed)}`).join(', ');
      return `unknown key${i.keys.length > 1 ? 's' : ''} ${keys}; allowed: ${allowed.join(', ') || '(none)'}`;
    }
    case 'invalid_enum_value':
      return `got ${show(i.received)}${didYouMean(String(i.received), i.options.map(String))}; allowed: ${i.options.join(', ')}`;
    case 'invalid_union_discriminator': {
      const got = valueAt(raw, i.path);
      const opts = i.options.map(String);
      return `${got === undefined ? 'required' : `got ${show(got)}${typeof got === 'string' ? didYouMean(got, opts) : ''}`}; allowed: ${opts.join(', ')}`;
    }
    case 'invalid_literal':
      return `got ${show(i.received)}; allowed: ${String(i.expected)}`;
    case 'invalid_string':
      return `got ${show(valueAt(raw, i.path))}; ${i.message}`;
    case 'not_finite':
      return `must be a finite number (got ${show(valueAt(raw, i.path))})`;
    case 'too_small':
      if (i.type === 'string') return i.message;
      return i.type === 'array' ? `needs at least ${i.minimum} entr${i.minimum === 1 ? 'y' : 'ies'}` : `must be ${i.inclusive ? '≥' : '>'} ${i.minimum}`;
    case 'too_big':
      return i.type === 'array' ? `at most ${i.maximum} entries` : `must be ${i.inclusive ? '≤' : '<'} ${i.maximum}`;
    case 'invalid_type':
      if (i.received === 'undefined') return `required (${i.expected})`;
      if (i.received === 'nan') return `must be a finite number (got NaN)`;
      return `expected ${i.expected}, got ${i.received}${i.received === 'string' || i.received === 'number' ? ` ${show(valueAt(raw, i.path))}` : ''}`;
    default:
      return i.message;
  }
}

const unwrapType = (t: z.ZodTypeAny): z.ZodTypeAny => {
  for (;;) {
    if (t instanceof z.ZodDefault || t instanceof z.ZodOptional || t instanceof z.ZodNullable) t = t._def.innerType;
    else if (t instanceof z.ZodEffects) t = t._def.schema;
    else if (t instanceof z.ZodPipeline) t = t._def.out;
    else return t;
  }
};

/** The object schemas a value at `path` may be checked against (a discriminated union picks its option from the raw value). */
function objectsAt(path: (string | number)[], raw: unknown): z.AnyZodObject[] {
  let s: z.ZodTypeAny = schema;
  const expand = (t: z.ZodTypeAny, at: (string | number)[]): z.ZodTypeAny[] => {
    t = unwrapType(t);
    if (t instanceof z.ZodDiscriminatedUnion) {
      const options = [...(t.options as z.AnyZodObject[])];
      const disc = valueAt(raw, [...at, t.discriminator]);
      const pick = options.filter((o) => {
        const lit = unwrapType(o.shape[t.discriminator]);
        return lit instanceof z.ZodLiteral && lit.value === disc;
      });
      return pick.length ? pick : options;
    }
    return [t];
  };
  let cur = expand(s, []);
  for (const [k, p] of path.entries()) {
    const next: z.ZodTypeAny[] = [];
    for (const t of cur) {
      if (t instanceof z.ZodObject && t.shape[p as string]) next.push(...expand(t.shape[p as string], path.slice(0, k + 1)));
      else if (t instanceof z.ZodArray) next.push(...expand(t.element, path.slice(0, k + 1)));
      else if (t instanceof z.ZodRecord) next.push(...expand(t._def.valueType, path.slice(0, k + 1)));
    }
    cur = next;
    s = cur[0] ?? s;
  }
  return cur.filter((t): t is z.AnyZodObject => t instanceof z.ZodObject);
}

/** Known keys of the schema at `path` (for the unknown-key hint); inside a discriminated union, the keys of the chosen option. */
function allowedKeys(path: (string | number)[], raw: unknown = undefined): string[] {
  return [...new Set(objectsAt(path, raw).flatMap((o) => Object.keys(o.shape)))];
}

/** Keys that could alter objects' prototypes; refused anywhere in a config, override or dot path. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** What is wrong with a dot path (empty, empty segment, or a forbidden segment), or undefined. */
export function dotPathProblem(key: string): string | undefined {
  if (key === '') return 'empty key';
  const parts = key.split('.');
  if (parts.some((p) => p === '')) return `"${key}" has an empty segment; write keys as dot paths, e.g. train.epochs`;
  const bad = parts.find((p) => FORBIDDEN_KEYS.has(p));
  if (bad) return `"${bad}" is not allowed in a key (configs are plain data; __proto__, constructor and prototype are refused)`;
  return undefined;
}

/**
 * Set `value` at dot path `key` in a plain object, creating objects on the way. Refuses
 * empty segments and `__proto__` / `constructor` / `prototype` with a {@link ConfigError}.
 */
export function setPath(obj: Record<string, unknown>, key: string, value: unknown, origin?: string): void {
  const why = dotPathProblem(key);
  if (why) throw new ConfigError(origin ?? 'dot path', [{ path: key, message: why, origin }]);
  const parts = key.split('.');
  let o: Record<string, unknown> = obj;
  for (const p of parts.slice(0, -1)) {
    const cur = Object.hasOwn(o, p) ? o[p] : undefined;
    if (cur === undefined || cur === null || typeof cur !== 'object') {
      const fresh: Record<string, unknown> = {};
      Object.defineProperty(o, p, { value: fresh, writable: true, enumerable: true, configurable: true });
      o = fresh;
    } else o = cur as Record<string, unknown>;
  }
  Object.defineProperty(o, parts.at(-1)!, { value, writable: true, enumerable: true, configurable: true });
}

/** One `key=value` override: the dot path, the value read as YAML, and the text as typed. */
export type Override = [key: string, value: unknown, text?: string];

function parseOverride(a: string): { override?: Override; issue?: ConfigIssue } {
  const origin = `override ${a.length > 80 ? `${a.slice(0, 80)}…` : a}`;
  const eq = a.indexOf('=');
  if (eq <= 0) return { issue: { path: '', message: 'overrides are written key=value, e.g. train.epochs=5', origin } };
  const key = a.slice(0, eq);
  const text = a.slice(eq + 1);
  const why = dotPathProblem(key);
  if (why) return { issue: { path: key, message: why, origin } };
  try {
    return { override: [key, YAML.parse(text), a] };
  } catch (e) {
    const first = (e as Error).message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    const hint = /^[[{]/.test(text.trim()) ? `; close the ${text.trim()[0] === '[' ? 'list, e.g. [0.5, 0.9]' : 'mapping, e.g. {a: 1}'}` : '; quote it';
    return { issue: { path: key, message: `the value ${show(text)} is not valid YAML (${first})${hint}`, origin } };
  }
}

/** Parse `key=value` overrides; values are read as YAML scalars/flow values (`3`, `true`, `[0.5, 0.9]`). Throws one {@link ConfigError} listing every bad one. */
export function parseOverrides(args: string[]): Override[] {
  const out: Override[] = [];
  const issues: ConfigIssue[] = [];
  for (const a of args) {
    const r = parseOverride(a);
    if (r.override) out.push(r.override);
    if (r.issue) issues.push(r.issue);
  }
  if (issues.length) throw new ConfigError('command line', issues);
  return out;
}

/** A deep copy of plain data (objects, arrays, scalars), dropping forbidden keys; the copy's objects are fresh plain objects. */
function cloneData(v: unknown, depth = 0): unknown {
  if (v === null || typeof v !== 'object' || depth > 64) return v;
  if (Array.isArray(v)) return v.map((x) => cloneData(x, depth + 1));
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) {
    if (FORBIDDEN_KEYS.has(k)) continue;
    Object.defineProperty(out, k, { value: cloneData((v as Record<string, unknown>)[k], depth + 1), writable: true, enumerable: true, configurable: true });
  }
  return out;
}

/** Forbidden keys anywhere in raw data, and nesting deeper than any config needs. */
function scanKeys(v: unknown, path: string[], issues: ConfigIssue[], depth = 0): void {
  if (v === null || typeof v !== 'object') return;
  if (depth > 32) {
    issues.push({ path: path.join('.'), message: 'nested too deeply for a config' });
    return;
  }
  const entries = Array.isArray(v) ? v.map((x, i) => [String(i), x] as const) : Object.keys(v).map((k) => [k, (v as Record<string, unknown>)[k]] as const);
  for (const [k, x] of entries) {
    if (FORBIDDEN_KEYS.has(k))
      issues.push({ path: path.join('.'), message: `key "${k}" is not allowed (configs are plain data; __proto__, constructor and prototype are refused)` });
    else scanKeys(x, [...path, k], issues, depth + 1);
  }
}

/** The full dot path of the value an issue is about (an unknown key's issue is reported at its parent). */
const offendingKey = new WeakMap<ConfigIssue, string>();

const related = (a: string, b: string) => a === b || (a !== '' && b !== '' && (a.startsWith(`${b}.`) || b.startsWith(`${a}.`)));

function deleteAt(obj: unknown, path: (string | number)[]): boolean {
  if (!path.length) return false;
  const parent = valueAt(obj, path.slice(0, -1));
  if (parent === null || typeof parent !== 'object') return false;
  const last = path.at(-1)!;
  if (Array.isArray(parent) && typeof last === 'number') parent[last] = REMOVED;
  else delete (parent as Record<string | number, unknown>)[last];
  return true;
}
const REMOVED = Symbol('removed');
function dropRemoved(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.filter((x) => x !== REMOVED).map(dropRemoved);
  for (const k of Object.keys(v)) (v as Record<string, unknown>)[k] = dropRemoved((v as Record<string, unknown>)[k]);
  return v;
}

/** The cross-field checks: each names the keys it reads, and is skipped when one of them had to be repaired. */
const CROSS_CHECKS: { uses: string[]; check: (c: ExperimentConfig, add: (path: string, message: string) => void) => void }[] = [
  { uses: ['pruning.protocols', 'inference.method', 'model.arch'], check: (c, add) => protocolIssues(c).forEach((i) => add(i.path, i.message)) },
  { uses: ['inference.divergence', 'inference.method', 'inference.prior'], check: (c, add) => divergenceIssues(c).forEach((i) => add(i.path, i.message)) },
  { uses: ['inference.method', 'model.arch', 'model.activation'], check: (c, add) => packnetIssues(c).forEach((i) => add(i.path, i.message)) },
  { uses: ['inference.method', 'model.arch', 'inference.dcff'], check: (c, add) => dcffIssues(c).forEach((i) => add(i.path, i.message)) },
  {
    uses: ['pruning.criteria'],
    check: (c, add) => {
      const known = criterionNames();
      c.pruning.criteria.forEach((name, i) => {
        if (!known.includes(name)) add(`pruning.criteria.${i}`, `unknown criterion ${show(name)}${didYouMean(name, known)}; allowed: ${known.join(', ')}`);
      });
    },
  },
  {
    uses: ['model.init', 'inference.method'],
    check: (c, add) => {
      // Only the point-estimate layers (Dense, Conv2d) draw biases; the other methods' layers keep zero biases.
      const pointMethods = ['map', 'swag', 'svgd', 'laplace', 'laplace-last-layer'];
      if (BIAS_DRAWING_INITIALIZERS.includes(c.model.init) && !pointMethods.includes(c.inference.method))
        add(
          'model.init',
          `"${c.model.init}" draws biases too, which only the point-estimate layers of inference.method ${pointMethods.join(', ')} do (got "${c.inference.method}"); use ${INITIALIZERS.filter((k) => !BIAS_DRAWING_INITIALIZERS.includes(k)).join(', ')}`,
        );
    },
  },
  {
    uses: ['inference.laplace', 'inference.method'],
    check: (c, add) => {
      const l = c.inference.laplace;
      if (!l.mapPrior) return;
      if (c.inference.method !== 'laplace') add('inference.laplace.mapPrior', `applies to inference.method laplace only (got "${c.inference.method}")`);
      if (l.priorPrecisions.length !== 1)
        add(
          'inference.laplace.mapPrior',
          `the MAP is trained under one prior precision: inference.laplace.priorPrecisions must have one value, got ${l.priorPrecisions.length}`,
        );
    },
  },
  {
    uses: ['model.arch', 'model.hidden'],
    check: (c, add) => {
      if (c.model.arch === 'lenet-300-100' && c.model.hidden) add('model.hidden', 'lenet-300-100 has fixed widths [300, 100]; use arch: mlp to choose them');
    },
  },
  {
    uses: ['inference.warmup'],
    check: (c, add) => {
      const w = c.inference.warmup;
      if (w && w.endEpoch < w.startEpoch) add('inference.warmup.endEpoch', `must be ≥ startEpoch (${w.startEpoch})`);
    },
  },
  {
    uses: ['inference.method', 'pruning.criteria'],
    check: (c, add) => {
      if (c.inference.method === 'map') {
        const bayesOnly = c.pruning.criteria.filter((n) => n === 'snr' || n === 'log-alpha');
        if (bayesOnly.length) add('pruning.criteria', `${bayesOnly.join(', ')} need posterior variances; inference.method "map" has none`);
      }
      const gated = ['l0', 'spike-slab', 'unit-gates'].includes(c.inference.method);
      if (!gated && c.pruning.criteria.includes('inclusion'))
        add('pruning.criteria', `inclusion needs gates; inference.method "${c.inference.method}" has none (use l0, spike-slab or unit-gates)`);
    },
  },
  {
    uses: ['inference.method', 'inference.gates.granularity'],
    check: (c, add) => {
      const gran = c.inference.gates.granularity;
      if (c.inference.method === 'l0' && (gran === 'edge' || gran === 'node'))
        add('inference.gates.granularity', `l0 gates are weight, input or output (got "${gran}")`);
      if (c.inference.method === 'spike-slab' && gran === 'input') add('inference.gates.granularity', 'spike-slab gates are edge (weight) or node (output)');
      if (c.inference.method === 'unit-gates' && gran && gran !== 'node' && gran !== 'output')
        add('inference.gates.granularity', 'unit-gates gate output units (node)');
    },
  },
  {
    uses: ['model.arch', 'inference.method', 'pruning.criteria'],
    check: (c, add) => {
      if (c.model.arch === 'lenet-5-caffe' && (c.inference.method === 'spike-slab' || c.inference.method === 'unit-gates'))
        add('model.arch', `lenet-5-caffe needs conv layers, which inference.method "${c.inference.method}" does not provide (use vi, map or l0)`);
      if (c.inference.method === 'slimming' && c.model.arch !== 'bn-cnn')
        add(
          'model.arch',
          `inference.method "slimming" prunes channels by their batch-norm scales; use bn-cnn, the architecture with batch norm (got "${c.model.arch}")`,
        );
      if (c.model.arch === 'bn-cnn' && !['map', 'vi', 'swag', 'slimming', 'dcff'].includes(c.inference.method))
        add('model.arch', `bn-cnn (batch norm) runs with inference.method map, vi, swag, slimming or dcff (got "${c.inference.method}")`);
      if (c.model.arch !== 'bn-cnn' && c.pruning.criteria.includes('bn-scale'))
        add('pruning.criteria', `bn-scale ranks channels by their batch-norm scales; model.arch "${c.model.arch}" has no batch norm (use bn-cnn)`);
    },
  },
  {
    uses: ['variants'],
    check: (c, add) => {
      const names = new Set<string>();
      c.variants.forEach((v, i) => {
        if (names.has(v.name) || v.name === 'main') add(`variants.${i}.name`, `"${v.name}" is used twice (or is the reserved name "main")`);
        names.add(v.name);
      });
    },
  },
];

/**
 * Check raw config data in one pass: the schema, and the cross-field checks on whatever
 * parts are valid (an invalid value is set aside, its default used in its place, and the
 * checks that read it are skipped), so two problems in different stages are both reported.
 */
function checkOne(raw: unknown): { config?: ExperimentConfig; issues: ConfigIssue[]; repaired: string[] } {
  const issues: ConfigIssue[] = [];
  scanKeys(raw, [], issues);
  let work = cloneData(raw);
  const repaired: string[] = issues.map((i) => i.path);
  const seen = new Set<string>();
  let data: ExperimentConfig | undefined;
  for (let round = 0; round < 12; round++) {
    const r = schema.safeParse(work);
    if (r.success) {
      data = r.data;
      break;
    }
    let progress = false;
    // A non-finite number fails every bound check as well; its one message is that it is not finite.
    const nonFinite = new Set(r.error.issues.filter((i) => i.code === 'not_finite').map((i) => i.path.join('.')));
    for (const i of r.error.issues) {
      const path = i.path.join('.');
      if (nonFinite.has(path) && i.code !== 'not_finite') continue;
      // One line per unknown key, each with its own suggestion; the key itself is what an override may have set.
      const found =
        i.code === 'unrecognized_keys'
          ? i.keys.map((k) => ({ full: path ? `${path}.${k}` : k, message: describeIssue({ ...i, keys: [k] }, work) }))
          : [{ full: path, message: describeIssue(i, work) }];
      for (const { full, message } of found) {
        const fresh = round === 0 || !repaired.some((p) => related(p, full));
        if (fresh && !seen.has(`${path}\0${message}`)) {
          seen.add(`${path}\0${message}`);
          const issue: ConfigIssue = { path, message };
          offendingKey.set(issue, full);
          issues.push(issue);
        }
        repaired.push(full);
      }
      // Set the offending value aside: unknown keys are dropped, a bad discriminator drops its object,
      // a required key gets a placeholder, a bad array entry drops the array.
      const firstIndex = i.path.findIndex((p) => typeof p === 'number');
      if (i.code === 'unrecognized_keys') {
        const o = valueAt(work, i.path);
        if (o && typeof o === 'object') for (const k of i.keys) delete (o as Record<string, unknown>)[k];
        progress = true;
      } else if (i.code === 'invalid_union_discriminator') progress = deleteAt(work, i.path.slice(0, -1)) || progress;
      else if (i.code === 'invalid_type' && i.received === 'undefined' && i.path.length === 1 && i.path[0] === 'experiment') {
        (work as Record<string, unknown>).experiment = 'unnamed';
        progress = true;
      } else if (i.code === 'invalid_type' && i.received === 'undefined') progress = deleteAt(work, i.path.slice(0, -1)) || progress;
      else if (i.path.length === 1 && i.path[0] === 'experiment') {
        (work as Record<string, unknown>).experiment = 'unnamed';
        progress = true;
      } else if (firstIndex > 0 && i.path[0] !== 'variants') progress = deleteAt(work, i.path.slice(0, firstIndex)) || progress;
      else progress = deleteAt(work, i.path) || progress;
    }
    work = dropRemoved(work);
    if (!progress) break;
  }
  if (data) {
    const c = data;
    for (const x of CROSS_CHECKS) {
      if (x.uses.some((u) => repaired.some((p) => related(p, u)))) continue;
      x.check(c, (path, message) => issues.push({ path, message }));
    }
  }
  return { config: data, issues, repaired };
}

/** Attribute issues to the overrides that set their keys (the last one wins). */
function blame(issues: ConfigIssue[], overrides: Override[]): ConfigIssue[] {
  return issues.map((i) => {
    if (i.origin || i.scope) return i;
    for (let k = overrides.length - 1; k >= 0; k--) {
      const [key, , text] = overrides[k]!;
      const full = offendingKey.get(i) ?? i.path;
      if (full !== '' && related(full, key)) return { ...i, origin: `override ${text ?? `${key}=${show(overrides[k]![1])}`}` };
    }
    return i;
  });
}

function checkWithVariants(raw: unknown, overrides: Override[] = []): { config?: ExperimentConfig; issues: ConfigIssue[] } {
  const base = checkOne(raw);
  const issues = blame(base.issues, overrides);
  const key = (i: ConfigIssue) => `${i.path}\0${i.message}`;
  const baseKeys = new Set(base.issues.map(key));
  // Every variant, against the base with its problems set aside.
  const rawVariants = (raw as { variants?: unknown })?.variants;
  if (Array.isArray(rawVariants)) {
    rawVariants.forEach((v, idx) => {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) return;
      const { name, set } = v as { name?: unknown; set?: unknown };
      if (typeof name !== 'string' || !NAME_PATTERN.test(name) || set === null || typeof set !== 'object' || Array.isArray(set)) return;
      const scope = `variant "${name}"`;
      const r = variantRaw(raw, set as Record<string, unknown>);
      if (r.issues.length) {
        issues.push(...r.issues.map((i) => ({ ...i, path: i.path, scope })));
        return;
      }
      for (const i of checkOne(r.raw).issues) if (!baseKeys.has(key(i))) issues.push({ ...i, scope });
      void idx;
    });
  }
  return { config: issues.length ? undefined : base.config, issues };
}

function variantRaw(base: unknown, set: Record<string, unknown>): { raw: Record<string, unknown>; issues: ConfigIssue[] } {
  const raw = cloneData(base) as Record<string, unknown>;
  raw.variants = [];
  const issues: ConfigIssue[] = [];
  for (const k of Object.keys(set)) {
    if (k === 'variants' || k.startsWith('variants.')) {
      issues.push({ path: k, message: 'variants cannot nest' });
      continue;
    }
    const why = dotPathProblem(k);
    if (why) issues.push({ path: k, message: why });
    else setPath(raw, k, cloneData(set[k]));
  }
  return { raw, issues };
}

/**
 * Validate a raw config object and every variant of it; throws one {@link ConfigError}
 * listing every problem (schema, cross-field and variants together).
 */
export function validateConfig(raw: unknown, source = 'config'): ExperimentConfig {
  const r = checkWithVariants(raw);
  if (r.issues.length || !r.config) throw new ConfigError(source, r.issues);
  return r.config;
}

/** The config of a variant: the base config with the variant's keys set, validated again. */
export function variantConfig(base: ExperimentConfig, variant: { name: string; set: Record<string, unknown> }): ExperimentConfig {
  const source = `variant "${variant.name}"`;
  const r = variantRaw(base, variant.set);
  if (r.issues.length) throw new ConfigError(source, r.issues);
  return validateConfig(r.raw, source);
}

/** Largest config file read (bytes); a config is a few kilobytes. */
export const MAX_CONFIG_BYTES = 1 << 20;

/** Read a config file's text, turning file-system errors into one plain line naming the path. */
function readConfigText(path: string): string {
  if (typeof path !== 'string' || path === '') throw new ConfigError('command line', [{ path: '', message: 'the config file name is empty' }]);
  if (path.includes('\0')) throw new ConfigError(JSON.stringify(path), [{ path: '', message: 'the file name contains a NUL character' }]);
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch (e) {
    const code = errnoCode(e);
    if (code === 'ENOENT') throw new ConfigError(path, [{ path: '', message: 'config file not found' }]);
    throw new ConfigError(path, [{ path: '', message: `cannot read the config file: ${fsErrorMessage(e, path).replace(`${path}: `, '')}` }]);
  }
  if (st.isDirectory()) throw new ConfigError(path, [{ path: '', message: 'is a directory, not a config file' }]);
  if (!st.isFile()) throw new ConfigError(path, [{ path: '', message: 'is not a regular file' }]);
  if (st.size > MAX_CONFIG_BYTES)
    throw new ConfigError(path, [
      { path: '', message: `is ${(st.size / 2 ** 20).toFixed(1)} MiB; a config file is at most ${MAX_CONFIG_BYTES / 2 ** 20} MiB` },
    ]);
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(path, [{ path: '', message: `cannot read the config file: ${fsErrorMessage(e, path).replace(`${path}: `, '')}` }]);
  }
}

/** Parse config text (YAML or JSON) into a mapping; errors name the file and the line. */
export function parseConfigText(text: string, path: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = YAML.parse(text);
  } catch (e) {
    throw new ConfigError(path, [{ path: '', message: `not valid YAML: ${(e as Error).message.split('\n')[0]}` }]);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new ConfigError(path, [{ path: '', message: 'a config is a mapping of keys (experiment, data, model, ...)' }]);
  return raw as Record<string, unknown>;
}

/**
 * Read a YAML (or JSON) config file, apply overrides (parsed ones, or `key=value` strings),
 * validate the config and every variant. Throws one {@link ConfigError} listing every
 * problem of the file, the overrides and the variants; a problem caused by an override
 * names the override.
 */
export function loadConfig(path: string, overrides: (Override | string)[] = []): ExperimentConfig {
  const parsed: Override[] = [];
  const overrideIssues: ConfigIssue[] = [];
  for (const o of overrides) {
    if (typeof o === 'string') {
      const r = parseOverride(o);
      if (r.override) parsed.push(r.override);
      if (r.issue) overrideIssues.push(r.issue);
    } else {
      const why = dotPathProblem(o[0]);
      if (why) overrideIssues.push({ path: o[0], message: why, origin: `override ${o[2] ?? o[0]}` });
      else parsed.push(o);
    }
  }
  let raw: Record<string, unknown>;
  try {
    raw = parseConfigText(readConfigText(path), path);
  } catch (e) {
    if (e instanceof ConfigError && overrideIssues.length) throw new ConfigError(e.source, [...e.issues, ...overrideIssues]);
    throw e;
  }
  const fileIssues: ConfigIssue[] = [];
  scanKeys(raw, [], fileIssues);
  raw = cloneData(raw) as Record<string, unknown>;
  for (const [k, v] of parsed) setPath(raw, k, cloneData(v));
  const r = checkWithVariants(raw, parsed);
  const issues = [...overrideIssues, ...fileIssues.filter((f) => !r.issues.some((i) => i.path === f.path && i.message === f.message)), ...r.issues];
  if (issues.length) throw new ConfigError(issues.every((i) => i.origin) ? 'command line' : path, issues);
  return r.config!;
}

/**
 * Everything `validate` checks beyond {@link loadConfig}: when the config has a sweep, every
 * sweep point (with its variants), through the sweep's own expansion (`sweepPoints`), all
 * problems of all points in one {@link ConfigError}. Returns the number of sweep points (0: no sweep).
 */
export async function validateAll(cfg: ExperimentConfig, source = 'config'): Promise<number> {
  void source;
  if (!expandValues(cfg.sweep).length) return 0;
  const { sweepPoints } = await import('./sweep.js');
  return sweepPoints(cfg).length;
}

/**
 * Settings a method derives from others when they are not set, as they will run
 * (documented, not stored in the config: a variant or sweep point that changes the
 * deciding key gets its own derived value). `validate` prints them beside the config.
 */
export function derivedSettings(c: ExperimentConfig): { key: string; value: unknown; because: string }[] {
  const out: { key: string; value: unknown; because: string }[] = [];
  const m = c.inference.method;
  if (c.model.arch === 'mlp' && c.model.hidden === undefined) out.push({ key: 'model.hidden', value: [300, 100], because: 'model.arch is mlp' });
  if (m === 'swag' && c.inference.swag.scale === undefined) {
    const v = c.inference.swag.variant;
    out.push({ key: 'inference.swag.scale', value: v === 'swa' ? 0 : v === 'swag' ? 0.5 : 1, because: `inference.swag.variant is ${v}` });
  }
  if (m === 'swag' && c.inference.swag.variant === 'swa' && c.inference.swag.scale !== undefined && c.inference.swag.scale !== 0)
    out.push({ key: 'inference.swag.scale', value: 0, because: 'swa is the mean only (the scale is ignored)' });
  if (m === 'l0' || m === 'spike-slab' || m === 'unit-gates') {
    if (c.inference.gates.granularity === undefined)
      out.push({ key: 'inference.gates.granularity', value: m === 'l0' ? 'input' : 'output', because: `inference.method is ${m}` });
    if (c.inference.gates.removal === undefined)
      out.push({
        key: 'inference.gates.removal',
        value: m === 'unit-gates' ? { threshold: 0.01, patience: 3 } : null,
        because: `inference.method is ${m}`,
      });
  }
  return out;
}

export { schema as configSchema };
