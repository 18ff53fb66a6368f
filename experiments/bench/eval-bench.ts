/**
 * Benchmark of the quickstart's pruning + evaluation of one model, as `npm run quickstart` pays
 * it (issue 15 items 3 and 4): every criterion, sparsity, 2:4, unit ratio and the log α threshold;
 * the 10-sample predictive on the test set; with configs/quickstart.yaml's `eval.ood` (rotated,
 * noised, inverted, uniform-noise and Fashion-MNIST sets at every point), selective prediction,
 * temperature scaling on the validation split and Learn-then-Test risk control — the same
 * {@link UncertaintyEvaluator} hook and summary as src/experiment/run.ts.
 *
 * Two evaluations in one process, one after the other: `shared` (the shared-work engine,
 * src/experiment/mc-engine.ts: what a run does) and `perPoint` (each point through the
 * posterior's own predictive, as before the engine: data, noise and weights made again at every
 * point and set; the same fused paths and the same common-random-number stream keys, so both
 * draw the same noise). Reported: wall and CPU seconds of each (CPU time is less disturbed by
 * other processes on a shared machine), their ratios, the largest difference between the two
 * runs' numbers (float32 summation order only) and the load average.
 *
 * Used by experiments/bench/lrt-step.ts (`npm run bench`, section 3); standalone on a stored run it
 * times every stored model of the run (the quickstart's three: main, gaussian-prior, map), each with
 * the OOD / shift sets on and off, shared engine only (`--per-point` adds the per-point comparison on
 * the first model, slow):
 *
 *   npx tsx experiments/bench/eval-bench.ts --run results/quickstart/<run id> [--model all|main|gaussian-prior|map] [--per-point]
 *
 * writes results/bench/eval-<date>.json and results/bench/eval.json.
 */
import { loadavg } from 'node:os';
import type { LoadedDataset } from '../../src/data/registry.js';
import type { ExperimentConfig } from '../../src/experiment/config.js';
import { curveOptionsFrom, pruningCurves, type CurveRow } from '../../src/experiment/curves.js';
import { AUTO_WORKERS_MIN_POINTS, closeEvalPool, evalPool, resolveWorkers } from '../../src/experiment/eval-pool.js';
import { UncertaintyEvaluator } from '../../src/experiment/ood-eval.js';
import type { Posterior } from '../../src/inference/posterior.js';
import { fusedPaths, setFusedPaths, type FusedPaths } from '../../src/nn/fused/settings.js';
import { rootStream, type RandomStream } from '../../src/random.js';

const cpuSeconds = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1e6;
};

export interface EvalRun {
  seconds: number;
  cpuSeconds: number;
  load1: number;
  rows: CurveRow[];
  engine: 'shared' | 'per-point';
  /** Evaluation worker threads (eval.workers) and the points they evaluated. */
  workers: number;
  pointsOnWorkers: number;
}

/** One timed pruning + evaluation of `posterior` with the quickstart's hooks (as src/experiment/run.ts evaluateModel). */
export async function timedEvaluation(
  posterior: Posterior,
  cfg: ExperimentConfig,
  d: LoadedDataset,
  stream: RandomStream,
  evaluation: 'shared' | 'per-point',
  paths: FusedPaths,
  variant = 'main',
  /** Evaluation workers (default: the config's eval.workers), started before the clock as a run starts them before training. */
  workers: number | 'auto' = cfg.eval.workers,
): Promise<EvalRun> {
  const saved = { ...fusedPaths };
  setFusedPaths(paths);
  try {
    const n = evaluation === 'shared' ? resolveWorkers(workers, AUTO_WORKERS_MIN_POINTS) : 0;
    if (n > 0) await evalPool(n).ready();
    const t0 = performance.now();
    const c0 = cpuSeconds();
    const unc = new UncertaintyEvaluator(cfg, d.test, d.validation, stream.fork('uncertainty'));
    const curves = await pruningCurves(posterior, {
      variant,
      ...curveOptionsFrom(cfg),
      stream,
      data: d.test,
      scoreData: d.train,
      pointMetrics: unc.hook,
      pointSets: unc.pointSets(),
      evaluation,
      workers: n,
    });
    curves.uncertainty = unc.summary(stream.fork('uncertainty'));
    return {
      seconds: (performance.now() - t0) / 1000,
      cpuSeconds: cpuSeconds() - c0, // the whole process: the main thread and the evaluation workers
      load1: +loadavg()[0]!.toFixed(2),
      rows: curves.rows,
      engine: evaluation,
      workers: n,
      pointsOnWorkers: curves.workers?.points ?? 0,
    };
  } finally {
    setFusedPaths(saved);
  }
}

/** Largest absolute difference of every numeric column between two runs' rows (same points, same order). */
export function maxRowDifference(a: CurveRow[], b: CurveRow[]): { all: number; mean: number; mc: number; where: string } {
  const out = { all: 0, mean: 0, mc: 0, where: '' };
  if (a.length !== b.length) return { all: Infinity, mean: Infinity, mc: Infinity, where: 'different rows' };
  for (const [i, r] of a.entries()) {
    const q = b[i]!;
    const flat = (x: CurveRow) => ({ ...x, ...x.extra, extra: undefined, layerSparsity: undefined }) as Record<string, unknown>;
    const fr = flat(r);
    const fq = flat(q);
    for (const [k, v] of Object.entries(fr)) {
      const w = fq[k];
      if (typeof v !== 'number' || typeof w !== 'number') continue;
      const diff = Math.abs(v - w);
      if (diff > out.all) out.where = `${r.criterion} ${r.structure} ${r.targetSparsity ?? r.unitRatio} ${r.predictive} ${k}`;
      out.all = Math.max(out.all, diff);
      out[r.predictive] = Math.max(out[r.predictive], diff);
    }
  }
  return out;
}

/**
 * The quickstart's evaluation of one model, shared engine and per-point path one after the other:
 * the JSON section `quickstart.evaluation` of the bench.
 */
export async function benchQuickstartEvaluation(
  posterior: Posterior,
  cfg: ExperimentConfig,
  d: LoadedDataset,
  stream: RandomStream,
  o: { perPoint: boolean; log: (s: string) => void },
): Promise<Record<string, unknown>> {
  const on: FusedPaths = { ...fusedPaths };
  const shared = await timedEvaluation(posterior, cfg, d, stream.fork('eval'), 'shared', on);
  o.log(
    `quickstart prune+eval of one model (OOD on): ${shared.seconds.toFixed(2)} s wall, ${shared.cpuSeconds.toFixed(2)} s CPU ` +
      `(${shared.rows.length} rows, ${shared.workers} evaluation worker(s), load ${shared.load1})`,
  );
  const slow = o.perPoint ? await timedEvaluation(posterior, cfg, d, stream.fork('eval'), 'per-point', on) : null;
  if (slow)
    o.log(
      `  per point (as before the engine): ${slow.seconds.toFixed(2)} s wall, ${slow.cpuSeconds.toFixed(2)} s CPU ` +
        `(shared/per-point: wall ${(shared.seconds / slow.seconds).toFixed(3)}, CPU ${(shared.cpuSeconds / slow.cpuSeconds).toFixed(3)}, load ${slow.load1})`,
    );
  const points = new Set(shared.rows.map((r) => `${r.criterion}/${r.structure}/${r.targetSparsity}/${r.unitRatio}`)).size;
  const ood = cfg.eval.ood;
  return {
    what: 'pruning + evaluation of one quickstart model: all curves, 10-sample predictive, OOD / shift sets, selective prediction, temperature scaling, risk control',
    seconds: shared.seconds,
    cpuSeconds: shared.cpuSeconds,
    load1: shared.load1,
    workers: shared.workers,
    pointsOnWorkers: shared.pointsOnWorkers,
    perPoint: slow ? { seconds: slow.seconds, cpuSeconds: slow.cpuSeconds, load1: slow.load1 } : null,
    sharedOverPerPoint: slow ? { wall: shared.seconds / slow.seconds, cpu: shared.cpuSeconds / slow.cpuSeconds } : null,
    maxDifferenceToPerPoint: slow ? maxRowDifference(shared.rows, slow.rows) : null,
    differenceNote: 'same noise draws in both runs: differences are float32 summation order (compacted products) only',
    operatingPoints: points,
    rows: shared.rows.length,
    samples: cfg.eval.samples,
    testExamples: d.test.n,
    validationExamples: d.validation.n,
    ood: ood.enabled ? { shifts: ood.shifts, examplesPerShift: ood.examples } : null,
    riskControl: cfg.pruning.riskControl.enabled,
    target: '≤ 5 s per model (issue 15 item 3)',
  };
}

/** One model's pruning + evaluation timed with the OOD / shift sets on and off (shared engine), as the `models` section of eval.json. */
export async function benchModel(
  posterior: Posterior,
  cfg: ExperimentConfig,
  d: LoadedDataset,
  name: string,
  log: (s: string) => void,
): Promise<Record<string, unknown>> {
  const on: FusedPaths = { ...fusedPaths };
  const stream = () => rootStream(cfg.seed).fork(`variant/${name}`).fork('eval');
  const withOod = await timedEvaluation(posterior, cfg, d, stream(), 'shared', on, name);
  // The same on the main thread alone (eval.workers: 0): the work the workers share.
  const alone = await timedEvaluation(posterior, cfg, d, stream(), 'shared', on, name, 0);
  const offCfg: ExperimentConfig = { ...cfg, eval: { ...cfg.eval, ood: { ...cfg.eval.ood, enabled: false } } };
  const withoutOod = await timedEvaluation(posterior, offCfg, d, stream(), 'shared', on, name);
  const points = new Set(withOod.rows.map((r) => `${r.criterion}/${r.structure}/${r.targetSparsity}/${r.unitRatio}`)).size;
  log(
    `${name}: ${points} operating points; OOD on ${withOod.seconds.toFixed(2)} s wall with ${withOod.workers} worker(s) (${withOod.pointsOnWorkers} points on them), ` +
      `${alone.seconds.toFixed(2)} s on the main thread alone (load ${withOod.load1}, ${alone.load1}); ` +
      `OOD off ${withoutOod.seconds.toFixed(2)} s wall (load ${withoutOod.load1})`,
  );
  const t = (r: EvalRun) => ({ seconds: r.seconds, cpuSeconds: r.cpuSeconds, load1: r.load1, workers: r.workers, pointsOnWorkers: r.pointsOnWorkers });
  return {
    method: cfg.inference.method,
    prior: cfg.inference.prior.type,
    criteria: cfg.pruning.criteria,
    operatingPoints: points,
    rows: withOod.rows.length,
    oodOn: t(withOod),
    oodOnMainThreadOnly: t(alone),
    oodOff: t(withoutOod),
  };
}

// Standalone: evaluate a stored run's models.
if (import.meta.url === `file://${process.argv[1]}`) {
  const { mkdirSync } = await import('node:fs');
  const { cpus, totalmem } = await import('node:os');
  const { join } = await import('node:path');
  const { initBackend, parseBackendChoice } = await import('../../src/backend.js');
  const { loadConfig, variantConfig } = await import('../../src/experiment/config.js');
  const { loadData } = await import('../../src/experiment/run.js');
  const { loadTrainedModel } = await import('../../src/export/model-store.js');
  const { writeJsonAtomic } = await import('../../src/report/atomic.js');
  const args = process.argv.slice(2);
  const arg = (k: string, dflt: string) => (args.includes(`--${k}`) ? args[args.indexOf(`--${k}`) + 1]! : dflt);
  const run = arg('run', '');
  if (!run) {
    process.stderr.write('eval-bench: --run <results/quickstart/run-id> is required (a run with stored models)\n');
    process.exit(2);
  }
  const backend = await initBackend(parseBackendChoice(arg('backend', 'auto'), '--backend'));
  const cfg = loadConfig(join(run, 'config.json'));
  const all = [{ name: 'main', config: cfg }, ...cfg.variants.map((v) => ({ name: v.name, config: variantConfig(cfg, v) }))];
  const which = arg('model', 'all');
  const chosen = which === 'all' ? all : all.filter((m) => m.name === which);
  if (!chosen.length) {
    process.stderr.write(`eval-bench: --model ${which}: the run has models ${all.map((m) => m.name).join(', ')} (or all)\n`);
    process.exit(2);
  }
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const loadStart = loadavg();
  const models: Record<string, unknown> = {};
  let evaluation: Record<string, unknown> | null = null;
  for (const m of chosen) {
    const d = loadData(m.config);
    const posterior = await loadTrainedModel(run, m.name, m.config);
    models[m.name] = await benchModel(posterior, m.config, d, m.name, log);
    // The shared engine against the per-point path (as before the engine), on the first model only (slow).
    if (args.includes('--per-point') && !evaluation)
      evaluation = await benchQuickstartEvaluation(posterior, m.config, d, rootStream(m.config.seed).fork(`variant/${m.name}`), { perPoint: true, log });
    posterior.dispose();
  }
  await closeEvalPool();
  const date = new Date();
  const result = {
    date: date.toISOString(),
    backend: backend.name,
    run,
    what:
      'pruning + evaluation of each quickstart model (all curves, 10-sample predictive, selective prediction, temperature scaling, risk control), ' +
      'with the OOD / shift sets (eval.ood) on and off; shared engine (src/experiment/mc-engine.ts) with its evaluation workers ' +
      '(eval.workers, started before the clock as a run starts them before training; src/experiment/eval-pool.ts) and on the main thread alone',
    target: '≤ 5 s per model (issue 15 item 3)',
    machine: { cpu: cpus()[0]?.model, cores: cpus().length, memoryGiB: +(totalmem() / 2 ** 30).toFixed(1), platform: process.platform, arch: process.arch },
    loadAverage: { start: loadStart, end: loadavg() },
    samples: cfg.eval.samples,
    ood: cfg.eval.ood.enabled ? { shifts: cfg.eval.ood.shifts, examplesPerShift: cfg.eval.ood.examples } : null,
    models,
    ...(evaluation ? { sharedVsPerPoint: evaluation } : {}),
    node: process.version,
  };
  mkdirSync('results/bench', { recursive: true });
  const dated = `results/bench/eval-${date.toISOString().slice(0, 10)}.json`;
  await writeJsonAtomic(dated, result);
  await writeJsonAtomic('results/bench/eval.json', result);
  console.log(`written: ${dated}, results/bench/eval.json`);
}
