import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { gaussianBlobs } from '../../src/data/synthetic.js';
import { pointFactory } from '../../src/inference/layer-factories.js';
import {
  CHI2_1_MEDIAN,
  medianBandwidth,
  pairwiseSqDist,
  ParticleNetwork,
  svgdDirection,
  svgdDirectionBlocks,
  svgdDirectionCoordinatewise,
  SvgdSampler,
  trainSvgd,
} from '../../src/inference/svgd.js';
import { buildNetwork } from '../../src/nn/builders.js';
import type { Dense } from '../../src/nn/dense.js';
import { RandomStream } from '../../src/random.js';
import { useTestBackend } from '../setup-backend.js';

beforeAll(useTestBackend);

function randomArray(n: number, s: RandomStream): Float32Array {
  return Float32Array.from({ length: n }, () => s.normal());
}

describe('SVGD direction', () => {
  it('matches a direct per-particle evaluation of φ(x_i) = (1/n) Σ_j [k_ij ∇log p(x_j) + (2/h)(x_i − x_j) k_ij]', () => {
    const n = 5;
    const s = new RandomStream('phi');
    // two parameter tensors per particle: [n, 2] and [n, 3] → 5-dimensional particles
    const a = randomArray(n * 2, s);
    const b = randomArray(n * 3, s);
    const ga = randomArray(n * 2, s);
    const gb = randomArray(n * 3, s);
    const X = Array.from({ length: n }, (_, i) => [...a.subarray(i * 2, i * 2 + 2), ...b.subarray(i * 3, i * 3 + 3)]);
    const G = Array.from({ length: n }, (_, i) => [...ga.subarray(i * 2, i * 2 + 2), ...gb.subarray(i * 3, i * 3 + 3)]);
    const sq = (u: number[], v: number[]) => u.reduce((acc, x, k) => acc + (x - v[k]!) ** 2, 0);
    const d2 = X.flatMap((xi) => X.map((xj) => sq(xi, xj))).sort((p, q) => p - q);
    const med = d2[(n * n - 1) / 2]!; // n² = 25 is odd
    const h = med / Math.log(n + 1);
    const expected = X.map((xi) => {
      const phi = new Array(5).fill(0);
      X.forEach((xj, j) => {
        const k = Math.exp(-sq(xi, xj) / h);
        for (let c = 0; c < 5; c++) phi[c] += (k * G[j]![c]! + (2 / h) * (xi[c]! - xj[c]!) * k) / n;
      });
      return phi;
    });
    const { phi, h: ht } = svgdDirection([tf.tensor2d(a, [n, 2]), tf.tensor2d(b, [n, 3])], [tf.tensor2d(ga, [n, 2]), tf.tensor2d(gb, [n, 3])]);
    expect(ht).toBeCloseTo(h, 4);
    const pa = phi[0]!.dataSync();
    const pb = phi[1]!.dataSync();
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < 2; c++) expect(pa[i * 2 + c]!).toBeCloseTo(expected[i]![c]!, 4);
      for (let c = 0; c < 3; c++) expect(pb[i * 3 + c]!).toBeCloseTo(expected[i]![2 + c]!, 4);
    }
  });

  it('median heuristic averages the two middle squared distances for an even count and falls back to 1', () => {
    const sq = pairwiseSqDist([tf.tensor2d([0, 1, 3, 7], [4, 1])]);
    const v = Array.from(sq.dataSync()).sort((p, q) => p - q); // 16 entries
    expect(medianBandwidth(sq)).toBeCloseTo((v[7]! + v[8]!) / 2 / Math.log(5), 5);
    expect(medianBandwidth(pairwiseSqDist([tf.zeros([3, 2])]))).toBe(1);
  });
});

/** Rows of particles (float64) from two parameter tensors [n, 2] and [n, 3] laid side by side. */
function rows(n: number, a: Float32Array, b: Float32Array): number[][] {
  return Array.from({ length: n }, (_, i) => [...a.subarray(i * 2, i * 2 + 2), ...b.subarray(i * 3, i * 3 + 3)]);
}

describe('SVGD kernels against brute-force float64 loops', () => {
  const n = 6;
  const s = new RandomStream('kernels');
  const a = randomArray(n * 2, s);
  const b = randomArray(n * 3, s).map((v) => 3 * v); // another scale in the second tensor
  const ga = randomArray(n * 2, s);
  const gb = randomArray(n * 3, s);
  const X = rows(n, a, b);
  const G = rows(n, ga, gb);
  const params = () => [tf.tensor2d(a, [n, 2]), tf.tensor2d(b, [n, 3])];
  const grads = () => [tf.tensor2d(ga, [n, 2]), tf.tensor2d(gb, [n, 3])];
  const check = (phi: tf.Tensor[], expected: number[][]) => {
    const pa = phi[0]!.dataSync();
    const pb = phi[1]!.dataSync();
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < 2; c++) expect(pa[i * 2 + c]!).toBeCloseTo(expected[i]![c]!, 4);
      for (let c = 0; c < 3; c++) expect(pb[i * 3 + c]!).toBeCloseTo(expected[i]![2 + c]!, 4);
    }
  };

  it('weight kernel: φ_c(x_i) = (1/n) Σ_j k_c(x_jc, x_ic)[∂_c log p(x_j) + γ(2/h_c)(x_ic − x_jc)], h_c = 2 s_c² m/log(n + 1)', () => {
    const gamma = 0.7;
    const expected = X.map((xi) =>
      xi.map((_, c) => {
        const col = X.map((r) => r[c]!);
        const mu = col.reduce((p, q) => p + q, 0) / n;
        const v = col.reduce((p, q) => p + (q - mu) ** 2, 0) / n;
        const h = (2 * v * CHI2_1_MEDIAN) / Math.log(n + 1);
        let phi = 0;
        X.forEach((xj, j) => {
          const k = Math.exp(-((xi[c]! - xj[c]!) ** 2) / h);
          phi += (k * (G[j]![c]! + (gamma * 2 * (xi[c]! - xj[c]!)) / h)) / n;
        });
        return phi;
      }),
    );
    check(svgdDirectionCoordinatewise(params(), grads(), gamma).phi, expected);
  });

  it('CHI2_1_MEDIAN is the median of χ²₁: P(|Z| ≤ √m) = 1/2 (erf by Simpson integration of the normal density)', () => {
    const t = Math.sqrt(CHI2_1_MEDIAN);
    const m = 2000;
    let acc = 0;
    for (let k = 0; k <= m; k++) {
      const z = (t * k) / m;
      acc += (k === 0 || k === m ? 1 : k % 2 ? 4 : 2) * Math.exp((-z * z) / 2);
    }
    const p = (2 * ((acc * t) / m / 3)) / Math.sqrt(2 * Math.PI);
    expect(p).toBeCloseTo(0.5, 5);
  });

  it('layer kernel: each block its own RBF with its own median bandwidth; repulsion weight γ', () => {
    const gamma = 2.5;
    const blockOf = (c: number) => (c < 2 ? [0, 1] : [2, 3, 4]);
    const expected = X.map((xi) =>
      xi.map((_, c) => {
        const cs = blockOf(c);
        const sq = (u: number[], v: number[]) => cs.reduce((acc, k) => acc + (u[k]! - v[k]!) ** 2, 0);
        const d2 = X.flatMap((p) => X.map((q) => sq(p, q))).sort((p, q) => p - q);
        const med = (d2[(n * n) / 2 - 1]! + d2[(n * n) / 2]!) / 2; // n² = 36 is even
        const h = med / Math.log(n + 1);
        let phi = 0;
        X.forEach((xj, j) => {
          const k = Math.exp(-sq(xi, xj) / h);
          phi += (k * G[j]![c]! + (gamma * 2 * (xi[c]! - xj[c]!) * k) / h) / n;
        });
        return phi;
      }),
    );
    check(svgdDirectionBlocks(params(), grads(), [[0], [1]], gamma).phi, expected);
    // a single block of both tensors is the full kernel
    const full = svgdDirection(params(), grads(), undefined, gamma).phi;
    const one = svgdDirectionBlocks(params(), grads(), [[0, 1]], gamma).phi;
    full.forEach((f, i) => expect(Array.from(one[i]!.dataSync())).toEqual(Array.from(f.dataSync())));
  });
});

/** SVGD on N(0, diag σ²) in d dimensions from a tight start; the mean over coordinates of (particle variance)/σ_c². */
function gaussianVarianceRatio(d: number, n: number, kernel: 'full' | 'weight', steps: number): number {
  const sig = Float32Array.from({ length: d }, (_, c) => 0.5 + (1.5 * c) / Math.max(d - 1, 1));
  const prec = tf.tensor2d(
    sig.map((v) => 1 / (v * v)),
    [1, d],
  );
  const x = tf.variable(tf.randomNormal([n, d], 0, 0.1, 'float32', new RandomStream(`gauss-${d}-${n}`).nextSeed()));
  const sampler = new SvgdSampler([x], 0.05, undefined, undefined, undefined, kernel);
  for (let t = 0; t < steps; t++) {
    sampler.stepSize = 0.05 * 0.1 ** (t / steps);
    sampler.step(() => tf.tidy(() => tf.mul(tf.sum(tf.mul(tf.square(x), prec)), -0.5) as tf.Scalar));
  }
  const v = tf.tidy(() => tf.moments(x, 0).variance.dataSync());
  let r = 0;
  for (let c = 0; c < d; c++) r += v[c]! / (sig[c]! * sig[c]!);
  tf.dispose([x, prec]);
  sampler.dispose();
  return r / d;
}

describe('SVGD reproduces Gaussian variances', { timeout: 400_000 }, () => {
  it('1-D N(0, 0.5²) with 100 particles: particle variance within 10 % of the target', () => {
    expect(Math.abs(gaussianVarianceRatio(1, 100, 'full', 1000) - 1)).toBeLessThan(0.1);
  });

  it('d = 100, 10 particles: the full RBF kernel collapses the spread (Ba et al. 2021); the per-weight kernel keeps it', () => {
    const full = gaussianVarianceRatio(100, 10, 'full', 500);
    const weight = gaussianVarianceRatio(100, 10, 'weight', 500);
    expect(full).toBeLessThan(0.1);
    expect(weight).toBeGreaterThan(0.6);
    expect(weight).toBeLessThan(1.2);
  });
});

describe('SVGD on a two-component Gaussian mixture', { timeout: 60_000 }, () => {
  it('puts particles in both modes with the right weights (1/3, 2/3) within 10 %', () => {
    const n = 100;
    // p(x) = 1/3 N(−2, 1) + 2/3 N(2, 1); particles start far away at N(−10, 1) (Liu & Wang 2016, Fig. 1)
    const x = tf.variable(tf.randomNormal([n, 1], -10, 1, 'float32', new RandomStream('gmm').nextSeed()));
    const sampler = new SvgdSampler([x], 0.25);
    const steps = 800;
    for (let s = 0; s < steps; s++) {
      sampler.stepSize = 0.25 * 0.05 ** (s / steps);
      sampler.step(() =>
        tf.tidy(() => {
          const a = tf.sub(Math.log(1 / 3), tf.div(tf.square(tf.add(x, 2)), 2));
          const b = tf.sub(Math.log(2 / 3), tf.div(tf.square(tf.sub(x, 2)), 2));
          return tf.sum(tf.logSumExp(tf.concat([a, b], 1), 1)) as tf.Scalar;
        }),
      );
    }
    const v = Array.from(x.dataSync());
    const right = v.filter((t) => t > 0);
    const left = v.filter((t) => t <= 0);
    expect(Math.abs(right.length / n - 2 / 3) / (2 / 3)).toBeLessThan(0.1);
    expect(Math.abs(left.length / n - 1 / 3) / (1 / 3)).toBeLessThan(0.1);
    const mean = (a: number[]) => a.reduce((p, c) => p + c, 0) / a.length;
    expect(Math.abs(mean(right) - 2)).toBeLessThan(0.25);
    expect(Math.abs(mean(left) + 2)).toBeLessThan(0.25);
    x.dispose();
    sampler.dispose();
  });
});

describe('SVGD over network particles', { timeout: 60_000 }, () => {
  const stream = new RandomStream('svgd-net');
  const spec = { arch: 'mlp' as const, hidden: [8], activation: 'relu' as const };

  it('the batched forward equals each particle run through the network', () => {
    const net = buildNetwork(spec, [4], 3, pointFactory(), stream.fork('a'));
    const pn = new ParticleNetwork(net, 4, { init: 'independent', initSpread: 0, initializer: 'he-normal', stream: stream.fork('p') });
    const x = tf.randomNormal([6, 4], 0, 1, 'float32', 7);
    const all = pn.forward(x).arraySync();
    const dense = net.weightLayers() as Dense[];
    for (let i = 0; i < 4; i++) {
      dense.forEach((l, li) => {
        l.w.assign(tf.squeeze(tf.slice(pn.weights[li]!, [i, 0, 0], [1, -1, -1]), [0]));
        l.b.assign(tf.reshape(tf.slice(pn.biases[li]!, [i, 0, 0], [1, -1, -1]), [-1]));
      });
      const one = net.forward(x, { sample: false }).arraySync();
      for (let r = 0; r < 6; r++) for (let c = 0; c < 3; c++) expect(all[i]![r]![c]!).toBeCloseTo(one[r]![c]!, 4);
    }
    pn.dispose();
    net.dispose();
  });

  /** The SVGD settings both blobs trainings share (particles, epochs and kernel set per test). */
  const blobsTraining = {
    batchSize: 50,
    stepSize: 0.03,
    priorSigma: 1,
    temperature: 1,
    init: 'shared',
    initSpread: 0.1,
    initializer: 'he-normal',
  } as const;

  it('layer and weight kernels (with annealing) train on blobs; the weight kernel keeps a wider spread than the full one', async () => {
    const data = gaussianBlobs({ n: 300, dim: 4, numClasses: 3, separation: 4, stream: stream.fork('data') });
    const medVar = {} as Record<string, number>;
    for (const kernel of ['full', 'layer', 'weight'] as const) {
      const net = buildNetwork(spec, [4], 3, pointFactory(), stream.fork('init'));
      const { posterior, history } = await trainSvgd(
        net,
        data,
        {
          ...blobsTraining,
          particles: 6,
          epochs: 6,
          kernel,
          anneal: kernel === 'layer' ? 0.5 : 0,
          hooks: { validation: data },
        },
        stream.fork('train'),
      );
      expect(history.at(-1)!.validationAccuracy!).toBeGreaterThan(0.8);
      const v = posterior.moments().flatMap((m) => Array.from(m.variance));
      medVar[kernel] = v.sort((a, b) => a - b)[v.length >> 1]!;
      posterior.dispose();
    }
    // 6 particles in 67 dimensions: the full kernel's repulsion is already weak per coordinate
    expect(medVar.weight!).toBeGreaterThan(2 * medVar.full!);
  });

  it('trains on blobs: posterior contract, ensemble accuracy, masks', async () => {
    const data = gaussianBlobs({ n: 300, dim: 4, numClasses: 3, separation: 4, stream: stream.fork('data') });
    const net = buildNetwork(spec, [4], 3, pointFactory(), stream.fork('init'));
    const { posterior, history } = await trainSvgd(
      net,
      data,
      {
        ...blobsTraining,
        particles: 8,
        epochs: 8,
        hooks: { validation: data },
      },
      stream.fork('train'),
    );
    expect(history).toHaveLength(8);
    expect(history.at(-1)!.validationAccuracy!).toBeGreaterThan(0.85);
    const x = tf.tensor2d(data.x.subarray(0, 40), [10, 4]);
    const p = posterior.predictSamples(x, 10, stream);
    expect(p.shape).toEqual([8, 10, 3]);
    const sums = tf.sum(p, 2).dataSync();
    for (const s of sums) expect(s).toBeCloseTo(1, 5);
    expect(posterior.predictSamples(x, 0, stream).shape).toEqual([1, 10, 3]);
    const ms = posterior.moments();
    expect(ms.map((m) => m.name)).toEqual(['fc1.weight', 'fc2.weight']);
    expect(ms.every((m) => m.variance.every((v) => v > 0))).toBe(true);
    // mean of the particles = the network's weights
    expect(Array.from(ms[0]!.mean.slice(0, 5))).toEqual(Array.from((net.weightLayers()[0] as Dense).w.dataSync().slice(0, 5)));
    const mask = new Float32Array(ms[0]!.mean.length).fill(1);
    mask[0] = 0;
    posterior.setMasks(new Map([['fc1.weight', mask]]));
    const mm = posterior.moments()[0]!;
    expect(mm.mean[0]).toBe(0);
    expect(mm.variance[0]).toBe(0);
    // with fc1 fully masked every particle predicts from biases only: identical rows across examples
    posterior.setMasks(new Map([['fc1.weight', new Float32Array(mask.length)]]));
    const q = posterior.predictSamples(x, 1, stream).arraySync();
    for (let r = 1; r < 10; r++) for (let c = 0; c < 3; c++) expect(q[0]![r]![c]!).toBeCloseTo(q[0]![0]![c]!, 5);
    posterior.setMasks(null);
    posterior.dispose();
  });
});
