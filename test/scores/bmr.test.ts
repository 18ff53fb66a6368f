import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { LrtDense } from '../../src/bayes/lrt-dense.js';
import { NetworkPosterior } from '../../src/inference/network-posterior.js';
import { Network } from '../../src/nn/network.js';
import { masksAtThreshold } from '../../src/pruning/masks.js';
import { RandomStream } from '../../src/random.js';
import { getCriterion } from '../../src/scores/registry.js';
import { BMR_EVIDENCE_MARGIN, bmrDeltaF, bmrDeltaFPrune, bmrPriorSigma, bmrScores } from '../../src/scores/bmr.js';
import type { Posterior } from '../../src/inference/posterior.js';
import { useTestBackend } from '../setup-backend.js';

beforeAll(useTestBackend);

const normal = (w: number, m: number, s: number) => Math.exp(-((w - m) ** 2) / (2 * s * s)) / (Math.sqrt(2 * Math.PI) * s);

/** ln ∫ q(w) p̃(w)/p(w) dw by the trapezoid rule on a fine grid covering q and p̃. */
function numericDeltaF(mu: number, s: number, sigma0: number, sr: number): number {
  const lo = Math.min(mu - 12 * s, -12 * sr);
  const hi = Math.max(mu + 12 * s, 12 * sr);
  const h = Math.min(s, sr) / 200;
  const n = Math.ceil((hi - lo) / h);
  const step = (hi - lo) / n;
  let sum = 0;
  for (let i = 0; i <= n; i++) {
    const w = lo + i * step;
    const f = (normal(w, mu, s) * normal(w, 0, sr)) / normal(w, 0, sigma0);
    sum += (i === 0 || i === n ? 0.5 : 1) * f;
  }
  return Math.log(sum * step);
}

describe('Bayesian model reduction, single weights', () => {
  const cases: [number, number, number, number][] = [
    [0.3, 0.1, 1, 0.5],
    [0.05, 0.2, 1, 0.1],
    [-0.8, 0.05, 0.5, 0.2],
    [0, 0.3, 2, 0.05],
    [1.2, 0.4, 1, 0.01],
    // σ̃ > σ₀ (the prior widened, a < 0 with a·s² > −1) and a posterior wider than the prior.
    [0.2, 0.3, 0.5, 0.8],
    [-0.1, 0.7, 0.5, 0.05],
  ];
  it('the closed form ΔF matches numerical integration', () => {
    for (const [mu, s, s0, sr] of cases) expect(bmrDeltaF(mu, s, s0, sr), `${mu} ${s} ${s0} ${sr}`).toBeCloseTo(numericDeltaF(mu, s, s0, sr), 6);
  });

  it('the pruning limit ΔF₀ = ln q(0) − ln p(0), approached by small σ̃ numerically and in closed form', () => {
    for (const [mu, s, s0] of cases) {
      const direct = Math.log(normal(0, mu, s)) - Math.log(normal(0, 0, s0));
      expect(bmrDeltaFPrune(mu, s, s0)).toBeCloseTo(direct, 10);
      expect(bmrDeltaF(mu, s, s0, 1e-6)).toBeCloseTo(direct, 6);
      // σ̃ = 1e-3·s: ΔF differs from the limit by ≈ (σ̃²/s²)(μ²/(2s²) + ½) = 1e-6·(μ²/(2s²) + ½).
      expect(Math.abs(numericDeltaF(mu, s, s0, 1e-3 * s) - direct)).toBeLessThan(2e-6 * (1 + (mu * mu) / (s * s)));
    }
  });

  it('prunes weights with small SNR and a posterior narrower than the prior, keeps confident ones', () => {
    expect(bmrDeltaFPrune(0.01, 0.05, 1)).toBeGreaterThan(0); // pruned
    expect(bmrDeltaFPrune(0.5, 0.05, 1)).toBeLessThan(0); // kept
    expect(bmrDeltaFPrune(0, 2, 1)).toBeLessThan(0); // wider than the prior: ln(σ₀/s) < 0
  });
});

describe('the bmr criterion', () => {
  function gaussNet(sigma: number): Network {
    const st = new RandomStream('bmr');
    const l1 = new LrtDense({ name: 'fc1', inFeatures: 12, outFeatures: 6, prior: { type: 'gaussian', sigma }, stream: st.fork('a') });
    const l2 = new LrtDense({ name: 'fc2', inFeatures: 6, outFeatures: 3, prior: { type: 'gaussian', sigma }, stream: st.fork('b') });
    for (const l of [l1, l2]) l.logSigma2.assign(tf.randomUniform(l.weightShape, -9, -2, 'float32', st.nextSeed()));
    return new Network([l1, l2], [12], 3, 'test');
  }

  it('scores 3 − ΔF₀ with the layer’s Gaussian prior and its own point prunes exactly the weights with ΔF₀ ≥ 3 (strong evidence)', async () => {
    expect(BMR_EVIDENCE_MARGIN).toBe(3);
    const post = new NetworkPosterior('vi', gaussNet(0.7));
    const scores = await getCriterion('bmr').compute(post, { stream: new RandomStream('x') });
    const masks = masksAtThreshold(scores, 0);
    let pruned = 0;
    let kept = 0;
    for (const m of post.moments()) {
      expect(bmrPriorSigma(post, m)).toEqual({ sigma0: expect.closeTo(0.7, 6) as unknown as number, source: 'gaussian-prior' });
      const sc = scores.get(m.name)!;
      const keep = masks.get(m.name)!;
      for (let i = 0; i < sc.length; i++) {
        const d = Math.log(0.7 / Math.sqrt(m.variance[i]!)) - m.mean[i]! ** 2 / (2 * m.variance[i]!);
        expect(sc[i]).toBeCloseTo(3 - d, 3);
        expect(keep[i]).toBe(d >= 3 ? 0 : 1);
        if (d >= 3) pruned++;
        else kept++;
      }
    }
    expect(pruned).toBeGreaterThan(0);
    expect(kept).toBeGreaterThan(0);
    post.dispose();
  });

  it('takes σ₀ from a Laplace prior precision, else an empirical-Bayes surrogate, and refuses point estimates', async () => {
    const m = {
      name: 'fc.weight',
      layer: 'fc',
      shape: [2, 2],
      mean: Float32Array.from([1, -1, 0.5, 0]),
      variance: Float32Array.from([0.1, 0.1, 0.2, 0.1]),
      macsPerWeight: 1,
    };
    const fake = (extra: object) => ({ network: { weightLayers: () => [{ name: 'fc' }] }, method: 'laplace', ...extra }) as unknown as Posterior;
    expect(bmrPriorSigma(fake({ priorPrecision: 4 }), m)).toEqual({ sigma0: 0.5, source: 'laplace-prior-precision' });
    // A Laplace posterior is scored by ΔF₀ of its own N(θ*, s²) under N(0, 1/λ): 0 − ΔF₀ with margin 0.
    const withMoments = { ...fake({ priorPrecision: 4 }), moments: () => [m] } as unknown as Posterior;
    const sc = bmrScores(withMoments, 0).get('fc.weight')!;
    for (let i = 0; i < 4; i++) {
      const direct = Math.log(normal(0, m.mean[i]!, Math.sqrt(m.variance[i]!))) - Math.log(normal(0, 0, 0.5));
      expect(sc[i]).toBeCloseTo(-direct, 5);
    }
    // Empirical Bayes: σ₀² = mean(μ² + s²) = (1.1 + 1.1 + 0.45 + 0.1) / 4.
    const eb = bmrPriorSigma(fake({}), m);
    expect(eb.source).toBe('empirical-bayes');
    expect(eb.sigma0).toBeCloseTo(Math.sqrt(2.75 / 4), 6);
    const point = { method: 'map', moments: () => [{ ...m, variance: new Float32Array(4) }] } as unknown as Posterior;
    await expect(async () => getCriterion('bmr').compute(point, { stream: new RandomStream('x') })).rejects.toThrow(/bmr.*needs posterior variances.*map/);
  });
});
