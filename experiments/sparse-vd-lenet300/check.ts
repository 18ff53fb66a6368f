/**
 * Checks a quickstart run against the claims it reproduces (Molchanov et al. 2017,
 * on the 8,000-image embedded split):
 *   1. at log α ≥ 3: ≥ 98 % of the weights pruned with ≥ 93 % test accuracy, in ≤ 50 epochs;
 *   2. at 95 % sparsity SNR pruning beats random pruning clearly (≥ 10 points) and stays
 *      within 0.5 points of magnitude pruning after sparse-VD training;
 *   3. for the Gaussian-prior network, SNR and magnitude rankings differ (reported).
 *
 *   npx tsx experiments/sparse-vd-lenet300/check.ts [results/quickstart/<run-id>]
 * Without an argument the newest complete run is checked. Exit code 1 if a claim fails.
 */
import { findRun, printClaims, readRun, type Claim } from '../lib/check.js';

const dir = findRun('quickstart', process.argv[2]);
if (!dir) {
  console.error(`no complete quickstart run found${process.argv[2] ? ` at ${process.argv[2]}` : ''}; run \`npm run quickstart\` first`);
  process.exit(1);
}
interface Row {
  criterion: string;
  targetSparsity: number | null;
  sparsity: number;
  accuracy: number;
  ece: number;
  predictive: string;
}
const { metrics: m, manifest } = readRun(dir);
const main = m.variants.main;
const at = (rows: Row[], c: string, s: number) => rows.find((r) => r.criterion === c && r.targetSparsity === s && r.predictive === 'mc');
const results: Claim[] = [];

const th = main.threshold;
results.push({
  claim: 'log α ≥ 3 prunes ≥ 98 % of weights',
  value: `${(100 * th.sparsity.weights.sparsity).toFixed(2)} %`,
  pass: th.sparsity.weights.sparsity >= 0.98,
});
results.push({ claim: 'with ≥ 93 % test accuracy', value: `${(100 * th.accuracy).toFixed(2)} %`, pass: th.accuracy >= 0.93 });
results.push({ claim: 'in ≤ 50 epochs', value: String(main.epochs), pass: main.epochs <= 50 });
const snr = at(main.curves, 'snr', 0.95),
  mag = at(main.curves, 'magnitude', 0.95),
  rnd = at(main.curves, 'random', 0.95);
if (snr && mag && rnd) {
  results.push({
    claim: 'SNR ≫ random at 95 % (≥ 10 points)',
    value: `${(100 * snr.accuracy).toFixed(2)} vs ${(100 * rnd.accuracy).toFixed(2)}`,
    pass: snr.accuracy - rnd.accuracy >= 0.1,
  });
  results.push({
    claim: 'SNR within 0.5 points of magnitude at 95 %',
    value: `${(100 * snr.accuracy).toFixed(2)} vs ${(100 * mag.accuracy).toFixed(2)}`,
    pass: Math.abs(snr.accuracy - mag.accuracy) <= 0.005,
  });
}
const g = m.variants['gaussian-prior'];
if (g) {
  const gs = at(g.curves, 'snr', 0.95),
    gm = at(g.curves, 'magnitude', 0.95);
  if (gs && gm)
    console.log(`Gaussian prior at 95 %: SNR ${(100 * gs.accuracy).toFixed(2)} %, magnitude ${(100 * gm.accuracy).toFixed(2)} % (the rankings part ways)`);
}
const ok = printClaims(`quickstart (${dir}, training ${main.trainSeconds.toFixed(0)} s, whole run ${manifest.durationSeconds} s)`, results);
process.exit(ok ? 0 : 1);
