/**
 * Why Bayesian model reduction's ΔF₀ ≥ 0 point loses accuracy, measured on a stored model (no retraining):
 * per layer the spread of the posterior log-variances and the fraction ΔF₀ ≥ 0 prunes, then the test accuracy
 * (posterior mean and S-sample Monte Carlo predictive) of the BMR masks ΔF₀ ≥ m for several evidence margins m,
 * with magnitude pruning at each of their sparsities. With `--fixed-point` also the BMR sparsity obtained
 * when every variance is replaced by the mean-field ELBO's fixed point for a fixed mean, 1/s² = H + 1/σ₀²
 * (H the exact diagonal GGN over the training set at the posterior mean): what converged variances would do.
 *
 *   npx tsx experiments/uncertainty/bmr-margins.ts <run dir> [model] [--fixed-point]
 *   npx tsx experiments/uncertainty/bmr-margins.ts --laplace <config.yaml> [key=value ...] [--all-lambdas] [--margins 0,0.5,1]
 *
 * model: a stored model of the run with a Gaussian posterior (default gaussian-prior). Laplace posteriors are not stored
 * with a run, so `--laplace` fits the config's main model as `bayesprune run` does (see {@link laplaceMargins}).
 * @module
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/backend.js';
import { loadConfig, validateConfig, variantConfig, type ExperimentConfig } from '../../src/experiment/config.js';
import { evaluatePosterior } from '../../src/experiment/evaluate.js';
import { loadData } from '../../src/experiment/run.js';
import { loadTrainedModel } from '../../src/export/model-store.js';
import { datasetBatches, diagonalCurvature } from '../../src/inference/curvature.js';
import { pointNetworkFor } from '../../src/inference/fit-utils.js';
import { fitMapNetwork, laplaceAround } from '../../src/inference/laplace.js';
import type { Network } from '../../src/nn/network.js';
import { deadInputWeights } from '../../src/pruning/dead-inputs.js';
import type { MaskSet } from '../../src/nn/network.js';
import { masksAtSparsity, masksAtThreshold, maskSparsity } from '../../src/pruning/masks.js';
import { RandomStream, rootStream } from '../../src/random.js';
import { bmrDeltaFPrune, bmrPriorSigma, bmrScores } from '../../src/scores/bmr.js';
import { getCriterion } from '../../src/scores/registry.js';

const args = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && all[i - 1] !== '--margins');
if (process.argv.includes('--laplace')) {
  await laplaceMargins(args[0], args.slice(1));
  process.exit(0);
}
const runDir = args[0];
const model = args[1] ?? 'gaussian-prior';
if (!runDir) {
  console.error('usage: npx tsx experiments/uncertainty/bmr-margins.ts <run dir> [model] [--fixed-point]');
  console.error('       npx tsx experiments/uncertainty/bmr-margins.ts --laplace <config.yaml> [key=value ...] [--all-lambdas] [--margins 0,0.5,1]');
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

/**
 * `--laplace <config> [key=value ...] [--all-lambdas] [--margins 0,0.5,1]`: the config's diagonal Laplace posterior of its main model (the same MAP, curvature and
 * grid as `bayesprune run`, seed and streams included; the MAP weights are cached under /tmp/bmr-laplace/ by config), then
 * for each prior precision λ of the grid: the dense MC accuracy, the evidence-optimal λ of MacKay's fixed point
 * λ = γ/‖θ*‖² (γ = Σ H/(H + λ)) for reference, and BMR's point ΔF₀ ≥ m for several margins m with magnitude at its sparsity.
 */
async function laplaceMargins(configPath: string | undefined, overrides: string[]): Promise<void> {
  if (!configPath) {
    console.error('usage: npx tsx experiments/uncertainty/bmr-margins.ts --laplace <config.yaml> [key=value ...]');
    process.exit(2);
  }
  await initBackend('wasm' as never, 'default');
  const cfg = loadConfig(configPath, overrides);
  if (cfg.inference.method !== 'laplace') throw new Error(`${configPath}: inference.method is "${cfg.inference.method}", not laplace`);
  const data = loadData(cfg);
  const evalSet = cfg.eval.split === 'validation' ? data.validation : data.test;
  const stream = rootStream(cfg.seed).fork('variant/main');
  const decay = cfg.inference.laplace.mapPrior ? cfg.inference.laplace.priorPrecisions[0]! : 0; // the MAP's training prior (0: maximum likelihood)
  const key = createHash('sha256')
    .update(JSON.stringify([cfg.seed, cfg.data, cfg.model, cfg.train, cfg.inference.temperature, decay]))
    .digest('hex')
    .slice(0, 16);
  const cache = join('/tmp/bmr-laplace', `${key}.bin`);
  let net: Network;
  const t0 = performance.now();
  if (existsSync(cache)) {
    net = pointNetworkFor(cfg, data.train, stream);
    const buf = readFileSync(cache);
    const all = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
    let o = 0;
    for (const v of net.variables()) {
      v.assign(tf.tensor(all.subarray(o, o + v.size), v.shape));
      o += v.size;
    }
    console.log(`MAP weights from ${cache}`);
  } else {
    net = (await fitMapNetwork({ config: cfg, train: data.train, validation: data.validation, stream, hooks: {} }, decay)).net;
    mkdirSync('/tmp/bmr-laplace', { recursive: true });
    const parts = net.variables().map((v) => v.dataSync() as Float32Array);
    const all = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
    let o = 0;
    for (const p of parts) {
      all.set(p, o);
      o += p.length;
    }
    writeFileSync(cache, Buffer.from(all.buffer));
    console.log(`MAP trained in ${((performance.now() - t0) / 1000).toFixed(0)} s, cached in ${cache}`);
  }
  const q = (xs: number[], p: number) => xs[Math.floor(p * (xs.length - 1))]!;
  const lc = cfg.inference.laplace;
  const { posterior, grid } = laplaceAround(net, data.train, data.validation, { ...lc, temperature: cfg.inference.temperature }, stream.fork('laplace'));
  console.log(`grid (validation NLL): ${grid.map((g) => `${g.priorPrecision}: ${g.nll.toFixed(4)}`).join(', ')}; chosen λ = ${posterior.priorPrecision}`);
  const chosen = posterior.priorPrecision;
  // H per weight from the posterior variances 1/(H/T + λ), θ* the means.
  const T = cfg.inference.temperature;
  const mom = posterior.moments();
  const H = mom.map((m) => Float32Array.from(m.variance, (v) => T * (1 / v - chosen)));
  let theta2 = 0;
  for (const m of mom) for (const mu of m.mean) theta2 += mu * mu;
  let lam = chosen;
  for (let it = 0; it < 200; it++) {
    let gamma = 0;
    for (const h of H) for (const x of h) gamma += x / T / (x / T + lam);
    lam = gamma / theta2;
  }
  const dead = deadInputWeights(posterior.network, data.train);
  console.log(
    `‖θ*‖² = ${theta2.toFixed(1)} over ${mom.reduce((a, m) => a + m.mean.length, 0)} weights; MacKay's evidence-optimal λ for this θ* and H: ${lam.toPrecision(3)}; dead-input weights: ${dead ? dead.indices.length : 0}`,
  );
  for (const m of mom) {
    const h = Array.from(H[mom.indexOf(m)]!).sort((a, b) => a - b);
    const am = Array.from(m.mean, Math.abs).sort((a, b) => a - b);
    console.log(
      `  ${m.name.padEnd(12)} H q05 / q50 / q95 ${[0.05, 0.5, 0.95].map((p) => q(h, p).toPrecision(3)).join(' / ')}; |θ*| q50 ${q(am, 0.5).toPrecision(3)}`,
    );
  }
  const S = cfg.eval.samples;
  const evaluate = (masks: MaskSet | null) => {
    posterior.setMasks(masks);
    const mc = evaluatePosterior(posterior, evalSet, { samples: S, stream: new RandomStream('bmr-margins/mc') });
    const mean = evaluatePosterior(posterior, evalSet, { samples: 0, stream: new RandomStream('bmr-margins/mean') });
    posterior.setMasks(null);
    return { mc: mc.accuracy, mean: mean.accuracy };
  };
  const mag = await getCriterion('magnitude').compute(posterior, { stream: new RandomStream('bmr-margins/magnitude') });
  const lambdas = process.argv.includes('--all-lambdas') ? lc.priorPrecisions : [chosen];
  const mi = process.argv.indexOf('--margins');
  const margins = mi > 0 ? (process.argv[mi + 1] ?? '').split(',').map(Number) : [0, 0.5, 1, 2, 3];
  if (!margins.length || margins.some((m) => !Number.isFinite(m))) {
    console.error(`--margins needs a comma-separated list of numbers, got ${process.argv[mi + 1]}`);
    process.exit(2);
  }
  for (const lambda of lambdas) {
    posterior.setPriorPrecision(lambda);
    const dense = evaluate(null);
    const la = masksAtThreshold(await getCriterion('log-alpha').compute(posterior, { stream: new RandomStream('x') }), -3);
    const laAcc = evaluate(la);
    const f = (a: { mc: number; mean: number }) =>
      `MC ${(100 * a.mc).toFixed(1)} % (${(100 * (dense.mc - a.mc)).toFixed(1)}), mean ${(100 * a.mean).toFixed(1)} %`;
    console.log(
      `\nλ = ${lambda}${lambda === chosen ? ' (grid choice)' : ''}: dense ${f(dense)}; log α ≥ 3 ${(100 * maskSparsity(la)).toFixed(1)} % at ${f(laAcc)}`,
    );
    for (const margin of margins) {
      const masks = masksAtThreshold(bmrScores(posterior, margin), 0);
      const sp = maskSparsity(masks);
      const b = evaluate(masks);
      const m = sp > 0 ? evaluate(masksAtSparsity(mag, sp, cfg.pruning.scope)) : dense;
      console.log(`  ΔF₀ ≥ ${margin}`.padEnd(14), `${(100 * sp).toFixed(1)} %`.padEnd(10), f(b).padEnd(36), `magnitude ${f(m)}`);
    }
  }
  posterior.dispose();
}
