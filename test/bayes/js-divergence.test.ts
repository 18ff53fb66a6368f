import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { jsGeometricGaussian, jsGeometricMC, divergenceTerm, scaleMixtureEntropy } from '../../src/bayes/js-divergence.js';
import { klGaussian, klScaleMixtureMC } from '../../src/bayes/priors.js';
import { MeanFieldLayer } from '../../src/bayes/mean-field.js';
import { ConfigError, validateConfig } from '../../src/experiment/config.js';
import { networkFor } from '../../src/inference/methods.js';
import { gaussianBlobs } from '../../src/data/synthetic.js';
import { withLabelNoise } from '../../src/data/label-noise.js';
import { RandomStream } from '../../src/random.js';
import { useTestBackend } from '../setup-backend.js';

beforeAll(useTestBackend);

const num = (t: tf.Tensor) => {
  const v = t.dataSync()[0]!;
  t.dispose();
  return v;
};

/**
 * JS^Gα(N(μ, σ²) ‖ N(0, s²)) by quadrature in float64, from the definition only:
 * G = q^α p^(1−α) / Z with Z integrated numerically, then (1−α)·∫q log(q/G) + α·∫p log(p/G)
 * by the trapezoid rule on a grid covering both densities to ±14 standard deviations.
 */
function jsByQuadrature(mu: number, sigma: number, s: number, alpha: number): number {
  const lo = Math.min(mu - 14 * sigma, -14 * s);
  const hi = Math.max(mu + 14 * sigma, 14 * s);
  const n = 400_001;
  const h = (hi - lo) / (n - 1);
  const logq = (w: number) => -0.5 * ((w - mu) / sigma) ** 2 - Math.log(sigma) - 0.5 * Math.log(2 * Math.PI);
  const logp = (w: number) => -0.5 * (w / s) ** 2 - Math.log(s) - 0.5 * Math.log(2 * Math.PI);
  const trap = (f: (w: number) => number) => {
    let acc = 0;
    for (let i = 0; i < n; i++) acc += (i === 0 || i === n - 1 ? 0.5 : 1) * f(lo + i * h);
    return acc * h;
  };
  const logZ = Math.log(trap((w) => Math.exp(alpha * logq(w) + (1 - alpha) * logp(w))));
  const logG = (w: number) => alpha * logq(w) + (1 - alpha) * logp(w) - logZ;
  const klQG = trap((w) => Math.exp(logq(w)) * (logq(w) - logG(w)));
  const klPG = trap((w) => Math.exp(logp(w)) * (logp(w) - logG(w)));
  return (1 - alpha) * klQG + alpha * klPG;
}

/** The same definition with any prior log-density on [lo, hi] (trapezoid rule, float64). */
function jsByQuadratureWith(mu: number, sigma: number, logp: (w: number) => number, lo: number, hi: number, alpha: number, n = 400_001): number {
  const h = (hi - lo) / (n - 1);
  const logq = (w: number) => -0.5 * ((w - mu) / sigma) ** 2 - Math.log(sigma) - 0.5 * Math.log(2 * Math.PI);
  const trap = (f: (w: number) => number) => {
    let acc = 0;
    for (let i = 0; i < n; i++) acc += (i === 0 || i === n - 1 ? 0.5 : 1) * f(lo + i * h);
    return acc * h;
  };
  const logZ = Math.log(trap((w) => Math.exp(alpha * logq(w) + (1 - alpha) * logp(w))));
  const logG = (w: number) => alpha * logq(w) + (1 - alpha) * logp(w) - logZ;
  return (1 - alpha) * trap((w) => Math.exp(logq(w)) * (logq(w) - logG(w))) + alpha * trap((w) => Math.exp(logp(w)) * (logp(w) - logG(w)));
}

/** log of π N(w; 0, s1²) + (1 − π) N(w; 0, s2²) in float64. */
const logMixture = (pi: number, s1: number, s2: number) => (w: number) => {
  const ln = (s: number) => -0.5 * (w / s) ** 2 - Math.log(s) - 0.5 * Math.log(2 * Math.PI);
  return Math.log(pi * Math.exp(ln(s1)) + (1 - pi) * Math.exp(ln(s2)));
};

const js1 = (mu: number, logSigma2: number, s: number, alpha: number) => num(jsGeometricGaussian(tf.tensor1d([mu]), tf.tensor1d([logSigma2]), s, alpha));

describe('geometric JS divergence (Thiagarajan & Ghosh 2023)', () => {
  it('α = 0 equals the KL of the ELBO (klGaussian) within float tolerance, α = 1 the reverse KL', () => {
    const r = new RandomStream('js-special');
    const n = 500;
    const mu = Float32Array.from({ length: n }, () => r.normal() * 0.7);
    const ls = Float32Array.from({ length: n }, () => -12 + 13 * r.uniform());
    for (const s of [0.1, 1, 3]) {
      const kl = num(klGaussian(tf.tensor1d(mu), tf.tensor1d(ls), s));
      const js0 = num(jsGeometricGaussian(tf.tensor1d(mu), tf.tensor1d(ls), s, 0));
      expect(Math.abs(js0 - kl)).toBeLessThan(2e-5 * Math.abs(kl));
      // reverse KL(N(0, s²) ‖ N(μ, σ²)) = ½[log σ² − log s² + (s² + μ²)/σ² − 1], summed in float64
      let rev = 0;
      for (let i = 0; i < n; i++) rev += 0.5 * (ls[i]! - Math.log(s * s) + (s * s + mu[i]! ** 2) / Math.exp(ls[i]!) - 1);
      const js1v = num(jsGeometricGaussian(tf.tensor1d(mu), tf.tensor1d(ls), s, 1));
      expect(Math.abs(js1v - rev)).toBeLessThan(2e-5 * Math.abs(rev));
    }
  });

  it('α = 0 reproduces the network ELBO regularizer with masks (js-geometric, alpha 0 vs kl)', () => {
    const base = {
      experiment: 'js',
      seed: 5,
      data: { name: 'blobs' },
      model: { arch: 'mlp', hidden: [16, 8] },
      pruning: { criteria: ['magnitude'], sparsities: [0, 0.5] },
    };
    const train = gaussianBlobs({ n: 20, dim: 6, numClasses: 3, stream: new RandomStream('b1') });
    const prior = { type: 'gaussian', sigma: 0.5 };
    const kl = networkFor(validateConfig({ ...base, inference: { prior } }), train, new RandomStream('n'));
    const js = networkFor(validateConfig({ ...base, inference: { prior, divergence: { type: 'js-geometric', alpha: 0 } } }), train, new RandomStream('n'));
    const half = js.layers.filter((l) => l instanceof MeanFieldLayer) as unknown as MeanFieldLayer[];
    expect(half.length).toBe(3);
    expect(half[0]!.divergence).toEqual({ type: 'js-geometric', alpha: 0 });
    // prune every other weight of the first layer in both networks
    for (const net of [kl, js]) {
      const l = net.layers[0] as unknown as MeanFieldLayer;
      l.setMask(Float32Array.from({ length: l.theta.size }, (_, i) => i % 2));
    }
    const a = num(kl.kl());
    const b = num(js.kl());
    expect(a).toBeGreaterThan(1);
    expect(Math.abs(a - b)).toBeLessThan(2e-5 * a);
  });

  it('closed form matches float64 quadrature of the definition for single weights', () => {
    const cases: [number, number, number, number][] = [
      [0.3, 0.2, 1, 0.5],
      [-1.2, 0.05, 1, 0.3],
      [0.8, 1.5, 0.5, 0.7],
      [2, 0.4, 2, 0.9],
      [0, 1, 1, 0.5],
      [0.1, 0.01, 0.1, 0.2],
    ];
    for (const [mu, sigma, s, alpha] of cases) {
      const exact = jsByQuadrature(mu, sigma, s, alpha);
      const closed = js1(mu, Math.log(sigma * sigma), s, alpha);
      expect(Math.abs(closed - exact)).toBeLessThan(1e-4 + 1e-4 * exact);
    }
  });

  it('gradients in μ and log σ² match central finite differences of the quadrature', () => {
    for (const [mu, sigma, s, alpha] of [
      [0.4, 0.3, 1, 0.5],
      [-0.9, 0.8, 0.7, 0.25],
    ] as [number, number, number, number][]) {
      const ls = Math.log(sigma * sigma);
      const g = tf.grads((m: tf.Tensor, l: tf.Tensor) => jsGeometricGaussian(m, l, s, alpha));
      const [gm, gl] = g([tf.tensor1d([mu]), tf.tensor1d([ls])]);
      const h = 1e-3;
      const fdMu = (jsByQuadrature(mu + h, sigma, s, alpha) - jsByQuadrature(mu - h, sigma, s, alpha)) / (2 * h);
      const sig = (l: number) => Math.exp(l / 2);
      const fdLs = (jsByQuadrature(mu, sig(ls + h), s, alpha) - jsByQuadrature(mu, sig(ls - h), s, alpha)) / (2 * h);
      expect(Math.abs(num(gm!) - fdMu)).toBeLessThan(1e-3 + 1e-3 * Math.abs(fdMu));
      expect(Math.abs(num(gl!) - fdLs)).toBeLessThan(1e-3 + 1e-3 * Math.abs(fdLs));
    }
  });

  it('Monte Carlo estimate for the scale-mixture prior matches float64 quadrature of the definition', () => {
    // N copies of one weight: the sum / N is the estimator's mean (log Z_α with 64 draws: bias well below the tolerance).
    const N = 4000;
    const cases: [number, number, number, number, number, number][] = [
      // μ, σ, π, σ1, σ2, α
      [0.3, 0.2, 0.5, 1, 0.1, 0.5],
      [-0.5, 0.5, 0.25, 1, 0.05, 0.3],
      [0.05, 0.03, 0.5, 0.5, 0.02, 0.8],
    ];
    for (const [mu, sigma, pi, s1, s2, alpha] of cases) {
      const exact = jsByQuadratureWith(mu, sigma, logMixture(pi, s1, s2), -14 * s1, 14 * s1, alpha);
      const est = num(jsGeometricMC(tf.fill([N], mu), tf.fill([N], Math.log(sigma * sigma)), { pi, sigma1: s1, sigma2: s2 }, alpha, 32, 7)) / N;
      expect(Math.abs(est - exact)).toBeLessThan(0.01 * exact + 2e-3);
    }
  });

  it('Monte Carlo estimate: a one-component mixture gives the Gaussian closed form; α = 0 is the KL estimate exactly; H(p) by quadrature', () => {
    const N = 4000;
    for (const [mu, sigma, s, alpha] of [
      [0.4, 0.3, 1, 0.5],
      [-0.2, 0.1, 0.5, 0.25],
    ] as const) {
      const closed = js1(mu, Math.log(sigma * sigma), s, alpha);
      const est = num(jsGeometricMC(tf.fill([N], mu), tf.fill([N], Math.log(sigma * sigma)), { pi: 1, sigma1: s, sigma2: 1 }, alpha, 32, 3)) / N;
      expect(Math.abs(est - closed)).toBeLessThan(0.01 * closed + 2e-3);
    }
    const mu = tf.tensor1d([0.1, -0.3, 0.7]);
    const ls = tf.tensor1d([-2, -4, -1]);
    const p = { pi: 0.5, sigma1: 1, sigma2: Math.exp(-6) };
    expect(num(jsGeometricMC(mu, ls, p, 0, 4, 11))).toBe(num(klScaleMixtureMC(tf.reshape(mu, [1, -1]), tf.reshape(ls, [1, -1]), p.pi, p.sigma1, p.sigma2, 11)));
    // Entropy of a single Gaussian N(0, s²): ½ log(2πe s²)
    expect(Math.abs(scaleMixtureEntropy(1, 0.7, 1) - 0.5 * Math.log(2 * Math.PI * Math.E * 0.49))).toBeLessThan(1e-8);
    // the seed is required, and the network regularizer uses the estimate for a scale-mixture prior
    expect(() => divergenceTerm({ type: 'js-geometric', alpha: 0.5 }, { type: 'scale-mixture', ...p }, mu, ls)).toThrow(/seed is required/);
    // In a network: with the scale-mixture prior, js-geometric α = 0 is the network's Monte Carlo KL for the same draws, and α = 0.5 differs.
    const base = { experiment: 'js', seed: 5, data: { name: 'blobs' }, model: { arch: 'mlp', hidden: [6] }, pruning: { criteria: ['magnitude'] } };
    const train = gaussianBlobs({ n: 10, dim: 4, numClasses: 3, stream: new RandomStream('b2') });
    const prior = { type: 'scale-mixture' };
    const netFor = (divergence: object) => networkFor(validateConfig({ ...base, inference: { prior, divergence } }), train, new RandomStream('n'));
    const klNet = num(netFor({ type: 'kl' }).kl({ stream: new RandomStream('k') }));
    expect(num(netFor({ type: 'js-geometric', alpha: 0 }).kl({ stream: new RandomStream('k') }))).toBe(klNet);
    expect(num(netFor({ type: 'js-geometric', alpha: 0.5 }).kl({ stream: new RandomStream('k') }))).not.toBe(klNet);
  });

  it('is 0 for q = p at every α and positive otherwise', () => {
    for (const a of [0, 0.3, 0.5, 1]) expect(Math.abs(js1(0, Math.log(4), 2, a))).toBeLessThan(1e-6);
    for (const a of [0, 0.3, 0.5, 1]) expect(js1(0.2, Math.log(0.04), 1, a)).toBeGreaterThan(0.1);
  });

  it('config: js-geometric needs a proper prior (gaussian or scale-mixture) and method vi; alpha in [0, 1]; default kl', () => {
    const base = { experiment: 'js', data: { name: 'blobs' }, model: { arch: 'mlp', hidden: [4] }, pruning: { criteria: ['magnitude'] } };
    expect(validateConfig(base).inference.divergence).toEqual({ type: 'kl' });
    expect(validateConfig({ ...base, inference: { prior: { type: 'gaussian' }, divergence: { type: 'js-geometric' } } }).inference.divergence).toEqual({
      type: 'js-geometric',
      alpha: 0.5,
    });
    expect(() => validateConfig({ ...base, inference: { divergence: { type: 'js-geometric' } } })).toThrow(
      /needs a proper prior: gaussian.*scale-mixture.*"log-uniform"/,
    );
    expect(
      validateConfig({ ...base, inference: { prior: { type: 'scale-mixture' }, divergence: { type: 'js-geometric', alpha: 0.2, samples: 8 } } }).inference
        .divergence,
    ).toEqual({
      type: 'js-geometric',
      alpha: 0.2,
      samples: 8,
    });
    expect(() => validateConfig({ ...base, inference: { method: 'map', prior: { type: 'gaussian' }, divergence: { type: 'js-geometric' } } })).toThrow(
      /vi only/,
    );
    expect(() => validateConfig({ ...base, inference: { prior: { type: 'gaussian' }, divergence: { type: 'js-geometric', alpha: 1.5 } } })).toThrow(
      ConfigError,
    );
    expect(() => validateConfig({ ...base, inference: { divergence: { type: 'js' } } })).toThrow(/inference\.divergence/);
    expect(() => divergenceTerm({ type: 'js-geometric', alpha: 0.5 }, { type: 'log-uniform' }, tf.zeros([1]), tf.zeros([1]))).toThrow(/needs a proper prior/);
  });
});

describe('symmetric label noise (data.labelNoise)', () => {
  const ds = gaussianBlobs({ n: 1000, dim: 3, numClasses: 5, stream: new RandomStream('b3') });
  it('flips exactly round(fraction·n) labels, each to another class, seeded and deterministic', () => {
    const a = withLabelNoise(ds, 0.2, 7);
    let changed = 0;
    const to = new Array(5).fill(0);
    for (let i = 0; i < ds.n; i++) {
      if (a.y[i] !== ds.y[i]) {
        changed++;
        to[a.y[i]!]++;
      }
    }
    expect(changed).toBe(200);
    expect(a.x).toBe(ds.x);
    expect(a.name).toMatch(/noise\(0\.2, seed 7, 200 flipped\)/);
    // every class receives some flipped labels (uniform over the 4 others: ~40 each)
    for (const c of to) expect(c).toBeGreaterThan(15);
    expect(Array.from(withLabelNoise(ds, 0.2, 7).y)).toEqual(Array.from(a.y));
    expect(Array.from(withLabelNoise(ds, 0.2, 8).y)).not.toEqual(Array.from(a.y));
    expect(Array.from(withLabelNoise(ds, 0, 7).y)).toEqual(Array.from(ds.y));
  });
  it('config key: a fraction in [0, 1], default 0', () => {
    const base = { experiment: 'n', data: { name: 'blobs' }, model: { arch: 'mlp', hidden: [4] }, pruning: { criteria: ['magnitude'] } };
    expect(validateConfig(base).data.labelNoise).toBe(0);
    expect(() => validateConfig({ ...base, data: { name: 'blobs', labelNoise: 1.2 } })).toThrow(/data\.labelNoise/);
  });
});
