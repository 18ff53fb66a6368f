/**
 * Shared-work evaluation of one network posterior at many operating points (issue 15, item 3).
 *
 * A pruning curve evaluates the same posterior under dozens of masks, each on the
 * evaluation split, the validation split (temperature scaling) and every OOD / shifted set,
 * with an S-sample Monte Carlo predictive. Done point by point through the layers' own
 * forward passes, most of that time went to drawing the same kind of noise again for every
 * point (a third) and to matrix products over weights the masks remove. This engine keeps,
 * for one posterior and one curve:
 *
 * - the data of every set as tensors (inputs and their squares), made once;
 * - the LRT noise, drawn once per batch, sample and layer and shared by every operating
 *   point and every set (common random numbers: every point sees the same ε, so the
 *   differences between points carry no Monte Carlo noise of their own). The draws are those
 *   of a fresh copy of one stream, in the order {@link NetworkPosterior.predictSamples}
 *   draws them (batch by batch, sample by sample, layer by layer), so the result equals the
 *   plain per-point evaluation with that stream (test/mc-engine.test.ts);
 * - per operating point, compacted weights: rows of a weight whose inputs the mask removes
 *   entirely, and columns whose outputs no later layer reads, are left out of the products
 *   (exact: they contribute exact zeros or nothing), so a 98 %-sparse network multiplies far
 *   smaller matrices;
 * - the first LRT layer's moments once per batch for all S samples, and the later layers
 *   for all S samples in one product ([S·n, K] × [K, N]);
 * - the posterior-mean network's logits per set, computed once per point for the mean row,
 *   temperature scaling and risk control together;
 * - a sparse path for points that keep little (src/experiment/sparse-path.ts: kept weights only,
 *   activations transposed, one SIMD module), and on the dense path the LRT draws, ReLU and squares
 *   in one SIMD pass (src/nn/fused/lrt-sample.ts);
 * - copies of the engine for evaluation workers ({@link SharedEvaluator.spec} / {@link SharedEvaluator.fromSpec},
 *   src/experiment/eval-pool.ts) that compute exactly what the original computes.
 *
 * Covers networks made of {@link LrtDense} and {@link Dense} layers with elementwise
 * activations (the MLPs, LeNet-300-100) under a {@link NetworkPosterior} that keeps the
 * default predictive; {@link SharedEvaluator.create} returns null for anything else and the
 * caller evaluates point by point.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { LrtDense } from '../bayes/lrt-dense.js';
import type { Dataset } from '../data/dataset.js';
import { NetworkPosterior } from '../inference/network-posterior.js';
import type { Posterior } from '../inference/posterior.js';
import { Activation, Flatten, type ActivationName } from '../nn/activations.js';
import { Dense } from '../nn/dense.js';
import type { RandomStream } from '../random.js';
import { lrtSample } from '../nn/fused/lrt-sample.js';
import { softmaxRows } from './evaluate.js';
import { WasmArenaFull } from '../kernels/sparse-lrt.js';
import { SPARSE_PATH_DENSITY, SparsePath, type SparseLayer } from './sparse-path.js';

/** A weight op's data: what the engine multiplies (cloneable, so a copy in another thread gets it as is). */
interface WeightData {
  kind: 'weight';
  lrt: boolean;
  name: string;
  inF: number;
  outF: number;
  theta: Float32Array;
  sigma2: Float32Array | null;
  bias: Float32Array;
  noiseIndex: number;
}

type Op =
  | (WeightData & {
      /** The weight's current mask (the network's, or a worker's copy of it). */
      mask: () => Float32Array | null;
      /** The layer's own LRT draw (for the noise), or null where the noise is given ({@link SharedEvaluator.fromSpec}). */
      draw: LrtDense['lrtDraw'] | null;
    })
  | { kind: 'act'; layer: Activation };

/** What a copy of an engine in another thread needs (src/experiment/eval-pool.ts): weights, layout and settings; all cloneable. */
export interface EngineSpec {
  ops: (WeightData | { kind: 'act'; name: string; fn: ActivationName })[];
  bayesian: boolean;
  samples: number;
  batchSize: number;
  sparseFirstLayer: number;
  sparsePathDensity: number;
}

/** One weight op compacted for an operating point. */
interface PreparedLayer {
  /** Input rows read, in the order of the compacted weight's rows (null = all, in order). */
  rows: Int32Array | null;
  /** Output columns computed, live ones first, then dead ones (null = all, in order). */
  cols: Int32Array | null;
  /** Live output columns (some kept incoming weight): the product's width; the rest are dead (no kept input). */
  live: number;
  /** [rows, live] weights (θ and σ² with the mask applied) and the live columns' bias. */
  theta: tf.Tensor2D;
  sigma2: tf.Tensor2D | null;
  bias: tf.Tensor1D;
  /** The dead columns' bias (their pre-activation is the bias exactly, with variance 0), or null. */
  deadBias: Float32Array | null;
  /** The first layer, when it is sparse enough: its kept weights by input row (CSR over the original inputs). */
  sparse: { rowPtr: Int32Array; col: Int32Array; theta: Float32Array; sigma2: Float32Array | null; bias: Float32Array } | null;
}

/** Per operating point: the compacted weights of every weight op, and the inputs and noise gathered for them. */
interface Prepared {
  masks: (Float32Array | null)[];
  layers: PreparedLayer[];
  /** Inputs restricted to the first layer's kept rows, per batch of a set (when rows are dropped). */
  inputs: Map<Batch, { x: tf.Tensor2D; x2: tf.Tensor2D | null }>;
  /** The first layer's moments per batch (live columns, bias included): made once per point, shared by the MC predictive and the mean network. */
  first: Map<Batch, { mean: tf.Tensor2D; variance: tf.Tensor2D | null }>;
  /** Every live column of the first layer keeps all its weights: its moments are those columns of the unmasked layer's (the live columns' indices). */
  fromFull: Int32Array | null;
  /** Noise restricted to kept columns, by `batch/rows/layer` (when columns are dropped). */
  eps: Map<string, tf.Tensor2D>;
  /** Constant blocks of dead columns by `layer/rows/kind`. */
  dead: Map<string, tf.Tensor2D>;
  meanLogits: Map<Dataset, Float32Array>;
  /** The point's layers for the sparse path (src/experiment/sparse-path.ts) when it is cheaper there, else null. */
  sparse: SparseLayer[] | null;
}

/**
 * The first layer may run on the host as a sparse product (skipping the input's zeros) when its kept
 * weights are fewer than this fraction of the compacted dense product; each batch then takes the host
 * product only where {@link hostIsCheaper}. A threshold above 1 forces the host product (tests).
 */
const SPARSE_FIRST_LAYER = 0.1;

/**
 * Costs of the two first-layer products, in ns on the 2-core dev machine (CPU time, measured in one
 * process, 2026-11-30): the host sparse product ~3.5 ns per multiply-add plus ~10 ns per nonzero input
 * it visits; the backend's SIMD gemm ~0.06 ns per multiply-add.
 */
const HOST_NS_PER_MAC = 3.5;
const HOST_NS_PER_INPUT = 10;
const GEMM_NS_PER_MAC = 0.06;

/**
 * A·B by tfjs's matMul. (The project's SIMD gemm, src/nn/fused/matmul.ts, is 10–20 % faster on these
 * shapes in isolation, but measured in this engine's real workload it was slower: 15.6 s against
 * 12.4 s of products for one quickstart model, 2026-11-30, same load; XNNPACK keeps the packed
 * weights of a point across its batches.)
 */
function product(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return tf.matMul(a, b);
}

/** Whether the sparse host product of the first layer is estimated cheaper than the backend's dense compacted product for this batch. */
function hostIsCheaper(L: PreparedLayer, batch: Batch): boolean {
  const sp = L.sparse!;
  const m = batch.size;
  const d = batch.host.length / m;
  const dense = GEMM_NS_PER_MAC * m * (L.rows ? L.rows.length : d) * L.live;
  if (!batch.nonzero) {
    // Per input feature, the examples of the batch where it is nonzero (once per batch, for every point).
    batch.nonzero = new Int32Array(d);
    for (let i = 0; i < m; i++) {
      const o = i * d;
      for (let f = 0; f < d; f++) if (batch.host[o + f] !== 0) batch.nonzero[f]!++;
    }
  }
  let host = 0;
  for (let f = 0; f < d; f++) {
    const len = sp.rowPtr[f + 1]! - sp.rowPtr[f]!;
    if (len > 0) host += batch.nonzero[f]! * (HOST_NS_PER_INPUT + HOST_NS_PER_MAC * len);
  }
  return host < dense;
}

interface Batch {
  index: number;
  start: number;
  size: number;
  /** Inputs [size, d] on the host and as a tensor, with their squares (first LRT layer's variance). */
  host: Float32Array;
  x: tf.Tensor2D;
  x2: tf.Tensor2D | null;
  /** Per input feature, how many examples of the batch have it nonzero (made when first needed). */
  nonzero?: Int32Array;
}

/** Work counters (for the benchmark's report). */
export interface EngineStats {
  /** Operating points prepared (mask sets seen). */
  points: number;
  /** Batches through the S-sample predictive / the mean network. */
  mcPasses: number;
  meanPasses: number;
  /** Standard normal values drawn (once for all points). */
  noiseValues: number;
  /** Mean over points of the compacted network's multiply-adds per example over the dense network's. */
  macFraction: number;
  /** Points whose first layer may run as a sparse product on the host (kept weights below the density threshold). */
  sparseFirstLayer: number;
  /** Batches whose first layer ran as that host product (where its cost model beats the backend's dense product, or always with a threshold > 1). */
  hostFirstBatches: number;
  /** Dead columns (no kept incoming weight, pre-activation = bias) summed over points and layers. */
  deadColumns: number;
  /** Points whose first layer's moments were gathered from the unmasked layer's (every live column keeps all its weights). */
  firstFromFull: number;
  /** Points evaluated by the sparse path (kept weights only; src/experiment/sparse-path.ts). */
  sparsePoints: number;
  /** Times the sparse path ran out of its memory and the engine went back to the dense path. */
  sparseFallbacks: number;
}

export class SharedEvaluator {
  private readonly ops: Op[];
  private readonly weightOps: Extract<Op, { kind: 'weight' }>[];
  private readonly lrtOps: Extract<Op, { kind: 'weight' }>[];
  private readonly sets = new Map<Dataset, Batch[]>();
  /** By `batch/rows`: per LRT layer, noise [S, rows, units] on the host (sample-major). */
  private readonly noise = new Map<string, Float32Array[]>();
  /** Full-width noise tensors [S·m, units], by `batch/rows/layer`, shared by every point. */
  private readonly fullEps = new Map<string, tf.Tensor2D>();
  private readonly seeds: number[] = [];
  /** The unmasked first layer's weights, and its moments per batch (all columns, bias included): made when a point keeps whole columns. */
  private fullWeights: { theta: tf.Tensor2D; sigma2: tf.Tensor2D | null; bias: tf.Tensor1D } | null = null;
  private readonly full = new Map<Batch, { mean: Float32Array; variance: Float32Array | null }>();
  private prepared: Prepared | null = null;
  private readonly bayesian: boolean;
  private readonly denseMacs: number;
  private macSum = 0;
  private readonly counters = {
    points: 0,
    mcPasses: 0,
    meanPasses: 0,
    noiseValues: 0,
    sparseFirstLayer: 0,
    hostFirstBatches: 0,
    deadColumns: 0,
    firstFromFull: 0,
    sparsePoints: 0,
    sparseFallbacks: 0,
  };
  /** The sparse path (made at the first point that takes it), null until then or where it cannot run. */
  private sparsePath: SparsePath | null | undefined;

  private constructor(
    ops: Op[],
    bayesian: boolean,
    /** Samples S of the MC predictive. */
    readonly samples: number,
    private readonly seedStream: RandomStream,
    readonly batchSize: number,
    private readonly sparseFirstLayer: number,
    /** Points whose kept weights' work is below this fraction of the dense path's take the sparse path (0: never). */
    private readonly sparsePathDensity: number,
  ) {
    this.ops = ops;
    this.weightOps = ops.filter((o): o is Extract<Op, { kind: 'weight' }> => o.kind === 'weight');
    this.lrtOps = this.weightOps.filter((o) => o.lrt);
    this.bayesian = bayesian && samples > 0;
    this.denseMacs = this.weightOps.reduce((a, o) => a + o.inF * o.outF, 0);
    // The sparse path covers LRT layers with ReLU (or nothing) between them.
    let eligible = this.bayesian && this.lrtOps.length === this.weightOps.length && ops[0]!.kind === 'weight';
    for (let i = 1; i < ops.length; i++) {
      const o = ops[i]!;
      if (o.kind === 'act' && (o.layer.fn !== 'relu' || ops[i - 1]!.kind === 'act')) eligible = false;
    }
    this.reluAfter = this.weightOps.map((w) => ops[ops.indexOf(w) + 1]?.kind === 'act');
    this.sparseEligible = eligible && sparsePathDensity > 0;
  }

  private readonly reluAfter: boolean[];
  private sparseEligible: boolean;
  /** Memory the sparse path may use (bytes; tests set it small to exercise the fallback). */
  sparseMemoryBytes = 3 * 2 ** 30;

  /** The sparse path ran out of memory: back to the dense path for good (the current point is prepared again). */
  private leaveSparsePath(e: unknown): void {
    if (!(e instanceof WasmArenaFull)) throw e;
    this.sparseEligible = false;
    this.sparsePath = null;
    this.release();
    this.counters.sparseFallbacks++;
  }

  /**
   * An engine for `posterior`, drawing its MC noise from `stream` (pass a fresh fork: the
   * draws are those of `posterior.predictSamples` with a fresh copy of that fork), or null
   * when the posterior is not a plain network posterior of dense layers and activations.
   */
  static create(
    posterior: Posterior,
    samples: number,
    stream: RandomStream,
    batchSize: number,
    /** The density of the compacted first layer below which it runs as a sparse host product (default {@link SPARSE_FIRST_LAYER}). */
    sparseFirstLayer = SPARSE_FIRST_LAYER,
    /** Work fraction below which a point takes the sparse path (default {@link SPARSE_PATH_DENSITY}; 0 never, above 1 always). */
    sparsePathDensity = SPARSE_PATH_DENSITY,
  ): SharedEvaluator | null {
    if (!(posterior instanceof NetworkPosterior) || posterior.predictSamples !== NetworkPosterior.prototype.predictSamples) return null;
    const net = posterior.network;
    const ops: Op[] = [];
    let noiseIndex = 0;
    let width = net.inputShape.reduce((a, b) => a * b, 1);
    for (const [i, l] of net.layers.entries()) {
      const ctor: unknown = l.constructor;
      if (ctor === Flatten && i === 0) continue;
      if (ctor === Activation) ops.push({ kind: 'act', layer: l as Activation });
      else if (ctor === LrtDense || ctor === Dense) {
        const lrt = ctor === LrtDense;
        const [inF, outF] = l.weightShape as [number, number];
        if (inF !== width) return null;
        width = outF;
        const d = l as LrtDense | Dense;
        const theta = ((lrt ? (d as LrtDense).theta : (d as Dense).w).dataSync() as Float32Array).slice();
        const sigma2 = lrt ? unmaskedVariances(d as LrtDense) : null;
        const bias = (d.b.dataSync() as Float32Array).slice();
        ops.push({
          kind: 'weight',
          lrt,
          name: `${l.name}.weight`,
          inF,
          outF,
          theta,
          sigma2,
          bias,
          mask: () => d.getMask(),
          draw: lrt ? (d as LrtDense).lrtDraw.bind(d) : null,
          noiseIndex: lrt ? noiseIndex++ : -1,
        });
      } else return null;
    }
    if (net.inputShape.length !== 1 && net.layers[0]?.constructor !== Flatten) return null;
    if (!ops.some((o) => o.kind === 'weight') || ops.at(-1)!.kind !== 'weight') return null;
    return new SharedEvaluator(ops, net.isBayesian, samples, stream, batchSize, sparseFirstLayer, sparsePathDensity);
  }

  /** This engine's weights, layout and settings, for a copy in another thread. */
  spec(): EngineSpec {
    return {
      ops: this.ops.map((o) =>
        o.kind === 'act'
          ? { kind: 'act', name: o.layer.name, fn: o.layer.fn }
          : { kind: 'weight', lrt: o.lrt, name: o.name, inF: o.inF, outF: o.outF, theta: o.theta, sigma2: o.sigma2, bias: o.bias, noiseIndex: o.noiseIndex },
      ),
      bayesian: this.bayesian,
      samples: this.samples,
      batchSize: this.batchSize,
      sparseFirstLayer: this.sparseFirstLayer,
      sparsePathDensity: this.sparsePathDensity,
    };
  }

  /**
   * A copy of an engine from its {@link spec}: masks read from `masks()` (one per weight op), the
   * noise of every batch key given by `noise` (as the original's {@link noiseFor}), so it computes
   * exactly what the original computes under the same masks.
   */
  static fromSpec(spec: EngineSpec, masks: () => (Float32Array | null)[], noise: (key: string) => Float32Array[] | undefined): SharedEvaluator {
    let w = 0;
    const ops: Op[] = spec.ops.map((o): Op => {
      if (o.kind === 'act') return { kind: 'act', layer: new Activation(o.name, o.fn) };
      const i = w++;
      return { ...o, mask: () => masks()[i] ?? null, draw: null };
    });
    const e = new SharedEvaluator(
      ops,
      spec.bayesian,
      spec.samples,
      null as unknown as RandomStream,
      spec.batchSize,
      spec.sparseFirstLayer,
      spec.sparsePathDensity,
    );
    e.givenNoise = noise;
    return e;
  }

  /** Noise given to a copy made by {@link fromSpec} (by `batch/rows` key). */
  private givenNoise: ((key: string) => Float32Array[] | undefined) | null = null;

  /** The host noise of every batch of these sets (by `batch/rows` key, as a copy made by {@link fromSpec} takes it). */
  noiseFor(sets: Dataset[]): Map<string, Float32Array[]> {
    const out = new Map<string, Float32Array[]>();
    if (!this.bayesian) return out;
    for (const ds of sets)
      for (let s = 0, b = 0; s < ds.n; s += this.batchSize, b++) {
        const m = Math.min(this.batchSize, ds.n - s);
        out.set(`${b}/${m}`, this.hostNoise(b, m));
      }
    return out;
  }

  /**
   * Bytes the engine holds for a set of `rows` examples: the set's inputs and, for a sampled
   * predictive, its noise on the host, as a shared tensor and gathered for the current point.
   */
  bytesFor(rows: number): number {
    const inputs = rows * this.weightOps[0]!.inF * 4 * 3;
    if (!this.bayesian) return inputs;
    return inputs + 3 * 4 * this.samples * rows * this.lrtOps.reduce((a, o) => a + o.outF, 0);
  }

  /** The masks the engine sees now, one per weight op (what {@link fromSpec}'s `masks` gives a copy). */
  currentMasks(): (Float32Array | null)[] {
    return this.weightOps.map((o) => o.mask());
  }

  /** Work done so far. */
  get stats(): EngineStats {
    return { ...this.counters, macFraction: this.counters.points ? this.macSum / this.counters.points : 0 };
  }

  private batches(ds: Dataset): Batch[] {
    let c = this.sets.get(ds);
    if (c) return c;
    const d = ds.x.length / ds.n;
    const squares = this.bayesian && this.weightOps[0]!.lrt;
    c = [];
    for (let s = 0, index = 0; s < ds.n; s += this.batchSize, index++) {
      const size = Math.min(this.batchSize, ds.n - s);
      const host = ds.x.subarray(s * d, (s + size) * d);
      const x = tf.keep(tf.tensor2d(host, [size, d]));
      c.push({ index, start: s, size, host, x, x2: squares ? tf.keep(tf.square(x)) : null });
    }
    this.sets.set(ds, c);
    return c;
  }

  /**
   * Host noise of batch `b` with `rows` rows: per LRT layer [S, rows, units] (sample-major), drawn
   * once for every point by the layer's own draw (whatever generator the backend uses) with the
   * seeds a fresh copy of the stream gives in {@link NetworkPosterior.predictSamples}'s order.
   */
  private hostNoise(b: number, rows: number): Float32Array[] {
    const key = `${b}/${rows}`;
    const have = this.noise.get(key);
    if (have) return have;
    if (this.givenNoise) {
      const given = this.givenNoise(key);
      if (!given) throw new Error(`engine copy: no noise was given for batch ${key}`);
      this.noise.set(key, given);
      return given;
    }
    const S = this.samples;
    const L = this.lrtOps.length;
    while (this.seeds.length < (b + 1) * S * L) this.seeds.push(this.seedStream.nextSeed());
    const perLayer = this.lrtOps.map((o, l) => {
      const buf = new Float32Array(S * rows * o.outF);
      const draw = o.draw!;
      tf.tidy(() => {
        const zero = tf.zeros([rows, o.outF]);
        const one = tf.ones([rows, o.outF]);
        for (let s = 0; s < S; s++) {
          const seed = this.seeds[(b * S + s) * L + l]!;
          // 0 + 1·ε = ε exactly: the layer's LRT draw with mean 0 and std 1 is its noise.
          const eps = draw(zero, one, { nextSeed: () => seed } as RandomStream);
          buf.set(eps.dataSync() as Float32Array, s * rows * o.outF);
        }
      });
      this.counters.noiseValues += buf.length;
      return buf;
    });
    this.noise.set(key, perLayer);
    return perLayer;
  }

  /** Noise [S·m, kept columns] of LRT layer `l` for batch `b` with `m` rows (sample-major). */
  private epsFor(p: Prepared, b: number, m: number, l: number, cols: Int32Array | null): tf.Tensor2D {
    const key = `${b}/${m}/${l}`;
    const cache = cols ? p.eps : this.fullEps;
    const hit = cache.get(key);
    if (hit) return hit;
    const src = this.hostNoise(b, m)[l]!;
    const units = this.lrtOps[l]!.outF;
    const S = this.samples;
    let out = src;
    if (cols) {
      const nc = cols.length;
      out = new Float32Array(S * m * nc);
      for (let r = 0; r < S * m; r++) {
        const o = r * units;
        const q0 = r * nc;
        for (let q = 0; q < nc; q++) out[q0 + q] = src[o + cols[q]!]!;
      }
    }
    const t = tf.keep(tf.tensor2d(out, [S * m, cols ? cols.length : units]));
    cache.set(key, t);
    return t;
  }

  /** Compacted weights for the masks currently set on the network (rebuilt when they change). */
  private prepare(): Prepared {
    const masks = this.weightOps.map((o) => o.mask());
    if (this.prepared?.masks.every((m, i) => m === masks[i])) return this.prepared;
    this.release();
    const n = this.weightOps.length;
    // Input rows each weight reads: rows with at least one kept entry (a dropped row contributes exact zeros).
    const rows: (Int32Array | null)[] = this.weightOps.map((o, i) => keptRows(masks[i]!, o.inF, o.outF));
    // Output columns of each weight: those the next weight reads (activations between are elementwise), live ones
    // (with a kept incoming weight) first; a dead column's pre-activation is its bias, exactly, with variance 0.
    const cols: { order: Int32Array | null; live: number }[] = this.weightOps.map((o, i) => {
      const read = i + 1 < n ? rows[i + 1]! : null;
      const m = masks[i]!;
      // The last layer's columns are the classes: all kept, in order.
      if (!m || i + 1 === n) return { order: read, live: read ? read.length : o.outF };
      const alive = liveColumns(m, o.inF, o.outF);
      const all = read ?? Int32Array.from({ length: o.outF }, (_, j) => j);
      const live = all.filter((j) => alive[j] === 1);
      if (live.length === all.length) return { order: read, live: all.length };
      const order = Int32Array.from([...live, ...all.filter((j) => alive[j] === 0)]);
      return { order, live: live.length };
    });
    let macs = 0;
    const kept: number[] = [];
    const layers = this.weightOps.map((o, i): PreparedLayer => {
      const r = i === 0 ? rows[0]! : cols[i - 1]!.order;
      const { order: c, live } = cols[i]!;
      const m = masks[i]!;
      const nr = r ? r.length : o.inF;
      const th = new Float32Array(nr * live);
      const s2 = o.sigma2 ? new Float32Array(nr * live) : null;
      let nnz = 0;
      for (let a = 0; a < nr; a++) {
        const src = (r ? r[a]! : a) * o.outF;
        for (let q = 0; q < live; q++) {
          const j = src + (c ? c[q]! : q);
          const keep = m ? m[j]! : 1;
          if (keep !== 0) nnz++;
          th[a * live + q] = o.theta[j]! * keep;
          if (s2) s2[a * live + q] = o.sigma2![j]! * keep;
        }
      }
      kept.push(nnz);
      const bias = c ? Float32Array.from(c, (j) => o.bias[j]!) : o.bias;
      const sparse = i === 0 && live > 0 && !fullColumns(m, o, c, live) && nnz < this.sparseFirstLayer * nr * live ? csr(o, m, live, c) : null;
      macs += sparse ? nnz : nr * live;
      if (sparse) this.counters.sparseFirstLayer++;
      this.counters.deadColumns += bias.length - live;
      return {
        rows: r,
        cols: c,
        live,
        theta: tf.keep(tf.tensor2d(th, [nr, live])),
        sigma2: s2 ? tf.keep(tf.tensor2d(s2, [nr, live])) : null,
        bias: tf.keep(tf.tensor1d(bias.subarray(0, live))),
        deadBias: live < bias.length ? bias.slice(live) : null,
        sparse,
      };
    });
    const l0 = layers[0]!;
    let fromFull: Int32Array | null = null;
    if (l0.live > 0 && fullColumns(masks[0]!, this.weightOps[0]!, l0.cols, l0.live)) {
      fromFull = l0.cols ? l0.cols.slice(0, l0.live) : Int32Array.from({ length: l0.live }, (_, j) => j);
      this.counters.firstFromFull++;
    }
    let sparse: SparseLayer[] | null = null;
    if (this.sparseEligible) {
      // Work per example: the first layer's moments once, the later layers per sample.
      const S = this.samples;
      let sparseWork = 0;
      let denseWork = 0;
      layers.forEach((L, i) => {
        const per = i === 0 ? 1 : S;
        sparseWork += kept[i]! * per;
        if (!(i === 0 && fromFull)) denseWork += (L.rows ? L.rows.length : this.weightOps[i]!.inF) * L.live * per;
      });
      if (sparseWork < this.sparsePathDensity * denseWork) {
        try {
          this.sparsePath ??= SparsePath.create(
            this.weightOps.map((o) => ({ inF: o.inF, outF: o.outF })),
            S,
            this.batchSize,
            this.sparseMemoryBytes,
          );
          if (this.sparsePath) {
            sparse = this.weightOps.map((o, i) => sparseLayer(o, masks[i]!, rows[0]!, i === 0 ? null : cols[i - 1]!.order, cols[i]!, i, this.reluAfter[i]!));
            this.sparsePath.setPoint(sparse);
            this.counters.sparsePoints++;
          }
        } catch (e) {
          if (!(e instanceof WasmArenaFull)) throw e;
          this.sparseEligible = false;
          this.sparsePath = null;
          this.counters.sparseFallbacks++;
          sparse = null;
        }
      }
    }
    this.prepared = { masks, layers, inputs: new Map(), first: new Map(), fromFull, eps: new Map(), dead: new Map(), meanLogits: new Map(), sparse };
    this.counters.points++;
    this.macSum += macs / this.denseMacs;
    return this.prepared;
  }

  /** The first weight layer's input for one batch: x (and x²) restricted to the kept rows. */
  private inputs(p: Prepared, batch: Batch): { x: tf.Tensor2D; x2: tf.Tensor2D | null } {
    const r = p.layers[0]!.rows;
    if (!r) return { x: batch.x, x2: batch.x2 };
    const hit = p.inputs.get(batch);
    if (hit) return hit;
    const d = batch.host.length / batch.size;
    const g = new Float32Array(batch.size * r.length);
    for (let i = 0; i < batch.size; i++) {
      const o = i * d;
      const q0 = i * r.length;
      for (let q = 0; q < r.length; q++) g[q0 + q] = batch.host[o + r[q]!]!;
    }
    const x = tf.keep(tf.tensor2d(g, [batch.size, r.length]));
    const v = { x, x2: batch.x2 ? tf.keep(tf.square(x)) : null };
    p.inputs.set(batch, v);
    return v;
  }

  /** The sparse first layer's mean x·θ + b and variance (x∘x)·σ² (live columns) for one batch, on the host. */
  private sparseFirst(p: Prepared, batch: Batch, variance: boolean): { mean: tf.Tensor2D; variance: tf.Tensor2D | null } {
    const L = p.layers[0]!;
    const sp = L.sparse!;
    const m = batch.size;
    const d = batch.host.length / m;
    const nc = L.live;
    const mean = new Float32Array(m * nc);
    const vari = variance && sp.sigma2 ? new Float32Array(m * nc) : null;
    const x = batch.host;
    for (let i = 0; i < m; i++) {
      const xo = i * d;
      const oo = i * nc;
      for (let f = 0; f < d; f++) {
        const a = sp.rowPtr[f]!;
        const e = sp.rowPtr[f + 1]!;
        if (a === e) continue;
        const xv = x[xo + f]!;
        if (xv === 0) continue;
        for (let q = a; q < e; q++) mean[oo + sp.col[q]!] += xv * sp.theta[q]!;
        if (vari) {
          const x2 = Math.fround(xv * xv);
          for (let q = a; q < e; q++) vari[oo + sp.col[q]!] += x2 * sp.sigma2![q]!;
        }
      }
      for (let q = 0; q < nc; q++) mean[oo + q] += sp.bias[q]!;
    }
    return { mean: tf.tensor2d(mean, [m, nc]), variance: vari ? tf.tensor2d(vari, [m, nc]) : null };
  }

  /**
   * The first weight layer's mean x·θ + b and (with `variance`) variance (x∘x)·σ² over its live
   * columns for one batch, cached per point and batch: the mean network on the evaluation split
   * reuses what the MC predictive computed. Where every live column keeps all its weights (unit
   * pruning, the dense point) they are gathered from the unmasked layer's moments, computed once
   * per batch for all points, instead of multiplied again.
   */
  private firstMoments(p: Prepared, batch: Batch, variance: boolean): { mean: tf.Tensor2D; variance: tf.Tensor2D | null } {
    const hit = p.first.get(batch);
    variance = variance && this.weightOps[0]!.lrt;
    if (hit && (hit.variance || !variance)) return hit;
    const L = p.layers[0]!;
    type M = { mean: tf.Tensor2D; variance: tf.Tensor2D | null };
    const v = tf.tidy((): tf.TensorContainer => {
      if (p.fromFull) {
        // Columns gathered on the host (tfjs-wasm's gather costs ~10× as much per element here).
        const full = this.fullFirst(batch, variance);
        const cols = p.fromFull;
        const out = this.weightOps[0]!.outF;
        const m = batch.size;
        const nc = cols.length;
        const pick = (src: Float32Array) => {
          const g = new Float32Array(m * nc);
          for (let i = 0; i < m; i++) {
            const o = i * out;
            const q0 = i * nc;
            for (let q = 0; q < nc; q++) g[q0 + q] = src[o + cols[q]!]!;
          }
          return tf.tensor2d(g, [m, nc]);
        };
        return { mean: hit ? hit.mean.clone() : pick(full.mean), variance: full.variance ? pick(full.variance) : null } as unknown as tf.TensorContainer;
      }
      if (L.sparse && (this.sparseFirstLayer > 1 || hostIsCheaper(L, batch))) {
        this.counters.hostFirstBatches++;
        return this.sparseFirst(p, batch, variance) as unknown as tf.TensorContainer;
      }
      const inp = this.inputs(p, batch);
      return {
        mean: hit ? hit.mean.clone() : (tf.add(product(inp.x, L.theta), L.bias) as tf.Tensor2D),
        variance: variance && L.sigma2 ? (product(inp.x2 ?? tf.square(inp.x), L.sigma2) as tf.Tensor2D) : null,
      } as unknown as tf.TensorContainer;
    }) as unknown as M;
    tf.keep(v.mean);
    if (v.variance) tf.keep(v.variance);
    if (hit) tf.dispose([hit.mean, ...(hit.variance ? [hit.variance] : [])]);
    p.first.set(batch, v);
    return v;
  }

  /** The unmasked first layer's moments for one batch, all columns (shared by every point that keeps whole columns). */
  private fullFirst(batch: Batch, variance: boolean): { mean: Float32Array; variance: Float32Array | null } {
    const hit = this.full.get(batch);
    if (hit && (hit.variance || !variance)) return hit;
    const op = this.weightOps[0]!;
    if (!this.fullWeights)
      this.fullWeights = {
        theta: tf.keep(tf.tensor2d(op.theta, [op.inF, op.outF])),
        sigma2: op.sigma2 ? tf.keep(tf.tensor2d(op.sigma2, [op.inF, op.outF])) : null,
        bias: tf.keep(tf.tensor1d(op.bias)),
      };
    const W = this.fullWeights;
    const host = (f: () => tf.Tensor) => {
      const t = tf.tidy(f);
      const a = t.dataSync() as Float32Array;
      t.dispose();
      return a;
    };
    const v = {
      mean: hit ? hit.mean : host(() => tf.add(product(batch.x, W.theta), W.bias)),
      variance: variance && W.sigma2 ? host(() => product(batch.x2 ?? tf.square(batch.x), W.sigma2!)) : null,
    };
    this.full.set(batch, v);
    return v;
  }

  /** A dead columns' block: their bias on every row, or zeros (their variance). */
  private deadBlock(p: Prepared, w: number, rows: number, kind: 'bias' | 'zero'): tf.Tensor2D {
    const key = `${w}/${rows}/${kind}`;
    const hit = p.dead.get(key);
    if (hit) return hit;
    const b = p.layers[w]!.deadBias!;
    const out = new Float32Array(rows * b.length);
    if (kind === 'bias') for (let i = 0; i < rows; i++) out.set(b, i * b.length);
    const t = tf.keep(tf.tensor2d(out, [rows, b.length]));
    p.dead.set(key, t);
    return t;
  }

  /**
   * Mean (and variance) of weight op `w`'s pre-activation for the input `h` (`h2` = h∘h when at hand),
   * over its compacted columns (live, then dead).
   */
  private moments(
    p: Prepared,
    w: number,
    h: tf.Tensor2D,
    h2: tf.Tensor2D | null,
    batch: Batch,
    variance: boolean,
  ): { mean: tf.Tensor2D; variance: tf.Tensor2D | null } {
    const L = p.layers[w]!;
    let mean: tf.Tensor2D;
    let vari: tf.Tensor2D | null = null;
    if (L.live === 0) {
      // Every column dead: the pre-activation is the bias, with variance 0.
      const rows = h.shape[0];
      return { mean: this.deadBlock(p, w, rows, 'bias'), variance: variance && L.sigma2 ? this.deadBlock(p, w, rows, 'zero') : null };
    }
    if (w === 0) {
      const f = this.firstMoments(p, batch, variance);
      mean = f.mean;
      vari = f.variance;
    } else {
      mean = tf.fused.matMul({ a: h, b: L.theta, bias: L.bias }) as tf.Tensor2D;
      if (variance && L.sigma2) vari = product(h2 ?? tf.square(h), L.sigma2);
    }
    if (L.deadBias) {
      const rows = h.shape[0];
      mean = tf.concat([mean, this.deadBlock(p, w, rows, 'bias')], 1);
      if (vari) vari = tf.concat([vari, this.deadBlock(p, w, rows, 'zero')], 1);
    }
    return { mean, variance: vari };
  }

  /** Logits [n×k] of the posterior-mean network under the current masks (cached per point and set). */
  meanLogits(ds: Dataset): Float32Array {
    const p = this.prepare();
    const hit = p.meanLogits.get(ds);
    if (hit) return hit;
    const k = this.weightOps.at(-1)!.outF;
    const out = new Float32Array(ds.n * k);
    for (const batch of this.batches(ds)) {
      if (p.sparse) {
        try {
          this.sparsePath!.meanLogits(batch, batch.host, batch.size, out, batch.start);
        } catch (e) {
          this.leaveSparsePath(e);
          return this.meanLogits(ds);
        }
        this.counters.meanPasses++;
        continue;
      }
      const t = tf.tidy(() => {
        let h: tf.Tensor2D = batch.x; // the first layer's moments come from firstMoments
        let w = 0;
        for (const op of this.ops) {
          if (op.kind === 'act') h = op.layer.forward(h) as tf.Tensor2D;
          else h = this.moments(p, w++, h, null, batch, false).mean;
        }
        return h;
      });
      out.set(t.dataSync() as Float32Array, batch.start * k);
      t.dispose();
      this.counters.meanPasses++;
    }
    p.meanLogits.set(ds, out);
    return out;
  }

  /**
   * Per-sample class probabilities [S][n×k] on `ds` under the current masks: the S-sample
   * LRT predictive (for a non-Bayesian network, or S = 0: the mean network's single pass).
   */
  predict(ds: Dataset): Float32Array[] {
    const k = this.weightOps.at(-1)!.outF;
    if (!this.bayesian) return [softmaxRows(this.meanLogits(ds), k)];
    const p = this.prepare();
    const S = this.samples;
    const out = Array.from({ length: S }, () => new Float32Array(ds.n * k));
    for (const batch of this.batches(ds)) {
      const m = batch.size;
      if (p.sparse) {
        try {
          this.sparsePath!.predict(batch, batch.host, m, `${batch.index}/${m}`, () => this.hostNoise(batch.index, m), out, batch.start);
        } catch (e) {
          this.leaveSparsePath(e);
          return this.predict(ds);
        }
        this.counters.mcPasses++;
        continue;
      }
      const t = tf.tidy(() => {
        let h: tf.Tensor2D = batch.x; // the first layer's moments come from firstMoments
        let h2: tf.Tensor2D | null = null;
        let expanded = false;
        let applied = false; // the activation after the last LRT layer was applied with its draws
        let w = 0;
        for (const [i, op] of this.ops.entries()) {
          if (op.kind === 'act') {
            if (!applied) {
              h = op.layer.forward(h) as tf.Tensor2D;
              h2 = null;
            }
            applied = false;
            continue;
          }
          const L = p.layers[w]!;
          const mo = this.moments(p, w++, h, h2, batch, op.lrt);
          h2 = null;
          if (!op.lrt) {
            h = mo.mean;
            continue;
          }
          // The first LRT layer's moments [m, n] are shared by the S draws [S·m, n] (lrtSample broadcasts them).
          const eps = this.epsFor(p, batch.index, m, op.noiseIndex, L.cols);
          const next = this.ops[i + 1];
          const relu = next?.kind === 'act' && next.layer.fn === 'relu';
          // ReLU is applied with the draws; their squares are the next LRT layer's input for its variance.
          const d = lrtSample(mo.mean, mo.variance!, eps, relu, relu && i + 2 < this.ops.length);
          h = d.h;
          h2 = d.h2;
          applied = relu;
          expanded = true;
        }
        if (!expanded) h = tf.concat(Array.from({ length: S }, () => h));
        return tf.softmax(h);
      });
      const data = t.dataSync() as Float32Array;
      t.dispose();
      for (let s = 0; s < S; s++) out[s]!.set(data.subarray(s * m * k, (s + 1) * m * k), batch.start * k);
      this.counters.mcPasses++;
    }
    return out;
  }

  private release(): void {
    const p = this.prepared;
    if (!p) return;
    for (const l of p.layers) for (const t of [l.theta, l.sigma2, l.bias]) t?.dispose();
    for (const v of p.inputs.values()) for (const t of [v.x, v.x2]) t?.dispose();
    for (const v of p.first.values()) for (const t of [v.mean, v.variance]) t?.dispose();
    for (const t of p.dead.values()) t.dispose();
    for (const t of p.eps.values()) t.dispose();
    this.prepared = null;
  }

  /** Frees every tensor the engine holds. */
  dispose(): void {
    this.release();
    for (const c of this.sets.values()) for (const b of c) for (const t of [b.x, b.x2]) t?.dispose();
    this.sets.clear();
    for (const t of this.fullEps.values()) t.dispose();
    this.fullEps.clear();
    this.full.clear();
    if (this.fullWeights) for (const t of [this.fullWeights.theta, this.fullWeights.sigma2, this.fullWeights.bias]) t?.dispose();
    this.fullWeights = null;
    this.noise.clear();
  }
}

/**
 * σ² of every weight of an LRT layer as its forward pass computes it (whatever exp the backend
 * uses): the variance (x∘x)·σ² of the identity input, each entry 1·σ² plus exact zeros.
 */
function unmaskedVariances(layer: LrtDense): Float32Array {
  const saved = layer.getMask();
  layer.setMask(null);
  try {
    return tf.tidy(() => layer.preActivationMoments(tf.eye(layer.weightShape[0]!)).variance.dataSync() as Float32Array);
  } finally {
    layer.setMask(saved);
  }
}

/**
 * Whether every live column of the first layer keeps all of its weights (or there is no mask): its
 * pre-activation moments are then those of the unmasked layer, column by column.
 */
function fullColumns(mask: Float32Array | null, o: Extract<Op, { kind: 'weight' }>, cols: Int32Array | null, live: number): boolean {
  if (!mask) return true;
  for (let q = 0; q < live; q++) {
    const j = cols ? cols[q]! : q;
    for (let r = 0; r < o.inF; r++) if (mask[r * o.outF + j] === 0) return false;
  }
  return true;
}

/**
 * Weight op `i` of a point as the sparse path lists it: kept weights by computed column (the
 * compaction's order, live columns then dead ones, whose lists are empty), input rows as original
 * features (first layer) or positions in the previous layer's computed columns (`prevOrder`).
 */
function sparseLayer(
  o: Extract<Op, { kind: 'weight' }>,
  mask: Float32Array | null,
  firstRows: Int32Array | null,
  prevOrder: Int32Array | null,
  col: { order: Int32Array | null; live: number },
  i: number,
  relu: boolean,
): SparseLayer {
  // Input rows in the compacted order, as indices into the original weight's rows.
  const rows = i === 0 ? firstRows : prevOrder;
  const nr = rows ? rows.length : o.inF;
  const cols = col.order ?? Int32Array.from({ length: o.outF }, (_, j) => j);
  const colPtr = new Int32Array(cols.length + 1);
  const rowIdx: number[] = [];
  const theta: number[] = [];
  const sigma2: number[] = [];
  for (let q = 0; q < col.live; q++) {
    for (let a = 0; a < nr; a++) {
      const r = rows ? rows[a]! : a;
      const j = r * o.outF + cols[q]!;
      if (mask && mask[j] === 0) continue;
      rowIdx.push(i === 0 ? r : a);
      theta.push(o.theta[j]!);
      sigma2.push(o.sigma2![j]!);
    }
    colPtr[q + 1] = rowIdx.length;
  }
  colPtr.fill(rowIdx.length, col.live + 1);
  return {
    colPtr,
    rowIdx: Int32Array.from(rowIdx),
    theta: Float32Array.from(theta),
    sigma2: Float32Array.from(sigma2),
    bias: Float32Array.from(cols, (j) => o.bias[j]!),
    cols,
    relu,
  };
}

/** 1 for each column of a [rows, cols] mask with at least one kept entry. */
function liveColumns(mask: Float32Array, rows: number, cols: number): Uint8Array {
  const alive = new Uint8Array(cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let c = 0; c < cols; c++) if (mask[o + c] !== 0) alive[c] = 1;
  }
  return alive;
}

/** The kept weights of the first layer's live columns by input row (CSR over all inputs; columns in compacted order). */
function csr(o: Extract<Op, { kind: 'weight' }>, mask: Float32Array | null, live: number, order: Int32Array | null): NonNullable<PreparedLayer['sparse']> {
  const rowPtr = new Int32Array(o.inF + 1);
  const col: number[] = [];
  const th: number[] = [];
  const s2: number[] = [];
  for (let r = 0; r < o.inF; r++) {
    for (let q = 0; q < live; q++) {
      const j = r * o.outF + (order ? order[q]! : q);
      if (mask && mask[j] === 0) continue;
      col.push(q);
      th.push(o.theta[j]!);
      if (o.sigma2) s2.push(o.sigma2[j]!);
    }
    rowPtr[r + 1] = col.length;
  }
  const bias = order ? Float32Array.from(order.subarray(0, live), (j) => o.bias[j]!) : o.bias.slice(0, live);
  return { rowPtr, col: Int32Array.from(col), theta: Float32Array.from(th), sigma2: o.sigma2 ? Float32Array.from(s2) : null, bias };
}

/** Indices of the rows of a [rows, cols] mask with at least one kept entry; null when every row has one (or no mask). */
export function keptRows(mask: Float32Array | null, rows: number, cols: number): Int32Array | null {
  if (!mask) return null;
  const keep: number[] = [];
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let c = 0; c < cols; c++) {
      if (mask[o + c] !== 0) {
        keep.push(r);
        break;
      }
    }
  }
  if (keep.length === 0) keep.push(0); // a fully pruned weight: one all-zero row keeps the product's shape
  return keep.length === rows ? null : Int32Array.from(keep);
}
