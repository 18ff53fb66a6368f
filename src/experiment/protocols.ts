/**
 * Pruning protocols from the config (`pruning.protocols`, issue 10): when to prune and
 * what to do after. Every protocol gives curve rows like the post-hoc ones (same columns)
 * plus `protocol` and the cost columns of its operating point:
 *
 * - `post-hoc`: the curves of `curves.ts` (train once, mask, evaluate); always computed;
 * - `fine-tune`: each operating point's masked model trained `epochs` more epochs with its
 *   mask fixed (ShrinkBench), Adam at a constant `lr`; a Bayesian network keeps doing VI
 *   (the ELBO over the kept weights); the structured points of `pruning.units` too (rows
 *   with structure `units` and their `unitRatio`);
 * - `iterative`: prune the remaining weights in `rounds` geometric steps to the largest
 *   target (Han et al. 2015), fine-tuning `epochs` after each, re-scoring each time; the
 *   targets of `pruning.sparsities` are steps of the same trajectory and are evaluated there;
 * - `at-init`: score a freshly initialized network (SNIP on one batch, random or magnitude),
 *   mask it, train the sparse network `epochs` epochs (default `train.epochs`);
 * - `rigl`: dynamic sparse training from a random mask at a fixed count per layer
 *   (uniform or ERK distribution, src/pruning/rigl.ts), topology updates every ΔT steps counted across epochs;
 * - `sparsegpt`: one-shot layer-wise OBS reconstruction on calibration examples, uniform
 *   per-layer sparsity or N:M, no retraining (src/pruning/sparsegpt.ts).
 *
 * Cost columns: `costEpochs` and `costSteps` (training epochs / optimizer steps spent in
 * total, the pretraining included where the protocol starts from the trained model),
 * `costSeconds` (wall clock), `costTrainMacs` (training multiply-adds implied by the masks:
 * 3 × examples × Σ_layers kept weights × MACs per weight — forward, and backward for inputs
 * and weights — doubled for mean-field layers, which propagate a mean and a variance; RigL
 * adds one dense forward–backward batch per topology update), and `costMacsFraction`
 * (`costTrainMacs` over the dense network's for the same examples).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from '../data/dataset.js';
import { networkFor } from '../inference/methods.js';
import { NetworkPosterior } from '../inference/network-posterior.js';
import type { Posterior } from '../inference/posterior.js';
import { trainOptionsFrom } from '../inference/train-options.js';
import { Trainer, type TrainOptions } from '../inference/trainer.js';
import type { Layer } from '../nn/layer.js';
import type { MaskSet, Network } from '../nn/network.js';
import { masksAtSparsity } from '../pruning/masks.js';
import { nmMasks } from '../pruning/nm.js';
import { unitMasksAtRatio, unitScores } from '../pruning/structured.js';
import { layerDensities, randomMasks, riglDropFraction, riglUpdateLayer } from '../pruning/rigl.js';
import { intersectMasks, iterativeSparsities, lotteryTicket, restoreVariables, snapshotVariables, zhuGuptaSparsity } from '../pruning/schedules.js';
import { inputHessian, sparseGptLayer } from '../pruning/sparsegpt.js';
import type { RandomStream } from '../random.js';
import { getCriterion, type ScoreSet } from '../scores/registry.js';
import type { ExperimentConfig } from './config.js';
import { accountSparsity, evaluationColumns, sparsityColumns, type CurveResult, type CurveRow } from './curves.js';
import { evaluatePosterior } from './evaluate.js';
import { protocolIssues, type ProtocolSpec } from './protocol-schema.js';

export { protocolIssues, protocolSchema, protocolsSchema, PROTOCOL_TYPES, type ProtocolSpec } from './protocol-schema.js';

// ---------------------------------------------------------------------------
// Rows and cost

/** Cost of one operating point. */
export interface ProtocolCost {
  costEpochs: number;
  costSteps: number;
  costSeconds: number;
  costTrainMacs: number;
  costMacsFraction: number;
}

export type ProtocolRow = CurveRow & { protocol: string } & ProtocolCost;

/** Multiply-adds of one forward pass of one example under `masks` (kept weights × MACs per weight). */
export function forwardMacs(net: Network, masks: MaskSet | null): number {
  let total = 0;
  for (const l of net.weightLayers()) {
    const m = masks?.get(`${l.name}.weight`);
    const n = m ? m.reduce((a, v) => a + (v !== 0 ? 1 : 0), 0) : l.weightShape!.reduce((a, b) => a * b, 1);
    total += n * (l.macsPerWeight ?? 1);
  }
  return total;
}

/** Accumulates the cost of a protocol's training. */
export class CostMeter {
  epochs = 0;
  steps = 0;
  seconds = 0;
  macs = 0;
  denseMacs = 0;
  private readonly factor: number;
  private readonly dense: number;

  constructor(readonly net: Network) {
    this.factor = 3 * (net.isBayesian ? 2 : 1);
    this.dense = forwardMacs(net, null);
  }

  /** `epochs` epochs over `n` examples in batches of `batchSize`, under `masks`, taking `seconds`. */
  addTraining(epochs: number, n: number, batchSize: number, masks: MaskSet | null, seconds: number): void {
    this.epochs += epochs;
    this.steps += epochs * Math.ceil(n / batchSize);
    this.seconds += seconds;
    this.macs += this.factor * epochs * n * forwardMacs(this.net, masks);
    this.denseMacs += this.factor * epochs * n * this.dense;
  }

  /** One dense forward–backward pass over `examples` (RigL's gradient). */
  addDenseBatch(examples: number): void {
    this.macs += this.factor * examples * this.dense;
  }

  snapshot(extraSeconds = 0): ProtocolCost {
    return {
      costEpochs: this.epochs,
      costSteps: this.steps,
      costSeconds: this.seconds + extraSeconds,
      costTrainMacs: this.macs,
      costMacsFraction: this.denseMacs > 0 ? this.macs / this.denseMacs : 1,
    };
  }

  clone(): CostMeter {
    const c = new CostMeter(this.net);
    Object.assign(c, { epochs: this.epochs, steps: this.steps, seconds: this.seconds, macs: this.macs, denseMacs: this.denseMacs });
    return c;
  }
}

/** What a protocol run needs. */
export interface ProtocolContext {
  /** Model name (the variant, or `<variant>/<companion>`). */
  name: string;
  posterior: Posterior;
  cfg: ExperimentConfig;
  train: Dataset;
  evalSet: Dataset;
  stream: RandomStream;
  /** The model's own training: epochs run and wall time. */
  pretrain: { epochs: number; seconds: number };
  /** Whether protocols run on this model (the main model of a variant); companions get post-hoc rows only. */
  main: boolean;
  log?: (line: string) => void;
  /** Called after every RigL topology update with the new masks (tests). */
  onRiglUpdate?: (masks: MaskSet, step: number) => void;
}

/** The curve result with the protocols' rows (`curves.rows` stay the post-hoc rows the report plots). */
export type CurvesWithProtocols = CurveResult & { protocols?: { rows: ProtocolRow[] } };

/** Every curve row of a model for curves.csv / metrics.json: post-hoc rows (tagged), then the protocols'. */
export function allCurveRows(c: CurveResult): (CurveRow & Partial<ProtocolRow>)[] {
  return [...c.rows, ...((c as CurvesWithProtocols).protocols?.rows ?? [])];
}

function pretrainCost(ctx: ProtocolContext): CostMeter {
  const net = ctx.posterior.network;
  const meter = new CostMeter(net);
  meter.addTraining(ctx.pretrain.epochs, ctx.train.n, ctx.cfg.train.batchSize, null, ctx.pretrain.seconds);
  return meter;
}

/** Evaluate `posterior` under `masks`: an MC and a posterior-mean row, as curves.ts writes them. */
function evaluateRows(
  ctx: ProtocolContext,
  posterior: Posterior,
  masks: MaskSet | null,
  key: string,
  point: { protocol: string; criterion: string; scope: CurveRow['scope']; targetSparsity: number | null; structure?: string; unitRatio?: number },
  cost: ProtocolCost,
): ProtocolRow[] {
  const saved = posterior.getMasks();
  posterior.setMasks(masks);
  try {
    const report = accountSparsity(posterior, masks);
    const o = { batchSize: ctx.cfg.eval.batchSize };
    const mc = evaluatePosterior(posterior, ctx.evalSet, { ...o, samples: ctx.cfg.eval.samples, stream: ctx.stream.fork(`${key}/mc`) });
    const mean = evaluatePosterior(posterior, ctx.evalSet, { ...o, samples: 0, stream: ctx.stream.fork(`${key}/mean`) });
    return (
      [
        [mc, 'mc'],
        [mean, 'mean'],
      ] as const
    ).map(([e, predictive]) => ({
      variant: ctx.name,
      criterion: point.criterion,
      scope: point.scope,
      structure: point.structure ?? 'weights',
      unitRatio: point.unitRatio ?? null,
      targetSparsity: point.targetSparsity,
      ...sparsityColumns(report),
      ...evaluationColumns(e, predictive),
      protocol: point.protocol,
      ...cost,
    }));
  } finally {
    posterior.setMasks(saved.size ? saved : null);
  }
}

/** Train `net` (its current masks) for `epochs` with `opts`; returns the seconds taken. */
async function trainFor(net: Network, data: Dataset, opts: TrainOptions, stream: RandomStream, hooks: Parameters<Trainer['run']>[0] = {}): Promise<number> {
  if (opts.epochs <= 0) return 0;
  const t0 = performance.now();
  const t = new Trainer(net, data, opts, stream);
  try {
    // After each epoch, a turn of the event loop: a Ctrl-C / SIGTERM reaches run.ts's handler (which keeps the partial run).
    await t.run({ ...hooks, onEpoch: () => new Promise<void>((resolve) => setImmediate(resolve)) });
  } finally {
    t.dispose();
  }
  return (performance.now() - t0) / 1000;
}

function fineTuneOptions(cfg: ExperimentConfig, epochs: number, lr: number): TrainOptions {
  // No KL warm-up: the posterior continues where it stopped.
  return { ...trainOptionsFrom(cfg), epochs, lr: { name: 'constant', lr }, warmup: undefined };
}

/** The criteria of `pruning.criteria` that a posterior supports (as curves.ts filters them). */
function usableCriteria(ctx: ProtocolContext): string[] {
  const moments = ctx.posterior.moments();
  const hasVariance = moments.some((m) => m.variance.some((v) => v > 0));
  const hasGates = moments.some((m) => m.inclusion !== undefined);
  return ctx.cfg.pruning.criteria.filter((c) => (hasVariance || !getCriterion(c).needsVariance) && (hasGates || !getCriterion(c).needsGates));
}

function targetsOf(ctx: ProtocolContext, p: { sparsities?: number[] }): number[] {
  return [...new Set((p.sparsities ?? ctx.cfg.pruning.sparsities).filter((s) => s > 0))].sort((a, b) => a - b);
}

/** Greatest common divisor of two positive integers. */
function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** Scores of the remaining weights: entries the prior masks remove (whose score may be undefined, e.g. SNR 0/0) become −∞. */
function onRemaining(scores: ScoreSet, prior: MaskSet): ScoreSet {
  if (!prior.size) return scores;
  return new Map(
    [...scores].map(([name, sc]) => {
      const m = prior.get(name);
      return [name, m ? Float32Array.from(sc, (v, i) => (m[i] === 0 ? Number.NEGATIVE_INFINITY : v)) : sc];
    }),
  );
}

async function scoresOf(criterion: string, posterior: Posterior, ctx: ProtocolContext, key: string): Promise<ScoreSet> {
  return getCriterion(criterion).compute(posterior, { stream: ctx.stream.fork(`scores/${key}`), data: ctx.train });
}

// ---------------------------------------------------------------------------
// Protocols

type Spec<T extends ProtocolSpec['type']> = Extract<ProtocolSpec, { type: T }>;

async function fineTune(ctx: ProtocolContext, p: Spec<'fine-tune'>): Promise<ProtocolRow[]> {
  const rows: ProtocolRow[] = [];
  const { posterior } = ctx;
  const net = posterior.network;
  const base = pretrainCost(ctx);
  const snap = snapshotVariables(net);
  const opts = fineTuneOptions(ctx.cfg, p.epochs, p.lr);
  for (const c of usableCriteria(ctx)) {
    const scores = await scoresOf(c, posterior, ctx, `fine-tune/${c}`);
    for (const s of targetsOf(ctx, p)) {
      const masks = masksAtSparsity(scores, s, ctx.cfg.pruning.scope);
      net.setMasks(masks);
      try {
        const seconds = await trainFor(net, ctx.train, opts, ctx.stream.fork(`fine-tune/${c}/${s}`));
        const cost = base.clone();
        cost.addTraining(p.epochs, ctx.train.n, opts.batchSize, masks, seconds);
        rows.push(
          ...evaluateRows(
            ctx,
            posterior,
            masks,
            `fine-tune/${c}/${s}`,
            { protocol: 'fine-tune', criterion: c, scope: ctx.cfg.pruning.scope, targetSparsity: s },
            cost.snapshot(),
          ),
        );
        ctx.log?.(`fine-tune ${c} @ ${(100 * s).toFixed(1)}%: acc ${(100 * rows.at(-2)!.accuracy).toFixed(2)}%`);
      } finally {
        net.setMasks(null);
        restoreVariables(net, snap);
      }
    }
    // The structured points of pruning.units (whole filters / units removed, e.g. FPGM vs filter norms) are fine-tuned too.
    const u = ctx.cfg.pruning.units;
    for (const ratio of u?.ratios ?? []) {
      const { masks } = unitMasksAtRatio(net, unitScores(net, scores, u!.aggregate, u!.layers), ratio, u!.scope);
      net.setMasks(masks);
      try {
        const seconds = await trainFor(net, ctx.train, opts, ctx.stream.fork(`fine-tune/${c}/units-${ratio}`));
        const cost = base.clone();
        cost.addTraining(p.epochs, ctx.train.n, opts.batchSize, masks, seconds);
        const point = { protocol: 'fine-tune', criterion: c, scope: u!.scope, targetSparsity: null, structure: 'units', unitRatio: ratio };
        rows.push(...evaluateRows(ctx, posterior, masks, `fine-tune/${c}/units-${ratio}`, point, cost.snapshot()));
        ctx.log?.(`fine-tune ${c} @ ${(100 * ratio).toFixed(1)}% of units: acc ${(100 * rows.at(-2)!.accuracy).toFixed(2)}%`);
      } finally {
        net.setMasks(null);
        restoreVariables(net, snap);
      }
    }
  }
  return rows;
}

async function iterative(ctx: ProtocolContext, p: Spec<'iterative'>): Promise<ProtocolRow[]> {
  const rows: ProtocolRow[] = [];
  const { posterior } = ctx;
  const net = posterior.network;
  const snap = snapshotVariables(net);
  const opts = fineTuneOptions(ctx.cfg, p.epochs, p.lr);
  const tgs = targetsOf(ctx, p);
  const steps = [...new Set([...iterativeSparsities(tgs.at(-1)!, p.rounds), ...tgs])].sort((a, b) => a - b);
  for (const c of usableCriteria(ctx)) {
    const cost = pretrainCost(ctx);
    try {
      for (const [k, s] of steps.entries()) {
        const prior = net.getMasks();
        const scores = onRemaining(await scoresOf(c, posterior, ctx, `iterative/${c}/${k}`), prior);
        const masks = prior.size
          ? intersectMasks(masksAtSparsity(scores, s, ctx.cfg.pruning.scope, prior), prior)
          : masksAtSparsity(scores, s, ctx.cfg.pruning.scope);
        net.setMasks(masks);
        const seconds = await trainFor(net, ctx.train, opts, ctx.stream.fork(`iterative/${c}/${k}`));
        cost.addTraining(p.epochs, ctx.train.n, opts.batchSize, masks, seconds);
        if (tgs.includes(s)) {
          rows.push(
            ...evaluateRows(
              ctx,
              posterior,
              masks,
              `iterative/${c}/${s}`,
              { protocol: 'iterative', criterion: c, scope: ctx.cfg.pruning.scope, targetSparsity: s },
              cost.snapshot(),
            ),
          );
          ctx.log?.(`iterative ${c} @ ${(100 * s).toFixed(1)}%: acc ${(100 * rows.at(-2)!.accuracy).toFixed(2)}%`);
        }
      }
    } finally {
      net.setMasks(null);
      restoreVariables(net, snap);
    }
  }
  return rows;
}

/** A freshly initialized network of the config (the same initialization for every operating point of a protocol). */
function freshNetwork(ctx: ProtocolContext, key: string): Network {
  return networkFor(ctx.cfg, ctx.train, ctx.stream.fork(`fresh/${key}`));
}

async function atInit(ctx: ProtocolContext, p: Spec<'at-init'>): Promise<ProtocolRow[]> {
  const rows: ProtocolRow[] = [];
  const epochs = p.epochs ?? ctx.cfg.train.epochs;
  const opts = { ...trainOptionsFrom(ctx.cfg), epochs };
  for (const c of p.criteria) {
    for (const s of targetsOf(ctx, p)) {
      const net = freshNetwork(ctx, 'at-init');
      const posterior = new NetworkPosterior(ctx.posterior.method, net);
      try {
        const t0 = performance.now();
        const scores = await getCriterion(c).compute(posterior, { stream: ctx.stream.fork(`at-init/scores/${c}`), data: ctx.train });
        const masks = masksAtSparsity(scores, s, ctx.cfg.pruning.scope);
        net.setMasks(masks);
        const scoring = (performance.now() - t0) / 1000;
        const seconds = await trainFor(net, ctx.train, opts, ctx.stream.fork(`at-init/train/${c}/${s}`));
        const cost = new CostMeter(net);
        cost.addTraining(epochs, ctx.train.n, opts.batchSize, masks, seconds + scoring);
        if (c === 'snip') cost.addDenseBatch(100);
        rows.push(
          ...evaluateRows(
            ctx,
            posterior,
            masks,
            `at-init/${c}/${s}`,
            { protocol: 'at-init', criterion: c, scope: ctx.cfg.pruning.scope, targetSparsity: s },
            cost.snapshot(),
          ),
        );
        ctx.log?.(`at-init ${c} @ ${(100 * s).toFixed(1)}%: acc ${(100 * rows.at(-2)!.accuracy).toFixed(2)}%`);
      } finally {
        net.dispose();
      }
    }
  }
  return rows;
}

/** The variable holding a weight layer's (mean) weight: the first variable of the weight's shape (Dense.w, MeanField θ). */
export function meanVariable(l: Layer): tf.Variable {
  const v = l.variables().find((x) => x.shape.length === l.weightShape!.length && x.shape.every((d, i) => d === l.weightShape![i]));
  if (!v) throw new Error(`layer ${l.name} has no weight variable of shape [${l.weightShape!.join(', ')}]`);
  return v;
}

/** Gradients of the mean batch loss with respect to the effective (masked) weights, masks lifted (masked weights must be 0). */
export function denseWeightGradients(net: Network, x: tf.Tensor, y: tf.Tensor1D): Map<string, Float32Array> {
  const masks = net.getMasks();
  const layers = net.weightLayers();
  const vars = layers.map(meanVariable);
  // Masked weights are set to 0 so that lifting the masks leaves the function unchanged.
  for (const [i, l] of layers.entries()) {
    const m = masks.get(`${l.name}.weight`);
    if (!m) continue;
    const w = vars[i]!.dataSync().slice() as Float32Array;
    for (let j = 0; j < w.length; j++) if (m[j] === 0) w[j] = 0;
    const t = tf.tensor(w, vars[i]!.shape);
    vars[i]!.assign(t);
    t.dispose();
  }
  net.setMasks(null);
  try {
    const { grads, value } = tf.variableGrads(() => {
      const logits = net.forward(x, { sample: false });
      return tf.mean(tf.neg(tf.sum(tf.mul(tf.oneHot(y, net.numClasses), tf.logSoftmax(logits)), 1))) as tf.Scalar;
    }, vars);
    const out = new Map(layers.map((l, i) => [`${l.name}.weight`, grads[vars[i]!.name]!.dataSync().slice() as Float32Array]));
    tf.dispose([value, ...Object.values(grads)]);
    return out;
  } finally {
    net.setMasks(masks.size ? masks : null);
  }
}

async function rigl(ctx: ProtocolContext, p: Spec<'rigl'>): Promise<ProtocolRow[]> {
  const rows: ProtocolRow[] = [];
  const epochs = p.epochs ?? ctx.cfg.train.epochs;
  const opts = { ...trainOptionsFrom(ctx.cfg), epochs };
  const stepsPerEpoch = Math.ceil(ctx.train.n / opts.batchSize);
  const total = epochs * stepsPerEpoch;
  for (const s of targetsOf(ctx, p)) {
    const net = freshNetwork(ctx, 'rigl');
    const posterior = new NetworkPosterior(ctx.posterior.method, net);
    try {
      const layers = net.weightLayers();
      const shapes = layers.map((l) => ({ name: `${l.name}.weight`, shape: l.weightShape! }));
      const masks = randomMasks(shapes, layerDensities(shapes, s, p.distribution), ctx.stream.fork(`rigl/mask/${s}`));
      net.setMasks(masks);
      const cost = new CostMeter(net);
      const batchStream = ctx.stream.fork(`rigl/batches/${s}`);
      let updates = 0;
      const update = (t: number) => {
        const f = riglDropFraction(t, p.fraction, total, p.endFraction);
        if (f <= 0) return;
        const B = Math.min(opts.batchSize, ctx.train.n);
        const idx = batchStream.permutation(ctx.train.n).subarray(0, B);
        const d = ctx.train.x.length / ctx.train.n;
        const xb = new Float32Array(B * d);
        const yb = new Int32Array(B);
        idx.forEach((j, k) => {
          xb.set(ctx.train.x.subarray(j * d, (j + 1) * d), k * d);
          yb[k] = ctx.train.y[j]!;
        });
        const x = tf.tensor(xb, [B, ...ctx.train.shape]);
        const y = tf.tensor1d(yb, 'int32');
        const grads = denseWeightGradients(net, x, y);
        tf.dispose([x, y]);
        cost.addDenseBatch(B);
        const current = net.getMasks();
        const next: MaskSet = new Map();
        for (const l of layers) {
          const name = `${l.name}.weight`;
          const v = meanVariable(l);
          const w = v.dataSync().slice() as Float32Array;
          const u = riglUpdateLayer(current.get(name)!, w, grads.get(name)!, f);
          next.set(name, u.mask);
          if (u.grown.length) {
            for (const i of u.grown) w[i] = 0;
            const tw = tf.tensor(w, v.shape);
            v.assign(tw);
            tw.dispose();
          }
        }
        net.setMasks(next);
        updates++;
        ctx.onRiglUpdate?.(next, t);
      };
      const seconds = await trainFor(net, ctx.train, opts, ctx.stream.fork(`rigl/train/${s}`), {
        // Called every gcd(ΔT, steps per epoch) steps, so that every multiple of ΔT (counted across epochs) is seen.
        stepEvery: gcd(p.deltaT, stepsPerEpoch),
        onStep: (i) => {
          const t = i.epoch * stepsPerEpoch + i.step;
          if (t % p.deltaT === 0) update(t);
        },
      });
      const final = net.getMasks();
      cost.addTraining(epochs, ctx.train.n, opts.batchSize, final, seconds);
      rows.push(
        ...evaluateRows(
          ctx,
          posterior,
          final,
          `rigl/${s}`,
          { protocol: 'rigl', criterion: `rigl-${p.distribution}`, scope: 'layer', targetSparsity: s },
          cost.snapshot(),
        ),
      );
      ctx.log?.(`rigl ${p.distribution} @ ${(100 * s).toFixed(1)}%: ${updates} updates, acc ${(100 * rows.at(-2)!.accuracy).toFixed(2)}%`);
    } finally {
      net.dispose();
    }
  }
  return rows;
}

/**
 * SparseGPT on every dense weight layer of `net`, in order, each on the inputs the already
 * pruned layers before it produce for the calibration examples `x` [n × features]. Writes the
 * reconstructed (mean) weights into the network and returns the masks.
 */
export function sparseGptNetwork(
  net: Network,
  x: Float32Array,
  n: number,
  o: { sparsity?: number; nm?: { n: number; m: number }; damping: number; blockSize: number },
): MaskSet {
  const masks: MaskSet = new Map();
  net.setMasks(null);
  let h = tf.tensor(x, [n, ...net.inputShape]);
  try {
    for (const l of net.layers) {
      if (l.weightShape) {
        if (l.weightShape.length !== 2) throw new Error(`sparsegpt handles dense layers only; layer ${l.name} has weight shape [${l.weightShape.join(', ')}]`);
        const [cols, rows] = l.weightShape as [number, number];
        const flat = tf.reshape(h, [n, cols]);
        const xin = flat.dataSync() as Float32Array;
        flat.dispose();
        const hess = inputHessian(xin, n, cols);
        const v = meanVariable(l);
        const wv = v.dataSync();
        // Framework layout [in, out] → paper layout [out × in].
        const w = new Float64Array(rows * cols);
        for (let i = 0; i < cols; i++) for (let j = 0; j < rows; j++) w[j * cols + i] = wv[i * rows + j]!;
        const r = sparseGptLayer(w, rows, cols, hess, { sparsity: o.sparsity, nm: o.nm, damping: o.damping, blockSize: o.blockSize });
        const nw = new Float32Array(rows * cols);
        const mask = new Float32Array(rows * cols);
        for (let i = 0; i < cols; i++) {
          for (let j = 0; j < rows; j++) {
            nw[i * rows + j] = r.w[j * cols + i]!;
            mask[i * rows + j] = r.mask[j * cols + i]!;
          }
        }
        const t = tf.tensor(nw, v.shape);
        v.assign(t);
        t.dispose();
        masks.set(`${l.name}.weight`, mask);
        l.setMask(mask);
      }
      const next = l.forward(h, { sample: false });
      h.dispose();
      h = next;
    }
  } finally {
    h.dispose();
    net.setMasks(null);
  }
  return masks;
}

async function sparseGpt(ctx: ProtocolContext, p: Spec<'sparsegpt'>): Promise<ProtocolRow[]> {
  const rows: ProtocolRow[] = [];
  const { posterior } = ctx;
  const net = posterior.network;
  const snap = snapshotVariables(net);
  const base = pretrainCost(ctx);
  const n = Math.min(p.calibration, ctx.train.n);
  const d = ctx.train.x.length / ctx.train.n;
  const idx = ctx.stream.fork('sparsegpt/calibration').permutation(ctx.train.n).subarray(0, n);
  const x = new Float32Array(n * d);
  idx.forEach((j, k) => x.set(ctx.train.x.subarray(j * d, (j + 1) * d), k * d));
  const points: { key: string; target: number; structure: string; sparsity?: number; nm?: { n: number; m: number } }[] = [
    ...targetsOf(ctx, p).map((s) => ({ key: String(s), target: s, structure: 'weights', sparsity: s })),
    ...p.nm.map((pat) => {
      const [a, b] = pat.split(':').map(Number) as [number, number];
      return { key: pat, target: 1 - a / b, structure: pat, nm: { n: a, m: b } };
    }),
  ];
  for (const pt of points) {
    try {
      const t0 = performance.now();
      const masks = sparseGptNetwork(net, x, n, { sparsity: pt.sparsity, nm: pt.nm, damping: p.damping, blockSize: p.blockSize });
      const seconds = (performance.now() - t0) / 1000;
      rows.push(
        ...evaluateRows(
          ctx,
          posterior,
          masks,
          `sparsegpt/${pt.key}`,
          { protocol: 'sparsegpt', criterion: 'sparsegpt', scope: 'layer', targetSparsity: pt.target, structure: pt.structure },
          base.snapshot(seconds),
        ),
      );
      ctx.log?.(`sparsegpt ${pt.key}: acc ${(100 * rows.at(-2)!.accuracy).toFixed(2)}% (${seconds.toFixed(1)} s)`);
      if (p.baseline) {
        // The paper's comparison: per-layer magnitude at the same point, no reconstruction.
        net.setMasks(null);
        restoreVariables(net, snap);
        const mags: ScoreSet = new Map(net.moments().map((m) => [m.name, Float32Array.from(m.mean, Math.abs)]));
        const shapes = new Map(net.moments().map((m) => [m.name, m.shape]));
        const mm = pt.nm ? nmMasks(mags, shapes, pt.nm.n, pt.nm.m) : masksAtSparsity(mags, pt.target, 'layer');
        const point = { protocol: 'post-hoc', criterion: 'magnitude-layer', scope: 'layer' as const, targetSparsity: pt.target, structure: pt.structure };
        rows.push(...evaluateRows(ctx, posterior, mm, `sparsegpt-baseline/${pt.key}`, point, base.snapshot()));
        ctx.log?.(`per-layer magnitude ${pt.key}: acc ${(100 * rows.at(-2)!.accuracy).toFixed(2)}%`);
      }
    } finally {
      net.setMasks(null);
      restoreVariables(net, snap);
    }
  }
  return rows;
}

/** Scores of `criterion` on `net` as a network posterior of the run's method. */
async function scoreNet(ctx: ProtocolContext, net: Network, criterion: string, key: string): Promise<ScoreSet> {
  return getCriterion(criterion).compute(new NetworkPosterior(ctx.posterior.method, net), { stream: ctx.stream.fork(`scores/${key}`), data: ctx.train });
}

/**
 * Zhu & Gupta (2017) gradual pruning while training a fresh network: from step t0 = start·T to
 * t0 + nΔt = end·T, at every Δt the remaining weights are pruned to s_t = s_f(1 − (1 − (t − t0)/(nΔt))³)
 * (rescored with the criterion); steps are counted across epochs, events checked every Δt steps.
 */
async function gradual(ctx: ProtocolContext, p: Spec<'gradual'>): Promise<ProtocolRow[]> {
  const rows: ProtocolRow[] = [];
  const epochs = p.epochs ?? ctx.cfg.train.epochs;
  const opts = { ...trainOptionsFrom(ctx.cfg), epochs };
  const stepsPerEpoch = Math.ceil(ctx.train.n / opts.batchSize);
  const total = epochs * stepsPerEpoch;
  const t0 = Math.round(p.start * total);
  const dt = Math.max(1, Math.floor((p.end * total - t0) / p.events));
  for (const c of usableCriteria(ctx)) {
    for (const s of targetsOf(ctx, p)) {
      const net = freshNetwork(ctx, 'gradual');
      const posterior = new NetworkPosterior(ctx.posterior.method, net);
      try {
        const schedule = { initialSparsity: 0, finalSparsity: s, startStep: t0, numSteps: p.events, frequency: dt };
        const cost = new CostMeter(net);
        let next = 0; // index of the next pruning event
        let lastT = 0;
        let macSteps = 0; // Σ over steps of forward MACs under the masks then in force
        let events = 0;
        // Synchronous: the trainer calls onStep inside an epoch, so the masks must change right there.
        const apply = (t: number) => {
          macSteps += (t - lastT) * forwardMacs(net, net.getMasks());
          lastT = t;
          while (next <= p.events && t >= t0 + next * dt) {
            const target = zhuGuptaSparsity(t0 + next * dt, schedule);
            const prior = net.getMasks();
            const raw = getCriterion(c).compute(new NetworkPosterior(ctx.posterior.method, net), {
              stream: ctx.stream.fork(`scores/gradual/${c}/${s}/${next}`),
              data: ctx.train,
            });
            if (raw instanceof Promise) throw new Error(`pruning.protocols: gradual needs a criterion computed synchronously; "${c}" is not`);
            const scores = onRemaining(raw, prior);
            net.setMasks(
              prior.size
                ? intersectMasks(masksAtSparsity(scores, target, ctx.cfg.pruning.scope, prior), prior)
                : masksAtSparsity(scores, target, ctx.cfg.pruning.scope),
            );
            next++;
            events++;
          }
        };
        const seconds = await trainFor(net, ctx.train, opts, ctx.stream.fork(`gradual/train/${c}/${s}`), {
          stepEvery: gcd(gcd(dt, stepsPerEpoch), t0 || dt),
          onStep: (i) => apply(i.epoch * stepsPerEpoch + i.step),
        });
        apply(total);
        const masks = net.getMasks();
        cost.addTraining(epochs, ctx.train.n, opts.batchSize, null, seconds);
        // The MACs follow the masks in force at each step (average over the steps, examples per step = n / steps).
        const dense = forwardMacs(net, null);
        cost.macs = cost.denseMacs * (macSteps / (total * dense));
        rows.push(
          ...evaluateRows(
            ctx,
            posterior,
            masks,
            `gradual/${c}/${s}`,
            { protocol: 'gradual', criterion: c, scope: ctx.cfg.pruning.scope, targetSparsity: s },
            cost.snapshot(),
          ),
        );
        ctx.log?.(`gradual ${c} @ ${(100 * s).toFixed(1)}%: ${events} events, acc ${(100 * rows.at(-2)!.accuracy).toFixed(2)}%`);
      } finally {
        net.dispose();
      }
    }
  }
  return rows;
}

/** Lottery tickets with rewinding (Frankle & Carbin 2019; Frankle et al. 2020), one ticket per criterion and target. */
async function lottery(ctx: ProtocolContext, p: Spec<'lottery'>): Promise<ProtocolRow[]> {
  const rows: ProtocolRow[] = [];
  const epochs = p.epochs ?? ctx.cfg.train.epochs;
  const amount = Math.max(0, epochs - p.rewindEpoch);
  const opts = { ...trainOptionsFrom(ctx.cfg), epochs };
  for (const c of usableCriteria(ctx)) {
    for (const s of targetsOf(ctx, p)) {
      const net = freshNetwork(ctx, 'lottery');
      const posterior = new NetworkPosterior(ctx.posterior.method, net);
      try {
        const cost = new CostMeter(net);
        const w0 = performance.now();
        let call = 0;
        const train = async (n: Network, e: number) => {
          const masks = n.getMasks();
          const sec = await trainFor(n, ctx.train, { ...opts, epochs: e }, ctx.stream.fork(`lottery/train/${c}/${s}/${call++}`));
          cost.addTraining(e, ctx.train.n, opts.batchSize, masks.size ? masks : null, sec);
        };
        if (p.rewindEpoch > 0) await train(net, p.rewindEpoch);
        const rewind = snapshotVariables(net);
        const h = {
          net,
          score: async (n: Network) => onRemaining(await scoreNet(ctx, n, c, `lottery/${c}/${s}/${call}`), n.getMasks()),
          train,
          evaluate: () => 0,
          scope: ctx.cfg.pruning.scope,
        };
        await lotteryTicket(h, rewind, iterativeSparsities(s, p.rounds), amount);
        const masks = net.getMasks();
        const extra = (performance.now() - w0) / 1000 - cost.seconds;
        rows.push(
          ...evaluateRows(
            ctx,
            posterior,
            masks,
            `lottery/${c}/${s}`,
            { protocol: 'lottery', criterion: c, scope: ctx.cfg.pruning.scope, targetSparsity: s },
            cost.snapshot(extra),
          ),
        );
        ctx.log?.(`lottery ${c} @ ${(100 * s).toFixed(1)}%: acc ${(100 * rows.at(-2)!.accuracy).toFixed(2)}%`);
      } finally {
        net.dispose();
      }
    }
  }
  return rows;
}

/** Liu et al. (2019): the trained model's masks (criterion × target), a fresh initialization, trained from scratch. */
async function scratch(ctx: ProtocolContext, p: Spec<'scratch'>): Promise<ProtocolRow[]> {
  const rows: ProtocolRow[] = [];
  const epochs = p.epochs ?? ctx.cfg.train.epochs;
  const opts = { ...trainOptionsFrom(ctx.cfg), epochs };
  for (const c of usableCriteria(ctx)) {
    const scores = await scoresOf(c, ctx.posterior, ctx, `scratch/${c}`);
    for (const s of targetsOf(ctx, p)) {
      const masks = masksAtSparsity(scores, s, ctx.cfg.pruning.scope);
      const net = freshNetwork(ctx, 'scratch');
      const posterior = new NetworkPosterior(ctx.posterior.method, net);
      try {
        net.setMasks(masks);
        const seconds = await trainFor(net, ctx.train, opts, ctx.stream.fork(`scratch/train/${c}/${s}`));
        // The architecture comes from the trained model: its training counts too.
        const cost = pretrainCost(ctx);
        cost.addTraining(epochs, ctx.train.n, opts.batchSize, masks, seconds);
        rows.push(
          ...evaluateRows(
            ctx,
            posterior,
            masks,
            `scratch/${c}/${s}`,
            { protocol: 'scratch', criterion: c, scope: ctx.cfg.pruning.scope, targetSparsity: s },
            cost.snapshot(),
          ),
        );
        ctx.log?.(`scratch ${c} @ ${(100 * s).toFixed(1)}%: acc ${(100 * rows.at(-2)!.accuracy).toFixed(2)}%`);
      } finally {
        net.dispose();
      }
    }
  }
  return rows;
}

/**
 * Layer sensitivity (Han et al. 2015): one layer at a time pruned at each ratio of its weights
 * (lowest scores of `criterion` first), the others dense, no fine-tuning. Rows: protocol
 * `sensitivity`, structure `layer:<name>`, targetSparsity = the ratio; `sparsity` is the
 * network's (one layer's share).
 */
async function sensitivity(ctx: ProtocolContext, p: Spec<'sensitivity'>): Promise<ProtocolRow[]> {
  const rows: ProtocolRow[] = [];
  const { posterior } = ctx;
  const scores = await scoresOf(p.criterion, posterior, ctx, `sensitivity/${p.criterion}`);
  const cost = pretrainCost(ctx).snapshot();
  for (const [name, sc] of scores) {
    const layer = name.replace(/\.weight$/, '');
    for (const r of p.ratios) {
      const masks: MaskSet = new Map([[name, masksAtSparsity(new Map([[name, sc]]), r, 'layer').get(name)!]]);
      const point = { protocol: 'sensitivity', criterion: p.criterion, scope: 'layer' as const, targetSparsity: r, structure: `layer:${layer}` };
      rows.push(...evaluateRows(ctx, posterior, masks, `sensitivity/${layer}/${r}`, point, cost));
    }
    ctx.log?.(
      `sensitivity ${layer}: acc ${rows
        .filter((x) => x.structure === `layer:${layer}` && x.predictive === 'mc')
        .map((x) => (100 * x.accuracy).toFixed(1))
        .join(' ')}`,
    );
  }
  return rows;
}

// ---------------------------------------------------------------------------
// Entry point

/**
 * Tag the post-hoc rows of `curves` with `protocol: post-hoc` and the cost of the model's own
 * training, and run the other protocols of `pruning.protocols` (main models only), adding
 * their rows as `curves.protocols.rows`. Returns `curves`.
 */
export async function withProtocols(curves: CurveResult, ctx: ProtocolContext): Promise<CurvesWithProtocols> {
  const cost = pretrainCost(ctx).snapshot();
  curves.rows = curves.rows.map((r) => ({ ...r, protocol: 'post-hoc', ...cost }));
  const specs = ctx.cfg.pruning.protocols ?? [{ type: 'post-hoc' }];
  const out = curves as CurvesWithProtocols;
  if (!ctx.main || specs.every((p) => p.type === 'post-hoc')) return out;
  const problems = protocolIssues({ inference: { method: ctx.posterior.method }, model: ctx.cfg.model, pruning: { protocols: specs } });
  if (problems.length) throw new Error(`${problems[0]!.path}: ${problems[0]!.message}`);
  const rows: ProtocolRow[] = [];
  for (const p of specs) {
    if (p.type === 'fine-tune') rows.push(...(await fineTune(ctx, p)));
    else if (p.type === 'iterative') rows.push(...(await iterative(ctx, p)));
    else if (p.type === 'at-init') rows.push(...(await atInit(ctx, p)));
    else if (p.type === 'rigl') rows.push(...(await rigl(ctx, p)));
    else if (p.type === 'sparsegpt') rows.push(...(await sparseGpt(ctx, p)));
    else if (p.type === 'gradual') rows.push(...(await gradual(ctx, p)));
    else if (p.type === 'lottery') rows.push(...(await lottery(ctx, p)));
    else if (p.type === 'scratch') rows.push(...(await scratch(ctx, p)));
    else if (p.type === 'sensitivity') rows.push(...(await sensitivity(ctx, p)));
  }
  out.protocols = { rows };
  return out;
}
