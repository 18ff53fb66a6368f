/**
 * The noisy-label table of configs/js-vs-kl-noisy.yaml (issue 11 item 5): the geometric JS
 * objective against the KL ELBO, from a collected sweep's runs.csv (one row per run and
 * operating point). For every `inference.divergence` value: test accuracy, ECE (15 bins) and
 * NLL of the dense network's Monte Carlo predictive, mean ± sample std (n − 1) over the seeds;
 * then each JS setting minus KL paired by seed, with the 95 % Student-t interval of the mean
 * difference, and a verdict per metric: a side wins only where the interval excludes 0.
 *
 *   npx tsx src/cli.ts sweep configs/js-vs-kl-noisy.yaml --jobs 1
 *   npx tsx experiments/js-vs-kl-noisy/table.ts [sweep directory]   (default: the newest under results/js-vs-kl-noisy)
 *
 * Prints Markdown (the table in the config's header comes from here). Exit code 1 when the
 * sweep lacks the KL rows or a JS setting.
 * @module
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCsv } from '../../src/report/html/csv.js';

const arg = process.argv[2];
const root = join('results', 'js-vs-kl-noisy');
const dir =
  arg ??
  (existsSync(root)
    ? readdirSync(root)
        .filter((d) => d.startsWith('sweep-'))
        .sort()
        .map((d) => join(root, d))
        .at(-1)
    : undefined);
if (!dir || !existsSync(join(dir, 'runs.csv'))) {
  console.error(
    `no collected sweep (runs.csv) ${arg ? `in ${arg}` : `under ${root}`}; run \`npx tsx src/cli.ts sweep configs/js-vs-kl-noisy.yaml --jobs 1\` first`,
  );
  process.exit(1);
}

type Rec = Record<string, string | number | null>;
const rows = parseCsv(readFileSync(join(dir, 'runs.csv'), 'utf8')) as Rec[];
// The dense network (target sparsity 0 of the post-hoc curve, weights), Monte Carlo predictive.
const dense = rows.filter(
  (r) => r.predictive === 'mc' && r.targetSparsity === 0 && (r.structure ?? 'weights') === 'weights' && (r.protocol ?? 'post-hoc') === 'post-hoc',
);
const metrics = ['accuracy', 'ece', 'nll'] as const;
const byDiv = new Map<string, Map<number, Rec>>();
for (const r of dense) {
  const key = String(r['inference.divergence']);
  if (!byDiv.has(key)) byDiv.set(key, new Map());
  byDiv.get(key)!.set(Number(r.seed), r);
}
const label = (key: string) => {
  const d = JSON.parse(key) as { type: string; alpha?: number };
  return d.type === 'kl' ? 'KL (ELBO)' : `JS-G, α = ${d.alpha}`;
};
const klKey = [...byDiv.keys()].find((k) => JSON.parse(k).type === 'kl');
const jsKeys = [...byDiv.keys()].filter((k) => JSON.parse(k).type === 'js-geometric').sort((a, b) => JSON.parse(a).alpha - JSON.parse(b).alpha);
if (!klKey || !jsKeys.length) {
  console.error(`${dir}: the sweep needs the KL rows and at least one js-geometric setting (found: ${[...byDiv.keys()].join(', ') || 'none'})`);
  process.exit(1);
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const std = (xs: number[]) => (xs.length > 1 ? Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1)) : Number.NaN);
/** Two-sided 95 % Student-t quantiles t₀.₉₇₅ for 1..10 degrees of freedom. */
const T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228];
const f4 = (x: number) => (Number.isFinite(x) ? x.toFixed(4) : '–');
const signed = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(4)}`;

const seedsOf = (key: string) => [...byDiv.get(key)!.keys()].sort((a, b) => a - b);
console.log(`Sweep ${dir}: dense network, Monte Carlo predictive, mean ± sample std over seeds.\n`);
console.log('| objective | seeds | accuracy | ECE | NLL |');
console.log('| --- | --- | --- | --- | --- |');
for (const key of [klKey, ...jsKeys]) {
  const runs = seedsOf(key).map((s) => byDiv.get(key)!.get(s)!);
  const cell = (m: string) => {
    const xs = runs.map((r) => Number(r[m]));
    return `${f4(mean(xs))} ± ${f4(std(xs))}`;
  };
  console.log(`| ${label(key)} | ${seedsOf(key).join(', ')} | ${metrics.map(cell).join(' | ')} |`);
}

console.log('\nPaired by seed, JS − KL: mean difference [95 % Student-t interval]; * where the interval excludes 0.\n');
console.log('| objective | n | Δ accuracy | Δ ECE | Δ NLL | verdict |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const key of jsKeys) {
  const seeds = seedsOf(key).filter((s) => byDiv.get(klKey)!.has(s));
  const verdicts: string[] = [];
  const cells = metrics.map((m) => {
    const d = seeds.map((s) => Number(byDiv.get(key)!.get(s)![m]) - Number(byDiv.get(klKey)!.get(s)![m]));
    const mu = mean(d);
    const half = d.length > 1 ? T975[Math.min(d.length - 2, T975.length - 1)]! * (std(d) / Math.sqrt(d.length)) : Number.NaN;
    const excl = Number.isFinite(half) && (mu - half > 0 || mu + half < 0);
    // accuracy: higher is better; ECE, NLL: lower is better
    const jsBetter = m === 'accuracy' ? mu > 0 : mu < 0;
    verdicts.push(`${m === 'ece' ? 'ECE' : m === 'nll' ? 'NLL' : m}: ${excl ? (jsBetter ? 'JS' : 'KL') : 'tie'}`);
    return `${signed(mu)} [${signed(mu - half)}, ${signed(mu + half)}]${excl ? ' *' : ''}`;
  });
  console.log(`| ${label(key)} | ${seeds.length} | ${cells.join(' | ')} | ${verdicts.join(', ')} |`);
}
