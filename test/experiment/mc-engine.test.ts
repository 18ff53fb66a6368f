import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../../src/data/dataset.js';
import { pruningCurves } from '../../src/experiment/curves.js';
import { SharedEvaluator } from '../../src/experiment/mc-engine.js';
import { SparsePath } from '../../src/experiment/sparse-path.js';
import { meanFieldFactory, pointFactory } from '../../src/inference/layer-factories.js';
import { NetworkPosterior } from '../../src/inference/network-posterior.js';
import { buildNetwork } from '../../src/nn/builders.js';
import type { MaskSet, Network } from '../../src/nn/network.js';
import { RandomStream, rootStream } from '../../src/random.js';
import { curveOptions, D, K, noisyLrtMlp, uniformData } from '../helpers/lrt-mlp.js';
import { useTestBackend } from '../setup-backend.js';

let initial = 'cpu';
beforeAll(async () => {
  initial = await useTestBackend();
});
afterAll(async () => {
  await tf.setBackend(initial);
});

const data = (name: string, n: number) => uniformData('mc-engine', name, n);
const lrtNet = () => noisyLrtMlp('mc-engine');

/** Reference: batch by batch, S independent full forward passes of the network, one fresh copy of the stream per set. */
function naivePredict(net: Network, ds: Dataset, S: number, streamKey: string, bs: number): Float32Array[] {
  const stream = new RandomStream(streamKey);
  const out = Array.from({ length: S }, () => new Float32Array(ds.n * K));
  for (let start = 0; start < ds.n; start += bs) {
    const m = Math.min(bs, ds.n - start);
    const x = tf.tensor2d(ds.x.subarray(start * D, (start + m) * D), [m, D]);
    for (let s = 0; s < S; s++) {
      const p = tf.tidy(() => tf.softmax(net.forward(x, { sample: true, stream })));
      out[s]!.set(p.dataSync() as Float32Array, start * K);
      p.dispose();
    }
    x.dispose();
  }
  return out;
}

function naiveMeanLogits(net: Network, ds: Dataset): Float32Array {
  return tf.tidy(() => net.forward(tf.tensor2d(ds.x, [ds.n, D]), { sample: false }).dataSync() as Float32Array);
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

/** Mask sets exercising every compaction case of the engine. */
function maskCases(net: Network): [string, MaskSet | null][] {
  const layers = net.weightLayers();
  const size = (i: number) => layers[i]!.weightShape!.reduce((a, b) => a * b, 1);
  const name = (i: number) => `${layers[i]!.name}.weight`;
  const rnd = new RandomStream('mc-engine-masks');
  const random = new Map(layers.map((_, i) => [name(i), Float32Array.from({ length: size(i) }, () => (rnd.uniform() < 0.6 ? 0 : 1))]));
  // Input features 0..4 unused (rows of fc1), hidden units 3, 7, 11 of fc1 without inputs (their bias still feeds fc2),
  // units 2, 5 of fc2 read by nothing (rows of fc3 masked).
  const structured = new Map(layers.map((_, i) => [name(i), new Float32Array(size(i)).fill(1)]));
  const fc1 = structured.get(name(0))!;
  for (let r = 0; r < 5; r++) fc1.fill(0, r * 16, (r + 1) * 16);
  for (const u of [3, 7, 11]) for (let r = 0; r < D; r++) fc1[r * 16 + u] = 0;
  const fc3 = structured.get(name(2))!;
  for (const u of [2, 5]) fc3.fill(0, u * K, (u + 1) * K);
  // Every weight of the middle layer removed (only biases reach the output).
  const empty = new Map(layers.map((_, i) => [name(i), i === 1 ? new Float32Array(size(i)) : new Float32Array(size(i)).fill(1)]));
  // The first layer 95 % sparse, most of its units dead.
  const thin = new Map(
    layers.map((_, i) => [name(i), i === 0 ? Float32Array.from({ length: size(i) }, () => (rnd.uniform() < 0.95 ? 0 : 1)) : new Float32Array(size(i)).fill(1)]),
  );
  // Whole units of fc1 removed (columns 2, 9, 14), every other weight kept: the first layer's moments are columns of the unmasked ones.
  const units = new Map(layers.map((_, i) => [name(i), new Float32Array(size(i)).fill(1)]));
  const u1 = units.get(name(0))!;
  for (const u of [2, 9, 14]) for (let r = 0; r < D; r++) u1[r * 16 + u] = 0;
  return [
    ['none', null],
    ['whole units removed', units],
    ['first layer 95 % sparse', thin],
    ['random 60 %', random],
    ['rows and units removed', structured],
    ['a layer fully pruned', empty],
  ];
}

describe('shared-work evaluation of many operating points (src/experiment/mc-engine.ts)', { timeout: 120_000 }, () => {
  for (const backend of ['cpu', 'wasm'])
    for (const path of ['dense', 'host first layer', 'sparse'] as const)
      it(`equals independent per-sample forward passes, with the same draws, under every kind of mask on ${backend} (${path} path)`, async () => {
        const hostFirstLayer = path === 'host first layer';
        expect(await tf.setBackend(backend)).toBe(true);
        const net = lrtNet();
        const post = new NetworkPosterior('vi', net);
        const S = 5;
        const bs = 16;
        // Density threshold 1.01: the first layer always runs as a host product; 0: never. Sparse path: every point (Infinity) or none (0).
        const engine = SharedEvaluator.create(post, S, new RandomStream('mc-noise'), bs, hostFirstLayer ? 1.01 : 0, path === 'sparse' ? Infinity : 0)!;
        expect(engine).not.toBeNull();
        // 37 = 16 + 16 + 5 (a partial batch); the short set first, so the noise of batch 0 is drawn again, longer.
        const small = data('small', 9);
        const big = data('big', 37);
        const first: Record<string, Float32Array[]> = {};
        for (const [label, masks] of maskCases(net)) {
          post.setMasks(masks);
          for (const ds of [small, big]) {
            const got = engine.predict(ds);
            const want = naivePredict(net, ds, S, 'mc-noise', bs);
            expect(got.length).toBe(S);
            for (let s = 0; s < S; s++) expect(maxDiff(got[s]!, want[s]!), `${label} ${ds.name} sample ${s}`).toBeLessThan(2e-6);
            expect(maxDiff(engine.meanLogits(ds), naiveMeanLogits(net, ds)), `${label} ${ds.name} mean`).toBeLessThan(2e-5);
            if (ds === big) first[label] = got;
          }
          // Samples differ from each other: the noise is per sample (with the middle layer empty only the 1e-8 variance floor is left).
          if (label !== 'a layer fully pruned') expect(maxDiff(first[label]![0]!, first[label]![1]!)).toBeGreaterThan(1e-3);
        }
        // Common random numbers: an operating point evaluated again, after others, gives the same values bit for bit.
        const [label, masks] = maskCases(net)[3]!;
        post.setMasks(masks);
        const again = engine.predict(big);
        for (let s = 0; s < S; s++) expect(maxDiff(again[s]!, first[label]![s]!)).toBe(0);
        const st = engine.stats;
        expect(st.points).toBe(7);
        // 'none', 'whole units removed' and 'a layer fully pruned' (fc1 unmasked) gather the unmasked first layer's moments.
        expect(st.firstFromFull).toBe(3);
        expect(st.sparseFirstLayer).toBe(hostFirstLayer ? 4 : 0);
        expect(st.sparsePoints).toBe(path === 'sparse' ? 7 : 0);
        // Forced (threshold > 1): every batch of those 4 points ran on the host, none otherwise (nor on the sparse path).
        if (hostFirstLayer) expect(st.hostFirstBatches).toBeGreaterThanOrEqual(4 * 3);
        else expect(st.hostFirstBatches).toBe(0);
        expect(st.deadColumns).toBeGreaterThan(3);
        // Noise drawn once per batch and layer for all points: 37 rows (batch 0 redrawn longer: +9) × S × (16 + 8 + 4) units.
        expect(st.noiseValues).toBe((37 + 9) * S * (16 + 8 + K));
        post.setMasks(null);
        engine.dispose();
        net.dispose();
      });

  it('the sparse path out of memory (at its start, or later on a batch) leaves the engine on the dense path with the same values', async () => {
    const net = lrtNet();
    const post = new NetworkPosterior('vi', net);
    const S = 4;
    const big = data('big', 37);
    const [, masks] = maskCases(net)[3]!; // random 60 %
    post.setMasks(masks);
    const want = naivePredict(net, big, S, 'mc-noise', 16);
    // What the sparse path holds before it sees any data: scratch and one point's weights.
    const base = SparsePath.create(
      net.weightLayers().map((l) => ({ inF: l.weightShape![0]!, outF: l.weightShape![1]! })),
      S,
      16,
    )!.bytes;
    for (const limit of [1024, base + 64]) {
      const engine = SharedEvaluator.create(post, S, new RandomStream('mc-noise'), 16, 0, Infinity)!;
      engine.sparseMemoryBytes = limit;
      const got = engine.predict(big);
      for (let s = 0; s < S; s++) expect(maxDiff(got[s]!, want[s]!), `limit ${limit} sample ${s}`).toBeLessThan(2e-6);
      expect(maxDiff(engine.meanLogits(big), naiveMeanLogits(net, big))).toBeLessThan(2e-5);
      expect(engine.stats.sparseFallbacks, `limit ${limit}`).toBe(1);
      engine.dispose();
    }
    post.setMasks(null);
    net.dispose();
  });

  it('evaluates a point-estimate network by its single deterministic pass', () => {
    const net = buildNetwork({ arch: 'mlp', hidden: [10], activation: 'tanh' }, [D], K, pointFactory(), rootStream(2).fork('init'));
    const post = new NetworkPosterior('map', net);
    const engine = SharedEvaluator.create(post, 4, new RandomStream('unused'), 8)!;
    const ds = data('map', 21);
    const got = engine.predict(ds);
    expect(got.length).toBe(1);
    const want = tf.tidy(() => tf.softmax(net.forward(tf.tensor2d(ds.x, [ds.n, D]), { sample: false })).dataSync());
    expect(maxDiff(got[0]!, want)).toBeLessThan(1e-6);
    engine.dispose();
    net.dispose();
  });

  it('declines posteriors it does not cover', () => {
    const net = lrtNet();
    const custom = new NetworkPosterior('vi', net);
    custom.predictSamples = (x, samples, stream) => NetworkPosterior.prototype.predictSamples.call(custom, x, samples, stream);
    expect(SharedEvaluator.create(custom, 3, new RandomStream('a'), 8)).toBeNull();
    const conv = buildNetwork(
      { arch: 'lenet-5-caffe', activation: 'relu' },
      [28, 28, 1],
      10,
      meanFieldFactory({ type: 'log-uniform' }, -8),
      rootStream(1).fork('i'),
    );
    expect(SharedEvaluator.create(new NetworkPosterior('vi', conv), 3, new RandomStream('a'), 8)).toBeNull();
    conv.dispose();
    net.dispose();
  });

  it('pruning curves: the shared engine and the per-point path give the same rows and hook values', async () => {
    const net = lrtNet();
    const post = new NetworkPosterior('vi', net);
    const evalSet = data('eval', 40);
    const other = data('other', 25);
    const run = (evaluation: 'shared' | 'per-point') => pruningCurves(post, { ...curveOptions(evalSet, other, [0, 0.5, 0.9]), evaluation });
    const a = await run('shared');
    const b = await run('per-point');
    expect(a.rows.length).toBe(b.rows.length);
    expect(a.rows.length).toBe(2 * (3 + 3 * (2 + 1 + 1) + 1));
    for (const [i, r] of a.rows.entries()) {
      const q = b.rows[i]!;
      expect([r.criterion, r.structure, r.targetSparsity, r.predictive, r.sparsity]).toEqual([
        q.criterion,
        q.structure,
        q.targetSparsity,
        q.predictive,
        q.sparsity,
      ]);
      for (const k of ['accuracy', 'nll', 'brier', 'ece', 'entropy', 'mutualInformation'] as const)
        expect(Math.abs(r[k] - q[k]), `${i} ${k}`).toBeLessThan(1e-5);
      for (const [k, v] of Object.entries(q.extra ?? {})) expect(Math.abs((r.extra![k] as number) - (v as number)), `${i} ${k}`).toBeLessThan(1e-4);
    }
    net.dispose();
  });
});
