/**
 * Filter criteria: one score per output unit (conv filter W[:, :, :, j], dense column
 * W[:, j]) of the posterior mean, given to every weight of that unit, so the structured
 * path (`pruning.units`, `src/pruning/structured.ts`) ranks units by it under any
 * aggregate (`mean` and `max` return it exactly; `l2` and `l1` scale it by the same
 * factor for every unit of a layer, so per-layer rankings are the same). Registered
 * into the criterion registry by `registry.ts` (types only imported from there).
 *
 * - `fpgm` (He et al. 2019, "Filter Pruning via Geometric Median"): a filter near the
 *   geometric median of its layer's filters is the most replaceable by the others. The
 *   paper's approximation scores filter i by its summed distance to the other filters of
 *   the same layer,  d_i = Σ_j ‖F_i − F_j‖₂;  the smallest d_i are pruned first (per layer,
 *   `pruning.units.scope: layer`).
 * - `filter-l1`, `filter-l2`: ‖F_i‖₁ (Li et al. 2017, "Pruning Filters for Efficient
 *   ConvNets") and ‖F_i‖₂ (the norm criterion FPGM is compared with).
 *
 * Masked weights enter as 0 (the posterior moments of a masked weight are 0). Used for
 * unstructured sparsities these scores rank whole units as blocks.
 * @module
 */
import type { WeightMoments } from '../nn/layer.js';
import type { Criterion, ScoreSet } from './registry.js';

/** Filters of a weight: unit j's weights are the entries f with f % nOut = j. */
function filterView(mean: Float32Array, shape: number[]): { nOut: number; size: number } {
  const nOut = shape.at(-1)!;
  return { nOut, size: mean.length / nOut };
}

/** d_i = Σ_j ‖F_i − F_j‖₂ over the filters (output units) of one weight tensor. */
export function fpgmFilterScores(mean: Float32Array, shape: number[]): Float64Array {
  const { nOut, size } = filterView(mean, shape);
  const d = new Float64Array(nOut);
  for (let i = 0; i < nOut; i++) {
    for (let j = i + 1; j < nOut; j++) {
      let s = 0;
      for (let k = 0; k < size; k++) {
        const t = mean[k * nOut + i]! - mean[k * nOut + j]!;
        s += t * t;
      }
      const dist = Math.sqrt(s);
      d[i]! += dist;
      d[j]! += dist;
    }
  }
  return d;
}

/** ‖F_i‖_p (p = 1 or 2) of every filter (output unit). */
export function filterNormScores(mean: Float32Array, shape: number[], p: 1 | 2): Float64Array {
  const { nOut } = filterView(mean, shape);
  const out = new Float64Array(nOut);
  for (let f = 0; f < mean.length; f++) out[f % nOut]! += p === 1 ? Math.abs(mean[f]!) : mean[f]! * mean[f]!;
  if (p === 2) for (let j = 0; j < nOut; j++) out[j] = Math.sqrt(out[j]!);
  return out;
}

/** Every weight gets the score of its output unit. */
export function broadcastUnitScores(unit: ArrayLike<number>, size: number): Float32Array {
  const nOut = unit.length;
  return Float32Array.from({ length: size }, (_, f) => unit[f % nOut]!);
}

function perFilter(moments: WeightMoments[], f: (m: WeightMoments) => ArrayLike<number>): ScoreSet {
  return new Map(moments.map((m) => [m.name, broadcastUnitScores(f(m), m.mean.length)]));
}

/** The filter criteria (`fpgm`, `filter-l1`, `filter-l2`). */
export function filterCriteria(): Criterion[] {
  return [
    {
      name: 'fpgm',
      description:
        'FPGM filter pruning: summed distance Σ_j ‖F_i − F_j‖₂ of each filter / unit to the others of its layer (He et al. 2019); use with pruning.units',
      needsVariance: false,
      needsData: false,
      compute: (p) => perFilter(p.moments(), (m) => fpgmFilterScores(m.mean, m.shape)),
    },
    {
      name: 'filter-l1',
      description: 'L1 norm ‖F_i‖₁ of each filter / unit of the posterior mean (Li et al. 2017); use with pruning.units',
      needsVariance: false,
      needsData: false,
      compute: (p) => perFilter(p.moments(), (m) => filterNormScores(m.mean, m.shape, 1)),
    },
    {
      name: 'filter-l2',
      description: 'L2 norm ‖F_i‖₂ of each filter / unit of the posterior mean; use with pruning.units',
      needsVariance: false,
      needsData: false,
      compute: (p) => perFilter(p.moments(), (m) => filterNormScores(m.mean, m.shape, 2)),
    },
  ];
}
