import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Activation, Flatten, Reshape } from '../../src/nn/activations.js';
import { BatchNorm } from '../../src/nn/batchnorm.js';
import { Conv2d } from '../../src/nn/conv2d.js';
import { Dense } from '../../src/nn/dense.js';
import { Network } from '../../src/nn/network.js';
import { RandomStream } from '../../src/random.js';
import {
  DcffConv2d,
  compactDcff,
  dcffLayers,
  dcffNetworkFor,
  dcffTemperature,
  filterDistances,
  fuseFilters,
  keepAtRatio,
  keptFilters,
  klImportance,
  logSimilarity,
  networkCost,
  trainDcff,
} from '../../src/pruning/dcff.js';
import { ConfigError, validateConfig } from '../../src/experiment/config.js';
import type { Dataset } from '../../src/data/dataset.js';
import { useTestBackend } from '../setup-backend.js';

beforeAll(useTestBackend);

/** Filter j of a weight [..., nOut] as an explicit vector (entries f with f % nOut = j). */
function filterOf(w: ArrayLike<number>, nOut: number, j: number): number[] {
  const out: number[] = [];
  for (let f = j; f < w.length; f += nOut) out.push(w[f]!);
  return out;
}

/** Brute force, straight from the definitions: D, p_i(j) = exp(−t·D_ij)/Σ_k exp(−t·D_ik) (no log-space), fused f_i = Σ_j p_i(j)·w_j. */
function brute(w: ArrayLike<number>, nOut: number, t: number) {
  const F = Array.from({ length: nOut }, (_, j) => filterOf(w, nOut, j));
  const D = F.map((a) => F.map((b) => Math.sqrt(a.reduce((s, v, k) => s + (v - b[k]!) ** 2, 0))));
  const P = D.map((row) => {
    const e = row.map((d) => Math.exp(-t * d));
    const z = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / z);
  });
  const fused = P.map((p) => F[0]!.map((_, k) => p.reduce((s, pj, j) => s + pj * F[j]![k]!, 0)));
  const KL = (p: number[], q: number[]) => p.reduce((s, pk, k) => s + pk * Math.log(pk / q[k]!), 0);
  const score = P.map((p, i) => P.reduce((s, q, j) => (j === i ? s : s + KL(p, q)), 0));
  return { F, D, P, fused, score };
}

describe('DCFF formulas (Lin et al. 2023)', () => {
  const s = new RandomStream('dcff-formulas');
  const [k, cin, n] = [3, 2, 7];
  const w = Float64Array.from({ length: k * k * cin * n }, () => 0.3 * s.normal());

  it('distances, distributions and fused filters equal a brute-force float64 loop', () => {
    for (const t of [0.3, 1, 4]) {
      const b = brute(w, n, t);
      const D = filterDistances(w, n);
      const logP = logSimilarity(D, n, t);
      for (let i = 0; i < n; i++)
        for (let j = 0; j < n; j++) {
          expect(D[i * n + j]).toBeCloseTo(b.D[i]![j]!, 12);
          expect(Math.exp(logP[i * n + j]!)).toBeCloseTo(b.P[i]![j]!, 12);
        }
      const kept = Int32Array.from([1, 4, 6]);
      const f = fuseFilters(w, n, logP, kept);
      kept.forEach((i, q) => filterOf(f, kept.length, q).forEach((v, c) => expect(v).toBeCloseTo(b.fused[i]![c]!, 12)));
    }
  });

  it('KL importance equals a hand loop over KL(p_i ‖ p_j) (3 filters on a line, t = 1)', () => {
    // Filters 0, 1 and 3 (dense weight [1, 3]): D = [[0,1,3],[1,0,2],[3,2,0]].
    const w3 = [0, 1, 3];
    const b = brute(w3, 3, 1);
    expect(b.D).toEqual([
      [0, 1, 3],
      [1, 0, 2],
      [3, 2, 0],
    ]);
    const got = klImportance(logSimilarity(filterDistances(w3, 3), 3, 1), 3);
    for (let i = 0; i < 3; i++) expect(got[i]).toBeCloseTo(b.score[i]!, 12);
    // The outer filters are the most distinctive: filter 1 (between the others) has the lowest score.
    expect(got[1]).toBeLessThan(got[0]!);
    expect(got[1]).toBeLessThan(got[2]!);
    // And on random conv filters.
    const bb = brute(w, n, 2);
    const g = klImportance(logSimilarity(filterDistances(w, n), n, 2), n);
    for (let i = 0; i < n; i++) expect(g[i]).toBeCloseTo(bb.score[i]!, 10);
  });

  it('at large t the importance tends to t·Σ_j D_ij (an FPGM-like score), and stays finite where p underflows', () => {
    const D = filterDistances(w, n);
    const t = 1e4;
    const sc = klImportance(logSimilarity(D, n, t), n);
    for (let i = 0; i < n; i++) {
      let sum = 0;
      for (let j = 0; j < n; j++) sum += D[i * n + j]!;
      expect(Number.isFinite(sc[i]!)).toBe(true);
      expect(sc[i]! / t).toBeCloseTo(sum, 6);
    }
  });

  it('t → ∞: the distributions are one-hot and the fused filter is the original filter', () => {
    const logP = logSimilarity(filterDistances(w, n), n, 1e8);
    const kept = Int32Array.from([0, 2, 3, 5]);
    const f = fuseFilters(w, n, logP, kept);
    kept.forEach((i, q) => expect(filterOf(f, kept.length, q)).toEqual(filterOf(w, n, i)));
    // …and at t = 1 they are not.
    const f1 = fuseFilters(w, n, logSimilarity(filterDistances(w, n), n, 1), kept);
    expect(Math.abs(filterOf(f1, 4, 0)[0]! - w[0]!)).toBeGreaterThan(1e-3);
  });

  it('kept filters: the largest scores, ties to the lower index, in increasing index order', () => {
    expect(Array.from(keptFilters([0.5, 2, 1, 2, 3], 3))).toEqual([1, 3, 4]);
    expect(Array.from(keptFilters([1, 1, 1, 1], 2))).toEqual([0, 1]);
    expect(() => keptFilters([1, 2], 3)).toThrow(/keep must be an integer in \[1, 2\]/);
    expect(keepAtRatio(20, 0.5)).toBe(10);
    expect(keepAtRatio(50, 0.5)).toBe(25);
    expect(keepAtRatio(3, 0.9)).toBe(1);
  });

  it('temperature schedules: t(0) = tStart, t(E) = tMax, increasing; the sigmoid is the paper’s closed form', () => {
    const E = 10;
    for (const schedule of ['sigmoid', 'linear', 'exponential'] as const) {
      const o = { tStart: 1, tMax: 1e4, schedule, k: 1 };
      expect(dcffTemperature(0, E, o)).toBeCloseTo(1, 9);
      expect(dcffTemperature(E, E, o)).toBeCloseTo(1e4, 6);
      for (let e = 0; e < E; e++) expect(dcffTemperature(e + 1, E, o)).toBeGreaterThan(dcffTemperature(e, E, o));
    }
    expect(dcffTemperature(5, E, { tStart: 1, tMax: 1e4, schedule: 'linear' })).toBeCloseTo(1 + 9999 / 2, 9);
    expect(dcffTemperature(5, E, { tStart: 1, tMax: 1e4, schedule: 'exponential' })).toBeCloseTo(100, 9);
    // Sigmoid, k = 1, E = 10, e = 1 by hand: A = 2·9999·(1 + e^−10)/(1 − e^−10); t = A/(1 + e^−1) + 1 − A/2.
    const A = (2 * 9999 * (1 + Math.exp(-10))) / (1 - Math.exp(-10));
    expect(dcffTemperature(1, E, { tStart: 1, tMax: 1e4, schedule: 'sigmoid', k: 1 })).toBeCloseTo(A / (1 + Math.exp(-1)) + 1 - A / 2, 6);
  });
});

/** A small conv net with fused layers: 8×8 input → conv1 (6 filters, keep 3) → relu → conv2 (5 filters, keep 2, cin 3) → relu → flatten → fc1 → relu → fc2. */
function fusedNet(): Network {
  const st = new RandomStream('dcff-net');
  return new Network(
    [
      new Reshape('reshape', [8, 8, 1]),
      new DcffConv2d({ name: 'conv1', inH: 8, inW: 8, cin: 1, cout: 6, keep: 3, k: 3, stream: st.fork('c1') }),
      new Activation('a1', 'relu'),
      new DcffConv2d({ name: 'conv2', inH: 6, inW: 6, cin: 3, cout: 5, keep: 2, k: 3, stream: st.fork('c2') }),
      new Activation('a2', 'relu'),
      new Flatten('flatten'),
      new Dense({ name: 'fc1', inFeatures: 4 * 4 * 2, outFeatures: 7, stream: st.fork('f1') }),
      new Activation('a3', 'relu'),
      new Dense({ name: 'fc2', inFeatures: 7, outFeatures: 3, stream: st.fork('f2') }),
    ],
    [64],
    3,
    'dcff test net',
  );
}

function blobs(n: number, seed: string): Dataset {
  const st = new RandomStream(seed);
  const x = new Float32Array(n * 64);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    y[i] = c;
    for (let p = 0; p < 64; p++) x[i * 64 + p] = (p % 3 === c ? 1 : 0) + 0.3 * st.normal();
  }
  return { x, y, n, shape: [64], numClasses: 3, name: 'blobs' } as unknown as Dataset;
}

describe('DCFF layer and compaction', () => {
  it('the fused conv layer computes conv(x, fused filters) + fused bias, the fused filters from the float64 formulas', () => {
    const st = new RandomStream('dcff-layer');
    const l = new DcffConv2d({ name: 'c', inH: 5, inW: 5, cin: 2, cout: 6, keep: 4, k: 3, stream: st });
    l.b.assign(tf.tensor1d([0.1, -0.2, 0.3, 0.05, -0.4, 0.2]));
    const u = l.updateProxies(1.5);
    const w = Float64Array.from(l.w.dataSync());
    const logP = logSimilarity(filterDistances(w, 6), 6, 1.5);
    expect(Array.from(u.kept)).toEqual(Array.from(keptFilters(klImportance(logP, 6), 4)));
    const f = fuseFilters(w, 6, logP, u.kept);
    const bias = Array.from(l.b.dataSync());
    const fb = Array.from(u.kept, (i) => bias.reduce((s, bj, j) => s + Math.exp(logP[i * 6 + j]!) * bj, 0));
    const x = tf.tensor(
      Float32Array.from({ length: 2 * 5 * 5 * 2 }, () => st.normal()),
      [2, 5, 5, 2],
    );
    const got = l.forward(x, { sample: false });
    const want = tf.add(tf.conv2d(x as tf.Tensor4D, tf.tensor4d(Float32Array.from(f), [3, 3, 2, 4]), 1, 'valid'), tf.tensor1d(fb));
    expect(tf.max(tf.abs(tf.sub(got, want))).dataSync()[0]).toBeLessThan(1e-5);
    // The proxy rows are the kept filters' distributions.
    const P = l.proxies();
    u.kept.forEach((i, q) => {
      for (let j = 0; j < 6; j++) expect(P[q * 6 + j]).toBeCloseTo(Math.exp(logP[i * 6 + j]!), 6);
    });
    tf.dispose([x, got, want]);
    l.dispose();
  });

  it('compacted network = fused network within 1e-5 (and the compacted one is plain conv layers of the kept widths)', () => {
    const net = fusedNet();
    for (const l of dcffLayers(net)) l.updateProxies(0.7);
    const ds = blobs(30, 'dcff-compact');
    const x = tf.tensor(ds.x, [30, 64]);
    const before = net.forward(x, { sample: false });
    const compact = compactDcff(net);
    const after = compact.forward(x, { sample: false });
    expect(tf.max(tf.abs(tf.sub(before, after))).dataSync()[0]).toBeLessThan(1e-5);
    const convs = compact.layers.filter((l) => l instanceof Conv2d) as Conv2d[];
    expect(convs.map((c) => c.weightShape)).toEqual([
      [3, 3, 1, 3],
      [3, 3, 3, 2],
    ]);
    // Cost: conv1 27·36 + conv2 54·16 + fc1 32·7 + fc2 7·3 multiply-adds.
    expect(networkCost(compact)).toEqual({ params: 27 + 54 + 224 + 21, macs: 27 * 36 + 54 * 16 + 224 + 21 });
    tf.dispose([x, before, after]);
    compact.dispose();
  });

  it('training: proxies recomputed every epoch, the temperature anneals, the fused filters become the filters', async () => {
    const net = fusedNet();
    const ds = blobs(60, 'dcff-train');
    const r = await trainDcff(
      net,
      ds,
      { epochs: 4, batchSize: 20, lr: { name: 'constant', lr: 0.01 }, temperature: 1 },
      { tStart: 1, tMax: 1e4, schedule: 'exponential' },
      new RandomStream('dcff-train'),
    );
    expect(r.history).toHaveLength(4);
    expect(r.epochs.map((e) => e.t)).toEqual([0, 1, 2, 3].map((e) => dcffTemperature(e, 4, { tStart: 1, tMax: 1e4, schedule: 'exponential' })));
    expect(r.epochs[0]!.changed).toEqual({ conv1: 3, conv2: 2 });
    // p_i(i) grows with t; at the last epoch (t = 10³) the fused filters are the filters.
    expect(r.epochs[3]!.minSelfWeight.conv1).toBeGreaterThan(r.epochs[0]!.minSelfWeight.conv1!);
    expect(r.epochs[3]!.minSelfWeight.conv1).toBeGreaterThan(0.999);
    const l = dcffLayers(net)[0]!;
    const fw = tf.tidy(() => l.fused().w.dataSync());
    const w = l.w.dataSync();
    l.lastUpdate!.kept.forEach((i, q) => {
      const a = filterOf(fw, 3, q);
      filterOf(w, 6, i).forEach((v, c) => expect(a[c]).toBeCloseTo(v, 3));
    });
    const compact = compactDcff(net);
    expect(Number.isFinite(r.history[3]!.loss)).toBe(true);
    compact.dispose();
  });
});

describe('DCFF network and config', () => {
  const base = { experiment: 'd', data: { name: 'mnist-embedded' }, model: { arch: 'lenet-5-caffe' }, inference: { method: 'dcff' } };

  it('lenet-5-caffe at ratio 0.5: conv1 20 → 10, conv2 reads 10 channels and keeps 25, fc1 reads 4·4·25; bn-cnn batch norms are narrow', () => {
    const cfg = validateConfig(base);
    const ds = { x: new Float32Array(784), y: new Int32Array(1), n: 1, shape: [784], numClasses: 10, name: 't' } as unknown as Dataset;
    const net = dcffNetworkFor(cfg, ds, (_l, n) => keepAtRatio(n, 0.5), new RandomStream('dcff-lenet'));
    const [c1, c2] = dcffLayers(net);
    expect([c1!.geometry.cout, c1!.keep, c2!.geometry.cin, c2!.geometry.cout, c2!.keep]).toEqual([20, 10, 10, 50, 25]);
    expect(net.weightLayers().map((l) => l.weightShape)).toEqual([
      [5, 5, 1, 10],
      [5, 5, 10, 25],
      [400, 500],
      [500, 10],
    ]);
    // The compact LeNet-5 of FPGM at 50 %: 250·576 + 6,250·64 + 200,000 + 5,000 MACs.
    expect(networkCost(net).macs).toBe(250 * 576 + 6250 * 64 + 200000 + 5000);
    net.dispose();
    const bn = dcffNetworkFor(validateConfig({ ...base, model: { arch: 'bn-cnn' } }), ds, (_l, n) => keepAtRatio(n, 0.25), new RandomStream('dcff-bn'));
    expect(bn.layers.filter((l) => l instanceof BatchNorm).map((l) => (l as BatchNorm).channels)).toEqual([12, 24]);
    const x = tf.zeros([2, 784]);
    expect(bn.forward(x, { sample: false, training: true }).shape).toEqual([2, 10]);
    x.dispose();
    bn.dispose();
  });

  it('config errors are one-line messages naming the key', () => {
    const msg = (c: unknown) => {
      try {
        validateConfig(c);
        return '';
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return (e as Error).message;
      }
    };
    expect(msg({ ...base, model: { arch: 'lenet-300-100' } })).toMatch(/model\.arch.*dcff fuses conv filters: use lenet-5-caffe or bn-cnn/);
    expect(msg({ ...base, inference: { method: 'dcff', dcff: { tStart: 5, tMax: 2 } } })).toMatch(/inference\.dcff\.tMax/);
    expect(msg({ ...base, inference: { method: 'dcff', dcff: { ratio: 1 } } })).toMatch(/inference\.dcff\.ratio/);
    expect(msg({ ...base, inference: { method: 'dcff', dcff: { schedule: 'cosine' } } })).toMatch(/inference\.dcff\.schedule/);
  });
});

describe('FPGM at the filter counts of DCFF', () => {
  it('fpgmKeepMasks at n − round(ratio·n) equals unitMasksAtRatio with the fpgm scores; it removes the filter nearest the others', async () => {
    const { fpgmKeepMasks, fpgmConvUnitScores } = await import('../../src/pruning/dcff.js');
    const { unitMasksAtRatio } = await import('../../src/pruning/structured.js');
    const st = new RandomStream('dcff-fpgm');
    const net = new Network(
      [
        new Reshape('reshape', [8, 8, 1]),
        new Conv2d({ name: 'conv1', inH: 8, inW: 8, cin: 1, cout: 6, k: 3, stream: st.fork('c1') }),
        new Activation('a1', 'relu'),
        new Conv2d({ name: 'conv2', inH: 6, inW: 6, cin: 6, cout: 5, k: 3, stream: st.fork('c2') }),
        new Flatten('flatten'),
        new Dense({ name: 'fc1', inFeatures: 16 * 5, outFeatures: 3, stream: st.fork('f1') }),
      ],
      [64],
      3,
      't',
    );
    const a = fpgmKeepMasks(net, (_l, n) => keepAtRatio(n, 0.5));
    const b = unitMasksAtRatio(net, fpgmConvUnitScores(net), 0.5, 'layer');
    expect(a.unitsRemoved).toEqual(b.unitsRemoved);
    for (const [k, m] of b.masks) expect(Array.from(a.masks.get(k)!)).toEqual(Array.from(m));
    // conv1 filters constant 0, 1, 2, 10, −10, 20 over their 9 weights: D_ij = 3·|a_i − a_j|, Σ_j |a_i − a_j| = 43, 41, 41, 57, 83, 97;
    // keeping 5 removes the smallest, filter 1 (tied with 2: lower index first).
    const w = new Float32Array(9 * 6);
    for (let f = 0; f < 9; f++) {
      w[f * 6 + 1] = 1;
      w[f * 6 + 2] = 2;
      w[f * 6 + 3] = 10;
      w[f * 6 + 4] = -10;
      w[f * 6 + 5] = 20;
    }
    (net.layers[1] as Conv2d).w.assign(tf.tensor4d(w, [3, 3, 1, 6]));
    const c = fpgmKeepMasks(net, (l, n) => (l === 'conv1' ? 5 : n));
    const m1 = c.masks.get('conv1.weight')!;
    expect(Array.from({ length: 6 }, (_, j) => m1[j])).toEqual([1, 0, 1, 1, 1, 1]);
    net.dispose();
  });
});

describe('inference.method dcff end to end (tiny LeNet-5)', () => {
  it(
    'fitDcff: DCFF trained and compacted, FPGM on the dense network with the same filters per layer (keep overrides too), same multiply-adds',
    { timeout: 300_000 },
    async () => {
      const { fitDcff } = await import('../../src/pruning/dcff.js');
      const digits = (n: number, seed: string): Dataset => {
        const st = new RandomStream(seed);
        const x = new Float32Array(n * 784);
        const y = new Int32Array(n);
        for (let i = 0; i < n; i++) {
          y[i] = i % 2;
          for (let p = 0; p < 784; p++) x[i * 784 + p] = (Math.floor(p / 28) < 14 ? y[i] : 1 - y[i]!) + 0.2 * st.normal();
        }
        return { x, y, n, shape: [784], numClasses: 2, name: 'halves' } as unknown as Dataset;
      };
      const cfg = validateConfig({
        experiment: 'd',
        data: { name: 'mnist-embedded' },
        model: { arch: 'lenet-5-caffe' },
        // The dense network is not trained (train.epochs 0: LeNet-5's dense conv2 is slow on the cpu backend); DCFF trains 1 epoch.
        inference: { method: 'dcff', dcff: { ratio: 0.6, keep: { conv2: 7 }, fineTuneEpochs: 0, epochs: 1 } },
        train: { epochs: 0, batchSize: 20 },
      });
      const r = await fitDcff({ config: cfg, train: digits(20, 'tr'), validation: digits(10, 'va'), stream: new RandomStream('dcff-e2e'), hooks: {} });
      try {
        expect(r.companions!.map((c) => c.name)).toEqual(['dcff-0.6', 'fpgm-0.6']);
        expect(r.dcff.kept).toEqual({ conv1: { before: 20, after: 8 }, conv2: { before: 50, after: 7 } });
        expect(r.dcff.history).toHaveLength(1);
        expect(r.dcff.epochs).toHaveLength(1);
        expect(r.history).toHaveLength(0);
        expect(r.dcff.maxLogitDiff).toBeLessThan(1e-5);
        // Compact LeNet-5 with 8 and 7 filters: conv1 25·8·576, conv2 25·8·7·64, fc1 16·7·500, fc2 500·2.
        const macs = 25 * 8 * 576 + 25 * 8 * 7 * 64 + 16 * 7 * 500 + 500 * 2;
        expect(r.dcff.compact.macs).toBe(macs);
        expect(r.dcff.dense.macs).toBe(25 * 20 * 576 + 25 * 20 * 50 * 64 + 800 * 500 + 500 * 2);
        // FPGM keeps the same filters per layer as DCFF (keep overrides included): the same multiply-adds.
        expect(r.dcff.fpgm!.compaction.macs.after).toBe(macs);
        expect(r.dcff.fpgm!.unitsRemoved).toEqual({ 'conv1.weight': 12, 'conv2.weight': 43 });
        expect(r.dcff.fpgm!.maxLogitDiff).toBeLessThan(1e-5);
        const compact = r.companions![0]!.posterior as unknown as { network: Network };
        expect(networkCost(compact.network).macs).toBe(macs);
      } finally {
        r.posterior.dispose();
        for (const c of r.companions ?? []) c.posterior.dispose();
      }
    },
  );
});
