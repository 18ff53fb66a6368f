import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { LrtConv2d } from '../../src/bayes/lrt-conv2d.js';
import { klTerm } from '../../src/bayes/priors.js';
import { Conv2d, convOutputSize } from '../../src/nn/conv2d.js';
import { RandomStream } from '../../src/random.js';
import { useTestBackend } from '../setup-backend.js';

beforeAll(useTestBackend);

describe('LRT conv2d', { timeout: 60_000 }, () => {
  it('sampled pre-activations have mean conv(x, θ) + b and variance conv(x², σ²) (Monte Carlo)', () => {
    const st = new RandomStream('lrt-conv');
    const layer = new LrtConv2d({
      name: 'c',
      inH: 5,
      inW: 5,
      cin: 2,
      cout: 3,
      k: 3,
      prior: { type: 'log-uniform' },
      initLogSigma2: Math.log(0.05),
      stream: st,
    });
    layer.b.assign(tf.tensor1d([0.1, -0.2, 0.3]));
    // Non-uniform variances so that the variance convolution is really tested.
    layer.logSigma2.assign(tf.log(tf.add(tf.mul(tf.randomUniform([3, 3, 2, 3], 0, 1, 'float32', 8), 0.1), 0.01)));
    const x = tf.randomNormal([1, 5, 5, 2], 0, 1, 'float32', 4);
    const S = 8000;
    const xs = tf.tile(x, [S, 1, 1, 1]);
    const y = layer.forward(xs, { sample: true, stream: st });
    const { mean, variance } = tf.moments(y, 0);
    const an = layer.preActivationMoments(x);
    const expMean = tf.add(tf.conv2d(x as tf.Tensor4D, layer.theta as tf.Tensor4D, 1, 'valid'), layer.b);
    expect(tf.max(tf.abs(tf.sub(an.mean, expMean))).dataSync()[0]).toBeLessThan(1e-5);
    const m = mean.dataSync();
    const v = variance.dataSync();
    const em = an.mean.dataSync();
    const ev = an.variance.dataSync();
    expect(m.length).toBe(3 * 3 * 3);
    for (let i = 0; i < m.length; i++) {
      expect(Math.abs(m[i]! - em[i]!)).toBeLessThan(4.5 * Math.sqrt(ev[i]! / S));
      expect(Math.abs(v[i]! / ev[i]! - 1)).toBeLessThan(0.08);
    }
    // The deterministic pass is the mean.
    const det = layer.forward(x, { sample: false });
    expect(tf.max(tf.abs(tf.sub(det, expMean))).dataSync()[0]).toBeLessThan(1e-5);
    tf.dispose([x, xs, y, mean, variance, an.mean, an.variance, expMean, det]);
    layer.dispose();
  });

  it('macsPerWeight = output positions; moments, masks and KL follow the dense LRT layer', () => {
    expect(convOutputSize(28, 28, 5)).toEqual([24, 24]);
    const st = new RandomStream('lrt-conv-kl');
    const layer = new LrtConv2d({ name: 'c', inH: 12, inW: 12, cin: 2, cout: 4, k: 5, prior: { type: 'gaussian', sigma: 0.5 }, initLogSigma2: -6, stream: st });
    expect(layer.macsPerWeight).toBe(64);
    const m = layer.moments();
    expect(m.shape).toEqual([5, 5, 2, 4]);
    expect(m.macsPerWeight).toBe(64);
    expect(m.variance[0]).toBeCloseTo(Math.exp(-6), 8);
    const kl = layer.kl().dataSync()[0]!;
    expect(kl).toBeCloseTo(klTerm({ type: 'gaussian', sigma: 0.5 }, layer.theta, layer.logSigma2).dataSync()[0]!, 3);
    const mask = new Float32Array(200).fill(1);
    for (let f = 0; f < 200; f += 4) mask[f] = 0; // output channel 0 gone
    layer.setMask(mask);
    const mm = layer.moments();
    expect(Math.abs(mm.mean[0]!)).toBe(0);
    expect(mm.variance[4]).toBe(0);
    expect(layer.kl().dataSync()[0]).toBeLessThan(kl);
    const x = tf.randomNormal([2, 12, 12, 2], 0, 1, 'float32', 2);
    const y = layer.forward(x, { sample: true, stream: st });
    const c0 = tf.slice(y, [0, 0, 0, 0], [-1, -1, -1, 1]);
    // Masked channel: mean 0 + bias 0, variance 0 → only the √1e-8 floor of the noise remains.
    expect(tf.max(tf.abs(c0)).dataSync()[0]).toBeLessThan(1e-3);
    tf.dispose([x, y, c0]);
    layer.dispose();
  });

  it('the point-estimate Conv2d has zero variance and the same geometry', () => {
    const layer = new Conv2d({ name: 'p', inH: 8, inW: 8, cin: 1, cout: 2, k: 3, stream: new RandomStream('pc') });
    expect(layer.macsPerWeight).toBe(36);
    const m = layer.moments();
    expect(m.variance.every((v) => v === 0)).toBe(true);
    layer.dispose();
  });
});
