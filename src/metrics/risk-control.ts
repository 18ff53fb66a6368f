/**
 * Risk-controlled pruning with Learn-then-Test (Angelopoulos, Bates, Candès, Jordan
 * & Lei 2021, "Learn then Test: calibrating predictive algorithms to achieve risk
 * control").
 *
 * Candidates λ_0 = dense, λ_1 < λ_2 < … (increasing sparsity). For each the per-example
 * loss on a calibration split is the *flip* indicator
 *   ℓ_i(λ) = 1[dense correct on i ∧ pruned(λ) wrong on i] ∈ {0, 1},
 * whose mean R(λ) bounds the accuracy drop from above:
 *   acc_dense − acc_λ = P(dense ✓, λ ✗) − P(dense ✗, λ ✓) ≤ R(λ).
 * So R(λ) ≤ ε implies a drop ≤ ε. (The signed difference d_i ∈ {−1, 0, 1} rescaled to
 * [0, 1] would test (1 + ε)/2 around a risk of ½ and has almost no power at n ≈ 500.)
 *
 * Null hypothesis H_λ: R(λ) > ε. Its Hoeffding–Bentkus p-value (LTT, Prop. 3; Bates et
 * al. 2021) with R̂ the calibration mean over n examples:
 *   p^H = exp(−n·h₁(min(R̂, ε), ε)),  h₁(a, b) = a ln(a/b) + (1−a) ln((1−a)/(1−b)),
 *   p^B = e·P(Binomial(n, ε) ≤ ⌈n R̂⌉),
 *   p^HB = min(p^H, p^B).
 * Fixed-sequence testing from dense to sparse rejects H_λ1, H_λ2, … while p ≤ δ and
 * stops at the first p > δ; the family-wise error rate is ≤ δ, so with probability
 * ≥ 1 − δ every selected λ (in particular the sparsest one) has R(λ) ≤ ε.
 * @module
 */

/** h₁(a, b) = a ln(a/b) + (1−a) ln((1−a)/(1−b)), the Bernoulli KL divergence, with 0 ln 0 = 0. */
export function bernoulliKl(a: number, b: number): number {
  let s = 0;
  if (a > 0) s += a * Math.log(a / b);
  if (a < 1) s += (1 - a) * Math.log((1 - a) / (1 - b));
  return s;
}

/** Hoeffding p-value (Hoeffding 1963, KL form) of H: R > α given the mean R̂ of n losses in [0, 1]. */
export function hoeffdingPValue(rhat: number, n: number, alpha: number): number {
  return Math.exp(-n * bernoulliKl(Math.min(rhat, alpha), alpha));
}

/** P(Binomial(n, p) ≤ k), summed in the log domain (exact for the n of a calibration split). */
export function binomialCdf(k: number, n: number, p: number): number {
  if (k < 0) return 0;
  if (k >= n) return 1;
  if (p <= 0) return 1;
  if (p >= 1) return 0;
  const lp = Math.log(p);
  const lq = Math.log1p(-p);
  let logPmf = n * lq; // k = 0
  let s = Math.exp(logPmf);
  for (let j = 0; j < k; j++) {
    logPmf += Math.log((n - j) / (j + 1)) + lp - lq;
    s += Math.exp(logPmf);
  }
  return Math.min(1, s);
}

/** Bentkus p-value (Bentkus 2004) of H: R > α for binary (or [0, 1]) losses: e·P(Bin(n, α) ≤ ⌈n R̂⌉). */
export function bentkusPValue(rhat: number, n: number, alpha: number): number {
  return Math.min(1, Math.E * binomialCdf(Math.ceil(n * rhat - 1e-9), n, alpha));
}

/** Hoeffding–Bentkus p-value: min(Hoeffding, Bentkus). */
export function hbPValue(rhat: number, n: number, alpha: number): number {
  return Math.min(hoeffdingPValue(rhat, n, alpha), bentkusPValue(rhat, n, alpha));
}

/**
 * Fixed-sequence testing: the number of leading hypotheses rejected (p ≤ δ), testing in
 * the given order and stopping at the first p > δ.
 */
export function fixedSequence(pValues: readonly number[], delta: number): number {
  let j = 0;
  while (j < pValues.length && pValues[j]! <= delta) j++;
  return j;
}

/** Result of {@link learnThenTest}. */
export interface LttResult {
  /** Per candidate (in the given order): calibration flip rate R̂ and its HB p-value. */
  risks: number[];
  pValues: number[];
  /** Index of the sparsest certified candidate (last rejected in the sequence); −1 when none. */
  chosen: number;
  /** Calibration examples n. */
  n: number;
}

/**
 * Learn-then-Test over candidates ordered from least to most pruned: `denseCorrect` and
 * each `candidateCorrect[j]` are 0/1 per calibration example. Returns the index of the
 * largest candidate certified R ≤ ε at level δ (−1 if even the first is not).
 */
export function learnThenTest(denseCorrect: ArrayLike<number>, candidateCorrect: readonly ArrayLike<number>[], epsilon: number, delta: number): LttResult {
  const n = denseCorrect.length;
  if (n === 0) throw new Error('risk control: empty calibration split');
  if (!(epsilon > 0 && epsilon < 1)) throw new Error(`risk control: epsilon must be in (0, 1), got ${epsilon}`);
  if (!(delta > 0 && delta < 1)) throw new Error(`risk control: delta must be in (0, 1), got ${delta}`);
  const risks: number[] = [];
  const pValues: number[] = [];
  for (const c of candidateCorrect) {
    if (c.length !== n) throw new Error(`risk control: candidate has ${c.length} examples, dense ${n}`);
    let flips = 0;
    for (let i = 0; i < n; i++) if (denseCorrect[i] && !c[i]) flips++;
    risks.push(flips / n);
    pValues.push(hbPValue(flips / n, n, epsilon));
  }
  return { risks, pValues, chosen: fixedSequence(pValues, delta) - 1, n };
}

/** A seeded random calibration / test split of n indices: the first ⌊fraction·n⌋ of a permutation calibrate. */
export function calibrationSplit(permutation: ArrayLike<number>, fraction: number): { calibration: Int32Array; test: Int32Array } {
  const n = permutation.length;
  const m = Math.floor(fraction * n);
  const p = Int32Array.from(permutation as ArrayLike<number>);
  return { calibration: p.slice(0, m), test: p.slice(m) };
}
