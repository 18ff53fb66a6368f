/**
 * Masks from scores: 1 keeps a weight, 0 removes it.
 *
 * Conventions (shared/references.md): sparsity = fraction of weights removed;
 * repeated pruning acts on the remaining weights only (weights masked before stay
 * masked, always: a target below the prior mask's sparsity returns the prior mask). Target sparsities give exact counts:
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

/**
 * Mask removing exactly `k` entries of the concatenation of `arrays`, lowest score first,
 * ties by position. Entries that `priors` already mask (0) are removed first and always
 * stay removed: if `k` is at most their number the result is the prior mask itself (so
 * it may remove more than `k`); otherwise the `k − z` lowest of the remaining entries go
 * as well. A score of −∞ is an ordinary (lowest) score, never confused with a prior zero.
 */
function pruneLowest(arrays: Float32Array[], k: number, priors: (Float32Array | undefined)[] = []): Float32Array[] {
  const masks = arrays.map((s, a) => {
    const p = priors[a];
    return p ? Float32Array.from(p, (v) => (v === 0 ? 0 : 1)) : new Float32Array(s.length).fill(1);
  });
  let z = 0;
  for (const m of masks) for (let i = 0; i < m.length; i++) if (m[i] === 0) z++;
  const need = k - z;
  if (need <= 0) return masks;
  const free: number[] = [];
  for (let a = 0; a < arrays.length; a++) {
    const s = arrays[a]!;
    const m = masks[a]!;
    for (let i = 0; i < s.length; i++) if (m[i] !== 0) free.push(s[i]!);
  }
  if (need >= free.length) return masks.map((m) => m.fill(0));
  const sorted = Float32Array.from(free).sort();
  const t = sorted[need - 1]!; // the need-th smallest remaining value
  let below = 0;
  for (let i = 0; i < need; i++) if (sorted[i]! < t) below++;
  let tiesToPrune = need - below;
  for (let a = 0; a < arrays.length; a++) {
    const s = arrays[a]!;
    const m = masks[a]!;
    for (let i = 0; i < s.length; i++) {
      if (m[i] === 0) continue;
      if (s[i]! < t) m[i] = 0;
      else if (s[i] === t && tiesToPrune > 0) {
        m[i] = 0;
        tiesToPrune--;
      }
    }
  }
  return masks;
}

function checkPrior(scores: ScoreSet, prior?: MaskSet): void {
  if (!prior) return;
  for (const [name, m] of prior) {
    const s = scores.get(name);
    if (s && s.length !== m.length) throw new Error(`prior mask of "${name}" has ${m.length} entries, its scores ${s.length}`);
  }
}

function checkSparsity(sparsity: number): void {
  if (!(sparsity >= 0 && sparsity <= 1)) throw new Error(`sparsity must be in [0, 1] (fraction of weights removed), got ${sparsity}`);
}

/**
 * Masks at a target sparsity.
 * - `global`: one ranking over all weights; exactly round(sparsity · total) removed.
 * - `layer`: each layer separately; exactly round(sparsity · size) removed per layer.
 *
 * `prior` masks are kept: a weight they mask is never revived, and their zeros count
 * towards the target. When the target count is below the prior's number of zeros (a
 * non-monotone target), the result is the prior mask itself and its real sparsity
 * (see {@link maskSparsity}) is above the target; callers report that real value.
 */
export function masksAtSparsity(scores: ScoreSet, sparsity: number, scope: PruningScope = 'global', prior?: MaskSet): MaskSet {
  checkSparsity(sparsity);
  checkScores(scores);
  checkPrior(scores, prior);
  const names = [...scores.keys()];
  const arrays = names.map((n) => scores.get(n)!);
  const priors = names.map((n) => prior?.get(n));
  if (scope === 'global') {
    const total = arrays.reduce((a, s) => a + s.length, 0);
    const masks = pruneLowest(arrays, Math.round(sparsity * total), priors);
    return new Map(names.map((n, i) => [n, masks[i]!]));
  }
  return new Map(names.map((n, i) => [n, pruneLowest([arrays[i]!], Math.round(sparsity * arrays[i]!.length), [priors[i]])[0]!]));
}

/** Masks keeping exactly the weights whose score is strictly above `threshold` and that `prior` does not mask. */
export function masksAtThreshold(scores: ScoreSet, threshold: number, prior?: MaskSet): MaskSet {
  checkScores(scores);
  checkPrior(scores, prior);
  const out: MaskSet = new Map();
  for (const [name, s] of scores) {
    const p = prior?.get(name);
    out.set(
      name,
      Float32Array.from(s, (v, i) => (v > threshold && (!p || p[i] !== 0) ? 1 : 0)),
    );
  }
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
