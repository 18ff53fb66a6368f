import { describe as suite, expect, it } from 'vitest';
import { averageRanks, wilcoxonSignedRank } from '../../src/stats/index.js';

/**
 * Independent brute force: drop zeros, rank |d| with average ranks by counting (rank = 1 +
 * #smaller + (#equal − 1)/2), then enumerate all 2^n sign assignments and count those whose
 * positive-rank sum is at least as far from S/2 as the observed one.
 */
function bruteForceP(d: number[]): number | null {
  const v = d.filter((x) => x !== 0);
  const n = v.length;
  if (n === 0) return null;
  const a = v.map(Math.abs);
  const rank = a.map((x) => 1 + a.filter((y) => y < x).length + (a.filter((y) => y === x).length - 1) / 2);
  const total = rank.reduce((s, r) => s + r, 0);
  let w = 0;
  for (let i = 0; i < n; i++) if (v[i]! > 0) w += rank[i]!;
  const obs = Math.abs(w - total / 2);
  let hits = 0;
  for (let mask = 0; mask < 1 << n; mask++) {
    let s = 0;
    for (let i = 0; i < n; i++) if (mask & (1 << i)) s += rank[i]!;
    if (Math.abs(s - total / 2) >= obs - 1e-9) hits++;
  }
  return hits / 2 ** n;
}

suite('averageRanks', () => {
  it('averages the ranks of ties', () => {
    expect(averageRanks([10, 30, 20, 30, 5])).toEqual([2, 4.5, 3, 4.5, 1]);
  });
});

suite('wilcoxonSignedRank', () => {
  it('hand-enumerated cases', () => {
    // n = 5, all positive: only all-+ and all-− are as extreme: 2/32.
    expect(wilcoxonSignedRank([0.1, 0.2, 0.3, 0.4, 0.5]).p).toBeCloseTo(0.0625, 14);
    // n = 3: the smallest possible p is 2/8.
    expect(wilcoxonSignedRank([1, 2, 3]).p).toBeCloseTo(0.25, 14);
    expect(wilcoxonSignedRank([-1, -2, -3]).p).toBeCloseTo(0.25, 14);
    // d = 1, 2, 3, 4, −5: W⁺ = 10, S/2 = 7.5; the counts of W⁺ = 0..15 over 32 assignments are
    // 1 1 1 2 2 3 3 3 3 3 3 2 2 1 1 1; W⁺ ≤ 5 or ≥ 10: 10 + 10 = 20 → p = 20/32.
    const r = wilcoxonSignedRank([1, 2, 3, 4, -5]);
    expect(r.wPlus).toBe(10);
    expect(r.p).toBeCloseTo(0.625, 14);
    // Ties 1, 1, −1: ranks 2, 2, 2; W⁺ = 4, every assignment (0, 2, 4, 6) is ≥ 1 away from 3: p = 1.
    expect(wilcoxonSignedRank([1, 1, -1]).p).toBeCloseTo(1, 14);
    // Zeros are dropped: 0, 0, 1, 2, 3 is the n = 3 case.
    expect(wilcoxonSignedRank([0, 0, 1, 2, 3])).toEqual({ n: 3, zeros: 2, wPlus: 6, p: 0.25 });
    // Nothing to test when every difference is 0; missing values skipped.
    expect(wilcoxonSignedRank([0, 0, null, NaN]).p).toBeNull();
  });

  it('equals a brute-force enumeration of all 2^n sign assignments (ties, zeros, n ≤ 14)', () => {
    let state = 12345;
    const rand = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32;
    for (let trial = 0; trial < 200; trial++) {
      const n = 1 + Math.floor(rand() * 14);
      // Small integer magnitudes make ties and zeros frequent.
      const d = Array.from({ length: n }, () => Math.floor(rand() * 9) - 4 + (trial % 3 === 0 ? rand() : 0));
      const p = wilcoxonSignedRank(d).p;
      const q = bruteForceP(d);
      if (q === null) expect(p).toBeNull();
      else expect(p!).toBeCloseTo(q, 12);
    }
  });
});
