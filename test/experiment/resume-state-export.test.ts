/**
 * Stored trained models (`<run>/model/<model>/`, src/export/model-store.ts) keep the batch-norm
 * running statistics: a bn-cnn model loaded back normalizes with the trained statistics, not
 * with the initial (0, 1); a file stored without them is refused with a one-line message.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/experiment/config.js';
import { loadTrainedModel, saveTrainedModel } from '../../src/export/model-store.js';
import { networkFor } from '../../src/inference/methods.js';
import { NetworkPosterior } from '../../src/inference/network-posterior.js';
import { batchNormLayers } from '../../src/nn/batchnorm.js';
import { RandomStream } from '../../src/random.js';
import { useTestBackend } from '../setup-backend.js';

beforeAll(useTestBackend);

const bits = (v: tf.Variable) => Array.from(new Uint32Array(Float32Array.from(v.dataSync()).buffer));

describe('stored models keep the batch-norm running statistics', () => {
  it('round-trips them bit for bit, and refuses a file stored without them', async () => {
    const cfg = validateConfig({ experiment: 'store-bn', model: { arch: 'bn-cnn' }, inference: { method: 'map' }, pruning: { criteria: ['magnitude'] } });
    const data = { shape: [784], numClasses: 10 };
    const net = networkFor(cfg, data as never, new RandomStream('store-bn'));
    // One training-mode pass moves the running statistics away from (0, 1).
    const s = new RandomStream('x');
    const x = tf.tensor2d(
      Float32Array.from({ length: 4 * 784 }, () => s.uniform()),
      [4, 784],
    );
    net.forward(x, { sample: false, training: true });
    x.dispose();
    const bns = batchNormLayers(net.layers);
    expect(bns).toHaveLength(2);
    expect(Array.from(bns[0]!.runningMean.dataSync()).some((m) => m !== 0)).toBe(true);
    const want = bns.flatMap((b) => [bits(b.runningMean), bits(b.runningVar)]);
    const run = mkdtempSync(join(tmpdir(), 'bp-store-bn-'));
    const dir = await saveTrainedModel(run, 'main', new NetworkPosterior('map', net), data);
    const loaded = await loadTrainedModel(run, 'main', cfg);
    expect(batchNormLayers(loaded.network.layers).flatMap((b) => [bits(b.runningMean), bits(b.runningVar)])).toEqual(want);
    loaded.dispose();
    net.dispose();

    // A file of the older kind (no `state`) would load with running statistics (0, 1): refused.
    const indexPath = join(dir!, 'posterior.json');
    const index = JSON.parse(readFileSync(indexPath, 'utf8'));
    delete index.state;
    writeFileSync(indexPath, JSON.stringify(index));
    const err = await loadTrainedModel(run, 'main', cfg).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(/posterior\.json: stored without the batch-norm running statistics of its network .*run the experiment again/);
    expect(err?.message).not.toContain('\n');
  });
});
