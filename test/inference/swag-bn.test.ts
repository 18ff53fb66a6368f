import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { gaussianBlobs } from '../../src/data/synthetic.js';
import { subset, type Dataset } from '../../src/data/dataset.js';
import { bnRefreshHooks, trainSwag } from '../../src/inference/swag.js';
import type { WeightSamplingHooks } from '../../src/inference/weight-sampling.js';
import { Activation } from '../../src/nn/activations.js';
import { BatchNorm } from '../../src/nn/batchnorm.js';
import { Dense } from '../../src/nn/dense.js';
import { Network } from '../../src/nn/network.js';
import { RandomStream } from '../../src/random.js';
import { useTestBackend } from '../setup-backend.js';

beforeAll(useTestBackend);

const H = 16;

function bnMlp(stream: RandomStream): Network {
  return new Network(
    [
      new Dense({ name: 'fc1', inFeatures: 4, outFeatures: H, stream: stream.fork('fc1') }),
      new BatchNorm({ name: 'bn1', channels: H }),
      new Activation('act1', 'relu'),
      new Dense({ name: 'fc2', inFeatures: H, outFeatures: 3, stream: stream.fork('fc2') }),
    ],
    [4],
    3,
    'dense-bn-dense',
  );
}

/** Mean and unbiased variance of the batch-norm input x·W1 + b1 over every example of `data`, by plain loops. */
function handStats(net: Network, data: Dataset): { mean: Float64Array; variance: Float64Array } {
  const fc1 = net.layers[0] as Dense;
  const w = fc1.w.dataSync();
  const b = fc1.b.dataSync();
  const mean = new Float64Array(H);
  const sq = new Float64Array(H);
  for (let i = 0; i < data.n; i++) {
    for (let c = 0; c < H; c++) {
      let h = b[c]!;
      for (let j = 0; j < 4; j++) h += data.x[i * 4 + j]! * w[j * H + c]!;
      mean[c]! += h;
      sq[c]! += h * h;
    }
  }
  const variance = new Float64Array(H);
  for (let c = 0; c < H; c++) {
    mean[c]! /= data.n;
    variance[c] = (sq[c]! - data.n * mean[c]! * mean[c]!) / (data.n - 1);
  }
  return { mean, variance };
}

/** Largest relative difference between the network's running statistics and hand-computed batch statistics. */
function statError(net: Network, data: Dataset): number {
  const bn = net.layers[1] as BatchNorm;
  const { mean, variance } = handStats(net, data);
  const rm = bn.runningMean.dataSync();
  const rv = bn.runningVar.dataSync();
  let err = 0;
  for (let c = 0; c < H; c++) {
    const scale = Math.sqrt(variance[c]!);
    err = Math.max(err, Math.abs(rm[c]! - mean[c]!) / scale, Math.abs(rv[c]! - variance[c]!) / variance[c]!);
  }
  return err;
}

/** Mean over the S draws of each draw's own NLL. */
function sampleNll(probs: tf.Tensor3D, y: Int32Array): number {
  const p = probs.arraySync();
  return p.reduce((a, draw) => a + draw.reduce((b, row, i) => b - Math.log(Math.max(row[y[i]!]!, 1e-12)), 0) / y.length, 0) / p.length;
}

function bmaNll(probs: tf.Tensor3D, y: Int32Array): number {
  const p = tf.tidy(() => tf.mean(probs, 0).arraySync() as number[][]);
  return p.reduce((a, row, i) => a - Math.log(Math.max(row[y[i]!]!, 1e-12)), 0) / y.length;
}

describe('SWAG batch-norm refresh (Maddox et al. 2019, bn_update)', () => {
  it('refreshed samples carry their own batch statistics; stale ones do not, and predict worse', async () => {
    const all = gaussianBlobs({ n: 500, dim: 4, numClasses: 3, separation: 2.5, stream: new RandomStream('swag-bn-data') });
    const train = subset(
      all,
      Int32Array.from({ length: 200 }, (_, i) => i),
      'train',
    );
    const test = subset(
      all,
      Int32Array.from({ length: 300 }, (_, i) => 200 + i),
      'test',
    );
    const stream = new RandomStream('swag-bn');
    const net = bnMlp(stream.fork('init'));
    const hooks: WeightSamplingHooks = {};
    const { posterior } = await trainSwag(
      net,
      train,
      {
        variant: 'swag',
        epochs: 8,
        batchSize: 20,
        lr: 0.1,
        swaLr: 0.3,
        swaStart: 2,
        momentum: 0.9,
        weightDecay: 1e-4,
        collectEvery: 2,
        rank: 10,
        sampling: hooks,
      },
      stream.fork('train'),
    );
    const S = 12;
    const x = tf.tensor(test.x, [test.n, 4]);
    // Without the refresh: record how far each sampled network's running statistics are from its own.
    const stale: number[] = [];
    hooks.afterSample = (n) => void stale.push(statError(n, train));
    const pStale = posterior.predictSamples(x, S, new RandomStream('draws'));
    // With the refresh (one pass over all 200 training examples): the same draws.
    const fresh: number[] = [];
    const refresh = bnRefreshHooks(net, train, 0, 1000).afterSample!;
    hooks.afterSample = (n) => {
      refresh(n);
      fresh.push(statError(n, train));
    };
    const pFresh = posterior.predictSamples(x, S, new RandomStream('draws'));
    expect(stale.length).toBe(S + 1); // S draws, then the mean put back
    expect(fresh.length).toBe(S + 1);
    // Refreshed: running statistics = the sampled network's batch mean and unbiased variance.
    expect(Math.max(...fresh)).toBeLessThan(1e-4);
    // Stale: the running statistics of the last SGD iterate, far from every draw's own.
    expect(Math.min(...stale.slice(0, S))).toBeGreaterThan(0.05);
    // The predictions differ, and the stale ones are worse (BMA NLL on held-out data).
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(pStale, pFresh))).dataSync()[0]!);
    expect(diff).toBeGreaterThan(0.01);
    const nllStale = bmaNll(pStale, test.y);
    const nllFresh = bmaNll(pFresh, test.y);
    const perDraw = { stale: sampleNll(pStale, test.y), fresh: sampleNll(pFresh, test.y) };
    expect(nllFresh).toBeLessThan(nllStale); // measured: 0.387 vs 0.402
    expect(perDraw.fresh).toBeLessThan(perDraw.stale); // measured: 0.455 vs 0.470
    tf.dispose([x, pStale, pFresh]);
    posterior.dispose();
  }, 60_000);

  it('a network without batch norm gets no refresh hook', () => {
    const net = new Network([new Dense({ name: 'fc', inFeatures: 2, outFeatures: 2, stream: new RandomStream('x') })], [2], 2, 'plain');
    const data: Dataset = { name: 'd', x: new Float32Array(4), y: new Int32Array(2), n: 2, shape: [2], numClasses: 2 };
    expect(bnRefreshHooks(net, data, 0, 10).afterSample).toBeUndefined();
    net.dispose();
  });
});
