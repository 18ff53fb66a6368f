/**
 * Network slimming (Liu, Li, Shen, Huang, Yan & Zhang 2017, "Learning Efficient
 * Convolutional Networks through Network Slimming"):
 *
 * 1. train with an L1 penalty on the batch-norm scales, loss + λ·Σ|γ| (λ = 1e-4 in the
 *    paper; `BatchNorm.l1`, summed into the loss by the trainer through `Network.penalty()`);
 * 2. rank every channel of every layer followed by a batch norm by |γ| in ONE global list
 *    and prune the smallest fraction r, with a floor per layer: `minKeep` (a fraction of
 *    the layer's channels, and at least one channel) are always kept, the list moving on to
 *    the next channel of another layer once a layer is at its floor (on short Adam training
 *    the |γ| of different layers are not comparable and an unguarded global list took 15 of
 *    conv1's 16 channels: see configs/bn-cnn-slimming.yaml); `scope: layer` instead removes
 *    the fraction r of every layer;
 * 3. compact: the pruned filters, their BN parameters (γ, β, running statistics) and the
 *    next layer's inputs they fed are removed (`compaction.ts`; the constant a pruned
 *    channel still emits through β is folded into the next bias, so the compacted
 *    network equals the masked one);
 * 4. fine-tune the compacted network for k epochs (here: Adam at a constant rate, no
 *    penalty; the paper fine-tunes with SGD) — the mask is fixed because the pruned
 *    channels no longer exist.
 *
 * The inference method `slimming` ({@link fitSlimming}) does all four from a config
 * (`inference.slimming`): the trained, unpruned network is the main model (its
 * `bn-scale` unit points in `pruning.units` with `scope: global` are the post-hoc
 * slimmed networks), and every ratio adds a companion model `slim-<r>`: the compacted,
 * fine-tuned network, whose description in the report's model table carries the
 * channels, parameters and multiply-adds before / after and the measured speed-up
 * (forward pass of the compacted against the full network, timed in alternation in
 * one process).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from '../data/dataset.js';
import type { FitContext, FitResult, MethodSection } from '../inference/methods.js';
import { NetworkPosterior } from '../inference/network-posterior.js';
import { pointNetworkFor } from '../inference/fit-utils.js';
import { trainOptionsFrom } from '../inference/train-options.js';
import { Trainer, meanAccuracy, type EpochStats } from '../inference/trainer.js';
import { BatchNorm, batchNormLayers } from '../nn/batchnorm.js';
import { Network } from '../nn/network.js';
import type { RandomStream } from '../random.js';
import type { Criterion, ScoreSet } from '../scores/registry.js';
import { broadcastUnitScores } from '../scores/fpgm.js';
import { compactNetwork, type CompactionReport } from './compaction.js';
import { masksFromUnitDrops, unitMasksAtRatio, type UnitMaskResult, type UnitScores } from './structured.js';
import type { PruningScope } from './masks.js';

/** The batch norm that normalizes each weight layer's outputs (first one after it, before the next weight layer), by weight name. */
export function batchNormAfter(net: Network): Map<string, BatchNorm> {
  const out = new Map<string, BatchNorm>();
  net.layers.forEach((l, i) => {
    if (!l.weightShape) return;
    for (let q = i + 1; q < net.layers.length && !net.layers[q]!.weightShape; q++) {
      const b = net.layers[q]!;
      if (b instanceof BatchNorm && b.channels === l.weightShape.at(-1)) {
        out.set(`${l.name}.weight`, b);
        return;
      }
    }
  });
  return out;
}

/** |γ| of the batch norm after each weight layer that has one (classifier excluded): network slimming's channel scores. */
export function bnScaleUnitScores(net: Network): UnitScores[] {
  const bns = batchNormAfter(net);
  const wl = net.weightLayers().slice(0, -1);
  const out: UnitScores[] = [];
  for (const l of wl) {
    const bn = bns.get(`${l.name}.weight`);
    if (bn) out.push({ weight: `${l.name}.weight`, shape: l.weightShape!, scores: Float32Array.from(bn.gamma.dataSync(), Math.abs) });
  }
  if (!out.length) throw new Error(`network slimming needs batch norm after the pruned layers; "${net.description}" has none (use model.arch: bn-cnn)`);
  return out;
}

/** Channels of a layer of `channels` that a global ranking always keeps: max(1, ⌈minKeep·channels⌉). */
export function minChannelsKept(channels: number, minKeep: number): number {
  return Math.min(channels, Math.max(1, Math.ceil(minKeep * channels - 1e-9)));
}

/**
 * Masks removing the fraction `ratio` of the batch-normalized channels with the smallest |γ|:
 * in one global ranking (`global`, the paper) or the same fraction in every layer (`layer`).
 *
 * Global: the channels are taken from the global |γ| list, smallest first, until
 * round(ratio·channels) are removed; a channel whose layer is down to its floor
 * ({@link minChannelsKept}: at least `minKeep` of the layer's channels, and at least one) is
 * skipped and the next one in the list is taken, so a global ranking never empties (or
 * nearly empties) a layer and still removes exactly the requested number of channels
 * (`minKeep` = 0: only the one-channel floor). A ratio that the floors make impossible is
 * refused with a message. Ties: lower layer, then lower channel index first.
 */
export function slimmingMasks(net: Network, ratio: number, scope: PruningScope = 'global', minKeep = 0): UnitMaskResult {
  const scores = bnScaleUnitScores(net);
  if (scope !== 'global') return unitMasksAtRatio(net, scores, ratio, scope);
  if (!(ratio >= 0 && ratio < 1)) throw new Error(`inference.slimming.ratios: a ratio must be in [0, 1), got ${ratio}`);
  if (!(minKeep >= 0 && minKeep <= 1)) throw new Error(`inference.slimming.minKeep must be in [0, 1], got ${minKeep}`);
  const total = scores.reduce((a, u) => a + u.scores.length, 0);
  const want = Math.round(ratio * total);
  const floor = scores.map((u) => minChannelsKept(u.scores.length, minKeep));
  const removable = scores.reduce((a, u, k) => a + u.scores.length - floor[k]!, 0);
  if (want > removable)
    throw new Error(
      `inference.slimming: ratio ${ratio} removes ${want} of ${total} channels, but minKeep ${minKeep} keeps ${total - removable} (at most ${removable} can go); lower the ratio or minKeep`,
    );
  const items = scores.flatMap((u, k) => Array.from(u.scores, (s, j) => ({ k, j, s })));
  items.sort((a, b) => a.s - b.s || a.k - b.k || a.j - b.j);
  const left = scores.map((u) => u.scores.length);
  const drop = new Map(scores.map((u) => [u.weight, new Uint8Array(u.scores.length)]));
  let removed = 0;
  for (const it of items) {
    if (removed >= want) break;
    if (left[it.k]! <= floor[it.k]!) continue;
    drop.get(scores[it.k]!.weight)![it.j] = 1;
    left[it.k]!--;
    removed++;
  }
  return masksFromUnitDrops(net, drop);
}

/**
 * The `bn-scale` criterion: every weight of a channel gets its |γ|; weights of layers without
 * batch norm (and the classifier) get 1 + the largest |γ| (ranked after every channel).
 */
export function slimmingCriteria(): Criterion[] {
  return [
    {
      name: 'bn-scale',
      description:
        'network slimming: |γ| of the batch norm after each channel (Liu et al. 2017), to rank channels with pruning.units; other weights score above every channel',
      needsVariance: false,
      needsData: false,
      needsBatchNorm: true,
      compute: (p) => {
        const bns = batchNormAfter(p.network);
        if (!bns.size)
          throw new Error(`criterion "bn-scale" needs batch norm after the pruned layers; "${p.network.description}" has none (use model.arch: bn-cnn)`);
        const scores: ScoreSet = new Map();
        const last = p.network.weightLayers().at(-1)!;
        let top = 0;
        for (const b of bns.values()) for (const g of b.gamma.dataSync()) top = Math.max(top, Math.abs(g));
        for (const m of p.moments()) {
          const bn = m.layer === last.name ? undefined : bns.get(m.name);
          scores.set(
            m.name,
            bn ? broadcastUnitScores(Float32Array.from(bn.gamma.dataSync(), Math.abs), m.mean.length) : new Float32Array(m.mean.length).fill(top + 1),
          );
        }
        return scores;
      },
    },
  ];
}

/**
 * Forward-pass time of `full` over `compact` on the same input: `rounds` alternating timed
 * passes of each (after one warm-up pass each), the ratio of the medians.
 */
export function measureSpeedup(full: Network, compact: Network, x: tf.Tensor, rounds = 7): { fullMs: number; compactMs: number; speedup: number } {
  const time = (n: Network) => {
    const t0 = performance.now();
    tf.tidy(() => n.forward(x, { sample: false }).dataSync());
    return performance.now() - t0;
  };
  time(full);
  time(compact);
  const a: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < rounds; r++) {
    a.push(time(full));
    b.push(time(compact));
  }
  const median = (v: number[]) => v.sort((p, q) => p - q)[Math.floor(v.length / 2)]!;
  const fullMs = median(a);
  const compactMs = median(b);
  return { fullMs, compactMs, speedup: fullMs / compactMs };
}

/** What {@link slimNetwork} did. */
export interface SlimmingResult {
  ratio: number;
  scope: PruningScope;
  /** Floor of the global ranking: fraction of each layer's channels kept (0 = at least one). */
  minKeep: number;
  /** The compacted (and fine-tuned, when epochs > 0) network. */
  network: Network;
  compaction: CompactionReport;
  /** Channels removed per weight name. */
  channelsRemoved: Record<string, number>;
  /** Largest |logit| difference between the masked and the compacted network before fine-tuning. */
  maxLogitDiff: number;
  measured: { fullMs: number; compactMs: number; speedup: number; examples: number };
  /** Validation accuracy of the compacted network before and after fine-tuning. */
  accuracyBeforeFineTune: number;
  accuracyAfterFineTune: number;
  fineTune: EpochStats[];
}

export interface SlimOptions {
  ratio: number;
  /** `global` (one |γ| ranking over all layers, the paper) or `layer` (the ratio in every layer). */
  scope?: PruningScope;
  /** Global scope: fraction of each layer's channels always kept (at least one channel); default 0. */
  minKeep?: number;
  /** Fine-tuning epochs of the compacted network (0 = none). */
  epochs: number;
  lr: number;
  batchSize: number;
  /** Examples timed for the measured speed-up (taken from `validation`; default 1,000). */
  timingExamples?: number;
}

/** Prune `net` by network slimming at `ratio`, compact, time, and fine-tune the compacted copy (`net` itself is unchanged). */
export async function slimNetwork(net: Network, train: Dataset, validation: Dataset, o: SlimOptions, stream: RandomStream): Promise<SlimmingResult> {
  const { masks, unitsRemoved } = slimmingMasks(net, o.ratio, o.scope ?? 'global', o.minKeep ?? 0);
  const saved = net.getMasks();
  net.setMasks(masks);
  let compact: Network | undefined;
  try {
    const r = compactNetwork(net);
    compact = r.network;
    const m = Math.min(o.timingExamples ?? 1000, validation.n);
    const d = validation.x.length / validation.n;
    const x = tf.tensor(validation.x.subarray(0, m * d), [m, ...validation.shape]);
    let maxLogitDiff: number;
    let measured: { fullMs: number; compactMs: number; speedup: number };
    try {
      maxLogitDiff = tf.tidy(() => tf.max(tf.abs(tf.sub(net.forward(x, { sample: false }), compact!.forward(x, { sample: false })))).dataSync()[0]!);
      net.setMasks(saved.size ? saved : null);
      measured = measureSpeedup(net, compact, x, 9);
    } finally {
      x.dispose();
    }
    const accuracyBeforeFineTune = meanAccuracy(compact, validation);
    for (const b of batchNormLayers(compact.layers)) b.l1 = 0;
    let fineTune: EpochStats[] = [];
    if (o.epochs > 0) {
      const trainer = new Trainer(compact, train, { epochs: o.epochs, batchSize: o.batchSize, lr: { name: 'constant', lr: o.lr }, temperature: 1 }, stream);
      try {
        fineTune = await trainer.run({ validation });
      } finally {
        trainer.dispose();
      }
    }
    return {
      ratio: o.ratio,
      scope: o.scope ?? 'global',
      minKeep: o.minKeep ?? 0,
      network: compact,
      compaction: r.report,
      channelsRemoved: unitsRemoved,
      maxLogitDiff,
      measured: { ...measured, examples: m },
      accuracyBeforeFineTune,
      accuracyAfterFineTune: o.epochs > 0 ? meanAccuracy(compact, validation) : accuracyBeforeFineTune,
      fineTune,
    };
  } catch (e) {
    compact?.dispose();
    throw e;
  } finally {
    net.setMasks(saved.size ? saved : null);
  }
}

/** One line for the report's model table. */
export function describeSlimming(base: string, s: SlimmingResult): string {
  const c = s.compaction;
  const ch = c.batchNormChannels;
  const pct = (v: number) => `${(100 * v).toFixed(1)} %`;
  return [
    `${base}, slimmed ${pct(s.ratio)} of channels${ch ? ` (${ch.before} → ${ch.after})` : ''} (${s.scope === 'global' ? `one global |γ| ranking, ≥ ${s.minKeep > 0 ? `${pct(s.minKeep)} of ` : '1 channel of '}each layer kept` : 'per layer'}), compacted`,
    `channels removed ${Object.entries(s.channelsRemoved)
      .map(([w, n]) => `${w.replace(/\.weight$/, '')} ${n}`)
      .join(', ')}`,
    `params ${c.params.before} → ${c.params.after}`,
    `MACs ${c.macs.before} → ${c.macs.after} (${c.speedup.toFixed(2)}×)`,
    `measured forward speed-up ${s.measured.speedup.toFixed(2)}× on ${s.measured.examples} examples`,
    `masked vs compacted max |Δlogit| ${s.maxLogitDiff.toExponential(1)}`,
    `val acc ${pct(s.accuracyBeforeFineTune)} → ${pct(s.accuracyAfterFineTune)} after ${s.fineTune.length} fine-tuning epochs`,
  ].join('; ');
}

/**
 * The method's report section (metrics.json `variants.main.slimming`, a table in report.md):
 * per ratio the channels per layer, parameters, multiply-adds, measured speed-up, masked vs
 * compacted logits and validation accuracy before / after fine-tuning. Test accuracy of each
 * compacted network is its own model's row (`slim-<ratio>`).
 */
export function slimmingSection(results: SlimmingResult[], s: SlimmingConfig): MethodSection {
  const metrics = results.map((r) => ({
    ratio: r.ratio,
    scope: r.scope,
    minKeep: r.minKeep,
    channels: r.compaction.batchNormChannels ?? null,
    channelsRemoved: r.channelsRemoved,
    params: r.compaction.params,
    macs: r.compaction.macs,
    macsSpeedup: r.compaction.speedup,
    measured: r.measured,
    maxLogitDiff: r.maxLogitDiff,
    validationAccuracy: { beforeFineTune: r.accuracyBeforeFineTune, afterFineTune: r.accuracyAfterFineTune },
    fineTuneEpochs: r.fineTune.length,
  }));
  const pct = (v: number) => `${(100 * v).toFixed(2)} %`;
  return {
    key: 'slimming',
    title: 'network slimming',
    text:
      `Trained with λ·Σ|γ| (λ = ${s.lambda}); channels ranked by |γ| ${s.scope === 'global' ? `in one global list, at least ${s.minKeep > 0 ? `${pct(s.minKeep)} of` : 'one channel of'} each layer kept (inference.slimming.minKeep)` : 'in each layer'}; ` +
      `each network compacted (filters, BN parameters and the next layer's inputs removed) and fine-tuned ${s.fineTuneEpochs} epochs (Adam, lr ${s.fineTuneLr}, no penalty). ` +
      'Test accuracy: the `slim-<ratio>` models. Speed-up measured on the forward pass (compacted vs full, alternating, median).',
    table: results.map((r) => ({
      ratio: r.ratio,
      channels: r.compaction.batchNormChannels ? `${r.compaction.batchNormChannels.before} → ${r.compaction.batchNormChannels.after}` : null,
      'removed per layer': Object.entries(r.channelsRemoved)
        .map(([w, n]) => `${w.replace(/\.weight$/, '')} ${n}`)
        .join(', '),
      params: `${r.compaction.params.before} → ${r.compaction.params.after}`,
      MACs: `${r.compaction.macs.before} → ${r.compaction.macs.after}`,
      'MACs ×': Number(r.compaction.speedup.toFixed(2)),
      'measured ×': Number(r.measured.speedup.toFixed(2)),
      'max |Δlogit|': r.maxLogitDiff.toExponential(1),
      'val acc pruned': pct(r.accuracyBeforeFineTune),
      'val acc fine-tuned': pct(r.accuracyAfterFineTune),
    })),
    metrics: { ratios: metrics },
  };
}

/** Options of the `slimming` method (`inference.slimming`). */
export interface SlimmingConfig {
  lambda: number;
  scope: PruningScope;
  /** Global scope: fraction of each layer's channels always kept (at least one channel). */
  minKeep: number;
  ratios: number[];
  fineTuneEpochs: number;
  fineTuneLr: number;
}

/**
 * The inference method `slimming`: train the config's batch-norm network (point estimate,
 * shared trainer) with λ·Σ|γ|, then one compacted, fine-tuned companion per ratio.
 */
export async function fitSlimming(ctx: FitContext): Promise<FitResult & { slimming: SlimmingResult[] }> {
  const c = ctx.config;
  const s = (c.inference as unknown as { slimming: SlimmingConfig }).slimming;
  const net = pointNetworkFor(c, ctx.train, ctx.stream);
  const bns = batchNormLayers(net.layers);
  if (!bns.length) {
    net.dispose();
    throw new Error(`inference.method slimming needs batch norm in the network; model.arch "${c.model.arch}" has none (use bn-cnn)`);
  }
  for (const b of bns) b.l1 = s.lambda;
  const trainer = new Trainer(net, ctx.train, trainOptionsFrom(c), ctx.stream.fork('train'));
  const companions: FitResult['companions'] = [];
  const results: SlimmingResult[] = [];
  try {
    await ctx.restore?.(net, trainer);
    const history = await trainer.run(ctx.hooks);
    for (const ratio of s.ratios) {
      const r = await slimNetwork(
        net,
        ctx.train,
        ctx.validation,
        { ratio, scope: s.scope, minKeep: s.minKeep, epochs: s.fineTuneEpochs, lr: s.fineTuneLr, batchSize: c.train.batchSize },
        ctx.stream.fork(`finetune-${ratio}`),
      );
      results.push(r);
      const described = new Network(r.network.layers, r.network.inputShape, r.network.numClasses, describeSlimming(net.description, r));
      companions.push({ name: `slim-${ratio}`, posterior: new NetworkPosterior('slimming', described) });
    }
    return { posterior: new NetworkPosterior('slimming', net), history, companions, slimming: results, section: slimmingSection(results, s) };
  } catch (e) {
    for (const p of companions) p.posterior.dispose();
    net.dispose();
    throw e;
  } finally {
    trainer.dispose();
  }
}
