/**
 * Compact per-weight summaries for the HTML report, saved in metrics.json (`weightStats`) so the
 * report needs no per-weight file: per layer, histograms of log α = log(σ²/μ²) and of the
 * signal-to-noise ratio in decibels, SNR_dB = 10·log10(μ²/σ²) = −(10 / ln 10)·log α; and, when
 * the first weight layer is dense over an image input, the number of its kept outgoing weights
 * per input pixel (a 28×28 map for MNIST) under the given masks.
 * @module
 */
import { imageGeometry } from '../../data/shifts.js';
import type { WeightMoments } from '../../nn/layer.js';

/** A fixed-range histogram: `counts[i]` counts values in [lo + i·width, lo + (i+1)·width); values outside go to the end bins. */
export interface Histogram {
  lo: number;
  width: number;
  counts: number[];
}

export interface LayerWeightStats {
  layer: string;
  /** Number of weights (with finite log α: μ ≠ 0 or σ > 0). */
  weights: number;
  /** Kept under the masks. */
  kept: number;
  logAlpha: Histogram;
  snrDb: Histogram;
}

export interface WeightStats {
  /** The log α threshold the masks come from (prune where log α ≥ threshold), or null. */
  threshold: number | null;
  layers: LayerWeightStats[];
  /** Kept outgoing weights of the first layer per input pixel (row-major h × w, channels summed), with the number of outputs. */
  inputMap: { layer: string; height: number; width: number; channels: number; outputs: number; kept: number[] } | null;
}

/** log α range and bins: [-12, 12) in steps of 0.5; SNR (dB): [-50, 50) in steps of 2. */
export const LOG_ALPHA_BINS = { lo: -12, width: 0.5, n: 48 };
export const SNR_DB_BINS = { lo: -50, width: 2, n: 50 };

/** Histogram of `values` with `n` bins of `width` from `lo`; out-of-range values clamp to the end bins, non-finite values are skipped. */
export function histogram(values: Iterable<number>, lo: number, width: number, n: number): Histogram {
  const counts = new Array<number>(n).fill(0);
  for (const v of values) {
    if (Number.isNaN(v)) continue;
    let i = Math.floor((v - lo) / width);
    if (!Number.isFinite(i)) i = v > 0 ? n - 1 : 0;
    counts[Math.min(n - 1, Math.max(0, i))]!++;
  }
  return { lo, width, counts };
}

/**
 * Summaries of `moments` under `masks` (a weight is kept where its mask is non-zero; no mask:
 * all kept). `inputShape` is the data's example shape (for the first layer's pixel map).
 */
export function weightStats(
  moments: readonly WeightMoments[],
  masks: ReadonlyMap<string, Float32Array> | null,
  inputShape: readonly number[],
  threshold: number | null,
): WeightStats {
  const layers: LayerWeightStats[] = [];
  const k = 10 / Math.LN10;
  for (const m of moments) {
    const mask = masks?.get(m.name);
    const la: number[] = [];
    let kept = 0;
    for (let i = 0; i < m.mean.length; i++) {
      const mu = m.mean[i]!;
      const v = m.variance[i]!;
      if (!mask || mask[i] !== 0) kept++;
      const a = Math.log(v) - Math.log(mu * mu);
      if (!Number.isNaN(a)) la.push(a);
    }
    layers.push({
      layer: m.layer,
      weights: la.length,
      kept,
      logAlpha: histogram(la, LOG_ALPHA_BINS.lo, LOG_ALPHA_BINS.width, LOG_ALPHA_BINS.n),
      snrDb: histogram(
        la.map((a) => -k * a),
        SNR_DB_BINS.lo,
        SNR_DB_BINS.width,
        SNR_DB_BINS.n,
      ),
    });
  }
  let inputMap: WeightStats['inputMap'] = null;
  const first = moments[0];
  const g = imageGeometry(inputShape);
  if (first && g && first.shape.length === 2 && first.shape[0] === g.h * g.w * g.c) {
    const outputs = first.shape[1]!;
    const mask = masks?.get(first.name);
    const kept = new Array<number>(g.h * g.w).fill(0);
    // Dense weight [in, out], row-major; input index (y·w + x)·c + ch for an [h, w, c] image.
    for (let i = 0; i < g.h * g.w * g.c; i++) {
      let n = 0;
      for (let j = 0; j < outputs; j++) if (!mask || mask[i * outputs + j] !== 0) n++;
      kept[Math.floor(i / g.c)]! += n;
    }
    inputMap = { layer: first.layer, height: g.h, width: g.w, channels: g.c, outputs, kept };
  }
  return { threshold, layers, inputMap };
}
