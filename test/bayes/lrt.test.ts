import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { LrtDense } from '../../src/bayes/lrt-dense.js';
import { RandomStream } from '../../src/random.js';
import { useTestBackend } from '../setup-backend.js';

beforeAll(useTestBackend);

describe('LRT dense layer', { timeout: 60_000 }, () => {
  it('sampled pre-activations have mean x·θ + b and variance (x∘x)·σ²', () => {
    const st = new RandomStream('lrt-moments');
    const layer = new LrtDense({ name: 'l', inFeatures: 6, outFeatures: 4, prior: { type: 'log-uniform' }, initLogSigma2: Math.log(0.2), stream: st });
    layer.b.assign(tf.tensor1d([0.1, -0.2, 0.3, 0]));
    const x = tf.tensor2d([[1, -2, 0.5, 0, 3, 1]]);
    const S = 20000;
    const xs = tf.tile(x, [S, 1]);
    const y = layer.forward(xs, { sample: true, stream: st });
    const { mean, variance } = tf.moments(y, 0);
    const expMean = tf.add(tf.matMul(x, layer.theta as tf.Tensor2D), layer.b);
    const expVar = tf.matMul(tf.square(x), tf.exp(layer.logSigma2) as tf.Tensor2D);
    const m = mean.dataSync(),
      v = variance.dataSync(),
      em = expMean.dataSync(),
      ev = expVar.dataSync();
    for (let j = 0; j < 4; j++) {
      const se = Math.sqrt(ev[j]! / S);
      expect(Math.abs(m[j]! - em[j]!)).toBeLessThan(4 * se);
      expect(Math.abs(v[j]! / ev[j]! - 1)).toBeLessThan(0.05);
    }
    // The deterministic pass is the mean.
    const det = layer.forward(x, { sample: false }).dataSync();
    for (let j = 0; j < 4; j++) expect(det[j]).toBeCloseTo(em[j]!, 5);
    tf.dispose([x, xs, y, mean, variance, expMean, expVar]);
    layer.dispose();
  });

  it('masks remove weights from the mean, the variance and the KL', () => {
    const st = new RandomStream('lrt-mask');
    const layer = new LrtDense({ name: 'l', inFeatures: 3, outFeatures: 2, prior: { type: 'gaussian', sigma: 1 }, initLogSigma2: Math.log(0.5), stream: st });
    const mask = new Float32Array([1, 0, 0, 1, 1, 1]);
    const klFull = layer.kl().dataSync()[0]!;
    layer.setMask(mask);
    const m = layer.moments();
    expect(Array.from(m.variance).map((v) => (v === 0 ? 0 : 1))).toEqual(Array.from(mask));
    expect(m.mean[1]).toBe(0);
    // KL of the kept 4 weights only: compare against the sum of per-weight closed forms.
    const th = layer.theta.dataSync();
    const perWeight = (i: number) => Math.log(1 / Math.sqrt(0.5)) + (0.5 + th[i]! ** 2) / 2 - 0.5;
    const kept = [0, 3, 4, 5].reduce((a, i) => a + perWeight(i), 0);
    expect(layer.kl().dataSync()[0]).toBeCloseTo(kept, 4);
    expect(klFull).toBeCloseTo(kept + perWeight(1) + perWeight(2), 4);
    // Masked input columns do not move the output of a masked weight.
    const x = tf.tensor2d([[0, 5, 0]]); // only input 1 is on; its weights are [0 (masked), 1 (kept)]
    const y = layer.forward(x, { sample: true, stream: st }).dataSync();
    // Masked: zero mean and zero variance (only the 1e-8 variance floor's noise, ~1e-4, remains).
    expect(Math.abs(y[0]!)).toBeLessThan(1e-3);
    expect(Math.abs(y[1]!)).toBeGreaterThan(1e-3);
    tf.dispose(x);
    layer.dispose();
  });
});

/**
 * Kingma, Salimans & Welling (2015), Table 1: the local reparameterization trick gives
 * lower-variance gradients than sampling separate weights per example, which beats one
 * weight sample shared by the minibatch. For the mean θ the LRT and separate-sample
 * gradients have the same distribution (∂b/∂θ = a in both), so the ordering is asserted
 * on the gradient of log σ², and on θ only against the shared sample.
 */
describe('gradient variance of the three estimators', { timeout: 120_000 }, () => {
  it('LRT < separate weight samples < shared weight sample', () => {
    const st = new RandomStream('gradvar');
    const B = 32,
      D = 12,
      K = 5,
      R = 150;
    const x = tf.randomNormal([B, D], 0, 1, 'float32', st.nextSeed());
    const y = tf.oneHot(
      tf.tensor1d(
        Array.from({ length: B }, () => st.int(K)),
        'int32',
      ),
      K,
    );
    const theta = tf.variable(tf.randomNormal([D, K], 0, 0.3, 'float32', st.nextSeed()));
    const ls2 = tf.variable(tf.fill([D, K], Math.log(0.3)));
    const nll = (logits: tf.Tensor) => tf.mean(tf.neg(tf.sum(tf.mul(y, tf.logSoftmax(logits)), 1))) as tf.Scalar;

    const estimators: Record<string, () => tf.Scalar> = {
      lrt: () => {
        const mu = tf.matMul(x, theta);
        const v = tf.matMul(tf.square(x), tf.exp(ls2) as tf.Tensor2D);
        return nll(tf.add(mu, tf.mul(tf.sqrt(v), tf.randomNormal([B, K], 0, 1, 'float32', st.nextSeed()))));
      },
      separate: () => {
        const w = tf.add(theta, tf.mul(tf.sqrt(tf.exp(ls2)), tf.randomNormal([B, D, K], 0, 1, 'float32', st.nextSeed())));
        return nll(tf.squeeze(tf.matMul(tf.expandDims(x, 1), w), [1]));
      },
      shared: () => {
        const w = tf.add(theta, tf.mul(tf.sqrt(tf.exp(ls2)), tf.randomNormal([D, K], 0, 1, 'float32', st.nextSeed())));
        return nll(tf.matMul(x, w as tf.Tensor2D));
      },
    };
    const totalVariance = (f: () => tf.Scalar, v: tf.Variable) =>
      tf.tidy(() => {
        const gs: tf.Tensor[] = [];
        for (let r = 0; r < R; r++) gs.push(tf.variableGrads(f, [v]).grads[v.name]!);
        const { variance } = tf.moments(tf.stack(gs), 0);
        return tf.sum(variance).dataSync()[0]!;
      });
    const vs = Object.fromEntries(Object.entries(estimators).map(([k, f]) => [k, { ls2: totalVariance(f, ls2), theta: totalVariance(f, theta) }]));
    expect(vs.lrt!.ls2).toBeLessThan(vs.separate!.ls2);
    expect(vs.separate!.ls2).toBeLessThan(vs.shared!.ls2);
    expect(vs.separate!.theta).toBeLessThan(vs.shared!.theta);
    expect(vs.lrt!.theta).toBeLessThan(vs.shared!.theta);
    expect(vs.lrt!.theta / vs.separate!.theta).toBeGreaterThan(0.7);
    expect(vs.lrt!.theta / vs.separate!.theta).toBeLessThan(1.3);
    tf.dispose([x, y, theta, ls2]);
  });
});

describe('wasm matMul gradient', { timeout: 60_000 }, () => {
  it('matches the cpu backend for every transpose combination', async () => {
    const st = new RandomStream('mm');
    const A = Array.from({ length: 4 * 5 }, () => st.normal());
    const Bv = Array.from({ length: 5 * 3 }, () => st.normal());
    const grads = async (backend: string) => {
      await tf.setBackend(backend);
      const out: number[][] = [];
      for (const [ta, tb] of [
        [false, false],
        [false, true],
        [true, false],
        [true, true],
      ] as const) {
        const a = ta ? tf.transpose(tf.tensor2d(A, [4, 5])) : tf.tensor2d(A, [4, 5]);
        const b = tb ? tf.transpose(tf.tensor2d(Bv, [5, 3])) : tf.tensor2d(Bv, [5, 3]);
        const w = tf.tensor2d(
          Array.from({ length: 12 }, (_, i) => Math.cos(i)),
          [4, 3],
        );
        const g = tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(tf.matMul(p as tf.Tensor2D, q as tf.Tensor2D, ta, tb), w)));
        const [ga, gb] = g([a, b]);
        out.push([...ga!.dataSync(), ...gb!.dataSync()]);
        tf.dispose([a, b, w, ga!, gb!]);
      }
      return out;
    };
    const cpu = await grads('cpu');
    const wasm = await grads('wasm');
    for (let i = 0; i < cpu.length; i++) for (let j = 0; j < cpu[i]!.length; j++) expect(wasm[i]![j]).toBeCloseTo(cpu[i]![j]!, 4);
    await tf.setBackend('cpu');
  });
});
