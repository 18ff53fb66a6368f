/**
 * Does standardizing the input pixels, x → (x − 0.1307) / 0.3081 (the torchvision MNIST recipe), lift the quickstart's
 * dense sparse-VD model's Fashion-MNIST AUROC, and what does it cost the quickstart's pruning claim? Trains the
 * quickstart's `main` model (configs/quickstart.yaml, same seed and stream as `npm run quickstart`) on the embedded
 * split with unit pixels ([0, 1], as today) or standardized pixels, then reports, with the OOD sets transformed the
 * same way as the digits (shifts built on [0, 1] pixels first, then standardized):
 *   - dense MC test accuracy (S = 10) and the posterior-mean network's;
 *   - AUROC (entropy, MI, 1 − max p) of the first 500 test digits vs the first 500 Fashion-MNIST test images and
 *     500 uniform-noise images, S = 10 (the run's eval.samples) and S = 50;
 *   - the log α ≥ 3 operating point: weight sparsity and MC accuracy (S = 10).
 *
 *   npx tsx experiments/uncertainty/ood-standardize.ts --input unit|standard [override ...]   (e.g. train.epochs=20)
 *
 * Prints a summary and one JSON line. A measurement script: the config has no input-standardization key.
 */
import { initBackend } from '../../src/backend.js';
import type { Dataset } from '../../src/data/dataset.js';
import { loadConfig } from '../../src/experiment/config.js';
import { predictSamples } from '../../src/experiment/evaluate.js';
import { buildShiftSets } from '../../src/experiment/ood-eval.js';
import { loadData } from '../../src/experiment/run.js';
import { getMethod } from '../../src/inference/methods.js';
import { oodMetrics, oodScores } from '../../src/metrics/ood.js';
import { masksAtThreshold } from '../../src/pruning/masks.js';
import { rootStream, RandomStream } from '../../src/random.js';
import { getCriterion } from '../../src/scores/registry.js';

const args = process.argv.slice(2);
const ii = args.indexOf('--input');
const input = ii >= 0 ? args[ii + 1] : undefined;
if (input !== 'unit' && input !== 'standard') {
  console.error('--input must be unit or standard');
  process.exit(2);
}
const overrides = args.filter((a, i) => !a.startsWith('--') && !(i > 0 && args[i - 1] === '--input'));
const MU = 0.1307;
const SD = 0.3081;
const tx = (ds: Dataset): Dataset => (input === 'standard' ? { ...ds, x: Float32Array.from(ds.x, (v) => (v - MU) / SD) } : ds);

await initBackend('wasm' as never, 'default');
const cfg = loadConfig('configs/quickstart.yaml', overrides);
const raw = loadData(cfg);
const test = raw.test;
const m = Math.min(cfg.eval.ood.examples, test.n);
const { sets } = buildShiftSets(
  test,
  { ...cfg.eval.ood, shifts: ['uniform-noise', 'fashion-mnist'] },
  rootStream(cfg.seed).fork('ood-standardize/sets'),
  cfg.data.name,
);
const t0 = performance.now();
const fit = await getMethod(cfg.inference.method).fit({
  config: cfg,
  train: tx(raw.train),
  validation: tx(raw.validation),
  stream: rootStream(cfg.seed).fork('variant/main'),
  hooks: {},
});
const trainSeconds = (performance.now() - t0) / 1000;
const post = fit.posterior;
const k = test.numClasses;
const testT = tx(test);
const inSet: Dataset = { ...testT, x: testT.x.subarray(0, m * 784), y: testT.y.subarray(0, m), n: m };

const accuracyOf = (p: Float32Array[], ds: Dataset) => {
  let c = 0;
  for (let i = 0; i < ds.n; i++) {
    let best = 0;
    let bestP = -1;
    for (let j = 0; j < k; j++) {
      let s = 0;
      for (const t of p) s += t[i * k + j]!;
      if (s > bestP) {
        bestP = s;
        best = j;
      }
    }
    if (best === ds.y[i]) c++;
  }
  return c / ds.n;
};

const out: Record<string, unknown> = { input, overrides, trainSeconds: Math.round(trainSeconds) };
post.setMasks(null);
out.denseMcAccuracy = accuracyOf(predictSamples(post, testT, { samples: 10, stream: new RandomStream('ood-standardize/acc') }), testT);
out.denseMeanAccuracy = accuracyOf(predictSamples(post, testT, { samples: 0, stream: new RandomStream('ood-standardize/acc') }), testT);
for (const S of [10, 50]) {
  const inS = oodScores(predictSamples(post, inSet, { samples: S, stream: new RandomStream('ood-standardize/mc') }), k);
  for (const set of sets) {
    const outS = oodScores(predictSamples(post, tx(set.data), { samples: S, stream: new RandomStream('ood-standardize/mc') }), k);
    out[`${set.name}/S${S}`] = {
      entropy: oodMetrics(inS.entropy, outS.entropy).auroc,
      mi: oodMetrics(inS.mutualInformation, outS.mutualInformation).auroc,
      maxprob: oodMetrics(inS.oneMinusMaxProb, outS.oneMinusMaxProb).auroc,
    };
  }
}
const scores = await getCriterion('log-alpha').compute(post, { stream: new RandomStream('ood-standardize/scores') });
const masks = masksAtThreshold(scores, -(cfg.pruning.logAlphaThreshold ?? 3));
let kept = 0;
let total = 0;
for (const mk of masks.values()) {
  total += mk.length;
  for (const v of mk) kept += v;
}
post.setMasks(masks);
out.logAlpha3 = {
  sparsity: 1 - kept / total,
  mcAccuracy: accuracyOf(predictSamples(post, testT, { samples: 10, stream: new RandomStream('ood-standardize/acc') }), testT),
};
post.setMasks(null);
console.log(JSON.stringify(out));
