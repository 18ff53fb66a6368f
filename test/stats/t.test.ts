import { describe as suite, expect, it } from 'vitest';
import { incompleteBeta, logGamma, tCdf, tQuantile } from '../../src/stats/index.js';

suite('logGamma', () => {
  it('matches factorials and Γ(½) = √π', () => {
    expect(logGamma(5)).toBeCloseTo(Math.log(24), 12);
    expect(logGamma(10)).toBeCloseTo(Math.log(362880), 11);
    expect(logGamma(0.5)).toBeCloseTo(0.5 * Math.log(Math.PI), 12);
    // Γ(1.5) = √π / 2
    expect(logGamma(1.5)).toBeCloseTo(Math.log(Math.sqrt(Math.PI) / 2), 12);
  });
});

suite('incompleteBeta', () => {
  it('matches the closed forms I_x(1,1) = x, I_x(a,1) = x^a, I_x(1,b) = 1 − (1 − x)^b', () => {
    for (const x of [0.01, 0.2, 0.5, 0.77, 0.99]) {
      expect(incompleteBeta(x, 1, 1)).toBeCloseTo(x, 12);
      expect(incompleteBeta(x, 3.5, 1)).toBeCloseTo(x ** 3.5, 12);
      expect(incompleteBeta(x, 1, 4)).toBeCloseTo(1 - (1 - x) ** 4, 12);
      // Symmetry I_x(a, b) = 1 − I_{1−x}(b, a).
      expect(incompleteBeta(x, 2.5, 7)).toBeCloseTo(1 - incompleteBeta(1 - x, 7, 2.5), 12);
    }
    // I_x(2, 2) = 3x² − 2x³.
    expect(incompleteBeta(0.3, 2, 2)).toBeCloseTo(3 * 0.09 - 2 * 0.027, 12);
  });

  it('agrees with a numerical integral of the beta density', () => {
    // Simpson's rule on t^(a−1)(1−t)^(b−1), normalised by the same integral on [0, 1].
    const a = 3.2;
    const b = 4.7;
    const f = (t: number) => t ** (a - 1) * (1 - t) ** (b - 1);
    const simpson = (lo: number, hi: number, n = 20000) => {
      const h = (hi - lo) / n;
      let s = f(lo) + f(hi);
      for (let i = 1; i < n; i++) s += (i % 2 ? 4 : 2) * f(lo + i * h);
      return (s * h) / 3;
    };
    const total = simpson(0, 1);
    for (const x of [0.1, 0.35, 0.6, 0.9]) expect(incompleteBeta(x, a, b)).toBeCloseTo(simpson(0, x) / total, 9);
  });
});

suite('Student t', () => {
  it('CDF matches the closed forms for 1 and 2 degrees of freedom', () => {
    for (const t of [-7, -1.3, 0, 0.4, 2, 12.7]) {
      // Cauchy: 1/2 + atan(t)/π.
      expect(tCdf(t, 1)).toBeCloseTo(0.5 + Math.atan(t) / Math.PI, 12);
      // ν = 2: 1/2 + t / (2 √(2 + t²)).
      expect(tCdf(t, 2)).toBeCloseTo(0.5 + t / (2 * Math.sqrt(2 + t * t)), 12);
    }
  });

  it('0.975 quantiles match the printed t table', () => {
    const table: [number, number][] = [
      [1, 12.706],
      [2, 4.303],
      [4, 2.776],
      [9, 2.262],
      [29, 2.045],
    ];
    for (const [df, q] of table) expect(Math.abs(tQuantile(0.975, df) - q)).toBeLessThan(6e-4);
    // Closed form for ν = 1: tan(π (p − ½)).
    expect(tQuantile(0.975, 1)).toBeCloseTo(Math.tan(Math.PI * 0.475), 8);
    // Large ν → the normal quantile 1.959964.
    expect(Math.abs(tQuantile(0.975, 1e6) - 1.959964)).toBeLessThan(1e-5);
    expect(tQuantile(0.025, 9)).toBeCloseTo(-tQuantile(0.975, 9), 12);
    expect(tQuantile(0.5, 3)).toBe(0);
  });

  it('quantile inverts the CDF', () => {
    for (const df of [1, 3, 7.5, 50]) for (const p of [0.6, 0.9, 0.995]) expect(tCdf(tQuantile(p, df), df)).toBeCloseTo(p, 10);
  });
});
