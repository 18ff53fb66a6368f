/**
 * Pruning criteria: per-weight importance scores computed from a {@link Posterior}.
 *
 * Convention: a HIGHER score means MORE important (kept longer). Scores of weights
 * that are already masked are irrelevant: masks act on the remaining weights only.
 * One registry holds every criterion, so invariant tests run over all of them.
 * @module
 */
import type { Dataset } from '../data/dataset.js';
import type { WeightMoments } from '../nn/layer.js';
import type { Posterior } from '../inference/posterior.js';
import type { RandomStream } from '../random.js';
import type { Network } from '../nn/network.js';
import { gradientCriteria } from './gradient-criteria.js';
import { filterCriteria } from './fpgm.js';
import { slimmingCriteria } from '../pruning/slimming.js';
import { bmrCriterion } from './bmr.js';

/** Scores keyed by weight name (`<layer>.weight`), each as long as the weight. */
export type ScoreSet = Map<string, Float32Array>;

export interface ScoreContext {
  /** For random scores and any Monte Carlo estimate. */
  stream: RandomStream;
  /** Training data, for data-dependent criteria (gradients, Fisher). */
  data?: Dataset;
  /** The network at initialization (same layer names), for criteria defined there (SNIP). */
  initialNetwork?: Network;
}

export interface Criterion {
  name: string;
  /** One line for reports and `--help`. */
  description: string;
  /** Whether the criterion needs posterior variances (not defined for a point estimate). */
  needsVariance: boolean;
  /** Whether the criterion needs data (gradients). */
  needsData: boolean;
  /** Whether the criterion needs gates (WeightMoments.inclusion); such criteria throw for ungated posteriors. */
  needsGates?: boolean;
  /** Whether the criterion needs batch norm after the scored layers (`bn-scale`); such criteria throw for networks without it. */
  needsBatchNorm?: boolean;
  compute(posterior: Posterior, ctx: ScoreContext): ScoreSet | Promise<ScoreSet>;
}

function perWeight(posterior: Posterior, f: (m: WeightMoments) => Float32Array): ScoreSet {
  return new Map(posterior.moments().map((m) => [m.name, f(m)]));
}

function requireVariance(posterior: Posterior, crit: string): void {
  const ms = posterior.moments();
  if (ms.every((m) => m.variance.every((v) => v === 0))) {
    throw new Error(
      `criterion "${crit}" needs posterior variances, but the "${posterior.method}" posterior is a point estimate (all variances are 0); use magnitude or random, or a Bayesian inference method`,
    );
  }
}

/** SNR = |E[w]| / sqrt(Var[w]) (Blundell et al. 2015; Mohan et al. 2022). */
export function snrScores(m: WeightMoments): Float32Array {
  const out = new Float32Array(m.mean.length);
  for (let i = 0; i < out.length; i++) out[i] = Math.abs(m.mean[i]!) / Math.sqrt(m.variance[i]!);
  return out;
}

/**
 * −log α = log E[w]² − log Var[w] (sparse VD, Molchanov et al. 2017), unclipped so the
 * ranking has no ties. Since SNR = exp(−log α / 2), it ranks weights exactly as SNR does;
 * the threshold log α ≥ 3 is SNR ≤ exp(−1.5) ≈ 0.223.
 */
export function negLogAlphaScores(m: WeightMoments): Float32Array {
  const out = new Float32Array(m.mean.length);
  for (let i = 0; i < out.length; i++) out[i] = Math.log(m.mean[i]! * m.mean[i]! + 1e-30) - Math.log(m.variance[i]! + 1e-30);
  return out;
}

/** |E[w]| (magnitude pruning of the posterior mean, Han et al. 2015). */
export function magnitudeScores(m: WeightMoments): Float32Array {
  return Float32Array.from(m.mean, Math.abs);
}

const registry = new Map<string, Criterion>();

/** Add a criterion to the registry (later modules register theirs: gates, Fisher, SNIP, ...). */
export function registerCriterion(c: Criterion): void {
  if (registry.has(c.name)) throw new Error(`criterion "${c.name}" is already registered`);
  registry.set(c.name, c);
}

/** The criterion named `name`, with an error that lists the allowed names. */
export function getCriterion(name: string): Criterion {
  const c = registry.get(name);
  if (!c) throw new Error(`unknown pruning criterion "${name}"; allowed: ${criterionNames().join(', ')}`);
  return c;
}

export function criterionNames(): string[] {
  return [...registry.keys()];
}

registerCriterion({
  name: 'snr',
  description: 'signal-to-noise ratio |E[w]|/std[w] of the posterior',
  needsVariance: true,
  needsData: false,
  compute: (p) => (requireVariance(p, 'snr'), perWeight(p, snrScores)),
});
registerCriterion({
  name: 'log-alpha',
  description: 'sparse-VD dropout parameter: prune the largest log α = log Var[w] − log E[w]² (same ranking as SNR)',
  needsVariance: true,
  needsData: false,
  compute: (p) => (requireVariance(p, 'log-alpha'), perWeight(p, negLogAlphaScores)),
});
registerCriterion({
  name: 'magnitude',
  description: 'magnitude |E[w]| of the posterior mean',
  needsVariance: false,
  needsData: false,
  compute: (p) => perWeight(p, magnitudeScores),
});
registerCriterion({
  name: 'random',
  description: 'uniform random scores (the control every criterion must beat)',
  needsVariance: false,
  needsData: false,
  compute: (p, ctx) => perWeight(p, (m) => Float32Array.from(m.mean, () => ctx.stream.uniform())),
});
// Gradient and curvature criteria (fisher, obd, snip, taylor): src/scores/gradient-criteria.ts.
for (const c of gradientCriteria()) registerCriterion(c);
// Filter criteria (fpgm, filter-l1, filter-l2): src/scores/fpgm.ts; network slimming's bn-scale: src/pruning/slimming.ts.
for (const c of [...filterCriteria(), ...slimmingCriteria()]) registerCriterion(c);
// Bayesian model reduction (bmr): src/scores/bmr.ts.
registerCriterion(bmrCriterion());
registerCriterion({
  name: 'inclusion',
  description: 'gate inclusion probability P(w ≠ 0): hard-concrete P(z ≠ 0) (L0), spike-and-slab φ; weights of ungated layers in a gated network score 1',
  needsVariance: false,
  needsData: false,
  needsGates: true,
  compute: (p) => {
    const ms = p.moments();
    if (!ms.some((m) => m.inclusion)) {
      throw new Error(
        `criterion "inclusion" needs gate inclusion probabilities, but the "${p.method}" posterior has no gates; use inference.method l0, spike-slab or unit-gates`,
      );
    }
    return new Map(ms.map((m) => [m.name, m.inclusion ? Float32Array.from(m.inclusion) : new Float32Array(m.mean.length).fill(1)]));
  },
});
