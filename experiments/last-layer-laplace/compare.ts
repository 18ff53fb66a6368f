/**
 * Last-layer Laplace with a full covariance against its diagonal and against the
 * all-layer diagonal Laplace of `inference.method: laplace` (issue 13, item 7), on the
 * embedded MNIST with LeNet-300-100. One MAP fit; the last-layer posteriors use its
 * penultimate features; the prior precision λ of each is chosen on the validation NLL.
 *
 *   npx tsx experiments/last-layer-laplace/compare.ts [epochs=10] [curvatureExamples=2000]
 *
 * Writes experiments/last-layer-laplace/results.json.
 * @module
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend } from '../../src/backend.js';
import { loadDataset } from '../../src/data/registry.js';
import { headOf } from '../../src/data/shifts.js';
import { validateConfig } from '../../src/experiment/config.js';
import { evaluatePosterior } from '../../src/experiment/evaluate.js';
import { featuresAndLogits, LastLayerLaplace, lastLayerGgn, lastLayerTheta } from '../../src/inference/last-layer-laplace.js';
import { getMethod } from '../../src/inference/methods.js';
import { accuracy, adaptiveEce, ece, nll } from '../../src/metrics/calibration.js';
import { rootStream } from '../../src/random.js';

const epochs = Number(process.argv[2] ?? 10);
const curvExamples = Number(process.argv[3] ?? 2000);
await initBackend('auto');
const data = loadDataset('mnist-embedded', { flat: true });
const cfg = (method: string) =>
  validateConfig({
    experiment: 'llla',
    seed: 1,
    data: { name: 'mnist-embedded' },
    model: { arch: 'lenet-300-100' },
    inference: { method },
    train: { epochs, batchSize: 100 },
    eval: { samples: 30 },
    pruning: { criteria: ['magnitude'] },
  });
const stream = rootStream(1);
const t0 = performance.now();
const fit = await getMethod('map').fit({ config: cfg('map'), train: data.train, validation: data.validation, stream, hooks: {} });
const net = fit.posterior.network;
const trainSec = (performance.now() - t0) / 1000;

const summary = (p: Float32Array, y: Int32Array) => ({ accuracy: accuracy(p, y), nll: nll(p, y), ece: ece(p, y), eceAdaptive: adaptiveEce(p, y) });
const softmax = (z: Float32Array, k: number) => {
  const out = new Float32Array(z.length);
  for (let i = 0; i < z.length / k; i++) {
    const m = Math.max(...z.subarray(i * k, (i + 1) * k));
    let s = 0;
    for (let c = 0; c < k; c++) s += Math.exp(z[i * k + c]! - m);
    for (let c = 0; c < k; c++) out[i * k + c] = Math.exp(z[i * k + c]! - m) / s;
  }
  return out;
};

const k = data.train.numClasses;
const tr = featuresAndLogits(net, headOf(data.train, curvExamples));
const va = featuresAndLogits(net, data.validation);
const te = featuresAndLogits(net, data.test);
const { theta, d } = lastLayerTheta(net);
const nCurv = Math.min(curvExamples, data.train.n);
const t1 = performance.now();
const h = lastLayerGgn(tr.phi, softmax(tr.logits, k), nCurv, d, k);
const scale = data.train.n / nCurv;
for (let i = 0; i < h.length; i++) h[i]! *= scale;
const ggnSec = (performance.now() - t1) / 1000;

const results: Record<string, unknown> = {
  setup: { epochs, curvatureExamples: nCurv, trainSeconds: trainSec, ggnSeconds: ggnSec, parameters: (d + 1) * k, backend: 'auto' },
  map: summary(softmax(te.logits, k), data.test.y),
};
for (const structure of ['full', 'diag'] as const) {
  const la = new LastLayerLaplace(theta, h, d, k, structure);
  const grid: { lambda: number; valNll: number }[] = [];
  const t2 = performance.now();
  for (const lambda of [1e-2, 1e-1, 1, 10, 100, 1e3]) {
    la.setPriorPrecision(lambda);
    grid.push({ lambda, valNll: nll(la.predictProbit(va.phi, data.validation.n), data.validation.y) });
  }
  const best = grid.reduce((a, b) => (b.valNll < a.valNll ? b : a));
  la.setPriorPrecision(best.lambda);
  results[`lastLayer-${structure}`] = {
    lambda: best.lambda,
    grid,
    probit: summary(la.predictProbit(te.phi, data.test.n), data.test.y),
    mc30: summary(la.predictMc(te.phi, data.test.n, 30, stream.fork(`mc-${structure}`)), data.test.y),
    seconds: (performance.now() - t2) / 1000,
  };
}
// The all-layer diagonal Laplace of the project (same seed, same MAP training settings).
const lap = await getMethod('laplace').fit({ config: cfg('laplace'), train: data.train, validation: data.validation, stream, hooks: {} });
const e = evaluatePosterior(lap.posterior, data.test, { samples: 30, stream: stream.fork('laplace-eval') });
results['allLayers-diag (inference.method laplace)'] = {
  lambda: (lap.posterior as unknown as { priorPrecision: number }).priorPrecision,
  mc30: { accuracy: e.accuracy, nll: e.nll, ece: e.ece, eceAdaptive: e.eceAdaptive },
};
console.log(JSON.stringify(results, null, 2));
writeFileSync(join('experiments', 'last-layer-laplace', 'results.json'), JSON.stringify(results, null, 2) + '\n');
