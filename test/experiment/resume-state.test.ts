/**
 * Resumed runs are bit-identical to uninterrupted ones also for state that is not a
 * trainable variable: batch-norm running statistics (bn-cnn) and unit removal's per-unit
 * counters (unit-gates). Each run is interrupted in process right after its first
 * checkpoint (epoch 1 of 3) by a `saveCheckpoint` that throws once its file is written,
 * then resumed with `--resume`; its metrics must equal an uninterrupted run's exactly
 * (wall-clock fields zeroed). On the checkpoint format of version 2 both tests fail: the
 * resumed bn-cnn run restarts from running statistics (0, 1) and the unit-gates run
 * restarts its counters at 0, so units are removed one epoch later.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { initBackend } from '../../src/backend.js';
import * as tf from '@tensorflow/tfjs-core';
import { validateConfig, type ExperimentConfig } from '../../src/experiment/config.js';
import { checkpointPath, decodeCheckpoint, loadCheckpoint, saveCheckpoint } from '../../src/experiment/checkpoint.js';
import { runExperiment } from '../../src/experiment/run.js';
import { BatchNorm } from '../../src/nn/batchnorm.js';
import { Network } from '../../src/nn/network.js';

/** `armed` = n > 0: the n-th checkpoint save from now throws after writing its file (an interruption right after that epoch's checkpoint). */
const interrupt = vi.hoisted(() => ({ armed: 0 }));
vi.mock('../../src/experiment/checkpoint.js', async (importOriginal) => {
  const orig = await importOriginal<typeof import('../../src/experiment/checkpoint.js')>();
  return {
    ...orig,
    saveCheckpoint: async (...args: Parameters<typeof orig.saveCheckpoint>) => {
      await orig.saveCheckpoint(...args);
      if (interrupt.armed > 0 && --interrupt.armed === 0) throw new Error('simulated interruption after the checkpoint');
    },
  };
});

// bn-cnn trains far faster on WebAssembly than on the pure-JS cpu backend; wasm is deterministic run to run.
beforeAll(async () => {
  await initBackend('wasm', 'flag');
});

/** Wall-clock fields and tensor counts zeroed: they differ between identical runs. */
function noClock(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(noClock);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, /seconds$/i.test(k) || k === 'numTensors' ? 0 : noClock(x)]));
  return v;
}

/** Every variant's metrics with the clock fields zeroed and the run-specific identifiers dropped. */
function stable(runDir: string): unknown {
  const m = JSON.parse(readFileSync(join(runDir, 'metrics.json'), 'utf8'));
  return noClock(m.variants);
}

/** Run `raw` into `results` until just after the checkpoint of epoch `epoch`; returns the partial run's directory. */
async function interrupted(raw: ExperimentConfig, results: string, epoch: number): Promise<string> {
  interrupt.armed = epoch;
  await expect(runExperiment(raw, { resultsDir: results, progress: null, newRun: true, signals: false })).rejects.toThrow(/simulated interruption/);
  const expDir = join(results, raw.experiment);
  const partials = readdirSync(expDir).filter((e) => e.endsWith('.partial'));
  expect(partials).toHaveLength(1);
  const partial = join(expDir, partials[0]!);
  // The partial run holds the checkpoint of that epoch (and no results yet).
  const ck = decodeCheckpoint(readFileSync(checkpointPath(partial, 'ckpt-main')), 'ckpt');
  expect(ck.index.epoch).toBe(epoch);
  return partial;
}

/** One uninterrupted run and one interrupted after its first checkpoint and resumed; returns both runs' metrics and the resume log. */
async function uninterruptedAndResumed(raw: ExperimentConfig): Promise<{ full: unknown; resumed: unknown; log: string }> {
  const results = mkdtempSync(join(tmpdir(), 'bp-resume-state-'));
  const full = await runExperiment(raw, { resultsDir: results, progress: null, newRun: true, signals: false });
  const partial = await interrupted(raw, results, 1);
  let log = '';
  const resumed = await runExperiment(raw, { resultsDir: results, progress: { write: (s: string) => void (log += s) }, resume: partial, signals: false });
  return { full: stable(full.runDir), resumed: stable(resumed.runDir), log };
}

// Threshold 0.99: every gate is "low" from the first check, so after epoch 1 the counters are 1 and,
// with patience 2, the removal happens after epoch 2 — one epoch later if the counters restarted at 0.
const gatesConfig = validateConfig({
  experiment: 'resume-gates',
  seed: 6,
  backend: 'wasm',
  data: { name: 'blobs' },
  model: { arch: 'mlp', hidden: [16] },
  inference: { method: 'unit-gates', gates: { removal: { threshold: 0.99, patience: 2 } } },
  train: { epochs: 3, batchSize: 50, optimizer: { lr: 0.01 } },
  eval: { samples: 2, split: 'validation' },
  pruning: { criteria: ['magnitude'], sparsities: [0, 0.5] },
});

describe('resumed runs restore all training state', { timeout: 300_000 }, () => {
  it('bn-cnn: batch-norm running statistics are checkpointed; the resumed run equals the uninterrupted one exactly', async () => {
    const raw = validateConfig({
      experiment: 'resume-bn',
      seed: 4,
      backend: 'wasm',
      data: { name: 'mnist-embedded', trainLimit: 200 },
      model: { arch: 'bn-cnn' },
      inference: { method: 'map' },
      train: { epochs: 3, batchSize: 50, optimizer: { lr: 0.01 } },
      eval: { samples: 2, split: 'validation' },
      pruning: { criteria: ['magnitude'], sparsities: [0, 0.5], logAlphaThreshold: null },
    });
    const { full, resumed, log } = await uninterruptedAndResumed(raw);
    expect(log).toMatch(/\[main\] resumed from epoch 1/);
    expect(resumed).toEqual(full);
  });

  it('unit-gates: a checkpoint saved after a removal is refused with a one-line reason (the compacted network is not rebuilt)', async () => {
    const results = mkdtempSync(join(tmpdir(), 'bp-resume-state-'));
    const partial = await interrupted(gatesConfig, results, 2);
    const err = await runExperiment(gatesConfig, { resultsDir: results, progress: null, resume: partial, signals: false }).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(
      /^checkpoint \S+ckpt-main\.ckpt holds training state of unit-removal that cannot be restored: \d+ units were removed during training before it was saved, and a run cannot be resumed after a removal \(the compacted network is not rebuilt\); it cannot be resumed: delete it to retrain this model from epoch 0/,
    );
    expect(err?.message).not.toContain('\n');
  });

  it('unit-gates: removal counters are checkpointed, so units are removed in the same epoch as without the interruption', async () => {
    const { full, resumed, log } = await uninterruptedAndResumed(gatesConfig);
    expect(log).toMatch(/\[main\] resumed from epoch 1/);
    // Independent of the code under test: the uninterrupted run removed units after epoch 2 (and not after epoch 1).
    const history = (full as { main: { history: { removed?: Record<string, number> }[] } }).main.history;
    expect(history[0]!.removed).toBeUndefined();
    expect(Object.values(history[1]!.removed ?? {}).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    expect(resumed).toEqual(full);
  });
});

describe('methods whose training state is not checkpointed train again', { timeout: 300_000 }, () => {
  it('swag (collected moments not saved): the resumed run says it trains again from epoch 0 and equals the uninterrupted run', async () => {
    const raw = validateConfig({
      experiment: 'resume-swag',
      seed: 8,
      backend: 'wasm',
      data: { name: 'blobs' },
      model: { arch: 'mlp', hidden: [16] },
      inference: { method: 'swag' },
      train: { epochs: 3, batchSize: 50, optimizer: { lr: 0.01 } },
      eval: { samples: 2, split: 'validation' },
      pruning: { criteria: ['magnitude'], sparsities: [0, 0.5] },
    });
    const { full, resumed, log } = await uninterruptedAndResumed(raw);
    expect(log).toMatch(/\[main\] method swag does not resume from checkpoints \(its training state is not saved\); training again from epoch 0/);
    expect(log).not.toMatch(/resumed from epoch/);
    expect(resumed).toEqual(full);
  });
});

describe('checkpoint format version 3', () => {
  const bnNet = () => {
    const bn = new BatchNorm({ name: 'bn', channels: 3 });
    return { bn, net: new Network([bn], [3], 3, 'bn only') };
  };

  it('round-trips batch-norm running statistics and auxiliary state; refuses version-2 files and mismatched state with clear messages', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bp-ckpt3-'));
    const a = bnNet();
    // A training-mode pass over a hand-made batch: running mean = 0.1·batch mean, variance = 0.9 + 0.1·unbiased variance.
    const x = tf.tensor2d([
      [1, 2, 3],
      [3, 6, 9],
    ]);
    a.net.forward(x, { sample: false, training: true });
    x.dispose();
    const loaded: number[][] = [];
    a.net.auxState.set('counter', { saveState: () => [{ name: 'c', shape: [2], values: Float32Array.from([2, 5]) }], loadState: () => {} });
    await saveCheckpoint(dir, 'ckpt-main', 1, a.net, [], { note: 'x' });

    const b = bnNet();
    b.net.auxState.set('counter', { saveState: () => [], loadState: (e) => loaded.push(Array.from(e[0]!.values)) });
    const ck = loadCheckpoint<{ note: string }>(dir, 'ckpt-main', b.net)!;
    expect(ck.index.version).toBe(3);
    expect(ck.index.meta.note).toBe('x');
    // Hand-derived: means (2, 4, 6), unbiased variances (2, 8, 18).
    const mean = Array.from(b.bn.runningMean.dataSync());
    const vr = Array.from(b.bn.runningVar.dataSync());
    [0.2, 0.4, 0.6].forEach((m, i) => expect(mean[i]).toBeCloseTo(m, 6));
    [1.1, 1.7, 2.7].forEach((v, i) => expect(vr[i]).toBeCloseTo(v, 5));
    expect(loaded).toEqual([[2, 5]]);

    // A model without the auxiliary state (or with another) is refused.
    const c = bnNet();
    expect(() => loadCheckpoint(dir, 'ckpt-main', c.net)).toThrow(/holds training state of \[counter\], the model has \[\] \(was the config changed\?\)/);
    // A bare variable list has no state variables: a batch-norm checkpoint's running statistics do not fit it.
    await saveCheckpoint(dir, 'ckpt-bn', 1, c.net, [], {});
    expect(() => loadCheckpoint(dir, 'ckpt-bn', c.net.variables())).toThrow(/state variable "bn\.runningMean" that the model lacks/);

    // A version-2 file (same layout, old magic) is refused, saying what it lacks.
    const file = checkpointPath(dir, 'ckpt-main');
    const bytes = readFileSync(file);
    bytes.write('BPCKPT2\n', 0, 'latin1');
    writeFileSync(file, bytes);
    expect(() => loadCheckpoint(dir, 'ckpt-main', b.net)).toThrow(
      /is of checkpoint format version 2, which lacks the batch-norm running statistics.*delete it to retrain/,
    );
    for (const n of [a, b, c]) n.net.dispose();
  });
});
