/**
 * Checks the newest `bayesprune run configs/compare-posteriors.yaml` against issue 4's
 * comparison: one report shows, on the same axes, accuracy and ECE against sparsity for
 * SNR from VI, SWAG, SVGD and Laplace, beside Fisher, magnitude and random. Prints the
 * accuracy / ECE table at the sparsities people quote (90, 95, 98 %). Issue 13's claim on
 * SVGD: SNR from SVGD at 90 % sparsity within 3 points of SNR from VI, and clearly above random
 * (≥ 20 points) at 95 %.
 *
 *   npx tsx experiments/compare-posteriors/check.ts [results/compare-posteriors/<run>]
 *
 * A run of the lighter configs/compare-posteriors-svgd.yaml (VI and SVGD only) is checked the
 * same way for the families it has; the families it leaves out are reported as not in the run.
 *
 * Exit code 1 if a claim fails.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { claimOn, findRun, pct, printClaims, readRun, type Claim } from '../lib/check.js';

interface Row {
  variant: string;
  criterion: string;
  targetSparsity: number;
  structure?: string;
  predictive: string;
  accuracy: number;
  ece: number;
  nll: number;
}

const dir = findRun('compare-posteriors', process.argv[2]);
if (!dir) {
  console.error('no finished compare-posteriors run found; run `npx tsx src/cli.ts run configs/compare-posteriors.yaml` first');
  process.exit(1);
}
const { metrics } = readRun(dir);
const allFamilies: Record<string, string> = { main: 'VI', swag: 'SWAG', svgd: 'SVGD', laplace: 'Laplace' };
// The full comparison needs every family; a lighter run (another experiment name) the ones it has.
const full = metrics.experiment === 'compare-posteriors';
const families = Object.fromEntries(Object.entries(allFamilies).filter(([v]) => full || v in metrics.variants));
if (!full)
  console.log(
    `${metrics.experiment}: checking ${Object.values(families).join(', ')}; not in this run: ${Object.entries(allFamilies)
      .filter(([v]) => !(v in families))
      .map(([, l]) => l)
      .join(', ')}`,
  );
const rows: Row[] = Object.values(metrics.variants as Record<string, { curves: Row[] }>).flatMap((v) => v.curves);
// The predictive each family is compared by: Monte Carlo / particle average where it has one.
const pick = (variant: string, criterion: string, s: number) => {
  const rs = rows.filter(
    (r) => r.variant === variant && r.criterion === criterion && (r.structure ?? 'weights') === 'weights' && Math.abs(r.targetSparsity - s) < 1e-9,
  );
  return rs.find((r) => r.predictive !== 'mean') ?? rs[0];
};
const targets = [...new Set(rows.map((r) => r.targetSparsity).filter((s) => typeof s === 'number'))].sort((a, b) => a - b);

console.log(`${dir}\n\nfamily   criterion   ${[0.9, 0.95, 0.98].map((s) => `acc @${s * 100}%  ECE @${s * 100}%`.padEnd(24)).join('')}`);
for (const [v, label] of Object.entries(families)) {
  for (const c of ['snr', 'fisher', 'magnitude', 'random']) {
    if (!pick(v, c, 0.9)) continue;
    const cells = [0.9, 0.95, 0.98].map((s) => {
      const r = pick(v, c, s);
      return (r ? `${(100 * r.accuracy).toFixed(1).padStart(5)} %   ${r.ece.toFixed(3)}` : '—').padEnd(24);
    });
    console.log(`${label.padEnd(8)} ${c.padEnd(11)} ${cells.join('')}`);
  }
}

const claims: Claim[] = [];
const pruningCriteria = (c: string) => rows.some((r) => r.criterion === c);
for (const [v, label] of Object.entries(families)) {
  const missing = targets.filter((s) => !pick(v, 'snr', s));
  claims.push({
    claim: `SNR curve from ${label} at every target sparsity`,
    value: missing.length ? `missing ${missing.join(', ')}` : `${targets.length} points`,
    pass: v in metrics.variants && missing.length === 0,
  });
  claims.push(
    claimOn(
      `${label}: SNR beats random at 90 % sparsity`,
      { [`${v} snr @ 90 %`]: pick(v, 'snr', 0.9), [`${v} random @ 90 %`]: pick(v, 'random', 0.9) },
      (r) => {
        const [snr, rnd] = Object.values(r) as [Row, Row];
        return { value: `${pct(snr.accuracy)} vs ${pct(rnd.accuracy)}`, pass: snr.accuracy > rnd.accuracy };
      },
    ),
  );
}
// The table's quoted points: SNR of every family at 90 / 95 / 98 % must exist.
const QUOTED = [0.9, 0.95, 0.98];
for (const [v, label] of Object.entries(families))
  claims.push(
    claimOn(
      `${label} SNR at the quoted sparsities 90, 95, 98 %`,
      Object.fromEntries(QUOTED.map((s) => [`${v} snr @ ${s * 100} %`, pick(v, 'snr', s)])),
      (r) => ({
        value: Object.values(r)
          .map((x) => pct((x as Row).accuracy))
          .join(', '),
        pass: true,
      }),
    ),
  );
// Issue 13, item 6: an SVGD posterior that prunes.
claims.push(
  claimOn(
    'SVGD: SNR at 90 % sparsity within 3 points of SNR from VI',
    { 'svgd snr @ 90 %': pick('svgd', 'snr', 0.9), 'main snr @ 90 %': pick('main', 'snr', 0.9) },
    (r) => {
      const [svgd, vi] = Object.values(r) as [Row, Row];
      return {
        value: `${pct(svgd.accuracy)} vs ${pct(vi.accuracy)} (${(100 * (svgd.accuracy - vi.accuracy)).toFixed(1)} points)`,
        pass: svgd.accuracy >= vi.accuracy - 0.03,
      };
    },
  ),
);
claims.push(
  claimOn(
    'SVGD: SNR at 95 % sparsity clearly above random (≥ 20 points)',
    { 'svgd snr @ 95 %': pick('svgd', 'snr', 0.95), 'svgd random @ 95 %': pick('svgd', 'random', 0.95) },
    (r) => {
      const [snr, rnd] = Object.values(r) as [Row, Row];
      return { value: `${pct(snr.accuracy)} vs ${pct(rnd.accuracy)}`, pass: snr.accuracy >= rnd.accuracy + 0.2 };
    },
  ),
);
for (const c of ['fisher', 'magnitude', 'random']) {
  const have = Object.keys(families).filter((v) => pick(v, c, 0.9));
  if (!full && !pruningCriteria(c)) continue; // a lighter run may leave a baseline out
  claims.push({ claim: `${c} curves present`, value: have.map((v) => families[v]).join(', ') || 'none', pass: have.length > 0 });
  for (const v of have)
    claims.push(
      claimOn(`${families[v]} ${c} at the quoted sparsities`, Object.fromEntries(QUOTED.map((s) => [`${v} ${c} @ ${s * 100} %`, pick(v, c, s)])), () => ({
        value: `${QUOTED.length} points`,
        pass: true,
      })),
    );
}
for (const plot of ['accuracy_vs_sparsity.svg', 'ece_vs_sparsity.svg']) {
  const path = join(dir, plot);
  const labels = existsSync(path) ? [...readFileSync(path, 'utf8').matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]!) : [];
  const series = Object.keys(families).flatMap((v) => ['snr', 'fisher', 'magnitude', 'random'].filter((c) => pick(v, c, 0.9)).map((c) => `${v}: ${c}`));
  const absent = series.filter((s) => !labels.includes(s));
  claims.push({
    claim: `${plot} shows every family and criterion on one set of axes`,
    value: absent.length ? `missing ${absent.join(', ')}` : `${series.length} series`,
    pass: labels.length > 0 && absent.length === 0,
  });
}
process.exit(printClaims('Posterior families and baselines on the same axes', claims) ? 0 : 1);
