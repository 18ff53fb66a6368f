import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { L0Conv2d, L0Dense } from '../../src/bayes/hard-concrete.js';
import { LrtConv2d } from '../../src/bayes/lrt-conv2d.js';
import { LrtDense } from '../../src/bayes/lrt-dense.js';
import { SpikeSlabDense } from '../../src/bayes/spike-slab.js';
import { UnitGateDense, UnitRemoval } from '../../src/bayes/unit-gates.js';
import { Activation, Flatten, MaxPool2d, Reshape } from '../../src/nn/activations.js';
import { Conv2d } from '../../src/nn/conv2d.js';
import { Dense } from '../../src/nn/dense.js';
import { Network, type MaskSet } from '../../src/nn/network.js';
import { compactByGates, compactInPlace, compactNetwork, formatCompactionReport } from '../../src/pruning/compaction.js';
import { gateMasks, gateUnitScores, unitMasksAtRatio, unitScores } from '../../src/pruning/structured.js';
import { RandomStream } from '../../src/random.js';
import { useTestBackend } from '../setup-backend.js';

beforeAll(useTestBackend);

function randomBias(l: { b: tf.Variable }, seed: number): void {
  l.b.assign(tf.randomNormal(l.b.shape, 0, 0.5, 'float32', seed));
}

function maxDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

function magnitudeScores(net: Network): Map<string, Float32Array> {
  return new Map(net.moments().map((m) => [m.name, Float32Array.from(m.mean, Math.abs)]));
}

function mlp(): Network {
  const st = new RandomStream('mlp');
  const fc1 = new Dense({ name: 'fc1', inFeatures: 10, outFeatures: 8, stream: st.fork('1') });
  const fc2 = new LrtDense({ name: 'fc2', inFeatures: 8, outFeatures: 6, prior: { type: 'log-uniform' }, stream: st.fork('2') });
  const fc3 = new Dense({ name: 'fc3', inFeatures: 6, outFeatures: 3, stream: st.fork('3') });
  randomBias(fc1, 1);
  randomBias(fc2, 2);
  randomBias(fc3, 3);
  return new Network([fc1, new Activation('a1', 'relu'), fc2, new Activation('a2', 'tanh'), fc3], [10], 3, 'mlp');
}

function convNet(l0 = false): Network {
  const st = new RandomStream('conv');
  const conv1 = l0
    ? new L0Conv2d({ name: 'conv1', inH: 8, inW: 8, cin: 2, cout: 4, k: 3, lambda: 1, stream: st.fork('c1') })
    : new Conv2d({ name: 'conv1', inH: 8, inW: 8, cin: 2, cout: 4, k: 3, stream: st.fork('c1') });
  const conv2 = l0
    ? new L0Conv2d({ name: 'conv2', inH: 3, inW: 3, cin: 4, cout: 5, k: 2, lambda: 1, stream: st.fork('c2') })
    : new LrtConv2d({ name: 'conv2', inH: 3, inW: 3, cin: 4, cout: 5, k: 2, prior: { type: 'log-uniform' }, stream: st.fork('c2') });
  const fc = l0
    ? new L0Dense({ name: 'fc', inFeatures: 20, outFeatures: 3, granularity: 'input', lambda: 1, stream: st.fork('fc') })
    : new Dense({ name: 'fc', inFeatures: 20, outFeatures: 3, stream: st.fork('fc') });
  randomBias(conv1, 4);
  randomBias(conv2, 5);
  randomBias(fc, 6);
  return new Network(
    [
      new Reshape('reshape', [8, 8, 2]),
      conv1,
      new Activation('a1', 'relu'),
      new MaxPool2d('p1', 2),
      conv2,
      new Activation('a2', 'elu'),
      new Flatten('flat'),
      fc,
    ],
    [128],
    3,
    'conv',
  );
}

/** Masked vs compacted deterministic outputs on the same inputs. */
function agreement(net: Network, masks: MaskSet, x: tf.Tensor) {
  net.setMasks(masks);
  const masked = net.forward(x, { sample: false });
  const { network, report } = compactNetwork(net);
  const compact = network.forward(x, { sample: false });
  const diff = maxDiff(masked, compact);
  tf.dispose([masked, compact]);
  return { diff, network, report };
}

describe('structured masks', { timeout: 60_000 }, () => {
  it('unit masks remove exactly round(ratio·units) units per layer (layer scope) and in total (global)', () => {
    const net = mlp();
    const us = unitScores(net, magnitudeScores(net), 'l2');
    expect(us.map((u) => u.scores.length)).toEqual([8, 6]); // the classifier is never scored
    const r = unitMasksAtRatio(net, us, 0.5, 'layer');
    expect(r.unitsRemoved).toEqual({ 'fc1.weight': 4, 'fc2.weight': 3 });
    const m1 = r.masks.get('fc1.weight')!;
    const deadCols = [...Array(8).keys()].filter((j) => [...Array(10).keys()].every((i) => m1[i * 8 + j] === 0));
    expect(deadCols.length).toBe(4);
    // The removed units are the 4 lowest-L2 columns.
    const sorted = Array.from(us[0]!.scores)
      .map((s, j) => [s, j] as const)
      .sort((a, b) => a[0] - b[0]);
    expect(deadCols.sort()).toEqual(
      sorted
        .slice(0, 4)
        .map((x) => x[1])
        .sort(),
    );
    // Parameters removed by hand: fc1 4 of 8 columns (40), fc2 3 of 6 columns and 4 of 8 rows
    // (rows 4·6 = 24 plus columns 3·4 = 12 → 36), fc3 3 of 6 rows (9): 85 of 80 + 48 + 18 = 146.
    expect(r.parameterFraction).toBeCloseTo(85 / 146, 10);
    const g = unitMasksAtRatio(net, us, 0.3, 'global');
    const total = Object.values(g.unitsRemoved).reduce((a, b) => a + b, 0);
    expect(total).toBe(Math.round(0.3 * 14));
    expect(g.unitFraction).toBeCloseTo(4 / 14, 10);
    net.dispose();
  });

  it('gate unit scores and gate masks follow the gates (input gates score the previous layer)', () => {
    const st = new RandomStream('gates');
    const fc1 = new SpikeSlabDense({ name: 'fc1', inFeatures: 5, outFeatures: 4, granularity: 'output', priorInclusion: 0.01, stream: st.fork('1') });
    const fc2 = new L0Dense({ name: 'fc2', inFeatures: 4, outFeatures: 3, granularity: 'input', lambda: 1, stream: st.fork('2') });
    const fc3 = new Dense({ name: 'fc3', inFeatures: 3, outFeatures: 2, stream: st.fork('3') });
    fc1.logitPhi.assign(tf.tensor1d([5, -5, 5, 5]));
    fc2.logAlpha.assign(tf.tensor1d([3, 3, -6, 3]));
    const net = new Network([fc1, new Activation('a', 'relu'), fc2, new Activation('b', 'relu'), fc3], [5], 2, 'g');
    const gs = gateUnitScores(net);
    // fc1's units: own output gate × fc2's input gate; fc2 has no unit gates of its own outputs.
    expect(gs.map((g) => g.weight)).toEqual(['fc1.weight']);
    const sc = gs[0]!.scores;
    expect(sc[1]).toBeLessThan(0.01);
    expect(sc[2]).toBeLessThan(0.02);
    expect(sc[0]).toBeGreaterThan(0.95);
    const byGates = unitMasksAtRatio(net, gs, 0.5);
    expect(byGates.unitsRemoved).toEqual({ 'fc1.weight': 2 });
    const mg = byGates.masks.get('fc1.weight')!;
    expect([0, 1, 2, 3, 4].every((i) => mg[i * 4 + 1] === 0 && mg[i * 4 + 2] === 0)).toBe(true);
    const masks = gateMasks(net);
    const m1 = masks.get('fc1.weight')!;
    expect([0, 1, 2, 3, 4].every((i) => m1[i * 4 + 1] === 0)).toBe(true);
    expect(m1.reduce((a, b) => a + b, 0)).toBe(15);
    const m2 = masks.get('fc2.weight')!;
    expect([0, 1, 2].every((o) => m2[2 * 3 + o] === 0)).toBe(true); // input 2 closed (ẑ = 0)
    expect(m2.reduce((a, b) => a + b, 0)).toBe(9);
    // Compaction removes fc1's unit 1 (dead) and unit 2 (unused by fc2): 4 → 2 units.
    const x = tf.randomNormal([7, 5], 0, 1, 'float32', 1);
    const { diff, network, report } = agreement(net, masks, x);
    expect(diff).toBeLessThan(1e-5);
    expect(report.layers[0]!.shapeAfter).toEqual([5, 2]);
    expect(report.layers[1]!.shapeAfter).toEqual([2, 3]);
    network.dispose();
    x.dispose();
    net.dispose();
  });
});

describe('compaction', { timeout: 60_000 }, () => {
  it('dense → dense with removed inputs: compacted and masked outputs agree ≤ 1e-5; the report is a hand count', () => {
    const net = mlp();
    const r = unitMasksAtRatio(net, unitScores(net, magnitudeScores(net)), 0.5, 'layer');
    const m1 = r.masks.get('fc1.weight')!;
    for (const i of [0, 3]) m1.fill(0, i * 8, i * 8 + 8); // inputs 0 and 3 unused
    const x = tf.randomNormal([16, 10], 0, 1, 'float32', 7);
    const { diff, network, report } = agreement(net, r.masks, x);
    expect(diff).toBeLessThan(1e-5);
    expect(network.layers[0]!.kind).toBe('select-features');
    expect(report.inputs).toEqual({ before: 10, after: 8 });
    expect(report.layers.map((l) => l.shapeAfter)).toEqual([
      [8, 4],
      [4, 3],
      [3, 3],
    ]);
    expect(report.params).toEqual({ before: 80 + 48 + 18, after: 32 + 12 + 9, removedFraction: 1 - 53 / 146 });
    expect(report.macs).toEqual({ before: 146, after: 53 });
    expect(report.speedup).toBeCloseTo(146 / 53, 10);
    expect(report.biases).toEqual({ before: 17, after: 10 });
    // The compacted network is independent of the original.
    network.dispose();
    expect(net.forward(x, { sample: false }).shape).toEqual([16, 3]);
    x.dispose();
    net.dispose();
  });

  it('conv → conv and conv → flatten → dense: removed channels fold into the next biases (≤ 1e-5)', () => {
    const net = convNet();
    const r = unitMasksAtRatio(net, unitScores(net, magnitudeScores(net), 'l1'), 0.4, 'layer');
    expect(r.unitsRemoved).toEqual({ 'conv1.weight': 2, 'conv2.weight': 2 });
    const x = tf.randomNormal([5, 128], 0, 1, 'float32', 9);
    const { diff, network, report } = agreement(net, r.masks, x);
    expect(diff).toBeLessThan(1e-5);
    expect(report.layers.map((l) => l.shapeAfter)).toEqual([
      [3, 3, 2, 2],
      [2, 2, 2, 3],
      [12, 3],
    ]);
    // MACs: conv1 3·3·2·4 weights × 36 positions; conv2 2·2·4·5 × 4; fc 20·3.
    expect(report.macs.before).toBe(72 * 36 + 80 * 4 + 60);
    expect(report.macs.after).toBe(36 * 36 + 24 * 4 + 36);
    network.dispose();
    x.dispose();
    net.dispose();
  });

  it('L0-gated conv net: masks from the gates, compacted = masked (≤ 1e-5), sampled passes still run', () => {
    const net = convNet(true);
    const [c1, c2, fc] = net.weightLayers() as [L0Conv2d, L0Conv2d, L0Dense];
    c1.logAlpha.assign(tf.tensor1d([2, -6, 2, 2]));
    c2.logAlpha.assign(tf.tensor1d([2, 2, -6, 2, -6]));
    fc.logAlpha.assign(tf.tensor1d(Array.from({ length: 20 }, (_, i) => (i % 7 === 0 ? -6 : 2))));
    const masks = gateMasks(net);
    const x = tf.randomNormal([4, 128], 0, 1, 'float32', 11);
    const { diff, network, report } = agreement(net, masks, x);
    expect(diff).toBeLessThan(1e-5);
    expect(report.layers[0]!.outputsRemoved).toBe(1);
    expect(report.layers[1]!.outputsRemoved).toBe(2);
    expect(report.layers[2]!.shapeAfter).toEqual([12, 3]);
    const byGates = compactByGates(net);
    expect(byGates.report).toEqual(report);
    expect(formatCompactionReport(report)).toContain('| conv2 | l0-conv2d | 2×2×4×5 | 2×2×3×3 |');
    byGates.network.dispose();
    const s = network.forward(x, { sample: true, stream: new RandomStream('s') });
    expect(s.shape).toEqual([4, 3]);
    tf.dispose([s, x]);
    network.dispose();
    net.dispose();
  });

  it('in-place compaction cuts the Adam state too, and training continues', () => {
    const net = mlp();
    const opt = tf.train.adam(0.01);
    const x = tf.randomNormal([32, 10], 0, 1, 'float32', 3);
    const y = tf.oneHot(
      tf.tensor1d(
        Array.from({ length: 32 }, (_, i) => i % 3),
        'int32',
      ),
      3,
    );
    const st = new RandomStream('inplace');
    const step = () =>
      opt.minimize(() => tf.losses.softmaxCrossEntropy(y, net.forward(x, { sample: true, stream: st, training: true })) as tf.Scalar, false, net.variables());
    for (let i = 0; i < 3; i++) step();
    const r = unitMasksAtRatio(net, unitScores(net, magnitudeScores(net)), 0.5, 'layer');
    net.setMasks(r.masks);
    const before = net.forward(x, { sample: false });
    const n0 = tf.memory().numTensors;
    const report = compactInPlace(net, opt);
    expect(report!.params.after).toBe(40 + 12 + 9);
    const after = net.forward(x, { sample: false });
    expect(maxDiff(before, after)).toBeLessThan(1e-5);
    // Fewer tensors: smaller layers, smaller optimizer state, nothing leaked.
    expect(tf.memory().numTensors).toBeLessThanOrEqual(n0 + 1);
    const moments = (opt as unknown as { accumulatedFirstMoment: { variable: tf.Variable }[] }).accumulatedFirstMoment;
    expect(moments.map((m) => m.variable.shape)).toEqual(net.variables().map((v) => v.shape));
    step();
    const n1 = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) step();
    expect(tf.memory().numTensors).toBe(n1);
    tf.dispose([before, after, x, y]);
    opt.dispose();
    net.dispose();
  });

  it('unit removal during training: units whose gate stays below the threshold for K checks are removed', () => {
    const st = new RandomStream('removal');
    const fc1 = new UnitGateDense({ name: 'fc1', inFeatures: 6, outFeatures: 5, priorInclusion: 0.01, stream: st.fork('1') });
    const fc2 = new UnitGateDense({ name: 'fc2', inFeatures: 5, outFeatures: 4, priorInclusion: 0.01, stream: st.fork('2') });
    const fc3 = new LrtDense({ name: 'fc3', inFeatures: 4, outFeatures: 2, prior: { type: 'gaussian', sigma: 1 }, stream: st.fork('3') });
    randomBias(fc1, 1);
    randomBias(fc2, 2);
    const net = new Network([fc1, new Activation('a', 'relu'), fc2, new Activation('b', 'relu'), fc3], [6], 2, 'ug');
    fc1.logitPhi.assign(tf.tensor1d([5, -8, 5, -8, 5]));
    fc2.logitPhi.assign(tf.tensor1d([5, 5, -8, 5]));
    const removal = new UnitRemoval({ threshold: 0.01, patience: 2 });
    const x = tf.randomNormal([8, 6], 0, 1, 'float32', 5);
    const before = net.forward(x, { sample: false });
    const e1 = removal.check(net);
    expect(e1.removed).toEqual({});
    // logit −8: P = 3.4e-4 (closed, below 0.01); logit 5: open
    expect(e1.gates).toEqual({ fc1: { closed: 2, belowThreshold: 2, total: 5 }, fc2: { closed: 1, belowThreshold: 1, total: 4 } });
    const e2 = removal.check(net);
    expect(e2.removed).toEqual({ fc1: 2, fc2: 1 });
    expect(e2.units).toEqual({ fc1: 3, fc2: 3, fc3: 2 });
    expect(net.weightLayers().map((l) => l.weightShape)).toEqual([
      [6, 3],
      [3, 3],
      [3, 2],
    ]);
    const after = net.forward(x, { sample: false });
    expect(maxDiff(before, after)).toBeLessThan(1e-5);
    expect(removal.check(net).removed).toEqual({});
    tf.dispose([x, before, after]);
    net.dispose();
  });
});
