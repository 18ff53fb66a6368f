import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { gaussianBlobs } from '../../src/data/synthetic.js';
import { pointFactory } from '../../src/inference/layer-factories.js';
import { SwagCollector, swagLearningRate, trainSwag } from '../../src/inference/swag.js';
import { buildNetwork } from '../../src/nn/builders.js';
import type { Dense } from '../../src/nn/dense.js';
import { RandomStream } from '../../src/random.js';
import { useTestBackend } from '../setup-backend.js';

beforeAll(useTestBackend);

describe('SWAG learning-rate schedule (reference run_swag.py)', () => {
  it('is constant for the first half of the burn-in, linear to swaLr by 90 %, then swaLr', () => {
    const lr = 0.1;
    const swa = 0.01;
    expect(swagLearningRate(0, 10, lr, swa)).toBe(lr);
    expect(swagLearningRate(5, 10, lr, swa)).toBe(lr);
    expect(swagLearningRate(7, 10, lr, swa)).toBeCloseTo(lr * (1 - (1 - swa / lr) * 0.5), 12);
    expect(swagLearningRate(9, 10, lr, swa)).toBeCloseTo(swa, 12);
    expect(swagLearningRate(30, 10, lr, swa)).toBeCloseTo(swa, 12);
    expect(swagLearningRate(3, 0, lr, swa)).toBe(swa);
  });
});

/** Direct statistics of a list of iterates (Float64). */
function direct(iterates: Float32Array[]) {
  const n = iterates.length;
  const d = iterates[0]!.length;
  const mean = new Float64Array(d);
  const sq = new Float64Array(d);
  for (const it of iterates) for (let j = 0; j < d; j++) ((mean[j]! += it[j]! / n), (sq[j]! += (it[j]! * it[j]!) / n));
  const variance = mean.map((m, j) => Math.max(sq[j]! - m * m, 1e-30));
  // deviation of iterate i from the running mean after adding it
  const running = new Float64Array(d);
  const devs: Float64Array[] = [];
  iterates.forEach((it, i) => {
    for (let j = 0; j < d; j++) running[j] = (running[j]! * i) / (i + 1) + it[j]! / (i + 1);
    devs.push(Float64Array.from(it, (v, j) => v - running[j]!));
  });
  return { mean, sq, variance, devs };
}

describe('SWAG running moments', () => {
  it('equal the direct mean, mean of squares and variance of the collected iterates; D holds the last K deviations', () => {
    const s = new RandomStream('swag-moments');
    const K = 5;
    const col = new SwagCollector([[3, 2], [4]], K);
    const its: Float32Array[][] = [[], []];
    for (let t = 0; t < 12; t++) {
      const a = Float32Array.from({ length: 6 }, () => 1 + 0.3 * s.normal());
      const b = Float32Array.from({ length: 4 }, () => -2 + s.normal());
      its[0]!.push(a);
      its[1]!.push(b);
      const ta = tf.tensor(a, [3, 2]);
      const tb = tf.tensor(b, [4]);
      col.collect([ta, tb]);
      tf.dispose([ta, tb]);
    }
    expect(col.n).toBe(12);
    for (let p = 0; p < 2; p++) {
      const ref = direct(its[p]!);
      const mean = col.meanOf(p).dataSync();
      const sq = col.sqMeanOf(p).dataSync();
      const v = col.diagVariance(p).dataSync();
      ref.mean.forEach((m, j) => expect(mean[j]!).toBeCloseTo(m, 5));
      ref.sq.forEach((m, j) => expect(sq[j]!).toBeCloseTo(m, 5));
      ref.variance.forEach((m, j) => expect(Math.abs(v[j]! - m)).toBeLessThan(1e-4 * Math.max(1, Math.abs(m))));
      const D = col.deviationsOf(p)!;
      expect(D.shape).toEqual([K, ref.mean.length]);
      const dd = D.arraySync();
      for (let k = 0; k < K; k++) ref.devs[12 - K + k]!.forEach((x, j) => expect(dd[k]![j]!).toBeCloseTo(x, 5));
      const lr = col.lowRankVariance(p).dataSync();
      for (let j = 0; j < ref.mean.length; j++) {
        let acc = 0;
        for (let k = 0; k < K; k++) acc += ref.devs[12 - K + k]![j]! ** 2;
        expect(lr[j]!).toBeCloseTo(acc / (K - 1), 5);
      }
    }
    col.dispose();
  });

  it('draws have covariance scale·(Σ_diag + D Dᵀ/(K − 1)) (marginals within 10 % over 4000 draws)', () => {
    const s = new RandomStream('swag-draws');
    const K = 4;
    const col = new SwagCollector([[6]], K);
    for (let t = 0; t < 8; t++) {
      const x = tf.tensor(Float32Array.from({ length: 6 }, (_, j) => j + (j + 1) * 0.5 * s.normal()));
      col.collect([x]);
      x.dispose();
    }
    const scale = 0.5;
    const expected = tf.tidy(() => tf.mul(tf.add(col.diagVariance(0), col.lowRankVariance(0)), scale)).dataSync();
    const draws: number[][] = [];
    for (let i = 0; i < 4000; i++) {
      const [t] = col.sample(scale, true, s);
      draws.push(Array.from(t!.dataSync()));
      t!.dispose();
    }
    const mean = col.meanOf(0).dataSync();
    for (let j = 0; j < 6; j++) {
      const m = draws.reduce((a, d) => a + d[j]!, 0) / draws.length;
      const v = draws.reduce((a, d) => a + (d[j]! - m) ** 2, 0) / (draws.length - 1);
      expect(Math.abs(v - expected[j]!) / expected[j]!).toBeLessThan(0.1);
      expect(Math.abs(m - mean[j]!)).toBeLessThan(4 * Math.sqrt(expected[j]! / draws.length));
    }
    col.dispose();
  });
});

describe('SWAG training on blobs', { timeout: 60_000 }, () => {
  const stream = new RandomStream('swag-train');
  const data = gaussianBlobs({ n: 200, dim: 4, numClasses: 3, separation: 4, stream: stream.fork('data') });
  const spec = { arch: 'mlp' as const, hidden: [6], activation: 'relu' as const };

  it('posterior moments are the moments of the collected SGD iterates; sampling restores the mean', async () => {
    const net = buildNetwork(spec, [4], 3, pointFactory(), stream.fork('init'));
    const collected: Float32Array[] = [];
    const { posterior, history } = await trainSwag(
      net,
      data,
      {
        variant: 'swag',
        epochs: 4,
        batchSize: 20,
        lr: 0.1,
        swaLr: 0.05,
        swaStart: 2,
        momentum: 0.9,
        weightDecay: 1e-4,
        collectEvery: 3,
        rank: 4,
        onCollect: (vs) => collected.push(vs[0]!.dataSync().slice() as Float32Array),
      },
      stream.fork('train'),
    );
    expect(history).toHaveLength(4);
    expect(history[0]!.lr).toBe(0.1);
    expect(history[3]!.lr).toBe(0.05);
    expect(collected).toHaveLength(2 * Math.floor(10 / 3)); // 10 steps per epoch, every 3 steps, epochs 2 and 3
    const ref = direct(collected);
    const m = posterior.moments()[0]!;
    ref.mean.forEach((x, j) => expect(m.mean[j]!).toBeCloseTo(x, 5));
    const K = 4;
    ref.variance.forEach((v, j) => {
      let lowRank = 0;
      for (let k = collected.length - K; k < collected.length; k++) lowRank += ref.devs[k]![j]! ** 2;
      const expected = 0.5 * (v + lowRank / (K - 1));
      expect(Math.abs(m.variance[j]! - expected)).toBeLessThan(1e-4 * Math.max(1e-3, expected) + 1e-7);
    });
    const w = (net.weightLayers()[0] as Dense).w;
    const before = w.dataSync().slice();
    const x = tf.tensor2d(data.x.subarray(0, 20), [5, 4]);
    const p = posterior.predictSamples(x, 6, stream.fork('pred'));
    expect(p.shape).toEqual([6, 5, 3]);
    tf.sum(p, 2)
      .dataSync()
      .forEach((v) => expect(v).toBeCloseTo(1, 5));
    // samples differ from each other; the mean is restored afterwards
    const arr = p.arraySync();
    expect(arr[0]![0]![0]).not.toBe(arr[1]![0]![0]);
    expect(Array.from(w.dataSync())).toEqual(Array.from(before));
    posterior.dispose();
  });

  it('swa is a point estimate at the SWA mean; swag-diag has no low-rank term', async () => {
    for (const variant of ['swa', 'swag-diag'] as const) {
      const net = buildNetwork(spec, [4], 3, pointFactory(), stream.fork('init'));
      const collected: Float32Array[] = [];
      const { posterior } = await trainSwag(
        net,
        data,
        {
          variant,
          epochs: 3,
          batchSize: 40,
          lr: 0.1,
          swaLr: 0.05,
          swaStart: 1,
          momentum: 0.9,
          weightDecay: 0,
          collectEvery: 0,
          rank: 20,
          onCollect: (vs) => collected.push(vs[0]!.dataSync().slice() as Float32Array),
        },
        stream.fork('train'),
      );
      expect(collected).toHaveLength(2); // end of epochs 1 and 2
      const ref = direct(collected);
      const m = posterior.moments()[0]!;
      ref.mean.forEach((x, j) => expect(m.mean[j]!).toBeCloseTo(x, 5));
      if (variant === 'swa') {
        expect(m.variance.every((v) => v === 0)).toBe(true);
        const x = tf.tensor2d(data.x.subarray(0, 8), [2, 4]);
        expect(posterior.predictSamples(x, 5, stream).shape).toEqual([1, 2, 3]);
      } else ref.variance.forEach((v, j) => expect(Math.abs(m.variance[j]! - v)).toBeLessThan(1e-4 * Math.max(1e-3, v) + 1e-7));
      posterior.dispose();
    }
  });

  it('companions from one trajectory: SGD = the first collected iterate, SWA = the mean, SWAG-diag = the diagonal; all equal separate runs', async () => {
    const opts = { epochs: 3, batchSize: 40, lr: 0.1, swaLr: 0.05, swaStart: 1, momentum: 0.9, weightDecay: 0, collectEvery: 0, rank: 3 };
    const make = (k: string) => buildNetwork(spec, [4], 3, pointFactory(), stream.fork(`init-${k}`));
    const collected: Float32Array[] = [];
    const n0 = tf.memory().numTensors;
    const main = await trainSwag(
      make('main'),
      data,
      {
        ...opts,
        variant: 'swag',
        companions: ['swag-diag', 'swa', 'sgd'],
        makeNetwork: () => make('copy'),
        onCollect: (vs) => collected.push(vs[0]!.dataSync().slice() as Float32Array),
      },
      stream.fork('one'),
    );
    expect(main.companions.map((c) => c.name)).toEqual(['swag-diag', 'swa', 'sgd']);
    const [diag, swa, sgd] = main.companions.map((c) => c.posterior.moments()[0]!);
    const ref = direct(collected);
    // SGD: the iterate SWAG starts from, no spread.
    collected[0]!.forEach((x, j) => expect(sgd!.mean[j]).toBe(x));
    expect(sgd!.variance.every((v) => v === 0)).toBe(true);
    ref.mean.forEach((x, j) => {
      expect(swa!.mean[j]!).toBeCloseTo(x, 5);
      expect(diag!.mean[j]!).toBeCloseTo(x, 5);
    });
    expect(swa!.variance.every((v) => v === 0)).toBe(true);
    ref.variance.forEach((v, j) => expect(Math.abs(diag!.variance[j]! - v)).toBeLessThan(1e-4 * Math.max(1e-3, v) + 1e-7));
    // The same trajectory trained as a swag-diag main model gives the same moments.
    const alone = await trainSwag(make('main'), data, { ...opts, variant: 'swag-diag' }, stream.fork('one'));
    const a = alone.posterior.moments()[0]!;
    a.variance.forEach((v, j) => expect(diag!.variance[j]!).toBeCloseTo(v, 6));
    alone.posterior.dispose();
    // The shared collector is freed only with its last owner: nothing leaks.
    main.posterior.dispose();
    const x = tf.tensor2d(data.x.subarray(0, 8), [2, 4]);
    const ps = main.companions[0]!.posterior.predictSamples(x, 4, stream.fork('p'));
    expect(ps.shape).toEqual([4, 2, 3]);
    tf.dispose([x, ps]);
    for (const c of main.companions) c.posterior.dispose();
    // tfjs-core 4.22's MomentumOptimizer itself keeps one tensor per instance (measured
    // here); beyond that, two trainings and four posteriors sharing one collector leave nothing.
    const init = tf.ones([2]);
    const v = tf.variable(init);
    const m0 = tf.memory().numTensors;
    const o = tf.train.momentum(0.1, 0.9);
    o.minimize(() => tf.sum(tf.square(v)) as tf.Scalar, false, [v]);
    o.dispose();
    const perOptimizer = tf.memory().numTensors - m0;
    tf.dispose([v, init]);
    expect(perOptimizer).toBeLessThanOrEqual(1);
    expect(tf.memory().numTensors).toBe(n0 + 3 * perOptimizer);
    await expect(trainSwag(make('x'), data, { ...opts, variant: 'swa', companions: ['swa'], makeNetwork: () => make('y') }, stream)).rejects.toThrow(
      /repeat the main variant/,
    );
  });
});
