/**
 * Selective prediction (Geifman & El-Yaniv 2017; Geifman, Uziel & El-Yaniv 2019):
 * a classifier abstains on the examples it is least sure of. Sorting examples by an
 * uncertainty score (lower = more confident, e.g. predictive entropy or mutual
 * information), keeping the m most confident gives coverage m/n and selective risk
 * (error rate among the kept). The risk–coverage curve plots risk against coverage,
 * and its area AURC = (1/n) Σ_{m=1}^{n} risk(m/n) (lower is better).
 *
 * Ties: examples with equal scores are kept in random order, and every quantity here
 * is the expectation over that order: inside a tied group of g examples holding e
 * errors, the first j kept carry j·e/g expected errors. This makes the results
 * independent of the input order.
 * @module
 */

/** A risk–coverage curve: n points, coverage m/n and selective risk at m = 1..n. */
export interface RiskCoverage {
  coverage: Float64Array;
  risk: Float64Array;
  /** Area under the curve, (1/n) Σ_m risk(m/n). */
  aurc: number;
}

function check(uncertainty: ArrayLike<number>, correct: ArrayLike<number>): number {
  const n = uncertainty.length;
  if (n === 0) throw new Error('selective: no examples');
  if (correct.length !== n) throw new Error(`selective: ${n} scores but ${correct.length} correctness flags`);
  for (let i = 0; i < n; i++) if (Number.isNaN(uncertainty[i])) throw new Error(`selective: uncertainty[${i}] is NaN`);
  return n;
}

/** Expected cumulative number of errors among the m most confident examples, m = 0..n (ties averaged). */
function cumulativeErrors(uncertainty: ArrayLike<number>, correct: ArrayLike<number>): Float64Array {
  const n = check(uncertainty, correct);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => (uncertainty[a]! < uncertainty[b]! ? -1 : uncertainty[a]! > uncertainty[b]! ? 1 : 0));
  const cum = new Float64Array(n + 1);
  let r = 0;
  while (r < n) {
    const v = uncertainty[order[r]!]!;
    let end = r;
    let errs = 0;
    while (end < n && uncertainty[order[end]!]! === v) {
      if (!correct[order[end]!]) errs++;
      end++;
    }
    const g = end - r;
    for (let j = 1; j <= g; j++) cum[r + j] = cum[r]! + (j * errs) / g;
    r = end;
  }
  return cum;
}

/** Risk–coverage curve and AURC of an uncertainty score (lower = more confident) against 0/1 correctness. */
export function riskCoverage(uncertainty: ArrayLike<number>, correct: ArrayLike<number>): RiskCoverage {
  const cum = cumulativeErrors(uncertainty, correct);
  const n = cum.length - 1;
  const coverage = new Float64Array(n);
  const risk = new Float64Array(n);
  let area = 0;
  for (let m = 1; m <= n; m++) {
    coverage[m - 1] = m / n;
    risk[m - 1] = cum[m]! / m;
    area += risk[m - 1]!;
  }
  return { coverage, risk, aurc: area / n };
}

/** AURC of an uncertainty score (see {@link riskCoverage}). */
export function aurc(uncertainty: ArrayLike<number>, correct: ArrayLike<number>): number {
  return riskCoverage(uncertainty, correct).aurc;
}

/**
 * Accuracy on the ⌈c·n⌉ most confident examples (coverage c ∈ (0, 1]), ties averaged.
 */
export function accuracyAtCoverage(uncertainty: ArrayLike<number>, correct: ArrayLike<number>, c: number): number {
  if (!(c > 0 && c <= 1)) throw new Error(`selective: coverage must be in (0, 1], got ${c}`);
  const cum = cumulativeErrors(uncertainty, correct);
  const n = cum.length - 1;
  const m = Math.max(1, Math.ceil(c * n - 1e-9));
  return 1 - cum[m]! / m;
}

/** Risk–coverage curve thinned to at most `points` points (always keeping the last), for plots. */
export function thinCurve(rc: RiskCoverage, points = 50): { coverage: number[]; risk: number[] } {
  const n = rc.coverage.length;
  const step = Math.max(1, Math.ceil(n / points));
  const coverage: number[] = [];
  const risk: number[] = [];
  for (let i = step - 1; i < n; i += step) {
    coverage.push(rc.coverage[i]!);
    risk.push(rc.risk[i]!);
  }
  if (coverage.at(-1) !== rc.coverage[n - 1]) {
    coverage.push(rc.coverage[n - 1]!);
    risk.push(rc.risk[n - 1]!);
  }
  return { coverage, risk };
}
