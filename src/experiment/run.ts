/**
 * Running an experiment: validate → load data → for each variant: fit the
 * posterior (with resumable checkpoints), compute pruning curves with calibration
 * → write results atomically.
 *
 * Layout of `results/<experiment>/<run-id>/`: `config.json` (resolved), `manifest.json`,
 * `metrics.json`, `curves.csv`, `report.md` and `*.svg` plots. While a run is in
 * progress it lives in `results/<experiment>/.<run-id>.partial/` and is renamed only
 * when complete, so a directory without the `.partial` suffix is always a finished run.
 * An interrupted run keeps its partial directory; `run --resume <dir>` continues it.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { initBackend, type BackendChoice, type BackendInfo } from '../backend.js';
import { loadDataset, type LoadedDataset } from '../data/registry.js';
import { featureSize, subset, type Dataset } from '../data/dataset.js';
import type { Posterior } from '../inference/posterior.js';
import type { RandomStream } from '../random.js';
import { getMethod, type MethodSection } from '../inference/methods.js';
import type { EpochStats } from '../inference/trainer.js';
import { rootStream } from '../random.js';
import { toCsv } from '../report/table.js';
import { writeFileAtomic, writeJsonAtomic } from '../report/atomic.js';
import { validateConfig, variantConfig, type ExperimentConfig } from './config.js';
import { checkpointPath, loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { acquireRunLock, lockHolder, pidAlive, type RunLock } from './run-lock.js';
import { curveOptionsFrom, flattenRow, pruningCurves, type CurveResult, type CurveRow } from './curves.js';
import { allCurveRows, withProtocols } from './protocols.js';
import { newManifest, type Manifest } from './manifest.js';
import { Progress, type ProgressSink } from './progress.js';
import { writeReport } from './report.js';
import { UncertaintyEvaluator, uncertaintyForMetrics, writeUncertaintyScores } from './ood-eval.js';
import { closeEvalPool, evalPool, resolveWorkers } from './eval-pool.js';
import { fsErrorMessage, makeDirs, resolveResultsRoot, safeJoin } from './paths.js';
import { saveTrainedModel } from '../export/model-store.js';
import { withLabelNoise } from '../data/label-noise.js';

export interface RunOptions {
  /** Where results go (default `results`). */
  resultsDir?: string;
  configFile?: string | null;
  overrides?: string[];
  /** Backend from the CLI flag (wins over the config). */
  backend?: BackendChoice;
  /** Continue the partial run in this directory. */
  resume?: string;
  /** Progress output (default stderr); `null` silences it. */
  progress?: ProgressSink | null;
  /**
   * Start a new run even when an unfinished (partial, unlocked) run of the identical
   * resolved config exists in the experiment's directory (CLI flag `--new`). Without it
   * such a run is refused with the `--resume` command that continues it.
   */
  newRun?: boolean;
  /**
   * On SIGINT / SIGTERM while the run is in progress, print the command that continues
   * the run (default true; a sweep worker passes false, its driver prints the sweep's
   * command). Either way the run's lock is released and the process exits with 130 / 143.
   * The handlers are only installed when the process has no other listener for the
   * signal; a caller with its own handlers keeps them, and the lock is still released
   * on exit.
   */
  signals?: boolean;
}

export interface VariantResult {
  name: string;
  config: ExperimentConfig;
  method: string;
  network: string;
  numWeights: number;
  history: EpochStats[];
  trainSeconds: number;
  /** Set when this model came out of another model's training run (SWAG companions). */
  sharedTrainingWith?: string;
  curves: CurveResult;
  /** The method's own report section (PackNet), on the main model of its variant. */
  section?: MethodSection;
}

export interface RunResult {
  runDir: string;
  manifest: Manifest;
  variants: VariantResult[];
}

function runIdFor(seed: number): string {
  const d = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')
    .replace('T', '-');
  return `${d}-s${seed}`;
}

/** Load the data of a config (before any directory is created, so a bad file leaves nothing behind). */
export function loadData(cfg: ExperimentConfig): LoadedDataset {
  const d = loadDataset(cfg.data.name, { flat: true, dir: cfg.data.dir });
  if (cfg.data.trainLimit > 0 && cfg.data.trainLimit < d.train.n) {
    d.train = subset(
      d.train,
      Int32Array.from({ length: cfg.data.trainLimit }, (_, i) => i),
      `${d.train.name}[:${cfg.data.trainLimit}]`,
    );
  }
  if (cfg.data.labelNoise > 0) d.train = withLabelNoise(d.train, cfg.data.labelNoise, cfg.seed);
  checkData(cfg, d);
  return d;
}

/**
 * The splits of a data set checked against each other and against the model, which is
 * built from the training split's example shape and class count: every split the run
 * uses is non-empty, has the training split's example shape and class count, labels in
 * [0, classes) and finite features. Throws one clear line naming the data set and split.
 */
export function checkData(cfg: ExperimentConfig, d: LoadedDataset): void {
  const where = `data "${cfg.data.name}"${cfg.data.dir ? ` (${cfg.data.dir})` : ''}`;
  const { train } = d;
  const splits: [string, Dataset][] = [
    ['training', train],
    ['validation', d.validation],
    ...(cfg.eval.split === 'test' ? [['test', d.test] as [string, Dataset]] : []),
  ];
  for (const [split, ds] of splits) {
    if (ds.n === 0)
      throw new Error(`${where}: the ${split} split is empty (0 examples)${split === 'training' ? '; a run needs at least one training example' : ''}`);
    if (ds.shape.length !== train.shape.length || ds.shape.some((v, i) => v !== train.shape[i]) || featureSize(ds) !== featureSize(train))
      throw new Error(
        `${where}: ${split} examples have shape [${ds.shape.join(', ')}], the training examples (and so the model's input) [${train.shape.join(', ')}]`,
      );
    if (ds.numClasses !== train.numClasses)
      throw new Error(`${where}: the ${split} split has ${ds.numClasses} classes, the training split (and so the model) ${train.numClasses}`);
    const f = featureSize(ds);
    if (ds.x.length !== ds.n * f || ds.y.length !== ds.n)
      throw new Error(`${where}: the ${split} split holds ${ds.x.length} feature values and ${ds.y.length} labels for ${ds.n} examples of ${f} features`);
    for (let i = 0; i < ds.n; i++) {
      const c = ds.y[i]!;
      if (!(Number.isInteger(c) && c >= 0 && c < train.numClasses))
        throw new Error(`${where}: ${split} label ${i} is ${c}, outside the model's classes [0, ${train.numClasses})`);
    }
    for (let i = 0; i < ds.x.length; i++)
      if (!Number.isFinite(ds.x[i]!))
        throw new Error(`${where}: ${split} example ${Math.floor(i / f)} has a non-finite feature (${ds.x[i]}) at index ${i % f}`);
  }
}

/** Shell-quote one argument (only when needed), for commands printed to the user. */
function shellQuote(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

/** The command that continues the partial run `partial`: the original arguments plus `--resume`. */
export function resumeCommand(o: RunOptions, partial: string): string {
  const args = ['bayesprune', 'run', o.configFile ?? '<config.yaml>', ...(o.overrides ?? [])];
  if (o.backend) args.push('--backend', o.backend);
  if (o.resultsDir !== undefined) args.push('--results', o.resultsDir);
  args.push('--resume', partial);
  return args.map(shellQuote).join(' ');
}

/**
 * Unfinished runs of exactly this resolved config in `expDir`: partial directories whose
 * `config.json` equals `cfg` and that no live process holds (a locked one is running now).
 */
export function unfinishedRuns(expDir: string, cfg: ExperimentConfig): string[] {
  let entries: string[];
  try {
    entries = readdirSync(expDir);
  } catch {
    return [];
  }
  const want = JSON.stringify(cfg);
  const out: string[] = [];
  for (const e of entries.sort()) {
    if (!/^\..+\.partial$/.test(e)) continue;
    const dir = join(expDir, e);
    try {
      if (JSON.stringify(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'))) !== want) continue;
      const man = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
      if (man.status === 'complete') continue;
    } catch {
      continue;
    }
    const h = lockHolder(dir);
    if (h && h.alive !== false) continue;
    out.push(dir);
  }
  return out;
}

/** Remove staging directories (`.<run-id>.partial.new-<pid>-<hex>`) whose process was killed before it could rename them. */
function removeAbandonedStaging(expDir: string): void {
  let entries: string[];
  try {
    entries = readdirSync(expDir);
  } catch {
    return;
  }
  for (const e of entries) {
    const m = /^\..+\.partial\.new-(\d+)-[0-9a-f]+$/.exec(e);
    if (m && !pidAlive(Number(m[1]))) rmSync(join(expDir, e), { recursive: true, force: true });
  }
}

/** Remove temp files (`*.tmp-<pid>-<hex>`) a killed process left in a partial directory. */
function removeTempFiles(dir: string): void {
  for (const f of readdirSync(dir)) if (/\.tmp-\d+-[0-9a-f]{16}$/.test(f)) rmSync(join(dir, f), { force: true });
}

/** A JSON file of a directory given to `--resume`, or a clear error naming it. */
function readResumeJson(flag: string, path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`--resume ${flag}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'}); this directory cannot be resumed`);
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v;
  } catch {
    /* below */
  }
  throw new Error(`--resume ${flag}: ${path} is not a valid JSON object; this directory cannot be resumed`);
}

/**
 * The manifest and saved config of a directory given to `--resume`, or a clear error: the
 * directory must exist, be an unfinished run (`.<run-id>.partial`, manifest not complete)
 * and its manifest must name the run its directory names.
 */
function readResumeDir(flag: string, dir: string): { manifest: Manifest; saved: ExperimentConfig } {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(dir);
  } catch {
    // A partial directory disappears when its run completes: say where the results went.
    const m = /^\.(.+)\.partial$/.exec(basename(dir));
    const done = m ? join(dirname(dir), m[1]!) : null;
    if (done && existsSync(join(done, 'manifest.json'))) throw new Error(`run ${m![1]} is complete; its results are in ${done}`);
    throw new Error(`--resume ${flag}: no such directory; give the results/<experiment>/.<run-id>.partial directory of an interrupted run`);
  }
  if (!st.isDirectory()) throw new Error(`--resume ${flag}: not a directory; give the results/<experiment>/.<run-id>.partial directory of an interrupted run`);
  if (/^sweep-/.test(basename(dir)))
    throw new Error(`--resume ${flag}: this is a sweep directory; continue it with bayesprune sweep <config.yaml> --resume ${dir}`);
  const mp = join(dir, 'manifest.json');
  if (!existsSync(mp)) throw new Error(`--resume ${flag}: no manifest.json there; expected a results/<experiment>/.<run-id>.partial directory`);
  const manifest = readResumeJson(flag, mp) as Manifest;
  if (manifest.status === 'complete') throw new Error(`run ${manifest.runId} is complete; its results are in ${dir}`);
  const m = /^\.(.+)\.partial$/.exec(basename(dir));
  if (!m) throw new Error(`--resume ${flag}: not a partial run directory (its name must be .<run-id>.partial)`);
  // The final directory is named by the run id: it must be the one the directory names (never a path).
  if (manifest.runId !== m[1])
    throw new Error(`--resume ${flag}: ${mp} names run ${JSON.stringify(manifest.runId)}, the directory run ${m[1]}; this directory cannot be resumed`);
  const cp = join(dir, 'config.json');
  if (!existsSync(cp)) throw new Error(`--resume ${flag}: no config.json there; this directory cannot be resumed`);
  return { manifest, saved: readResumeJson(flag, cp) as ExperimentConfig };
}

/** Train and evaluate one variant, checkpointing into `dir`. */
async function runVariant(name: string, cfg: ExperimentConfig, data: LoadedDataset, dir: string, sink: ProgressSink | null): Promise<VariantResult[]> {
  const done = join(dir, `variant-${name}.json`);
  if (existsSync(done)) {
    try {
      return JSON.parse(readFileSync(done, 'utf8')) as VariantResult[];
    } catch {
      throw new Error(`${done} is not valid JSON (the results of model ${name} in this partial run); delete it to evaluate that model again`);
    }
  }

  const stream = rootStream(cfg.seed).fork(`variant/${name}`);
  const epochs = cfg.train.epochs;
  const bar = new Progress(`[${name}] train`, epochs, sink ?? undefined, sink !== null);
  let restored: EpochStats[] = [];
  let trainSeconds = 0;
  const t0 = performance.now();
  const method = getMethod(cfg.inference.method);
  // Methods with state outside the checkpoint (SWAG moments, SVGD particles) never restore: they train again from epoch 0; say so once.
  let retrainNote = existsSync(checkpointPath(dir, `ckpt-${name}`));
  const noteRetrain = () => {
    if (retrainNote)
      sink?.write(`[${name}] method ${cfg.inference.method} does not resume from checkpoints (its training state is not saved); training again from epoch 0\n`);
    retrainNote = false;
  };
  const fit = await method.fit({
    config: cfg,
    train: data.train,
    validation: data.validation,
    stream,
    restore: async (net, trainer) => {
      retrainNote = false;
      const ck = loadCheckpoint<{ history: EpochStats[]; trainSeconds: number }>(dir, `ckpt-${name}`, net); // variables, BN statistics, aux state
      if (ck) {
        await trainer.restore({ epoch: ck.index.epoch, optimizer: ck.optimizer });
        restored = ck.index.meta.history;
        trainSeconds = ck.index.meta.trainSeconds;
        sink?.write(`[${name}] resumed from epoch ${ck.index.epoch}\n`);
      }
    },
    hooks: {
      validation: data.validation,
      stepEvery: 10,
      onStep: (s) => {
        noteRetrain();
        bar.update(
          s.epoch + s.step / s.steps,
          `epoch ${s.epoch + 1}/${epochs} loss ${s.loss.toFixed(4)} nll ${s.nll.toFixed(4)} kl ${s.kl.toExponential(2)} acc ${(100 * s.accuracy).toFixed(1)}%`,
        );
      },
      onEpoch: async (st, trainer) => {
        noteRetrain();
        bar.update(
          st.epoch + 1,
          `epoch ${st.epoch + 1}/${epochs} loss ${st.loss.toFixed(4)} nll ${st.nll.toFixed(4)} kl ${st.kl.toExponential(2)} train ${(100 * st.trainAccuracy).toFixed(1)}% val ${(100 * (st.validationAccuracy ?? NaN)).toFixed(1)}% (${st.seconds.toFixed(1)}s)`,
          true,
        );
        restored.push(st);
        const every = cfg.train.checkpointEvery;
        if (every > 0 && (trainer.epoch % every === 0 || trainer.epoch === epochs)) {
          const state = await trainer.state();
          await saveCheckpoint(dir, `ckpt-${name}`, trainer.epoch, trainer.net, state.optimizer, {
            history: restored,
            trainSeconds: trainSeconds + (performance.now() - t0) / 1000,
          });
        }
      },
    },
  });
  trainSeconds += (performance.now() - t0) / 1000;
  const history = restored;
  const last = history.at(-1);
  bar.finish(last ? `val ${(100 * (last.validationAccuracy ?? NaN)).toFixed(2)}%` : 'no training epochs');

  const evalSet = cfg.eval.split === 'test' ? data.test : data.validation;
  const models = [
    { name, posterior: fit.posterior },
    ...(fit.companions ?? []).map((c) => ({ name: name === 'main' ? c.name : `${name}/${c.name}`, posterior: c.posterior })),
  ];
  // The trained posteriors, for `bayesprune export` (src/export/model-store.ts): <run>/model/<model>/.
  for (const m of models) await saveTrainedModel(dir, m.name, m.posterior, data.train);
  const results: VariantResult[] = [];
  for (const [k, m] of models.entries()) {
    try {
      results.push({
        name: m.name,
        config: cfg,
        method: m.posterior.method,
        network: m.posterior.network.description,
        numWeights: m.posterior.network.numWeights(),
        history,
        trainSeconds,
        ...(k > 0 ? { sharedTrainingWith: name } : {}),
        ...(k === 0 && fit.section ? { section: fit.section } : {}),
        // Protocols of issue 10 (src/experiment/protocols.ts): post-hoc rows tagged with their cost, other protocols' rows added.
        curves: await withProtocols(await evaluateModel(m.name, m.posterior, cfg, data, evalSet, stream.fork(k === 0 ? 'eval' : `eval/${m.name}`), sink), {
          name: m.name,
          posterior: m.posterior,
          cfg,
          train: data.train,
          evalSet,
          stream: stream.fork(`protocols/${m.name}`),
          main: k === 0,
          pretrain: { epochs: history.length, seconds: trainSeconds },
          log: (l: string) => sink?.write(`[${m.name}] ${l}\n`),
        }),
      });
    } finally {
      m.posterior.dispose();
    }
  }
  await writeJsonAtomic(done, results);
  return results;
}

/** Pruning curves and calibration of one trained model. */
async function evaluateModel(
  name: string,
  posterior: Posterior,
  cfg: ExperimentConfig,
  data: LoadedDataset,
  evalSet: Dataset,
  stream: RandomStream,
  sink: ProgressSink | null,
): Promise<CurveResult> {
  const pbar = new Progress(`[${name}] prune+eval`, 1, sink ?? undefined, sink !== null);
  const unc = new UncertaintyEvaluator(cfg, evalSet, data.validation, stream.fork('uncertainty')); // issue 13: src/experiment/ood-eval.ts
  const curves = await pruningCurves(posterior, {
    variant: name,
    ...curveOptionsFrom(cfg),
    stream,
    data: evalSet,
    scoreData: data.train,
    pointMetrics: unc.hook,
    pointSets: unc.pointSets(),
    onPoint: (d, total, r) => {
      pbar.total = total;
      pbar.update(d, `${r.criterion} @ ${(100 * r.sparsity).toFixed(1)}%: acc ${(100 * r.accuracy).toFixed(2)}% ece ${r.ece.toFixed(4)}`);
    },
  });
  curves.uncertainty = unc.summary(stream.fork('uncertainty'));
  const th = curves.threshold;
  const gt = curves.gates;
  pbar.finish(
    th
      ? `log α ≥ ${cfg.pruning.logAlphaThreshold}: sparsity ${(100 * th.sparsity.weights.sparsity).toFixed(2)}%, acc ${(100 * th.evaluation.accuracy).toFixed(2)}%`
      : gt
        ? `gates: inputs ${gt.compaction.inputs.after}/${gt.compaction.inputs.before}, MACs ${gt.compaction.macs.before} → ${gt.compaction.macs.after}, acc ${(100 * gt.evaluation.accuracy).toFixed(2)}%`
        : `dense: acc ${(100 * curves.dense.accuracy).toFixed(2)}%, NLL ${curves.dense.nll.toFixed(4)}, ECE ${curves.dense.ece.toFixed(4)}`,
  );
  return curves;
}

/** The data a model trains on is determined by its data config and, when labels are noised, its seed. */
export function dataKey(cfg: ExperimentConfig): string {
  return JSON.stringify(cfg.data) + (cfg.data.labelNoise > 0 ? `#seed=${cfg.seed}` : '');
}

/** Run an experiment end to end. Throws before creating anything if the config or data is bad. */
export async function runExperiment(rawConfig: ExperimentConfig, o: RunOptions = {}): Promise<RunResult> {
  const cfg = validateConfig(rawConfig, o.configFile ?? 'config');
  const resultsDir = resolveResultsRoot(o.resultsDir); // before any work: fails fast on an unusable root
  const variants = [{ name: 'main', config: cfg }, ...cfg.variants.map((v) => ({ name: v.name, config: variantConfig(cfg, v) }))];
  const sink = o.progress === undefined ? process.stderr : o.progress;
  const backend: BackendInfo = await initBackend(o.backend ?? cfg.backend, o.backend ? 'flag' : 'config');
  // Every model's data is loaded (and so checked) before anything is created; variants that
  // share a data config share one copy (label noise is drawn from the seed, so then the seed is part of the key).
  const dataByKey = new Map<string, LoadedDataset>();
  for (const v of variants) {
    const key = dataKey(v.config);
    if (!dataByKey.has(key)) dataByKey.set(key, loadData(v.config));
  }
  const data = dataByKey.get(dataKey(cfg))!;

  let partial: string;
  let runId: string;
  let manifest: Manifest;
  let lock: RunLock;
  if (o.resume) {
    partial = o.resume.replace(/\/+$/, '') || o.resume;
    const resumed = readResumeDir(o.resume, partial);
    manifest = resumed.manifest;
    const saved = resumed.saved;
    if (JSON.stringify(saved) !== JSON.stringify(cfg))
      throw new Error(
        `--resume ${o.resume}: the config differs from the one the run started with (${join(partial, 'config.json')}); resume with the same config and overrides`,
      );
    runId = manifest.runId;
    lock = acquireRunLock(partial, runId, (s) => (sink ?? process.stderr).write(s));
    try {
      // Another process may have finished the run between our first look and the lock.
      manifest = readResumeDir(o.resume, partial).manifest;
    } catch (e) {
      lock.release();
      throw e;
    }
    removeTempFiles(partial);
    manifest.resumedFrom = partial;
  } else {
    const expDir = safeJoin(resultsDir, cfg.experiment);
    if (!o.newRun) {
      const unfinished = unfinishedRuns(expDir, cfg);
      if (unfinished.length)
        throw new Error(
          `an unfinished run of this config exists: ${unfinished.at(-1)}; continue it with --resume ${unfinished.at(-1)} (or pass --new to start another)`,
        );
    }
    removeAbandonedStaging(expDir);
    runId = runIdFor(cfg.seed);
    // The partial directory appears complete with its config and manifest (staged, then
    // renamed), so a kill at any moment leaves either nothing resumable or a resumable run.
    // Two processes starting the same second: the second rename fails and takes the next id.
    for (let attempt = 0; ; attempt++) {
      while (existsSync(join(expDir, runId)) || existsSync(join(expDir, `.${runId}.partial`))) runId += 'x';
      partial = safeJoin(expDir, `.${runId}.partial`);
      const staging = safeJoin(expDir, `.${runId}.partial.new-${process.pid}-${randomBytes(4).toString('hex')}`);
      makeDirs(staging);
      manifest = newManifest({
        experiment: cfg.experiment,
        runId,
        seed: cfg.seed,
        configFile: o.configFile ?? null,
        overrides: o.overrides ?? [],
        backend,
        dataSplit: data.split,
        resumedFrom: null,
      });
      manifest.backend = backend;
      try {
        await writeJsonAtomic(join(staging, 'config.json'), cfg);
        await writeJsonAtomic(join(staging, 'manifest.json'), manifest);
        renameSync(staging, partial);
        break;
      } catch (e) {
        rmSync(staging, { recursive: true, force: true });
        const code = (e as NodeJS.ErrnoException).code;
        if ((code === 'ENOTEMPTY' || code === 'EEXIST') && attempt < 20) continue;
        throw new Error(fsErrorMessage(e, staging));
      }
    }
    lock = acquireRunLock(partial, runId);
  }
  // From here on the lock is ours: released on completion, on error, and on exit (signals).
  const releaseOnExit = () => lock.release();
  process.on('exit', releaseOnExit);
  const handlers: [NodeJS.Signals, () => void][] = [];
  for (const [sig, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    if (process.listenerCount(sig) > 0) continue;
    const h = () => {
      if (o.signals !== false)
        process.stderr.write(
          `\ninterrupted (${sig}): run ${runId} is kept in ${partial} with its last checkpoint; continue it with:\n  ${resumeCommand(o, partial)}\n`,
        );
      lock.release();
      process.exit(code);
    };
    process.on(sig, h);
    handlers.push([sig, h]);
  }
  try {
    if (o.resume) {
      manifest.backend = backend;
      await writeJsonAtomic(join(partial, 'manifest.json'), manifest);
    }
    sink?.write(
      `run ${runId}: backend ${backend.name}, seed ${cfg.seed}, ${variants.length} model${variants.length > 1 ? 's' : ''}, data ${cfg.data.name} (${data.train.n}/${data.validation.n}/${data.test.n})\n`,
    );
    return await finishRun(cfg, variants, dataByKey, partial, runId, manifest, backend, sink, lock);
  } finally {
    lock.release();
    process.off('exit', releaseOnExit);
    for (const [sig, h] of handlers) process.off(sig, h);
  }
}

/** Train and evaluate every model of a locked partial run, write its results and move it to its final directory. */
async function finishRun(
  cfg: ExperimentConfig,
  variants: { name: string; config: ExperimentConfig }[],
  dataByKey: Map<string, LoadedDataset>,
  partial: string,
  runId: string,
  manifest: Manifest,
  backend: BackendInfo,
  sink: ProgressSink | null,
  lock: RunLock,
): Promise<RunResult> {
  const results: VariantResult[] = [];
  // Evaluation workers (eval.workers) start now, while the first model trains on this thread.
  const workers = Math.max(...variants.map((v) => resolveWorkers(v.config.eval.workers, plannedCurvePoints(v.config))));
  if (workers > 0) evalPool(workers);
  try {
    for (const v of variants) results.push(...(await runVariant(v.name, v.config, dataByKey.get(dataKey(v.config))!, partial, sink)));
  } finally {
    await closeEvalPool();
  }

  const rows: CurveRow[] = results.flatMap((r) => allCurveRows(r.curves));
  await writeFileAtomic(join(partial, 'curves.csv'), toCsv(rows.map(flattenRow)));
  const metrics = {
    experiment: cfg.experiment,
    runId,
    backend: backend.name,
    variants: Object.fromEntries(
      results.map((r) => [
        r.name,
        {
          method: r.method,
          network: r.network,
          numWeights: r.numWeights,
          trainSeconds: r.trainSeconds,
          // Pruning + evaluation of the curves: wall seconds, evaluation worker threads and the points they evaluated.
          evaluation: { seconds: r.curves.seconds ?? null, workers: r.curves.workers?.threads ?? 0, pointsOnWorkers: r.curves.workers?.points ?? 0 },
          sharedTrainingWith: r.sharedTrainingWith ?? null,
          epochs: r.history.length,
          final: r.history.at(-1) ?? null,
          dense: summarizeEval(r.curves.dense),
          threshold: r.curves.threshold ? { ...summarizeEval(r.curves.threshold.evaluation), sparsity: r.curves.threshold.sparsity } : null,
          gates: r.curves.gates
            ? {
                ...summarizeEval(r.curves.gates.evaluation),
                sparsity: r.curves.gates.sparsity,
                compaction: r.curves.gates.compaction,
                maxAbsDiff: r.curves.gates.maxAbsDiff,
                maxLogitDiff: r.curves.gates.maxLogitDiff,
                logitScale: r.curves.gates.logitScale,
                agreementExamples: r.curves.gates.agreementExamples,
              }
            : null,
          deadInputs: r.curves.deadInputs ?? null,
          ...(r.section ? { [r.section.key]: r.section.metrics, section: { title: r.section.title, text: r.section.text, table: r.section.table } } : {}),
          // HTML report (src/experiment/html-report.ts): reliability bins and per-layer log α / SNR histograms, pixel map.
          reliability: { dense: r.curves.dense.reliability, threshold: r.curves.threshold?.evaluation.reliability ?? null },
          weightStats: r.curves.threshold?.weightStats ?? null,
          uncertainty: uncertaintyForMetrics(r.curves.uncertainty),
          history: r.history,
          curves: allCurveRows(r.curves),
        },
      ]),
    ),
  };
  await writeJsonAtomic(join(partial, 'metrics.json'), metrics);
  await writeUncertaintyScores(partial, results);
  await writeReport(partial, cfg, manifest, results);
  for (const f of readdirSync(partial)) if (/^(variant-|ckpt-)/.test(f)) rmSync(join(partial, f));
  manifest.endTime = new Date().toISOString();
  manifest.durationSeconds = (Date.parse(manifest.endTime) - Date.parse(manifest.startTime)) / 1000;
  manifest.status = 'complete';
  await writeJsonAtomic(join(partial, 'manifest.json'), manifest);
  const finalDir = join(dirname(partial), runId);
  lock.release(); // the lock file must not travel into the finished run
  renameSync(partial, finalDir);
  sink?.write(`results: ${finalDir}\n`);
  return { runDir: finalDir, manifest, variants: results };
}

/** About how many operating points a model's curves have under `cfg` (to decide on evaluation workers before training). */
function plannedCurvePoints(cfg: ExperimentConfig): number {
  const p = cfg.pruning;
  const perCriterion = p.sparsities.filter((x) => x > 0).length + (p.nm?.length ?? 0) + (p.units?.ratios.length ?? 0);
  return 2 + p.criteria.length * perCriterion;
}

function summarizeEval(e: CurveResult['dense']) {
  const { reliability: _r, ...rest } = e;
  return rest;
}
