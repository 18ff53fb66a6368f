/**
 * A small sparse-VD MLP and uniform data for the evaluation-engine tests (test/experiment/mc-engine.test.ts,
 * eval-pool.test.ts): D = 12 inputs, hidden [16, 8], K = 4 classes, log σ² spread over [−6, 0] so the
 * LRT noise matters. `prefix` names the random streams (each test file its own).
 */
import * as tf from '@tensorflow/tfjs-core';
import { makeDataset, type Dataset } from '../../src/data/dataset.js';
import type { CurveOptions } from '../../src/experiment/curves.js';
import { meanFieldFactory } from '../../src/inference/layer-factories.js';
import { buildNetwork } from '../../src/nn/builders.js';
import type { Network } from '../../src/nn/network.js';
import { RandomStream, rootStream } from '../../src/random.js';

export const D = 12;
export const K = 4;

/** n examples with inputs uniform in [−1, 1) and uniform labels (stream `<prefix>-data/<name>`). */
export function uniformData(prefix: string, name: string, n: number): Dataset {
  const s = new RandomStream(`${prefix}-data/${name}`);
  return makeDataset({
    name,
    x: Float32Array.from({ length: n * D }, () => s.uniform() * 2 - 1),
    y: Int32Array.from({ length: n }, () => s.int(K)),
    n,
    shape: [D],
    numClasses: K,
  });
}

/** The LRT MLP, log σ² uniform in [−6, 0] (stream `<prefix>-logsigma`). */
export function noisyLrtMlp(prefix: string): Network {
  const net = buildNetwork(
    { arch: 'mlp', hidden: [16, 8], activation: 'relu' },
    [D],
    K,
    meanFieldFactory({ type: 'log-uniform' }, -3),
    rootStream(7).fork('init'),
  );
  const s = new RandomStream(`${prefix}-logsigma`);
  for (const v of net.variables().filter((v) => v.name.includes('logSigma2')))
    v.assign(
      tf.tensor(
        Float32Array.from({ length: v.size }, () => -6 + 6 * s.uniform()),
        v.shape,
      ),
    );
  return net;
}

/**
 * Curve options over every kind of point (criteria snr / magnitude / random at `sparsities`, 2:4, half
 * the units, log α ≥ 0), S = 4, batches of 16, with a hook that reads a second set `other` by both
 * predictives (what the OOD hook does).
 */
export function curveOptions(evalSet: Dataset, other: Dataset, sparsities: number[]): CurveOptions {
  return {
    variant: 'main',
    criteria: ['snr', 'magnitude', 'random'],
    scope: 'global',
    sparsities,
    logAlphaThreshold: 0,
    nm: ['2:4'],
    units: { ratios: [0.5], aggregate: 'l2', scope: 'layer' },
    samples: 4,
    batchSize: 16,
    stream: new RandomStream('curves'),
    data: evalSet,
    pointMetrics: (ctx) => {
      const p = ctx.predict(other);
      const l = ctx.meanLogits(other);
      return { mc: { otherP: p[3]![17]!, otherSum: p.reduce((a, s) => a + s.reduce((b, v) => b + v, 0), 0) }, mean: { otherLogit: l[5]! } };
    },
  };
}
