/**
 * Why Bayesian model reduction's ΔF₀ ≥ 0 point loses accuracy, measured on a stored model (no retraining):
 * per layer the spread of the posterior log-variances and the fraction ΔF₀ ≥ 0 prunes, then the test accuracy
 * (posterior mean and S-sample Monte Carlo predictive) of the BMR masks ΔF₀ ≥ m for several evidence margins m,
 * with magnitude pruning at each of their sparsities. With `--fixed-point` also the BMR sparsity obtained
 * when every variance is replaced by the mean-field ELBO's fixed point for a fixed mean, 1/s² = H + 1/σ₀²
 * (H the exact diagonal GGN over the training set at the posterior mean): what converged variances would do.
 *
 *   npx tsx experiments/uncertainty/bmr-margins.ts <run dir> [model] [--fixed-point]
 *
 * model: a stored model of the run with a Gaussian posterior (default gaussian-prior).
 * @module
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend } from '../../src/backend.js';
import { validateConfig, variantConfig, type ExperimentConfig } from '../../src/experiment/config.js';
import { evaluatePosterior } from '../../src/experiment/evaluate.js';
import { loadData } from '../../src/experiment/run.js';
import { loadTrainedModel } from '../../src/export/model-store.js';
import { datasetBatches, diagonalCurvature } from '../../src/inference/curvature.js';
import type { MaskSet } from '../../src/nn/network.js';
import { masksAtSparsity, masksAtThreshold, maskSparsity } from '../../src/pruning/masks.js';
import { RandomStream } from '../../src/random.js';
import { bmrDeltaFPrune, bmrPriorSigma, bmrScores } from '../../src/scores/bmr.js';
import { getCriterion } from '../../src/scores/registry.js';

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const runDir = args[0];
const model = args[1] ?? 'gaussian-prior';
if (!runDir) {
  console.error('usage: npx tsx experiments/uncertainty/bmr-margins.ts <run dir> [model] [--fixed-point]');
  process.exit(2);
}
await initBackend('wasm' as never, 'default');
const base = validateConfig(JSON.parse(readFileSync(join(runDir, 'config.json'), 'utf8')) as ExperimentConfig, join(runDir, 'config.json'));
const spec = base.variants.find((v) => v.name === model);
const cfg = spec ? variantConfig(base, spec) : base;
const data = loadData(cfg);
const evalSet = cfg.eval.split === 'validation' ? data.validation : data.test;
const post = await loadTrainedModel(runDir, model, cfg);
const S = cfg.eval.samples;

const q = (xs: number[], p: number) => xs[Math.floor(p * (xs.length - 1))]!;
console.log(`${runDir} model ${model} (${post.method}), ${evalSet.n} evaluation examples, S = ${S}\n`);
console.log('layer        σ₀      log s² q05 / q50 / q95      |μ| q50   ΔF₀ ≥ 0 prunes');
for (const m of post.moments()) {
  const { sigma0, source } = bmrPriorSigma(post, m);
  const ls = Array.from(m.variance, (v) => Math.log(v)).sort((a, b) => a - b);
  const am = Array.from(m.mean, Math.abs).sort((a, b) => a - b);
  let pr = 0;
  for (let i = 0; i < m.mean.length; i++) if (m.variance[i]! > 0 && bmrDeltaFPrune(m.mean[i]!, Math.sqrt(m.variance[i]!), sigma0) >= 0) pr++;
  console.log(
    `${m.name.padEnd(12)} ${sigma0.toPrecision(3).padEnd(7)} ${[0.05, 0.5, 0.95]
      .map((p) => q(ls, p).toFixed(2))
      .join(' / ')
      .padEnd(27)} ${q(am, 0.5).toFixed(4).padEnd(9)} ${((100 * pr) / m.mean.length).toFixed(1)} % (${source})`,
  );
}

const evaluate = (masks: MaskSet | null) => {
  post.setMasks(masks);
  const mc = evaluatePosterior(post, evalSet, { samples: S, stream: new RandomStream('bmr-margins/mc') });
  const mean = evaluatePosterior(post, evalSet, { samples: 0, stream: new RandomStream('bmr-margins/mean') });
  post.setMasks(null);
  return { mc: mc.accuracy, mean: mean.accuracy };
};
const dense = evaluate(null);
const pts = (a: number) => (100 * (dense.mc - a)).toFixed(1);
console.log(`\ndense: MC ${(100 * dense.mc).toFixed(1)} %, mean ${(100 * dense.mean).toFixed(1)} %\n`);
console.log('point          sparsity   MC acc (drop)      mean acc   magnitude at that sparsity: MC acc (drop)');
const mag = await getCriterion('magnitude').compute(post, { stream: new RandomStream('bmr-margins/magnitude') });
for (const margin of [0, 1, 2, 3, 4]) {
  const masks = masksAtThreshold(bmrScores(post, margin), 0);
  const sp = maskSparsity(masks);
  const b = evaluate(masks);
  const m = evaluate(masksAtSparsity(mag, sp, cfg.pruning.scope));
  console.log(
    `ΔF₀ ≥ ${margin}`.padEnd(14),
    `${(100 * sp).toFixed(1)} %`.padEnd(10),
    `${(100 * b.mc).toFixed(1)} % (${pts(b.mc)})`.padEnd(18),
    `${(100 * b.mean).toFixed(1)} %`.padEnd(10),
    `${(100 * m.mc).toFixed(1)} % (${pts(m.mc)})`,
  );
}

if (process.argv.includes('--fixed-point')) {
  const t0 = performance.now();
  const curv = diagonalCurvature(post.network, datasetBatches(data.train, 500, data.train.n), 'ggn', { type: 'categorical' });
  console.log(`\nfixed-point variances 1/s² = H + 1/σ₀² (GGN over ${data.train.n} training examples, ${((performance.now() - t0) / 1000).toFixed(0)} s):`);
  const scores = new Map<string, Float32Array>();
  for (const m of post.moments()) {
    const c = curv.find((c) => c.layer === m.layer)!;
    const { sigma0 } = bmrPriorSigma(post, m);
    const sc = Float32Array.from(m.mean, (mu, i) => -bmrDeltaFPrune(mu, Math.sqrt(1 / (c.weight[i]! + 1 / (sigma0 * sigma0))), sigma0));
    const hs = Array.from(c.weight).sort((a, b) => a - b);
    console.log(
      `  ${m.name.padEnd(12)} H q50 ${q(hs, 0.5).toPrecision(3)}, s q50 ${Math.sqrt(1 / (q(hs, 0.5) + 1 / (sigma0 * sigma0))).toPrecision(3)}, ΔF₀ ≥ 0 prunes ${((100 * sc.filter((v) => v <= 0).length) / sc.length).toFixed(1)} %`,
    );
    scores.set(m.name, sc);
  }
  const masks = masksAtThreshold(scores, 0);
  const b = evaluate(masks);
  console.log(`  ΔF₀ ≥ 0 with these variances: sparsity ${(100 * maskSparsity(masks)).toFixed(1)} %, MC ${(100 * b.mc).toFixed(1)} % (${pts(b.mc)})`);
}
post.dispose();
