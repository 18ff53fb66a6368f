/**
 * The gated inference methods of issue 3, registered in `src/inference/methods.ts`:
 *
 * - `l0`: point-estimate weights with hard-concrete L0 gates (Louizos et al. 2018);
 *   dense layers gated per `inference.gates.granularity` (default: input units),
 *   conv layers per output channel. With output gates the classifier is a plain dense
 *   layer (its outputs are the classes).
 * - `spike-slab`: spike-and-slab variational layers, edge (`weight`) or node selection
 *   (Bai et al. 2020; Jantre et al. 2023). With node selection the classifier is a
 *   slab-only mean-field layer (Gaussian prior σ0), as in Jantre et al.
 * - `unit-gates`: Bernoulli unit gates with a Gaussian scale-mixture prior; units whose
 *   gate settles at 0 are removed while training goes on (`inference.gates.removal`).
 *
 * All train with the shared {@link Trainer}: loss = NLL + β(t)·T·KL/N, where the "KL" of
 * an L0 layer is λ·E[L0] (see `hard-concrete.ts`). Any of them can remove settled units
 * during training with `inference.gates.removal: {threshold, patience}`; the epoch
 * statistics then carry the units left per layer (`units`) and what was removed
 * (`removed`), next to each epoch's `seconds`.
 * Resuming a run after units were removed is not supported (the checkpoint's tensors
 * are smaller than a freshly built network's); such a resume fails with a clear error.
 * @module
 */
import { trainOptionsFrom } from '../inference/train-options.js';
import type { ExperimentConfig } from '../experiment/config.js';
import type { FitContext, FitResult } from '../inference/methods.js';
import { NetworkPosterior } from '../inference/network-posterior.js';
import { Trainer, type EpochStats } from '../inference/trainer.js';
import { buildNetwork, classifierLayerName, type LayerFactory, type ModelSpec } from '../nn/builders.js';
import { Dense } from '../nn/dense.js';
import type { Network } from '../nn/network.js';
import { L0Conv2d, L0Dense, type L0Granularity } from './hard-concrete.js';
import { LrtDense } from './lrt-dense.js';
import { SpikeSlabDense } from './spike-slab.js';
import { UnitGateDense, UnitRemoval } from './unit-gates.js';
import type { RandomStream } from '../random.js';

export const GATED_METHODS = ['l0', 'spike-slab', 'unit-gates'] as const;
export type GatedMethod = (typeof GATED_METHODS)[number];

/** Epoch statistics of a gated run with removal during training. */
export interface GatedEpochStats extends EpochStats {
  /** Output units of every weight layer after the epoch's check. */
  units?: Record<string, number>;
  /** Units (or inputs) removed per layer at this epoch's check. */
  removed?: Record<string, number>;
  /** Gates per layer at this epoch's check: closed at test time (P < ½), below the removal threshold, total. */
  gates?: Record<string, { closed: number; belowThreshold: number; total: number }>;
}

/** Normalized granularity of a config: `weight` | `input` | `output`. */
export function gateGranularity(config: ExperimentConfig): L0Granularity {
  const g = config.inference.gates.granularity;
  if (g === 'edge') return 'weight';
  if (g === 'node') return 'output';
  if (g) return g;
  return config.inference.method === 'l0' ? 'input' : 'output';
}

/** The layer factory of a gated method. */
export function gatedFactory(config: ExperimentConfig, spec: ModelSpec): LayerFactory {
  const method = config.inference.method;
  const g = config.inference.gates;
  const init = config.model.init;
  const gran = gateGranularity(config);
  const classifier = classifierLayerName(spec);
  const initLogSigma2 = config.inference.initLogSigma2;
  switch (method) {
    case 'l0':
      return {
        describe: `l0-dense, hard-concrete ${gran} gates, λ=${g.lambda}`,
        dense: (name: string, i: number, o: number, stream: RandomStream) =>
          gran === 'output' && name === classifier
            ? new Dense({ name, inFeatures: i, outFeatures: o, init, stream })
            : new L0Dense({ name, inFeatures: i, outFeatures: o, granularity: gran, lambda: g.lambda, initDropRate: g.initDropRate, init, stream }),
        conv2d: (name: string, inH: number, inW: number, cin: number, cout: number, k: number, stream: RandomStream) =>
          new L0Conv2d({ name, inH, inW, cin, cout, k, lambda: g.lambda, initDropRate: g.initDropRate, init, stream }),
      };
    case 'spike-slab': {
      if (gran === 'input') throw new Error('spike-slab gates are edge (weight) or node (output)');
      const gr = gran;
      return {
        describe: `spike-slab-dense, ${gr === 'weight' ? 'edge' : 'node'} selection, λ=${g.priorInclusion}`,
        dense: (name: string, i: number, o: number, stream: RandomStream) =>
          gr === 'output' && name === classifier
            ? new LrtDense({ name, inFeatures: i, outFeatures: o, prior: { type: 'gaussian', sigma: g.slabSigma }, initLogSigma2, init, stream })
            : new SpikeSlabDense({
                name,
                inFeatures: i,
                outFeatures: o,
                granularity: gr,
                priorInclusion: g.priorInclusion,
                slabSigma: g.slabSigma,
                temperature: g.concreteTemperature,
                initInclusion: g.initInclusion,
                initLogSigma2,
                init,
                stream,
              }),
      };
    }
    case 'unit-gates':
      return {
        describe: `unit-gate-dense, Bernoulli unit gates, scale-mixture prior (σ1=${g.slabSigma}, σ2=${g.spikeSigma}), λ=${g.priorInclusion}`,
        dense: (name: string, i: number, o: number, stream: RandomStream) =>
          name === classifier
            ? new LrtDense({ name, inFeatures: i, outFeatures: o, prior: { type: 'gaussian', sigma: g.slabSigma }, initLogSigma2, init, stream })
            : new UnitGateDense({
                name,
                inFeatures: i,
                outFeatures: o,
                priorInclusion: g.priorInclusion,
                sigma1: g.slabSigma,
                sigma2: g.spikeSigma,
                temperature: g.concreteTemperature,
                initInclusion: g.initInclusion,
                initLogSigma2,
                init,
                stream,
              }),
      };
    default:
      throw new Error(`"${method}" is not a gated inference method (${GATED_METHODS.join(', ')})`);
  }
}

/** The network of a gated config. */
export function gatedNetworkFor(config: ExperimentConfig, shape: number[], numClasses: number, stream: RandomStream): Network {
  const m = config.model;
  const spec: ModelSpec = { arch: m.arch, hidden: m.hidden, activation: m.activation };
  return buildNetwork(spec, shape, numClasses, gatedFactory(config, spec), stream.fork('init'));
}

/** Removal during training: explicit config, else on for unit-gates only. */
export function removalOf(config: ExperimentConfig): UnitRemoval | null {
  const r = config.inference.gates.removal;
  if (r === null) return null;
  if (r) return new UnitRemoval(r);
  return config.inference.method === 'unit-gates' ? new UnitRemoval({ threshold: 0.01, patience: 3 }) : null;
}

/** Fit a gated method (see the module comment). */
export async function fitGated(method: GatedMethod, ctx: FitContext): Promise<FitResult> {
  const c = ctx.config;
  const net = gatedNetworkFor(c, ctx.train.shape, ctx.train.numClasses, ctx.stream);
  const trainer = new Trainer(net, ctx.train, trainOptionsFrom(c), ctx.stream.fork('train'));
  const removal = removalOf(c);
  if (removal) net.auxState.set('unit-removal', removal); // its counters go into checkpoints (src/experiment/checkpoint.ts)
  try {
    // A checkpoint saved after a removal is refused by the removal's own state (UnitRemoval.loadState).
    await ctx.restore?.(net, trainer);
    if (!removal) return { posterior: new NetworkPosterior(method, net), history: await trainer.run(ctx.hooks) };
    const history: GatedEpochStats[] = [];
    while (trainer.epoch < trainer.opts.epochs) {
      const st: GatedEpochStats = trainer.runEpoch(ctx.hooks);
      const ev = removal.check(net, trainer.optimizer);
      st.units = ev.units;
      st.gates = ev.gates;
      if (Object.keys(ev.removed).length) st.removed = ev.removed;
      history.push(st);
      trainer.epoch++;
      await ctx.hooks.onEpoch?.(st, trainer);
    }
    return { posterior: new NetworkPosterior(method, net), history };
  } finally {
    trainer.dispose();
  }
}
