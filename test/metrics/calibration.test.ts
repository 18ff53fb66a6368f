import { describe, expect, it } from 'vitest';
import { accuracy, brier, calibrationSummary, ece, equalWidthBinIndex, mce, nll, reliabilityBins } from '../../src/metrics/calibration.js';
import { RandomStream } from '../../src/random.js';

/** Row-major n×k table from rows. */
function table(rows: number[][]): Float32Array {
  return Float32Array.from(rows.flat());
}

describe('ECE on a hand-computed example', () => {
  // 6 predictions, k = 5, 3 equal-width bins: (0, 1/3], (1/3, 2/3], (2/3, 1].
  //  conf 0.30 correct, conf 0.25 wrong  → bin 0: acc 1/2, conf 0.275, |gap| 0.225
  //  conf 0.50 correct, conf 0.60 wrong  → bin 1: acc 1/2, conf 0.55,  |gap| 0.05
  //  conf 0.90 correct, conf 1.00 correct → bin 2: acc 1,   conf 0.95,  |gap| 0.05
  // ECE = (2/6)(0.225 + 0.05 + 0.05) = 0.325/3 = 0.108333…
  // MCE = 0.225; L2 = sqrt((0.225² + 0.05² + 0.05²)/3) = sqrt(0.055625/3) = 0.1361678…
  const probs = table([
    [0.3, 0.2, 0.2, 0.2, 0.1],
    [0.25, 0.2, 0.2, 0.2, 0.15],
    [0.5, 0.2, 0.1, 0.1, 0.1],
    [0.6, 0.1, 0.1, 0.1, 0.1],
    [0.025, 0.9, 0.025, 0.025, 0.025],
    [0, 0, 0, 0, 1],
  ]);
  const labels = Int32Array.from([0, 1, 0, 2, 1, 4]);

  it('matches the arithmetic', () => {
    expect(ece(probs, labels, { bins: 3 })).toBeCloseTo(0.325 / 3, 6);
    expect(mce(probs, labels, { bins: 3 })).toBeCloseTo(0.225, 6);
    expect(ece(probs, labels, { bins: 3, norm: 'l2' })).toBeCloseTo(Math.sqrt(0.055625 / 3), 6);
    expect(accuracy(probs, labels)).toBeCloseTo(4 / 6, 12);
  });

  it('reports the bins', () => {
    const bins = reliabilityBins(probs, labels, { bins: 3 });
    expect(bins.map((b) => b.count)).toEqual([2, 2, 2]);
    expect(bins[0].accuracy).toBe(0.5);
    expect(bins[0].confidence).toBeCloseTo(0.275, 6);
    expect(bins[2].accuracy).toBe(1);
    expect(bins[1].lo).toBeCloseTo(1 / 3, 12);
    expect(bins[1].hi).toBeCloseTo(2 / 3, 12);
  });

  it('empty bins contribute 0 and report NaN', () => {
    const bins = reliabilityBins(probs, labels, { bins: 10 });
    const empty = bins.filter((b) => b.count === 0);
    expect(empty.length).toBeGreaterThan(0);
    expect(empty.every((b) => Number.isNaN(b.accuracy))).toBe(true);
    expect(Number.isFinite(ece(probs, labels, { bins: 10 }))).toBe(true);
  });
});

describe('bin-edge convention (lo, hi], first bin closed at 0', () => {
  it('edge values go to the lower bin', () => {
    expect(equalWidthBinIndex(0, 15)).toBe(0);
    expect(equalWidthBinIndex(1 / 15, 15)).toBe(0);
    expect(equalWidthBinIndex(Math.fround(1 / 15), 15)).toBe(0);
    expect(equalWidthBinIndex(1 / 15 + 1e-6, 15)).toBe(1);
    expect(equalWidthBinIndex(2 / 15, 15)).toBe(1);
    expect(equalWidthBinIndex(Math.fround(14 / 15), 15)).toBe(13);
    expect(equalWidthBinIndex(1, 15)).toBe(14);
    expect(equalWidthBinIndex(0.5, 2)).toBe(0);
  });

  it('a float32 confidence of exactly 1/15 (uniform over 15 classes) is in bin 0', () => {
    const probs = new Float32Array(15).fill(1 / 15);
    const bins = reliabilityBins(probs, Int32Array.from([0]));
    expect(bins[0].count).toBe(1);
    expect(bins[1].count).toBe(0);
  });

  it('a confidence of exactly 0 is in bin 0', () => {
    const bins = reliabilityBins(new Float32Array(3), Int32Array.from([1]));
    expect(bins[0].count).toBe(1);
  });
});

/** Synthetic top-label-calibrated (or overconfident) predictions, k = 3. */
function synthetic(n: number, seed: string, overconfidence = 0): { probs: Float32Array; labels: Int32Array } {
  const rng = new RandomStream(seed);
  const k = 3;
  const probs = new Float32Array(n * k);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = 0.4 + 0.6 * rng.uniform(); // top confidence in [0.4, 1)
    const top = rng.int(k);
    for (let j = 0; j < k; j++) probs[i * k + j] = j === top ? c : (1 - c) / 2;
    const pCorrect = Math.max(0, c - overconfidence);
    labels[i] = rng.uniform() < pCorrect ? top : (top + 1 + rng.int(k - 1)) % k;
  }
  return { probs, labels };
}

describe('synthetic sets', () => {
  it('perfectly calibrated predictions have ECE ≈ 0', () => {
    const { probs, labels } = synthetic(200_000, 'calibrated');
    // Sampling noise is about sqrt(B/N)·0.5 ≈ 0.004.
    expect(ece(probs, labels)).toBeLessThan(0.01);
    expect(ece(probs, labels, { binning: 'equal-mass' })).toBeLessThan(0.01);
  });

  it('overconfident predictions have ECE ≈ the overconfidence', () => {
    const { probs, labels } = synthetic(100_000, 'overconfident', 0.15);
    expect(ece(probs, labels)).toBeGreaterThan(0.12);
    expect(ece(probs, labels)).toBeLessThan(0.18);
  });

  it('MCE ≥ L2 ≥ ECE for several random sets and both binnings', () => {
    for (let s = 0; s < 5; s++) {
      const { probs, labels } = synthetic(500, `mce-${s}`, 0.05 * s);
      for (const binning of ['equal-width', 'equal-mass'] as const) {
        const e1 = ece(probs, labels, { binning });
        const e2 = ece(probs, labels, { binning, norm: 'l2' });
        const m = mce(probs, labels, { binning });
        expect(m).toBeGreaterThanOrEqual(e2 - 1e-12);
        expect(e2).toBeGreaterThanOrEqual(e1 - 1e-12);
      }
    }
  });

  it('equal-mass bins have equal counts', () => {
    const { probs, labels } = synthetic(150, 'mass');
    const bins = reliabilityBins(probs, labels, { binning: 'equal-mass' });
    expect(bins).toHaveLength(15);
    expect(bins.every((b) => b.count === 10)).toBe(true);
    // Edges are non-decreasing quantiles and every bin's mean confidence lies within them.
    for (let b = 0; b < bins.length; b++) {
      if (b > 0) expect(bins[b].lo).toBe(bins[b - 1].hi);
      expect(bins[b].confidence).toBeGreaterThanOrEqual(bins[b].lo);
      expect(bins[b].confidence).toBeLessThanOrEqual(bins[b].hi);
    }
    const s100 = synthetic(100, 'mass2');
    const uneven = reliabilityBins(s100.probs, s100.labels, { binning: 'equal-mass', bins: 15 });
    const counts = uneven.map((b) => b.count);
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(100);
  });
});

describe('NLL and Brier', () => {
  it('are 0 for one-hot correct predictions', () => {
    const probs = table([
      [1, 0, 0],
      [0, 0, 1],
    ]);
    const labels = Int32Array.from([0, 2]);
    expect(nll(probs, labels)).toBe(0);
    expect(brier(probs, labels)).toBe(0);
  });

  it('are log k and 1 − 1/k for uniform predictions', () => {
    for (const k of [2, 10]) {
      const n = 4;
      const probs = new Float32Array(n * k).fill(1 / k);
      const labels = Int32Array.from({ length: n }, (_, i) => i % k);
      expect(nll(probs, labels)).toBeCloseTo(Math.log(k), 6);
      expect(brier(probs, labels)).toBeCloseTo(1 - 1 / k, 6);
    }
  });

  it('clamps p_y at 1e-12 and gives Brier 2 for one-hot wrong predictions', () => {
    const probs = table([[1, 0]]);
    const labels = Int32Array.from([1]);
    expect(nll(probs, labels)).toBeCloseTo(-Math.log(1e-12), 9);
    expect(brier(probs, labels)).toBe(2);
  });

  it('rejects inconsistent shapes and out-of-range labels', () => {
    expect(() => nll(new Float32Array(5), Int32Array.from([0, 1]))).toThrow();
    expect(() => brier(new Float32Array(4), Int32Array.from([0, 2]))).toThrow();
  });
});

describe('calibrationSummary', () => {
  it('agrees with the individual metrics', () => {
    const { probs, labels } = synthetic(1000, 'summary', 0.1);
    const s = calibrationSummary(probs, labels);
    expect(s.n).toBe(1000);
    expect(s.accuracy).toBe(accuracy(probs, labels));
    expect(s.nll).toBe(nll(probs, labels));
    expect(s.brier).toBe(brier(probs, labels));
    expect(s.ece).toBeCloseTo(ece(probs, labels), 12);
    expect(s.mce).toBeCloseTo(mce(probs, labels), 12);
    expect(s.mce).toBeGreaterThanOrEqual(s.ece);
  });
});
