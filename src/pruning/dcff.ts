/**
 * DCFF, dynamic-coded filter fusion (Lin, Chen, Chao & Ji, "Training Compact CNNs for Image
 * Classification using Dynamic-coded Filter Fusion", TPAMI 2023, arXiv 2107.06916).
 *
 * A compact CNN is trained from scratch (no pretrained model, no sparsity regularizer). Every
 * fused conv layer holds all n of its filters w_1..w_n as parameters but emits only m < n
 * output channels, so the layers after it are already narrow while training:
 *
 * 1. **Inter-similarity distribution** (the filter's proxy). With D_ij = ‖w_i − w_j‖₂ and the
 *    temperature t,  p_i(j) = exp(−t·D_ij) / Σ_k exp(−t·D_ik).  At t → ∞ p_i is one-hot on i
 *    (D_ii = 0 is the only zero distance when the filters differ).
 * 2. **Dynamic-coded importance**: s_i = Σ_j KL(p_i ‖ p_j); a filter whose distribution differs
 *    most from the others is the hardest to replace. The m filters with the largest s_i are kept.
 * 3. **Filter fusion**: kept filter i is replaced in the forward pass by the fused filter
 *    f_i = Σ_j p_i(j)·w_j (its bias likewise: Σ_j p_i(j)·b_j). Gradients reach every w_j through
 *    the fusion; the proxies themselves are constants within an epoch.
 * 4. **Annealing**: t grows over training (the paper's schedule: a sigmoid in the epoch from
 *    t_s = 1 to t_e = 10⁴), so p_i becomes one-hot and f_i converges to w_i. The distributions,
 *    scores and the kept set are recomputed from the current weights at the start of every epoch.
 * 5. **Compaction**: each fused layer becomes a plain conv layer of m filters holding the fused
 *    weights of the last epoch; the compacted network computes exactly what was trained.
 *
 * Choices where the paper leaves room (and the authors' code, read for edge cases, differs):
 * - t is the paper's (inverse) temperature, multiplying the distance; the authors' code computes
 *   the same as softmax(−D / (1/t)).
 * - the KL is computed from log-softmax in float64 (log p_i(j) = −t·D_ij − logΣ_k exp(−t·D_ik)),
 *   so it stays finite and ranks filters at any t. The authors' code takes log(p_i / (p_j + 1e-7))
 *   in float32, which saturates at large t (every score the same); it then keeps the previous
 *   scores only when a score is not finite. At large t the exact score tends to
 *   t·Σ_j D_ij + const, i.e. the FPGM ranking (He et al. 2019) with the opposite use: keep the
 *   filters far from the others.
 * - the m kept filters occupy the output channels in increasing filter index (ties in s_i:
 *   lower index first), so a change of the kept set moves as few channels as possible.
 * - layers fused: every conv layer (the paper fuses the conv layers it prunes); dense layers
 *   keep their width (the comparison with FPGM prunes the same conv filters).
 *
 * The inference method `dcff` ({@link fitDcff}, config `inference.dcff`) trains this network,
 * compacts it, and, with `inference.dcff.fpgm: true`, trains the dense network of the same
 * architecture as the main model and prunes it with FPGM at the same per-layer ratio (same
 * multiply-adds), compacted and fine-tuned, for the report's comparison.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from '../data/dataset.js';
import type { ExperimentConfig } from '../experiment/config.js';
import type { FitContext, FitResult } from '../inference/methods.js';
import { NetworkPosterior } from '../inference/network-posterior.js';
import { pointNetworkFor } from '../inference/fit-utils.js';
import { trainOptionsFrom } from '../inference/train-options.js';
import { Trainer, meanAccuracy, type EpochStats, type TrainHooks, type TrainOptions } from '../inference/trainer.js';
import { BatchNorm } from '../nn/batchnorm.js';
import { buildNetwork, type LayerFactory } from '../nn/builders.js';
import { Conv2d, conv, convOutputSize, initKernel, type ConvGeometry } from '../nn/conv2d.js';
import { Dense } from '../nn/dense.js';
import type { Initializer } from '../nn/init.js';
import type { ForwardOptions, Layer, WeightMoments } from '../nn/layer.js';
import { MaskedWeightLayer } from '../nn/mask-slot.js';
import { newVariable } from '../nn/names.js';
import { Network } from '../nn/network.js';
import { RandomStream } from '../random.js';
import { fpgmFilterScores } from '../scores/fpgm.js';
import { compactNetwork, type CompactionReport } from './compaction.js';
import { masksFromUnitDrops, type UnitMaskResult, type UnitScores } from './structured.js';

// ---------------------------------------------------------------------------------------------
// The formulas (float64, one layer's filters). Filter j of a weight with nOut output units is
// the entries f with f % nOut = j (the last axis), as in src/scores/fpgm.ts.

/** Euclidean distances D_ij = ‖w_i − w_j‖₂ between the filters (row-major n×n). */
export function filterDistances(w: ArrayLike<number>, nOut: number): Float64Array {
  const size = w.length / nOut;
  const d = new Float64Array(nOut * nOut);
  for (let i = 0; i < nOut; i++)
    for (let j = i + 1; j < nOut; j++) {
      let s = 0;
      for (let k = 0; k < size; k++) {
        const t = w[k * nOut + i]! - w[k * nOut + j]!;
        s += t * t;
      }
      d[i * nOut + j] = d[j * nOut + i] = Math.sqrt(s);
    }
  return d;
}

/** log p_i(j) = −t·D_ij − log Σ_k exp(−t·D_ik): the log inter-similarity distributions (rows i). */
export function logSimilarity(dist: Float64Array, n: number, t: number): Float64Array {
  if (!(t > 0) || !Number.isFinite(t)) throw new Error(`dcff: temperature must be a positive finite number, got ${t}`);
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    let mx = -Infinity;
    for (let j = 0; j < n; j++) mx = Math.max(mx, -t * dist[i * n + j]!);
    let s = 0;
    for (let j = 0; j < n; j++) s += Math.exp(-t * dist[i * n + j]! - mx);
    const lse = mx + Math.log(s);
    for (let j = 0; j < n; j++) out[i * n + j] = -t * dist[i * n + j]! - lse;
  }
  return out;
}

/** Importance s_i = Σ_j KL(p_i ‖ p_j) = Σ_j Σ_k p_i(k)·(log p_i(k) − log p_j(k)) from the log distributions. */
export function klImportance(logP: Float64Array, n: number): Float64Array {
  const s = new Float64Array(n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      let kl = 0;
      for (let k = 0; k < n; k++) {
        const a = logP[i * n + k]!;
        const p = Math.exp(a);
        if (p > 0) kl += p * (a - logP[j * n + k]!);
      }
      s[i]! += kl;
    }
  return s;
}

/** The `keep` filters with the largest scores (ties: lower index first), in increasing index order. */
export function keptFilters(scores: ArrayLike<number>, keep: number): Int32Array {
  const n = scores.length;
  if (!(Number.isInteger(keep) && keep >= 1 && keep <= n)) throw new Error(`dcff: keep must be an integer in [1, ${n}], got ${keep}`);
  const idx = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]! || a - b);
  return Int32Array.from(idx.slice(0, keep)).sort();
}

/** Fused filters f_q = Σ_j p_{kept_q}(j)·w_j for a weight with nOut filters: [size, m] row-major (filter q at f % m = q). */
export function fuseFilters(w: ArrayLike<number>, nOut: number, logP: Float64Array, kept: Int32Array): Float64Array {
  const size = w.length / nOut;
  const m = kept.length;
  const out = new Float64Array(size * m);
  for (let q = 0; q < m; q++) {
    const i = kept[q]!;
    for (let j = 0; j < nOut; j++) {
      const p = Math.exp(logP[i * nOut + j]!);
      if (p === 0) continue;
      for (let k = 0; k < size; k++) out[k * m + q]! += p * w[k * nOut + j]!;
    }
  }
  return out;
}

/** Temperature schedules: the paper's sigmoid in the epoch, linear, or exponential (geometric) from tStart to tMax. */
export const DCFF_SCHEDULES = ['sigmoid', 'linear', 'exponential'] as const;
export type DcffSchedule = (typeof DCFF_SCHEDULES)[number];

export interface TemperatureOptions {
  tStart: number;
  tMax: number;
  schedule: DcffSchedule;
  /** Steepness k of the sigmoid schedule (the paper: 1, per epoch). */
  k?: number;
}

/**
 * t at the start of epoch e of E (t(0) = tStart, t(E) = tMax; epochs 0..E−1 are trained).
 * sigmoid (the paper): t(e) = A/(1 + exp(−k·e)) + tStart − A/2 with A = 2(tMax − tStart)(1 + e^{−kE})/(1 − e^{−kE});
 * linear: tStart + (tMax − tStart)·e/E;  exponential: tStart·(tMax/tStart)^{e/E}.
 */
export function dcffTemperature(epoch: number, epochs: number, o: TemperatureOptions): number {
  if (epochs <= 0) return o.tStart;
  const r = epoch / epochs;
  if (o.schedule === 'linear') return o.tStart + (o.tMax - o.tStart) * r;
  if (o.schedule === 'exponential') return o.tStart * (o.tMax / o.tStart) ** r;
  const k = o.k ?? 1;
  const ekE = Math.exp(-k * epochs);
  const a = (2 * (o.tMax - o.tStart) * (1 + ekE)) / (1 - ekE);
  return a / (1 + Math.exp(-k * epoch)) + o.tStart - a / 2;
}

// ---------------------------------------------------------------------------------------------
// The fused conv layer.

/** What one proxy update chose for a layer. */
export interface ProxyUpdate {
  layer: string;
  t: number;
  kept: Int32Array;
  scores: Float64Array;
  /** Largest p_i(i) and smallest p_i(i) over the kept filters (1 = one-hot). */
  selfWeight: { min: number; max: number };
}

/**
 * A `valid` conv layer with n filters as parameters and m fused output channels:
 * y = conv(x, W·Pᵀ) + P·b with the proxy matrix P [m, n] (rows p_{kept_q}), a constant
 * refreshed by {@link updateProxies}.
 */
export class DcffConv2d extends MaskedWeightLayer implements Layer {
  readonly kind = 'dcff-conv2d';
  readonly name: string;
  /** Geometry of the parameter tensor (cout = n filters). */
  readonly geometry: ConvGeometry;
  readonly keep: number;
  /** Shape of the fused (effective) weight [k, k, cin, m]. */
  readonly weightShape: number[];
  readonly macsPerWeight: number;
  readonly w: tf.Variable;
  readonly b: tf.Variable;
  /** Pᵀ [n, m]. */
  private proxiesT: tf.Tensor2D;
  private last: ProxyUpdate | null = null;

  constructor(o: { name: string; inH: number; inW: number; cin: number; cout: number; keep: number; k: number; init?: Initializer; stream: RandomStream }) {
    super();
    if (!(Number.isInteger(o.keep) && o.keep >= 1 && o.keep <= o.cout))
      throw new Error(`dcff layer "${o.name}": keep must be in [1, ${o.cout}], got ${o.keep}`);
    this.name = o.name;
    this.geometry = { inH: o.inH, inW: o.inW, cin: o.cin, cout: o.cout, k: o.k, stride: 1 };
    this.keep = o.keep;
    const [oh, ow] = convOutputSize(o.inH, o.inW, o.k, 1);
    this.macsPerWeight = oh * ow;
    this.weightShape = [o.k, o.k, o.cin, o.keep];
    this.w = newVariable(initKernel(this.geometry, o.init ?? 'he-normal', o.stream), `${o.name}.w`);
    this.b = newVariable(tf.zeros([o.cout]), `${o.name}.b`);
    // Until the first update: the first m filters, unfused.
    const eye = new Float32Array(o.cout * o.keep);
    for (let q = 0; q < o.keep; q++) eye[q * o.keep + q] = 1;
    this.proxiesT = tf.tensor2d(eye, [o.cout, o.keep]);
  }

  /** Recompute distances, distributions, scores, the kept set and P from the current weights at temperature t. */
  updateProxies(t: number): ProxyUpdate {
    const n = this.geometry.cout;
    const m = this.keep;
    const w = this.w.dataSync();
    const logP = logSimilarity(filterDistances(w, n), n, t);
    const scores = klImportance(logP, n);
    const kept = keptFilters(scores, m);
    const pt = new Float32Array(n * m);
    let min = Infinity;
    let max = -Infinity;
    for (let q = 0; q < m; q++) {
      const i = kept[q]!;
      for (let j = 0; j < n; j++) pt[j * m + q] = Math.exp(logP[i * n + j]!);
      const self = Math.exp(logP[i * n + i]!);
      min = Math.min(min, self);
      max = Math.max(max, self);
    }
    this.proxiesT.dispose();
    this.proxiesT = tf.tensor2d(pt, [n, m]);
    this.last = { layer: this.name, t, kept, scores, selfWeight: { min, max } };
    return this.last;
  }

  /** The last update (null before the first). */
  get lastUpdate(): ProxyUpdate | null {
    return this.last;
  }

  /** P [m, n] as numbers (row q = p_{kept_q}). */
  proxies(): Float32Array {
    const n = this.geometry.cout;
    const m = this.keep;
    const pt = this.proxiesT.dataSync();
    const p = new Float32Array(m * n);
    for (let j = 0; j < n; j++) for (let q = 0; q < m; q++) p[q * n + j] = pt[j * m + q]!;
    return p;
  }

  /** The fused weight [k, k, cin, m] and bias [m]. */
  fused(): { w: tf.Tensor4D; b: tf.Tensor1D } {
    return tf.tidy(() => {
      const g = this.geometry;
      const w2 = tf.reshape(this.w, [g.k * g.k * g.cin, g.cout]) as tf.Tensor2D;
      const w = tf.reshape(tf.matMul(w2, this.proxiesT), [g.k, g.k, g.cin, this.keep]) as tf.Tensor4D;
      const b = tf.reshape(tf.matMul(tf.reshape(this.b, [1, g.cout]) as tf.Tensor2D, this.proxiesT), [this.keep]) as tf.Tensor1D;
      return { w, b };
    });
  }

  forward(x: tf.Tensor, _opts: ForwardOptions): tf.Tensor {
    return tf.tidy(() => {
      const f = this.fused();
      return tf.add(conv(x, this.mask.apply(f.w), 1), f.b);
    });
  }

  variables(): tf.Variable[] {
    return [this.w, this.b];
  }

  moments(): WeightMoments {
    return this.pointMoments(
      tf.tidy(() => this.fused().w.dataSync() as Float32Array),
      this.macsPerWeight,
    );
  }

  /** A plain conv layer of the m fused filters (the compacted layer). */
  compact(): Conv2d {
    const g = this.geometry;
    const c = new Conv2d({
      name: this.name,
      inH: g.inH,
      inW: g.inW,
      cin: g.cin,
      cout: this.keep,
      k: g.k,
      stream: new RandomStream(`dcff-compact/${this.name}`),
    });
    tf.tidy(() => {
      const f = this.fused();
      c.w.assign(this.mask.apply(f.w));
      c.b.assign(f.b);
    });
    return c;
  }

  override dispose(): void {
    super.dispose();
    this.proxiesT.dispose();
  }
}

/** The fused layers of a network. */
export function dcffLayers(net: Network): DcffConv2d[] {
  return net.layers.filter((l): l is DcffConv2d => l instanceof DcffConv2d);
}

/** Filters kept of n at a removal ratio: n − round(ratio·n), at least 1 (the count FPGM's per-layer pruning removes). */
export function keepAtRatio(n: number, ratio: number): number {
  return Math.max(1, n - Math.round(ratio * n));
}

/**
 * The config's architecture with every conv layer fused: conv `name` keeps `keepOf(name, n)` of
 * its n filters, and the layers reading it (the next conv's input channels, a batch norm over
 * its channels, the first dense layer after flattening) are built narrow.
 */
export function dcffNetworkFor(config: ExperimentConfig, train: Dataset, keepOf: (layer: string, n: number) => number, stream: RandomStream): Network {
  const m = config.model;
  const init = m.init;
  let prev: { cout: number; keep: number } | null = null;
  const factory: LayerFactory = {
    describe: 'dcff fused conv, dense, point estimate',
    conv2d: (name, inH, inW, cin, cout, k, s) => {
      const c = prev && cin === prev.cout ? prev.keep : cin;
      const keep = keepOf(name, cout);
      prev = { cout, keep };
      return new DcffConv2d({ name, inH, inW, cin: c, cout, keep, k, init, stream: s });
    },
    dense: (name, i, o, s) => {
      let inF = i;
      if (prev && i % prev.cout === 0) inF = (i / prev.cout) * prev.keep;
      prev = null;
      return new Dense({ name, inFeatures: inF, outFeatures: o, init, stream: s });
    },
  };
  const built = buildNetwork({ arch: m.arch, hidden: m.hidden, activation: m.activation }, train.shape, train.numClasses, factory, stream.fork('init'));
  if (!dcffLayers(built).length) {
    built.dispose();
    throw new Error(`inference.method dcff fuses conv filters; model.arch "${m.arch}" has no conv layer (use lenet-5-caffe or bn-cnn)`);
  }
  // A batch norm after a fused layer normalizes its m channels.
  let last: DcffConv2d | null = null;
  const layers = built.layers.map((l) => {
    if (l instanceof DcffConv2d) last = l;
    else if (l.weightShape) last = null;
    else if (l instanceof BatchNorm && last && l.channels === last.geometry.cout && l.channels !== last.keep) {
      const bn = new BatchNorm({ name: l.name, channels: last.keep, momentum: l.momentum, epsilon: l.epsilon });
      l.dispose();
      return bn;
    }
    return l;
  });
  return new Network(layers, built.inputShape, built.numClasses, built.description);
}

/** What one epoch of DCFF chose: the temperature and, per fused layer, how many kept filters differ from the previous epoch. */
export interface DcffEpoch {
  epoch: number;
  t: number;
  /** Per layer: kept filters that were not kept in the previous epoch (the whole set at epoch 0). */
  changed: Record<string, number>;
  /** Per layer: the smallest p_i(i) over the kept filters (1 = the fused filters are the filters). */
  minSelfWeight: Record<string, number>;
}

/**
 * Train a DCFF network: at the start of every epoch the proxies of every fused layer are
 * recomputed at t(epoch) from the current weights, then one epoch of the shared trainer.
 */
export async function trainDcff(
  net: Network,
  train: Dataset,
  opts: TrainOptions,
  temperature: TemperatureOptions,
  stream: RandomStream,
  hooks: TrainHooks = {},
): Promise<{ history: EpochStats[]; epochs: DcffEpoch[] }> {
  const layers = dcffLayers(net);
  const trainer = new Trainer(net, train, opts, stream);
  const history: EpochStats[] = [];
  const epochs: DcffEpoch[] = [];
  try {
    while (trainer.epoch < opts.epochs) {
      const e = trainer.epoch;
      const t = dcffTemperature(e, opts.epochs, temperature);
      const rec: DcffEpoch = { epoch: e, t, changed: {}, minSelfWeight: {} };
      for (const l of layers) {
        const before = l.lastUpdate?.kept;
        const u = l.updateProxies(t);
        const was = new Set(before ?? []);
        rec.changed[l.name] = before ? Array.from(u.kept).filter((i) => !was.has(i)).length : u.kept.length;
        rec.minSelfWeight[l.name] = u.selfWeight.min;
      }
      epochs.push(rec);
      const stats = trainer.runEpoch(hooks);
      history.push(stats);
      trainer.epoch++;
      await hooks.onEpoch?.(stats, trainer);
    }
  } finally {
    trainer.dispose();
  }
  return { history, epochs };
}

/** Parameters (weight entries) and multiply-adds per example of a network's weight layers (biases not counted, as in compaction.ts). */
export function networkCost(net: Network): { params: number; macs: number } {
  let params = 0;
  let macs = 0;
  for (const l of net.weightLayers()) {
    const p = l.weightShape!.reduce((a, b) => a * b, 1);
    params += p;
    macs += p * (l.macsPerWeight ?? 1);
  }
  return { params, macs };
}

/**
 * The compacted network: every fused layer replaced by a plain conv layer of its m fused
 * filters; the other layers are moved over (the DCFF network must not be used afterwards,
 * only its fused layers are disposed here).
 */
export function compactDcff(net: Network, description = net.description): Network {
  const layers = net.layers.map((l) => {
    if (!(l instanceof DcffConv2d)) return l;
    const c = l.compact();
    l.dispose();
    return c;
  });
  return new Network(layers, net.inputShape, net.numClasses, description);
}

/** Largest |logit| difference of two networks on the first `n` examples of a data set. */
export function maxLogitDiff(a: Network, b: Network, ds: Dataset, n = 500): number {
  const m = Math.min(n, ds.n);
  const d = ds.x.length / ds.n;
  return tf.tidy(() => {
    const x = tf.tensor(ds.x.subarray(0, m * d), [m, ...ds.shape]);
    return tf.max(tf.abs(tf.sub(a.forward(x, { sample: false }), b.forward(x, { sample: false })))).dataSync()[0]!;
  });
}

// ---------------------------------------------------------------------------------------------
// The FPGM comparison at the same multiply-adds.

/** FPGM unit scores Σ_j ‖F_i − F_j‖₂ of every conv layer of a (dense) network. */
export function fpgmConvUnitScores(net: Network): UnitScores[] {
  return net
    .weightLayers()
    .filter((l) => l.weightShape!.length === 4)
    .map((l) => {
      const mo = l.moments()!;
      return { weight: mo.name, shape: mo.shape, scores: Float32Array.from(fpgmFilterScores(mo.mean, mo.shape)) };
    });
}

export interface PrunedCompact {
  network: Network;
  compaction: CompactionReport;
  unitsRemoved: Record<string, number>;
  /** Masked vs compacted max |Δlogit| on validation examples. */
  maxLogitDiff: number;
  accuracyBeforeFineTune: number;
  accuracyAfterFineTune: number;
  fineTune: EpochStats[];
}

/**
 * Masks keeping `keepOf(layer, n)` filters of every conv layer, the largest FPGM scores (the
 * smallest Σ_j ‖F_i − F_j‖₂ removed first; ties: lower index removed first, as in
 * `unitMasksAtRatio`, which this equals when keepOf is {@link keepAtRatio}).
 */
export function fpgmKeepMasks(net: Network, keepOf: (layer: string, n: number) => number): UnitMaskResult {
  const drop = new Map<string, Uint8Array>();
  for (const u of fpgmConvUnitScores(net)) {
    const n = u.scores.length;
    const remove = n - keepOf(u.weight.replace(/\.weight$/, ''), n);
    const order = Array.from({ length: n }, (_, j) => j).sort((a, b) => u.scores[a]! - u.scores[b]! || a - b);
    const d = new Uint8Array(n);
    for (const j of order.slice(0, remove)) d[j] = 1;
    drop.set(u.weight, d);
  }
  return masksFromUnitDrops(net, drop);
}

/** FPGM keeping `keepOf(layer, n)` filters of every conv layer, compacted, then fine-tuned (Adam, constant rate) for `epochs`. `net` is unchanged. */
export async function fpgmCompactFineTune(
  net: Network,
  train: Dataset,
  validation: Dataset,
  o: { keepOf: (layer: string, n: number) => number; epochs: number; lr: number; batchSize: number },
  stream: RandomStream,
): Promise<PrunedCompact> {
  const { masks, unitsRemoved } = fpgmKeepMasks(net, o.keepOf);
  const saved = net.getMasks();
  net.setMasks(masks);
  let r: ReturnType<typeof compactNetwork> | undefined;
  try {
    r = compactNetwork(net);
    const diff = maxLogitDiff(net, r.network, validation);
    net.setMasks(saved.size ? saved : null);
    const accuracyBeforeFineTune = meanAccuracy(r.network, validation);
    let fineTune: EpochStats[] = [];
    if (o.epochs > 0) {
      const trainer = new Trainer(r.network, train, { epochs: o.epochs, batchSize: o.batchSize, lr: { name: 'constant', lr: o.lr }, temperature: 1 }, stream);
      try {
        fineTune = await trainer.run({ validation });
      } finally {
        trainer.dispose();
      }
    }
    return {
      network: r.network,
      compaction: r.report,
      unitsRemoved,
      maxLogitDiff: diff,
      accuracyBeforeFineTune,
      accuracyAfterFineTune: o.epochs > 0 ? meanAccuracy(r.network, validation) : accuracyBeforeFineTune,
      fineTune,
    };
  } catch (e) {
    r?.network.dispose();
    throw e;
  } finally {
    net.setMasks(saved.size ? saved : null);
  }
}

// ---------------------------------------------------------------------------------------------
// The inference method.

/** Options of the `dcff` method (`inference.dcff`). */
export interface DcffConfig {
  /** Fraction of each conv layer's filters removed (n − round(ratio·n) kept). */
  ratio: number;
  /** Kept filters per conv layer by name, overriding `ratio` for that layer. */
  keep: Record<string, number>;
  tStart: number;
  tMax: number;
  schedule: DcffSchedule;
  sigmoidK: number;
  /** Training epochs of the DCFF network (null: train.epochs). */
  epochs: number | null;
  /** Also train the dense network (the main model) and prune it by FPGM at the same per-layer ratio. */
  fpgm: boolean;
  fineTuneEpochs: number;
  fineTuneLr: number;
}

/** What {@link fitDcff} measured, for reports and check scripts. */
export interface DcffResult {
  ratio: number;
  kept: Record<string, { before: number; after: number }>;
  dense: { params: number; macs: number };
  compact: { params: number; macs: number };
  /** Fused (training-time) vs compacted network, max |Δlogit| on validation examples. */
  maxLogitDiff: number;
  validationAccuracy: number;
  epochs: DcffEpoch[];
  history: EpochStats[];
  fpgm?: PrunedCompact;
}

const pct = (v: number) => `${(100 * v).toFixed(1)} %`;
const fmtT = (t: number) => (t >= 100 ? t.toFixed(0) : t.toPrecision(3));

/** One line for the report's model table. */
export function describeDcff(base: string, r: DcffResult, o: DcffConfig): string {
  const last = r.epochs.at(-1);
  const changes = Object.keys(r.kept)
    .map((l) => `${l} [${r.epochs.slice(1).map((e) => e.changed[l])}]`)
    .join(', ');
  return [
    `${base}, DCFF fused filters (${Object.entries(r.kept)
      .map(([l, k]) => `${l} ${k.before} → ${k.after}`)
      .join(', ')}), t ${o.tStart} → ${o.tMax} (${o.schedule}), trained from scratch for ${r.history.length} epochs, compacted`,
    `params ${r.dense.params} → ${r.compact.params}`,
    `MACs ${r.dense.macs} → ${r.compact.macs} (${(r.dense.macs / r.compact.macs).toFixed(2)}×)`,
    `fused vs compacted max |Δlogit| ${r.maxLogitDiff.toExponential(1)}`,
    `kept-set changes per epoch ${changes}`,
    `last epoch t ${fmtT(last?.t ?? o.tStart)}, min p_i(i) ${Object.entries(last?.minSelfWeight ?? {})
      .map(([l, v]) => `${l} ${v.toFixed(4)}`)
      .join(', ')}`,
    `val acc ${pct(r.validationAccuracy)}`,
  ].join('; ');
}

/** One line for the FPGM companion. */
export function describeFpgm(base: string, f: PrunedCompact): string {
  const c = f.compaction;
  return [
    `${base}, FPGM with DCFF's filters per conv layer (${Object.entries(f.unitsRemoved)
      .map(([w, n]) => `${w.replace(/\.weight$/, '')} −${n}`)
      .join(', ')}), compacted`,
    `params ${c.params.before} → ${c.params.after}`,
    `MACs ${c.macs.before} → ${c.macs.after} (${c.speedup.toFixed(2)}×)`,
    `masked vs compacted max |Δlogit| ${f.maxLogitDiff.toExponential(1)}`,
    `val acc ${pct(f.accuracyBeforeFineTune)} → ${pct(f.accuracyAfterFineTune)} after ${f.fineTune.length} fine-tuning epochs`,
  ].join('; ');
}

/** The numbers of a {@link DcffResult} without network objects (for metrics.json). */
export function dcffMetrics(r: DcffResult): Record<string, unknown> {
  const { fpgm, history, ...rest } = r;
  return {
    ...rest,
    trainSeconds: history.reduce((a, h) => a + h.seconds, 0),
    epochs: r.epochs,
    ...(fpgm
      ? {
          fpgm: {
            compaction: { params: fpgm.compaction.params, macs: fpgm.compaction.macs, speedup: fpgm.compaction.speedup },
            unitsRemoved: fpgm.unitsRemoved,
            maxLogitDiff: fpgm.maxLogitDiff,
            accuracyBeforeFineTune: fpgm.accuracyBeforeFineTune,
            accuracyAfterFineTune: fpgm.accuracyAfterFineTune,
            fineTuneEpochs: fpgm.fineTune.length,
          },
        }
      : {}),
  };
}

/**
 * Attach the report section (a table of DCFF and FPGM at the same multiply-adds; the runner
 * shows a method's `section` in report.md / report.html and stores its metrics in metrics.json).
 */
function withSection<T extends FitResult & { dcff: DcffResult }>(res: T, o: DcffConfig): T {
  const r = res.dcff;
  const kept = Object.entries(r.kept)
    .map(([l, k]) => `${l} ${k.before} → ${k.after}`)
    .join(', ');
  const table: Record<string, string | number | null>[] = [
    {
      model: o.fpgm ? `dcff-${o.ratio}` : '(this model)',
      method: `DCFF, t ${o.tStart} → ${o.tMax} (${o.schedule}), from scratch`,
      filters: kept,
      params: r.compact.params,
      MACs: r.compact.macs,
      epochs: r.history.length,
      'val acc': pct(r.validationAccuracy),
    },
  ];
  if (r.fpgm) {
    const c = r.fpgm.compaction;
    table.push(
      { model: 'main', method: 'dense (unpruned)', filters: '', params: r.dense.params, MACs: r.dense.macs, epochs: res.history.length, 'val acc': null },
      {
        model: `fpgm-${o.ratio}`,
        method: `FPGM on the dense network, fine-tuned ${r.fpgm.fineTune.length} epochs`,
        filters: kept,
        params: c.params.after,
        MACs: c.macs.after,
        epochs: res.history.length + r.fpgm.fineTune.length,
        'val acc': `${pct(r.fpgm.accuracyBeforeFineTune)} → ${pct(r.fpgm.accuracyAfterFineTune)}`,
      },
    );
  }
  const text = r.fpgm
    ? `DCFF (Lin et al. 2023) trains the compact network from scratch with fused filters; FPGM (He et al. 2019) prunes the trained dense network at the same ` +
      `per-layer ratio, so both compacted networks have the same filters per layer and the same multiply-adds. Test accuracies: the models table.`
    : 'DCFF (Lin et al. 2023) trains the compact network from scratch with fused filters (no FPGM comparison: inference.dcff.fpgm is false). Test accuracy: the models table.';
  (res as unknown as Record<string, unknown>).section = {
    key: 'dcff',
    title: r.fpgm ? 'DCFF against FPGM at the same multiply-adds' : 'DCFF compact network',
    text,
    table,
    metrics: dcffMetrics(r),
  };
  return res;
}

/**
 * The inference method `dcff`: train the fused network from scratch (train.*), compact it (the
 * companion `dcff-<ratio>`); with `fpgm: true` also train the dense network (the main model, on
 * which `pruning.units` criteria such as fpgm are evaluated post hoc) and add `fpgm-<ratio>`: FPGM
 * at the same per-layer ratio, compacted and fine-tuned. Without it the main model is the compacted
 * DCFF network. Trains again from epoch 0 when a run is resumed.
 */
export async function fitDcff(ctx: FitContext): Promise<FitResult & { dcff: DcffResult }> {
  const c = ctx.config;
  const o = (c.inference as unknown as { dcff: DcffConfig }).dcff;
  const keepOf = (layer: string, n: number) => {
    const k = o.keep[layer];
    if (k === undefined) return keepAtRatio(n, o.ratio);
    if (!(Number.isInteger(k) && k >= 1 && k <= n))
      throw new Error(`inference.dcff.keep.${layer}: must be an integer in [1, ${n}] (the layer has ${n} filters), got ${k}`);
    return k;
  };
  const opts = trainOptionsFrom(c);
  const companions: NonNullable<FitResult['companions']> = [];
  let dense: Network | undefined;
  let fused: Network | undefined;
  try {
    fused = dcffNetworkFor(c, ctx.train, keepOf, ctx.stream.fork('dcff'));
    for (const name of Object.keys(o.keep))
      if (!dcffLayers(fused).some((l) => l.name === name))
        throw new Error(
          `inference.dcff.keep: "${name}" is not a conv layer of ${c.model.arch}; allowed: ${dcffLayers(fused)
            .map((l) => l.name)
            .join(', ')}`,
        );
    const reference = pointNetworkFor(c, ctx.train, ctx.stream);
    const denseCost = networkCost(reference);
    if (o.fpgm) dense = reference;
    else reference.dispose();
    const tOpts: TemperatureOptions = { tStart: o.tStart, tMax: o.tMax, schedule: o.schedule, k: o.sigmoidK };
    const run = await trainDcff(
      fused,
      ctx.train,
      { ...opts, epochs: o.epochs ?? opts.epochs },
      tOpts,
      ctx.stream.fork('dcff').fork('train'),
      o.fpgm ? { validation: ctx.validation } : ctx.hooks,
    );
    const kept = Object.fromEntries(dcffLayers(fused).map((l) => [l.name, { before: l.geometry.cout, after: l.keep }]));
    const fusedRef = fused;
    // Compare the fused network with its compacted copy before the fused layers are gone.
    const probe = new Network(
      fused.layers.map((l) => (l instanceof DcffConv2d ? l.compact() : l)),
      fused.inputShape,
      fused.numClasses,
      'probe',
    );
    const diff = maxLogitDiff(fusedRef, probe, ctx.validation);
    for (const l of probe.layers) if (l instanceof Conv2d) l.dispose();
    const compact = compactDcff(fused);
    fused = undefined;
    const result: DcffResult = {
      ratio: o.ratio,
      kept,
      dense: denseCost,
      compact: networkCost(compact),
      maxLogitDiff: diff,
      validationAccuracy: meanAccuracy(compact, ctx.validation),
      epochs: run.epochs,
      history: run.history,
    };
    const base = dense?.description ?? compact.description.replace('dcff fused conv, dense, point estimate', 'dense, point estimate');
    const described = new Network(compact.layers, compact.inputShape, compact.numClasses, describeDcff(base, result, o));
    if (!dense) return withSection({ posterior: new NetworkPosterior('dcff', described), history: run.history, dcff: result }, o);
    companions.push({ name: `dcff-${o.ratio}`, posterior: new NetworkPosterior('dcff', described) });
    const trainer = new Trainer(dense, ctx.train, opts, ctx.stream.fork('train'));
    let history: EpochStats[];
    try {
      history = await trainer.run(ctx.hooks);
    } finally {
      trainer.dispose();
    }
    const f = await fpgmCompactFineTune(
      dense,
      ctx.train,
      ctx.validation,
      { keepOf, epochs: o.fineTuneEpochs, lr: o.fineTuneLr, batchSize: c.train.batchSize },
      ctx.stream.fork(`fpgm-finetune-${o.ratio}`),
    );
    result.fpgm = f;
    // Method 'fpgm', not 'map': a stored 'map' model is rebuilt as the config's full-width network, which the compacted one is not.
    const fd = new Network(f.network.layers, f.network.inputShape, f.network.numClasses, describeFpgm(dense.description, f));
    companions.push({ name: `fpgm-${o.ratio}`, posterior: new NetworkPosterior('fpgm', fd) });
    return withSection({ posterior: new NetworkPosterior('map', dense), history, companions, dcff: result }, o);
  } catch (e) {
    fused?.dispose();
    dense?.dispose();
    for (const p of companions) p.posterior.dispose();
    throw e;
  }
}
