/**
 * Measures what each candidate fix of SVGD's collapsed particle spread (issue 13, item 6) does,
 * on the network and data of configs/compare-posteriors.yaml: per candidate, the particles'
 * per-weight variance and SNR = |mean|/std on the live weights (every weight but the first-layer
 * weights fed by inputs that are 0 in all training digits), per layer and overall, and the
 * accuracy of SNR pruning (and magnitude, on the same particles) at 90 % and 95 % sparsity with
 * `pruning.deadInputs: prune-first` as in the config. `vi` and `laplace` measure the reference
 * posteriors on the same network the same way.
 *
 *   npx tsx experiments/compare-posteriors/svgd-candidates.ts [--out FILE] NAME[:key=value,...] ...
 *
 * NAME is `vi`, `laplace` or any label for an SVGD run; `key=value` pairs are config overrides
 * applied after the config's own variant (`svgd` for SVGD labels), e.g.
 *   full   weight:inference.svgd.kernel=weight   layer:inference.svgd.kernel=layer
 *   rep100:inference.svgd.repulsion=100   anneal:inference.svgd.anneal=0.5
 * Global overrides for every candidate: --set key=value (e.g. --set data.trainLimit=2000).
 * One JSON line per candidate is appended to FILE (default results/svgd-candidates.jsonl).
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/backend.js';
import { loadConfig, parseOverrides, variantConfig, type ExperimentConfig } from '../../src/experiment/config.js';
import { curveOptionsFrom, pruningCurves } from '../../src/experiment/curves.js';
import { loadData } from '../../src/experiment/run.js';
import { getMethod } from '../../src/inference/methods.js';
import { deadInputWeights } from '../../src/pruning/dead-inputs.js';
import { rootStream } from '../../src/random.js';

const args = process.argv.slice(2);
let out = 'results/svgd-candidates.jsonl';
const globalSets: string[] = [];
const names: string[] = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--out') out = args[++i]!;
  else if (args[i] === '--set') globalSets.push(args[++i]!);
  else names.push(args[i]!);
}
if (!names.length) {
  console.error('usage: svgd-candidates.ts [--out FILE] [--set key=value]... NAME[:key=value,...]...');
  process.exit(1);
}

const median = (a: Float64Array | number[]): number => {
  const v = Float64Array.from(a).sort();
  if (!v.length) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
};

await initBackend('auto', 'flag');
for (const spec of names) {
  const [label, rest] = spec.split(/:(.*)/s) as [string, string | undefined];
  const sets = [...globalSets, ...(rest ? rest.split(',') : [])];
  const base = loadConfig('configs/compare-posteriors.yaml', parseOverrides(globalSets));
  const variant = label === 'vi' ? null : label === 'laplace' ? 'laplace' : 'svgd';
  let cfg: ExperimentConfig = variant
    ? variantConfig(
        base,
        base.variants.find((v) => v.name === variant)!,
      )
    : base;
  // candidate overrides on top of the variant
  cfg = loadConfigFrom(cfg, sets);
  const data = loadData(cfg);
  const stream = rootStream(cfg.seed).fork(`variant/${variant ?? 'main'}`);
  const t0 = performance.now();
  const fit = await getMethod(cfg.inference.method).fit({
    config: cfg,
    train: data.train,
    validation: data.validation,
    stream,
    hooks: {
      validation: data.validation,
      onEpoch: (s) => console.error(`[${label}] epoch ${s.epoch + 1}: loss ${s.loss.toFixed(4)} val ${(100 * (s.validationAccuracy ?? NaN)).toFixed(2)} %`),
    },
  });
  const trainSeconds = (performance.now() - t0) / 1000;
  const post = fit.posterior;
  const dead = deadInputWeights(post.network, data.train);
  const deadSet = new Set(dead?.indices ?? []);
  const layers: Record<string, { medianSnr: number; medianVar: number; medianAbsMean: number; weights: number }> = {};
  const snrAll: number[] = [];
  const varAll: number[] = [];
  for (const m of post.moments()) {
    const snr: number[] = [];
    const vs: number[] = [];
    const am: number[] = [];
    for (let i = 0; i < m.mean.length; i++) {
      if (m.name === dead?.name && deadSet.has(i)) continue;
      snr.push(Math.abs(m.mean[i]!) / Math.sqrt(m.variance[i]!));
      vs.push(m.variance[i]!);
      am.push(Math.abs(m.mean[i]!));
    }
    layers[m.layer] = { medianSnr: median(snr), medianVar: median(vs), medianAbsMean: median(am), weights: snr.length };
    for (const x of snr) snrAll.push(x);
    for (const x of vs) varAll.push(x);
  }
  const curves = await pruningCurves(post, {
    variant: label,
    ...curveOptionsFrom(cfg),
    criteria: ['snr', 'magnitude'],
    sparsities: [0, 0.9, 0.95],
    logAlphaThreshold: null,
    nm: [],
    units: undefined,
    stream: stream.fork('curves'),
    data: data.test,
    scoreData: data.train,
  });
  const acc = (c: string, s: number) => {
    const rs = curves.rows.filter((r) => r.criterion === c && Math.abs((r.targetSparsity ?? -1) - s) < 1e-9);
    return (rs.find((r) => r.predictive !== 'mean') ?? rs[0])?.accuracy ?? NaN;
  };
  const rec = {
    label,
    overrides: sets,
    date: new Date().toISOString(),
    load: (await import('node:os')).loadavg()[0],
    trainSeconds,
    medianSnrLive: median(snrAll),
    medianVarLive: median(varAll),
    layers,
    accuracy: { dense: acc('snr', 0), snr90: acc('snr', 0.9), snr95: acc('snr', 0.95), mag90: acc('magnitude', 0.9), mag95: acc('magnitude', 0.95) },
  };
  console.log(JSON.stringify(rec));
  mkdirSync(dirname(out), { recursive: true });
  appendFileSync(out, `${JSON.stringify(rec)}\n`);
  post.dispose();
  tf.disposeVariables();
}

function loadConfigFrom(cfg: ExperimentConfig, sets: string[]): ExperimentConfig {
  if (!sets.length) return cfg;
  const o: Record<string, unknown> = {};
  for (const [k, v] of parseOverrides(sets)) o[k] = v;
  return variantConfig(cfg, { name: 'candidate', set: o });
}
