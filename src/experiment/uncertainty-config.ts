/**
 * Config schemas of the uncertainty analysis (issue 13): `eval.ood` (out-of-distribution
 * and dataset-shift evaluation at every operating point) and `pruning.riskControl`
 * (Learn-then-Test choice of the sparsest network with a certified accuracy drop).
 * Kept here so that config.ts only imports them.
 * @module
 */
import { z } from 'zod';

/** Shifts `eval.ood.shifts` may name. */
export const OOD_SHIFTS = ['rot30', 'rot60', 'rot90', 'gaussian-noise', 'inverted', 'uniform-noise', 'fashion-mnist'] as const;
export type OodShiftName = (typeof OOD_SHIFTS)[number];

const num = () => z.number().finite();

/**
 * `eval.ood`: off by default (each shift costs one more evaluation of every operating
 * point); configs/quickstart.yaml turns it on.
 */
export const oodConfigSchema = z
  .object({
    /** Evaluate OOD detection (AUROC / AUPR / FPR95) and accuracy / ECE under shift at every operating point. */
    enabled: z.boolean().default(false),
    /** Which shifts; `fashion-mnist` is skipped with a note when not installed or when the data is Fashion-MNIST itself. */
    shifts: z
      .array(z.enum(OOD_SHIFTS))
      .min(1)
      .default([...OOD_SHIFTS]),
    /** In-distribution examples (the first of the evaluation split) and examples per shift. */
    examples: num().int().min(10).max(100000).default(1000),
    /** Standard deviation of the additive Gaussian pixel noise (pixels in [0, 1], clipped). */
    noiseSigma: num().gt(0).max(10).default(0.5),
  })
  .strict()
  .default({});

/** `pruning.riskControl` (Learn-then-Test; see src/metrics/risk-control.ts). */
export const riskControlConfigSchema = z
  .object({
    enabled: z.boolean().default(false),
    /** Tolerated accuracy drop against the dense model (fraction, 0.01 = 1 point). */
    epsilon: num().gt(0).lt(1).default(0.01),
    /** Risk level: the guarantee holds with probability ≥ 1 − delta. */
    delta: num().gt(0).lt(1).default(0.1),
    /** Fraction of the evaluation split used to calibrate; the rest measures the realized drop. */
    calibrationSplit: num().gt(0).lt(1).default(0.5),
    /**
     * Which predictive's correctness is controlled: `mean` (the posterior-mean network, deterministic, default)
     * or `mc` (the S-sample predictive, whose Monte Carlo noise adds flips between operating points).
     */
    predictive: z.enum(['mean', 'mc']).default('mean'),
  })
  .strict()
  .default({});

export type OodConfig = z.infer<typeof oodConfigSchema>;
export type RiskControlConfig = z.infer<typeof riskControlConfigSchema>;
