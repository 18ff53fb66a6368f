/**
 * Checks the newest `bayesprune sweep configs/swag.yaml` (3 seeds) against the SWAG claim
 * (Maddox et al. 2019): the SWAG predictive has lower NLL than the SGD solution it starts
 * from, at no lower accuracy. Prints the dense-model table (mean ± std over seeds) of SGD,
 * SWA, SWAG-diagonal and SWAG.
 *
 *   npx tsx experiments/swag-lenet300/check.ts [results/swag/sweep-<id>]
 *
 * Exit code 1 if a claim fails.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pct, printClaims, type Claim } from '../lib/check.js';

const root = 'results/swag';
const dir =
  process.argv[2] ??
  (existsSync(root)
    ? readdirSync(root)
        .filter((d) => d.startsWith('sweep-'))
        .sort()
        .map((d) => join(root, d))
        .filter((d) => existsSync(join(d, 'summary.csv')))
        .at(-1)
    : undefined);
if (!dir || !existsSync(join(dir, 'summary.csv'))) {
  console.error('no finished SWAG sweep found; run `npx tsx src/cli.ts sweep configs/swag.yaml` first');
  process.exit(1);
}
const [head, ...lines] = readFileSync(join(dir, 'summary.csv'), 'utf8').trim().split(/\r?\n/);
const cols = head!.split(',');
const rows = lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [cols[i]!, v])));
const dense = (variant: string) =>
  rows.find((r) => r.variant === variant && r.structure === 'weights' && Number(r.targetSparsity) === 0 && r.predictive === 'mc');
const names: Record<string, string> = { sgd: 'SGD', swa: 'SWA', 'swag-diag': 'SWAG-diagonal', main: 'SWAG' };
console.log(`${dir}\nmodel          n  accuracy            NLL                 ECE`);
for (const [v, label] of Object.entries(names)) {
  const r = dense(v);
  if (!r) continue;
  const f = (c: string, d = 4) => `${Number(r[`${c}_mean`]).toFixed(d)} ± ${Number(r[`${c}_std`]).toFixed(d)}`;
  console.log(`${label.padEnd(14)} ${r.n}  ${f('accuracy')}   ${f('nll')}   ${f('ece')}`);
}
const swag = dense('main'),
  sgd = dense('sgd');
if (!swag || !sgd) {
  console.error('the sweep has no SWAG (main) or SGD (sgd) model; is `inference.swag.companions` set?');
  process.exit(1);
}
const m = (r: Record<string, string>, c: string) => Number(r[`${c}_mean`]);
const claims: Claim[] = [
  { claim: 'three seeds', value: `${swag.n} and ${sgd.n}`, pass: Number(swag.n) >= 3 && Number(sgd.n) >= 3 },
  { claim: 'SWAG NLL < SGD NLL (mean over seeds)', value: `${m(swag, 'nll').toFixed(4)} vs ${m(sgd, 'nll').toFixed(4)}`, pass: m(swag, 'nll') < m(sgd, 'nll') },
  {
    claim: 'at no lower accuracy (mean over seeds)',
    value: `${pct(m(swag, 'accuracy'))} vs ${pct(m(sgd, 'accuracy'))}`,
    pass: m(swag, 'accuracy') >= m(sgd, 'accuracy'),
  },
];
process.exit(printClaims('SWAG vs the SGD solution it starts from', claims) ? 0 : 1);
