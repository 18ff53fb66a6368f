import { describe, expect, it } from 'vitest';
import { bentkusPValue, binomialCdf, fixedSequence, hbPValue, hoeffdingPValue, learnThenTest } from '../../src/metrics/risk-control.js';
import { logGamma } from '../../src/stats/t.js';
import { RandomStream } from '../../src/random.js';

/** Binomial CDF from exact BigInt binomial coefficients (small n). */
function exactCdf(k: number, n: number, p: number): number {
  let s = 0;
  let c = 1n;
  for (let j = 0; j <= k; j++) {
    if (j > 0) c = (c * BigInt(n - j + 1)) / BigInt(j);
    s += Number(c) * p ** j * (1 - p) ** (n - j);
  }
  return s;
}

/** Binomial CDF via log-gamma (an independent implementation, src/stats/t.ts). */
function lgammaCdf(k: number, n: number, p: number): number {
  let s = 0;
  for (let j = 0; j <= k; j++) s += Math.exp(logGamma(n + 1) - logGamma(j + 1) - logGamma(n - j + 1) + j * Math.log(p) + (n - j) * Math.log(1 - p));
  return s;
}

describe('Hoeffding–Bentkus p-value', () => {
  it('binomial CDF matches exact and log-gamma sums', () => {
    for (const [k, n, p] of [
      [0, 50, 0.01],
      [3, 50, 0.05],
      [10, 60, 0.2],
    ] as const)
      expect(binomialCdf(k, n, p)).toBeCloseTo(exactCdf(k, n, p), 12);
    for (const [k, n, p] of [
      [2, 500, 0.01],
      [7, 500, 0.01],
      [40, 1000, 0.05],
    ] as const)
      expect(binomialCdf(k, n, p) / lgammaCdf(k, n, p)).toBeCloseTo(1, 9);
  });

  it('both bounds match their direct formulas, and HB is their minimum', () => {
    for (const [rhat, n, a] of [
      [0, 500, 0.01],
      [0.004, 500, 0.01],
      [0.008, 1000, 0.01],
      [0.02, 500, 0.01],
      [0.1, 50, 0.2],
    ] as const) {
      // Hoeffding: exp(−n·KL(min(R̂, α) ‖ α)), KL written out.
      const m = Math.min(rhat, a);
      const kl = (m > 0 ? m * Math.log(m / a) : 0) + (1 - m) * Math.log((1 - m) / (1 - a));
      const h = Math.exp(-n * kl);
      // Bentkus: e·P(Bin(n, α) ≤ ⌈n R̂⌉).
      const b = Math.min(1, Math.E * lgammaCdf(Math.ceil(n * rhat - 1e-9), n, a));
      expect(hoeffdingPValue(rhat, n, a)).toBeCloseTo(h, 12);
      expect(bentkusPValue(rhat, n, a)).toBeCloseTo(b, 9);
      expect(hbPValue(rhat, n, a)).toBeCloseTo(Math.min(h, b), 9);
    }
    // R̂ ≥ α: no evidence against the null.
    expect(hoeffdingPValue(0.02, 500, 0.01)).toBe(1);
    // Zero flips of 500 at ε = 0.01: Bentkus e·0.99^500 ≈ 0.0179 beats Hoeffding 0.99^500·… (same here: exp(−n ln(1/0.99))).
    expect(hbPValue(0, 500, 0.01)).toBeCloseTo(Math.min(0.99 ** 500, Math.E * 0.99 ** 500), 12);
  });

  it('fixed-sequence testing stops at the first p > δ', () => {
    expect(fixedSequence([0.01, 0.05, 0.2, 0.01], 0.1)).toBe(2);
    expect(fixedSequence([0.5], 0.1)).toBe(0);
    expect(fixedSequence([0.01, 0.02], 0.1)).toBe(2);
  });
});

/**
 * Candidates with true flip risks r_j, nested (an example flipped at sparsity j is flipped at
 * every larger one): example i flips at j when u_i < r_j.
 */
function draw(r: RandomStream, n: number, risks: readonly number[]) {
  const dense = new Uint8Array(n).fill(1);
  const cands = risks.map(() => new Uint8Array(n).fill(1));
  for (let i = 0; i < n; i++) {
    const u = r.uniform();
    risks.forEach((rk, j) => {
      if (u < rk) cands[j]![i] = 0;
    });
  }
  return { dense, cands };
}

describe('Learn-then-Test validity', () => {
  const eps = 0.01;
  const delta = 0.1;
  // The hardest null sits right after the last true candidate: 0.0105 is barely above ε.
  const risks = [0.001, 0.004, 0.008, 0.0105, 0.02, 0.1];

  it('iid calibration draws: P(chosen risk > ε) ≤ δ + 3σ, and the test has power', () => {
    const r = new RandomStream('ltt-iid');
    const reps = 1500;
    let viol = 0;
    let certifiedBeyondFirst = 0;
    let naiveViol = 0;
    for (let t = 0; t < reps; t++) {
      const { dense, cands } = draw(r, 1000, risks);
      const res = learnThenTest(dense, cands, eps, delta);
      if (res.chosen >= 0 && risks[res.chosen]! > eps) viol++;
      if (res.chosen >= 1) certifiedBeyondFirst++;
      // Naive rule (largest candidate with empirical risk ≤ ε): what the guarantee protects against.
      let naiveChoice = -1;
      res.risks.forEach((x, j) => {
        if (x <= eps) naiveChoice = j;
      });
      if (naiveChoice >= 0 && risks[naiveChoice]! > eps) naiveViol++;
    }
    const sigma = Math.sqrt((delta * (1 - delta)) / reps);
    expect(viol / reps).toBeLessThanOrEqual(delta + 3 * sigma);
    expect(certifiedBeyondFirst / reps).toBeGreaterThan(0.5);
    expect(naiveViol / reps).toBeGreaterThan(3 * delta); // the check can fail: the naive rule violates ≈ half the time
  });

  it('random calibration / test splits of one finite population: violations ≤ δ + 3σ', () => {
    // One population of N examples; its own flip rates are the risks the guarantee is about.
    const N = 2000;
    const pop = draw(new RandomStream('ltt-pop'), N, risks);
    const popRisk = pop.cands.map((c) => c.reduce((s, v) => s + (1 - v), 0) / N);
    const r = new RandomStream('ltt-split');
    const reps = 1500;
    let viol = 0;
    let testDropOver = 0;
    for (let t = 0; t < reps; t++) {
      const perm = r.permutation(N);
      const cal = perm.subarray(0, N / 2);
      const test = perm.subarray(N / 2);
      const res = learnThenTest(
        Uint8Array.from(cal, (i) => pop.dense[i]!),
        pop.cands.map((c) => Uint8Array.from(cal, (i) => c[i]!)),
        eps,
        delta,
      );
      if (res.chosen >= 0 && popRisk[res.chosen]! > eps) viol++;
      if (res.chosen >= 0) {
        const c = pop.cands[res.chosen]!;
        const drop = test.reduce((s, i) => s + pop.dense[i]! - c[i]!, 0) / test.length;
        if (drop > eps) testDropOver++;
      }
    }
    const sigma = Math.sqrt((delta * (1 - delta)) / reps);
    expect(viol / reps).toBeLessThanOrEqual(delta + 3 * sigma);
    expect(testDropOver / reps).toBeLessThanOrEqual(delta + 3 * sigma);
  });

  it('rejects bad input with clear messages', () => {
    expect(() => learnThenTest([], [], 0.01, 0.1)).toThrow(/empty calibration/);
    expect(() => learnThenTest([1], [[1]], 0, 0.1)).toThrow(/epsilon/);
    expect(() => learnThenTest([1], [[1, 0]], 0.01, 0.1)).toThrow(/candidate has 2/);
  });
});
