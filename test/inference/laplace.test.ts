import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { gaussianBlobs } from '../../src/data/synthetic.js';
import { datasetBatches, diagonalCurvature } from '../../src/inference/curvature.js';
import { laplaceAround, LaplacePosterior } from '../../src/inference/laplace.js';
import { pointFactory } from '../../src/inference/layer-factories.js';
import { Trainer } from '../../src/inference/trainer.js';
import { buildNetwork } from '../../src/nn/builders.js';
import type { Dense } from '../../src/nn/dense.js';
import { RandomStream } from '../../src/random.js';
import { useTestBackend } from '../setup-backend.js';

beforeAll(useTestBackend);

describe('diagonal Laplace on a small classifier', { timeout: 60_000 }, () => {
  const stream = new RandomStream('laplace-net');
  const train = gaussianBlobs({ n: 200, dim: 4, numClasses: 3, separation: 3, stream: stream.fork('train') });
  const val = gaussianBlobs({ n: 100, dim: 4, numClasses: 3, separation: 3, stream: stream.fork('val') });
  const spec = { arch: 'mlp' as const, hidden: [6], activation: 'relu' as const };

  it('fits after MAP: grid search picks the lowest validation NLL; variances are 1/(H/T + λ); sampling restores the MAP', async () => {
    const net = buildNetwork(spec, [4], 3, pointFactory(), stream.fork('init'));
    const t = new Trainer(net, train, { epochs: 5, batchSize: 20, lr: { name: 'constant', lr: 0.02 }, temperature: 1 }, stream.fork('fit'));
    await t.run();
    t.dispose();
    const map = (net.weightLayers()[0] as Dense).w.dataSync().slice();
    const grid = [1e-2, 1, 100];
    const { posterior, grid: g } = laplaceAround(
      net,
      train,
      val,
      { curvature: 'ggn', temperature: 1, priorPrecisions: grid, gridSamples: 5, gridExamples: 0, curvatureExamples: 0, batchSize: 100 },
      stream.fork('laplace'),
    );
    expect(g.map((p) => p.priorPrecision)).toEqual(grid);
    const best = g.reduce((a, b) => (b.nll < a.nll ? b : a));
    expect(posterior.priorPrecision).toBe(best.priorPrecision);
    const H = diagonalCurvature(net, datasetBatches(train, 100), 'ggn', { type: 'categorical' });
    const m = posterior.moments();
    H.forEach((h, l) => h.weight.forEach((v, j) => expect(m[l]!.variance[j]!).toBeCloseTo(1 / (v + best.priorPrecision), 4)));
    expect(Array.from(m[0]!.mean)).toEqual(Array.from(map));
    const x = tf.tensor2d(val.x.subarray(0, 12), [3, 4]);
    const p = posterior.predictSamples(x, 4, stream.fork('pred'));
    expect(p.shape).toEqual([4, 3, 3]);
    expect(Array.from((net.weightLayers()[0] as Dense).w.dataSync())).toEqual(Array.from(map));
    // a colder posterior (T < 1) is narrower
    const cold = new LaplacePosterior(net, H, best.priorPrecision, 0.1);
    const mc = cold.moments();
    mc[0]!.variance.forEach((v, j) => expect(v).toBeLessThanOrEqual(m[0]!.variance[j]! * (1 + 1e-6)));
    posterior.dispose();
  });

  it('a curvature subset of n examples is rescaled by N/n', () => {
    const net = buildNetwork(spec, [4], 3, pointFactory(), stream.fork('init2'));
    const ls = stream.fork('subset');
    const half = laplaceAround(
      net,
      train,
      val,
      { curvature: 'ef', temperature: 1, priorPrecisions: [1], gridSamples: 2, gridExamples: 0, curvatureExamples: 100, batchSize: 100 },
      ls,
    );
    const H = diagonalCurvature(net, datasetBatches(train, 100, 100, ls.fork('curvature-subset')), 'ef', { type: 'categorical' });
    const v = half.posterior.moments();
    H.forEach((h, l) => h.weight.forEach((x, j) => expect(v[l]!.variance[j]!).toBeCloseTo(1 / ((x * train.n) / 100 + 1), 4)));
    half.posterior.dispose();
  });
});
