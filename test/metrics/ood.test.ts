import { describe, expect, it } from 'vitest';
import { aupr, auroc, fprAt95Tpr, fprAtTpr, oodReport } from '../../src/metrics/ood.js';
import { RandomStream } from '../../src/random.js';

/** Brute-force AUROC: P(out > in) + ½ P(out = in) over all pairs. */
function pairwise(a: number[], b: number[]): number {
  let s = 0;
  for (const x of a) for (const y of b) s += y > x ? 1 : y === x ? 0.5 : 0;
  return s / (a.length * b.length);
}

describe('AUROC', () => {
  it('is 1 for separated scores, 0 for reversed, 0.5 for identical', () => {
    expect(auroc([0.1, 0.2, 0.3], [0.5, 0.9])).toBe(1);
    expect(auroc([0.5, 0.9], [0.1, 0.2, 0.3])).toBe(0);
    expect(auroc([0.4, 0.4, 0.4], [0.4, 0.4])).toBe(0.5);
  });

  it('matches a hand-computed example with ties', () => {
    // in = [1, 2, 2, 3], out = [2, 3, 4]. Pairs (out beats in: 1, tie: ½):
    //   out 2: beats 1 → 1, ties two 2s → 1, loses to 3 → 0  ⇒ 2
    //   out 3: beats 1, 2, 2 → 3, ties 3 → 0.5                ⇒ 3.5
    //   out 4: beats all 4                                     ⇒ 4
    // U = 9.5, AUROC = 9.5 / (4·3) = 0.791666…
    // Rank check: sorted 1,2,2,2,3,3,4 → ranks 1, 3,3,3, 5.5,5.5, 7;
    //   R_out = 3 + 5.5 + 7 = 15.5, U = 15.5 − 3·4/2 = 9.5. ✓
    expect(auroc([1, 2, 2, 3], [2, 3, 4])).toBeCloseTo(9.5 / 12, 12);
  });

  it('equals the pairwise definition on random scores with many ties', () => {
    const rng = new RandomStream('auroc');
    const a = Array.from({ length: 60 }, () => rng.int(10));
    const b = Array.from({ length: 40 }, () => rng.int(10) + 2);
    expect(auroc(a, b)).toBeCloseTo(pairwise(a, b), 12);
  });
});

describe('AUPR and FPR@95TPR', () => {
  it('AUPR is 1 for separated scores and matches a hand-computed example', () => {
    expect(aupr([0, 1], [2, 3])).toBe(1);
    // Descending: 0.9 (out) P=1 R=1/2; 0.8 (in) P=1/2; 0.7 (out) P=2/3 R=1.
    // AP = ½·1 + ½·(2/3) = 5/6.
    expect(aupr([0.8, 0.1], [0.9, 0.7])).toBeCloseTo(5 / 6, 12);
    // All tied: one threshold, precision = n_out / n = 2/5.
    expect(aupr([1, 1, 1], [1, 1])).toBeCloseTo(0.4, 12);
  });

  it('FPR@95TPR is 0 for separated scores and counts in-dist above the threshold', () => {
    expect(fprAt95Tpr([0, 1, 2], [5, 6, 7])).toBe(0);
    // 20 OOD scores 1..20; 95 % TPR needs 19 flagged → threshold 2; in-dist ≥ 2: {2, 3} of 4.
    const out = Array.from({ length: 20 }, (_, i) => i + 1);
    expect(fprAt95Tpr([0, 1.5, 2, 3], out)).toBe(0.5);
    expect(fprAtTpr([0, 1.5, 2, 3], out, 1)).toBe(0.75);
  });
});

describe('oodReport', () => {
  it('ranks confident in-distribution below uniform OOD predictions, with MI when S > 1', () => {
    const k = 4;
    const conf = (c: number, n: number) => {
      const t = new Float32Array(n * k);
      for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) t[i * k + j] = j === i % k ? c : (1 - c) / (k - 1);
      return t;
    };
    const inS = [conf(0.95, 8), conf(0.9, 8)];
    // OOD: samples disagree on the class → high entropy and high MI.
    const outA = conf(0.9, 8);
    const outB = new Float32Array(8 * k);
    for (let i = 0; i < 8; i++) for (let j = 0; j < k; j++) outB[i * k + j] = j === (i + 1) % k ? 0.9 : 0.1 / 3;
    const rep = oodReport(inS, [outA, outB], k);
    expect(rep.oneMinusMaxProb.auroc).toBe(1);
    expect(rep.entropy.auroc).toBe(1);
    expect(rep.mutualInformation?.auroc).toBe(1);
    expect(rep.entropy.fprAt95Tpr).toBe(0);
    expect(rep.samples).toBe(2);
    const single = oodReport(conf(0.95, 8), conf(0.5, 8), k);
    expect(single.mutualInformation).toBeUndefined();
    expect(single.oneMinusMaxProb.aupr).toBe(1);
  });
});

describe('infinite scores', () => {
  it('sort ±Infinity correctly', () => {
    expect(auroc([-Infinity, 0, 1], [Infinity, 2])).toBe(1);
    expect(auroc([Infinity], [Infinity])).toBe(0.5);
  });
});
