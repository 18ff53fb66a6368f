/**
 * Per-unit (neuron / channel) scores from per-weight scores, for structured pruning.
 *
 * A unit is an output unit of a layer: column j of a dense weight [in, out], output
 * channel c of a conv kernel [kh, kw, cin, cout] — the last axis in both cases
 * (`axis: 'input'` aggregates over the first axis instead: the layer's input units).
 * Aggregations over the unit's weights s_1..s_m:
 * - `l2`: √Σ s², `l1`/`sum`: Σ s (first-order Taylor per unit, Molchanov et al. 2017, sums
 *   the saliency of the unit's weights; |w| scores give the channel L1 norm of Li et al. 2017),
 * - `mean`: Σ s / m, `max`: max s.
 * Higher is more important, as for weights.
 * @module
 */
import type { ScoreSet } from './registry.js';

export const UNIT_REDUCTIONS = ['l2', 'sum', 'mean', 'max'] as const;
export type UnitReduction = (typeof UNIT_REDUCTIONS)[number];

/** Aggregate the per-weight `scores` of a weight of `shape` into one score per unit. */
export function unitScores(scores: Float32Array, shape: number[], reduce: UnitReduction = 'l2', axis: 'output' | 'input' = 'output'): Float32Array {
  const size = shape.reduce((a, b) => a * b, 1);
  if (scores.length !== size) throw new Error(`unitScores: ${scores.length} scores for shape [${shape.join(', ')}]`);
  const units = axis === 'output' ? shape.at(-1)! : shape[0]!;
  const per = size / units;
  const inner = axis === 'output' ? 1 : per; // stride structure
  const acc = new Float64Array(units).fill(reduce === 'max' ? -Infinity : 0);
  for (let i = 0; i < size; i++) {
    const u = axis === 'output' ? i % units : Math.floor(i / inner);
    const s = scores[i]!;
    if (reduce === 'l2') acc[u]! += s * s;
    else if (reduce === 'max') acc[u] = Math.max(acc[u]!, s);
    else acc[u]! += s;
  }
  const out = new Float32Array(units);
  for (let u = 0; u < units; u++) out[u] = reduce === 'l2' ? Math.sqrt(acc[u]!) : reduce === 'mean' ? acc[u]! / per : acc[u]!;
  return out;
}

/** {@link unitScores} for every weight of a score set (`shapes` by weight name). */
export function unitScoreSet(scores: ScoreSet, shapes: Map<string, number[]>, reduce: UnitReduction = 'l2', axis: 'output' | 'input' = 'output'): ScoreSet {
  const out: ScoreSet = new Map();
  for (const [name, s] of scores) {
    const shape = shapes.get(name);
    if (!shape) throw new Error(`unitScoreSet: no shape for "${name}"`);
    out.set(name, unitScores(s, shape, reduce, axis));
  }
  return out;
}

/** Expand a per-unit 0/1 mask to the weight of `shape` (every weight of a removed unit is 0). */
export function expandUnitMask(unitMask: Float32Array, shape: number[], axis: 'output' | 'input' = 'output'): Float32Array {
  const size = shape.reduce((a, b) => a * b, 1);
  const units = axis === 'output' ? shape.at(-1)! : shape[0]!;
  if (unitMask.length !== units) throw new Error(`expandUnitMask: ${unitMask.length} units for shape [${shape.join(', ')}]`);
  const per = size / units;
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = unitMask[axis === 'output' ? i % units : Math.floor(i / per)]!;
  return out;
}
