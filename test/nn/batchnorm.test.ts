import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Activation, Flatten, MaxPool2d, Reshape } from '../../src/nn/activations.js';
import { BatchNorm, refreshBatchNorm } from '../../src/nn/batchnorm.js';
import { buildNetwork } from '../../src/nn/builders.js';
import { Conv2d } from '../../src/nn/conv2d.js';
import { Dense } from '../../src/nn/dense.js';
import { Network, type MaskSet } from '../../src/nn/network.js';
import { pointFactory } from '../../src/inference/layer-factories.js';
import { compactInPlace, compactNetwork } from '../../src/pruning/compaction.js';
import { masksFromUnitDrops } from '../../src/pruning/structured.js';
import { RandomStream } from '../../src/random.js';
import type { Dataset } from '../../src/data/dataset.js';
import { useTestBackend } from '../setup-backend.js';

beforeAll(useTestBackend);

/** Deterministic pseudo-random numbers in [-1, 1) (independent of tfjs). */
function values(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

/** Per-channel mean and biased variance over every position but the last axis, by a plain loop. */
function handStats(x: Float32Array, C: number): { mean: number[]; variance: number[]; m: number } {
  const m = x.length / C;
  const mean = Array.from({ length: C }, () => 0);
  const variance = Array.from({ length: C }, () => 0);
  for (let i = 0; i < x.length; i++) mean[i % C]! += x[i]! / m;
  for (let i = 0; i < x.length; i++) variance[i % C]! += (x[i]! - mean[i % C]!) ** 2 / m;
  return { mean, variance, m };
}

function setParams(bn: BatchNorm, seed: number): { g: Float32Array; b: Float32Array; mu: Float32Array; v: Float32Array } {
  const C = bn.channels;
  const g = Float32Array.from(values(C, seed), (u) => 0.5 + u);
  const b = values(C, seed + 1);
  const mu = Float32Array.from(values(C, seed + 2), (u) => 0.3 * u);
  const v = Float32Array.from(values(C, seed + 3), (u) => 0.5 + 0.4 * u);
  bn.gamma.assign(tf.tensor1d(g));
  bn.beta.assign(tf.tensor1d(b));
  bn.runningMean.assign(tf.tensor1d(mu));
  bn.runningVar.assign(tf.tensor1d(v));
  return { g, b, mu, v };
}

describe('BatchNorm forward', () => {
  for (const shape of [
    [6, 3],
    [2, 3, 4, 5],
  ]) {
    it(`training mode normalizes with the batch statistics over batch and spatial axes (input [${shape}])`, () => {
      const C = shape.at(-1)!;
      const bn = new BatchNorm({ name: 'bn', channels: C, epsilon: 1e-3 });
      const { g, b } = setParams(bn, 7);
      const x = values(
        shape.reduce((a, c) => a * c),
        11,
      ).map((u, i) => 2 * u + (i % C));
      const y = tf.tidy(() => bn.forward(tf.tensor(x, shape), { sample: false, training: true }).dataSync());
      const { mean, variance } = handStats(x, C);
      for (let i = 0; i < x.length; i++) {
        const c = i % C;
        expect(y[i]).toBeCloseTo((g[c]! * (x[i]! - mean[c]!)) / Math.sqrt(variance[c]! + 1e-3) + b[c]!, 4);
      }
      bn.dispose();
    });
  }

  it('evaluation mode uses the running statistics', () => {
    const bn = new BatchNorm({ name: 'bn', channels: 4 });
    const { g, b, mu, v } = setParams(bn, 3);
    const x = values(2 * 3 * 3 * 4, 5);
    const y = tf.tidy(() => bn.forward(tf.tensor(x, [2, 3, 3, 4]), { sample: true }).dataSync());
    for (let i = 0; i < x.length; i++) {
      const c = i % 4;
      expect(y[i]).toBeCloseTo((g[c]! * (x[i]! - mu[c]!)) / Math.sqrt(v[c]! + 1e-5) + b[c]!, 5);
    }
    bn.dispose();
  });

  it('running statistics follow μ ← (1−p)μ + p·μ_B, σ² ← (1−p)σ² + p·σ²_B·m/(m−1) over two steps', () => {
    const p = 0.3;
    const bn = new BatchNorm({ name: 'bn', channels: 3, momentum: p });
    const { mu, v } = setParams(bn, 9);
    const run = { mu: Array.from(mu, Number), v: Array.from(v, Number) };
    for (const seed of [21, 22]) {
      const x = values(4 * 2 * 2 * 3, seed).map((u) => 3 * u + 1);
      tf.tidy(() => bn.forward(tf.tensor(x, [4, 2, 2, 3]), { sample: false, training: true }));
      const { mean, variance, m } = handStats(x, 3);
      for (let c = 0; c < 3; c++) {
        run.mu[c] = (1 - p) * run.mu[c]! + p * mean[c]!;
        run.v[c] = (1 - p) * run.v[c]! + (p * variance[c]! * m) / (m - 1);
      }
    }
    const gotMu = bn.runningMean.dataSync();
    const gotV = bn.runningVar.dataSync();
    for (let c = 0; c < 3; c++) {
      expect(gotMu[c]).toBeCloseTo(run.mu[c]!, 5);
      expect(gotV[c]).toBeCloseTo(run.v[c]!, 5);
    }
    bn.dispose();
  });

  it('refresh: running statistics become the averages of the batch means and unbiased variances', () => {
    const bn = new BatchNorm({ name: 'bn', channels: 2 });
    setParams(bn, 1);
    const data: Dataset = { name: 'toy', x: values(12 * 2, 4).map((u, i) => u * (1 + (i % 2))), y: new Int32Array(12), n: 12, shape: [2], numClasses: 1 };
    const net = new Network([bn], [2], 1, 'bn only');
    refreshBatchNorm(net, data, { batchSize: 5 }); // batches of 5, 5, 2
    const want = { mu: [0, 0], v: [0, 0] };
    for (const [s, e] of [
      [0, 5],
      [5, 10],
      [10, 12],
    ]) {
      const st = handStats(data.x.subarray(2 * s!, 2 * e!), 2);
      for (let c = 0; c < 2; c++) {
        want.mu[c]! += st.mean[c]! / 3;
        want.v[c]! += (st.variance[c]! * st.m) / (st.m - 1) / 3;
      }
    }
    for (let c = 0; c < 2; c++) {
      expect(bn.runningMean.dataSync()[c]).toBeCloseTo(want.mu[c]!, 5);
      expect(bn.runningVar.dataSync()[c]).toBeCloseTo(want.v[c]!, 5);
    }
    net.dispose();
  });
});

describe('BatchNorm L1 penalty (network slimming)', () => {
  it('penalty is λ·Σ|γ| and its gradient is λ·sign(γ)', () => {
    const lambda = 1e-4;
    const bn = new BatchNorm({ name: 'bn', channels: 5, l1: lambda });
    const g = Float32Array.from([0.5, -1.25, 2, -0.01, 0.3]);
    bn.gamma.assign(tf.tensor1d(g));
    const pen = bn.penalty()!;
    expect(pen.dataSync()[0]).toBeCloseTo(lambda * g.reduce((a, v) => a + Math.abs(v), 0), 9);
    pen.dispose();
    const { grads } = tf.variableGrads(() => bn.penalty()!, [bn.gamma]);
    const got = grads[bn.gamma.name]!.dataSync();
    for (let c = 0; c < 5; c++) expect(got[c]).toBeCloseTo(lambda * Math.sign(g[c]!), 9);
    tf.dispose(Object.values(grads));
    expect(new BatchNorm({ name: 'off', channels: 2 }).penalty()).toBeNull();
    bn.dispose();
  });

  it('Network.penalty sums the batch norms with λ > 0', () => {
    const a = new BatchNorm({ name: 'a', channels: 2, l1: 0.5 });
    const b = new BatchNorm({ name: 'b', channels: 3, l1: 2 });
    const c = new BatchNorm({ name: 'c', channels: 3 });
    a.gamma.assign(tf.tensor1d([1, -2]));
    b.gamma.assign(tf.tensor1d([0.5, 0.25, -1]));
    const net = new Network([a, b, c], [2], 2, 'x');
    const p = net.penalty()!;
    expect(p.dataSync()[0]).toBeCloseTo(0.5 * 3 + 2 * 1.75, 6);
    p.dispose();
    net.dispose();
  });
});

/** conv(4) → bn → relu → pool → conv(5) → bn → relu → flatten → dense(3), 8×8×2 inputs, random BN state. */
function bnConvNet(): Network {
  const st = new RandomStream('bn-conv');
  const conv1 = new Conv2d({ name: 'conv1', inH: 8, inW: 8, cin: 2, cout: 4, k: 3, stream: st.fork('c1') });
  const conv2 = new Conv2d({ name: 'conv2', inH: 3, inW: 3, cin: 4, cout: 5, k: 2, stream: st.fork('c2') });
  const fc = new Dense({ name: 'fc', inFeatures: 20, outFeatures: 3, stream: st.fork('fc') });
  conv1.b.assign(tf.tensor1d(values(4, 1)));
  conv2.b.assign(tf.tensor1d(values(5, 2)));
  const bn1 = new BatchNorm({ name: 'bn1', channels: 4 });
  const bn2 = new BatchNorm({ name: 'bn2', channels: 5 });
  setParams(bn1, 30);
  setParams(bn2, 40);
  return new Network(
    [
      new Reshape('reshape', [8, 8, 2]),
      conv1,
      bn1,
      new Activation('a1', 'relu'),
      new MaxPool2d('p1', 2),
      conv2,
      bn2,
      new Activation('a2', 'relu'),
      new Flatten('flatten'),
      fc,
    ],
    [128],
    3,
    'bn conv',
  );
}

function drops(net: Network, d: Record<string, number[]>): MaskSet {
  const m = new Map<string, Uint8Array>();
  for (const l of net.weightLayers().slice(0, -1)) {
    const u = new Uint8Array(l.weightShape!.at(-1)!);
    for (const j of d[l.name] ?? []) u[j] = 1;
    m.set(`${l.name}.weight`, u);
  }
  return masksFromUnitDrops(net, m).masks;
}

describe('BatchNorm in compaction', () => {
  it('removing a channel removes its γ, β and running statistics; compacted = masked outputs within 1e-5', () => {
    const net = bnConvNet();
    const masks = drops(net, { conv1: [1, 3], conv2: [0, 2, 4] });
    net.setMasks(masks);
    const x = tf.tensor(values(7 * 128, 77), [7, 128]);
    const { network, report } = compactNetwork(net);
    const bn = (n: Network, name: string) => n.layers.find((l) => l.name === name) as BatchNorm;
    for (const [name, keep] of [
      ['bn1', [0, 2]],
      ['bn2', [1, 3]],
    ] as const) {
      const a = bn(net, name);
      const b = bn(network, name);
      expect(b.channels).toBe(keep.length);
      for (const [va, vb] of [
        [a.gamma, b.gamma],
        [a.beta, b.beta],
        [a.runningMean, b.runningMean],
        [a.runningVar, b.runningVar],
      ] as const)
        expect(Array.from(vb.dataSync())).toEqual(keep.map((c) => va.dataSync()[c]));
    }
    expect(report.batchNormChannels).toEqual({ before: 9, after: 4 });
    expect(network.layers.find((l) => l.name === 'conv2')!.weightShape).toEqual([2, 2, 2, 2]);
    expect(network.layers.find((l) => l.name === 'fc')!.weightShape).toEqual([8, 3]);
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(net.forward(x, { sample: false }), network.forward(x, { sample: false })))).dataSync()[0]!);
    expect(diff).toBeLessThan(1e-5);
    // Folding really mattered: the removed channels' constants are not zero.
    const unfolded = tf.tidy(() => {
      const y = net.forward(x, { sample: false });
      net.setMasks(null);
      return tf.max(tf.abs(tf.sub(y, net.forward(x, { sample: false })))).dataSync()[0]!;
    });
    expect(unfolded).toBeGreaterThan(1e-3);
    tf.dispose(x);
    network.dispose();
    net.dispose();
  });

  it('compactInPlace cuts batch norm and keeps training state consistent (Adam moments sliced)', () => {
    const net = bnConvNet();
    const opt = tf.train.adam(1e-3);
    const x = tf.tensor(values(4 * 128, 5), [4, 128]);
    opt.minimize(() => tf.sum(net.forward(x, { sample: false, training: true })) as tf.Scalar, false, net.variables());
    net.setMasks(drops(net, { conv1: [0], conv2: [1, 2] }));
    const before = tf.tidy(() => net.forward(x, { sample: false }).dataSync());
    const report = compactInPlace(net, opt);
    expect(report!.batchNormChannels).toEqual({ before: 9, after: 6 });
    const after = tf.tidy(() => net.forward(x, { sample: false }).dataSync());
    for (let i = 0; i < before.length; i++) expect(Math.abs(after[i]! - before[i]!)).toBeLessThan(1e-5);
    // Training goes on with the cut variables.
    opt.minimize(() => tf.sum(net.forward(x, { sample: false, training: true })) as tf.Scalar, false, net.variables());
    opt.dispose();
    x.dispose();
    net.dispose();
  });

  it('the bn-cnn architecture builds, has a batch norm after each conv, and maps 784 inputs to 10 logits', () => {
    const net = buildNetwork({ arch: 'bn-cnn', activation: 'relu' }, [784], 10, pointFactory(), new RandomStream('b'));
    expect(net.layers.map((l) => l.kind)).toEqual([
      'reshape',
      'conv2d',
      'batchnorm',
      'activation',
      'maxpool2d',
      'conv2d',
      'batchnorm',
      'activation',
      'maxpool2d',
      'flatten',
      'dense',
    ]);
    expect(net.numWeights()).toBe(25 * 16 + 25 * 16 * 32 + 512 * 10);
    const y = tf.tidy(() => net.forward(tf.zeros([2, 784]), { sample: false, training: true }).shape);
    expect(y).toEqual([2, 10]);
    net.dispose();
  });
});
