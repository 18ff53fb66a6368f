import * as math from 'mathjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { cholesky, choleskyInverse, LastLayerLaplace, lastLayerGgn, solveUpperTransposed } from '../../src/inference/last-layer-laplace.js';
import { RandomStream } from '../../src/random.js';
import { useTestBackend } from '../setup-backend.js';

beforeAll(useTestBackend);

function randomSpd(n: number, r: RandomStream): Float64Array {
  const b = Array.from({ length: n * n }, () => r.normal());
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      let s = i === j ? 0.5 : 0;
      for (let p = 0; p < n; p++) s += b[i * n + p]! * b[j * n + p]!;
      a[i * n + j] = s;
    }
  return a;
}

describe('Cholesky and inverse', () => {
  it('L Lᵀ = A and the inverse matches mathjs.inv', () => {
    const n = 25;
    const a = randomSpd(n, new RandomStream('spd'));
    const l = cholesky(a, n);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < n; p++) s += l[i * n + p]! * l[j * n + p]!;
        expect(s).toBeCloseTo(a[i * n + j]!, 9);
        if (j > i) expect(l[i * n + j]).toBe(0);
      }
    const inv = choleskyInverse(l, n);
    const ref = math.inv(Array.from({ length: n }, (_, i) => Array.from(a.subarray(i * n, (i + 1) * n)))) as number[][];
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) expect(inv[i * n + j]).toBeCloseTo(ref[i]![j]!, 8);
    // Lᵀ x = z by back substitution.
    const z = Float64Array.from({ length: n }, (_, i) => Math.sin(i));
    const x = solveUpperTransposed(l, n, z);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let p = 0; p < n; p++) s += l[p * n + i]! * x[p]!;
      expect(s).toBeCloseTo(z[i]!, 9);
    }
    expect(() => cholesky(Float64Array.from([1, 2, 2, 1]), 2)).toThrow(/not positive definite/);
  });
});

/** Summed softmax cross-entropy of a last layer θ = vec([W; bᵀ]) on features φ with labels y. */
function nll(theta: number[], phi: number[], y: number[], n: number, d: number, k: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) {
    const z = Array.from({ length: k }, (_, c) => theta[d * k + c]! + phi.slice(i * d, (i + 1) * d).reduce((t, v, a) => t + v * theta[a * k + c]!, 0));
    const m = Math.max(...z);
    s += m + Math.log(z.reduce((t, v) => t + Math.exp(v - m), 0)) - z[y[i]!]!;
  }
  return s;
}

describe('last-layer GGN', () => {
  it('equals the finite-difference Hessian of the summed NLL (logits are linear in θ)', () => {
    const r = new RandomStream('ggn');
    const n = 6;
    const d = 3;
    const k = 3;
    const P = (d + 1) * k;
    const phi = Array.from({ length: n * d }, () => r.normal());
    const y = Array.from({ length: n }, () => r.int(k));
    const theta = Array.from({ length: P }, () => 0.5 * r.normal());
    // MAP probabilities at θ.
    const probs = new Float32Array(n * k);
    for (let i = 0; i < n; i++) {
      const z = Array.from({ length: k }, (_, c) => theta[d * k + c]! + phi.slice(i * d, (i + 1) * d).reduce((t, v, a) => t + v * theta[a * k + c]!, 0));
      const m = Math.max(...z);
      const e = z.map((v) => Math.exp(v - m));
      const s = e.reduce((a, b) => a + b, 0);
      e.forEach((v, c) => (probs[i * k + c] = v / s));
    }
    const h = lastLayerGgn(Float32Array.from(phi), probs, n, d, k);
    const eps = 1e-3;
    for (let i = 0; i < P; i++)
      for (let j = 0; j < P; j++) {
        const at = (di: number, dj: number) => {
          const t = theta.slice();
          t[i]! += di;
          t[j]! += dj;
          return nll(t, phi, y, n, d, k);
        };
        const fd = (at(eps, eps) - at(eps, -eps) - at(-eps, eps) + at(-eps, -eps)) / (4 * eps * eps);
        expect(h[i * P + j], `${i},${j}`).toBeCloseTo(fd, 4);
      }
  });
});

describe('last-layer Laplace predictive', () => {
  const r = new RandomStream('llla');
  const d = 4;
  const k = 3;
  const P = (d + 1) * k;
  const theta = Float64Array.from({ length: P }, () => r.normal());
  const h = randomSpd(P, r);

  it('logit variances are φ̃ᵀ Σ_cc φ̃ with Σ = (H + λI)⁻¹ from mathjs, and MC draws have covariance Σ', () => {
    const la = new LastLayerLaplace(theta, h, d, k, 'full');
    la.setPriorPrecision(2);
    const prec = Array.from({ length: P }, (_, i) => Array.from({ length: P }, (_, j) => h[i * P + j]! + (i === j ? 2 : 0)));
    const sigma = math.inv(prec) as number[][];
    const phi = Float32Array.from({ length: 2 * d }, () => r.normal());
    const { mean, variance } = la.logitMoments(phi, 2);
    for (let i = 0; i < 2; i++) {
      const x = [...Array.from(phi.subarray(i * d, (i + 1) * d)), 1];
      for (let c = 0; c < k; c++) {
        // Jacobian row of f_c: ∂f_c/∂θ_(a,e) = x_a δ_ce.
        const jrow = Array.from({ length: P }, (_, q) => (q % k === c ? x[Math.floor(q / k)]! : 0));
        const v = math.multiply(math.multiply(jrow, sigma), jrow) as unknown as number;
        expect(variance[i * k + c]).toBeCloseTo(v, 9);
        expect(mean[i * k + c]).toBeCloseTo(
          x.reduce((t, xa, a) => t + xa * theta[a * k + c]!, 0),
          9,
        );
      }
    }
    // Sample covariance of 20,000 draws against Σ (a few entries), within 5 standard errors.
    const S = 20000;
    const st = new RandomStream('draws');
    const idx = [0, 1, 5, P - 1];
    const sums = new Float64Array(idx.length * idx.length);
    const means = new Float64Array(idx.length);
    for (let s = 0; s < S; s++) {
      const t = la.sampleTheta(st);
      const dv = idx.map((q) => t[q]! - theta[q]!);
      dv.forEach((a, u) => {
        means[u]! += a / S;
        dv.forEach((b, w) => (sums[u * idx.length + w]! += (a * b) / S));
      });
    }
    idx.forEach((qi, u) => {
      expect(Math.abs(means[u]!)).toBeLessThan(5 * Math.sqrt(sigma[qi]![qi]! / S));
      idx.forEach((qj, w) => {
        const se = Math.sqrt((sigma[qi]![qi]! * sigma[qj]![qj]! + sigma[qi]![qj]! ** 2) / S);
        expect(Math.abs(sums[u * idx.length + w]! - sigma[qi]![qj]!)).toBeLessThan(5 * se);
      });
    });
  });

  it('probit predictive is the softmax of f/√(1 + π/8·Var f); diagonal structure uses 1/(h_ii + λ)', () => {
    const phi = Float32Array.from({ length: d }, () => r.normal());
    for (const structure of ['full', 'diag'] as const) {
      const la = new LastLayerLaplace(theta, h, d, k, structure);
      la.setPriorPrecision(0.5);
      const { mean, variance } = la.logitMoments(phi, 1);
      const z = Array.from({ length: k }, (_, c) => mean[c]! / Math.sqrt(1 + (Math.PI / 8) * variance[c]!));
      const e = z.map(Math.exp);
      const s = e.reduce((a, b) => a + b, 0);
      const p = la.predictProbit(phi, 1);
      for (let c = 0; c < k; c++) expect(p[c]).toBeCloseTo(e[c]! / s, 6);
      if (structure === 'diag') {
        const x = [...Array.from(phi), 1];
        for (let c = 0; c < k; c++)
          expect(variance[c]).toBeCloseTo(
            x.reduce((t, xa, a) => t + (xa * xa) / (h[(a * k + c) * P + a * k + c]! + 0.5), 0),
            9,
          );
      }
    }
  });
});

describe('LastLayerLaplacePosterior and method laplace-last-layer', { timeout: 120_000 }, () => {
  it('S = 0 is the MAP network; a tiny Σ gives the MAP predictive; masks zero last-layer weights in mean, variance and draws', async () => {
    const { buildNetwork } = await import('../../src/nn/builders.js');
    const { pointFactory } = await import('../../src/inference/layer-factories.js');
    const { LastLayerLaplacePosterior, lastLayerTheta } = await import('../../src/inference/last-layer-laplace.js');
    const tf = await import('@tensorflow/tfjs-core');
    const net = buildNetwork({ arch: 'mlp', hidden: [6], activation: 'relu' }, [4], 3, pointFactory(), new RandomStream('ll-net'));
    const { theta, d, k } = lastLayerTheta(net);
    const P = (d + 1) * k;
    const la = new LastLayerLaplace(theta, randomSpd(P, new RandomStream('ll-h')), d, k, 'full');
    la.setPriorPrecision(1e12); // Σ ≈ 1e-12 I
    const post = new LastLayerLaplacePosterior(net, la);
    const x = tf.tensor2d(
      Array.from({ length: 20 }, (_, i) => Math.sin(i)),
      [5, 4],
    );
    const map = tf.softmax(net.forward(x, { sample: false })).dataSync();
    const p0 = post.predictSamples(x, 0, new RandomStream('s')).dataSync();
    const p3 = post.predictSamples(x, 3, new RandomStream('s'));
    expect(p3.shape).toEqual([3, 5, 3]);
    const p3d = p3.dataSync();
    for (let i = 0; i < map.length; i++) {
      expect(p0[i]).toBeCloseTo(map[i]!, 6);
      for (let s = 0; s < 3; s++) expect(p3d[s * 15 + i]).toBeCloseTo(map[i]!, 4);
    }
    // Mask one last-layer weight: the moments drop it, the predictive equals the masked MAP network.
    const lastName = `${net.layers.at(-1)!.name}.weight`;
    const mask = new Float32Array(d * k).fill(1);
    mask[2] = 0;
    post.setMasks(new Map([[lastName, mask]]));
    const mom = post.moments().find((m) => m.name === lastName)!;
    expect(mom.variance[2]).toBe(0);
    expect(mom.mean[2]).toBe(0);
    expect(mom.variance[3]).toBeGreaterThan(0);
    for (const m of post.moments()) if (m.name !== lastName) expect(m.variance.every((v) => v === 0)).toBe(true);
    const masked = tf.softmax(net.forward(x, { sample: false })).dataSync();
    const pm = post.predictSamples(x, 2, new RandomStream('t')).dataSync();
    for (let i = 0; i < masked.length; i++) expect(pm[i]).toBeCloseTo(masked[i]!, 4);
    post.dispose();
  });

  it('runs end to end as inference.method laplace-last-layer, with bmr taking σ₀ from its λ', async () => {
    const { mkdtempSync, readFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { validateConfig } = await import('../../src/experiment/config.js');
    const { runExperiment } = await import('../../src/experiment/run.js');
    const cfg = validateConfig({
      experiment: 'llla-tiny',
      seed: 2,
      backend: 'cpu',
      data: { name: 'blobs' },
      model: { arch: 'mlp', hidden: [8] },
      inference: { method: 'laplace-last-layer', laplace: { priorPrecisions: [0.1, 10] } },
      train: { epochs: 2, batchSize: 50, optimizer: { lr: 0.01 } },
      eval: { samples: 3 },
      pruning: { criteria: ['bmr', 'magnitude'], sparsities: [0, 0.5] },
    });
    const r = await runExperiment(cfg, { resultsDir: mkdtempSync(join(tmpdir(), 'bp-llla-')), progress: null });
    const m = JSON.parse(readFileSync(join(r.runDir, 'metrics.json'), 'utf8')).variants.main;
    expect(m.method).toBe('laplace-last-layer');
    const rows = m.curves as { criterion: string; predictive: string; accuracy: number }[];
    expect(rows.some((x) => x.criterion === 'bmr(ΔF≥3)')).toBe(true);
    expect(rows.filter((x) => x.predictive === 'mc').every((x) => x.accuracy >= 0 && x.accuracy <= 1)).toBe(true);
  });
});
