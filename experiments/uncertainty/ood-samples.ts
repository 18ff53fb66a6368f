/**
 * Is the quickstart's Fashion-MNIST AUROC limited by Monte Carlo noise? Reloads the stored models of a quickstart
 * run and recomputes the dense models' OOD AUROCs (entropy, MI, 1 − max p) against Fashion-MNIST and uniform
 * noise with S = 10, 50 and 200 posterior samples (each S from 3 independent streams), plus the posterior-mean
 * network (no sampling), on the run's own sets (the first `eval.ood.examples` test digits vs as many shifted /
 * foreign images, built as the run builds them; the uniform-noise draws differ) and on all test digits vs all 10,000 Fashion-MNIST test
 * images. AUROC by the rank sum with mid-ranks, written here (independent of src/metrics/ood.ts).
 *
 *   npx tsx experiments/uncertainty/ood-samples.ts [run dir] [--samples 10,50,200] [--streams 3] [--full-samples 50]
 *
 * Default run: the newest complete quickstart run. Prints a table and one JSON line.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend } from '../../src/backend.js';
import type { Dataset } from '../../src/data/dataset.js';
import { loadFashionMnist } from '../../src/data/fashion-mnist.js';
import { validateConfig, variantConfig, type ExperimentConfig } from '../../src/experiment/config.js';
import { predictSamples } from '../../src/experiment/evaluate.js';
import { buildShiftSets } from '../../src/experiment/ood-eval.js';
import { loadData } from '../../src/experiment/run.js';
import { loadTrainedModel } from '../../src/export/model-store.js';
import { RandomStream } from '../../src/random.js';
import { findRun } from '../lib/check.js';

function flag(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
}
const positional = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && !(i > 0 && all[i - 1]!.startsWith('--')));
const runDir = findRun('quickstart', positional[0]);
if (!runDir) {
  console.error('no quickstart run found (npx tsx src/cli.ts run configs/quickstart.yaml)');
  process.exit(2);
}
const SAMPLES = flag('samples', '10,50,200').split(',').map(Number);
const STREAMS = Number(flag('streams', '3'));
const FULL_S = Number(flag('full-samples', '50'));

/** P(out > in) + ½ P(out = in) by the rank sum with mid-ranks; float64. */
function auroc(inS: ArrayLike<number>, outS: ArrayLike<number>): number {
  const all = [...Array.from(inS, (v) => ({ v, out: false })), ...Array.from(outS, (v) => ({ v, out: true }))].sort((a, b) => a.v - b.v);
  let r = 0;
  for (let i = 0; i < all.length;) {
    let j = i;
    while (j < all.length && all[j]!.v === all[i]!.v) j++;
    for (let t = i; t < j; t++) if (all[t]!.out) r += (i + 1 + j) / 2;
    i = j;
  }
  const m = outS.length;
  return (r - (m * (m + 1)) / 2) / (m * inS.length);
}

/** Entropy of the mean, MI and 1 − max of the mean from S sampled n×k tables; float64. */
function scores(samples: Float32Array[], k: number): { entropy: Float64Array; mi: Float64Array; maxprob: Float64Array } {
  const n = samples[0]!.length / k;
  const S = samples.length;
  const entropy = new Float64Array(n);
  const mi = new Float64Array(n);
  const maxprob = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let h = 0;
    let eh = 0;
    let mx = 0;
    for (let c = 0; c < k; c++) {
      let p = 0;
      for (const s of samples) {
        const q = s[i * k + c]!;
        p += q;
        if (q > 0) eh -= (q * Math.log(q)) / S;
      }
      p /= S;
      if (p > 0) h -= p * Math.log(p);
      mx = Math.max(mx, p);
    }
    entropy[i] = h;
    mi[i] = Math.max(0, h - eh);
    maxprob[i] = 1 - mx;
  }
  return { entropy, mi, maxprob };
}

await initBackend('wasm' as never, 'default');
const base = validateConfig(JSON.parse(readFileSync(join(runDir, 'config.json'), 'utf8')) as ExperimentConfig, join(runDir, 'config.json'));
const data = loadData(base);
const evalSet = base.eval.split === 'validation' ? data.validation : data.test;
const { sets } = buildShiftSets(evalSet, base.eval.ood, new RandomStream(base.seed).fork('ood-sets'), base.data.name);
const m = Math.min(base.eval.ood.examples, evalSet.n);
const head = (ds: Dataset, n: number): Dataset => ({ ...ds, x: ds.x.subarray(0, n * 784), y: ds.y.subarray(0, n), n });
const inSet = head(evalSet, m);
const wanted = sets.filter((s) => s.name === 'fashion-mnist' || s.name === 'uniform-noise');
const fashionAll = loadFashionMnist(undefined, { flat: true }).test;
const fashionFull: Dataset = { ...fashionAll, shape: [...evalSet.shape], numClasses: evalSet.numClasses };
const k = evalSet.numClasses;
console.log(`run ${runDir}; in-distribution: first ${m} test digits; sets ${wanted.map((s) => `${s.name} (${s.data.n})`).join(', ')}`);

const out: Record<string, unknown> = { run: runDir };
const fmt = (r: Record<string, number>) =>
  Object.entries(r)
    .map(([s, v]) => `${s} ${v.toFixed(4)}`)
    .join(', ');
for (const v of ['main', 'gaussian-prior'].filter((v) => base.variants.some((x) => x.name === v) || v === 'main')) {
  const spec = base.variants.find((x) => x.name === v);
  const cfg = spec ? variantConfig(base, spec) : base;
  const post = await loadTrainedModel(runDir, v, cfg);
  post.setMasks(null);
  const res: Record<string, unknown> = {};
  const pairAuroc = (inP: Float32Array[], outP: Float32Array[]) => {
    const a = scores(inP, k);
    const b = scores(outP, k);
    return { entropy: auroc(a.entropy, b.entropy), mi: auroc(a.mi, b.mi), maxprob: auroc(a.maxprob, b.maxprob) };
  };
  // Posterior-mean network (samples: 0 → one deterministic table).
  for (const set of wanted) {
    const st = new RandomStream('ood-samples/mean');
    const r = pairAuroc(predictSamples(post, inSet, { samples: 0, stream: st }), predictSamples(post, set.data, { samples: 0, stream: st }));
    delete (r as Partial<typeof r>).mi;
    res[`${set.name}/mean`] = r;
    console.log(`${v.padEnd(15)} ${set.name.padEnd(14)} mean network        ${fmt(r)}`);
  }
  for (const S of SAMPLES) {
    for (const set of wanted) {
      const rs: Record<string, number>[] = [];
      for (let t = 0; t < STREAMS; t++) {
        // Same draws for both sides (as the run: a fresh copy of one stream per set).
        const inP = predictSamples(post, inSet, { samples: S, stream: new RandomStream(`ood-samples/${t}`) });
        const outP = predictSamples(post, set.data, { samples: S, stream: new RandomStream(`ood-samples/${t}`) });
        rs.push(pairAuroc(inP, outP));
      }
      res[`${set.name}/S${S}`] = rs;
      const mean = Object.fromEntries(Object.keys(rs[0]!).map((s) => [s, rs.reduce((a, r) => a + r[s]!, 0) / rs.length]));
      const spread = Object.fromEntries(Object.keys(rs[0]!).map((s) => [s, Math.max(...rs.map((r) => r[s]!)) - Math.min(...rs.map((r) => r[s]!))]));
      console.log(`${v.padEnd(15)} ${set.name.padEnd(14)} S=${String(S).padEnd(4)} mean of ${STREAMS}  ${fmt(mean)}   (range ${fmt(spread)})`);
    }
  }
  // All test digits vs all Fashion-MNIST test images.
  const inP = predictSamples(post, evalSet, { samples: FULL_S, stream: new RandomStream('ood-samples/full') });
  const outP = predictSamples(post, fashionFull, { samples: FULL_S, stream: new RandomStream('ood-samples/full') });
  const r = pairAuroc(inP, outP);
  res[`fashion-full/S${FULL_S}`] = r;
  console.log(`${v.padEnd(15)} fashion full   ${evalSet.n} vs ${fashionFull.n}, S=${FULL_S}  ${fmt(r)}`);
  out[v] = res;
}
console.log(JSON.stringify(out));
