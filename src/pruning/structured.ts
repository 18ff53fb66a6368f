/**
 * Structured pruning: scores and keep-masks for whole units (dense output columns)
 * and channels (conv output filters), and masks from the decisions of gates.
 *
 * Unit scores aggregate any per-weight score (a `ScoreSet` from the criteria registry)
 * over the weights of each output unit — dense column j of W[in, out]; conv filter
 * W[:, :, :, j] — by the L2 norm, L1 sum, mean or max (higher = more important). Gated
 * layers also give a unit score directly: the gate probability P(z_j ≠ 0)
 * ({@link gateUnitScores}); rank them with {@link unitMasksAtRatio} like any unit score.
 *
 * A unit mask zeros the unit's whole column / filter in the weight masks; the unit
 * then outputs the constant act(b_j), and `compaction.ts` removes it exactly. The
 * classifier's output units are never scored (they are the classes).
 *
 * Convention (shared/references.md): a structured ratio counts units; the fraction of
 * parameters it removes is reported too ({@link UnitMaskResult.parameterFraction}) —
 * removing a fraction p of the units of two adjacent layers removes ≈ 1 − (1 − p)² of
 * the weights between them, counted here from the masks, including the next layer's
 * inputs that become unused.
 * @module
 */
import type { Network, MaskSet } from '../nn/network.js';
import { hasGates } from '../nn/structure.js';
import type { ScoreSet } from '../scores/registry.js';

export const UNIT_AGGREGATES = ['l2', 'l1', 'mean', 'max'] as const;
export type UnitAggregate = (typeof UNIT_AGGREGATES)[number];

/** Scores of the output units of one weight layer. */
export interface UnitScores {
  /** Weight name `<layer>.weight`. */
  weight: string;
  /** Weight shape ([in, out] or [k, k, cin, cout]). */
  shape: number[];
  /** One score per output unit / channel (higher = more important). */
  scores: Float32Array;
}

/** Which hidden layers structured pruning scores: all, conv layers only, dense layers only, or these layer names. */
export type UnitLayers = 'all' | 'conv' | 'dense' | string[];

/** Weight layers of `net` whose output units may be pruned (all but the classifier), restricted by `layers`. */
function prunableLayers(net: Network, layers: UnitLayers = 'all') {
  const wl = net.weightLayers().slice(0, -1);
  if (layers === 'all') return wl;
  if (layers === 'conv' || layers === 'dense') {
    const out = wl.filter((l) => (l.weightShape!.length === 4) === (layers === 'conv'));
    if (!out.length)
      throw new Error(
        `pruning.units.layers: "${layers}" selects no hidden layer of "${net.description}"; its hidden layers: ${wl.map((l) => l.name).join(', ')}`,
      );
    return out;
  }
  for (const n of layers)
    if (!wl.some((l) => l.name === n))
      throw new Error(`pruning.units.layers: "${n}" is not a hidden weight layer of "${net.description}"; allowed: ${wl.map((l) => l.name).join(', ')}`);
  return wl.filter((l) => layers.includes(l.name));
}

/**
 * Aggregate per-weight scores to per-output-unit scores of the hidden layers chosen by
 * `layers` (the others are not scored, so no unit of theirs is removed). Masked weights count as 0
 * (L2, L1, mean) or are skipped (max); absolute values are used for L1 and max.
 */
export function unitScores(net: Network, scores: ScoreSet, aggregate: UnitAggregate = 'l2', layers: UnitLayers = 'all'): UnitScores[] {
  return prunableLayers(net, layers).map((l) => {
    const name = `${l.name}.weight`;
    const s = scores.get(name);
    if (!s) throw new Error(`unit scores: no scores for "${name}"`);
    const shape = l.weightShape!;
    const nOut = shape.at(-1)!;
    const mask = l.getMask();
    const acc = new Float64Array(nOut);
    const cnt = new Float64Array(nOut);
    if (aggregate === 'max') acc.fill(-Infinity);
    for (let f = 0; f < s.length; f++) {
      const j = f % nOut;
      const kept = !mask || mask[f] !== 0;
      const v = kept ? s[f]! : 0;
      cnt[j]! += 1;
      if (aggregate === 'l2') acc[j]! += v * v;
      else if (aggregate === 'l1' || aggregate === 'mean') acc[j]! += Math.abs(v);
      else if (kept) acc[j] = Math.max(acc[j]!, Math.abs(v));
    }
    const out = new Float32Array(nOut);
    for (let j = 0; j < nOut; j++)
      out[j] = aggregate === 'l2' ? Math.sqrt(acc[j]!) : aggregate === 'mean' ? acc[j]! / cnt[j]! : acc[j]! === -Infinity ? 0 : acc[j]!;
    return { weight: name, shape, scores: out };
  });
}

/**
 * Unit scores from gates: the probability that output unit j of layer l is in use,
 * P(z_j ≠ 0) of its own output gate times P(z ≠ 0) of the next layer's input gate that
 * reads it (dense → dense), whichever exist (independent gates). Layers with neither get
 * no entry; the classifier is never scored.
 */
export function gateUnitScores(net: Network): UnitScores[] {
  const wl = net.weightLayers();
  const out: UnitScores[] = [];
  wl.forEach((l, idx) => {
    if (idx === wl.length - 1) return;
    const nOut = l.weightShape!.at(-1)!;
    let scores: Float32Array | undefined;
    if (hasGates(l)) {
      const g = l.gates();
      if (g.granularity === 'output') scores = Float32Array.from(g.inclusion);
    }
    const next = wl[idx + 1]!;
    if (hasGates(next) && next.weightShape!.at(-2) === nOut) {
      const g = next.gates();
      if (g.granularity === 'input') {
        scores ??= new Float32Array(nOut).fill(1);
        for (let j = 0; j < nOut; j++) scores[j]! *= g.inclusion[j]!;
      }
    }
    if (scores) out.push({ weight: `${l.name}.weight`, shape: l.weightShape!, scores });
  });
  return out;
}

/** Result of {@link unitMasksAtRatio}. */
export interface UnitMaskResult {
  masks: MaskSet;
  /** Units removed per weight name. */
  unitsRemoved: Record<string, number>;
  /** Units (of the scored layers) removed / total. */
  unitFraction: number;
  /**
   * Fraction of all weight-tensor entries removed by these masks, counting the
   * next layer's inputs fed by removed units (which become unused).
   */
  parameterFraction: number;
}

/**
 * Masks removing exactly round(ratio·units) output units, lowest scores first (ties: lower
 * index first), over all scored layers together (`global`) or per layer (`layer`). At least
 * one unit of every layer is kept.
 */
export function unitMasksAtRatio(net: Network, scores: UnitScores[], ratio: number, scope: 'global' | 'layer' = 'layer'): UnitMaskResult {
  if (!(ratio >= 0 && ratio < 1)) throw new Error(`unit ratio must be in [0, 1), got ${ratio}`);
  const drop = new Map<string, Uint8Array>(scores.map((u) => [u.weight, new Uint8Array(u.scores.length)]));
  const order = (items: { w: string; j: number; s: number; k: number }[], n: number) => {
    items.sort((a, b) => a.s - b.s || a.k - b.k || a.j - b.j);
    const left = new Map(scores.map((u) => [u.weight, u.scores.length]));
    let removed = 0;
    for (const it of items) {
      if (removed >= n) break;
      if (left.get(it.w)! <= 1) continue;
      drop.get(it.w)![it.j] = 1;
      left.set(it.w, left.get(it.w)! - 1);
      removed++;
    }
  };
  if (scope === 'global') {
    const items = scores.flatMap((u, k) => Array.from(u.scores, (s, j) => ({ w: u.weight, j, s, k })));
    order(items, Math.round(ratio * items.length));
  } else {
    scores.forEach((u, k) =>
      order(
        Array.from(u.scores, (s, j) => ({ w: u.weight, j, s, k })),
        Math.round(ratio * u.scores.length),
      ),
    );
  }
  return masksFromUnitDrops(net, drop);
}

/** Weight masks zeroing the columns / filters of dropped units (on top of current masks), with the accounting. */
export function masksFromUnitDrops(net: Network, drop: Map<string, Uint8Array>): UnitMaskResult {
  const masks: MaskSet = new Map();
  const unitsRemoved: Record<string, number> = {};
  let units = 0;
  let unitsDropped = 0;
  const wl = net.weightLayers();
  let total = 0;
  let removedParams = 0;
  const deadIn = new Map<string, Uint8Array>();
  wl.forEach((l, idx) => {
    const name = `${l.name}.weight`;
    const shape = l.weightShape!;
    const nOut = shape.at(-1)!;
    const d = drop.get(name);
    const base = l.getMask();
    const m = base ? base.slice() : new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(1);
    if (d) {
      units += d.length;
      let c = 0;
      for (let j = 0; j < d.length; j++) c += d[j]!;
      unitsDropped += c;
      unitsRemoved[name] = c;
      for (let f = 0; f < m.length; f++) if (d[f % nOut]) m[f] = 0;
      // The next layer's inputs fed by dropped units are unused (dense → dense, conv → conv, conv → flatten → dense).
      const next = wl[idx + 1];
      if (next) {
        const nIn2 = next.weightShape!.at(-2)!;
        if (nIn2 % nOut === 0)
          deadIn.set(
            `${next.name}.weight`,
            Uint8Array.from({ length: nIn2 }, (_, i) => d[i % nOut]!),
          );
      }
    }
    masks.set(name, m);
  });
  // Count removed parameters: masked entries plus entries reading an unused input.
  for (const l of wl) {
    const name = `${l.name}.weight`;
    const m = masks.get(name)!;
    const shape = l.weightShape!;
    const nOut = shape.at(-1)!;
    const nIn = shape.at(-2)!;
    const di = deadIn.get(name);
    total += m.length;
    for (let f = 0; f < m.length; f++) if (m[f] === 0 || di?.[Math.floor(f / nOut) % nIn]) removedParams++;
  }
  return { masks, unitsRemoved, unitFraction: units ? unitsDropped / units : 0, parameterFraction: total ? removedParams / total : 0 };
}

/**
 * Masks from the deterministic decisions of every gated layer: hard-concrete gates with
 * test-time gate ẑ = 0, spike-and-slab gates with φ ≤ 0.5 (or, with `threshold`, any gate
 * with P(z ≠ 0) < threshold). Per-weight gates mask weights; input gates mask rows; output
 * gates mask columns / filters (never those of the classifier).
 * Layers without gates get all-ones masks.
 */
export function gateMasks(net: Network, threshold?: number): MaskSet {
  const masks: MaskSet = new Map();
  const wl = net.weightLayers();
  wl.forEach((l, idx) => {
    const shape = l.weightShape!;
    const base = l.getMask();
    const m = base ? base.slice() : new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(1);
    if (hasGates(l)) {
      const g = l.gates();
      const off = (i: number) => (threshold !== undefined ? g.inclusion[i]! < threshold : !g.keep[i]);
      const nOut = shape.at(-1)!;
      const nIn = shape.at(-2)!;
      const classifierOut = g.granularity === 'output' && idx === wl.length - 1;
      if (!classifierOut) {
        for (let f = 0; f < m.length; f++) {
          const gi = g.granularity === 'weight' ? f : g.granularity === 'output' ? f % nOut : Math.floor(f / nOut) % nIn;
          if (off(gi)) m[f] = 0;
        }
      }
    }
    masks.set(`${l.name}.weight`, m);
  });
  return masks;
}
