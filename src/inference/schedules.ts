/**
 * Schedules for the learning rate and the KL weight (β warm-up), as pure functions of
 * training progress measured in (fractional) epochs.
 * @module
 */

export const LR_SCHEDULES = ['constant', 'linear', 'cosine', 'step'] as const;
export type LrScheduleName = (typeof LR_SCHEDULES)[number];

export interface LrSchedule {
  name: LrScheduleName;
  /** Initial learning rate. */
  lr: number;
  /** Final learning rate as a fraction of `lr` (linear, cosine), default 0. */
  finalFraction?: number;
  /** For `step`: multiply by `gamma` every `every` epochs. */
  every?: number;
  gamma?: number;
}

/**
 * Learning rate at epoch `e` (0-based) of `total`.
 * - constant: lr
 * - linear: lr·(1 − (1 − f)·e/total) (Molchanov et al. 2017 decay linearly to 0, f = 0)
 * - cosine: lr·(f + (1 − f)·½(1 + cos(π e/total)))
 * - step: lr·gamma^⌊e/every⌋
 */
export function learningRate(s: LrSchedule, e: number, total: number): number {
  const f = s.finalFraction ?? 0;
  const p = total > 0 ? Math.min(1, e / total) : 0;
  switch (s.name) {
    case 'constant':
      return s.lr;
    case 'linear':
      return s.lr * (1 - (1 - f) * p);
    case 'cosine':
      return s.lr * (f + (1 - f) * 0.5 * (1 + Math.cos(Math.PI * p)));
    case 'step':
      return s.lr * (s.gamma ?? 0.1) ** Math.floor(e / (s.every ?? 30));
  }
}

export interface KlWarmup {
  /** β = 0 before this epoch. */
  startEpoch: number;
  /** β reaches 1 at this epoch (linearly from `startEpoch`). */
  endEpoch: number;
}

/**
 * KL weight β at fractional epoch t: 0 before `startEpoch`, linear to 1 at `endEpoch`,
 * 1 after (Molchanov et al. 2017: 0 for 5 epochs, then linear to 1 by epoch 20).
 * With endEpoch ≤ startEpoch β jumps from 0 to 1 at startEpoch.
 */
export function klBeta(w: KlWarmup | undefined, t: number): number {
  if (!w) return 1;
  if (t < w.startEpoch) return 0;
  if (w.endEpoch <= w.startEpoch) return 1;
  return Math.min(1, (t - w.startEpoch) / (w.endEpoch - w.startEpoch));
}
