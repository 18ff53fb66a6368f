/**
 * Operating points evaluated on several cores: worker threads, each with a copy of the shared
 * engine (src/experiment/mc-engine.ts) on its own tfjs backend, evaluate points of a curve ahead
 * while the main thread evaluates the others and computes every point's metrics in order.
 *
 * A copy computes exactly what the main engine computes: the same weights, settings and backend,
 * and the same noise (drawn once by the main engine and sent), so a curve's numbers do not depend
 * on how many workers ran it (test/experiment/eval-pool.test.ts). tfjs's wasm backend runs one
 * thread per instance, so each worker adds a core's worth of throughput.
 *
 * The pool is shared by every curve of a process ({@link evalPool}) and can be started early
 * (a run starts it before training, src/experiment/run.ts), so the workers' start (~1 s: module
 * loading, backend) overlaps other work instead of delaying the first curve.
 * @module
 */
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from '../data/dataset.js';
import { fusedPaths, type FusedPaths } from '../nn/fused/settings.js';
import type { EngineSpec, SharedEvaluator } from './mc-engine.js';

/** A set a worker evaluates at every point: its inputs, and which predictives the curve asks of it. */
interface SetMessage {
  ds: { name: string; x: Float32Array; n: number; shape: number[]; numClasses: number };
  predict: boolean;
  mean: boolean;
}

export type PoolRequest =
  | { type: 'init'; backend: string; fused: FusedPaths }
  | { type: 'engine'; spec: EngineSpec; sets: SetMessage[]; noise: [string, Float32Array[]][] }
  | { type: 'point'; id: number; masks: (Float32Array | null)[] }
  | { type: 'close' };

export type PoolReply =
  { type: 'ready' } | { type: 'point'; id: number; predict: (Float32Array[] | null)[]; mean: (Float32Array | null)[] } | { type: 'error'; message: string };

/** A point's predictives from a worker, by set. */
export interface PointResult {
  predict: Map<Dataset, Float32Array[]>;
  mean: Map<Dataset, Float32Array>;
}

/** Bootstraps a worker: under tsx (TypeScript sources) registers tsx's loader in the thread first. */
const BOOT = `const { workerData, parentPort } = require('node:worker_threads');
(async () => {
  if (workerData.tsx) (await import(workerData.tsx)).register();
  await import(workerData.entry);
})().catch((e) => parentPort.postMessage({ type: 'error', message: String((e && e.message) || e) }));`;

/** Curves shorter than this evaluate on the main thread alone with `eval.workers: auto` (a worker's start would not repay). */
export const AUTO_WORKERS_MIN_POINTS = 12;

/**
 * Workers to use for `points` operating points on `backend`: `eval.workers`, or with `auto` the
 * environment's BAYESPRUNE_EVAL_WORKERS if set, else, on the single-threaded wasm backend, one per
 * spare core (at most 7) on curves of {@link AUTO_WORKERS_MIN_POINTS} points or more (none on other
 * backends: tfjs-node threads its kernels itself, and its native addon need not load in a worker).
 */
export function resolveWorkers(setting: number | 'auto', points: number, backend = tf.getBackend()): number {
  if (setting !== 'auto') return setting;
  // Sweep workers (src/experiment/sweep-worker.ts) set 0: their processes already fill the cores.
  const env = process.env.BAYESPRUNE_EVAL_WORKERS;
  if (env !== undefined && /^\d+$/.test(env)) return Number(env);
  if (points < AUTO_WORKERS_MIN_POINTS || backend !== 'wasm') return 0;
  return Math.max(0, Math.min(availableParallelism() - 1, 7, Math.floor(points / 6)));
}

interface Slot {
  worker: Worker;
  ready: Promise<void>;
  pending: Map<number, { resolve: (r: PointResult) => void; reject: (e: Error) => void; sets: Dataset[] }>;
  failed: Error | null;
}

let nextId = 0;

export class EvalPool {
  private readonly slots: Slot[];
  private sets: Dataset[] = [];
  private loaded = false;

  constructor(n: number) {
    const here = fileURLToPath(import.meta.url);
    const ts = here.endsWith('.ts');
    const entry = pathToFileURL(here.replace(/eval-pool\.(ts|js)$/, ts ? 'eval-worker.ts' : 'eval-worker.js')).href;
    // tsx's ESM entry (its `register` adds the TypeScript loader to the worker's thread).
    const tsx = ts ? pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api')).href.replace(/\.cjs$/, '.mjs') : null;
    this.slots = Array.from({ length: n }, (): Slot => {
      const worker = new Worker(BOOT, { eval: true, workerData: { entry, tsx } });
      worker.unref(); // referenced only while it has points queued (an idle pool never holds the process open)
      const slot: Slot = { worker, ready: Promise.resolve(), pending: new Map(), failed: null };
      slot.ready = new Promise<void>((resolve, reject) => {
        const fail = (e: Error) => {
          slot.failed ??= e;
          reject(e);
          for (const p of slot.pending.values()) p.reject(e);
          slot.pending.clear();
          worker.unref();
        };
        worker.on('message', (m: PoolReply) => {
          if (m.type === 'ready') resolve();
          else if (m.type === 'error') fail(new Error(`evaluation worker: ${m.message}`));
          else if (m.type === 'point') {
            const p = slot.pending.get(m.id);
            slot.pending.delete(m.id);
            if (slot.pending.size === 0) worker.unref();
            if (p) p.resolve(resultOf(p.sets, m));
          }
        });
        worker.on('error', (e) => fail(e));
        worker.on('exit', (code) => fail(new Error(`evaluation worker exited (code ${code})`)));
      });
      slot.ready.catch(() => {}); // failures surface through submit / `failure`
      worker.postMessage({ type: 'init', backend: tf.getBackend(), fused: { ...fusedPaths } } satisfies PoolRequest);
      return slot;
    });
  }

  /** The error of the first worker that failed, when every worker has failed (else null). */
  get failure(): Error | null {
    return this.slots.every((s) => s.failed) ? this.slots[0]!.failed : null;
  }

  /** Number of workers. */
  get size(): number {
    return this.slots.length;
  }

  /**
   * Gives every worker a copy of `engine` and the sets each point is evaluated on, with their noise
   * (drawn here by `engine`); replaces the previous curve's.
   */
  load(engine: SharedEvaluator, sets: { ds: Dataset; predict: boolean; mean: boolean }[]): void {
    this.sets = sets.map((s) => s.ds);
    const msg: PoolRequest = {
      type: 'engine',
      spec: engine.spec(),
      sets: sets.map((s) => ({
        ds: { name: s.ds.name, x: s.ds.x, n: s.ds.n, shape: s.ds.shape, numClasses: s.ds.numClasses },
        predict: s.predict,
        mean: s.mean,
      })),
      noise: [...engine.noiseFor(this.sets).entries()],
    };
    for (const s of this.slots) if (!s.failed) s.worker.postMessage(msg);
    this.loaded = true;
  }

  /** The worker with the fewest points queued, when it has fewer than `depth` (else null). */
  freeSlot(depth: number): number | null {
    let best: number | null = null;
    this.slots.forEach((s, i) => {
      if (!s.failed && s.pending.size < depth && (best === null || s.pending.size < this.slots[best]!.pending.size)) best = i;
    });
    return best;
  }

  /** Queues a point (its masks, one per weight op of the loaded engine) on worker `slot`. */
  submit(slot: number, masks: (Float32Array | null)[]): Promise<PointResult> {
    if (!this.loaded) throw new Error('EvalPool.submit before load');
    const s = this.slots[slot]!;
    if (s.failed) return Promise.reject(s.failed);
    const id = nextId++;
    const sets = this.sets;
    const r = new Promise<PointResult>((resolve, reject) => s.pending.set(id, { resolve, reject, sets }));
    s.worker.ref();
    s.worker.postMessage({ type: 'point', id, masks } satisfies PoolRequest);
    return r;
  }

  /** Waits for every worker to start (rejects if one fails). */
  async ready(): Promise<void> {
    // Referenced while waiting: an idle, unreferenced worker would not keep the process alive for its reply.
    for (const s of this.slots) s.worker.ref();
    try {
      await Promise.all(this.slots.map((s) => s.ready));
    } finally {
      for (const s of this.slots) if (s.pending.size === 0) s.worker.unref();
    }
  }

  async close(): Promise<void> {
    await Promise.all(
      this.slots.map((s) => {
        s.worker.removeAllListeners('exit');
        for (const p of s.pending.values()) p.reject(new Error('evaluation pool closed'));
        s.pending.clear();
        return s.worker.terminate();
      }),
    );
  }
}

function resultOf(sets: Dataset[], m: Extract<PoolReply, { type: 'point' }>): PointResult {
  const predict = new Map<Dataset, Float32Array[]>();
  const mean = new Map<Dataset, Float32Array>();
  sets.forEach((ds, i) => {
    if (m.predict[i]) predict.set(ds, m.predict[i]!);
    if (m.mean[i]) mean.set(ds, m.mean[i]!);
  });
  return { predict, mean };
}

let shared: { pool: EvalPool; backend: string } | null = null;

/** The process's pool of `n` workers on the current backend (started on first use; restarted if `n` or the backend changed, or its workers failed). */
export function evalPool(n: number): EvalPool {
  const backend = tf.getBackend();
  if (shared && (shared.pool.size !== n || shared.backend !== backend || shared.pool.failure)) void closeEvalPool();
  shared ??= { pool: new EvalPool(n), backend };
  return shared.pool;
}

/** Stops the process's pool (if any). */
export async function closeEvalPool(): Promise<void> {
  const s = shared;
  shared = null;
  await s?.pool.close();
}
