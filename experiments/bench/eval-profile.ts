/**
 * Where the time of one quickstart model's pruning + evaluation goes (issue 15 item 3): the
 * shared engine's work per operating point (compacted multiply-adds per layer and set, time in
 * the MC predictive, the mean network, the uncertainty hook), by wrapping the engine's methods.
 *
 *   npx tsx experiments/bench/eval-profile.ts --run results/quickstart/<run id> [--model main] [--no-ood] [--kernels]
 *
 * `--kernels` also times every kernel of the backend (wall seconds and calls per kernel name).
 */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/backend.js';
import { loadConfig, variantConfig } from '../../src/experiment/config.js';
import { curveOptionsFrom, pruningCurves } from '../../src/experiment/curves.js';
import { SharedEvaluator } from '../../src/experiment/mc-engine.js';
import { AUTO_WORKERS_MIN_POINTS, closeEvalPool, evalPool, resolveWorkers } from '../../src/experiment/eval-pool.js';
import { UncertaintyEvaluator } from '../../src/experiment/ood-eval.js';
import { loadData } from '../../src/experiment/run.js';
import { loadTrainedModel } from '../../src/export/model-store.js';
import { setFusedPaths } from '../../src/nn/fused/settings.js';
import { rootStream } from '../../src/random.js';

const args = process.argv.slice(2);
const arg = (k: string, dflt: string) => (args.includes(`--${k}`) ? args[args.indexOf(`--${k}`) + 1]! : dflt);
const run = arg('run', '');
await initBackend('auto');
const base = loadConfig(join(run, 'config.json'));
// The model's own config (a variant's settings, e.g. the gaussian-prior model's criteria).
const variant = base.variants.find((v) => v.name === arg('model', 'main'));
const cfg = variant ? variantConfig(base, variant) : base;
if (args.includes('--no-ood')) cfg.eval.ood.enabled = false;
// --fused-off NAME[,NAME]: turn fused paths off (src/nn/fused/settings.ts) for an A/B comparison.
if (args.includes('--fused-off'))
  setFusedPaths(
    Object.fromEntries(
      arg('fused-off', '')
        .split(',')
        .map((k) => [k, false]),
    ),
  );
const d = loadData(cfg);
const posterior = await loadTrainedModel(run, arg('model', 'main'), cfg);
const acc: Record<string, number> = {};
// --kernels: time every wasm kernel (wall ms per kernel name, calls), printed at the end.
const kernelMs: Record<string, [number, number]> = {};
if (args.includes('--kernels')) {
  for (const k of tf.getKernelsForBackend(tf.getBackend())) {
    const f = k.kernelFunc;
    tf.unregisterKernel(k.kernelName, k.backendName);
    tf.registerKernel({
      ...k,
      kernelFunc: ((a: never) => {
        const t = performance.now();
        try {
          return (f as (x: never) => unknown)(a);
        } finally {
          kernelMs[k.kernelName] ??= [0, 0];
          const e = kernelMs[k.kernelName]!;
          e[0] += performance.now() - t;
          e[1]++;
        }
      }) as tf.KernelFunc,
    });
  }
}
const add = (k: string, v: number) => (acc[k] = (acc[k] ?? 0) + v);
const proto = SharedEvaluator.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
for (const name of ['predict', 'meanLogits', 'prepare', 'hostNoise', 'epsFor', 'sparseFirst', 'inputs']) {
  const f = proto[name]!;
  if (!f) continue;
  proto[name] = function (this: unknown, ...a: unknown[]) {
    const t0 = performance.now();
    try {
      return f.apply(this, a);
    } finally {
      add(name, performance.now() - t0);
    }
  };
}
const dims: string[] = [];
const prep = proto.prepare!;
proto.prepare = function (this: { prepared: unknown }, ...a: unknown[]) {
  const before = this.prepared;
  const r = prep.apply(this, a) as {
    layers: { theta: { shape: number[] }; sparse: unknown; deadBias: Float32Array | null }[];
    sparse: { rowIdx: Int32Array }[] | null;
  };
  if (r !== before)
    dims.push(
      r.layers.map((l) => `${l.theta.shape.join('x')}${l.sparse ? 's' : ''}${l.deadBias ? `+${l.deadBias.length}d` : ''}`).join(' ') +
        (r.sparse ? ` [sparse path, kept ${r.sparse.map((l) => l.rowIdx.length).join('/')}]` : ''),
    );
  return r;
};
const stream = rootStream(cfg.seed)
  .fork(`variant/${arg('model', 'main')}`)
  .fork('eval');
// Evaluation workers started and ready before timing, as a run starts them before training (src/experiment/run.ts).
const workers = resolveWorkers(cfg.eval.workers, AUTO_WORKERS_MIN_POINTS);
if (workers > 0) await evalPool(workers).ready();
const t0 = performance.now();
const unc = new UncertaintyEvaluator(cfg, d.test, d.validation, stream.fork('uncertainty'));
const hook = unc.hook;
let hookMs = 0;
const wrapped: typeof hook = (ctx) => {
  const t = performance.now();
  const p0 = acc.predict ?? 0;
  const m0 = acc.meanLogits ?? 0;
  try {
    return hook(ctx);
  } finally {
    hookMs += performance.now() - t - ((acc.predict ?? 0) - p0) - ((acc.meanLogits ?? 0) - m0);
  }
};
const times: string[] = [];
let last = performance.now();
const curves = await pruningCurves(posterior, {
  variant: 'main',
  ...curveOptionsFrom(cfg),
  stream,
  data: d.test,
  scoreData: d.train,
  pointMetrics: wrapped,
  pointSets: unc.pointSets(),
  onPoint: (i, n, r) => {
    const now = performance.now();
    times.push(`${i}/${n} ${r.criterion} ${r.structure} ${r.targetSparsity ?? r.unitRatio} ${((now - last) / 1000).toFixed(3)} s`);
    last = now;
  },
});
const t1 = performance.now();
console.log(`evaluation workers: ${workers}, points on workers: ${curves.workers?.points ?? 0}`);
await closeEvalPool();
unc.summary(stream.fork('uncertainty'));
const t2 = performance.now();
console.log(times.map((t, i) => `${t}  ${dims[i] ?? ''}`).join('\n'));
console.log(`curves ${((t1 - t0) / 1000).toFixed(2)} s, summary ${((t2 - t1) / 1000).toFixed(2)} s, rows ${curves.rows.length}`);
console.log(`hook (own work, without predict/meanLogits) ${(hookMs / 1000).toFixed(2)} s`);
for (const [k, v] of Object.entries(acc)) console.log(`${k} ${(v / 1000).toFixed(2)} s (inclusive)`);
for (const [k, [ms, n]] of Object.entries(kernelMs).sort((a, b) => b[1][0] - a[1][0])) console.log(`kernel ${k} ${(ms / 1000).toFixed(2)} s, ${n} calls`);
