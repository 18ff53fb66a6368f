import { describe, expect, it } from 'vitest';
import { accuracyAtCoverage, aurc, riskCoverage } from '../../src/metrics/selective.js';
import { RandomStream } from '../../src/random.js';

describe('risk–coverage and AURC', () => {
  it('matches a hand-computed example', () => {
    // Sorted by uncertainty: 0.1 ✓, 0.2 ✗, 0.3 ✓, 0.4 ✗ (given shuffled).
    const u = [0.3, 0.1, 0.4, 0.2];
    const c = [1, 1, 0, 0];
    // risk(1/4) = 0, risk(2/4) = 1/2, risk(3/4) = 1/3, risk(4/4) = 2/4.
    const rc = riskCoverage(u, c);
    expect(Array.from(rc.coverage)).toEqual([0.25, 0.5, 0.75, 1]);
    expect(rc.risk[0]).toBe(0);
    expect(rc.risk[1]).toBe(0.5);
    expect(rc.risk[2]).toBeCloseTo(1 / 3, 15);
    expect(rc.risk[3]).toBe(0.5);
    expect(rc.aurc).toBeCloseTo((0 + 1 / 2 + 1 / 3 + 1 / 2) / 4, 15);
    expect(aurc(u, c)).toBeCloseTo(4 / 3 / 4, 15);
  });

  it('averages over the order of tied scores (brute force over all orders)', () => {
    // Three tied examples (one wrong) after one confident correct example.
    const u = [0.5, 0.5, 0.5, 0.1];
    const c = [1, 0, 1, 1];
    // Brute force: the 3 orders of the tied block (position of the error among them).
    let sum = 0;
    for (const errPos of [0, 1, 2]) {
      const seq = [1, ...[0, 1, 2].map((p) => (p === errPos ? 0 : 1))];
      let errs = 0;
      let a = 0;
      for (let m = 1; m <= 4; m++) {
        errs += 1 - seq[m - 1]!;
        a += errs / m;
      }
      sum += a / 4;
    }
    expect(aurc(u, c)).toBeCloseTo(sum / 3, 15);
  });

  it('accuracy at coverage keeps the ⌈c·n⌉ most confident', () => {
    const n = 20;
    const u = Array.from({ length: n }, (_, i) => i);
    const c = Array.from({ length: n }, (_, i) => (i === 19 || i === 18 || i === 5 ? 0 : 1));
    expect(accuracyAtCoverage(u, c, 0.9)).toBeCloseTo(17 / 18, 15); // 18 kept, one error (i = 5)
    expect(accuracyAtCoverage(u, c, 0.95)).toBeCloseTo(17 / 19, 15);
    expect(accuracyAtCoverage(u, c, 1)).toBeCloseTo(17 / 20, 15);
    expect(() => accuracyAtCoverage(u, c, 0)).toThrow(/coverage/);
  });

  it('AURC of a perfect ranking is the minimum over orders and a random score is near the error rate', () => {
    const r = new RandomStream('sel');
    const n = 2000;
    const c = Array.from({ length: n }, () => (r.uniform() < 0.2 ? 0 : 1));
    const perfect = c.map((x, i) => (x ? 0 : 1) + i * 1e-9);
    const random = c.map(() => r.uniform());
    // Perfect: risk 0 until coverage 1 − e, then (m − (1−e)n)/m. Sum it directly.
    const e = c.filter((x) => !x).length;
    let direct = 0;
    for (let m = 1; m <= n; m++) direct += Math.max(0, m - (n - e)) / m;
    expect(aurc(perfect, c)).toBeCloseTo(direct / n, 12);
    expect(Math.abs(aurc(random, c) - e / n)).toBeLessThan(0.03);
  });
});
