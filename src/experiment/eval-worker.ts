/**
 * A worker thread of the evaluation pool (src/experiment/eval-pool.ts): a copy of the shared
 * engine ({@link SharedEvaluator.fromSpec}) on its own tfjs backend, evaluating the operating
 * points it is sent (masks in, class probabilities and mean-network logits out).
 * @module
 */
import { parentPort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../backend.js';
import { parseBackendChoice } from '../backend-choices.js';
import type { Dataset } from '../data/dataset.js';
import { setFusedPaths } from '../nn/fused/settings.js';
import type { PoolReply, PoolRequest } from './eval-pool.js';
import { SharedEvaluator } from './mc-engine.js';

let engine: SharedEvaluator | null = null;
let masks: (Float32Array | null)[] = [];
let noise = new Map<string, Float32Array[]>();
let sets: { ds: Dataset; predict: boolean; mean: boolean }[] = [];
let started: Promise<unknown> = Promise.resolve();

const post = (m: PoolReply, transfer: ArrayBuffer[] = []) => parentPort!.postMessage(m, transfer);

parentPort!.on('message', async (m: PoolRequest) => {
  try {
    if (m.type === 'init') {
      started = (async () => {
        // Test hook (test/experiment/eval-pool.test.ts): a worker that cannot start.
        if (process.env.BAYESPRUNE_EVAL_WORKER_FAULT === 'init') throw new Error('injected fault at start');
        await initBackend(parseBackendChoice(m.backend, 'evaluation worker'));
        if (tf.getBackend() !== m.backend) throw new Error(`backend ${m.backend} did not start in the worker (got ${tf.getBackend()})`);
        setFusedPaths(m.fused);
      })();
      await started;
      post({ type: 'ready' });
      return;
    }
    await started;
    if (m.type === 'engine') {
      engine?.dispose();
      sets = m.sets.map((s) => ({ ds: { ...s.ds, y: new Int32Array(s.ds.n) } as unknown as Dataset, predict: s.predict, mean: s.mean }));
      noise = new Map(m.noise);
      engine = SharedEvaluator.fromSpec(
        m.spec,
        () => masks,
        (key) => noise.get(key),
      );
    } else if (m.type === 'point') {
      masks = m.masks;
      const predict: (Float32Array[] | null)[] = [];
      const mean: (Float32Array | null)[] = [];
      const transfer: ArrayBuffer[] = [];
      for (const s of sets) {
        const p = s.predict ? engine!.predict(s.ds).map((a) => a.slice()) : null;
        const l = s.mean ? engine!.meanLogits(s.ds).slice() : null;
        predict.push(p);
        mean.push(l);
        if (p) transfer.push(...p.map((a) => a.buffer as ArrayBuffer));
        if (l) transfer.push(l.buffer as ArrayBuffer);
      }
      post({ type: 'point', id: m.id, predict, mean }, transfer);
    } else if (m.type === 'close') {
      engine?.dispose();
      parentPort!.close();
    }
  } catch (e) {
    post({ type: 'error', message: e instanceof Error ? e.message : String(e) });
  }
});
