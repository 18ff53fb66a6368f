/**
 * Export of a convolutional network (LeNet-5-Caffe with LRT convolutions, untrained: its
 * initial posterior stored as a run would store it): reshape, conv2d, max-pooling, flatten and
 * dense layers of the LayersModel, loaded in a child process with only tfjs-core, -backend-cpu
 * and -layers, match the framework's masked posterior-mean network to 1e-5, filters removed
 * by compaction included.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/experiment/config.js';
import { loadData } from '../../src/experiment/run.js';
import { networkFor } from '../../src/inference/methods.js';
import { NetworkPosterior } from '../../src/inference/network-posterior.js';
import { exportRun } from '../../src/export/export.js';
import { saveTrainedModel } from '../../src/export/model-store.js';
import { getCriterion } from '../../src/scores/registry.js';
import { masksAtSparsity } from '../../src/pruning/masks.js';
import { RandomStream, rootStream } from '../../src/random.js';
import { useTestBackend } from '../setup-backend.js';

const repo = resolve(import.meta.dirname, '..', '..');

const CHILD = `
const fs = require('node:fs');
const path = require('node:path');
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const tfl = require('@tensorflow/tfjs-layers');
(async () => {
  await tf.setBackend('cpu');
  const [dir, inputFile, n] = process.argv.slice(2);
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const bin = fs.readFileSync(path.join(dir, 'weights.bin'));
  const model = await tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength) }));
  const raw = fs.readFileSync(inputFile);
  const x = tf.tensor2d(new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4), [Number(n), 784]);
  process.stdout.write(JSON.stringify({ probs: Array.from(model.predict(x).dataSync()), layers: model.layers.map((l) => l.getClassName()), filters: model.layers.filter((l) => l.getClassName() === 'Conv2D').map((l) => l.getConfig().filters) }));
})().catch((e) => { process.stderr.write(String(e.stack || e)); process.exit(1); });
`;

beforeAll(useTestBackend);

describe('export of a convolutional network', { timeout: 180_000 }, () => {
  it('LeNet-5 with LRT convolutions: plain tfjs matches the masked posterior-mean network to 1e-5', async () => {
    const work = mkdtempSync(join(tmpdir(), 'bp-conv-export-'));
    const cfg = validateConfig({
      experiment: 'conv',
      seed: 2,
      backend: 'cpu',
      data: { name: 'mnist-embedded', trainLimit: 100 },
      model: { arch: 'lenet-5-caffe' },
      inference: { method: 'vi', initLogSigma2: -4 },
      eval: { split: 'test' },
      pruning: { criteria: ['snr'], sparsities: [0, 0.7] },
    });
    const data = loadData(cfg);
    const net = networkFor(cfg, data.train, new RandomStream('conv-export-init'));
    // Give the log σ² a spread, as training would, so SNR ranks whole filters out too.
    for (const v of net.variables().filter((x) => x.name.includes('logSigma2'))) v.assign(tf.add(v, tf.randomUniform(v.shape, -3, 3, 'float32', 5)));
    const post = new NetworkPosterior('vi', net);
    const runDir = join(work, 'run');
    mkdirSync(runDir);
    writeFileSync(join(runDir, 'config.json'), JSON.stringify(cfg));
    await saveTrainedModel(runDir, 'main', post, data.train);

    const out = join(work, 'out');
    const s = await exportRun(runDir, { point: { kind: 'criterion', criterion: 'snr', sparsity: 0.7 }, out, evalExamples: 64 });
    expect(s.bayesian).toBe(true);
    expect(s.sparsity).toBeCloseTo(0.7, 3);

    const n = 64;
    const x = data.test.x.slice(0, n * 784);
    writeFileSync(join(work, 'x.f32'), new Uint8Array(x.buffer));
    writeFileSync(join(work, 'child.cjs'), CHILD);
    const got = JSON.parse(
      await new Promise<string>((done, fail) =>
        execFile(
          process.execPath,
          [join(work, 'child.cjs'), out, join(work, 'x.f32'), String(n)],
          { env: { ...process.env, NODE_PATH: join(repo, 'node_modules') }, maxBuffer: 64 << 20 },
          (e, o, err) => (e ? fail(new Error(`${e.message}\n${err}`)) : done(o)),
        ),
      ),
    ) as { probs: number[]; layers: string[]; filters: number[] };
    expect(got.layers).toEqual([
      'Reshape',
      'Conv2D',
      'Activation',
      'MaxPooling2D',
      'Conv2D',
      'Activation',
      'MaxPooling2D',
      'Flatten',
      'Dense',
      'Activation',
      'Dense',
      'Activation',
    ]);

    // The framework's network with the same masks, not compacted.
    const scores = await getCriterion('snr').compute(post, {
      stream: rootStream(cfg.seed).fork('variant/main').fork('eval').fork('scores/snr'),
      data: data.train,
    });
    const masks = masksAtSparsity(scores, 0.7, 'global');
    post.setMasks(masks);
    const ref = tf.tidy(() => tf.softmax(net.forward(tf.tensor2d(x, [n, 784]), { sample: false })).dataSync() as Float32Array);
    // Filters whose whole kernel is masked, counted by hand, are the ones compaction removed (or fewer, when unused units also go).
    const conv1 = masks.get('conv1.weight')!;
    let dead = 0;
    for (let f = 0; f < 20; f++) {
      let kept = 0;
      for (let i = f; i < conv1.length; i += 20) kept += conv1[i]!;
      if (kept === 0) dead++;
    }
    expect(got.filters[0]).toBeLessThanOrEqual(20 - dead);
    post.dispose();
    let maxDiff = 0;
    for (let i = 0; i < ref.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got.probs[i]! - ref[i]!));
    expect(maxDiff).toBeLessThan(1e-5);
    expect(JSON.parse(readFileSync(join(out, 'export.json'), 'utf8')).evaluation.maxAbsProbDiff).toBeLessThan(1e-5);
  });
});
