import { describe, expect, it } from 'vitest';
import { klBeta, learningRate } from '../../src/inference/schedules.js';

describe('schedules', () => {
  it('KL warm-up: 0 before start, linear, 1 from the end epoch on (Molchanov et al.: 5 → 20)', () => {
    const w = { startEpoch: 5, endEpoch: 20 };
    expect(klBeta(w, 0)).toBe(0);
    expect(klBeta(w, 4.99)).toBe(0);
    expect(klBeta(w, 5)).toBe(0);
    expect(klBeta(w, 12.5)).toBeCloseTo(0.5, 12);
    expect(klBeta(w, 20)).toBe(1);
    expect(klBeta(w, 40)).toBe(1);
    expect(klBeta(undefined, 0)).toBe(1);
    expect(klBeta({ startEpoch: 3, endEpoch: 3 }, 2.9)).toBe(0);
    expect(klBeta({ startEpoch: 3, endEpoch: 3 }, 3)).toBe(1);
  });

  it('learning rates follow their formulas', () => {
    expect(learningRate({ name: 'constant', lr: 0.1 }, 7, 10)).toBe(0.1);
    expect(learningRate({ name: 'linear', lr: 0.1 }, 0, 10)).toBeCloseTo(0.1, 12);
    expect(learningRate({ name: 'linear', lr: 0.1 }, 5, 10)).toBeCloseTo(0.05, 12);
    expect(learningRate({ name: 'linear', lr: 0.1, finalFraction: 0.2 }, 10, 10)).toBeCloseTo(0.02, 12);
    expect(learningRate({ name: 'cosine', lr: 1 }, 5, 10)).toBeCloseTo(0.5, 12);
    expect(learningRate({ name: 'cosine', lr: 1, finalFraction: 0.1 }, 10, 10)).toBeCloseTo(0.1, 12);
    expect(learningRate({ name: 'step', lr: 1, every: 3, gamma: 0.5 }, 7, 10)).toBeCloseTo(0.25, 12);
  });
});
