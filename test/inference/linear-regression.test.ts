/**
 * Bayesian linear regression y = Xw + ε, ε ~ N(0, σ²), prior w ~ N(0, λ⁻¹I): the posterior is
 * Gaussian with precision P = XᵀX/σ² + λI and mean P⁻¹Xᵀy/σ², known in closed form and
 * computed here with mathjs (independently of the code under test). Checks: the diagonal
 * GGN of a linear-Gaussian model is exactly diag(XᵀX)/σ², so diagonal Laplace gives
 * 1/diag(P) (and the exact marginals for an orthogonal design); mean-field VI reaches its
 * known optimum (exact means, variances 1/diag(P), which on a correlated design are far
 * below the exact marginals diag(P⁻¹)); SVGD with 100 particles recovers means within 5 %
 * and marginal variances within 25 %.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as math from 'mathjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { linearRegression, orthogonalDesign } from '../../src/data/synthetic.js';
import { LrtDense } from '../../src/bayes/lrt-dense.js';
import { diagonalCurvature } from '../../src/inference/curvature.js';
import { LaplacePosterior } from '../../src/inference/laplace.js';
import { SvgdSampler } from '../../src/inference/svgd.js';
import { Dense } from '../../src/nn/dense.js';
import { Network } from '../../src/nn/network.js';
import { RandomStream } from '../../src/random.js';
import { useTestBackend } from '../setup-backend.js';

beforeAll(useTestBackend);

interface Exact {
  mean: number[];
  /** Marginal posterior variances diag(P⁻¹). */
  marginal: number[];
  /** 1/diag(P). */
  invDiagPrecision: number[];
}

function exactPosterior(X: Float32Array, y: Float32Array, n: number, d: number, sigma: number, lambda: number): Exact {
  const Xm = Array.from({ length: n }, (_, i) => Array.from(X.subarray(i * d, (i + 1) * d)));
  const P = math.add(
    math.multiply(math.multiply(math.transpose(Xm), Xm), 1 / (sigma * sigma)),
    math.multiply(math.identity(d), lambda) as math.Matrix,
  ) as unknown as number[][];
  const Pm = math.matrix(P);
  const S = math.inv(Pm);
  const mean = math.multiply(
    S,
    math.multiply(
      math.transpose(Xm),
      Array.from(y).map((v) => v / (sigma * sigma)),
    ),
  ) as unknown as math.Matrix;
  return {
    mean: (mean.valueOf() as number[]).map(Number),
    marginal: Array.from({ length: d }, (_, j) => S.get([j, j]) as number),
    invDiagPrecision: Array.from({ length: d }, (_, j) => 1 / (Pm.get([j, j]) as number)),
  };
}

function relErr(a: number, b: number): number {
  return Math.abs(a - b) / Math.abs(b);
}

/** A linear model y = x·W + b (b = 0) as a Network, with W set to `w`. */
function linearNet(d: number, w: number[]): Network {
  const l = new Dense({ name: 'fc1', inFeatures: d, outFeatures: 1, stream: new RandomStream('lin') });
  l.w.assign(tf.tensor2d(w, [d, 1]));
  return new Network([l], [d], 1, 'linear');
}

describe('diagonal Laplace on Bayesian linear regression', { timeout: 60_000 }, () => {
  const sigma = 0.5;
  const lambda = 2;

  it('GGN curvature = diag(XᵀX)/σ² (a hand loop), so the variances are 1/diag(precision)', () => {
    const n = 40;
    const d = 4;
    const { X, y } = linearRegression({ n, dim: d, noiseStd: sigma, stream: new RandomStream('laplace-lr'), weights: [1, -1, 0.5, 2] });
    const ex = exactPosterior(X, y, n, d, sigma, lambda);
    const net = linearNet(d, ex.mean);
    const curv = diagonalCurvature(net, [{ x: tf.tensor2d(X, [n, d]), y: tf.tensor2d(y, [n, 1]) }], 'ggn', { type: 'gaussian', sigma });
    const post = new LaplacePosterior(net, curv, lambda);
    const m = post.moments()[0]!;
    for (let j = 0; j < d; j++) {
      let xx = 0;
      for (let i = 0; i < n; i++) xx += X[i * d + j]! ** 2;
      expect(relErr(m.variance[j]!, 1 / (xx / (sigma * sigma) + lambda))).toBeLessThan(1e-4);
      expect(relErr(m.variance[j]!, ex.invDiagPrecision[j]!)).toBeLessThan(1e-4);
    }
    post.dispose();
  });

  it('gives the exact marginal variances for an orthogonal design', () => {
    const n = 32;
    const d = 4;
    const X = orthogonalDesign(n, d);
    const { y } = linearRegression({ n, dim: d, noiseStd: sigma, stream: new RandomStream('laplace-orth'), weights: [1, 2, 3, 4] });
    const ex = exactPosterior(X, y, n, d, sigma, lambda);
    const net = linearNet(d, ex.mean);
    const curv = diagonalCurvature(net, [{ x: tf.tensor2d(X, [n, d]), y: tf.tensor2d(y, [n, 1]) }], 'ggn', { type: 'gaussian', sigma });
    const post = new LaplacePosterior(net, curv, lambda);
    const v = post.moments()[0]!.variance;
    for (let j = 0; j < d; j++) expect(relErr(v[j]!, ex.marginal[j]!)).toBeLessThan(0.02);
    post.dispose();
  });

  it('empirical Fisher at the MAP approaches the GGN for a large sample (within 10 %)', () => {
    const n = 4000;
    const d = 3;
    const { X, y } = linearRegression({ n, dim: d, noiseStd: sigma, stream: new RandomStream('laplace-ef'), weights: [1, -2, 0.5] });
    const ex = exactPosterior(X, y, n, d, sigma, lambda);
    const net = linearNet(d, ex.mean);
    const curv = diagonalCurvature(net, [{ x: tf.tensor2d(X, [n, d]), y: tf.tensor2d(y, [n, 1]) }], 'ef', { type: 'gaussian', sigma });
    const post = new LaplacePosterior(net, curv, lambda);
    const v = post.moments()[0]!.variance;
    for (let j = 0; j < d; j++) expect(relErr(v[j]!, ex.invDiagPrecision[j]!)).toBeLessThan(0.1);
    post.dispose();
  });
});

describe('mean-field VI on Bayesian linear regression', { timeout: 120_000 }, () => {
  it('on a correlated design: exact means, variances 1/diag(precision) within 10 %, far below the exact marginals', () => {
    const n = 50;
    const d = 3;
    const sigma = 1;
    const lambda = 1;
    // Features 0 and 1 correlated (ρ ≈ 0.8), so the mean-field optimum 1/P_jj is well below diag(P⁻¹).
    const st = new RandomStream('mfvi-lr');
    const w = [1, -1.5, 2];
    const X = new Float32Array(n * d);
    const y = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const a = st.normal();
      const row = [a, 0.8 * a + 0.6 * st.normal(), st.normal()];
      X.set(row, i * d);
      y[i] = row.reduce((acc, v, j) => acc + v * w[j]!, 0) + sigma * st.normal();
    }
    const ex = exactPosterior(X, y, n, d, sigma, lambda);
    expect(ex.marginal[0]! / ex.invDiagPrecision[0]!).toBeGreaterThan(1.8); // the design really is correlated
    const stream = new RandomStream('mfvi');
    // Mean-field Gaussian layer (LRT) with prior N(0, 1/λ); its bias stays at 0 (not trained).
    const layer = new LrtDense({
      name: 'fc1',
      inFeatures: d,
      outFeatures: 1,
      prior: { type: 'gaussian', sigma: 1 / Math.sqrt(lambda) },
      initLogSigma2: -4,
      stream,
    });
    const x = tf.tensor2d(X, [n, d]);
    const yt = tf.tensor2d(y, [n, 1]);
    const opt = tf.train.adam(0.05);
    const steps = 2500;
    const avgFrom = 1500;
    const sumTheta = new Float64Array(d);
    const sumVar = new Float64Array(d);
    for (let s = 0; s < steps; s++) {
      (opt as unknown as { learningRate: number }).learningRate = 0.05 * 0.05 ** (s / steps);
      // negative ELBO = −E_q log p(y | X, w) + KL(q ‖ p), the expectation by LRT samples
      opt.minimize(
        () => {
          const b = layer.forward(x, { sample: true, stream });
          const nll = tf.mul(tf.sum(tf.square(tf.sub(yt, b))), 0.5 / (sigma * sigma));
          return tf.add(nll, layer.kl()) as tf.Scalar;
        },
        false,
        [layer.theta, layer.logSigma2],
      );
      if (s >= avgFrom) {
        const th = layer.theta.dataSync();
        const ls = layer.logSigma2.dataSync();
        for (let j = 0; j < d; j++) {
          sumTheta[j]! += th[j]!;
          sumVar[j]! += Math.exp(ls[j]!);
        }
      }
    }
    const k = steps - avgFrom;
    for (let j = 0; j < d; j++) {
      expect(relErr(sumTheta[j]! / k, ex.mean[j]!)).toBeLessThan(0.1);
      expect(relErr(sumVar[j]! / k, ex.invDiagPrecision[j]!)).toBeLessThan(0.1);
    }
    // Mean-field VI underestimates the correlated marginals: its variances are nearer 1/P_jj than diag(P⁻¹).
    for (const j of [0, 1]) expect(sumVar[j]! / k).toBeLessThan(0.7 * ex.marginal[j]!);
    tf.dispose([x, yt]);
    opt.dispose();
    layer.dispose();
  });
});

describe('SVGD on Bayesian linear regression', { timeout: 120_000 }, () => {
  it('100 particles recover the means within 5 % and the marginal variances within 25 %', () => {
    const n = 50;
    const d = 3;
    const sigma = 1;
    const lambda = 1;
    const { X, y } = linearRegression({ n, dim: d, noiseStd: sigma, stream: new RandomStream('svgd-lr'), weights: [1, -1.5, 2] });
    const ex = exactPosterior(X, y, n, d, sigma, lambda);
    const particles = 100;
    const W = tf.variable(tf.randomNormal([particles, d], 0, 1, 'float32', new RandomStream('svgd-init').nextSeed()));
    const x = tf.tensor2d(X, [n, d]);
    const yt = tf.tensor1d(y);
    const sampler = new SvgdSampler([W], 0.05);
    const steps = 1200;
    for (let s = 0; s < steps; s++) {
      sampler.stepSize = 0.05 * 0.02 ** (s / steps);
      // Σ_i log p(w_i | data) over particles (up to a constant)
      sampler.step(() =>
        tf.tidy(() => {
          const pred = tf.matMul(W, x, false, true);
          const ll = tf.mul(tf.sum(tf.square(tf.sub(pred, yt))), -0.5 / (sigma * sigma));
          return tf.add(ll, tf.mul(tf.sum(tf.square(W)), -0.5 * lambda)) as tf.Scalar;
        }),
      );
    }
    const m = tf.moments(W, 0);
    const mean = m.mean.dataSync();
    const variance = m.variance.dataSync();
    for (let j = 0; j < d; j++) {
      expect(relErr(mean[j]!, ex.mean[j]!)).toBeLessThan(0.05);
      expect(relErr((variance[j]! * particles) / (particles - 1), ex.marginal[j]!)).toBeLessThan(0.25);
    }
    tf.dispose([W, x, yt, m.mean, m.variance]);
    sampler.dispose();
  });
});
