import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Activation, Flatten, MaxPool2d, Reshape } from '../../src/nn/activations.js';
import { BatchNorm } from '../../src/nn/batchnorm.js';
import { Conv2d } from '../../src/nn/conv2d.js';
import { Dense } from '../../src/nn/dense.js';
import { Network } from '../../src/nn/network.js';
import { NetworkPosterior } from '../../src/inference/network-posterior.js';
import { slimmingMasks, slimNetwork, bnScaleUnitScores } from '../../src/pruning/slimming.js';
import { unitMasksAtRatio, unitScores } from '../../src/pruning/structured.js';
import { getCriterion } from '../../src/scores/registry.js';
import type { Dataset } from '../../src/data/dataset.js';
import { RandomStream } from '../../src/random.js';
import { useTestBackend } from '../setup-backend.js';

beforeAll(useTestBackend);

const GAMMA1 = [0.8, -0.05, 0.3, 0.02];
const GAMMA2 = [-0.4, 0.01, 0.6, 0.07, -0.25];

/** conv1 (4) → bn1 → relu → pool → conv2 (5) → bn2 → relu → flatten → fc (3), 8×8×2 inputs. */
function bnNet(lambda = 0): Network {
  const st = new RandomStream('slim-net');
  const conv1 = new Conv2d({ name: 'conv1', inH: 8, inW: 8, cin: 2, cout: 4, k: 3, stream: st.fork('c1') });
  const conv2 = new Conv2d({ name: 'conv2', inH: 3, inW: 3, cin: 4, cout: 5, k: 2, stream: st.fork('c2') });
  const fc = new Dense({ name: 'fc', inFeatures: 20, outFeatures: 3, stream: st.fork('fc') });
  const bn1 = new BatchNorm({ name: 'bn1', channels: 4, l1: lambda });
  const bn2 = new BatchNorm({ name: 'bn2', channels: 5, l1: lambda });
  bn1.gamma.assign(tf.tensor1d(GAMMA1));
  bn2.gamma.assign(tf.tensor1d(GAMMA2));
  bn1.beta.assign(tf.tensor1d([0.1, -0.2, 0.3, 0.05]));
  bn2.beta.assign(tf.tensor1d([0.2, 0.1, -0.1, 0.3, 0.15]));
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

function toyData(n: number, seed: string): Dataset {
  const s = new RandomStream(seed);
  const y = Int32Array.from({ length: n }, (_, i) => i % 3);
  const x = new Float32Array(n * 128);
  for (let i = 0; i < n; i++) for (let j = 0; j < 128; j++) x[i * 128 + j] = s.normal() + (j % 3 === y[i] ? 1 : 0);
  return { name: seed, x, y, n, shape: [128], numClasses: 3 };
}

function droppedUnits(mask: Float32Array, nOut: number): number[] {
  const alive = new Uint8Array(nOut);
  for (let f = 0; f < mask.length; f++) if (mask[f] !== 0) alive[f % nOut] = 1;
  return Array.from(alive.keys()).filter((j) => !alive[j]);
}

describe('network slimming (Liu et al. 2017)', () => {
  it('the training loss gains λ·Σ|γ|, whose gradient on γ is λ·sign(γ)', () => {
    const lambda = 1e-2;
    const net = bnNet(lambda);
    const x = tf.tensor(toyData(6, 'g').x, [6, 128]);
    const loss = (withPenalty: boolean) => () =>
      tf.tidy(() => {
        const l = tf.sum(tf.square(net.forward(x, { sample: false, training: true }))) as tf.Scalar;
        const p = net.penalty();
        return withPenalty && p ? (tf.add(l, p) as tf.Scalar) : l;
      });
    const gammas = net.layers.filter((l): l is BatchNorm => l instanceof BatchNorm).map((b) => b.gamma);
    const a = tf.variableGrads(loss(true), gammas);
    const b = tf.variableGrads(loss(false), gammas);
    gammas.forEach((g, i) => {
      const ga = a.grads[g.name]!.dataSync();
      const gb = b.grads[g.name]!.dataSync();
      const want = i === 0 ? GAMMA1 : GAMMA2;
      want.forEach((v, c) => expect(ga[c]! - gb[c]!).toBeCloseTo(lambda * Math.sign(v), 5));
    });
    tf.dispose([x, ...Object.values(a.grads), ...Object.values(b.grads), a.value, b.value]);
    net.dispose();
  });

  it('removes the channels with the smallest |γ| over all layers together (brute-force sort)', () => {
    const net = bnNet();
    const all = [...GAMMA1.map((g, c) => ({ l: 'conv1', c, g })), ...GAMMA2.map((g, c) => ({ l: 'conv2', c, g }))];
    for (const ratio of [0.2, 0.4, 0.6]) {
      const k = Math.round(ratio * all.length);
      const brute = [...all].sort((a, b) => Math.abs(a.g) - Math.abs(b.g)).slice(0, k);
      const { masks } = slimmingMasks(net, ratio);
      for (const [layer, nOut] of [
        ['conv1', 4],
        ['conv2', 5],
      ] as const) {
        const want = brute
          .filter((b) => b.l === layer)
          .map((b) => b.c)
          .sort((a, b) => a - b);
        expect(droppedUnits(masks.get(`${layer}.weight`)!, nOut)).toEqual(want);
      }
      // The classifier keeps all its units.
      expect(droppedUnits(masks.get('fc.weight')!, 3)).toEqual([]);
    }
    net.dispose();
  });

  it('scope layer removes the same fraction of each layer, smallest |γ| first', () => {
    const net = bnNet();
    const { masks } = slimmingMasks(net, 0.5, 'layer');
    // conv1: round(0.5·4) = 2 of |γ| 0.8, 0.05, 0.3, 0.02 → channels 1, 3; conv2: round(2.5) = 3 of 0.4, 0.01, 0.6, 0.07, 0.25 → 1, 3, 4.
    expect(droppedUnits(masks.get('conv1.weight')!, 4)).toEqual([1, 3]);
    expect(droppedUnits(masks.get('conv2.weight')!, 5)).toEqual([1, 3, 4]);
    net.dispose();
  });

  it('the bn-scale criterion through pruning.units (scope global) gives the same channels', async () => {
    const net = bnNet();
    const scores = await getCriterion('bn-scale').compute(new NetworkPosterior('map', net), { stream: new RandomStream('s') });
    expect(scores.get('fc.weight')!.every((v) => v === Math.fround(Math.fround(0.8) + 1))).toBe(true); // 1 + the largest |γ| (0.8)
    const again = await getCriterion('bn-scale').compute(new NetworkPosterior('map', net), { stream: new RandomStream('t') });
    for (const [k, v] of scores) expect(Array.from(again.get(k)!)).toEqual(Array.from(v));
    for (const aggregate of ['mean', 'l2'] as const) {
      const a = unitMasksAtRatio(net, unitScores(net, scores, aggregate, 'conv'), 0.4, 'global').masks;
      const b = slimmingMasks(net, 0.4).masks;
      for (const [name, m] of b) expect(Array.from(a.get(name)!)).toEqual(Array.from(m));
    }
    expect(bnScaleUnitScores(net).map((u) => Array.from(u.scores))).toEqual([
      GAMMA1.map((g) => Math.fround(Math.abs(g))),
      GAMMA2.map((g) => Math.fround(Math.abs(g))),
    ]);
    net.dispose();
  });

  it('a network without batch norm is refused with a clear message', () => {
    const net = new Network(
      [
        new Dense({ name: 'fc1', inFeatures: 2, outFeatures: 3, stream: new RandomStream('a') }),
        new Dense({ name: 'fc2', inFeatures: 3, outFeatures: 2, stream: new RandomStream('b') }),
      ],
      [2],
      2,
      'plain mlp',
    );
    expect(() => slimmingMasks(net, 0.5)).toThrow(/needs batch norm.*bn-cnn/);
    net.dispose();
  });

  it('slimNetwork: compacted = masked within 1e-5, parameters and multiply-adds counted by hand, fine-tuning runs', async () => {
    const net = bnNet(1e-4);
    const train = toyData(60, 'train');
    const val = toyData(30, 'val');
    // Non-trivial running statistics, as after training.
    for (const b of net.layers.filter((l): l is BatchNorm => l instanceof BatchNorm)) {
      b.runningMean.assign(tf.randomNormal([b.channels], 0, 0.3, 'float32', 5));
      b.runningVar.assign(tf.randomUniform([b.channels], 0.5, 1.5, 'float32', 6));
    }
    const r = await slimNetwork(net, train, val, { ratio: 0.4, epochs: 1, lr: 1e-3, batchSize: 20 }, new RandomStream('ft'));
    // 0.4·9 → 4 channels: |γ| 0.01 (conv2#1), 0.02 (conv1#3), 0.05 (conv1#1), 0.07 (conv2#3).
    expect(r.channelsRemoved).toEqual({ 'conv1.weight': 2, 'conv2.weight': 2 });
    expect(r.maxLogitDiff).toBeLessThan(1e-5);
    expect(r.compaction.batchNormChannels).toEqual({ before: 9, after: 5 });
    // conv1 3·3·2·4 → 3·3·2·2; conv2 2·2·4·5 → 2·2·2·3; fc 20·3 → 12·3.
    expect(r.compaction.params).toMatchObject({ before: 72 + 80 + 60, after: 36 + 24 + 36 });
    expect(r.compaction.macs).toEqual({ before: 72 * 36 + 80 * 4 + 60, after: 36 * 36 + 24 * 4 + 36 });
    expect(r.measured.speedup).toBeGreaterThan(0);
    expect(r.fineTune.length).toBe(1);
    const bns = r.network.layers.filter((l): l is BatchNorm => l instanceof BatchNorm);
    expect(bns.map((b) => b.channels)).toEqual([2, 3]);
    expect(bns.every((b) => b.l1 === 0)).toBe(true); // fine-tuning without the sparsity penalty
    // The original network is untouched.
    expect(net.getMasks().size).toBe(0);
    expect((net.layers[2] as BatchNorm).channels).toBe(4);
    r.network.dispose();
    net.dispose();
  });
});
