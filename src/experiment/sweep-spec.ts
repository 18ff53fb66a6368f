/**
 * The sweep spec (config key `sweep`) and its expansion into points.
 *
 * ```yaml
 * sweep:
 *   grid: { inference.temperature: [1, 0.1], pruning.scope: [global, layer] }   # Cartesian product
 *   zip:                                   # each group: lists varied together (equal lengths)
 *     - { model.hidden: [[100], [300, 100]], train.epochs: [20, 40] }
 *   random:                                # n trials drawn reproducibly from the sweep seed
 *     n: 8
 *     seed: 0
 *     params:
 *       train.optimizer.lr: { log-uniform: [1.0e-4, 1.0e-2] }
 *       inference.initLogSigma2: { uniform: [-12, -6] }
 *       train.batchSize: { int: [50, 200] }
 *       pruning.scope: { choice: [global, layer] }
 *   seeds: [1, 2, 3]                       # the replicate axis (sets `seed`); statistics aggregate over it
 * ```
 *
 * The points are the product of the grid's keys (first key outermost), then each zip group,
 * then the random trials, then the seeds (innermost). The old form, a plain mapping of dot
 * paths to lists (`sweep: { seed: [1, 2, 3], inference.temperature: [1, 0.1] }`), is a grid.
 *
 * Every point has a label: a readable prefix from its values plus the first 8 hex digits of
 * the SHA-256 of the canonical JSON of its values, so values that print alike (`"a b"`,
 * `"a/b"`, `"a_b"`) still get different labels.
 * @module
 */
import { createHash } from 'node:crypto';
import seedrandom from 'seedrandom';
import { z } from 'zod';

/** Keys of the structured form; a `sweep` mapping without any of them is the old grid shorthand. */
const SPEC_KEYS = ['grid', 'zip', 'random', 'seeds'];
const FORBIDDEN_SEGMENTS = new Set(['__proto__', 'constructor', 'prototype']);

/** A dot path naming a config key, e.g. `inference.temperature`. */
const dotPath = z.string().superRefine((k, ctx) => {
  const parts = k.split('.');
  const bad = parts.find((p) => !/^[A-Za-z0-9_-]+$/.test(p) || FORBIDDEN_SEGMENTS.has(p));
  if (bad !== undefined)
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      message: `"${k}" is not a dot path of config keys (segments of letters, digits, _ and -; not __proto__ / constructor / prototype)`,
    });
  else if (parts[0] === 'sweep' || parts[0] === 'experiment')
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `"${k}": a sweep cannot vary "${parts[0]}"` });
});

/** A distribution of a random-search parameter. */
export type Distribution = { uniform: [number, number] } | { 'log-uniform': [number, number] } | { int: [number, number] } | { choice: unknown[] };

const DIST_KINDS = ['uniform', 'log-uniform', 'int', 'choice'];

const distribution = z.unknown().transform((v, ctx): Distribution => {
  const fail = (message: string) => {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message });
    return z.NEVER;
  };
  if (v === null || typeof v !== 'object' || Array.isArray(v) || Object.keys(v).length !== 1)
    return fail(`a distribution is one of {uniform: [a, b]}, {log-uniform: [a, b]}, {int: [a, b]}, {choice: [v1, v2, ...]}`);
  const [kind, arg] = Object.entries(v)[0]!;
  if (!DIST_KINDS.includes(kind)) return fail(`unknown distribution "${kind}"; allowed: ${DIST_KINDS.join(', ')}`);
  if (kind === 'choice') {
    if (!Array.isArray(arg) || arg.length === 0) return fail('choice needs a non-empty list of values');
    return { choice: arg };
  }
  if (!Array.isArray(arg) || arg.length !== 2 || !arg.every((x) => typeof x === 'number' && Number.isFinite(x)))
    return fail(`${kind} needs [a, b], two finite numbers`);
  const [a, b] = arg as [number, number];
  if (!(a < b)) return fail(`${kind} needs a < b (got [${a}, ${b}])`);
  if (kind === 'log-uniform' && !(a > 0)) return fail(`log-uniform needs 0 < a < b (got [${a}, ${b}])`);
  if (kind === 'int') {
    if (!Number.isInteger(a) || !Number.isInteger(b)) return fail(`int needs integer bounds (got [${a}, ${b}])`);
    return { int: [a, b] };
  }
  return kind === 'uniform' ? { uniform: [a, b] } : { 'log-uniform': [a, b] };
});

const values = z.array(z.unknown()).min(1);

const structured = z
  .object({
    /** Dot path → list of values; every combination is a point. */
    grid: z.record(dotPath, values).default({}),
    /** Groups of dot path → list, the lists of a group varied together (equal lengths). */
    zip: z.array(z.record(dotPath, values)).default([]),
    /** Random search: `n` trials, each parameter drawn from its distribution (reproducible from `seed`). */
    random: z
      .object({
        n: z.number().int().min(1).max(100_000),
        seed: z
          .number()
          .int()
          .min(0)
          .max(2 ** 31 - 1)
          .default(0),
        params: z.record(dotPath, distribution),
      })
      .strict()
      .optional(),
    /** The replicate axis: each point is run once per seed (sets `seed`); statistics aggregate over it. */
    seeds: z
      .array(
        z
          .number()
          .int()
          .min(0)
          .max(2 ** 31 - 1),
      )
      .min(1)
      .optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    const seen = new Map<string, string>();
    const claim = (key: string, where: (string | number)[]) => {
      const prev = seen.get(key);
      if (prev) ctx.addIssue({ code: z.ZodIssueCode.custom, path: where, message: `"${key}" is varied twice (also in ${prev})` });
      else seen.set(key, where.join('.'));
      // A key and a key inside it (model and model.hidden) would overwrite each other.
      for (const other of seen.keys())
        if (other !== key && (other.startsWith(`${key}.`) || key.startsWith(`${other}.`)))
          ctx.addIssue({ code: z.ZodIssueCode.custom, path: where, message: `"${key}" and "${other}" overlap; vary one of them` });
    };
    for (const k of Object.keys(s.grid)) claim(k, ['grid', k]);
    s.zip.forEach((g, i) => {
      const keys = Object.keys(g);
      if (!keys.length) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['zip', i], message: 'a zip group needs at least one key' });
      const lens = keys.map((k) => g[k]!.length);
      if (new Set(lens).size > 1)
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ['zip', i],
          message: `the lists of a zip group must have equal lengths (got ${keys.map((k, j) => `${k}: ${lens[j]}`).join(', ')})`,
        });
      for (const k of keys) claim(k, ['zip', i, k]);
    });
    if (s.random) for (const k of Object.keys(s.random.params)) claim(k, ['random', 'params', k]);
    if (s.seeds) {
      claim('seed', ['seeds']);
      if (new Set(s.seeds).size !== s.seeds.length) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['seeds'], message: 'each seed at most once' });
    }
    for (const [k, list] of Object.entries(s.grid)) {
      const c = list.map(canonicalJson);
      if (new Set(c).size !== c.length) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['grid', k], message: 'each value at most once' });
    }
  });

/**
 * Schema of the config key `sweep`: the structured form, or the old shorthand (a mapping of
 * dot paths to lists), which is read as `grid`.
 */
export const sweepSchema = z.preprocess((v) => {
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0 && !Object.keys(v).some((k) => SPEC_KEYS.includes(k)))
    return { grid: v };
  return v;
}, structured.default({}));

export type SweepSpec = z.infer<typeof structured>;

/** JSON with object keys sorted at every level: equal values give equal text. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v ?? null) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
    .join(',')}}`;
}

/** SHA-256 (hex) of the canonical JSON of `v`. */
export function hashOf(v: unknown): string {
  return createHash('sha256').update(canonicalJson(v)).digest('hex');
}

/** Number of varied keys of a spec (0 = no sweep). */
export function sweepAxes(s: SweepSpec): string[] {
  return [...Object.keys(s.grid), ...s.zip.flatMap((g) => Object.keys(g)), ...(s.random ? Object.keys(s.random.params) : []), ...(s.seeds ? ['seed'] : [])];
}

/** Draw the random-search trials: trial t, parameter by parameter in spec order, from one seeded stream. */
export function randomTrials(r: NonNullable<SweepSpec['random']>): Record<string, unknown>[] {
  const rng = seedrandom(`bayesprune-sweep-random/${r.seed}`);
  const out: Record<string, unknown>[] = [];
  for (let t = 0; t < r.n; t++) {
    const trial: Record<string, unknown> = {};
    for (const [k, d] of Object.entries(r.params)) {
      const u = rng();
      if ('uniform' in d) trial[k] = d.uniform[0] + (d.uniform[1] - d.uniform[0]) * u;
      else if ('log-uniform' in d) {
        const [a, b] = d['log-uniform'];
        trial[k] = Math.exp(Math.log(a) + (Math.log(b) - Math.log(a)) * u);
      } else if ('int' in d) trial[k] = d.int[0] + Math.floor(u * (d.int[1] - d.int[0] + 1));
      else trial[k] = structuredClone(d.choice[Math.floor(u * d.choice.length)]);
    }
    out.push(trial);
  }
  return out;
}

/**
 * The values of every point in canonical order: grid (first key outermost), zip groups,
 * random trials, seeds (innermost). Each point is an ordered mapping dot path → value.
 */
export function expandValues(s: SweepSpec): Record<string, unknown>[] {
  const factors: Record<string, unknown>[][] = [];
  for (const [k, list] of Object.entries(s.grid)) factors.push(list.map((v) => ({ [k]: v })));
  for (const g of s.zip) {
    const keys = Object.keys(g);
    const len = g[keys[0]!]!.length;
    factors.push(Array.from({ length: len }, (_, i) => Object.fromEntries(keys.map((k) => [k, g[k]![i]]))));
  }
  if (s.random) factors.push(randomTrials(s.random));
  if (s.seeds) factors.push(s.seeds.map((seed) => ({ seed })));
  if (!factors.length) return [];
  let combos: Record<string, unknown>[] = [{}];
  for (const f of factors) combos = combos.flatMap((c) => f.map((v) => ({ ...c, ...structuredClone(v) })));
  return combos;
}

function slug(v: unknown): string {
  const s = typeof v === 'string' ? v : canonicalJson(v);
  return s.replace(/[^A-Za-z0-9.-]+/g, '_');
}

/**
 * The label of a point: a readable prefix (`<last key segment>-<value>` joined by `_`,
 * at most 60 characters) and the first 8 hex digits of the hash of its canonical values.
 * Only letters, digits, `.`, `_` and `-`; never starts with `.` or `-`, never contains `..`.
 */
export function pointLabel(values: Record<string, unknown>): string {
  const prefix = Object.entries(values)
    .map(([k, v]) => `${k.split('.').at(-1)}-${slug(v)}`)
    .join('_')
    .replace(/\.{2,}/g, '.')
    .slice(0, 60)
    .replace(/^[.-]+/, '')
    .replace(/[._-]+$/, '');
  const hash = hashOf(values).slice(0, 8);
  return prefix ? `${prefix}-${hash}` : `p-${hash}`;
}
