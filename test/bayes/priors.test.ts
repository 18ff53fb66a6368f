import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { klGaussian, klLogUniform, klLogUniformFused, klScaleMixtureMC, klTerm, logAlpha, logScaleMixture } from '../../src/bayes/priors.js';
import { RandomStream } from '../../src/random.js';
import { useTestBackend } from '../setup-backend.js';

beforeAll(useTestBackend);

const num = (t: tf.Tensor) => {
  const v = t.dataSync()[0]!;
  t.dispose();
  return v;
};

/**
 * True KL(q ‖ log-uniform) up to a constant, for q = N(θ, αθ²) (Molchanov et al. 2017, eq. 13):
 * KL = −½ log α + E_{z~N(0,1)} log|1 + √α z| + C. The expectation by trapezoid quadrature
 * on a fine z grid (the log singularity is integrable).
 */
function klLogUniformExact(logAlpha: number): number {
  const a = Math.sqrt(Math.exp(logAlpha));
  let s = 0;
  const h = 1e-4;
  for (let z = -12; z <= 12; z += h) {
    const v = Math.abs(1 + a * z);
    if (v === 0) continue;
    s += Math.log(v) * Math.exp(-0.5 * z * z) * h;
  }
  return -0.5 * logAlpha + s / Math.sqrt(2 * Math.PI);
}

describe('KL terms', () => {
  it('Gaussian prior: closed form matches the textbook formula at hand values', () => {
    // KL(N(0.5, 0.04) ‖ N(0, 1)) = log(1/0.2) + (0.04 + 0.25)/2 − ½
    const expected = Math.log(1 / 0.2) + (0.04 + 0.25) / 2 - 0.5;
    const kl = num(klGaussian(tf.tensor1d([0.5]), tf.tensor1d([Math.log(0.04)]), 1));
    expect(kl).toBeCloseTo(expected, 5);
    // Sums over weights and vanishes when q = p.
    expect(num(klGaussian(tf.zeros([7]), tf.fill([7], Math.log(0.09)), 0.3))).toBeCloseTo(0, 5);
  });

  it('Gaussian prior: closed form agrees with a Monte Carlo estimate', () => {
    const mu = 0.3,
      s2 = 0.2,
      s0 = 0.7;
    const st = new RandomStream('kl-mc');
    let acc = 0;
    const n = 200000;
    for (let i = 0; i < n; i++) {
      const w = mu + Math.sqrt(s2) * st.normal();
      const logq = -0.5 * Math.log(2 * Math.PI * s2) - (w - mu) ** 2 / (2 * s2);
      const logp = -0.5 * Math.log(2 * Math.PI * s0 * s0) - (w * w) / (2 * s0 * s0);
      acc += logq - logp;
    }
    const closed = num(klGaussian(tf.tensor1d([mu]), tf.tensor1d([Math.log(s2)]), s0));
    expect(Math.abs(acc / n - closed)).toBeLessThan(0.01);
  });

  it('log-uniform: the sparse-VD approximation tracks the exact KL (up to its constant) within 0.02', () => {
    // Fix the constant so both vanish at log α = 8 (the approximation → 0 as α → ∞).
    const ref = 8;
    const approx = (la: number) => num(klLogUniform(tf.tensor1d([la])));
    const cExact = klLogUniformExact(ref);
    const cApprox = approx(ref);
    for (const la of [-4, -2, 0, 1, 2, 4, 6]) {
      expect(Math.abs(approx(la) - cApprox - (klLogUniformExact(la) - cExact))).toBeLessThan(0.02);
    }
  });

  it('log-uniform: KL is positive, decreasing in log α and near 0 for large α', () => {
    const v = klLogUniformVals([-12, -8, -2, 0, 2, 6, 20]);
    for (let i = 1; i < v.length; i++) expect(v[i]!).toBeLessThan(v[i - 1]!);
    expect(v[0]!).toBeGreaterThan(0);
    expect(v.at(-1)!).toBeLessThan(1e-4);
    // Small α: KL ≈ −½ log α + const, slope −½ (the sigmoid term has vanished by log α = −8).
    expect(v[0]! - v[1]!).toBeCloseTo(2, 2);
  });

  it('scale mixture with equal scales is a Gaussian prior: MC KL averages to the closed form', () => {
    const mu = tf.tensor1d(Array.from({ length: 2000 }, (_, i) => Math.sin(i) * 0.5));
    const ls2 = tf.fill([2000], Math.log(0.05));
    const st = new RandomStream('mix');
    let sum = 0;
    const reps = 40;
    for (let r = 0; r < reps; r++) sum += num(klScaleMixtureMC(mu, ls2, 0.3, 0.8, 0.8, st.nextSeed()));
    const closed = num(klGaussian(mu, ls2, 0.8));
    expect(Math.abs(sum / reps - closed) / closed).toBeLessThan(0.01);
    tf.dispose([mu, ls2]);
  });

  it('scale-mixture log density integrates to 1', () => {
    const xs = tf.linspace(-20, 20, 40001);
    const d = logScaleMixture(xs, 0.25, 2, 0.05);
    const p = tf.exp(d).dataSync();
    let s = 0;
    for (let i = 0; i < p.length; i++) s += p[i]! * 0.001;
    expect(s).toBeCloseTo(1, 3);
    tf.dispose([xs, d]);
  });

  it('the fused sparse-VD KL equals autodiff through the approximation, in value and gradient', () => {
    const st = new RandomStream('fused');
    // Include weights in and beyond the clip range (log α far above 8 and below −8).
    const th = tf.tensor1d(Array.from({ length: 400 }, (_, i) => (i % 50 === 0 ? 1e-6 : st.normal() * 0.5)));
    const ls = tf.tensor1d(Array.from({ length: 400 }, (_, i) => (i % 40 === 0 ? -30 : -12 + 12 * st.uniform())));
    const ref = (a: tf.Tensor, b: tf.Tensor) => klLogUniform(logAlpha(a, b));
    const [ga, gb] = tf.grads(ref)([th, ls]);
    const [fa, fb] = tf.grads((a: tf.Tensor, b: tf.Tensor) => klLogUniformFused(a, b))([th, ls]);
    expect(num(klLogUniformFused(th, ls))).toBeCloseTo(num(ref(th, ls)), 1);
    expect(Math.abs(num(klLogUniformFused(th, ls)) / num(ref(th, ls)) - 1)).toBeLessThan(1e-5);
    const [a1, b1, a2, b2] = [ga!, gb!, fa!, fb!].map((t) => t.dataSync());
    for (let i = 0; i < 400; i++) {
      expect(a2![i]).toBeCloseTo(a1![i]!, 4);
      expect(b2![i]).toBeCloseTo(b1![i]!, 5);
    }
    tf.dispose([th, ls, ga!, gb!, fa!, fb!]);
  });

  it('a Monte Carlo prior without a seed is an error', () => {
    expect(() => klTerm({ type: 'scale-mixture', pi: 0.5, sigma1: 1, sigma2: 0.01 }, tf.zeros([2]), tf.zeros([2]))).toThrow(/seed/);
  });
});

function klLogUniformVals(las: number[]): number[] {
  return las.map((la) => num(klLogUniform(tf.tensor1d([la]))));
}
