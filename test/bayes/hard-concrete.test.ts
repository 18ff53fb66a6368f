import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  HC_SHIFT,
  L0Conv2d,
  L0Dense,
  expectedL0,
  hardConcreteMoments,
  probNonZero,
  probNonZeroScalar,
  sampleHardConcrete,
  testTimeGate,
  testTimeGateScalar,
} from '../../src/bayes/hard-concrete.js';
import { RandomStream } from '../../src/random.js';
import { useTestBackend } from '../setup-backend.js';

beforeAll(useTestBackend);

const LOG_ALPHAS = [-4, -2, -0.5, 0, 1, 3];

describe('hard-concrete gates', { timeout: 60_000 }, () => {
  it('P(z ≠ 0) = sigmoid(log α + 1.5986) and the expected L0 agree with a Monte Carlo count of non-zero gates', () => {
    expect(HC_SHIFT).toBeCloseTo(-1.5986, 4);
    const la = tf.tensor1d(LOG_ALPHAS);
    const S = 20000;
    const z = sampleHardConcrete(la, [S, LOG_ALPHAS.length], 12345);
    const nonZero = tf.mean(tf.cast(tf.notEqual(z, 0), 'float32'), 0).dataSync();
    const p = probNonZero(la).dataSync();
    for (let i = 0; i < LOG_ALPHAS.length; i++) {
      expect(p[i]).toBeCloseTo(probNonZeroScalar(LOG_ALPHAS[i]!), 6);
      const se = Math.sqrt((p[i]! * (1 - p[i]!)) / S);
      expect(Math.abs(nonZero[i]! - p[i]!)).toBeLessThan(4 * se + 1e-4);
    }
    // Expected L0 (group size 3) vs the MC count of non-zero gates per draw.
    const e = expectedL0(la, 3).dataSync()[0]!;
    const mcCount = tf.mul(tf.mean(tf.sum(tf.cast(tf.notEqual(z, 0), 'float32'), 1)), 3).dataSync()[0]!;
    expect(Math.abs(e - mcCount) / e).toBeLessThan(0.01);
    tf.dispose([la, z]);
  });

  it('gate samples lie in [0, 1] with point masses at 0 and 1, and E[z], Var[z] match Monte Carlo', () => {
    const la = tf.tensor1d(LOG_ALPHAS);
    const S = 40000;
    const z = sampleHardConcrete(la, [S, LOG_ALPHAS.length], 777);
    const zd = z.dataSync();
    let min = Infinity;
    let max = -Infinity;
    for (const v of zd) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    expect(min).toBe(0);
    expect(max).toBe(1);
    const { mean, variance } = tf.moments(z, 0);
    const m = mean.dataSync();
    const v = variance.dataSync();
    const ones = tf.mean(tf.cast(tf.equal(z, 1), 'float32'), 0).dataSync();
    for (let i = 0; i < LOG_ALPHAS.length; i++) {
      const hm = hardConcreteMoments(LOG_ALPHAS[i]!);
      const se = Math.sqrt(hm.variance / S);
      expect(Math.abs(m[i]! - hm.mean)).toBeLessThan(4 * se + 1e-4);
      expect(Math.abs(v[i]! - hm.variance)).toBeLessThan(0.05 * hm.variance + 2e-4);
      expect(Math.abs(ones[i]! - hm.pOne)).toBeLessThan(4 * Math.sqrt((hm.pOne * (1 - hm.pOne)) / S) + 1e-4);
      expect(1 - hm.pZero).toBeCloseTo(probNonZeroScalar(LOG_ALPHAS[i]!), 10);
    }
    tf.dispose([la, z, mean, variance]);
  });

  it('the test-time gate is clamp(sigmoid(log α)·1.2 − 0.1, 0, 1)', () => {
    const la = tf.tensor1d([-5, -2.3979, -1, 0, 2.3979, 5]);
    const g = testTimeGate(la).dataSync();
    const expected = [0, 0, 1.2 / (1 + Math.E) - 0.1, 0.5, 1, 1];
    expected.forEach((e, i) => expect(g[i]).toBeCloseTo(e, 4));
    expect(testTimeGateScalar(0)).toBeCloseTo(0.5, 10);
    la.dispose();
  });
});

describe('L0Dense', { timeout: 60_000 }, () => {
  it('E[w] and Var[w] of gated weights match Monte Carlo estimates (weight gates)', () => {
    const st = new RandomStream('l0-moments');
    const layer = new L0Dense({ name: 'g', inFeatures: 3, outFeatures: 2, granularity: 'weight', lambda: 0.1, stream: st });
    layer.logAlpha.assign(
      tf.tensor2d([
        [-3, -1],
        [0, 0.5],
        [2, 4],
      ]),
    );
    const mom = layer.moments();
    const S = 40000;
    const z = sampleHardConcrete(layer.logAlpha, [S, 3, 2], 99);
    const w = tf.mul(z, layer.theta);
    const { mean, variance } = tf.moments(w, 0);
    const m = mean.dataSync();
    const v = variance.dataSync();
    for (let i = 0; i < 6; i++) {
      const se = Math.sqrt(mom.variance[i]! / S);
      expect(Math.abs(m[i]! - mom.mean[i]!)).toBeLessThan(4 * se + 1e-5);
      expect(Math.abs(v[i]! - mom.variance[i]!)).toBeLessThan(0.05 * mom.variance[i]! + 1e-6);
      expect(mom.inclusion![i]).toBeCloseTo(probNonZeroScalar(layer.logAlpha.dataSync()[i]!), 6);
    }
    expect(mom.variance.every((x) => x > 0)).toBe(true);
    tf.dispose([z, w, mean, variance]);
    layer.dispose();
  });

  it('input-gate moments agree with the empirical moments of the sampled forward pass', () => {
    const st = new RandomStream('l0-input');
    const layer = new L0Dense({ name: 'g', inFeatures: 4, outFeatures: 3, granularity: 'input', lambda: 0.1, stream: st });
    layer.logAlpha.assign(tf.tensor1d([-1, 0, 1, 2]));
    const mom = layer.moments();
    // One input one-hot at i: the output is θ[i, :]·z_i + b, so its moments are those of the gated weights of row i.
    const S = 20000;
    for (let i = 0; i < 4; i++) {
      const x = tf.tidy(() => tf.tile(tf.cast(tf.oneHot(tf.tensor1d([i], 'int32'), 4), 'float32'), [S, 1]));
      const y = layer.forward(x, { sample: true, stream: st });
      const { mean, variance } = tf.moments(y, 0);
      const m = mean.dataSync();
      const v = variance.dataSync();
      for (let o = 0; o < 3; o++) {
        const f = i * 3 + o;
        expect(Math.abs(m[o]! - mom.mean[f]!)).toBeLessThan(4 * Math.sqrt(mom.variance[f]! / S) + 1e-5);
        expect(Math.abs(v[o]! - mom.variance[f]!)).toBeLessThan(0.06 * mom.variance[f]! + 1e-6);
      }
      tf.dispose([x, y, mean, variance]);
    }
    layer.dispose();
  });

  it('kl() carries λ·E[L0] counted per gated weight, and masks remove weights from it', () => {
    const st = new RandomStream('l0-kl');
    const lambda = 0.3;
    const layer = new L0Dense({ name: 'g', inFeatures: 4, outFeatures: 5, granularity: 'input', lambda, stream: st });
    const la = layer.logAlpha.dataSync();
    const expected = lambda * 5 * Array.from(la).reduce((a, x) => a + probNonZeroScalar(x), 0);
    expect(layer.kl().dataSync()[0]).toBeCloseTo(expected, 4);
    const mask = new Float32Array(20).fill(1);
    mask.fill(0, 0, 5); // row 0 gone
    mask[7] = 0;
    layer.setMask(mask);
    // Row 0 is gone, row 1 keeps 4 of 5 weights, rows 2 and 3 keep all 5.
    const expMasked = lambda * (4 * probNonZeroScalar(la[1]!) + 5 * probNonZeroScalar(la[2]!) + 5 * probNonZeroScalar(la[3]!));
    expect(layer.kl().dataSync()[0]).toBeCloseTo(expMasked, 4);
    layer.dispose();
  });

  it('gradients reach θ and log α through sampled gates; training steps leak no tensors', () => {
    const st = new RandomStream('l0-train');
    const layer = new L0Dense({ name: 'g', inFeatures: 6, outFeatures: 3, granularity: 'input', lambda: 0.5, stream: st });
    const opt = tf.train.adam(0.01);
    const x = tf.randomNormal([32, 6], 0, 1, 'float32', 5);
    const y = tf.oneHot(
      tf.tensor1d(
        Array.from({ length: 32 }, (_, i) => i % 3),
        'int32',
      ),
      3,
    );
    const step = () =>
      opt.minimize(
        () => {
          const logits = layer.forward(x, { sample: true, stream: st, training: true });
          return tf.add(tf.losses.softmaxCrossEntropy(y, logits), tf.div(layer.kl(), 100)) as tf.Scalar;
        },
        false,
        layer.variables(),
      );
    const before = layer.logAlpha.dataSync().slice();
    step();
    const n0 = tf.memory().numTensors;
    for (let i = 0; i < 4; i++) step();
    expect(tf.memory().numTensors).toBe(n0);
    const after = layer.logAlpha.dataSync();
    expect(after.some((v, i) => v !== before[i])).toBe(true);
    tf.dispose([x, y]);
    opt.dispose();
    layer.dispose();
  });
});

describe('L0Conv2d', { timeout: 60_000 }, () => {
  it('gates output channels: deterministic pass folds ẑ, E[L0] counts k²·cin weights per channel', () => {
    const st = new RandomStream('l0-conv');
    const layer = new L0Conv2d({ name: 'c', inH: 6, inW: 6, cin: 2, cout: 3, k: 3, lambda: 1, stream: st });
    expect(layer.macsPerWeight).toBe(16);
    layer.logAlpha.assign(tf.tensor1d([-6, 0, 6]));
    const x = tf.randomNormal([2, 6, 6, 2], 0, 1, 'float32', 3);
    const y = layer.forward(x, { sample: false });
    const expected = tf.add(tf.conv2d(x as tf.Tensor4D, tf.mul(layer.theta, testTimeGate(layer.logAlpha)) as tf.Tensor4D, 1, 'valid'), layer.b);
    expect(tf.max(tf.abs(tf.sub(y, expected))).dataSync()[0]).toBeLessThan(1e-5);
    // Channel 0 is closed (ẑ = 0): its output is exactly the bias (0).
    const y0 = tf.slice(y, [0, 0, 0, 0], [-1, -1, -1, 1]);
    expect(tf.max(tf.abs(y0)).dataSync()[0]).toBe(0);
    const p = [-6, 0, 6].map(probNonZeroScalar).reduce((a, b) => a + b, 0);
    expect(layer.kl().dataSync()[0]).toBeCloseTo(18 * p, 3);
    const g = layer.gates();
    expect(Array.from(g.keep)).toEqual([0, 1, 1]);
    tf.dispose([x, y, expected, y0]);
    layer.dispose();
  });
});
