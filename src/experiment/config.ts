/**
 * The experiment config: one schema is the single source of truth. It validates
 * configs (every problem reported with its key path and what is allowed), fills
 * documented defaults, and the TypeScript type {@link ExperimentConfig} is derived from it.
 * @module
 */
import { readFileSync, existsSync } from 'node:fs';
import { z } from 'zod';
import YAML from 'yaml';
import { BACKEND_CHOICES } from '../backend.js';
import { DATASETS } from '../data/registry.js';
import { ARCHITECTURES } from '../nn/builders.js';
import { ACTIVATIONS } from '../nn/activations.js';
import { INITIALIZERS } from '../nn/init.js';
import { LR_SCHEDULES } from '../inference/schedules.js';
import { PRUNING_SCOPES } from '../pruning/masks.js';
import { criterionNames } from '../scores/registry.js';

/**
 * A name used as a file or directory name (experiment, variant): letters, digits, ".", "_"
 * and "-", not starting with "." (so never "." or ".."), at most 128 characters.
 */
export const NAME_PATTERN = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;
const NAME_RULE = 'letters, digits, ".", "_" and "-" only, not starting with "." (at most 128 characters)';
const plainName = () => z.string().regex(NAME_PATTERN, NAME_RULE);

const posInt = (max: number) => z.number().int().min(1).max(max);
const fraction = z.number().min(0).max(1);

const prior = z.discriminatedUnion('type', [
  z.object({ type: z.literal('log-uniform') }).strict(),
  z.object({ type: z.literal('gaussian'), sigma: z.number().positive().default(1) }).strict(),
  z
    .object({
      type: z.literal('scale-mixture'),
      pi: z.number().gt(0).lt(1).default(0.5),
      sigma1: z.number().positive().default(1),
      sigma2: z.number().positive().default(Math.exp(-6)),
    })
    .strict(),
]);

/** Inference methods available in this build (`inference.method`). */
export const INFERENCE_METHODS = ['vi', 'map', 'swag', 'svgd', 'laplace', 'l0', 'spike-slab', 'unit-gates'] as const;

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
    lr: z.number().gt(0).max(10).default(0.05),
    /** SGD learning rate of the collection phase (keep it high enough for the iterates to move). */
    swaLr: z.number().gt(0).max(10).default(0.02),
    momentum: z.number().min(0).lt(1).default(0.9),
    /** L2 weight decay wd (loss + ½·wd·‖θ‖², all parameters). */
    weightDecay: z.number().min(0).max(1).default(1e-4),
    /** 0 = collect once per epoch; c > 0 = every c SGD steps. */
    collectEvery: z.number().int().min(0).default(0),
    /** K, the number of deviation columns of the low-rank part. */
    rank: z.number().int().min(2).max(1000).default(20),
    /** Sampling scale; default by variant (swag 0.5, swag-diag 1; swa always 0). */
    scale: z.number().min(0).max(100).optional(),
    /**
     * Further models from the same SGD trajectory, reported beside the main one: `swa`,
     * `swag-diag`, and `sgd` (the iterate SWAG starts from, at the end of the burn-in).
     */
    companions: z.array(z.enum(['swa', 'swag-diag', 'sgd'])).default([]),
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
    particles: z.number().int().min(2).max(1000).default(20),
    /** Step size of the RMSProp-like update (reference 1e-3). */
    stepSize: z.number().gt(0).max(10).default(1e-3),
    /** Decay α of the squared-step history (reference 0.9). */
    alpha: z.number().gt(0).lt(1).default(0.9),
    /** Gaussian prior N(0, σ²) on every weight and bias. */
    priorSigma: z.number().positive().default(1),
    /** `shared`: one initial network jittered per particle (one mode: meaningful per-weight moments); `independent`: n initial draws. */
    init: z.enum(['shared', 'independent']).default('shared'),
    /** Jitter of the shared init, relative to the RMS of the initial weights. */
    initSpread: z.number().min(0).max(10).default(0.1),
  })
  .strict();

const laplaceOptions = z
  .object({
    /** Diagonal curvature: exact GGN (= true Fisher for softmax), empirical Fisher, or MC Fisher. */
    curvature: z.enum(['ggn', 'ef', 'mc-fisher']).default('ggn'),
    /** Prior precisions searched on the validation NLL (one value: fixed). */
    priorPrecisions: z.array(z.number().positive()).min(1).default([1e-4, 1e-3, 1e-2, 1e-1, 1, 10, 100, 1e3, 1e4]),
    /** MC samples of the grid-search predictive. */
    gridSamples: z.number().int().min(1).max(1000).default(10),
    /** Validation examples used by the grid search (0 = all). */
    gridExamples: z.number().int().min(0).default(1000),
    /** Training examples used for the curvature (0 = all; a subset is rescaled by N/n). */
    curvatureExamples: z.number().int().min(0).default(0),
    /** Batch size of the curvature and grid passes. */
    batchSize: posInt(65536).default(250),
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
    lambda: z.number().min(0).max(1e6).default(0.1),
    /** Initial gate drop rate p of hard-concrete gates: log α = log(1 − p) − log p (l0). */
    initDropRate: z.number().gt(0).lt(1).default(0.2),
    /** Temperature τ of the binary-concrete relaxation (spike-slab, unit-gates); not the KL temperature. */
    concreteTemperature: z.number().gt(0).max(100).default(0.5),
    /** Prior inclusion probability λ of spike-and-slab / unit gates. */
    priorInclusion: z.number().gt(0).lt(1).default(1e-3),
    /** Initial inclusion probability φ. */
    initInclusion: z.number().gt(0).lt(1).default(0.99),
    /** Slab prior σ0 (spike-slab) / wide mixture component σ1 (unit-gates). */
    slabSigma: z.number().positive().default(1),
    /** Narrow mixture component σ2 of the unit-gates prior (the spike). */
    spikeSigma: z.number().min(0).default(1e-3),
    /**
     * Remove units whose P(gate ≠ 0) stays below `threshold` for `patience` consecutive
     * epoch-end checks, while training goes on (default on for unit-gates, off otherwise;
     * null turns it off).
     */
    removal: z
      .object({ threshold: z.number().gt(0).lt(1).default(0.01), patience: z.number().int().min(1).max(1000).default(3) })
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
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .default(1),
    backend: z.enum(BACKEND_CHOICES).default('auto'),
    data: z
      .object({
        name: z.enum(DATASETS).default('mnist-embedded'),
        /** Directory for file-based data sets (fashion-mnist). */
        dir: z.string().optional(),
        /** Use only the first n training examples (quick runs); 0 = all. */
        trainLimit: z.number().int().min(0).default(0),
      })
      .strict()
      .default({}),
    model: z
      .object({
        arch: z.enum(ARCHITECTURES).default('lenet-300-100'),
        hidden: z.array(posInt(100000)).optional(),
        activation: z.enum(ACTIVATIONS).default('relu'),
        init: z.enum(INITIALIZERS).default('he-normal'),
      })
      .strict()
      .default({}),
    inference: z
      .object({
        method: z.enum(INFERENCE_METHODS).default('vi'),
        prior: prior.default({ type: 'log-uniform' }),
        /** Initial log σ² of mean-field layers (Molchanov et al.: −10). */
        initLogSigma2: z.number().min(-30).max(5).default(-10),
        /** Posterior temperature T: KL weight after warm-up (1 = ELBO, < 1 = cold posterior). */
        temperature: z.number().gt(0).max(1e6).default(1),
        /** KL warm-up: β = 0 before startEpoch, linear to 1 at endEpoch. */
        warmup: z
          .object({ startEpoch: z.number().min(0), endEpoch: z.number().min(0) })
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
      })
      .strict()
      .default({}),
    train: z
      .object({
        epochs: z.number().int().min(0).max(10000).default(50),
        batchSize: posInt(65536).default(100),
        optimizer: z
          .object({
            name: z.literal('adam').default('adam'),
            lr: z.number().gt(0).max(10).default(1e-3),
            schedule: z.enum(LR_SCHEDULES).default('linear'),
            finalFraction: fraction.default(0),
            every: posInt(100000).optional(),
            gamma: z.number().gt(0).max(1).optional(),
          })
          .strict()
          .default({}),
        /** Save a resumable checkpoint every this many epochs (0 = never). */
        checkpointEvery: z.number().int().min(0).default(1),
      })
      .strict()
      .default({}),
    eval: z
      .object({
        /** Posterior samples S averaged by the predictive. */
        samples: z.number().int().min(1).max(10000).default(10),
        batchSize: posInt(100000).default(1000),
        /** Which split the curves are measured on. */
        split: z.enum(['test', 'validation']).default('test'),
      })
      .strict()
      .default({}),
    pruning: z
      .object({
        criteria: z.array(z.string()).min(1).default(['log-alpha', 'magnitude', 'random']),
        scope: z.enum(PRUNING_SCOPES).default('global'),
        /** Target sparsities (fractions removed) of the curves. */
        sparsities: z.array(z.number().min(0).lt(1)).min(1).default([0, 0.5, 0.8, 0.9, 0.95, 0.97, 0.98, 0.99]),
        /** Threshold operating point: prune where log α ≥ this (sparse VD uses 3); null = none. */
        logAlphaThreshold: z.number().nullable().default(3),
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
        /** Structured pruning: remove whole units / channels by their aggregated scores, at these fractions of units. */
        units: z
          .object({
            ratios: z.array(z.number().gt(0).lt(1)).default([]),
            /** How a unit's weight scores become one score (its column / filter). */
            aggregate: z.enum(['l2', 'l1', 'mean', 'max']).default('l2'),
            scope: z.enum(PRUNING_SCOPES).default('layer'),
          })
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
    sweep: z.record(z.array(z.unknown()).min(1)).default({}),
  })
  .strict();

/** A validated experiment config with every default filled in. */
export type ExperimentConfig = z.infer<typeof schema>;

/** A config problem: where, and what is wrong. */
export interface ConfigIssue {
  path: string;
  message: string;
}

/** Thrown when a config is invalid; `issues` lists every problem found. */
export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly issues: ConfigIssue[],
  ) {
    super(
      `${source}: invalid config (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n` +
        issues.map((i) => `  - ${i.path || '(root)'}: ${i.message}`).join('\n'),
    );
    this.name = 'ConfigError';
  }
}

function describeIssue(i: z.ZodIssue): string {
  switch (i.code) {
    case 'unrecognized_keys':
      return `unknown key${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `"${k}"`).join(', ')}`;
    case 'invalid_enum_value':
      return `got "${String(i.received)}"; allowed: ${i.options.join(', ')}`;
    case 'invalid_union_discriminator':
      return `allowed: ${i.options.map(String).join(', ')}`;
    case 'too_small':
      return i.type === 'array' ? `needs at least ${i.minimum} entr${i.minimum === 1 ? 'y' : 'ies'}` : `must be ${i.inclusive ? '≥' : '>'} ${i.minimum}`;
    case 'too_big':
      return i.type === 'array' ? `at most ${i.maximum} entries` : `must be ${i.inclusive ? '≤' : '<'} ${i.maximum}`;
    case 'invalid_type':
      return i.received === 'undefined' ? `required (${i.expected})` : `expected ${i.expected}, got ${i.received}`;
    default:
      return i.message;
  }
}

/** Known keys of the schema at every object level, for the unknown-key hint. */
function allowedKeys(path: (string | number)[]): string[] {
  const unwrap = (t: z.ZodTypeAny): z.ZodTypeAny => {
    for (;;) {
      if (t instanceof z.ZodDefault || t instanceof z.ZodOptional || t instanceof z.ZodNullable) t = t._def.innerType;
      else if (t instanceof z.ZodEffects) t = t._def.schema;
      else return t;
    }
  };
  let s: z.ZodTypeAny = schema;
  for (const p of path) {
    s = unwrap(s);
    if (s instanceof z.ZodObject) s = s.shape[p as string];
    else if (s instanceof z.ZodArray) s = s.element;
    else return [];
    if (!s) return [];
  }
  s = unwrap(s);
  return s instanceof z.ZodObject ? Object.keys(s.shape) : [];
}

/** Set `value` at dot path `key` in a plain object, creating objects on the way. */
export function setPath(obj: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split('.');
  let o: Record<string, unknown> = obj;
  for (const p of parts.slice(0, -1)) {
    if (o[p] === undefined || o[p] === null || typeof o[p] !== 'object') o[p] = {};
    o = o[p] as Record<string, unknown>;
  }
  o[parts.at(-1)!] = value;
}

/** Parse `key=value` overrides; values are read as YAML scalars/flow values (`3`, `true`, `[0.5, 0.9]`). */
export function parseOverrides(args: string[]): [string, unknown][] {
  return args.map((a) => {
    const eq = a.indexOf('=');
    if (eq <= 0) throw new ConfigError('command line', [{ path: a, message: 'overrides are written key=value, e.g. train.epochs=5' }]);
    return [a.slice(0, eq), YAML.parse(a.slice(eq + 1))];
  });
}

/** Validate a raw config object; throws {@link ConfigError} listing every problem. */
export function validateConfig(raw: unknown, source = 'config'): ExperimentConfig {
  const r = schema.safeParse(raw);
  const issues: ConfigIssue[] = [];
  if (!r.success) {
    for (const i of r.error.issues) {
      let message = describeIssue(i);
      if (i.code === 'unrecognized_keys') message += `; allowed: ${allowedKeys(i.path).join(', ')}`;
      issues.push({ path: i.path.join('.'), message });
    }
    throw new ConfigError(source, issues);
  }
  const c = r.data;
  const known = criterionNames();
  c.pruning.criteria.forEach((name, i) => {
    if (!known.includes(name)) issues.push({ path: `pruning.criteria.${i}`, message: `unknown criterion "${name}"; allowed: ${known.join(', ')}` });
  });
  if (c.model.arch === 'lenet-300-100' && c.model.hidden)
    issues.push({ path: 'model.hidden', message: 'lenet-300-100 has fixed widths [300, 100]; use arch: mlp to choose them' });
  if (c.inference.warmup && c.inference.warmup.endEpoch < c.inference.warmup.startEpoch) {
    issues.push({ path: 'inference.warmup.endEpoch', message: `must be ≥ startEpoch (${c.inference.warmup.startEpoch})` });
  }
  if (c.inference.method === 'map') {
    const bayesOnly = c.pruning.criteria.filter((n) => n === 'snr' || n === 'log-alpha');
    if (bayesOnly.length)
      issues.push({ path: 'pruning.criteria', message: `${bayesOnly.join(', ')} need posterior variances; inference.method "map" has none` });
  }
  const gated = ['l0', 'spike-slab', 'unit-gates'].includes(c.inference.method);
  if (!gated && c.pruning.criteria.includes('inclusion'))
    issues.push({
      path: 'pruning.criteria',
      message: `inclusion needs gates; inference.method "${c.inference.method}" has none (use l0, spike-slab or unit-gates)`,
    });
  const gran = c.inference.gates.granularity;
  if (c.inference.method === 'l0' && (gran === 'edge' || gran === 'node'))
    issues.push({ path: 'inference.gates.granularity', message: `l0 gates are weight, input or output (got "${gran}")` });
  if (c.inference.method === 'spike-slab' && gran === 'input')
    issues.push({ path: 'inference.gates.granularity', message: 'spike-slab gates are edge (weight) or node (output)' });
  if (c.inference.method === 'unit-gates' && gran && gran !== 'node' && gran !== 'output')
    issues.push({ path: 'inference.gates.granularity', message: 'unit-gates gate output units (node)' });
  if (c.model.arch === 'lenet-5-caffe' && (c.inference.method === 'spike-slab' || c.inference.method === 'unit-gates')) {
    issues.push({
      path: 'model.arch',
      message: `lenet-5-caffe needs conv layers, which inference.method "${c.inference.method}" does not provide (use vi, map or l0)`,
    });
  }
  const names = new Set<string>();
  c.variants.forEach((v, i) => {
    if (names.has(v.name) || v.name === 'main')
      issues.push({ path: `variants.${i}.name`, message: `"${v.name}" is used twice (or is the reserved name "main")` });
    names.add(v.name);
  });
  if (issues.length) throw new ConfigError(source, issues);
  return c;
}

/** The config of a variant: the base config with the variant's keys set, validated again. */
export function variantConfig(base: ExperimentConfig, variant: { name: string; set: Record<string, unknown> }): ExperimentConfig {
  const raw = structuredClone({ ...base, variants: [] }) as Record<string, unknown>;
  for (const [k, v] of Object.entries(variant.set)) {
    if (k === 'variants' || k.startsWith('variants.')) throw new ConfigError(`variant "${variant.name}"`, [{ path: k, message: 'variants cannot nest' }]);
    setPath(raw, k, structuredClone(v));
  }
  return validateConfig(raw, `variant "${variant.name}"`);
}

/** Read a YAML (or JSON) config file, apply overrides, validate. */
export function loadConfig(path: string, overrides: [string, unknown][] = []): ExperimentConfig {
  if (!existsSync(path)) throw new ConfigError(path, [{ path: '', message: 'config file not found' }]);
  let raw: unknown;
  try {
    raw = YAML.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new ConfigError(path, [{ path: '', message: `not valid YAML: ${(e as Error).message.split('\n')[0]}` }]);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new ConfigError(path, [{ path: '', message: 'a config is a mapping of keys (experiment, data, model, ...)' }]);
  for (const [k, v] of overrides) setPath(raw as Record<string, unknown>, k, v);
  const c = validateConfig(raw, path);
  // Validate every variant before any work starts.
  for (const v of c.variants) variantConfig(c, v);
  return c;
}

export { schema as configSchema };
