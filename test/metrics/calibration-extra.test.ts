import { describe, expect, it } from 'vitest';
import { adaptiveEce, classwiseEce } from '../../src/metrics/calibration.js';

// Four examples, two classes: rows [p0, p1] and labels.
const probs = Float32Array.from([0.9, 0.1, 0.6, 0.4, 0.8, 0.2, 0.7, 0.3]);
const labels = Int32Array.from([0, 1, 1, 0]);

describe('adaptive (equal-mass) ECE', () => {
  it('matches a hand computation', () => {
    // Top-label confidences 0.9 ✓, 0.6 ✗, 0.8 ✗, 0.7 ✓; sorted: 0.6 ✗, 0.7 ✓ | 0.8 ✗, 0.9 ✓.
    // Bin 1: acc 0.5, conf 0.65 → 0.15; bin 2: acc 0.5, conf 0.85 → 0.35; ECE = ½·0.15 + ½·0.35 = 0.25.
    expect(adaptiveEce(probs, labels, 2)).toBeCloseTo(0.25, 6);
    // One bin: |acc − mean conf| = |0.5 − 0.75| = 0.25 as well; four bins: mean of |c − 1[✓]| = (0.1 + 0.6 + 0.8 + 0.3)/4.
    expect(adaptiveEce(probs, labels, 1)).toBeCloseTo(0.25, 6);
    expect(adaptiveEce(probs, labels, 4)).toBeCloseTo(0.45, 6);
  });
});

describe('classwise ECE', () => {
  it('matches a hand computation with 5 equal-width bins', () => {
    // Class 0, p = 0.9 (y=0), 0.6 (y=1), 0.8 (y=1), 0.7 (y=0):
    //   (0.8, 1]: {0.9, hit} → |1 − 0.9| = 0.1, weight ¼; (0.4, 0.6]: {0.6, miss} → 0.6, weight ¼;
    //   (0.6, 0.8]: {0.8 miss, 0.7 hit} → |0.5 − 0.75| = 0.25, weight ½.  Sum 0.025 + 0.15 + 0.125 = 0.3.
    // Class 1, p = 0.1 (y≠1), 0.4 (y=1), 0.2 (y=1), 0.3 (y≠1):
    //   [0, 0.2]: {0.1 miss, 0.2 hit} → |0.5 − 0.15| = 0.35, weight ½; (0.2, 0.4]: {0.4 hit, 0.3 miss} → |0.5 − 0.35| = 0.15, weight ½.
    //   Sum 0.175 + 0.075 = 0.25.  Classwise ECE = (0.3 + 0.25) / 2 = 0.275.
    expect(classwiseEce(probs, labels, 5)).toBeCloseTo(0.275, 6);
  });

  it('is 0 for one-hot correct predictions and for uniform predictions on balanced labels', () => {
    expect(classwiseEce(Float32Array.from([1, 0, 0, 1]), Int32Array.from([0, 1]))).toBe(0);
    // Uniform p = 1/2 with balanced labels: every class's frequency is ½ = p → 0.
    expect(classwiseEce(Float32Array.from([0.5, 0.5, 0.5, 0.5]), Int32Array.from([0, 1]))).toBe(0);
  });
});
