/**
 * Pruning schedules: one-shot, iterative prune → fine-tune, gradual (Zhu & Gupta 2017),
 * lottery-ticket rewinding (Frankle & Carbin 2019), training the pruned architecture
 * from scratch (Liu et al. 2019), and layer sensitivity analysis with a per-layer
 * budget proposal (Han et al. 2015).
 *
 * The drivers are agnostic of how a network is scored, trained and evaluated: a
 * {@link PruningHarness} supplies those as callbacks ({@link trainerFineTune},
 * {@link criterionScorer} and {@link accuracyOn} build the usual ones). Masks act
 * through `Network.setMasks`, so a masked weight is 0 in every forward pass and gets
 * no gradient.
 *
 * Conventions (shared/references.md): sparsity = fraction of prunable weights removed
 * (weight matrices, biases not counted); repeated pruning acts on the remaining weights
 * only — every step passes the current masks as `prior` to {@link masksAtSparsity}, so
 * pruned weights rank first and stay pruned (and the result is intersected with the
 * prior masks, so a non-monotone target can never revive a weight), and each step
 * removes exactly round(s·total) weights (per layer with scope `layer`).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from '../data/dataset.js';
import { NetworkPosterior } from '../inference/network-posterior.js';
import { meanAccuracy, Trainer, type TrainOptions } from '../inference/trainer.js';
import type { MaskSet, Network } from '../nn/network.js';
import type { RandomStream } from '../random.js';
import { getCriterion, type ScoreSet } from '../scores/registry.js';
import { masksAtSparsity, maskSparsity, type PruningScope } from './masks.js';

// ---------------------------------------------------------------------------
// Zhu & Gupta gradual schedule (pure)

/** Parameters of the gradual schedule. */
export interface GradualSchedule {
  /** s_i, sparsity at the first pruning step. */
  initialSparsity: number;
  /** s_f, final sparsity. */
  finalSparsity: number;
  /** t0, the step at which pruning starts. */
  startStep: number;
  /** n, the number of pruning intervals. */
  numSteps: number;
  /** Δt, steps between pruning events. */
  frequency: number;
}

/**
 * Zhu & Gupta (2017), "To prune, or not to prune":
 *
 *   s_t = s_f + (s_i − s_f)·(1 − (t − t0)/(n·Δt))³   for t0 ≤ t ≤ t0 + n·Δt,
 *
 * s_i before t0 and s_f after t0 + n·Δt. Sparsity rises fast first and slowly at the end.
 */
export function zhuGuptaSparsity(t: number, s: GradualSchedule): number {
  const span = s.numSteps * s.frequency;
  if (t <= s.startStep) return s.initialSparsity;
  if (span <= 0 || t >= s.startStep + span) return s.finalSparsity;
  const f = 1 - (t - s.startStep) / span;
  return s.finalSparsity + (s.initialSparsity - s.finalSparsity) * f * f * f;
}

/** The pruning events of the schedule: t = t0 + kΔt for k = 0..n, with their target sparsity. */
export function gradualPruningPoints(s: GradualSchedule): { step: number; sparsity: number }[] {
  return Array.from({ length: s.numSteps + 1 }, (_, k) => {
    const step = s.startStep + k * s.frequency;
    return { step, sparsity: zhuGuptaSparsity(step, s) };
  });
}

// ---------------------------------------------------------------------------
// Harness and helpers

/** How a schedule scores, trains and evaluates a network. */
export interface PruningHarness {
  net: Network;
  /** Scores of the network in its current state (masks applied). */
  score: (net: Network) => ScoreSet | Promise<ScoreSet>;
  /** Train / fine-tune with the current masks for `amount` units (epochs, or steps: the harness decides). */
  train: (net: Network, amount: number) => void | Promise<void>;
  /** Quality of the network (e.g. validation accuracy; higher is better). */
  evaluate: (net: Network) => number | Promise<number>;
  scope?: PruningScope;
}

/** What one pruning event did. */
export interface PruningRecord {
  round: number;
  /** Schedule step (gradual) or round index. */
  step: number;
  targetSparsity: number;
  /** Achieved sparsity of the masks. */
  sparsity: number;
  /** Metric right after pruning. */
  pruned: number;
  /** Metric after the fine-tuning that follows (equals `pruned` when there is none). */
  tuned: number;
}

/** Intersection of two mask sets (a weight is kept only if both keep it). */
export function intersectMasks(a: MaskSet, b: MaskSet): MaskSet {
  const out: MaskSet = new Map();
  for (const [name, m] of a) {
    const p = b.get(name);
    out.set(name, p ? Float32Array.from(m, (v, i) => v * p[i]!) : m);
  }
  for (const [name, p] of b) if (!out.has(name)) out.set(name, p);
  return out;
}

/**
 * Prune the network to `sparsity` with `scores`, on top of its current masks (repeated
 * pruning acts on the remaining weights only). Sets and returns the new masks.
 */
export function pruneTo(net: Network, scores: ScoreSet, sparsity: number, scope: PruningScope = 'global'): MaskSet {
  const prior = net.getMasks();
  const masks = intersectMasks(masksAtSparsity(scores, sparsity, scope, prior), prior);
  net.setMasks(masks);
  return masks;
}

/** Per-variable copies of a network's parameters and layer state (batch-norm running statistics), for rewinding. */
export type VariableSnapshot = Map<string, Float32Array>;

export function snapshotVariables(net: Network): VariableSnapshot {
  return new Map([...net.variables(), ...net.stateVariables()].map((v) => [v.name, v.dataSync().slice() as Float32Array]));
}

/** Write a snapshot back (variables and layer state of the same network instance). */
export function restoreVariables(net: Network, snap: VariableSnapshot): void {
  for (const v of [...net.variables(), ...net.stateVariables()]) {
    const s = snap.get(v.name);
    if (!s) throw new Error(`snapshot has no variable ${v.name}`);
    const t = tf.tensor(s, v.shape, v.dtype);
    v.assign(t);
    t.dispose();
  }
}

/**
 * A training callback built on the shared {@link Trainer} (Adam): each call trains
 * `amount` epochs with the current masks, a fresh optimizer, and its own stream fork.
 */
export function trainerFineTune(data: Dataset, o: Omit<TrainOptions, 'epochs'>, stream: RandomStream): (net: Network, amount: number) => Promise<void> {
  let call = 0;
  return async (net, amount) => {
    if (amount <= 0) return;
    const t = new Trainer(net, data, { ...o, epochs: amount }, stream.fork(`finetune-${call++}`));
    try {
      await t.run();
    } finally {
      t.dispose();
    }
  };
}

/** Scores from a registered criterion, computing on the network as a point posterior. */
export function criterionScorer(name: string, ctx: { stream: RandomStream; data?: Dataset; initialNetwork?: Network }): (net: Network) => Promise<ScoreSet> {
  let call = 0;
  return async (net) => {
    const posterior = new NetworkPosterior(net.isBayesian ? 'vi' : 'map', net); // a view: never disposed here
    return getCriterion(name).compute(posterior, { ...ctx, stream: ctx.stream.fork(`scores-${call++}`) });
  };
}

/** Deterministic accuracy on a data set. */
export function accuracyOn(ds: Dataset): (net: Network) => number {
  return (net) => meanAccuracy(net, ds);
}

// ---------------------------------------------------------------------------
// Drivers

/** One-shot: score once, prune to `sparsity`, optionally fine-tune. */
export async function oneShotPrune(h: PruningHarness, sparsity: number, fineTune = 0): Promise<PruningRecord> {
  const masks = pruneTo(h.net, await h.score(h.net), sparsity, h.scope);
  const pruned = await h.evaluate(h.net);
  let tuned = pruned;
  if (fineTune > 0) {
    await h.train(h.net, fineTune);
    tuned = await h.evaluate(h.net);
  }
  return { round: 0, step: 0, targetSparsity: sparsity, sparsity: maskSparsity(masks), pruned, tuned };
}

function checkIncreasing(sparsities: number[]): void {
  for (let i = 0; i < sparsities.length; i++) {
    const s = sparsities[i]!;
    if (!(s >= 0 && s <= 1)) throw new Error(`sparsity must be in [0, 1], got ${s}`);
    if (i > 0 && s < sparsities[i - 1]!) throw new Error(`pruning sparsities must not decrease (pruned weights are never revived): ${sparsities.join(', ')}`);
  }
}

/** The geometric sequence of `rounds` sparsities keeping the same fraction each round, ending at `final`: 1 − (1 − final)^(k/rounds). */
export function iterativeSparsities(final: number, rounds: number): number[] {
  return Array.from({ length: rounds }, (_, k) => 1 - (1 - final) ** ((k + 1) / rounds));
}

/**
 * Iterative prune → fine-tune (Han et al. 2015): for each target (non-decreasing),
 * re-score the current network, prune the remaining weights to the target, fine-tune.
 */
export async function iterativePrune(h: PruningHarness, sparsities: number[], fineTune: number): Promise<PruningRecord[]> {
  checkIncreasing(sparsities);
  const out: PruningRecord[] = [];
  for (let r = 0; r < sparsities.length; r++) {
    const s = sparsities[r]!;
    const masks = pruneTo(h.net, await h.score(h.net), s, h.scope);
    const pruned = await h.evaluate(h.net);
    await h.train(h.net, fineTune);
    const tuned = fineTune > 0 ? await h.evaluate(h.net) : pruned;
    out.push({ round: r, step: r, targetSparsity: s, sparsity: maskSparsity(masks), pruned, tuned });
  }
  return out;
}

/**
 * Gradual pruning (Zhu & Gupta 2017): train t0 units, then at t = t0 + kΔt (k = 0..n)
 * prune to s_t and train Δt units between events (`h.train(net, Δt)`); `finalTrain`
 * units after the last event. Time units are those of `h.train`.
 */
export async function gradualPrune(h: PruningHarness, s: GradualSchedule, finalTrain = 0): Promise<PruningRecord[]> {
  const points = gradualPruningPoints(s);
  checkIncreasing(points.map((p) => p.sparsity));
  if (s.startStep > 0) await h.train(h.net, s.startStep);
  const out: PruningRecord[] = [];
  for (let k = 0; k < points.length; k++) {
    const p = points[k]!;
    const masks = pruneTo(h.net, await h.score(h.net), p.sparsity, h.scope);
    const pruned = await h.evaluate(h.net);
    const amount = k + 1 < points.length ? s.frequency : finalTrain;
    await h.train(h.net, amount);
    const tuned = amount > 0 ? await h.evaluate(h.net) : pruned;
    out.push({ round: k, step: p.step, targetSparsity: p.sparsity, sparsity: maskSparsity(masks), pruned, tuned });
  }
  return out;
}

/**
 * Lottery-ticket rewinding (Frankle & Carbin 2019; rewinding to an early iterate:
 * Frankle et al. 2020): per round, train `trainAmount`, prune the remaining weights to the
 * round's target, reset every kept weight (and the biases) to `rewindTo` (a snapshot taken
 * at initialization or early in training). After the last round the ticket is trained
 * once more and evaluated (`tuned` of the last record).
 */
export async function lotteryTicket(h: PruningHarness, rewindTo: VariableSnapshot, sparsities: number[], trainAmount: number): Promise<PruningRecord[]> {
  checkIncreasing(sparsities);
  const out: PruningRecord[] = [];
  for (let r = 0; r < sparsities.length; r++) {
    const s = sparsities[r]!;
    await h.train(h.net, trainAmount);
    const masks = pruneTo(h.net, await h.score(h.net), s, h.scope);
    const pruned = await h.evaluate(h.net);
    restoreVariables(h.net, rewindTo);
    out.push({ round: r, step: r, targetSparsity: s, sparsity: maskSparsity(masks), pruned, tuned: NaN });
  }
  await h.train(h.net, trainAmount);
  const last = out.at(-1);
  if (last) last.tuned = await h.evaluate(h.net);
  return out;
}

/**
 * The control of Liu et al. (2019), "Rethinking the value of network pruning": the same
 * sparse architecture (masks), freshly initialized by `makeNet`, trained from scratch
 * for `amount` units. Returns the network and its metric.
 */
export async function trainFromScratch(
  makeNet: () => Network,
  masks: MaskSet,
  train: PruningHarness['train'],
  evaluate: PruningHarness['evaluate'],
  amount: number,
): Promise<{ net: Network; metric: number }> {
  const net = makeNet();
  net.setMasks(masks);
  await train(net, amount);
  return { net, metric: await evaluate(net) };
}

// ---------------------------------------------------------------------------
// Layer sensitivity (Han et al. 2015)

/** Metric of the network with one layer pruned at each ratio. */
export interface LayerSensitivity {
  /** Weight name `<layer>.weight`. */
  weight: string;
  size: number;
  ratios: number[];
  metric: number[];
  /** base − metric (positive = worse). */
  drop: number[];
  /**
   * Real fraction of the layer's weights masked at each ratio: the prior mask always stays
   * (pruned weights are never revived), so a ratio below the layer's current sparsity gives
   * the current mask and its (higher) sparsity.
   */
  sparsity: number[];
}

export const SENSITIVITY_RATIOS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

/**
 * Prune one layer at a time (the others as they are) at each ratio r of its weights,
 * lowest scores first, and record the drop of the metric; no fine-tuning. On an
 * already-pruned network the layer's current mask is kept (r counts its zeros; a ratio
 * below the current sparsity evaluates the current mask, see `sparsity`). The network's
 * masks are restored afterwards.
 */
export async function layerSensitivity(
  net: Network,
  scores: ScoreSet,
  evaluate: PruningHarness['evaluate'],
  ratios: number[] = SENSITIVITY_RATIOS,
): Promise<{ base: number; layers: LayerSensitivity[] }> {
  const prior = net.getMasks();
  const base = await evaluate(net);
  const layers: LayerSensitivity[] = [];
  try {
    for (const [name, s] of scores) {
      const row: LayerSensitivity = { weight: name, size: s.length, ratios: [...ratios], metric: [], drop: [], sparsity: [] };
      const p = prior.get(name);
      for (const r of ratios) {
        const m = masksAtSparsity(new Map([[name, s]]), r, 'layer', p ? new Map([[name, p]]) : undefined).get(name)!;
        // Intersected with the layer's current mask: a weight pruned before stays pruned.
        const layerMask = p ? Float32Array.from(m, (v, i) => v * p[i]!) : m;
        const masks = new Map(prior);
        masks.set(name, layerMask);
        row.sparsity.push(maskSparsity(layerMask));
        net.setMasks(masks);
        const v = await evaluate(net);
        row.metric.push(v);
        row.drop.push(base - v);
      }
      layers.push(row);
    }
  } finally {
    net.setMasks(prior.size ? prior : null);
  }
  return { base, layers };
}

/**
 * Per-layer ratios for a global budget (fraction of all weights removed): for a tolerated
 * drop ε, each layer takes the largest ratio whose measured drop is ≤ ε (0 if none); the
 * smallest ε whose total removed fraction Σ r_l·n_l / Σ n_l reaches the budget is chosen.
 * Ratios come from the sensitivity grid, so the achieved sparsity may exceed the budget;
 * `met` is false when even the largest ratios fall short.
 */
export function proposeLayerRatios(
  layers: LayerSensitivity[],
  budget: number,
): { ratios: Map<string, number>; sparsity: number; tolerance: number; met: boolean } {
  const total = layers.reduce((a, l) => a + l.size, 0);
  const ratiosAt = (eps: number) => new Map(layers.map((l) => [l.weight, l.ratios.reduce((best, r, i) => (l.drop[i]! <= eps && r > best ? r : best), 0)]));
  const sparsityOf = (rs: Map<string, number>) => layers.reduce((a, l) => a + rs.get(l.weight)! * l.size, 0) / Math.max(total, 1);
  const candidates = [...new Set([-Infinity, ...layers.flatMap((l) => l.drop)])].sort((a, b) => a - b);
  for (const eps of candidates) {
    const rs = ratiosAt(eps);
    const sp = sparsityOf(rs);
    if (sp >= budget) return { ratios: rs, sparsity: sp, tolerance: eps, met: true };
  }
  const rs = ratiosAt(Infinity);
  return { ratios: rs, sparsity: sparsityOf(rs), tolerance: Infinity, met: false };
}

/** Masks removing exactly round(r_l·n_l) weights of each layer (layers without a ratio keep all, or their prior mask). */
export function masksAtLayerRatios(scores: ScoreSet, ratios: Map<string, number>, prior?: MaskSet): MaskSet {
  const out: MaskSet = new Map();
  for (const [name, s] of scores) {
    const p = prior?.get(name);
    const r = ratios.get(name) ?? 0;
    const m = masksAtSparsity(new Map([[name, s]]), r, 'layer', p ? new Map([[name, p]]) : undefined).get(name)!;
    out.set(name, p ? Float32Array.from(m, (v, i) => v * p[i]!) : m);
  }
  return out;
}
