/**
 * Paired comparisons over replicates: A and B measured on the same seeds, compared through
 * the differences d_s = A_s − B_s of the seeds where both are present (a seed missing or NaN
 * in either is dropped from the pair): mean difference, its Student-t 95 % confidence
 * interval, and the exact two-sided Wilcoxon signed-rank p-value.
 * @module
 */
import { describe } from './describe.js';
import { wilcoxonSignedRank } from './wilcoxon.js';

/** Result of {@link pairedDifference}. */
export interface PairedResult {
  /** Seeds (keys) present in both, in A's order. */
  keys: string[];
  /** Number of pairs. */
  n: number;
  /** Mean of A − B (null when n = 0). */
  mean: number | null;
  /** Sample std of the differences (null when n < 2). */
  std: number | null;
  /** 95 % CI of the mean difference (null when n < 2). */
  ciLow: number | null;
  ciHigh: number | null;
  /** Whether the interval lies entirely above or entirely below 0. */
  excludesZero: boolean;
  /** Exact two-sided Wilcoxon signed-rank p-value (zeros dropped); null when every difference is 0 or n = 0. */
  p: number | null;
  /** Zero differences (dropped by the signed-rank test, kept in the mean and CI). */
  zeros: number;
}

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** A − B over the keys (seeds) present with a finite value in both maps. */
export function pairedDifference(a: ReadonlyMap<string, unknown>, b: ReadonlyMap<string, unknown>, level = 0.95): PairedResult {
  const keys: string[] = [];
  const d: number[] = [];
  for (const [k, va] of a) {
    const vb = b.get(k);
    if (!finite(va) || !finite(vb)) continue;
    keys.push(k);
    d.push(va - vb);
  }
  const s = describe(d, level);
  const w = wilcoxonSignedRank(d);
  const excludesZero = s.ciLow !== null && s.ciHigh !== null && (s.ciLow > 0 || s.ciHigh < 0);
  return { keys, n: s.n, mean: s.mean, std: s.std, ciLow: s.ciLow, ciHigh: s.ciHigh, excludesZero, p: w.p, zeros: w.zeros };
}
