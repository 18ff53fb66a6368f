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
import { claimOn, claimsOrFail, findRun, printClaims, readRun, type Claim } from '../lib/check.js';

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
const results: Claim[] = claimsOrFail(() => {
  const th = main.threshold;
  const snr = at(main.curves, 'snr', 0.95),
    mag = at(main.curves, 'magnitude', 0.95),
    rnd = at(main.curves, 'random', 0.95);
  return [
    claimOn('log α ≥ 3 prunes ≥ 98 % of weights', { 'log α threshold point': th }, ({ 'log α threshold point': t }) => ({
      value: `${(100 * t.sparsity.weights.sparsity).toFixed(2)} %`,
      pass: t.sparsity.weights.sparsity >= 0.98,
    })),
    claimOn('with ≥ 93 % test accuracy', { 'log α threshold point': th }, ({ 'log α threshold point': t }) => ({
      value: `${(100 * t.accuracy).toFixed(2)} %`,
      pass: t.accuracy >= 0.93,
    })),
    { claim: 'in ≤ 50 epochs', value: String(main.epochs), pass: main.epochs <= 50 },
    claimOn('SNR ≫ random at 95 % (≥ 10 points)', { 'snr @ 95 %': snr, 'random @ 95 %': rnd }, (r) => ({
      value: `${(100 * r['snr @ 95 %'].accuracy).toFixed(2)} vs ${(100 * r['random @ 95 %'].accuracy).toFixed(2)}`,
      pass: r['snr @ 95 %'].accuracy - r['random @ 95 %'].accuracy >= 0.1,
    })),
    claimOn('SNR within 0.5 points of magnitude at 95 %', { 'snr @ 95 %': snr, 'magnitude @ 95 %': mag }, (r) => ({
      value: `${(100 * r['snr @ 95 %'].accuracy).toFixed(2)} vs ${(100 * r['magnitude @ 95 %'].accuracy).toFixed(2)}`,
      pass: Math.abs(r['snr @ 95 %'].accuracy - r['magnitude @ 95 %'].accuracy) <= 0.005,
    })),
  ];
});
const g = m.variants['gaussian-prior'];
if (g) {
  const gs = at(g.curves, 'snr', 0.95),
    gm = at(g.curves, 'magnitude', 0.95);
  if (gs && gm)
    console.log(`Gaussian prior at 95 %: SNR ${(100 * gs.accuracy).toFixed(2)} %, magnitude ${(100 * gm.accuracy).toFixed(2)} % (the rankings part ways)`);
}
const ok = printClaims(`quickstart (${dir}, training ${Number(main.trainSeconds).toFixed(0)} s, whole run ${manifest.durationSeconds} s)`, results);
process.exit(ok ? 0 : 1);
