import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { featureSize } from '../../src/data/dataset.js';
import { loadDataset } from '../../src/data/registry.js';
import { validateConfig } from '../../src/experiment/config.js';
import { runExperiment } from '../../src/experiment/run.js';
import { fitPackNet } from '../../src/pruning/packnet-method.js';
import { PackNet } from '../../src/pruning/packnet.js';
import { RandomStream } from '../../src/random.js';
import { useTestBackend } from '../setup-backend.js';

beforeAll(useTestBackend);

const blobs = { name: 'blobs' as const };
const base = {
  experiment: 'packnet-test',
  seed: 3,
  data: blobs,
  model: { arch: 'mlp', hidden: [12, 8] },
  train: { epochs: 3, batchSize: 50, optimizer: { lr: 0.01 }, checkpointEvery: 0 },
  eval: { samples: 1 },
  pruning: { criteria: ['magnitude'], sparsities: [0], logAlphaThreshold: null },
};

describe('inference.method packnet', { timeout: 120_000 }, () => {
  const root = mkdtempSync(join(tmpdir(), 'packnet-run-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('a config run reports each task, the capacity each owns, task 1 unchanged by task 2, and the same-capacity baseline', async () => {
    const cfg = validateConfig({ ...base, inference: { method: 'packnet', packnet: { task2: 'auto', pruneFractions: [0.5, 0.25], retrainEpochs: 1 } } });
    const run = await runExperiment(cfg, { resultsDir: root, progress: null });
    const metrics = JSON.parse(readFileSync(join(run.runDir, 'metrics.json'), 'utf8'));
    const p = metrics.variants.main.packnet;
    // blobs are 2-d, so task 2 is the permuted task (no Fashion-MNIST load for non-784 inputs)
    expect(p.tasks.map((t: { name: string }) => t.name)).toEqual(['blobs', 'blobs-permuted']);
    // Ownership counts derived by hand from the layer shapes: 2·12 and 12·8 shared weights.
    const layers = [2 * 12, 12 * 8];
    const owned1 = layers.reduce((s, n) => s + n - Math.round(0.5 * n), 0);
    const free1 = layers.map((n) => Math.round(0.5 * n));
    const owned2 = free1.reduce((s, n) => s + n - Math.round(0.25 * n), 0);
    expect(p.totalWeights).toBe(120);
    expect(p.tasks[0].weightsOwned).toBe(owned1);
    expect(p.tasks[1].weightsOwned).toBe(owned2);
    expect(p.tasks[0].capacity).toBeCloseTo(owned1 / 120, 12);
    expect(p.tasks[1].freeAfter).toBeCloseTo((120 - owned1 - owned2) / 120, 12);
    expect(p.freeWeightsForTask2).toBe(120 - owned1);
    expect(p.baseline.weightsAvailable).toBe(120 - owned1);
    expect(p.baseline.weightsUsed).toBe(owned2); // same free weights, same prune fraction
    // Task 1 is untouched by task 2: same accuracy, bit-identical logits.
    expect(p.task1LogitsBitIdentical).toBe(true);
    expect(p.task1AccuracyAfterTask2).toBe(p.task1AccuracyBeforeTask2);
    expect(p.task2MinusBaseline).toBeCloseTo(p.tasks[1].accuracy - p.baseline.accuracy, 12);
    expect(p.tasks[0].accuracy).toBeGreaterThan(0.5); // chance is 1/3
    // The run's main model is task 1's network: its dense test accuracy is task 1's.
    expect(metrics.variants.main.method).toBe('packnet');
    expect(metrics.variants.main.dense.accuracy).toBeCloseTo(p.tasks[0].accuracy, 12);
    expect(p.mainModelMaxLogitDiff).toBeLessThan(1e-4);
    const md = readFileSync(join(run.runDir, 'report.md'), 'utf8');
    expect(md).toContain('## main: PackNet: tasks in one network');
    expect(md).toMatch(/\| 2 alone \(baseline\): blobs-permuted \|/);
    expect(md).toContain('bit-identical');
    const html = readFileSync(join(run.runDir, 'report.html'), 'utf8');
    expect(html).toContain('main: PackNet: tasks in one network');
  });

  it("task 1's predictions after task 2 are bit for bit those of a PackNet that never saw task 2", async () => {
    // Independent reference: a PackNet trained on task 1 alone from the same stream as fitPackNet's task 1.
    const d = loadDataset('blobs', { flat: true });
    const cfg = validateConfig({ ...base, inference: { method: 'packnet', packnet: { baseline: false } } });
    const stream = new RandomStream('fit');
    const fit = await fitPackNet({ config: cfg, train: d.train, validation: d.validation, stream, hooks: {} });
    const ref = new PackNet(featureSize(d.train), { hidden: [12, 8], pruneFraction: 0.5, epochs: 3, retrainEpochs: 2, batchSize: 50, lr: 0.01 });
    ref.addTask('blobs', d.train, d.test, stream.fork('packnet/task1'), 0.5);
    const zRef = ref.logits(1, d.test.x, d.test.n);
    const zFit = tf.tidy(() => fit.posterior.network.forward(tf.tensor2d(d.test.x, [d.test.n, featureSize(d.test)]), { sample: false }).dataSync());
    const argmax = (z: ArrayLike<number>, i: number) => (z[3 * i]! >= z[3 * i + 1]! && z[3 * i]! >= z[3 * i + 2]! ? 0 : z[3 * i + 1]! >= z[3 * i + 2]! ? 1 : 2);
    for (let i = 0; i < d.test.n; i++) expect(argmax(zFit, i)).toBe(argmax(zRef, i));
    for (let i = 0; i < zRef.length; i++) expect(Math.abs(zFit[i]! - zRef[i]!)).toBeLessThan(1e-5 * (1 + Math.abs(zRef[i]!)));
    const m = fit.section!.metrics as { task1LogitsBitIdentical: boolean; tasks: { accuracy: number }[]; baseline: unknown };
    expect(m.task1LogitsBitIdentical).toBe(true);
    expect(m.tasks[0]!.accuracy).toBe(ref.accuracy(1, d.test));
    expect(m.baseline).toBeNull();
    fit.posterior.dispose();
    ref.dispose();
  });

  it('config errors name the key and what is allowed', () => {
    const bad =
      (inference: object, model: object = base.model) =>
      () =>
        validateConfig({ ...base, model, inference });
    expect(bad({ method: 'packnet' }, { arch: 'lenet-5-caffe' })).toThrow(/model\.arch.*packnet trains a fully connected network: use mlp or lenet-300-100/);
    expect(bad({ method: 'packnet' }, { arch: 'mlp', activation: 'tanh' })).toThrow(/model\.activation.*relu/);
    expect(bad({ method: 'packnet', packnet: { pruneFractions: [0.5] } })).toThrow(/inference\.packnet\.pruneFractions.*2 entries/);
    expect(bad({ method: 'packnet', packnet: { pruneFractions: [1, 0] } })).toThrow(/inference\.packnet\.pruneFractions\.0: must be < 1/);
    expect(bad({ method: 'packnet', packnet: { task2: 'cifar' } })).toThrow(/inference\.packnet\.task2/);
  });

  it('task2 fashion-mnist on data with another input size is refused in one line', async () => {
    const d = loadDataset('blobs', { flat: true });
    const cfg = validateConfig({ ...base, inference: { method: 'packnet', packnet: { task2: 'fashion-mnist' } } });
    const err = await fitPackNet({ config: cfg, train: d.train, validation: d.validation, stream: new RandomStream('f'), hooks: {} }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(
      /^inference\.packnet\.task2 fashion-mnist needs task-1 data with 784 input features.*has 2; use task2: permuted-mnist$/,
    );
    expect((err as Error).message).not.toContain('\n');
  });
});
