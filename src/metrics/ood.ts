/**
 * Out-of-distribution (OOD) detection metrics. Convention throughout: a higher
 * score means "more OOD", and OOD examples are the positive class
 * (Hendrycks & Gimpel 2017, "A baseline for detecting misclassified and
 * out-of-distribution examples").
 * @module
 */
import { uncertaintyDecomposition } from './uncertainty.js';

/** AUROC, AUPR (OOD positive) and FPR at 95 % TPR of one score. */
export interface OodMetrics {
  /** Area under the ROC curve (ties count ½). */
  auroc: number;
  /** Average precision with OOD as the positive class. */
  aupr: number;
  /** Fraction of in-distribution examples flagged when 95 % of OOD examples are. */
  fprAt95Tpr: number;
}

/** OOD metrics per score (see {@link oodReport}). */
export interface OodReport {
  /** Score 1 − max_k p̄_k. */
  oneMinusMaxProb: OodMetrics;
  /** Score H[E p], the predictive entropy. */
  entropy: OodMetrics;
  /** Score MI = H[E p] − E[H p]; absent when only one sample was given (MI ≡ 0). */
  mutualInformation?: OodMetrics;
  /** Number of in-distribution examples. */
  nIn: number;
  /** Number of OOD examples. */
  nOut: number;
  /** Largest number of samples S on either side. */
  samples: number;
}

function checkScores(a: ArrayLike<number>, name: string): void {
  if (a.length === 0) throw new Error(`ood: ${name} is empty`);
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(a[i])) throw new Error(`ood: ${name}[${i}] is NaN`);
  }
}

/**
 * Scores sorted in descending order, grouped into runs of equal values, with
 * the number of in-distribution and OOD examples per run.
 */
function descendingGroups(scoresIn: ArrayLike<number>, scoresOut: ArrayLike<number>): { neg: number[]; pos: number[] } {
  // Each side sorted by the engine's numeric sort, then merged from the top; runs of equal values
  // (=== equality, so −0 and +0 tie, as ±Infinity tie with themselves) form the groups.
  const a = Float64Array.from(scoresIn).sort();
  const b = Float64Array.from(scoresOut).sort();
  const neg: number[] = [];
  const pos: number[] = [];
  let i = a.length - 1;
  let j = b.length - 1;
  while (i >= 0 || j >= 0) {
    const v = i < 0 ? b[j]! : j < 0 ? a[i]! : a[i]! > b[j]! ? a[i]! : b[j]!;
    let ng = 0;
    let ps = 0;
    while (i >= 0 && a[i] === v) {
      ng++;
      i--;
    }
    while (j >= 0 && b[j] === v) {
      ps++;
      j--;
    }
    neg.push(ng);
    pos.push(ps);
  }
  return { neg, pos };
}

/**
 * Area under the ROC curve for separating OOD (`scoresOut`, positive) from
 * in-distribution (`scoresIn`) examples, via the Mann–Whitney U statistic
 * (Hanley & McNeil 1982): with average ranks for ties,
 * AUROC = (R_out − n_out(n_out+1)/2) / (n_in·n_out)
 *       = P(s_out > s_in) + ½·P(s_out = s_in).
 * 1 = perfectly separated, 0.5 = chance (or all scores equal).
 */
export function auroc(scoresIn: ArrayLike<number>, scoresOut: ArrayLike<number>): number {
  checkScores(scoresIn, 'scoresIn');
  checkScores(scoresOut, 'scoresOut');
  return aurocOf(descendingGroups(scoresIn, scoresOut), scoresIn.length, scoresOut.length);
}

type Groups = { neg: number[]; pos: number[] };

function aurocOf({ neg, pos }: Groups, nIn: number, nOut: number): number {
  // Walk from the lowest group up: each OOD example beats every in-dist example
  // strictly below it and ties count ½ (same as the average-rank formula).
  let inBelow = 0;
  let u = 0;
  for (let g = neg.length - 1; g >= 0; g--) {
    u += pos[g] * (inBelow + 0.5 * neg[g]);
    inBelow += neg[g];
  }
  return u / (nIn * nOut);
}

/**
 * Area under the precision–recall curve with OOD as the positive class, as
 * average precision (the step-wise sum used by scikit-learn's
 * `average_precision_score`): AP = Σ_t (R_t − R_{t−1}) P_t over the distinct
 * score thresholds t in descending order, with P_t, R_t the precision and recall
 * of flagging every example with score ≥ t. Tied scores enter together.
 * A random detector scores ≈ n_out / (n_in + n_out).
 */
export function aupr(scoresIn: ArrayLike<number>, scoresOut: ArrayLike<number>): number {
  checkScores(scoresIn, 'scoresIn');
  checkScores(scoresOut, 'scoresOut');
  return auprOf(descendingGroups(scoresIn, scoresOut), scoresOut.length);
}

function auprOf({ neg, pos }: Groups, nPos: number): number {
  let tp = 0;
  let fp = 0;
  let prevRecall = 0;
  let ap = 0;
  for (let g = 0; g < neg.length; g++) {
    tp += pos[g];
    fp += neg[g];
    const recall = tp / nPos;
    ap += (recall - prevRecall) * (tp / (tp + fp));
    prevRecall = recall;
  }
  return ap;
}

/**
 * False-positive rate at a given true-positive rate (OOD positive): the
 * fraction of in-distribution scores ≥ t, for the largest threshold t at which
 * at least `tpr` of the OOD scores are ≥ t (no interpolation; tied scores
 * are flagged together). This equals `fpr[argmax(tpr_curve ≥ tpr)]` on
 * scikit-learn's `roc_curve`.
 */
export function fprAtTpr(scoresIn: ArrayLike<number>, scoresOut: ArrayLike<number>, tpr = 0.95): number {
  checkScores(scoresIn, 'scoresIn');
  checkScores(scoresOut, 'scoresOut');
  if (!(tpr > 0 && tpr <= 1)) throw new Error(`ood: tpr must be in (0, 1], got ${tpr}`);
  return fprAtTprOf(descendingGroups(scoresIn, scoresOut), scoresIn.length, scoresOut.length, tpr);
}

function fprAtTprOf({ neg, pos }: Groups, nIn: number, nOut: number, tpr: number): number {
  const need = Math.ceil(tpr * nOut - 1e-9);
  let tp = 0;
  let fp = 0;
  for (let g = 0; g < neg.length; g++) {
    tp += pos[g];
    fp += neg[g];
    if (tp >= need) return fp / nIn;
  }
  return 1;
}

/** FPR at 95 % TPR ({@link fprAtTpr} with tpr = 0.95), OOD positive. */
export function fprAt95Tpr(scoresIn: ArrayLike<number>, scoresOut: ArrayLike<number>): number {
  return fprAtTpr(scoresIn, scoresOut, 0.95);
}

/** AUROC, AUPR and FPR@95 %TPR of one pair of score arrays. */
export function oodMetrics(scoresIn: ArrayLike<number>, scoresOut: ArrayLike<number>): OodMetrics {
  checkScores(scoresIn, 'scoresIn');
  checkScores(scoresOut, 'scoresOut');
  const g = descendingGroups(scoresIn, scoresOut); // one sort for the three
  return {
    auroc: aurocOf(g, scoresIn.length, scoresOut.length),
    aupr: auprOf(g, scoresOut.length),
    fprAt95Tpr: fprAtTprOf(g, scoresIn.length, scoresOut.length, 0.95),
  };
}

/** The three OOD scores per example (higher = more OOD). */
export interface OodScores {
  /** 1 − max_k p̄_ik. */
  oneMinusMaxProb: Float64Array;
  /** H[E p] (nats). */
  entropy: Float64Array;
  /** H[E p] − E[H p] ≥ 0 (nats); all 0 for a single sample. */
  mutualInformation: Float64Array;
}

function asSamples(p: Float32Array | readonly Float32Array[]): readonly Float32Array[] {
  return p instanceof Float32Array ? [p] : p;
}

/**
 * OOD scores from one n×k probability table or from S sampled tables (array of
 * n×k `Float32Array`s, see the uncertainty module): 1 − max p̄, predictive
 * entropy and mutual information, with p̄ the mean over samples.
 */
export function oodScores(probs: Float32Array | readonly Float32Array[], numClasses: number): OodScores {
  const d = uncertaintyDecomposition(asSamples(probs), numClasses);
  const oneMinusMaxProb = new Float64Array(d.n);
  for (let i = 0; i < d.n; i++) {
    let m = -Infinity;
    for (let j = 0; j < d.k; j++) m = Math.max(m, d.mean[i * d.k + j]);
    oneMinusMaxProb[i] = 1 - m;
  }
  return { oneMinusMaxProb, entropy: d.predictiveEntropy, mutualInformation: d.mutualInformation };
}

/**
 * OOD detection report for in-distribution vs OOD predictions, each one n×k
 * probability table or S sampled tables (same S not required): AUROC, AUPR and
 * FPR@95 %TPR for the scores 1 − max prob, entropy and (when S > 1 on either
 * side) mutual information.
 */
export function oodReport(inProbs: Float32Array | readonly Float32Array[], outProbs: Float32Array | readonly Float32Array[], numClasses: number): OodReport {
  const a = oodScores(inProbs, numClasses);
  const b = oodScores(outProbs, numClasses);
  const sIn = asSamples(inProbs).length;
  const sOut = asSamples(outProbs).length;
  const report: OodReport = {
    oneMinusMaxProb: oodMetrics(a.oneMinusMaxProb, b.oneMinusMaxProb),
    entropy: oodMetrics(a.entropy, b.entropy),
    nIn: a.entropy.length,
    nOut: b.entropy.length,
    samples: Math.max(sIn, sOut),
  };
  if (sIn > 1 || sOut > 1) report.mutualInformation = oodMetrics(a.mutualInformation, b.mutualInformation);
  return report;
}
