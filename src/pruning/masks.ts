/**
 * Masks from scores: 1 keeps a weight, 0 removes it.
 *
 * Conventions (shared/references.md): sparsity = fraction of weights removed;
 * repeated pruning acts on the remaining weights only (weights masked before stay
 * masked and are pruned first). Target sparsities give exact counts:
 * k = round(sparsity · total) weights are removed, lowest scores first, ties broken
 * by position (earlier layer, then lower flat index, first).
 * @module
 */
import type { MaskSet } from '../nn/network.js';
import type { ScoreSet } from '../scores/registry.js';

export const PRUNING_SCOPES = ['global', 'layer'] as const;
export type PruningScope = (typeof PRUNING_SCOPES)[number];

function checkScores(scores: ScoreSet): void {
  for (const [name, s] of scores) {
    for (let i = 0; i < s.length; i++) {
      if (Number.isNaN(s[i]!)) throw new Error(`score of "${name}" is NaN at index ${i}; a criterion must give a number for every weight`);
    }
  }
}

/** Effective scores: previously masked weights get −∞ so they are pruned first and never revived. */
function effective(scores: ScoreSet, prior?: MaskSet): ScoreSet {
  if (!prior || prior.size === 0) return scores;
  const out: ScoreSet = new Map();
  for (const [name, s] of scores) {
    const m = prior.get(name);
    if (!m) {
      out.set(name, s);
      continue;
    }
    const e = Float32Array.from(s);
    for (let i = 0; i < e.length; i++) if (m[i] === 0) e[i] = -Infinity;
    out.set(name, e);
  }
  return out;
}

/** Mask removing exactly `k` of the entries of the concatenation of `arrays` (lowest first, ties by position). */
function pruneLowest(arrays: Float32Array[], k: number): Float32Array[] {
  const total = arrays.reduce((a, s) => a + s.length, 0);
  const masks = arrays.map((s) => new Float32Array(s.length).fill(1));
  if (k <= 0) return masks;
  if (k >= total) return masks.map((m) => m.fill(0));
  const all = new Float32Array(total);
  let o = 0;
  for (const s of arrays) {
    all.set(s, o);
    o += s.length;
  }
  const sorted = Float32Array.from(all).sort();
  const t = sorted[k - 1]!; // the k-th smallest value
  let below = 0;
  for (let i = 0; i < k; i++) if (sorted[i]! < t) below++;
  let tiesToPrune = k - below;
  for (let a = 0; a < arrays.length; a++) {
    const s = arrays[a]!;
    const m = masks[a]!;
    for (let i = 0; i < s.length; i++) {
      if (s[i]! < t) m[i] = 0;
      else if (s[i] === t && tiesToPrune > 0) {
        m[i] = 0;
        tiesToPrune--;
      }
    }
  }
  return masks;
}

function checkSparsity(sparsity: number): void {
  if (!(sparsity >= 0 && sparsity <= 1)) throw new Error(`sparsity must be in [0, 1] (fraction of weights removed), got ${sparsity}`);
}

/**
 * Masks at a target sparsity.
 * - `global`: one ranking over all weights; exactly round(sparsity · total) removed.
 * - `layer`: each layer separately; exactly round(sparsity · size) removed per layer.
 * `prior` masks are kept (their zeros count towards the target).
 */
export function masksAtSparsity(scores: ScoreSet, sparsity: number, scope: PruningScope = 'global', prior?: MaskSet): MaskSet {
  checkSparsity(sparsity);
  checkScores(scores);
  const eff = effective(scores, prior);
  const names = [...eff.keys()];
  const arrays = names.map((n) => eff.get(n)!);
  if (scope === 'global') {
    const total = arrays.reduce((a, s) => a + s.length, 0);
    const masks = pruneLowest(arrays, Math.round(sparsity * total));
    return new Map(names.map((n, i) => [n, masks[i]!]));
  }
  return new Map(names.map((n, i) => [n, pruneLowest([arrays[i]!], Math.round(sparsity * arrays[i]!.length))[0]!]));
}

/** Masks keeping exactly the weights whose score is strictly above `threshold` (and not masked before). */
export function masksAtThreshold(scores: ScoreSet, threshold: number, prior?: MaskSet): MaskSet {
  checkScores(scores);
  const out: MaskSet = new Map();
  for (const [name, s] of effective(scores, prior))
    out.set(
      name,
      Float32Array.from(s, (v) => (v > threshold ? 1 : 0)),
    );
  return out;
}

/** Fraction of zeros over all masks (or of one mask). */
export function maskSparsity(masks: MaskSet | Float32Array): number {
  const arrays = masks instanceof Float32Array ? [masks] : [...masks.values()];
  let zeros = 0;
  let total = 0;
  for (const m of arrays) {
    total += m.length;
    for (let i = 0; i < m.length; i++) if (m[i] === 0) zeros++;
  }
  return total ? zeros / total : 0;
}
