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
import { existsSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { initBackend, type BackendChoice, type BackendInfo } from '../backend.js';
import { loadDataset, type LoadedDataset } from '../data/registry.js';
import { subset, type Dataset } from '../data/dataset.js';
import type { Posterior } from '../inference/posterior.js';
import type { RandomStream } from '../random.js';
import { getMethod } from '../inference/methods.js';
import type { EpochStats } from '../inference/trainer.js';
import { rootStream } from '../random.js';
import { toCsv } from '../report/table.js';
import { writeFileAtomic, writeJsonAtomic } from '../report/atomic.js';
import { validateConfig, variantConfig, type ExperimentConfig } from './config.js';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { flattenRow, pruningCurves, type CurveResult, type CurveRow } from './curves.js';
import { newManifest, type Manifest } from './manifest.js';
import { Progress, type ProgressSink } from './progress.js';
import { writeReport } from './report.js';
import { makeDirs, resolveResultsRoot, safeJoin } from './paths.js';

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
  return d;
}

/** Train and evaluate one variant, checkpointing into `dir`. */
async function runVariant(name: string, cfg: ExperimentConfig, data: LoadedDataset, dir: string, sink: ProgressSink | null): Promise<VariantResult[]> {
  const done = join(dir, `variant-${name}.json`);
  if (existsSync(done)) return JSON.parse(readFileSync(done, 'utf8')) as VariantResult[];

  const stream = rootStream(cfg.seed).fork(`variant/${name}`);
  const epochs = cfg.train.epochs;
  const bar = new Progress(`[${name}] train`, epochs, sink ?? undefined, sink !== null);
  let restored: EpochStats[] = [];
  let trainSeconds = 0;
  const t0 = performance.now();
  const method = getMethod(cfg.inference.method);
  const fit = await method.fit({
    config: cfg,
    train: data.train,
    validation: data.validation,
    stream,
    restore: async (net, trainer) => {
      const ck = loadCheckpoint<{ history: EpochStats[]; trainSeconds: number }>(dir, `ckpt-${name}`, net.variables());
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
      onStep: (s) =>
        bar.update(
          s.epoch + s.step / s.steps,
          `epoch ${s.epoch + 1}/${epochs} loss ${s.loss.toFixed(4)} nll ${s.nll.toFixed(4)} kl ${s.kl.toExponential(2)} acc ${(100 * s.accuracy).toFixed(1)}%`,
        ),
      onEpoch: async (st, trainer) => {
        bar.update(
          st.epoch + 1,
          `epoch ${st.epoch + 1}/${epochs} loss ${st.loss.toFixed(4)} nll ${st.nll.toFixed(4)} kl ${st.kl.toExponential(2)} train ${(100 * st.trainAccuracy).toFixed(1)}% val ${(100 * (st.validationAccuracy ?? NaN)).toFixed(1)}% (${st.seconds.toFixed(1)}s)`,
          true,
        );
        restored.push(st);
        const every = cfg.train.checkpointEvery;
        if (every > 0 && (trainer.epoch % every === 0 || trainer.epoch === epochs)) {
          const state = await trainer.state();
          await saveCheckpoint(dir, `ckpt-${name}`, trainer.epoch, trainer.net.variables(), state.optimizer, {
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
        curves: await evaluateModel(m.name, m.posterior, cfg, data, evalSet, stream.fork(k === 0 ? 'eval' : `eval/${m.name}`), sink),
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
  const curves = await pruningCurves(posterior, {
    variant: name,
    criteria: cfg.pruning.criteria,
    scope: cfg.pruning.scope,
    sparsities: cfg.pruning.sparsities,
    logAlphaThreshold: cfg.pruning.logAlphaThreshold,
    nm: cfg.pruning.nm,
    units: cfg.pruning.units,
    deadInputs: cfg.pruning.deadInputs,
    samples: cfg.eval.samples,
    batchSize: cfg.eval.batchSize,
    stream,
    data: evalSet,
    scoreData: data.train,
    onPoint: (d, total, r) => {
      pbar.total = total;
      pbar.update(d, `${r.criterion} @ ${(100 * r.sparsity).toFixed(1)}%: acc ${(100 * r.accuracy).toFixed(2)}% ece ${r.ece.toFixed(4)}`);
    },
  });
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

/** Run an experiment end to end. Throws before creating anything if the config or data is bad. */
export async function runExperiment(rawConfig: ExperimentConfig, o: RunOptions = {}): Promise<RunResult> {
  const cfg = validateConfig(rawConfig, o.configFile ?? 'config');
  const resultsDir = resolveResultsRoot(o.resultsDir); // before any work: fails fast on an unusable root
  const variants = [{ name: 'main', config: cfg }, ...cfg.variants.map((v) => ({ name: v.name, config: variantConfig(cfg, v) }))];
  const sink = o.progress === undefined ? process.stderr : o.progress;
  const backend: BackendInfo = await initBackend(o.backend ?? cfg.backend, o.backend ? 'flag' : 'config');
  // Every model's data is loaded (and so checked) before anything is created; variants that
  // share a data config share one copy.
  const dataByKey = new Map<string, LoadedDataset>();
  for (const v of variants) {
    const key = JSON.stringify(v.config.data);
    if (!dataByKey.has(key)) dataByKey.set(key, loadData(v.config));
  }
  const data = dataByKey.get(JSON.stringify(cfg.data))!;

  let partial: string;
  let runId: string;
  let manifest: Manifest;
  if (o.resume) {
    partial = o.resume.replace(/\/+$/, '');
    const mp = join(partial, 'manifest.json');
    if (!existsSync(mp)) throw new Error(`--resume ${o.resume}: no manifest.json there; expected a results/<experiment>/.<run-id>.partial directory`);
    manifest = JSON.parse(readFileSync(mp, 'utf8')) as Manifest;
    const saved = JSON.parse(readFileSync(join(partial, 'config.json'), 'utf8')) as ExperimentConfig;
    if (JSON.stringify(saved) !== JSON.stringify(cfg))
      throw new Error(
        `--resume ${o.resume}: the config differs from the one the run started with (${join(partial, 'config.json')}); resume with the same config and overrides`,
      );
    runId = manifest.runId;
    manifest.resumedFrom = partial;
  } else {
    runId = runIdFor(cfg.seed);
    const expDir = safeJoin(resultsDir, cfg.experiment);
    while (existsSync(join(expDir, runId)) || existsSync(join(expDir, `.${runId}.partial`))) runId += 'x';
    partial = safeJoin(expDir, `.${runId}.partial`);
    makeDirs(partial);
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
    await writeJsonAtomic(join(partial, 'config.json'), cfg);
  }
  manifest.backend = backend;
  await writeJsonAtomic(join(partial, 'manifest.json'), manifest);
  sink?.write(
    `run ${runId}: backend ${backend.name}, seed ${cfg.seed}, ${variants.length} model${variants.length > 1 ? 's' : ''}, data ${cfg.data.name} (${data.train.n}/${data.validation.n}/${data.test.n})\n`,
  );

  const results: VariantResult[] = [];
  for (const v of variants) results.push(...(await runVariant(v.name, v.config, dataByKey.get(JSON.stringify(v.config.data))!, partial, sink)));

  const rows: CurveRow[] = results.flatMap((r) => r.curves.rows);
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
          history: r.history,
          curves: r.curves.rows,
        },
      ]),
    ),
  };
  await writeJsonAtomic(join(partial, 'metrics.json'), metrics);
  await writeReport(partial, cfg, manifest, results);
  for (const f of readdirSync(partial)) if (/^(variant-|ckpt-)/.test(f)) rmSync(join(partial, f));
  manifest.endTime = new Date().toISOString();
  manifest.durationSeconds = (Date.parse(manifest.endTime) - Date.parse(manifest.startTime)) / 1000;
  manifest.status = 'complete';
  await writeJsonAtomic(join(partial, 'manifest.json'), manifest);
  const finalDir = join(dirname(partial), runId);
  renameSync(partial, finalDir);
  sink?.write(`results: ${finalDir}\n`);
  return { runDir: finalDir, manifest, variants: results };
}

function summarizeEval(e: CurveResult['dense']) {
  const { reliability: _r, ...rest } = e;
  return rest;
}
