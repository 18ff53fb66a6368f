/**
 * Weights the data never reach: the first layer's weights fed by an input feature that is
 * exactly 0 in every training example (MNIST's border pixels:
 * 119 of 784 in the embedded 8,000 training digits). The likelihood does not depend on them, so the exact posterior over them
 * is the prior (mean 0) and pruning them changes nothing on the training data.
 *
 * Posterior approximations differ on them. Mean-field VI and Laplace return (close to) the
 * prior: a large variance, hence a low SNR, pruned first. SWAG's variance is the spread of
 * the SGD iterates, which these weights never leave (only weight decay moves them, the same
 * way every step), and SVGD's particles, started from one jittered network, keep or collapse
 * their tiny spread (the repulsion of an RBF kernel on 266,000 dimensions is negligible per
 * coordinate). Both give such weights a near-zero variance and so the HIGHEST SNR: pruning by
 * SNR then keeps exactly the weights that do nothing (measured: SVGD after 2 epochs on 2,000
 * digits (161 dead pixels), median SNR 1,042 on the 48,300 dead-input weights vs 5.6 on the rest; 91 % of the
 * top-10 % SNR weights were dead-input).
 *
 * {@link deadInputWeights} finds them; {@link pruneDeadFirst} gives them score −∞ (the prior
 * mean's score) so any criterion prunes them first; {@link deadInputDiagnostic} measures
 * how a criterion ranks them as fitted. Only a first layer that is dense on the flat input
 * (weight [F, out]) is covered: a conv kernel is shared across positions, so no kernel
 * weight is fed by one pixel alone.
 * @module
 */
import type { Dataset } from '../data/dataset.js';
import { featureSize } from '../data/dataset.js';
import type { Network } from '../nn/network.js';
import type { ScoreSet } from '../scores/registry.js';

/** What the pruning curves do with dead-input weights (config `pruning.deadInputs`). */
export const DEAD_INPUT_POLICIES = ['as-scored', 'prune-first'] as const;
export type DeadInputPolicy = (typeof DEAD_INPUT_POLICIES)[number];

/** 1 for each input feature that is exactly 0 in every example of `ds`, else 0. */
export function deadInputFeatures(ds: Dataset): Uint8Array {
  const f = featureSize(ds);
  const dead = new Uint8Array(f).fill(1);
  for (let i = 0; i < ds.n; i++) {
    const row = i * f;
    for (let j = 0; j < f; j++) if (dead[j] && ds.x[row + j] !== 0) dead[j] = 0;
  }
  return dead;
}

export interface DeadInputWeights {
  /** Weight name, `<layer>.weight`. */
  name: string;
  /** Number of input features that are 0 in every training example. */
  features: number;
  /** Flat indices (row-major [F, out]) of the weights fed by those features. */
  indices: Int32Array;
}

/**
 * The weights of the first weight layer that only dead input features feed, or null when
 * that layer is not dense on the flat input or no feature is dead.
 */
export function deadInputWeights(net: Network, ds: Dataset): DeadInputWeights | null {
  const first = net.weightLayers()[0];
  const f = featureSize(ds);
  const shape = first?.weightShape;
  if (!first || !shape || shape.length !== 2 || shape[0] !== f) return null;
  const dead = deadInputFeatures(ds);
  const out = shape[1]!;
  const features = dead.reduce((a, b) => a + b, 0);
  if (features === 0) return null;
  const indices = new Int32Array(features * out);
  let k = 0;
  for (let j = 0; j < f; j++) if (dead[j]) for (let o = 0; o < out; o++) indices[k++] = j * out + o;
  return { name: `${first.name}.weight`, features, indices };
}

/** A copy of `scores` in which the dead-input weights score −∞ (pruned first by any ranking). */
export function pruneDeadFirst(scores: ScoreSet, dead: DeadInputWeights): ScoreSet {
  const out = new Map(scores);
  const s = scores.get(dead.name);
  if (!s) throw new Error(`dead-input weights name ${dead.name}, which the scores lack (have: ${[...scores.keys()].join(', ')})`);
  const copy = Float32Array.from(s);
  for (const i of dead.indices) copy[i] = -Infinity;
  out.set(dead.name, copy);
  return out;
}

export interface DeadInputRanking {
  /** Median score of the dead-input weights, and of every other weight (all layers). */
  medianDead: number;
  medianOther: number;
  /** Fraction of the dead-input weights among the top 10 % of all weights by score, and their share of all weights. */
  deadInTop10: number;
  deadShare: number;
}

/** Median of sorted values (NaN for none). */
function medianSorted(s: Float32Array): number {
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * How `scores` (as fitted) rank the dead-input weights against all the others. The top 10 % are
 * the first ⌊0.1·N⌉ weights of a stable descending sort (ties in layer, then index order), found
 * from the threshold value without sorting records (test/pruning/dead-input-ranking.test.ts holds
 * it to that sort).
 */
export function deadInputDiagnostic(scores: ScoreSet, dead: DeadInputWeights): DeadInputRanking {
  const isDead = new Uint8Array(scores.get(dead.name)?.length ?? 0);
  for (const i of dead.indices) isDead[i] = 1;
  let total = 0;
  let deadCount = 0;
  for (const [name, s] of scores) {
    total += s.length;
    if (name === dead.name) for (let i = 0; i < s.length; i++) deadCount += isDead[i]!;
  }
  const deadScores = new Float32Array(deadCount);
  const other = new Float32Array(total - deadCount);
  const all = new Float32Array(total);
  let nd = 0;
  let no = 0;
  let na = 0;
  for (const [name, s] of scores) {
    const here = name === dead.name;
    for (let i = 0; i < s.length; i++) {
      const v = s[i]!;
      all[na++] = v;
      if (here && isDead[i] === 1) deadScores[nd++] = v;
      else other[no++] = v;
    }
  }
  deadScores.sort();
  other.sort();
  let deadInTop = 0;
  const top = Math.max(1, Math.round(0.1 * total));
  if (total > 0) {
    const sorted = Float32Array.from(all).sort(); // ascending, NaN last
    const threshold = sorted[total - top]!;
    let greater = 0;
    for (let i = 0; i < total; i++) if (all[i]! > threshold) greater++;
    // Ties at the threshold enter in layer, then index order (the stable sort's order) until the top is full.
    let ties = Math.min(top, total) - greater;
    for (const [name, s] of scores) {
      const here = name === dead.name;
      for (let i = 0; i < s.length; i++) {
        const v = s[i]!;
        const d = here && isDead[i] === 1;
        if (v > threshold) deadInTop += d ? 1 : 0;
        else if (v === threshold && ties > 0) {
          ties--;
          deadInTop += d ? 1 : 0;
        }
      }
    }
  }
  return {
    medianDead: medianSorted(deadScores),
    medianOther: medianSorted(other),
    deadInTop10: deadInTop / Math.min(top, total),
    deadShare: deadCount / total,
  };
}
