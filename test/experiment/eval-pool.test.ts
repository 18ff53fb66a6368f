import { availableParallelism } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../../src/data/dataset.js';
import { pruningCurves, type CurveRow } from '../../src/experiment/curves.js';
import { closeEvalPool, resolveWorkers } from '../../src/experiment/eval-pool.js';
import { NetworkPosterior } from '../../src/inference/network-posterior.js';
import { curveOptions, noisyLrtMlp, uniformData } from '../helpers/lrt-mlp.js';
import { useTestBackend } from '../setup-backend.js';

let initial = 'cpu';
beforeAll(async () => {
  initial = await useTestBackend();
});
afterAll(async () => {
  await closeEvalPool();
  await tf.setBackend(initial);
});

const data = (name: string, n: number) => uniformData('eval-pool', name, n);
const lrtPosterior = () => new NetworkPosterior('vi', noisyLrtMlp('eval-pool'));

/** Every criterion, sparsity, 2:4, unit ratio and the log α threshold (17 points), with a hook that reads a second set. */
function curves(post: NetworkPosterior, workers: number, evalSet: Dataset, other: Dataset, declareSets = false) {
  return pruningCurves(post, {
    ...curveOptions(evalSet, other, [0, 0.5, 0.8, 0.9, 0.95]),
    workers,
    // Declared: the workers start while the points are planned; else the first point shows the sets.
    pointSets: declareSets ? [{ ds: other, predict: true, mean: true }] : undefined,
  });
}

const numbers = (rows: CurveRow[]) => rows.map((r) => ({ ...r }));

describe('evaluation workers (src/experiment/eval-pool.ts)', { timeout: 120_000 }, () => {
  it('a curve evaluated with worker threads has exactly the rows of the main thread alone, in the same order', async () => {
    const post = lrtPosterior();
    const evalSet = data('eval', 40);
    const other = data('other', 25);
    const alone = await curves(post, 0, evalSet, other);
    const pooled = await curves(post, 2, evalSet, other);
    expect(alone.rows.length).toBe(2 * (3 + 3 * (4 + 1 + 1) + 1)); // the dense rows once per criterion
    expect(numbers(pooled.rows)).toEqual(numbers(alone.rows));
    expect(alone.workers).toEqual({ threads: 0, points: 0 });
    expect(pooled.workers!.threads).toBe(2);
    expect(pooled.workers!.points).toBeGreaterThan(0);
    expect(pooled.threshold!.sparsity).toEqual(alone.threshold!.sparsity);
    // Again with the pool already started, the sets declared up front: the same rows.
    const again = await curves(post, 2, evalSet, other, true);
    expect(numbers(again.rows)).toEqual(numbers(alone.rows));
    expect(again.workers!.points).toBeGreaterThan(0);
    post.network.dispose();
  });

  it('a worker that fails to start leaves the curve to the main thread, with a warning and the same rows', async () => {
    await closeEvalPool();
    const post = lrtPosterior();
    const evalSet = data('eval', 40);
    const other = data('other', 25);
    const alone = await curves(post, 0, evalSet, other);
    const warnings: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.env.BAYESPRUNE_EVAL_WORKER_FAULT = 'init';
    process.stderr.write = ((s: string) => (warnings.push(String(s)), true)) as typeof process.stderr.write;
    try {
      const failed = await curves(post, 1, evalSet, other);
      expect(numbers(failed.rows)).toEqual(numbers(alone.rows));
      expect(failed.workers!.points).toBe(0);
    } finally {
      process.stderr.write = write;
      delete process.env.BAYESPRUNE_EVAL_WORKER_FAULT;
      await closeEvalPool();
    }
    expect(warnings.join('')).toMatch(/warning: evaluation worker: .*injected fault.*main thread/);
    post.network.dispose();
  });

  it('eval.workers auto: none for short curves, off the wasm backend or inside sweep workers, else one per spare core', () => {
    const saved = process.env.BAYESPRUNE_EVAL_WORKERS;
    delete process.env.BAYESPRUNE_EVAL_WORKERS;
    try {
      expect(resolveWorkers(3, 5, 'wasm')).toBe(3);
      expect(resolveWorkers(0, 100, 'wasm')).toBe(0);
      expect(resolveWorkers('auto', 11, 'wasm')).toBe(0);
      expect(resolveWorkers('auto', 36, 'wasm')).toBe(Math.max(0, Math.min(availableParallelism() - 1, 6)));
      expect(resolveWorkers('auto', 36, 'tensorflow')).toBe(0); // tfjs-node: multi-threaded kernels already
      expect(resolveWorkers(2, 36, 'cpu')).toBe(2);
      process.env.BAYESPRUNE_EVAL_WORKERS = '0';
      expect(resolveWorkers('auto', 36, 'wasm')).toBe(0);
      expect(resolveWorkers(2, 36, 'wasm')).toBe(2);
    } finally {
      if (saved === undefined) delete process.env.BAYESPRUNE_EVAL_WORKERS;
      else process.env.BAYESPRUNE_EVAL_WORKERS = saved;
    }
  });
});
