/**
 * Data-dependent (gradient and curvature) pruning criteria, registered into the
 * criterion registry by `registry.ts` (this module imports only types from it, so
 * there is no import cycle at run time).
 *
 * All act on the posterior-mean network (the weights the posterior's network holds:
 * MAP, SWA mean, SVGD particle mean; the mean θ of mean-field layers) and need
 * `ScoreContext.data` (the training set). Higher = more important, as everywhere.
 *
 * - `fisher`: ½·F_ii·w_i², F the diagonal empirical Fisher Σ_n (∂ℓ_n/∂w_i)² (sum over
 *   examples, Optimal Brain Damage form; Mohan et al. 2022 use it beside SNR pruning).
 * - `obd`: ½·H_ii·w_i² with H the exact diagonal GGN (LeCun, Denker & Solla 1990; the
 *   GGN is OBD's positive "Levenberg–Marquardt" Hessian approximation).
 * - `snip`: |g_i·w_i| with g the gradient of the mean loss on one batch (Lee, Ajanthan &
 *   Torr 2019). SNIP proper is computed at initialization: pass the freshly initialized
 *   network as `ScoreContext.initialNetwork` (same layer names); without it the score is
 *   taken at the posterior's current weights (a one-batch first-order saliency).
 * - `taylor`: Σ_b |g_{b,i}·w_i| over a few batches b (first-order Taylor estimate of the
 *   loss change when removing w_i, accumulated over batches; Molchanov et al. 2017/2019).
 *
 * Per-unit versions for structured pruning: aggregate these score sets with
 * `unitScores` of `src/pruning/structured.ts` (`l1` of `taylor` is the per-unit Taylor
 * criterion, `l2` of `fisher` a per-unit Fisher).
 *
 * Data used: at most {@link GRADIENT_CRITERIA_LIMITS} examples, drawn with `ctx.stream`
 * (scores rank weights, so the scale of a subset sum does not matter).
 * @module
 */
import type { Dataset } from '../data/dataset.js';
import { batchGradients, datasetBatches, diagonalCurvature, type LayerCurvature } from '../inference/curvature.js';
import type { Posterior } from '../inference/posterior.js';
import type { Network } from '../nn/network.js';
import type { Criterion, ScoreContext, ScoreSet } from './registry.js';

/** How much data each criterion looks at. */
export const GRADIENT_CRITERIA_LIMITS = {
  /** Examples of the empirical Fisher (`fisher`). */
  fisherExamples: 2000,
  /** Examples of the GGN (`obd`; one backward pass per class). */
  ggnExamples: 1000,
  /** SNIP batch size. */
  snipBatch: 100,
  /** Taylor: batches × batch size. */
  taylorBatches: 5,
  taylorBatch: 100,
};

function requireData(ctx: ScoreContext, name: string): Dataset {
  if (!ctx.data || ctx.data.n === 0) {
    throw new Error(`criterion "${name}" needs data (gradients): pass the training set as ScoreContext.data (curves: CurveOptions.scoreData)`);
  }
  return ctx.data;
}

/** Weights (posterior means, masked) of the network's weight layers, by weight name. */
function meanWeights(posterior: Posterior): Map<string, Float32Array> {
  return new Map(posterior.moments().map((m) => [m.name, m.mean]));
}

/** ½·c_i·w_i² per weight. */
function obdForm(curv: LayerCurvature[], w: Map<string, Float32Array>): ScoreSet {
  const out: ScoreSet = new Map();
  for (const c of curv) {
    const name = `${c.layer}.weight`;
    const wi = w.get(name)!;
    const s = new Float32Array(c.weight.length);
    for (let i = 0; i < s.length; i++) s[i] = 0.5 * c.weight[i]! * wi[i]! * wi[i]!;
    out.set(name, s);
  }
  return out;
}

/** Σ over batches of |g_b ∘ w| (gradients of the batch-mean loss). */
function gradientSaliency(net: Network, ds: Dataset, batchSize: number, numBatches: number, w: Map<string, Float32Array>, ctx: ScoreContext): ScoreSet {
  const out: ScoreSet = new Map();
  for (const b of datasetBatches(ds, batchSize, batchSize * numBatches, ctx.stream)) {
    const B = b.x.shape[0]!;
    for (const g of batchGradients(net, b, { type: 'categorical' })) {
      const name = `${g.layer}.weight`;
      const wi = w.get(name) ?? netWeight(net, g.layer);
      const s = out.get(name) ?? new Float32Array(g.weight.length);
      for (let i = 0; i < s.length; i++) s[i]! += Math.abs((g.weight[i]! / B) * wi[i]!);
      out.set(name, s);
    }
  }
  return out;
}

function netWeight(net: Network, layer: string): Float32Array {
  const l = net.weightLayers().find((x) => x.name === layer);
  if (!l) throw new Error(`no weight layer "${layer}"`);
  return l.moments()!.mean;
}

/** The criteria of this module (registered by registry.ts). */
export function gradientCriteria(): Criterion[] {
  return [
    {
      name: 'fisher',
      description: 'Fisher pruning ½·F·w² with the diagonal empirical Fisher on training data (OBD form; Mohan et al. 2022)',
      needsVariance: false,
      needsData: true,
      compute: (p, ctx) => {
        const ds = requireData(ctx, 'fisher');
        const L = GRADIENT_CRITERIA_LIMITS;
        const curv = diagonalCurvature(p.network, datasetBatches(ds, 250, L.fisherExamples, ctx.stream.fork('fisher-data')), 'ef', { type: 'categorical' });
        return obdForm(curv, meanWeights(p));
      },
    },
    {
      name: 'obd',
      description: 'Optimal Brain Damage ½·H·w² with the exact diagonal Gauss–Newton (LeCun et al. 1990)',
      needsVariance: false,
      needsData: true,
      compute: (p, ctx) => {
        const ds = requireData(ctx, 'obd');
        const L = GRADIENT_CRITERIA_LIMITS;
        const curv = diagonalCurvature(p.network, datasetBatches(ds, 250, L.ggnExamples, ctx.stream.fork('obd-data')), 'ggn', { type: 'categorical' });
        return obdForm(curv, meanWeights(p));
      },
    },
    {
      name: 'snip',
      description: 'SNIP |g·w| on one batch, at initialization when ScoreContext.initialNetwork is given, else at the current weights (Lee et al. 2019)',
      needsVariance: false,
      needsData: true,
      compute: (p, ctx) => {
        const ds = requireData(ctx, 'snip');
        const net = ctx.initialNetwork ?? p.network;
        const w = ctx.initialNetwork ? new Map(net.moments().map((m) => [m.name, m.mean])) : meanWeights(p);
        return gradientSaliency(net, ds, GRADIENT_CRITERIA_LIMITS.snipBatch, 1, w, { ...ctx, stream: ctx.stream.fork('snip-data') });
      },
    },
    {
      name: 'taylor',
      description: 'first-order Taylor saliency Σ_batches |g·w| over a few training batches (Molchanov et al. 2017)',
      needsVariance: false,
      needsData: true,
      compute: (p, ctx) => {
        const ds = requireData(ctx, 'taylor');
        const L = GRADIENT_CRITERIA_LIMITS;
        return gradientSaliency(p.network, ds, L.taylorBatch, L.taylorBatches, meanWeights(p), { ...ctx, stream: ctx.stream.fork('taylor-data') });
      },
    },
  ];
}
