/**
 * Uncertainty analysis at every operating point (issue 13): the per-point hook that
 * {@link pruningCurves} calls while a point's masks are set, and the run-level summary.
 *
 * Per MC row (the S-sample predictive already computed on the evaluation split):
 * - selective prediction: AURC and accuracy at 90 % / 95 % coverage for predictive entropy
 *   (`sel.*.entropy`), mutual information (`sel.*.mi`) and 1 − max probability (`sel.*.maxprob`);
 * - with `eval.ood.enabled`: for every shift, the same masked posterior and the same random
 *   stream as the in-distribution predictive (the point's `<key>/mc` fork) on the shifted
 *   set; AUROC / AUPR / FPR@95 %TPR of entropy, MI and 1 − max p separating the first
 *   `eval.ood.examples` evaluation examples from the shifted ones (`ood.<shift>.<score>.<metric>`),
 *   and accuracy / ECE / NLL under the label-preserving shifts (`shift.<shift>.<metric>`).
 * Per mean row (the posterior-mean network): temperature scaling fitted on the validation
 * logits (`ts.*`; for a MAP posterior this is the usual MAP + temperature-scaling baseline).
 * After the curves: Learn-then-Test risk control per criterion (`pruning.riskControl`).
 * @module
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Dataset } from '../data/dataset.js';
import { writeFileAtomic } from '../report/atomic.js';
import { FASHION_MNIST_DEFAULT_DIR } from '../data/fashion-mnist.js';
import { loadIdxPair } from '../data/idx.js';
import { gaussianNoiseDataset, headOf, imageGeometry, invertDataset, rotateDataset, uniformNoiseDataset } from '../data/shifts.js';
import type { Posterior } from '../inference/posterior.js';
import { adaptiveEce, brier, calibrationSummary, classwiseEce, topLabel } from '../metrics/calibration.js';
import { oodMetrics, oodScores, type OodScores } from '../metrics/ood.js';
import { calibrationSplit, learnThenTest } from '../metrics/risk-control.js';
import { accuracyAtCoverage, riskCoverage, thinCurve } from '../metrics/selective.js';
import { fitTemperature, softmaxWithTemperature } from '../metrics/temperature.js';
import { uncertaintyDecomposition } from '../metrics/uncertainty.js';
import type { RandomStream } from '../random.js';
import type { ExperimentConfig } from './config.js';
import type { OodShiftName } from './uncertainty-config.js';

/** What the per-point hook sees. */
export interface PointContext {
  posterior: Posterior;
  /** The MC predictive's per-sample probabilities on the evaluation split, [S][n×k]. */
  samples: Float32Array[];
  /**
   * The point's MC predictive on another set: the same masked posterior and the same draws
   * (a fresh copy of the stream the evaluation split's predictive used), [S][n×k].
   */
  predict: (ds: Dataset) => Float32Array[];
  /** Logits of the point's posterior-mean network on a set, n×k (computed once per point and set). */
  meanLogits: (ds: Dataset) => Float32Array;
  point: { variant: string; criterion: string; scope: string; targetSparsity: number | null; structure?: string; unitRatio?: number | null; sparsity: number };
}

/** Extra columns for the point's MC and mean rows. */
export type PointMetricsHook = (ctx: PointContext) => { mc?: Record<string, number | null>; mean?: Record<string, number | null> } | undefined;

/** One shifted / OOD set. */
export interface ShiftSet {
  name: OodShiftName;
  data: Dataset;
  /** Whether labels are meaningful (accuracy / ECE under shift). */
  labelled: boolean;
}

/** Score names used in column keys. */
const SCORE_KEYS: [keyof OodScores, string][] = [
  ['entropy', 'entropy'],
  ['mutualInformation', 'mi'],
  ['oneMinusMaxProb', 'maxprob'],
];

/** Learn-then-Test outcome for one criterion. */
export interface RiskControlResult {
  criterion: string;
  /** The predictive whose accuracy drop is controlled (`pruning.riskControl.predictive`). */
  predictive: 'mean' | 'mc';
  epsilon: number;
  delta: number;
  calibrationExamples: number;
  testExamples: number;
  /** Candidates in test order (increasing target sparsity). */
  candidates: { targetSparsity: number; sparsity: number; calibrationRisk: number; pValue: number }[];
  /** Chosen target sparsity (0 = dense: nothing certified), its measured sparsity and p-value (null for dense). */
  chosenTargetSparsity: number;
  chosenSparsity: number;
  pValue: number | null;
  /** Accuracy drop (dense − chosen) on the held-out test part of the evaluation split. */
  testDrop: number;
  denseTestAccuracy: number;
  chosenTestAccuracy: number;
}

/** What a run records about its uncertainty analysis (metrics.json `uncertainty`; scores in uncertainty.json). */
export interface UncertaintySummary {
  ood: { shifts: { name: string; n: number; labelled: boolean }[]; inExamples: number; notes: string[] } | null;
  /** Risk–coverage curves of the dense MC predictive (thinned to ≤ 50 points). */
  denseRiskCoverage: Record<string, { coverage: number[]; risk: number[]; aurc: number }>;
  riskControl: RiskControlResult[] | null;
  /**
   * The dense model's OOD scores per example (in-distribution and each shift), so that every
   * AUROC of the dense rows can be recomputed independently. Written to uncertainty.json.
   */
  denseScores?: Record<string, { entropy: number[]; mi: number[]; maxprob: number[] }>;
}

/**
 * The shifted / OOD sets of `evalSet` named in `shifts`, each of `examples` examples (the
 * first of the evaluation split, transformed; uniform noise and Fashion-MNIST drawn fresh).
 * Image shifts are skipped (with a note) for non-image data; Fashion-MNIST when not
 * installed, when the images are not 28×28, or when the data is Fashion-MNIST itself.
 */
export function buildShiftSets(
  evalSet: Dataset,
  o: { shifts: readonly OodShiftName[]; examples: number; noiseSigma: number },
  stream: RandomStream,
  dataName: string,
): { sets: ShiftSet[]; notes: string[] } {
  const base = headOf(evalSet, o.examples);
  const geo = imageGeometry(evalSet.shape);
  const sets: ShiftSet[] = [];
  const notes: string[] = [];
  for (const s of o.shifts) {
    if ((s.startsWith('rot') || s === 'inverted') && !geo) {
      notes.push(`${s} skipped: data shape [${evalSet.shape.join(', ')}] is not an image`);
      continue;
    }
    if (s.startsWith('rot')) sets.push({ name: s, data: rotateDataset(base, Number(s.slice(3))), labelled: true });
    else if (s === 'inverted') sets.push({ name: s, data: invertDataset(base), labelled: true });
    else if (s === 'gaussian-noise')
      sets.push({ name: s, data: gaussianNoiseDataset(base, o.noiseSigma, stream.fork('gaussian-noise'), geo !== null), labelled: true });
    else if (s === 'uniform-noise') sets.push({ name: s, data: uniformNoiseDataset(base, base.n, stream.fork('uniform-noise')), labelled: false });
    else if (s === 'fashion-mnist') {
      const f = loadFashionTest(evalSet, base.n, dataName);
      if (typeof f === 'string') notes.push(`fashion-mnist skipped: ${f}`);
      else sets.push({ name: s, data: f, labelled: false });
    }
  }
  return { sets, notes };
}

const fashionCache = new Map<string, Dataset>();

/** The first `n` Fashion-MNIST test images shaped like `evalSet`, or why not. */
function loadFashionTest(evalSet: Dataset, n: number, dataName: string): Dataset | string {
  if (dataName === 'fashion-mnist') return 'the evaluation data is Fashion-MNIST itself';
  const geo = imageGeometry(evalSet.shape);
  if (!geo || geo.h !== 28 || geo.w !== 28 || geo.c !== 1) return `the data's images are not 28×28×1 (shape [${evalSet.shape.join(', ')}])`;
  const dir = process.env.FASHION_MNIST_DIR ?? FASHION_MNIST_DEFAULT_DIR;
  const flat = evalSet.shape.length === 1;
  const key = `${dir}|${flat}`;
  let ds = fashionCache.get(key);
  if (!ds) {
    const pick = (b: string) => (existsSync(join(dir, `${b}.gz`)) ? join(dir, `${b}.gz`) : existsSync(join(dir, b)) ? join(dir, b) : null);
    const img = pick('t10k-images-idx3-ubyte');
    const lab = pick('t10k-labels-idx1-ubyte');
    if (!img || !lab) return `not installed (no t10k files in ${dir}; apt-get install dataset-fashion-mnist, or set FASHION_MNIST_DIR)`;
    ds = loadIdxPair(img, lab, { name: 'fashion-mnist/test', numClasses: 10, flat });
    fashionCache.set(key, ds);
  }
  const h = headOf(ds, n);
  return { ...h, shape: [...evalSet.shape], numClasses: evalSet.numClasses };
}

/** Logits of the posterior-mean network (current masks) on `ds`, n×k (moved to evaluate.ts). */
export { meanLogits } from './evaluate.js';

function headSamples(samples: Float32Array[], m: number, k: number): Float32Array[] {
  return samples.map((s) => s.subarray(0, m * k));
}

/**
 * Collects the per-point uncertainty metrics of one model and summarizes them. Create one per
 * evaluated model; pass {@link hook} as `pointMetrics` to pruningCurves, then call {@link summary}.
 */
export class UncertaintyEvaluator {
  readonly sets: ShiftSet[] = [];
  readonly notes: string[] = [];
  /** Per weight-structure operating point (`<criterion>|<target sparsity>`): correctness of the risk-controlled predictive. */
  private readonly correct = new Map<string, { correct: Uint8Array; sparsity: number }>();
  private denseRc: UncertaintySummary['denseRiskCoverage'] = {};
  private denseScores: UncertaintySummary['denseScores'];
  private readonly inExamples: number;

  constructor(
    private readonly cfg: ExperimentConfig,
    private readonly evalSet: Dataset,
    private readonly validation: Dataset | null,
    stream: RandomStream,
  ) {
    const ood = cfg.eval.ood;
    this.inExamples = Math.min(ood.examples, evalSet.n);
    if (ood.enabled) {
      const b = buildShiftSets(evalSet, ood, stream.fork('ood-sets'), cfg.data.name);
      this.sets.push(...b.sets);
      this.notes.push(...b.notes);
    }
  }

  /** The sets {@link hook} asks the predictor for at every point (so evaluation workers can start on them at once). */
  pointSets(): { ds: Dataset; predict: boolean; mean: boolean }[] {
    const out = this.sets.map((set) => ({ ds: set.data, predict: true, mean: false }));
    if (this.validation && this.validation.n > 0) out.push({ ds: this.validation, predict: false, mean: true });
    return out;
  }

  readonly hook: PointMetricsHook = (ctx) => {
    const k = this.evalSet.numClasses;
    const y = this.evalSet.y;
    const u = uncertaintyDecomposition(ctx.samples, k);
    const { correct } = topLabel(u.mean, y);
    const maxprob = new Float64Array(u.n);
    for (let i = 0; i < u.n; i++) {
      let m = 0;
      for (let j = 0; j < k; j++) m = Math.max(m, u.mean[i * k + j]!);
      maxprob[i] = 1 - m;
    }
    const mc: Record<string, number | null> = {};
    const scores: Record<string, Float64Array> = { entropy: u.predictiveEntropy, mi: u.mutualInformation, maxprob };
    const isDense = ctx.point.criterion === 'none';
    for (const [name, s] of Object.entries(scores)) {
      const rc = riskCoverage(s, correct);
      mc[`sel.aurc.${name}`] = rc.aurc;
      mc[`sel.acc@90.${name}`] = accuracyAtCoverage(s, correct, 0.9);
      mc[`sel.acc@95.${name}`] = accuracyAtCoverage(s, correct, 0.95);
      if (isDense) this.denseRc[name] = { ...thinCurve(rc), aurc: rc.aurc };
    }
    const structure = ctx.point.structure ?? 'weights';
    const rcPoint = this.cfg.pruning.riskControl.enabled && structure === 'weights' && ctx.point.targetSparsity !== null && ctx.point.scope !== 'threshold';
    if (rcPoint) {
      let c = correct;
      if (this.cfg.pruning.riskControl.predictive === 'mean') {
        c = topLabel(ctx.meanLogits(this.evalSet), y).correct; // argmax of logits = argmax of the mean network's probabilities
      }
      this.correct.set(`${ctx.point.criterion}|${ctx.point.targetSparsity}`, { correct: c, sparsity: ctx.point.sparsity });
    }
    if (this.sets.length) {
      const m = this.inExamples;
      const inS = oodScores(headSamples(ctx.samples, m, k), k);
      const dense: NonNullable<UncertaintySummary['denseScores']> = {};
      if (isDense) dense['in-distribution'] = toLists(inS);
      for (const set of this.sets) {
        const out = ctx.predict(set.data);
        const outS = oodScores(out, k);
        for (const [field, key] of SCORE_KEYS) {
          const r = oodMetrics(inS[field], outS[field]);
          mc[`ood.${set.name}.${key}.auroc`] = r.auroc;
          mc[`ood.${set.name}.${key}.aupr`] = r.aupr;
          mc[`ood.${set.name}.${key}.fpr95`] = r.fprAt95Tpr;
        }
        if (set.labelled) {
          const mean = uncertaintyDecomposition(out, k).mean;
          const c = calibrationSummary(mean, set.data.y);
          mc[`shift.${set.name}.accuracy`] = c.accuracy;
          mc[`shift.${set.name}.ece`] = c.ece;
          mc[`shift.${set.name}.nll`] = c.nll;
        }
        if (isDense) dense[set.name] = toLists(outS);
      }
      if (isDense) this.denseScores = dense;
    }
    let mean: Record<string, number | null> | undefined;
    if (this.validation && this.validation.n > 0) {
      const t = fitTemperature(ctx.meanLogits(this.validation), this.validation.y);
      const p = softmaxWithTemperature(ctx.meanLogits(this.evalSet), k, t.temperature);
      const c = calibrationSummary(p, y);
      mean = {
        'ts.temperature': t.temperature,
        'ts.accuracy': c.accuracy,
        'ts.nll': c.nll,
        'ts.brier': brier(p, y),
        'ts.ece': c.ece,
        'ts.eceAdaptive': adaptiveEce(p, y),
        'ts.eceClasswise': classwiseEce(p, y),
      };
    }
    return { mc, mean };
  };

  /** Risk control (when enabled) and the collected summaries. */
  summary(stream: RandomStream): UncertaintySummary {
    const rcCfg = this.cfg.pruning.riskControl;
    let riskControl: RiskControlResult[] | null = null;
    const dense = [...this.correct.entries()].find(([key]) => key.startsWith('none|'))?.[1];
    if (rcCfg.enabled && dense) {
      const perm = stream.fork('risk-control').permutation(this.evalSet.n);
      const { calibration, test } = calibrationSplit(perm, rcCfg.calibrationSplit);
      const pick = (c: Uint8Array, idx: Int32Array) => Uint8Array.from(idx, (i) => c[i]!);
      const acc = (c: Uint8Array, idx: Int32Array) => idx.reduce((s, i) => s + c[i]!, 0) / Math.max(1, idx.length);
      riskControl = [];
      const criteria = [...new Set([...this.correct.keys()].map((key) => key.split('|')[0]!))].filter((c) => c !== 'none');
      for (const crit of criteria) {
        const cands = [...this.correct.entries()]
          .filter(([key]) => key.startsWith(`${crit}|`))
          .map(([key, v]) => ({ target: Number(key.split('|')[1]), ...v }))
          .filter((c) => c.target > 0)
          .sort((a, b) => a.target - b.target);
        const ltt = learnThenTest(
          pick(dense.correct, calibration),
          cands.map((c) => pick(c.correct, calibration)),
          rcCfg.epsilon,
          rcCfg.delta,
        );
        const chosen = ltt.chosen >= 0 ? cands[ltt.chosen]! : null;
        const denseAcc = acc(dense.correct, test);
        const chosenAcc = chosen ? acc(chosen.correct, test) : denseAcc;
        riskControl.push({
          criterion: crit,
          predictive: rcCfg.predictive,
          epsilon: rcCfg.epsilon,
          delta: rcCfg.delta,
          calibrationExamples: calibration.length,
          testExamples: test.length,
          candidates: cands.map((c, j) => ({ targetSparsity: c.target, sparsity: c.sparsity, calibrationRisk: ltt.risks[j]!, pValue: ltt.pValues[j]! })),
          chosenTargetSparsity: chosen ? chosen.target : 0,
          chosenSparsity: chosen ? chosen.sparsity : dense.sparsity,
          pValue: chosen ? ltt.pValues[ltt.chosen]! : null,
          testDrop: denseAcc - chosenAcc,
          denseTestAccuracy: denseAcc,
          chosenTestAccuracy: chosenAcc,
        });
      }
    }
    return {
      ood: this.cfg.eval.ood.enabled
        ? { shifts: this.sets.map((s) => ({ name: s.name, n: s.data.n, labelled: s.labelled })), inExamples: this.inExamples, notes: this.notes }
        : null,
      denseRiskCoverage: this.denseRc,
      riskControl,
      ...(this.denseScores ? { denseScores: this.denseScores } : {}),
    };
  }
}

function toLists(s: OodScores): { entropy: number[]; mi: number[]; maxprob: number[] } {
  return { entropy: Array.from(s.entropy), mi: Array.from(s.mutualInformation), maxprob: Array.from(s.oneMinusMaxProb) };
}

/** The summary as recorded in metrics.json (without the per-example dense scores). */
export function uncertaintyForMetrics(u: UncertaintySummary | undefined): Omit<UncertaintySummary, 'denseScores'> | null {
  if (!u) return null;
  const { denseScores: _d, ...rest } = u;
  return rest;
}

/**
 * `uncertainty.json`: per model, the dense MC predictive's per-example OOD scores (entropy,
 * MI, 1 − max p) on the in-distribution examples and on each shift, from which every dense
 * `ood.*` column of curves.csv can be recomputed. Written only when OOD evaluation ran.
 */
export async function writeUncertaintyScores(dir: string, results: readonly { name: string; curves: { uncertainty?: UncertaintySummary } }[]): Promise<void> {
  const withScores = results.filter((r) => r.curves.uncertainty?.denseScores);
  if (!withScores.length) return;
  const body = Object.fromEntries(withScores.map((r) => [r.name, { denseScores: r.curves.uncertainty!.denseScores }]));
  await writeFileAtomic(join(dir, 'uncertainty.json'), JSON.stringify(body));
}
