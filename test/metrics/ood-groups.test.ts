import { describe, expect, it } from 'vitest';
import { auroc, aupr, fprAtTpr, oodMetrics } from '../../src/metrics/ood.js';
import { RandomStream } from '../../src/random.js';

/** Brute force over the distinct thresholds t (descending): flag every score ≥ t. */
function bruteForce(a: number[], b: number[]): { auroc: number; aupr: number; fpr95: number } {
  let u = 0;
  for (const x of a) for (const y of b) u += y > x ? 1 : y === x ? 0.5 : 0;
  const ts = [...new Set([...a, ...b].map((v) => (Object.is(v, -0) ? 0 : v)))].sort((p, q) => (p > q ? -1 : p < q ? 1 : 0));
  let ap = 0;
  let prevR = 0;
  let fpr95 = 1;
  let found = false;
  for (const t of ts) {
    const tp = b.filter((v) => v >= t).length;
    const fp = a.filter((v) => v >= t).length;
    const r = tp / b.length;
    ap += (r - prevR) * (tp / (tp + fp));
    prevR = r;
    if (!found && tp >= Math.ceil(0.95 * b.length - 1e-9)) {
      fpr95 = fp / a.length;
      found = true;
    }
  }
  return { auroc: u / (a.length * b.length), aupr: ap, fpr95 };
}

describe('OOD metrics from one grouping of the sorted scores', () => {
  it('oodMetrics and each metric alone equal a brute-force threshold sweep (ties, ±0, ±∞)', () => {
    const s = new RandomStream('ood-groups');
    const special = [0, -0, Infinity, -Infinity];
    const draw = (n: number, shift: number) =>
      Array.from({ length: n }, () => (s.uniform() < 0.15 ? special[s.int(4)]! : s.int(9) + shift + (s.uniform() < 0.3 ? s.uniform() : 0)));
    for (let rep = 0; rep < 20; rep++) {
      const a = draw(1 + s.int(60), 0);
      const b = draw(1 + s.int(60), s.int(3));
      const want = bruteForce(a, b);
      const got = oodMetrics(a, b);
      expect(got.auroc).toBeCloseTo(want.auroc, 12);
      expect(got.aupr).toBeCloseTo(want.aupr, 12);
      expect(got.fprAt95Tpr).toBeCloseTo(want.fpr95, 12);
      expect(auroc(a, b)).toBe(got.auroc);
      expect(aupr(a, b)).toBe(got.aupr);
      expect(fprAtTpr(a, b, 0.95)).toBe(got.fprAt95Tpr);
    }
  });

  it('refuses NaN scores', () => {
    expect(() => oodMetrics([0.1, Number.NaN], [0.2])).toThrow(/scoresIn/);
  });
});
