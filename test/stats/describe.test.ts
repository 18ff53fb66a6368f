import { describe as suite, expect, it } from 'vitest';
import { describe, mean, pairedDifference, sampleStd } from '../../src/stats/index.js';

suite('describe', () => {
  it('mean, sample std (n − 1) and the 95 % t interval of 1..5', () => {
    const d = describe([1, 2, 3, 4, 5]);
    expect(d.n).toBe(5);
    expect(d.mean).toBe(3);
    // Σ (x − 3)² = 10, / (5 − 1) = 2.5.
    expect(d.std).toBeCloseTo(Math.sqrt(2.5), 14);
    // t_{0.975, 4} = 2.776445105 (table); half width 2.776445105 · √2.5 / √5 = 2.776445105 / √2 = 1.963243.
    expect(d.ciLow).toBeCloseTo(3 - 2.776445105 / Math.SQRT2, 7);
    expect(d.ciHigh).toBeCloseTo(3 + 2.776445105 / Math.SQRT2, 7);
  });

  it('skips missing values instead of counting them as 0', () => {
    const d = describe([0.9, null, NaN, undefined, 0.92, 'x', Infinity, 0.94]);
    expect(d.n).toBe(3);
    expect(d.mean).toBeCloseTo(0.92, 14);
    expect(d.std).toBeCloseTo(0.02, 14);
    // t_{0.975, 2} = 4.302652730; half width 4.302652730 · 0.02 / √3.
    expect(d.ciHigh! - d.mean!).toBeCloseTo((4.30265273 * 0.02) / Math.sqrt(3), 7);
  });

  it('a single value has no spread (null, not 0); no value has no mean', () => {
    expect(describe([0.7, null])).toEqual({ n: 1, mean: 0.7, std: null, ciLow: null, ciHigh: null });
    expect(describe([])).toEqual({ n: 0, mean: null, std: null, ciLow: null, ciHigh: null });
    expect(sampleStd([3])).toBeNull();
    expect(mean([null, NaN])).toBeNull();
  });
});

suite('pairedDifference', () => {
  it('pairs by seed, drops seeds missing in either, and gives the t interval of the differences', () => {
    const a = new Map<string, unknown>([
      ['1', 0.9],
      ['2', 0.8],
      ['3', 0.85],
      ['4', 0.7],
      ['5', null],
    ]);
    const b = new Map<string, unknown>([
      ['3', 0.8],
      ['1', 0.85],
      ['2', 0.78],
      ['5', 0.6],
    ]);
    const r = pairedDifference(a, b);
    // Seeds 1, 2, 3: d = 0.05, 0.02, 0.05; mean 0.04; Σ (d − 0.04)² = 0.0001 + 0.0004 + 0.0001 = 0.0006, s² = 0.0003.
    expect(r.keys).toEqual(['1', '2', '3']);
    expect(r.n).toBe(3);
    expect(r.mean).toBeCloseTo(0.04, 14);
    expect(r.std).toBeCloseTo(Math.sqrt(0.0003), 12);
    const half = (4.30265273 * Math.sqrt(0.0003)) / Math.sqrt(3); // = 0.04302653
    expect(r.ciLow).toBeCloseTo(0.04 - half, 7);
    expect(r.ciHigh).toBeCloseTo(0.04 + half, 7);
    expect(r.excludesZero).toBe(false); // 0.04 − 0.0430 < 0
    // All three positive: W⁺ = 6 of 6, only the all-+ and all-− assignments are as extreme: 2/8.
    expect(r.p).toBeCloseTo(0.25, 14);
  });

  it('marks an interval that excludes 0; one pair has no interval', () => {
    const m = (xs: number[]) => new Map(xs.map((x, i) => [String(i), x]));
    const r = pairedDifference(m([1.1, 1.2, 1.3, 1.25]), m([1, 1.1, 1.2, 1.15]));
    expect(r.mean).toBeCloseTo(0.1, 12);
    expect(r.excludesZero).toBe(true);
    const one = pairedDifference(m([1]), m([0.5]));
    expect(one).toMatchObject({ n: 1, mean: 0.5, std: null, ciLow: null, ciHigh: null, excludesZero: false });
  });
});
