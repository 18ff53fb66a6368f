/**
 * Checks protocols runs (configs/protocols-*.yaml, issue 10) against the claims of the
 * protocols they ran:
 *   - fine-tune: global magnitude at 95 % one-shot loses ≥ 30 points; fine-tuned it is within
 *     1.5 points of dense;
 *   - at-init: SNIP at 98 % ≥ 90 % and ≥ 15 points above random-at-init;
 *   - rigl: at 98 % ≥ 10 points above random-at-init (the same training steps); its training
 *     multiply-adds at 95 % are ≈ 5 % of dense (between 4 % and 8 %: 5 % plus the dense gradient
 *     of each topology update);
 *   - sparsegpt: at 80 % (uniform per layer), no retraining, within 2 points of dense and ≥ 15
 *     points above per-layer magnitude; 2:4 within 1 point of dense (the PyTorch mirror itself gives
 *     12.3 points [9.3, 15.3] above per-layer magnitude over 20 seeds: experiments/protocols/mirror-parity.md);
 *   - every row has finite cost columns; post-hoc rows cost the model's training epochs.
 * Claims of protocols no run included are listed as not run (they are not counted).
 *
 *   npx tsx experiments/protocols/check.ts [experiment | run directory | sweep directory] ...
 *   (default: protocols-lenet300, its newest run)
 *
 * One run: each claim on that run. Several runs (run directories and / or sweep directories,
 * e.g. seed 1's run and a sweep over seeds 2 and 3): each claim's quantity (a gap in points, an
 * accuracy, a fraction) is computed per run, printed per seed, and the claim is decided on the
 * mean over the runs, printed with its 95 % Student-t interval (mean ± t₀.₉₇₅,ₙ₋₁ · s/√n). The
 * thresholds are the same as for one run. The runs must share one configuration apart from the
 * seed (and the experiment name and sweep block) and have distinct seeds. Missing data is a
 * FAIL: a row missing from any run fails its claim, and a sweep point that did not finish fails
 * "every sweep point finished".
 * Exit code 1 if a claim fails or there is none.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateConfig } from '../../src/experiment/config.js';
import { describe } from '../../src/stats/describe.js';
import { type Claim, claimsOrFail, findRun, pct, printClaims, readRun } from '../lib/check.js';

interface Row {
  protocol?: string;
  criterion: string;
  structure: string;
  targetSparsity: number | null;
  sparsity: number;
  accuracy: number;
  predictive: string;
  costEpochs?: number;
  costSteps?: number;
  costSeconds?: number;
  costTrainMacs?: number;
  costMacsFraction?: number;
}

interface Run {
  dir: string;
  seed: number;
  rows: Row[];
  epochs: number;
  types: Set<string>;
  config: Record<string, unknown>;
  seconds: number;
}

/** Run directories named by the arguments, and the problems found (unfinished sweep points, unknown paths). */
function collect(args: string[]): { dirs: string[]; problems: string[] } {
  const dirs: string[] = [];
  const problems: string[] = [];
  for (const arg of args) {
    if (existsSync(join(arg, 'metrics.json'))) dirs.push(arg);
    else if (existsSync(join(arg, 'sweep.json'))) {
      const sweep = JSON.parse(readFileSync(join(arg, 'sweep.json'), 'utf8'));
      for (const p of sweep.points ?? []) {
        const root = join(arg, 'runs', p.label);
        const run = existsSync(root)
          ? readdirSync(root)
              .filter((d) => !d.startsWith('.') && existsSync(join(root, d, 'metrics.json')))
              .sort()
              .at(-1)
          : undefined;
        if (run) dirs.push(join(root, run));
        else problems.push(`${arg}: point ${p.label} (${JSON.stringify(p.values)}) has no finished run`);
      }
      if (!(sweep.points ?? []).length) problems.push(`${arg}: sweep.json lists no points`);
    } else {
      const found = findRun(arg);
      if (found) dirs.push(found);
      else problems.push(`"${arg}" is neither a run directory, a sweep directory nor an experiment with a complete run under results/`);
    }
  }
  return { dirs, problems };
}

function load(dir: string): Run {
  const { metrics, manifest } = readRun(dir);
  const variant = metrics.variants.main ?? Object.values(metrics.variants)[0];
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  const types = new Set<string>((config?.pruning?.protocols ?? [{ type: 'post-hoc' }]).map((p: { type: string }) => p.type));
  return { dir, seed: config.seed ?? manifest.seed, rows: variant.curves, epochs: variant.epochs, types, config, seconds: manifest.durationSeconds };
}

/** The current schema's defaults (a config with only a name), for keys an older run's config.json lacks. */
const DEFAULTS = validateConfig({ experiment: 'defaults' }) as unknown as Record<string, unknown>;

/** `config` with every object key it lacks filled from `defaults` (recursively; arrays and set values kept). */
function withDefaults(config: unknown, defaults: unknown): unknown {
  if (!config || typeof config !== 'object' || Array.isArray(config) || !defaults || typeof defaults !== 'object' || Array.isArray(defaults)) return config;
  const c = config as Record<string, unknown>;
  const d = defaults as Record<string, unknown>;
  return Object.fromEntries([...new Set([...Object.keys(d), ...Object.keys(c)])].map((k) => [k, k in c ? withDefaults(c[k], d[k]) : d[k]]));
}

/**
 * The config without what may differ between replicates: seed, experiment, description, sweep,
 * and null-valued keys (a key a later version of the framework adds with a null default, e.g.
 * inference.dcff.epochs, is the same config as its absence). A key a run's config lacks counts as
 * the current default (a run written before the framework added inference.laplace.mapPrior is the
 * same config as one with mapPrior false, its default), so only set values that differ are differences.
 */
function replicateKey(config: Record<string, unknown>): string {
  const { seed: _s, experiment: _e, description: _d, sweep: _w, ...rest } = withDefaults(config, DEFAULTS) as Record<string, unknown>;
  const canon = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(canon)
      : v && typeof v === 'object'
        ? Object.fromEntries(
            Object.keys(v as object)
              .filter((k) => (v as Record<string, unknown>)[k] !== null)
              .sort()
              .map((k) => [k, canon((v as Record<string, unknown>)[k])]),
          )
        : v;
  return JSON.stringify(canon(rest));
}

/** Dot paths whose values differ between two replicate keys (see {@link replicateKey}), at most 6. */
function differingKeys(a: string, b: string): string[] {
  const flat = (v: unknown, path: string, out: Map<string, string>) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) for (const [k, x] of Object.entries(v)) flat(x, path ? `${path}.${k}` : k, out);
    else out.set(path, JSON.stringify(v));
    return out;
  };
  const fa = flat(JSON.parse(a), '', new Map());
  const fb = flat(JSON.parse(b), '', new Map());
  const keys = [...new Set([...fa.keys(), ...fb.keys()])].filter((k) => fa.get(k) !== fb.get(k)).sort();
  return keys.length > 6 ? [...keys.slice(0, 6), `${keys.length - 6} more`] : keys;
}

/**
 * A claim on a quantity computed per run. `needed` picks the rows it needs (a missing one
 * fails the claim for that run, and so the claim); `quantity` gives the number compared with
 * the threshold, `detail` the per-run text.
 */
interface Metric<T extends Record<string, Row | undefined>> {
  claim: string;
  needed: (run: Run) => T;
  quantity: (r: { [K in keyof T]: Row }) => number;
  detail: (r: { [K in keyof T]: Row }, q: number) => string;
  /** How the mean is printed (points, %, fraction). */
  show: (q: number) => string;
  pass: (q: number) => boolean;
}

const points = (x: number) => `${(100 * x).toFixed(2)} points`;
const percent = (x: number) => `${(100 * x).toFixed(2)} %`;

function evaluate<T extends Record<string, Row | undefined>>(m: Metric<T>, runs: Run[]): Claim {
  const perRun: { seed: number; q?: number; text: string }[] = [];
  for (const run of runs) {
    const rows = m.needed(run);
    const missing = Object.entries(rows)
      .filter(([, v]) => v === undefined || v === null)
      .map(([k]) => k);
    if (missing.length) {
      perRun.push({ seed: run.seed, text: `missing ${missing.length > 1 ? 'rows' : 'row'}: ${missing.join(', ')}` });
      continue;
    }
    try {
      const q = m.quantity(rows as { [K in keyof T]: Row });
      if (!Number.isFinite(q)) perRun.push({ seed: run.seed, text: `not a finite number (${q})` });
      else perRun.push({ seed: run.seed, q, text: m.detail(rows as { [K in keyof T]: Row }, q) });
    } catch (e) {
      perRun.push({ seed: run.seed, text: `cannot be checked: ${e instanceof Error ? e.message : String(e)}` });
    }
  }
  const bad = perRun.filter((p) => p.q === undefined);
  if (runs.length === 1) return { claim: m.claim, value: perRun[0].text, pass: bad.length === 0 && m.pass(perRun[0].q!) };
  const seeds = perRun.map((p) => `seed ${p.seed}: ${p.text}`).join('; ');
  if (bad.length) return { claim: m.claim, value: `${bad.length} of ${runs.length} runs lack it (FAIL) — ${seeds}`, pass: false };
  const d = describe(perRun.map((p) => p.q!));
  const ci = d.ciLow === null ? 'no interval' : `95 % t interval [${m.show(d.ciLow)}, ${m.show(d.ciHigh!)}]`;
  const robust = d.ciLow !== null && m.pass(d.ciLow) && m.pass(d.ciHigh!) ? ', interval entirely passing' : '';
  return { claim: m.claim, value: `mean over ${d.n} seeds ${m.show(d.mean!)}, ${ci}${robust} — ${seeds}`, pass: m.pass(d.mean!) };
}

const args = process.argv.slice(2);
const { dirs, problems } = collect(args.length ? args : ['protocols-lenet300']);
if (dirs.length === 0) {
  for (const p of problems) console.error(p);
  console.error('no complete protocols run found; run `npx tsx src/cli.ts run configs/protocols-lenet300.yaml` first');
  process.exit(1);
}
const runs = dirs.map(load);
const types = new Set(runs.flatMap((r) => [...r.types]));
const notRun: string[] = [];

const at = (run: Run, protocol: string, criterion: string, target: number, structure = 'weights') =>
  run.rows.find(
    (r) =>
      (r.protocol ?? 'post-hoc') === protocol && r.criterion === criterion && r.targetSparsity === target && r.structure === structure && r.predictive === 'mc',
  );
const dense = (run: Run) => run.rows.find((r) => r.targetSparsity === 0 && r.predictive === 'mc');
const rigl = (run: Run, target: number) => run.rows.find((r) => r.protocol === 'rigl' && r.targetSparsity === target && r.predictive === 'mc');

const claims: Claim[] = claimsOrFail(() => {
  const out: Claim[] = [];
  if (runs.length > 1 || problems.length) {
    out.push({
      claim: 'every sweep point finished / every argument is a run',
      value: problems.length ? problems.join('; ') : `${runs.length} runs`,
      pass: problems.length === 0,
    });
  }
  if (runs.length > 1) {
    const seeds = runs.map((r) => r.seed);
    const keys = runs.map((r) => replicateKey(r.config));
    const differ = runs
      .filter((_, i) => keys[i] !== keys[0])
      .map((r, i) => `seed ${r.seed} differs from seed ${runs[0].seed} in ${differingKeys(keys[0], keys.filter((k) => k !== keys[0])[i]).join(', ')}`);
    out.push({
      claim: 'the runs are replicates (one config apart from the seed, distinct seeds)',
      value: `seeds ${seeds.join(', ')}${differ.length ? `; ${differ.join('; ')}` : ''}${new Set(seeds).size < seeds.length ? '; a seed repeats' : ''}`,
      pass: differ.length === 0 && new Set(seeds).size === seeds.length,
    });
  }
  if (types.has('fine-tune')) {
    out.push(
      evaluate(
        {
          claim: 'magnitude 95 % one-shot loses ≥ 30 points',
          needed: (run) => ({ dense: dense(run), 'magnitude @ 95 %': at(run, 'post-hoc', 'magnitude', 0.95) }),
          quantity: (r) => r.dense.accuracy - r['magnitude @ 95 %'].accuracy,
          detail: (r) => `${pct(r['magnitude @ 95 %'].accuracy)} vs dense ${pct(r.dense.accuracy)}`,
          show: points,
          pass: (q) => q >= 0.3,
        },
        runs,
      ),
      evaluate(
        {
          claim: 'fine-tune recovers to within 1.5 points of dense',
          needed: (run) => ({ dense: dense(run), 'fine-tune magnitude @ 95 %': at(run, 'fine-tune', 'magnitude', 0.95) }),
          quantity: (r) => r.dense.accuracy - r['fine-tune magnitude @ 95 %'].accuracy,
          detail: (r) =>
            `${pct(r['fine-tune magnitude @ 95 %'].accuracy)} (${points(r['fine-tune magnitude @ 95 %'].accuracy - r.dense.accuracy)}), ${r['fine-tune magnitude @ 95 %'].costEpochs} epochs in all`,
          show: (q) => `${points(q)} below dense`,
          pass: (q) => q <= 0.015,
        },
        runs,
      ),
    );
  } else notRun.push('fine-tune');
  if (types.has('at-init')) {
    out.push(
      evaluate(
        {
          claim: 'SNIP at-init 98 % ≥ 90 %',
          needed: (run) => ({ 'snip @ 98 %': at(run, 'at-init', 'snip', 0.98) }),
          quantity: (r) => r['snip @ 98 %'].accuracy,
          detail: (r) => pct(r['snip @ 98 %'].accuracy),
          show: percent,
          pass: (q) => q >= 0.9,
        },
        runs,
      ),
      evaluate(
        {
          claim: 'SNIP ≥ 15 points above random at init (98 %)',
          needed: (run) => ({ 'snip @ 98 %': at(run, 'at-init', 'snip', 0.98), 'random @ 98 %': at(run, 'at-init', 'random', 0.98) }),
          quantity: (r) => r['snip @ 98 %'].accuracy - r['random @ 98 %'].accuracy,
          detail: (r) => `${pct(r['snip @ 98 %'].accuracy)} vs ${pct(r['random @ 98 %'].accuracy)}`,
          show: points,
          pass: (q) => q >= 0.15,
        },
        runs,
      ),
    );
  } else notRun.push('at-init');
  if (types.has('rigl')) {
    out.push(
      evaluate(
        {
          claim: 'RigL 98 % ≥ 10 points above random at init',
          needed: (run) => ({ 'rigl @ 98 %': rigl(run, 0.98), 'random at-init @ 98 %': at(run, 'at-init', 'random', 0.98) }),
          quantity: (r) => r['rigl @ 98 %'].accuracy - r['random at-init @ 98 %'].accuracy,
          detail: (r) => `${pct(r['rigl @ 98 %'].accuracy)} vs ${pct(r['random at-init @ 98 %'].accuracy)}`,
          show: points,
          pass: (q) => q >= 0.1,
        },
        runs,
      ),
      evaluate(
        {
          claim: "RigL's training MACs at 95 % ≈ 5 % of dense",
          needed: (run) => ({ 'rigl @ 95 %': rigl(run, 0.95) }),
          quantity: (r) => r['rigl @ 95 %'].costMacsFraction ?? Number.NaN,
          detail: (_r, q) => percent(q),
          show: percent,
          pass: (q) => q >= 0.04 && q <= 0.08,
        },
        runs,
      ),
    );
  } else notRun.push('rigl');
  if (types.has('sparsegpt')) {
    out.push(
      evaluate(
        {
          claim: 'SparseGPT 80 % within 2 points of dense',
          needed: (run) => ({ dense: dense(run), 'sparsegpt @ 80 %': at(run, 'sparsegpt', 'sparsegpt', 0.8) }),
          quantity: (r) => r.dense.accuracy - r['sparsegpt @ 80 %'].accuracy,
          detail: (r) => `${pct(r['sparsegpt @ 80 %'].accuracy)} vs dense ${pct(r.dense.accuracy)}`,
          show: (q) => `${points(q)} below dense`,
          pass: (q) => q <= 0.02,
        },
        runs,
      ),
      evaluate(
        {
          claim: 'SparseGPT 80 % ≥ 15 points above per-layer magnitude',
          needed: (run) => ({
            'sparsegpt @ 80 %': at(run, 'sparsegpt', 'sparsegpt', 0.8),
            'per-layer magnitude @ 80 %': at(run, 'post-hoc', 'magnitude-layer', 0.8),
          }),
          quantity: (r) => r['sparsegpt @ 80 %'].accuracy - r['per-layer magnitude @ 80 %'].accuracy,
          detail: (r) => `${pct(r['sparsegpt @ 80 %'].accuracy)} vs ${pct(r['per-layer magnitude @ 80 %'].accuracy)}`,
          show: points,
          pass: (q) => q >= 0.15,
        },
        runs,
      ),
      evaluate(
        {
          claim: 'SparseGPT 2:4 within 1 point of dense',
          needed: (run) => ({ dense: dense(run), 'sparsegpt 2:4': at(run, 'sparsegpt', 'sparsegpt', 0.5, '2:4') }),
          quantity: (r) => r.dense.accuracy - r['sparsegpt 2:4'].accuracy,
          detail: (r) => `${pct(r['sparsegpt 2:4'].accuracy)} vs dense ${pct(r.dense.accuracy)}`,
          show: (q) => `${points(q)} below dense`,
          pass: (q) => q <= 0.01,
        },
        runs,
      ),
    );
  } else notRun.push('sparsegpt');
  // Structural claims: every run must satisfy them (no mean).
  const costCols = ['costEpochs', 'costSteps', 'costSeconds', 'costTrainMacs', 'costMacsFraction'] as const;
  const lacking = runs.map((run) => ({ run, bad: run.rows.filter((r) => costCols.some((c) => typeof r[c] !== 'number' || !Number.isFinite(r[c] as number))) }));
  out.push({
    claim: 'every row has finite cost columns',
    value: lacking
      .map(
        ({ run, bad }) =>
          `${runs.length > 1 ? `seed ${run.seed}: ` : ''}${bad.length ? `${bad.length} of ${run.rows.length} rows lack them` : `${run.rows.length} rows`}`,
      )
      .join('; '),
    pass: lacking.every(({ bad }) => bad.length === 0),
  });
  const wrong = runs.map((run) => ({ run, wrong: run.rows.filter((r) => (r.protocol ?? 'post-hoc') === 'post-hoc' && r.costEpochs !== run.epochs) }));
  out.push({
    claim: "post-hoc rows cost the model's training epochs",
    value: wrong
      .map(
        ({ run, wrong: w }) =>
          `${runs.length > 1 ? `seed ${run.seed}: ` : ''}${w.length ? `${w.length} rows differ from ${run.epochs}` : `${run.epochs} epochs`}`,
      )
      .join('; '),
    pass: wrong.every(({ wrong: w }) => w.length === 0),
  });
  return out;
});

if (notRun.length) console.log(`not in ${runs.length > 1 ? 'these runs' : 'this run'} (claims not checked): ${notRun.join(', ')}`);
const title =
  runs.length === 1
    ? `protocols (${runs[0].dir}, whole run ${runs[0].seconds} s)`
    : `protocols over ${runs.length} seeds, each claim on the mean (${runs.map((r) => `seed ${r.seed}: ${r.dir}`).join(', ')})`;
const ok = printClaims(title, claims);
process.exit(ok ? 0 : 1);
