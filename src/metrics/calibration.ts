/**
 * Classification and calibration metrics on plain typed arrays.
 *
 * Inputs everywhere in this module:
 * - `probs`: predicted class probabilities, a `Float32Array` of length n·k in
 *   row-major order (row i = example i, column j = class j);
 * - `labels`: true classes, an `Int32Array` of length n with values in [0, k).
 *
 * k is inferred as `probs.length / labels.length`. All sums are accumulated in
 * float64. Rows are not re-normalized: pass probabilities (softmax outputs or a
 * Monte Carlo average of them), not logits.
 *
 * Conventions (see the project's references, "Conventions" and "Calibration and
 * uncertainty"): NLL is a mean over examples; ECE is top-label with 15
 * equal-width bins (lo, hi], the first bin closed at 0, and empty bins
 * contribute 0. Equal-mass bins and the L2 and max (MCE) norms are offered.
 * @module
 */

/** Lower clamp applied to p_y before taking its logarithm in {@link nll}. */
export const NLL_PROB_FLOOR = 1e-12;

/** How the confidence axis is split into bins. */
export type Binning = 'equal-width' | 'equal-mass';

/** Norm used to aggregate per-bin calibration gaps. */
export type CalibrationNorm = 'l1' | 'l2' | 'max';

/** Options of {@link ece}, {@link mce} and {@link reliabilityBins}. */
export interface EceOptions {
  /** Number of bins (default 15). */
  bins?: number;
  /** `'equal-width'` (default) or `'equal-mass'`. */
  binning?: Binning;
  /** `'l1'` (default, the usual ECE), `'l2'` (RMS calibration error) or `'max'` (MCE). */
  norm?: CalibrationNorm;
}

/** One bin of a reliability diagram. */
export interface ReliabilityBin {
  /** Lower edge of the bin (exclusive, except 0 for the first bin). */
  lo: number;
  /** Upper edge of the bin (inclusive). */
  hi: number;
  /** Number of examples whose top-label confidence falls in the bin. */
  count: number;
  /** Fraction of those examples whose top label is correct; NaN when `count` is 0. */
  accuracy: number;
  /** Mean top-label confidence of those examples; NaN when `count` is 0. */
  confidence: number;
}

/** Result of {@link calibrationSummary}. */
export interface CalibrationSummary {
  /** Top-1 accuracy. */
  accuracy: number;
  /** Mean negative log-likelihood (nats). */
  nll: number;
  /** Mean multi-class Brier score. */
  brier: number;
  /** Top-label ECE, 15 equal-width bins, L1. */
  ece: number;
  /** Top-label MCE, 15 equal-width bins (max norm over non-empty bins). */
  mce: number;
  /** Number of examples. */
  n: number;
}

/** Top-label confidence and correctness per example (see {@link topLabel}). */
export interface TopLabel {
  /** max_k p_ik per example. */
  confidence: Float64Array;
  /** 1 where argmax_k p_ik equals the label, else 0. */
  correct: Uint8Array;
}

/**
 * Number of classes k = probs.length / labels.length, after checking the shapes
 * and that every label lies in [0, k).
 * @throws if the lengths are inconsistent, n = 0, or a label is out of range.
 */
export function numClasses(probs: Float32Array, labels: Int32Array): number {
  const n = labels.length;
  if (n === 0) throw new Error('calibration: no examples (labels is empty)');
  const k = probs.length / n;
  if (!Number.isInteger(k) || k < 1) {
    throw new Error(`calibration: probs.length (${probs.length}) is not a multiple of labels.length (${n})`);
  }
  for (let i = 0; i < n; i++) {
    const y = labels[i];
    if (y < 0 || y >= k) throw new Error(`calibration: label ${y} at index ${i} outside [0, ${k})`);
  }
  return k;
}

/**
 * Top-label confidence c_i = max_k p_ik and correctness 1[argmax_k p_ik = y_i].
 * Ties in the argmax go to the lowest class index (as `argmax` in NumPy/tfjs).
 */
export function topLabel(probs: Float32Array, labels: Int32Array): TopLabel {
  const k = numClasses(probs, labels);
  const n = labels.length;
  const confidence = new Float64Array(n);
  const correct = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const o = i * k;
    let best = 0;
    let bestP = probs[o];
    for (let j = 1; j < k; j++) {
      const p = probs[o + j];
      if (p > bestP) {
        bestP = p;
        best = j;
      }
    }
    confidence[i] = bestP;
    correct[i] = best === labels[i] ? 1 : 0;
  }
  return { confidence, correct };
}

/**
 * Top-1 accuracy: (1/N) Σ_i 1[argmax_k p_ik = y_i] (ties → lowest index).
 */
export function accuracy(probs: Float32Array, labels: Int32Array): number {
  const { correct } = topLabel(probs, labels);
  let s = 0;
  for (let i = 0; i < correct.length; i++) s += correct[i];
  return s / correct.length;
}

/**
 * Mean negative log-likelihood in nats:
 * NLL = −(1/N) Σ_i log max(p_{i,y_i}, 1e-12).
 *
 * The clamp at {@link NLL_PROB_FLOOR} = 1e-12 bounds the per-example loss at
 * −log(1e-12) ≈ 27.63, so a single confidently wrong float32 prediction
 * (p_y = 0 after softmax underflow) gives a large finite value instead of ∞.
 * This is a mean, not the sum the SWAG scripts print (Maddox et al. 2019).
 */
export function nll(probs: Float32Array, labels: Int32Array): number {
  const k = numClasses(probs, labels);
  const n = labels.length;
  let s = 0;
  for (let i = 0; i < n; i++) {
    const p = probs[i * k + labels[i]];
    s -= Math.log(p > NLL_PROB_FLOOR ? p : NLL_PROB_FLOOR);
  }
  return s / n;
}

/**
 * Multi-class Brier score (Brier 1950), mean over examples of the squared error
 * against the one-hot label: BS = (1/N) Σ_i Σ_k (p_ik − 1[k = y_i])².
 * Ranges over [0, 2]; uniform predictions score 1 − 1/k.
 */
export function brier(probs: Float32Array, labels: Int32Array): number {
  const k = numClasses(probs, labels);
  const n = labels.length;
  let s = 0;
  for (let i = 0; i < n; i++) {
    const o = i * k;
    const y = labels[i];
    for (let j = 0; j < k; j++) {
      const d = probs[o + j] - (j === y ? 1 : 0);
      s += d * d;
    }
  }
  return s / n;
}

/**
 * Index of the equal-width bin (of `bins` bins on [0, 1]) holding confidence `c`,
 * with bins (lo, hi] and the first bin closed at 0: bin b holds b/B < c ≤ (b+1)/B,
 * bin 0 holds 0 ≤ c ≤ 1/B. Values outside [0, 1] go to the first/last bin.
 *
 * The edges b/B are compared at float32 precision (`Math.fround(b/B)`), because
 * confidences come from float32 tables: a stored confidence of float32(1/15)
 * (which is slightly above the real 1/15) lands in bin 0, as the (lo, hi]
 * convention intends. This matches the reference implementation of Guo et al.
 * (2017), which compares float32 confidences with float32 `linspace` edges.
 */
export function equalWidthBinIndex(c: number, bins: number): number {
  let b = Math.ceil(c * bins) - 1;
  if (b < 0) b = 0;
  if (b > bins - 1) b = bins - 1;
  // Correct for rounding so that edge(b) < c ≤ edge(b+1) with float32 edges.
  while (b > 0 && c <= Math.fround(b / bins)) b--;
  while (b < bins - 1 && c > Math.fround((b + 1) / bins)) b++;
  return b;
}

function checkBins(bins: number): void {
  if (!Number.isInteger(bins) || bins < 1) throw new Error(`calibration: bins must be a positive integer, got ${bins}`);
}

/**
 * Reliability bins from precomputed top-label confidences and correctness.
 *
 * - `'equal-width'`: B bins (b/B, (b+1)/B], the first closed at 0 (see
 *   {@link equalWidthBinIndex}).
 * - `'equal-mass'` (adaptive binning, Nixon et al. 2019): examples sorted by
 *   confidence (stable, ties by index) are split into B contiguous blocks,
 *   block b holding sorted positions [⌊bN/B⌋, ⌊(b+1)N/B⌋), so counts differ by
 *   at most one. Edges are the empirical confidence quantiles: lo of block b is
 *   the largest confidence of block b−1 (0 for the first), hi is the largest
 *   confidence of block b (1 for the last). With ties at a boundary, equal
 *   confidences may fall in two adjacent blocks; counts stay equal.
 *
 * accuracy_b = (1/N_b) Σ_{i∈b} correct_i, confidence_b = (1/N_b) Σ_{i∈b} c_i.
 */
export function reliabilityBinsFromConfidences(
  confidence: ArrayLike<number>,
  correct: ArrayLike<number>,
  options: Pick<EceOptions, 'bins' | 'binning'> = {},
): ReliabilityBin[] {
  const bins = options.bins ?? 15;
  const binning = options.binning ?? 'equal-width';
  checkBins(bins);
  const n = confidence.length;
  if (correct.length !== n) throw new Error('calibration: confidence and correct differ in length');
  const count = new Float64Array(bins);
  const accSum = new Float64Array(bins);
  const confSum = new Float64Array(bins);
  const lo = new Float64Array(bins);
  const hi = new Float64Array(bins);
  if (binning === 'equal-width') {
    for (let b = 0; b < bins; b++) {
      lo[b] = b / bins;
      hi[b] = (b + 1) / bins;
    }
    for (let i = 0; i < n; i++) {
      const b = equalWidthBinIndex(confidence[i], bins);
      count[b]++;
      accSum[b] += correct[i];
      confSum[b] += confidence[i];
    }
  } else if (binning === 'equal-mass') {
    const order = Array.from({ length: n }, (_, i) => i);
    order.sort((a, b) => confidence[a] - confidence[b] || a - b);
    let prevHi = 0;
    for (let b = 0; b < bins; b++) {
      const start = Math.floor((b * n) / bins);
      const end = Math.floor(((b + 1) * n) / bins);
      for (let r = start; r < end; r++) {
        const i = order[r];
        count[b]++;
        accSum[b] += correct[i];
        confSum[b] += confidence[i];
      }
      lo[b] = prevHi;
      hi[b] = b === bins - 1 ? 1 : end > start ? confidence[order[end - 1]] : prevHi;
      prevHi = hi[b];
    }
  } else {
    throw new Error(`calibration: unknown binning '${String(binning)}'`);
  }
  const out: ReliabilityBin[] = [];
  for (let b = 0; b < bins; b++) {
    const c = count[b];
    out.push({
      lo: lo[b],
      hi: hi[b],
      count: c,
      accuracy: c > 0 ? accSum[b] / c : NaN,
      confidence: c > 0 ? confSum[b] / c : NaN,
    });
  }
  return out;
}

/**
 * Top-label reliability bins of a probability table: per bin its edges, count,
 * accuracy and mean confidence (NaN accuracy/confidence for empty bins). See
 * {@link reliabilityBinsFromConfidences} for the binning rules. Default: 15
 * equal-width bins.
 */
export function reliabilityBins(probs: Float32Array, labels: Int32Array, options: Pick<EceOptions, 'bins' | 'binning'> = {}): ReliabilityBin[] {
  const { confidence, correct } = topLabel(probs, labels);
  return reliabilityBinsFromConfidences(confidence, correct, options);
}

/**
 * Calibration error of precomputed reliability bins (Naeini et al. 2015; Guo et al. 2017):
 * - `'l1'`: ECE = Σ_b (N_b/N) |acc_b − conf_b|
 * - `'l2'`: sqrt(Σ_b (N_b/N) (acc_b − conf_b)²)
 * - `'max'`: MCE = max_b |acc_b − conf_b| over non-empty bins.
 * Empty bins contribute 0. Returns NaN if all bins are empty.
 */
export function calibrationErrorFromBins(bins: readonly ReliabilityBin[], norm: CalibrationNorm = 'l1'): number {
  let total = 0;
  for (const b of bins) total += b.count;
  if (total === 0) return NaN;
  let s = 0;
  for (const b of bins) {
    if (b.count === 0) continue;
    const gap = Math.abs(b.accuracy - b.confidence);
    if (norm === 'l1') s += (b.count / total) * gap;
    else if (norm === 'l2') s += (b.count / total) * gap * gap;
    else if (norm === 'max') s = Math.max(s, gap);
    else throw new Error(`calibration: unknown norm '${String(norm)}'`);
  }
  return norm === 'l2' ? Math.sqrt(s) : s;
}

/**
 * Top-label expected calibration error (Naeini et al. 2015; Guo et al. 2017):
 * ECE = Σ_b (N_b/N) |acc_b − conf_b|, with acc_b the accuracy and conf_b the mean
 * top-label confidence of bin b. Defaults: 15 equal-width bins (lo, hi], first
 * bin closed at 0, empty bins contribute 0, L1 norm. `norm: 'l2'` gives
 * sqrt(Σ_b (N_b/N)(acc_b − conf_b)²); `norm: 'max'` gives the MCE.
 * `binning: 'equal-mass'` uses confidence quantiles as edges (Nixon et al. 2019).
 */
export function ece(probs: Float32Array, labels: Int32Array, options: EceOptions = {}): number {
  return calibrationErrorFromBins(reliabilityBins(probs, labels, options), options.norm ?? 'l1');
}

/**
 * Maximum calibration error (Naeini et al. 2015): MCE = max_b |acc_b − conf_b|
 * over non-empty bins; same binning options as {@link ece}. Always ≥ the L1 ECE
 * for the same bins.
 */
export function mce(probs: Float32Array, labels: Int32Array, options: Omit<EceOptions, 'norm'> = {}): number {
  return ece(probs, labels, { ...options, norm: 'max' });
}

/**
 * Accuracy, NLL, Brier, ECE and MCE (both 15 equal-width bins) and n, in one pass
 * over the defaults of this module.
 */
export function calibrationSummary(probs: Float32Array, labels: Int32Array): CalibrationSummary {
  const { confidence, correct } = topLabel(probs, labels);
  let acc = 0;
  for (let i = 0; i < correct.length; i++) acc += correct[i];
  const bins = reliabilityBinsFromConfidences(confidence, correct, { bins: 15, binning: 'equal-width' });
  return {
    accuracy: acc / labels.length,
    nll: nll(probs, labels),
    brier: brier(probs, labels),
    ece: calibrationErrorFromBins(bins, 'l1'),
    mce: calibrationErrorFromBins(bins, 'max'),
    n: labels.length,
  };
}

/**
 * Adaptive (equal-mass) top-label ECE (Nixon et al. 2019, "Measuring calibration in
 * deep learning"): {@link ece} with `binning: 'equal-mass'`, 15 bins by default, so
 * every bin holds ⌊N/B⌋ or ⌈N/B⌉ examples sorted by confidence.
 */
export function adaptiveEce(probs: Float32Array, labels: Int32Array, bins = 15): number {
  return ece(probs, labels, { bins, binning: 'equal-mass' });
}

/**
 * Classwise ECE (Kull et al. 2019, "Beyond temperature scaling"): for every class j,
 * the probabilities p_ij of all examples are binned (equal width, `bins` bins (lo, hi],
 * first closed at 0) and the gaps between the frequency of y = j and the mean p_ij are
 * weighted by bin mass; the result is averaged over classes:
 * cwECE = (1/k) Σ_j Σ_b (N_jb/N) |freq_jb(y = j) − mean_jb(p_ij)|.
 */
export function classwiseEce(probs: Float32Array, labels: Int32Array, bins = 15): number {
  const k = numClasses(probs, labels);
  const n = labels.length;
  checkBins(bins);
  const conf = new Float64Array(n);
  const hit = new Uint8Array(n);
  let total = 0;
  for (let j = 0; j < k; j++) {
    for (let i = 0; i < n; i++) {
      conf[i] = probs[i * k + j]!;
      hit[i] = labels[i] === j ? 1 : 0;
    }
    total += calibrationErrorFromBins(reliabilityBinsFromConfidences(conf, hit, { bins, binning: 'equal-width' }), 'l1');
  }
  return total / k;
}
