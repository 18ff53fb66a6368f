import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { LrtConv2d } from '../../src/bayes/lrt-conv2d.js';
import { Conv2d, convOutputSize } from '../../src/nn/conv2d.js';
import { RandomStream } from '../../src/random.js';
import { useTestBackend } from '../setup-backend.js';

beforeAll(useTestBackend);

/**
 * Valid, stride-1 convolution of one NHWC image with HWIO weights by explicit loops over
 * output positions, output channels and kernel positions (float64), optionally squaring
 * the input (for the LRT variance Σ x²·σ²).
 */
function convLoop(x: Float32Array, H: number, W: number, cin: number, w: Float32Array, k: number, cout: number, square = false): Float64Array {
  const oh = H - k + 1,
    ow = W - k + 1;
  const out = new Float64Array(oh * ow * cout);
  for (let i = 0; i < oh; i++)
    for (let j = 0; j < ow; j++)
      for (let co = 0; co < cout; co++) {
        let a = 0;
        for (let di = 0; di < k; di++)
          for (let dj = 0; dj < k; dj++)
            for (let ci = 0; ci < cin; ci++) {
              const xv = x[((i + di) * W + (j + dj)) * cin + ci]!;
              a += (square ? xv * xv : xv) * w[((di * k + dj) * cin + ci) * cout + co]!;
            }
        out[(i * ow + j) * cout + co] = a;
      }
  return out;
}

/** KL(N(μ, σ²) ‖ N(0, s²)) = log(s/σ) + (σ² + μ²)/(2s²) − ½, summed in float64 over the kept weights. */
function klGaussianByHand(mu: Float32Array, logSigma2: Float32Array, s: number, keep?: Float32Array): number {
  let kl = 0;
  for (let i = 0; i < mu.length; i++) {
    if (keep && keep[i] === 0) continue;
    const v = Math.exp(logSigma2[i]!);
    kl += Math.log(s) - 0.5 * logSigma2[i]! + (v + mu[i]! ** 2) / (2 * s * s) - 0.5;
  }
  return kl;
}

/**
 * The sparse-VD approximation written out from Molchanov et al. 2017, eq. 14:
 * −KL ≈ k1·sigmoid(k2 + k3·log α) − ½·log(1 + 1/α) − k1 with k1 = 0.63576, k2 = 1.87320,
 * k3 = 1.48695, log α = log σ² − log θ² clipped to [−8, 8]; summed over the kept weights.
 */
function klSparseVdByHand(mu: Float32Array, logSigma2: Float32Array, keep?: Float32Array): number {
  let kl = 0;
  for (let i = 0; i < mu.length; i++) {
    if (keep && keep[i] === 0) continue;
    const la = Math.min(8, Math.max(-8, logSigma2[i]! - Math.log(mu[i]! ** 2 + 1e-8)));
    kl -= 0.63576 / (1 + Math.exp(-(1.8732 + 1.48695 * la))) - 0.5 * Math.log1p(Math.exp(-la)) - 0.63576;
  }
  return kl;
}

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
    // Expected moments by explicit loops over kernel positions, independent of the layer's conv helper.
    const xv = x.dataSync() as Float32Array;
    const loopMean = convLoop(xv, 5, 5, 2, layer.theta.dataSync() as Float32Array, 3, 3).map((v, i) => v + [0.1, -0.2, 0.3][i % 3]!);
    const loopVar = convLoop(xv, 5, 5, 2, Float32Array.from(layer.logSigma2.dataSync(), Math.exp), 3, 3, true);
    const m = mean.dataSync();
    const v = variance.dataSync();
    const em = an.mean.dataSync();
    const ev = an.variance.dataSync();
    expect(m.length).toBe(3 * 3 * 3);
    for (let i = 0; i < m.length; i++) {
      expect(Math.abs(em[i]! - loopMean[i]!)).toBeLessThan(1e-5 * (1 + Math.abs(loopMean[i]!)));
      expect(Math.abs(ev[i]! / loopVar[i]! - 1)).toBeLessThan(1e-5);
      // Monte Carlo against the loop values: mean within 4.5 standard errors, variance within 8 %.
      expect(Math.abs(m[i]! - loopMean[i]!)).toBeLessThan(4.5 * Math.sqrt(loopVar[i]! / S));
      expect(Math.abs(v[i]! / loopVar[i]! - 1)).toBeLessThan(0.08);
    }
    // The deterministic pass is the mean.
    const det = layer.forward(x, { sample: false }).dataSync();
    for (let i = 0; i < det.length; i++) expect(Math.abs(det[i]! - loopMean[i]!)).toBeLessThan(1e-5 * (1 + Math.abs(loopMean[i]!)));
    tf.dispose([x, xs, y, mean, variance, an.mean, an.variance]);
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
    // Non-uniform variances so the KL depends on every σ².
    layer.logSigma2.assign(tf.randomUniform([5, 5, 2, 4], -8, -1, 'float32', 3));
    const mu = layer.theta.dataSync() as Float32Array;
    const ls = layer.logSigma2.dataSync() as Float32Array;
    const kl = layer.kl().dataSync()[0]!;
    const klHand = klGaussianByHand(mu, ls, 0.5);
    expect(Math.abs(kl - klHand)).toBeLessThan(1e-4 * Math.abs(klHand));
    const mask = new Float32Array(200).fill(1);
    for (let f = 0; f < 200; f += 4) mask[f] = 0; // output channel 0 gone
    layer.setMask(mask);
    const mm = layer.moments();
    expect(Math.abs(mm.mean[0]!)).toBe(0);
    expect(mm.variance[4]).toBe(0);
    expect(mm.variance[1]).toBeCloseTo(Math.exp(ls[1]!), 10);
    // Removed weights contribute no KL: the sum over the kept ones only.
    const klMasked = layer.kl().dataSync()[0]!;
    const klMaskedHand = klGaussianByHand(mu, ls, 0.5, mask);
    expect(Math.abs(klMasked - klMaskedHand)).toBeLessThan(1e-4 * Math.abs(klMaskedHand));
    expect(klMaskedHand).toBeLessThan(klHand);
    const x = tf.randomNormal([2, 12, 12, 2], 0, 1, 'float32', 2);
    const y = layer.forward(x, { sample: true, stream: st });
    const c0 = tf.slice(y, [0, 0, 0, 0], [-1, -1, -1, 1]);
    // Masked channel: mean 0 + bias 0, variance 0 → only the √1e-8 floor of the noise remains.
    expect(tf.max(tf.abs(c0)).dataSync()[0]).toBeLessThan(1e-3);
    tf.dispose([x, y, c0]);
    layer.dispose();
  });

  it('log-uniform prior: KL equals the sparse-VD approximation written out by hand, over the kept weights', () => {
    const st = new RandomStream('lrt-conv-svd');
    const layer = new LrtConv2d({ name: 'c', inH: 6, inW: 6, cin: 2, cout: 3, k: 3, prior: { type: 'log-uniform' }, initLogSigma2: -6, stream: st });
    // log α spread over [−12, 12] so both clips and the middle of the curve are hit.
    layer.logSigma2.assign(tf.randomUniform([3, 3, 2, 3], -14, 4, 'float32', 11));
    const mu = layer.theta.dataSync() as Float32Array;
    const ls = layer.logSigma2.dataSync() as Float32Array;
    const hand = klSparseVdByHand(mu, ls);
    expect(Math.abs(layer.kl().dataSync()[0]! - hand)).toBeLessThan(1e-4 * Math.abs(hand) + 1e-4);
    const mask = Float32Array.from({ length: 54 }, (_, i) => (i % 3 === 1 ? 0 : 1));
    layer.setMask(mask);
    const handMasked = klSparseVdByHand(mu, ls, mask);
    expect(Math.abs(layer.kl().dataSync()[0]! - handMasked)).toBeLessThan(1e-4 * Math.abs(handMasked) + 1e-4);
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
