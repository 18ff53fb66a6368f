/**
 * RigL, dynamic sparse training at a fixed parameter count (Evci et al. 2020, "Rigging
 * the lottery"): start from a random sparse mask; every ΔT steps, in each layer drop the
 * fraction f(t) of its kept weights with the smallest magnitude and regrow as many
 * connections where the dense gradient |∂L/∂w| is largest (among those not kept after
 * the drop); regrown weights start at 0. The drop fraction decays by cosine,
 *
 *   f(t) = α/2 · (1 + cos(π t / T_end)),   T_end = 0.75 · T (no updates after),
 *
 * so each layer keeps exactly its count of weights at every update.
 *
 * Sparsity distributions: `uniform` (every layer at the target) and `erk`
 * (Erdős–Rényi-Kernel: density of layer l ∝ (Σ dims)/(Π dims), i.e. (n_in + n_out)/(n_in·n_out)
 * for a dense layer and (k_h + k_w + c_in + c_out)/(k_h·k_w·c_in·c_out) for a convolution,
 * scaled so the kept total is (1 − s)·N; layers that would exceed density 1 are made dense
 * and the scale recomputed over the others).
 * @module
 */
import type { MaskSet } from '../nn/network.js';
import type { RandomStream } from '../random.js';

export const RIGL_DISTRIBUTIONS = ['uniform', 'erk'] as const;
export type RiglDistribution = (typeof RIGL_DISTRIBUTIONS)[number];

/** Layer shapes by weight name. */
export type WeightShapes = { name: string; shape: number[] }[];

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Per-layer densities (fractions kept) for a global sparsity `s`. */
export function layerDensities(shapes: WeightShapes, s: number, distribution: RiglDistribution): Map<string, number> {
  const density = 1 - s;
  if (distribution === 'uniform') return new Map(shapes.map((l) => [l.name, density]));
  const total = shapes.reduce((a, l) => a + size(l.shape), 0);
  const dense = new Set<string>();
  for (;;) {
    // kept = Σ_dense n_l + ε Σ_rest raw_l n_l = density · total
    let denseCount = 0;
    let rawSum = 0;
    for (const l of shapes) {
      const n = size(l.shape);
      if (dense.has(l.name)) denseCount += n;
      else rawSum += (l.shape.reduce((a, b) => a + b, 0) / n) * n;
    }
    const eps = rawSum > 0 ? (density * total - denseCount) / rawSum : 0;
    let changed = false;
    for (const l of shapes) {
      if (dense.has(l.name)) continue;
      if (eps * (l.shape.reduce((a, b) => a + b, 0) / size(l.shape)) > 1) {
        dense.add(l.name);
        changed = true;
      }
    }
    if (!changed) {
      return new Map(shapes.map((l) => [l.name, dense.has(l.name) ? 1 : eps * (l.shape.reduce((a, b) => a + b, 0) / size(l.shape))]));
    }
  }
}

/** Random masks keeping exactly round(d_l · n_l) weights of each layer. */
export function randomMasks(shapes: WeightShapes, densities: Map<string, number>, stream: RandomStream): MaskSet {
  const out: MaskSet = new Map();
  for (const l of shapes) {
    const n = size(l.shape);
    const k = Math.round((densities.get(l.name) ?? 1) * n);
    const perm = stream.fork(l.name).permutation(n);
    const m = new Float32Array(n);
    for (let i = 0; i < k; i++) m[perm[i]!] = 1;
    out.set(l.name, m);
  }
  return out;
}

/** The cosine drop fraction f(t) = α/2·(1 + cos(π t / T_end)) for t < T_end = endFraction·T, else 0. */
export function riglDropFraction(step: number, alpha: number, totalSteps: number, endFraction = 0.75): number {
  const end = endFraction * totalSteps;
  if (step >= end || end <= 0) return 0;
  return (alpha / 2) * (1 + Math.cos((Math.PI * step) / end));
}

/** What one layer's update did. */
export interface RiglLayerUpdate {
  mask: Float32Array;
  /** Positions that were not kept before and are kept now (their weights must start at 0). */
  grown: number[];
  dropped: number[];
}

/**
 * One RigL update of one layer: k = round(fraction · kept) of the kept weights with the
 * smallest |w| are dropped; k positions not kept after the drop with the largest |g| are
 * grown (ties by lower index). The kept count is unchanged.
 */
export function riglUpdateLayer(mask: Float32Array, weight: ArrayLike<number>, grad: ArrayLike<number>, fraction: number): RiglLayerUpdate {
  const kept: number[] = [];
  for (let i = 0; i < mask.length; i++) if (mask[i] !== 0) kept.push(i);
  const k = Math.round(fraction * kept.length); // never more than the free positions after the drop (n − kept + k)
  const out = Float32Array.from(mask, (v) => (v !== 0 ? 1 : 0));
  if (k <= 0) return { mask: out, grown: [], dropped: [] };
  const dropped = kept.sort((a, b) => Math.abs(weight[a]!) - Math.abs(weight[b]!) || a - b).slice(0, k);
  for (const i of dropped) out[i] = 0;
  const free: number[] = [];
  for (let i = 0; i < out.length; i++) if (out[i] === 0) free.push(i);
  const grownAll = free.sort((a, b) => Math.abs(grad[b]!) - Math.abs(grad[a]!) || a - b).slice(0, k);
  for (const i of grownAll) out[i] = 1;
  const grown = grownAll.filter((i) => mask[i] === 0);
  return { mask: out, grown, dropped: dropped.filter((i) => out[i] === 0) };
}
