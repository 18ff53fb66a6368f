/**
 * Descriptive statistics over replicates: mean, sample std (n − 1) and the Student-t 95 %
 * confidence interval of the mean. Missing values (null, undefined, NaN, ±∞, non-numbers)
 * are skipped and never counted as 0; `n` counts only present values. One value has no
 * spread: its std and interval are null, never 0.
 * @module
 */
import { tQuantile } from './t.js';

/** The finite numbers of `xs` (null, undefined, NaN, ±∞ and non-numbers skipped). */
export function present(xs: readonly unknown[]): number[] {
  const out: number[] = [];
  for (const x of xs) if (typeof x === 'number' && Number.isFinite(x)) out.push(x);
  return out;
}

/** Mean of the present values, null if there are none. */
export function mean(xs: readonly unknown[]): number | null {
  const v = present(xs);
  if (v.length === 0) return null;
  let s = 0;
  for (const x of v) s += x;
  return s / v.length;
}

/** Sample standard deviation sqrt(Σ (x − mean)² / (n − 1)) of the present values, null if n < 2. */
export function sampleStd(xs: readonly unknown[]): number | null {
  const v = present(xs);
  if (v.length < 2) return null;
  const m = mean(v)!;
  let ss = 0;
  for (const x of v) ss += (x - m) * (x - m);
  return Math.sqrt(ss / (v.length - 1));
}

/** Summary of a sample: see {@link describe}. */
export interface Description {
  /** Number of present values. */
  n: number;
  /** Mean, null when n = 0. */
  mean: number | null;
  /** Sample std (n − 1), null when n < 2. */
  std: number | null;
  /** Lower end of the confidence interval mean − t·s/√n, null when n < 2. */
  ciLow: number | null;
  /** Upper end mean + t·s/√n, null when n < 2. */
  ciHigh: number | null;
}

/** Critical value t_{(1+level)/2, df} of a two-sided interval; cached for the common level. */
const tCache = new Map<string, number>();
export function tCritical(df: number, level = 0.95): number {
  const key = `${df}/${level}`;
  let v = tCache.get(key);
  if (v === undefined) {
    v = tQuantile((1 + level) / 2, df);
    tCache.set(key, v);
  }
  return v;
}

/**
 * n, mean, sample std and the two-sided Student-t confidence interval of the mean,
 * mean ± t_{(1+level)/2, n−1} · s/√n (level 0.95 by default), over the present values.
 */
export function describe(xs: readonly unknown[], level = 0.95): Description {
  const v = present(xs);
  const n = v.length;
  const m = mean(v);
  const s = sampleStd(v);
  if (m === null || s === null) return { n, mean: m, std: null, ciLow: null, ciHigh: null };
  const half = (tCritical(n - 1, level) * s) / Math.sqrt(n);
  return { n, mean: m, std: s, ciLow: m - half, ciHigh: m + half };
}
