/**
 * Pruning curves: for each criterion and target sparsity, mask the posterior,
 * evaluate the predictive, and record accuracy, calibration and sparsity.
 * @module
 */
import { deadInputDiagnostic, deadInputWeights, pruneDeadFirst, type DeadInputPolicy, type DeadInputRanking } from '../pruning/dead-inputs.js';
import type { Dataset } from '../data/dataset.js';
import type { ExperimentConfig } from './config.js';
import type { Posterior } from '../inference/posterior.js';
import { sparsityReport, type SparsityReport } from '../metrics/sparsity.js';
import type { MaskSet } from '../nn/network.js';
import { masksAtSparsity, masksAtThreshold, type PruningScope } from '../pruning/masks.js';
import { compactNetwork, type CompactionReport } from '../pruning/compaction.js';
import { gateMasks, unitMasksAtRatio, unitScores, type UnitAggregate, type UnitLayers } from '../pruning/structured.js';
import { nmMasks } from '../pruning/nm.js';
import * as tf from '@tensorflow/tfjs-core';
import type { RandomStream } from '../random.js';
import { getCriterion, type ScoreSet } from '../scores/registry.js';
import { BMR_EVIDENCE_MARGIN, bmrScores } from '../scores/bmr.js';
import { evaluateSamples, meanLogits, predictSamples, softmaxRows, type Evaluation } from './evaluate.js';
import { SharedEvaluator } from './mc-engine.js';
import { closeEvalPool, evalPool, resolveWorkers, type EvalPool, type PointResult } from './eval-pool.js';
import type { PointMetricsHook, UncertaintySummary } from './ood-eval.js';
import { weightStats, type WeightStats } from '../report/html/weight-stats.js';

/** One operating point of one criterion. */
export interface CurveRow {
  variant: string;
  criterion: string;
  scope: PruningScope | 'threshold';
  /** `weights` (unstructured), an N:M pattern such as `2:4`, or `units` (whole units / channels removed). */
  structure: string;
  /** Fraction of units removed (structure `units`), else null. */
  unitRatio: number | null;
  /** Requested sparsity (or null at a threshold point). */
  targetSparsity: number | null;
  /** Fraction of weights removed (weight matrices only, biases not counted). */
  sparsity: number;
  /** Sparsity counting biases too. */
  sparsityWithBiases: number;
  compression: number;
  speedup: number;
  /** Fraction of weights removed in each layer. */
  layerSparsity: Record<string, number>;
  /** `mc`: S-sample predictive; `mean`: the posterior-mean network. */
  predictive: 'mc' | 'mean';
  samples: number;
  accuracy: number;
  nll: number;
  brier: number;
  ece: number;
  mce: number;
  entropy: number;
  mutualInformation: number;
  /** Further columns (adaptive / classwise ECE, aleatoric entropy, selective prediction, OOD, temperature scaling: src/experiment/ood-eval.ts). */
  extra?: Record<string, number | null>;
}

/**
 * `masksAtSparsity(scores, s, scope)` for every `s` of `sparsities`, sorting each ranking's scores
 * once instead of once per sparsity: the same masks, entry for entry (k = round(s·total) removed,
 * lowest scores first, ties by position; test/experiment/curve-masks.test.ts).
 */
export function masksAtSparsities(scores: ScoreSet, sparsities: number[], scope: PruningScope): Map<number, MaskSet> {
  const names = [...scores.keys()];
  for (const n of names) {
    const a = scores.get(n)!;
    for (let i = 0; i < a.length; i++)
      if (Number.isNaN(a[i]!)) throw new Error(`score of "${n}" is NaN at index ${i}; a criterion must give a number for every weight`);
  }
  for (const s of sparsities) if (!(s >= 0 && s <= 1)) throw new Error(`sparsity must be in [0, 1] (fraction of weights removed), got ${s}`);
  const groups = scope === 'global' ? [names] : names.map((n) => [n]);
  const out = new Map<number, MaskSet>(sparsities.map((s) => [s, new Map()]));
  for (const group of groups) {
    const arrays = group.map((n) => scores.get(n)!);
    const total = arrays.reduce((a, x) => a + x.length, 0);
    const sorted = new Float32Array(total);
    let off = 0;
    for (const a of arrays) {
      sorted.set(a, off);
      off += a.length;
    }
    sorted.sort();
    for (const s of sparsities) {
      const k = Math.round(s * total);
      const masks = arrays.map((a) => new Float32Array(a.length).fill(k >= total ? 0 : 1));
      if (k > 0 && k < total) {
        const t = sorted[k - 1]!; // the k-th smallest score
        let lo = 0;
        let hi = k - 1;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (sorted[mid]! < t) lo = mid + 1;
          else hi = mid;
        }
        let ties = k - lo; // entries equal to t that go, first by position
        for (const [j, a] of arrays.entries()) {
          const m = masks[j]!;
          for (let i = 0; i < a.length; i++) {
            if (a[i]! < t) m[i] = 0;
            else if (a[i] === t && ties > 0) {
              m[i] = 0;
              ties--;
            }
          }
        }
      }
      for (const [j, n] of group.entries()) out.get(s)!.set(n, masks[j]!);
    }
  }
  return out;
}

/** Sparsity accounting of a posterior's network under `masks`. */
export function accountSparsity(posterior: Posterior, masks: MaskSet | null): SparsityReport {
  return sparsityReport(
    posterior.network.weightLayers().map((l) => ({
      name: l.name,
      shape: l.weightShape!,
      kind: l.kind.includes('conv') ? 'conv' : 'dense',
      mask: masks?.get(`${l.name}.weight`),
      biasCount: l.weightShape!.at(-1)!,
      macsPerWeight: l.macsPerWeight ?? 1,
    })),
  );
}

export interface CurveOptions {
  variant: string;
  criteria: string[];
  scope: PruningScope;
  sparsities: number[];
  /** Threshold operating point on log α (prune where log α ≥ t), or null. */
  logAlphaThreshold: number | null;
  /** Criterion bmr's own point prunes where ΔF₀ ≥ this many nats (`pruning.bmr.margin`; default BMR_EVIDENCE_MARGIN). */
  bmrMargin?: number;
  samples: number;
  batchSize: number;
  stream: RandomStream;
  data: Dataset;
  /** Data for data-dependent criteria (fisher, obd, snip, taylor): the training set. */
  scoreData?: Dataset;
  /** N:M patterns (`"2:4"`) evaluated per criterion. */
  nm?: string[];
  /** Structured points: fractions of units removed per criterion. */
  units?: { ratios: number[]; aggregate: UnitAggregate; scope: PruningScope; layers?: UnitLayers };
  /**
   * Weights fed only by inputs that are 0 in every `scoreData` example: `as-scored` ranks
   * them as the criterion scores them; `prune-first` gives them score −∞ for every
   * criterion but `random` (see pruning/dead-inputs.ts). Either way their ranking is measured.
   */
  deadInputs?: DeadInputPolicy;
  /** Extra per-point metrics computed from the MC predictive's samples while the point's masks are set (src/experiment/ood-eval.ts). */
  pointMetrics?: PointMetricsHook;
  /**
   * The further sets `pointMetrics` asks the predictor for at every point (beside `data`, which
   * every point evaluates with both predictives); with them, evaluation workers start at once
   * instead of after the first point shows which sets are used.
   */
  pointSets?: { ds: Dataset; predict: boolean; mean: boolean }[];
  /** Called after each operating point (progress). */
  onPoint?: (done: number, total: number, row: CurveRow) => void;
  /**
   * `shared` (default): one {@link SharedEvaluator} serves every operating point (data, noise and
   * compacted weights shared; src/experiment/mc-engine.ts) where the posterior allows it;
   * `per-point`: each point through the posterior's own predictive. Both draw the MC noise from
   * a fresh copy of the stream fork `mc` at every point (common random numbers) and agree to
   * float32 rounding (test/mc-engine.test.ts).
   */
  evaluation?: 'shared' | 'per-point';
  /**
   * Worker threads evaluating points ahead on other cores (src/experiment/eval-pool.ts; shared
   * engine only): a number, or `auto` (one per spare core on long curves). Default 0. The numbers
   * do not depend on it.
   */
  workers?: number | 'auto';
}

/** Points queued per evaluation worker: enough that it does not run dry while the main thread evaluates a dense point. */
const QUEUE = 3;

/** Memory the shared engine may hold for the evaluation split (else the curve is evaluated point by point). */
const MAX_ENGINE_BYTES = 768 * 2 ** 20;

/** How a point's predictives are computed: by the shared engine, or point by point. */
export interface PointPredictor {
  /** Per-sample class probabilities [S][n×k] of the MC predictive on `ds` (current masks). */
  predict(ds: Dataset): Float32Array[];
  /** Logits [n×k] of the posterior-mean network on `ds` (current masks), computed once per point and set. */
  meanLogits(ds: Dataset): Float32Array;
  /** Called when the masks change (drops per-point caches). */
  reset(): void;
  dispose(): void;
  /** The shared engine behind it, if any. */
  engine?: SharedEvaluator;
}

/** The predictor of a curve: the shared engine where the posterior allows it, else the per-point path. */
export function pointPredictor(posterior: Posterior, o: Pick<CurveOptions, 'samples' | 'batchSize' | 'stream' | 'evaluation' | 'data'>): PointPredictor {
  let engine = o.evaluation === 'per-point' ? null : SharedEvaluator.create(posterior, o.samples, o.stream.fork('mc'), o.batchSize);
  // What it keeps for the evaluation split alone (OOD sets are at most as large) must fit comfortably in memory.
  if (engine && engine.bytesFor(o.data.n) > MAX_ENGINE_BYTES) {
    engine.dispose();
    engine = null;
  }
  if (engine)
    return { predict: (ds) => engine.predict(ds), meanLogits: (ds) => engine.meanLogits(ds), reset: () => {}, dispose: () => engine.dispose(), engine };
  const logits = new Map<Dataset, Float32Array>();
  return {
    predict: (ds) => predictSamples(posterior, ds, { samples: o.samples, stream: o.stream.fork('mc'), batchSize: o.batchSize }),
    meanLogits: (ds) => {
      const hit = logits.get(ds);
      if (hit) return hit;
      const l = meanLogits(posterior, ds, o.batchSize);
      logits.set(ds, l);
      return l;
    },
    reset: () => logits.clear(),
    dispose: () => logits.clear(),
  };
}

/** The curve options a config sets (`pruning.*`, `eval.samples`, `eval.batchSize`); the caller adds model, data and stream. */
export function curveOptionsFrom(
  cfg: ExperimentConfig,
): Pick<
  CurveOptions,
  'criteria' | 'scope' | 'sparsities' | 'logAlphaThreshold' | 'bmrMargin' | 'nm' | 'units' | 'deadInputs' | 'samples' | 'batchSize' | 'workers'
> {
  return {
    criteria: cfg.pruning.criteria,
    scope: cfg.pruning.scope,
    sparsities: cfg.pruning.sparsities,
    logAlphaThreshold: cfg.pruning.logAlphaThreshold,
    bmrMargin: cfg.pruning.bmr.margin,
    nm: cfg.pruning.nm,
    units: cfg.pruning.units,
    deadInputs: cfg.pruning.deadInputs,
    samples: cfg.eval.samples,
    batchSize: cfg.eval.batchSize,
    workers: cfg.eval.workers,
  };
}

/** The sparsity columns of a curve row, from the sparsity accounting of its masks. */
export function sparsityColumns(report: SparsityReport): Pick<CurveRow, 'sparsity' | 'sparsityWithBiases' | 'compression' | 'speedup' | 'layerSparsity'> {
  return {
    sparsity: report.weights.sparsity,
    sparsityWithBiases: report.withBiases.sparsity,
    compression: report.weights.compression,
    speedup: report.speedup,
    layerSparsity: Object.fromEntries(report.layers.map((l) => [l.name, l.weights.sparsity])),
  };
}

/** The evaluation columns of a curve row (every kind of operating point reports the same ones). */
export function evaluationColumns(
  e: Evaluation,
  predictive: 'mc' | 'mean',
  extra?: Record<string, number | null>,
): Pick<CurveRow, 'predictive' | 'samples' | 'accuracy' | 'nll' | 'brier' | 'ece' | 'mce' | 'entropy' | 'mutualInformation' | 'extra'> {
  return {
    predictive,
    samples: e.samples,
    accuracy: e.accuracy,
    nll: e.nll,
    brier: e.brier,
    ece: e.ece,
    mce: e.mce,
    entropy: e.entropy,
    mutualInformation: e.mutualInformation,
    extra: { eceAdaptive: e.eceAdaptive, eceClasswise: e.eceClasswise, expectedEntropy: e.expectedEntropy, ...extra },
  };
}

/** Evaluate `posterior` under `masks` with both predictives; rows for one operating point. */
function evaluatePoint(
  posterior: Posterior,
  masks: MaskSet | null,
  o: CurveOptions,
  pred: PointPredictor,
  point: Pick<CurveRow, 'variant' | 'criterion' | 'scope' | 'targetSparsity'> & Partial<Pick<CurveRow, 'structure' | 'unitRatio'>>,
): { rows: CurveRow[]; mc: Evaluation; report: SparsityReport } {
  posterior.setMasks(masks);
  pred.reset();
  try {
    const report = accountSparsity(posterior, masks);
    const mcSamples = pred.predict(o.data);
    const mc = evaluateSamples(mcSamples, o.data, o.samples);
    const mean = evaluateSamples([softmaxRows(pred.meanLogits(o.data), o.data.numClasses)], o.data, 0);
    const extra = o.pointMetrics?.({
      posterior,
      samples: mcSamples,
      predict: (ds) => pred.predict(ds),
      meanLogits: (ds) => pred.meanLogits(ds),
      point: { ...point, sparsity: report.weights.sparsity },
    });
    const base = { ...point, structure: point.structure ?? 'weights', unitRatio: point.unitRatio ?? null };
    const row = (e: Evaluation, predictive: 'mc' | 'mean'): CurveRow => ({
      ...base,
      ...sparsityColumns(report),
      ...evaluationColumns(e, predictive, extra?.[predictive]),
    });
    return { rows: [row(mc, 'mc'), row(mean, 'mean')], mc, report };
  } finally {
    posterior.setMasks(null);
    pred.reset();
  }
}

export interface CurveResult {
  rows: CurveRow[];
  /** The dense model's MC evaluation (reliability diagram). */
  dense: Evaluation;
  /** The log α threshold point, when requested and defined. */
  threshold?: { evaluation: Evaluation; sparsity: SparsityReport; rows: CurveRow[]; weightStats?: WeightStats };
  /**
   * The structured operating point of a gated network: the gates' own deterministic
   * decisions (hard-concrete ẑ = 0, spike-and-slab φ ≤ ½) as masks, evaluated, and the
   * network compacted (units, pixels and channels removed) with its parameter and
   * multiply-add counts. `maxAbsDiff` is the largest difference between the class
   * probabilities of the masked and the compacted posterior-mean network on the first
   * `agreementExamples` evaluation inputs; `maxLogitDiff` the same for logits, whose largest
   * magnitude is `logitScale` (float32 sums in another order differ by ~1e-7 relative).
   */
  gates?: {
    evaluation: Evaluation;
    sparsity: SparsityReport;
    rows: CurveRow[];
    compaction: CompactionReport;
    maxAbsDiff: number;
    maxLogitDiff: number;
    logitScale: number;
    agreementExamples: number;
  };
  /** Bayesian model reduction's own point (prune where ΔF ≥ 0) when `bmr` is a criterion; rows include the other criteria at its sparsity. */
  bmr?: { evaluation: Evaluation; sparsity: SparsityReport; rows: CurveRow[] };
  /** Evaluation workers used (eval.workers) and how many of the points they evaluated (the rest ran on the main thread). */
  workers?: { threads: number; points: number };
  /** Wall time of the whole curve evaluation (scores, masks, every point), seconds. */
  seconds?: number;
  /** OOD, selective prediction and risk control summaries (src/experiment/ood-eval.ts), filled in by the run. */
  uncertainty?: UncertaintySummary;
  /** The weights the training data never reach, the policy applied, and how each criterion ranked them as scored. */
  deadInputs?: { weight: string; features: number; weights: number; policy: DeadInputPolicy; criteria: Record<string, DeadInputRanking> };
}

/** Masked vs compacted posterior-mean network on up to `n` examples of `data`: probabilities and logits. */
function compactionAgreement(
  posterior: Posterior,
  masks: MaskSet,
  data: Dataset,
  n = 500,
): { compaction: CompactionReport; maxAbsDiff: number; maxLogitDiff: number; logitScale: number; agreementExamples: number } {
  const net = posterior.network;
  const saved = net.getMasks();
  net.setMasks(masks);
  try {
    const { network, report } = compactNetwork(net);
    const m = Math.min(n, data.n);
    const d = data.x.length / data.n;
    const [probDiff, logitDiff, logitScale] = tf.tidy(() => {
      const x = tf.tensor(data.x.subarray(0, m * d), [m, ...data.shape]);
      const a = net.forward(x, { sample: false });
      const b = network.forward(x, { sample: false });
      return [tf.max(tf.abs(tf.sub(tf.softmax(a), tf.softmax(b)))), tf.max(tf.abs(tf.sub(a, b))), tf.max(tf.abs(a))].map((t) => t.dataSync()[0]!);
    });
    network.dispose();
    return { compaction: report, maxAbsDiff: probDiff!, maxLogitDiff: logitDiff!, logitScale: logitScale!, agreementExamples: m };
  } finally {
    net.setMasks(saved.size ? saved : null);
  }
}

/** All operating points of all criteria. Masks are cleared afterwards. */
export async function pruningCurves(posterior: Posterior, o: CurveOptions): Promise<CurveResult> {
  const started = performance.now();
  const rows: CurveRow[] = [];
  const moments = posterior.moments();
  const hasVariance = moments.some((m) => m.variance.some((v) => v > 0));
  const hasGates = moments.some((m) => m.inclusion !== undefined);
  // Criteria that need what this posterior lacks (variances, gates) are skipped, not failed:
  // one config can compare methods whose posteriors differ.
  const criteria = o.criteria.filter((c) => (hasVariance || !getCriterion(c).needsVariance) && (hasGates || !getCriterion(c).needsGates));
  const doThreshold = o.logAlphaThreshold !== null && hasVariance;
  const nm = o.nm ?? [];
  const unitRatios = o.units?.ratios ?? [];
  const total =
    1 +
    criteria.length * (o.sparsities.filter((s) => s > 0).length + nm.length + unitRatios.length) +
    (doThreshold ? 1 : 0) +
    (hasGates ? 1 : 0) +
    (criteria.includes('bmr') ? 1 : 0);
  let done = 0;
  const tick = (r: CurveRow) => o.onPoint?.(++done, total, r);
  const policy = o.deadInputs ?? 'as-scored';
  const dead = o.scoreData ? deadInputWeights(posterior.network, o.scoreData) : null;
  const deadInputs: CurveResult['deadInputs'] = dead
    ? { weight: dead.name, features: dead.features, weights: dead.indices.length, policy, criteria: {} }
    : undefined;

  // Every operating point is planned first (scores and masks), then evaluated in order; a
  // point's `done` records its rows. Planning first lets a worker pool evaluate points ahead
  // (src/experiment/eval-pool.ts) while the rows keep their order.
  const pred = pointPredictor(posterior, o);
  const engine = pred.engine;
  const workers = engine ? resolveWorkers(o.workers ?? 0, total) : 0;
  let pool: EvalPool | null = workers > 0 ? evalPool(workers) : null;
  // Points evaluated ahead (by a worker, or by this thread while a worker holds the next one), by plan index.
  const ahead = new Map<number, { result: Promise<PointResult>; remote: boolean }>();
  let nextFree = 0; // plan points before this one are taken (evaluated, or queued on a worker)
  let onWorkers = 0;
  let sets: { ds: Dataset; predict: boolean; mean: boolean }[] | null = null;
  const masksOf = (i: number) => {
    posterior.setMasks(plan[i]!.masks);
    try {
      return engine!.currentMasks();
    } finally {
      posterior.setMasks(null);
    }
  };
  // Keeps the workers' queues full with the next points of the plan (as soon as they are planned).
  const topUp = () => {
    if (!pool || !sets) return;
    for (let slot = pool.freeSlot(QUEUE); slot !== null && nextFree < plan.length; slot = pool.freeSlot(QUEUE)) {
      const p = pool.submit(slot, masksOf(nextFree));
      p.then(() => onWorkers++).catch(() => {}); // failures handled where awaited
      ahead.set(nextFree++, { result: p, remote: true });
    }
  };
  /** Every set's predictives under point i's masks, on this thread (what a worker returns). */
  const local = (i: number): PointResult => {
    posterior.setMasks(plan[i]!.masks);
    pred.reset();
    try {
      const r: PointResult = { predict: new Map(), mean: new Map() };
      for (const s of sets!) {
        if (s.predict) r.predict.set(s.ds, pred.predict(s.ds));
        if (s.mean) r.mean.set(s.ds, pred.meanLogits(s.ds));
      }
      return r;
    } finally {
      posterior.setMasks(null);
      pred.reset();
    }
  };
  /** A predictor serving a point's predictives from `r` (anything else computed here). */
  const replayOf = (r: PointResult): PointPredictor => ({
    ...pred,
    predict: (ds) => r.predict.get(ds) ?? pred.predict(ds),
    meanLogits: (ds) => r.mean.get(ds) ?? pred.meanLogits(ds),
    dispose: () => {},
  });
  if (pool && o.pointSets) {
    // The sets are known: the workers start on the first points while the rest are planned.
    const known = new Map<Dataset, { ds: Dataset; predict: boolean; mean: boolean }>([[o.data, { ds: o.data, predict: true, mean: true }]]);
    for (const s of o.pointSets) {
      const have = known.get(s.ds);
      known.set(s.ds, have ? { ds: s.ds, predict: have.predict || s.predict, mean: have.mean || s.mean } : s);
    }
    sets = [...known.values()];
    pool.load(engine!, sets);
  }
  type Point = Parameters<typeof evaluatePoint>[4];
  type Evaluated = ReturnType<typeof evaluatePoint>;
  const plan: { masks: MaskSet | null; point: Point; done: (p: Evaluated) => void }[] = [];
  const add = (job: (typeof plan)[number]) => {
    plan.push(job);
    topUp();
  };
  let denseMc: Evaluation | undefined;
  add({
    masks: null,
    point: { variant: o.variant, criterion: 'none', scope: o.scope, targetSparsity: 0 },
    done: (p) => {
      denseMc = p.mc;
      for (const c of criteria) rows.push(...p.rows.map((r) => ({ ...r, criterion: c })));
      tick(p.rows[0]!);
    },
  });
  const pointDone = (p: Evaluated) => {
    rows.push(...p.rows);
    tick(p.rows[0]!);
  };
  for (const c of criteria) {
    let scores = await getCriterion(c).compute(posterior, { stream: o.stream.fork(`scores/${c}`), data: o.scoreData });
    if (dead) {
      deadInputs!.criteria[c] = deadInputDiagnostic(scores, dead);
      if (policy === 'prune-first' && c !== 'random') scores = pruneDeadFirst(scores, dead);
    }
    const bySparsity = masksAtSparsities(
      scores,
      o.sparsities.filter((s) => s !== 0),
      o.scope,
    );
    for (const s of o.sparsities) {
      if (s === 0) continue;
      add({ masks: bySparsity.get(s)!, point: { variant: o.variant, criterion: c, scope: o.scope, targetSparsity: s }, done: pointDone });
    }
    if (nm.length) {
      const shapes = new Map(moments.map((m) => [m.name, m.shape]));
      for (const pattern of nm) {
        const [n, m] = pattern.split(':').map(Number) as [number, number];
        add({
          masks: nmMasks(scores, shapes, n, m),
          point: { variant: o.variant, criterion: c, scope: 'layer', targetSparsity: 1 - n / m, structure: pattern },
          done: pointDone,
        });
      }
    }
    if (unitRatios.length) {
      const us = unitScores(posterior.network, scores, o.units!.aggregate, o.units!.layers);
      for (const ratio of unitRatios) {
        const { masks } = unitMasksAtRatio(posterior.network, us, ratio, o.units!.scope);
        add({
          masks,
          point: { variant: o.variant, criterion: c, scope: o.units!.scope, targetSparsity: null, structure: 'units', unitRatio: ratio },
          done: pointDone,
        });
      }
    }
  }
  let threshold: CurveResult['threshold'];
  if (doThreshold) {
    // log α ≥ t  ⇔  −log α ≤ −t: keep scores strictly above −t.
    const scores = await getCriterion('log-alpha').compute(posterior, { stream: o.stream.fork('scores/threshold') });
    const masks = masksAtThreshold(scores, -o.logAlphaThreshold!);
    add({
      masks,
      point: { variant: o.variant, criterion: `log-alpha≥${o.logAlphaThreshold}`, scope: 'threshold', targetSparsity: null },
      done: (p) => {
        rows.push(...p.rows);
        threshold = { evaluation: p.mc, sparsity: p.report, rows: p.rows, weightStats: weightStats(moments, masks, o.data.shape, o.logAlphaThreshold) }; // HTML report (src/report/html)
        tick(p.rows[0]!);
      },
    });
  }
  let bmr: CurveResult['bmr'];
  if (criteria.includes('bmr')) {
    // Bayesian model reduction's own operating point (src/scores/bmr.ts): prune every weight whose ΔF ≥ the margin,
    // and every other criterion at the same sparsity for comparison.
    const margin = o.bmrMargin ?? BMR_EVIDENCE_MARGIN;
    const masks = masksAtThreshold(bmrScores(posterior, margin), 0);
    const sparsity = accountSparsity(posterior, masks).weights.sparsity;
    const others = criteria.filter((c) => c !== 'bmr');
    const same: CurveRow[] = [];
    let own: Evaluated;
    add({
      masks,
      point: { variant: o.variant, criterion: `bmr(ΔF≥${margin})`, scope: 'threshold', targetSparsity: null },
      done: (p) => {
        own = p;
        rows.push(...p.rows);
      },
    });
    for (const [i, c] of others.entries()) {
      const cs = await getCriterion(c).compute(posterior, { stream: o.stream.fork(`scores/${c}`), data: o.scoreData });
      add({
        masks: masksAtSparsity(cs, sparsity, o.scope),
        point: { variant: o.variant, criterion: `${c}@bmr-sparsity`, scope: 'threshold', targetSparsity: sparsity },
        done: (q) => {
          same.push(...q.rows);
          if (i === others.length - 1) finishBmr();
        },
      });
    }
    const finishBmr = () => {
      rows.push(...same);
      bmr = { evaluation: own.mc, sparsity: own.report, rows: [...own.rows, ...same] };
      tick(own.rows[0]!);
    };
    if (!others.length)
      plan.at(-1)!.done = (p) => {
        own = p;
        rows.push(...p.rows);
        finishBmr();
      };
  }
  let gates: CurveResult['gates'];
  if (hasGates) {
    const masks = gateMasks(posterior.network);
    add({
      masks,
      point: { variant: o.variant, criterion: 'gates', scope: 'threshold', targetSparsity: null },
      done: (p) => {
        rows.push(...p.rows);
        gates = { evaluation: p.mc, sparsity: p.report, rows: p.rows, ...compactionAgreement(posterior, masks, o.data) };
        tick(p.rows[0]!);
      },
    });
  }

  try {
    for (let i = 0; i < plan.length; i++) {
      const job = plan[i]!;
      if (!pool && !ahead.has(i)) {
        job.done(evaluatePoint(posterior, job.masks, o, pred, job.point));
        continue;
      }
      if (pool && !sets) {
        // The first point shows which sets the curve evaluates (the split, the hook's OOD and validation sets).
        const seen = new Map<Dataset, { ds: Dataset; predict: boolean; mean: boolean }>();
        const note = (ds: Dataset, k: 'predict' | 'mean') => {
          const s = seen.get(ds) ?? { ds, predict: false, mean: false };
          s[k] = true;
          seen.set(ds, s);
        };
        const recording: PointPredictor = {
          ...pred,
          predict: (ds) => {
            note(ds, 'predict');
            return pred.predict(ds);
          },
          meanLogits: (ds) => {
            note(ds, 'mean');
            return pred.meanLogits(ds);
          },
          dispose: () => {},
        };
        job.done(evaluatePoint(posterior, job.masks, o, recording, job.point));
        nextFree = i + 1;
        sets = [...seen.values()];
        pool.load(engine!, sets);
        topUp();
        continue;
      }
      if (!pool) {
        // The pool failed after this point was evaluated ahead on this thread.
        const done = await ahead.get(i)!.result;
        ahead.delete(i);
        job.done(evaluatePoint(posterior, job.masks, o, replayOf(done), job.point));
        continue;
      }
      // Point i's predictives: queued on a worker (this thread evaluates later points meanwhile), or evaluated here.
      let r: PointResult | null = null;
      while (!r) {
        topUp();
        const mine = ahead.get(i)?.result;
        if (!mine) {
          r = local(i);
          nextFree = Math.max(nextFree, i + 1);
          break;
        }
        const settled = await Promise.race([
          mine.then(
            () => true,
            () => true,
          ),
          new Promise<boolean>((res) => setImmediate(() => res(false))),
        ]);
        if (settled) {
          try {
            r = await mine;
          } catch (e) {
            // A worker failed: its queued points are evaluated here from now on.
            process.stderr.write(`warning: ${(e as Error).message}; evaluating the remaining points on the main thread\n`);
            await closeEvalPool();
            pool = null;
            for (const [k, v] of ahead) if (v.remote) ahead.delete(k);
            r = local(i);
          }
        } else if (nextFree < plan.length) {
          // A worker still holds point i: evaluate the next free point here meanwhile.
          const j = nextFree++;
          ahead.set(j, { result: Promise.resolve(local(j)), remote: false });
        } else await mine.catch(() => {}); // settled now: taken (or its failure handled) on the next pass
      }
      ahead.delete(i);
      job.done(evaluatePoint(posterior, job.masks, o, replayOf(r), job.point));
      if (pool?.failure) {
        process.stderr.write(`warning: ${pool.failure.message}; evaluating on the main thread only\n`);
        await closeEvalPool();
        pool = null;
        for (const [k, v] of ahead) if (v.remote) ahead.delete(k);
      }
    }
    const seconds = (performance.now() - started) / 1000;
    return { rows, dense: denseMc!, threshold, bmr, gates, deadInputs, workers: { threads: workers, points: onWorkers }, seconds };
  } finally {
    pred.dispose();
  }
}

/** A curve row as a flat CSV record: per-layer sparsities become `sparsity.<layer>` columns. */
export function flattenRow(r: CurveRow): Record<string, number | string | null> {
  const { layerSparsity, extra, ...rest } = r;
  const out: Record<string, number | string | null> = { ...rest, ...extra };
  for (const [k, v] of Object.entries(layerSparsity)) out[`sparsity.${k}`] = v;
  return out;
}
