import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { SpikeSlabDense, bernoulliKl, sampleBinaryConcrete, spikeSlabKlScalar } from '../../src/bayes/spike-slab.js';
import { UnitGateDense } from '../../src/bayes/unit-gates.js';
import { RandomStream } from '../../src/random.js';
import { useTestBackend } from '../setup-backend.js';

beforeAll(useTestBackend);

const logit = (p: number) => Math.log(p) - Math.log1p(-p);

function handLayer(granularity: 'weight' | 'output'): SpikeSlabDense {
  const layer = new SpikeSlabDense({
    name: 's',
    inFeatures: 2,
    outFeatures: 2,
    granularity,
    priorInclusion: 0.01,
    slabSigma: 1.3,
    stream: new RandomStream('ss'),
  });
  layer.mu.assign(
    tf.tensor2d([
      [0.5, -1],
      [0.2, 2],
    ]),
  );
  layer.logSigma2.assign(
    tf.log(
      tf.square(
        tf.tensor2d([
          [0.1, 0.3],
          [0.05, 0.2],
        ]),
      ),
    ),
  );
  layer.logitPhi.assign(
    granularity === 'weight'
      ? tf.tensor2d([
          [logit(0.9), logit(0.2)],
          [logit(0.5), logit(0.99)],
        ])
      : tf.tensor1d([logit(0.7), logit(0.05)]),
  );
  return layer;
}

describe('spike-and-slab layer', { timeout: 60_000 }, () => {
  it('edge KL equals the closed form at hand values, summed per weight, and is ≥ 0', () => {
    const layer = handLayer('weight');
    const mus = [0.5, -1, 0.2, 2];
    const sig = [0.1, 0.3, 0.05, 0.2];
    const phis = [0.9, 0.2, 0.5, 0.99];
    const expected = mus.reduce((a, m, i) => a + spikeSlabKlScalar(phis[i]!, 0.01, [m], [sig[i]!], 1.3), 0);
    const kl = layer.kl().dataSync()[0]!;
    expect(kl).toBeCloseTo(expected, 3);
    expect(kl).toBeGreaterThanOrEqual(0);
    layer.dispose();
  });

  it('node KL sums the Gaussian part over each node’s incoming weights', () => {
    const layer = handLayer('output');
    // Node 0: incoming weights (0.5, σ 0.1) and (0.2, σ 0.05); node 1: (−1, 0.3) and (2, 0.2).
    const expected = spikeSlabKlScalar(0.7, 0.01, [0.5, 0.2], [0.1, 0.05], 1.3) + spikeSlabKlScalar(0.05, 0.01, [-1, 2], [0.3, 0.2], 1.3);
    expect(layer.kl().dataSync()[0]).toBeCloseTo(expected, 3);
    // Masking a node's every weight removes the node's whole KL.
    layer.setMask(new Float32Array([1, 0, 1, 0]));
    expect(layer.kl().dataSync()[0]).toBeCloseTo(spikeSlabKlScalar(0.7, 0.01, [0.5, 0.2], [0.1, 0.05], 1.3), 3);
    layer.dispose();
  });

  it('the Bernoulli KL is 0 at φ = λ and positive elsewhere', () => {
    const k = bernoulliKl(tf.tensor1d([logit(0.3), logit(0.9), logit(0.01)]), 0.3).dataSync();
    expect(k[0]).toBeCloseTo(0, 6);
    expect(k[1]).toBeGreaterThan(0);
    expect(k[2]).toBeGreaterThan(0);
  });

  it('E[w] = φμ and Var[w] = φ(σ² + μ²) − φ²μ² match Monte Carlo draws from q', () => {
    const layer = handLayer('weight');
    const m = layer.moments();
    const S = 40000;
    const z = sampleBinaryConcrete(layer.logitPhi, [S, 2, 2], 0.5, 4242, false);
    const eps = tf.randomNormal([S, 2, 2], 0, 1, 'float32', 17);
    const w = tf.mul(z, tf.add(layer.mu, tf.mul(tf.exp(tf.mul(layer.logSigma2, 0.5)), eps)));
    const { mean, variance } = tf.moments(w, 0);
    const mc = mean.dataSync();
    const vc = variance.dataSync();
    const phis = [0.9, 0.2, 0.5, 0.99];
    const mus = [0.5, -1, 0.2, 2];
    const sig = [0.1, 0.3, 0.05, 0.2];
    for (let i = 0; i < 4; i++) {
      const p = phis[i]!;
      expect(m.mean[i]).toBeCloseTo(p * mus[i]!, 5);
      expect(m.variance[i]).toBeCloseTo(p * (sig[i]! ** 2 + mus[i]! ** 2) - p * p * mus[i]! ** 2, 5);
      expect(m.inclusion![i]).toBeCloseTo(p, 5);
      expect(Math.abs(mc[i]! - m.mean[i]!)).toBeLessThan(4 * Math.sqrt(m.variance[i]! / S) + 1e-4);
      expect(Math.abs(vc[i]! - m.variance[i]!)).toBeLessThan(0.05 * m.variance[i]! + 1e-4);
    }
    tf.dispose([z, eps, w, mean, variance]);
    layer.dispose();
  });

  it('node gates: sampled pre-activations have the moments of the spike-and-slab mixture', () => {
    const layer = handLayer('output');
    const x = tf.tensor2d([[1, -2]]);
    const S = 30000;
    const y = layer.forward(tf.tile(x, [S, 1]), { sample: true, stream: new RandomStream('ss-fw') });
    const { mean, variance } = tf.moments(y, 0);
    const mc = mean.dataSync();
    const vc = variance.dataSync();
    // b = z·(x·μ + sqrt(x²·σ²)ε): E = φ·x·μ, Var = φ(x²σ² + (xμ)²) − φ²(xμ)².
    const xmu = [1 * 0.5 - 2 * 0.2, 1 * -1 - 2 * 2];
    const x2s2 = [0.01 + 4 * 0.0025, 0.09 + 4 * 0.04];
    const phi = [0.7, 0.05];
    for (let j = 0; j < 2; j++) {
      const e = phi[j]! * xmu[j]!;
      const v = phi[j]! * (x2s2[j]! + xmu[j]! ** 2) - e * e;
      expect(Math.abs(mc[j]! - e)).toBeLessThan(4 * Math.sqrt(v / S));
      expect(Math.abs(vc[j]! / v - 1)).toBeLessThan(0.06);
    }
    // Deterministic pass: the median model (node 1 has φ < ½ and is off).
    const det = layer.forward(x, { sample: false }).dataSync();
    expect(det[0]).toBeCloseTo(xmu[0]!, 5);
    expect(det[1]).toBeCloseTo(0, 6);
    tf.dispose([x, y, mean, variance]);
    layer.dispose();
  });

  it('the straight-through relaxed sample passes gradients to logit φ; hard samples are Bernoulli(φ)', () => {
    const th = tf.variable(tf.tensor1d([logit(0.3), logit(0.8)]));
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(sampleBinaryConcrete(t, [64, 2], 0.5, 9, true), tf.tensor1d([1, -1]))))(th);
    const gd = g.dataSync();
    expect(gd[0]).toBeGreaterThan(0);
    expect(gd[1]).toBeLessThan(0);
    const z = sampleBinaryConcrete(th, [20000, 2], 0.5, 10, true);
    const f = tf.mean(z, 0).dataSync();
    expect(Math.abs(f[0]! - 0.3)).toBeLessThan(0.015);
    expect(Math.abs(f[1]! - 0.8)).toBeLessThan(0.015);
    expect(new Set(z.dataSync()).size).toBe(2);
    tf.dispose([th, g, z]);
  });

  it('unit gates with a Gaussian spike add (1 − φ)σ2² to the variance; training steps leak no tensors', () => {
    const layer = new UnitGateDense({ name: 'u', inFeatures: 5, outFeatures: 4, priorInclusion: 0.1, sigma1: 1, sigma2: 0.05, stream: new RandomStream('ug') });
    layer.logitPhi.assign(tf.tensor1d([logit(0.5), logit(0.9), logit(0.1), logit(0.99)]));
    const m = layer.moments();
    const mu = layer.mu.dataSync();
    const s2 = layer.logSigma2.dataSync();
    for (let f = 0; f < 20; f++) {
      const p = [0.5, 0.9, 0.1, 0.99][f % 4]!;
      expect(m.variance[f]).toBeCloseTo(p * (Math.exp(s2[f]!) + mu[f]! ** 2) + (1 - p) * 0.0025 - p * p * mu[f]! ** 2, 5);
    }
    const opt = tf.train.adam(0.01);
    const st = new RandomStream('ug-train');
    const x = tf.randomNormal([16, 5], 0, 1, 'float32', 1);
    const y = tf.oneHot(
      tf.tensor1d(
        Array.from({ length: 16 }, (_, i) => i % 4),
        'int32',
      ),
      4,
    );
    const step = () =>
      opt.minimize(
        () => tf.add(tf.losses.softmaxCrossEntropy(y, layer.forward(x, { sample: true, stream: st, training: true })), tf.div(layer.kl(), 1000)) as tf.Scalar,
        false,
        layer.variables(),
      );
    const before = layer.logitPhi.dataSync().slice();
    step();
    const n0 = tf.memory().numTensors;
    for (let i = 0; i < 4; i++) step();
    expect(tf.memory().numTensors).toBe(n0);
    expect(layer.logitPhi.dataSync().some((v, i) => v !== before[i])).toBe(true);
    tf.dispose([x, y]);
    opt.dispose();
    layer.dispose();
  });
});
