/**
 * Checks a protocols run (configs/protocols-*.yaml, issue 10) against the claims of the
 * protocols it ran:
 *   - fine-tune: global magnitude at 95 % one-shot loses ≥ 30 points; fine-tuned it is within
 *     1.5 points of dense;
 *   - at-init: SNIP at 98 % ≥ 90 % and ≥ 15 points above random-at-init;
 *   - rigl: at 98 % ≥ 10 points above random-at-init (the same training steps); its training
 *     multiply-adds at 95 % are ≈ 5 % of dense (between 4 % and 8 %: 5 % plus the dense gradient
 *     of each topology update);
 *   - sparsegpt: at 80 % (uniform per layer), no retraining, within 2 points of dense and ≥ 15
 *     points above per-layer magnitude; 2:4 within 1 point of dense;
 *   - every row has finite cost columns; post-hoc rows cost the model's training epochs.
 * Claims of protocols the run did not include are listed as not run (they are not counted).
 *
 *   npx tsx experiments/protocols/check.ts [experiment | run directory]   (default: protocols-lenet300)
 * Exit code 1 if a claim fails or there is none.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Claim, claimOn, claimsOrFail, findRun, pct, printClaims, readRun } from '../lib/check.js';

interface Row {
  protocol?: string;
  criterion: string;
  structure: string;
  targetSparsity: number | null;
  sparsity: number;
  accuracy: number;
  predictive: string;
  costEpochs?: number;
  costSteps?: number;
  costSeconds?: number;
  costTrainMacs?: number;
  costMacsFraction?: number;
}

const arg = process.argv[2] ?? 'protocols-lenet300';
const dir = existsSync(join(arg, 'metrics.json')) ? arg : findRun(arg);
if (!dir) {
  console.error(`no complete run of "${arg}" found under results/; run \`npx tsx src/cli.ts run configs/${arg}.yaml\` first`);
  process.exit(1);
}
const { metrics, manifest } = readRun(dir);
const variant = metrics.variants.main ?? Object.values(metrics.variants)[0];
const rows: Row[] = variant.curves;
const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
const types = new Set<string>((cfg?.pruning?.protocols ?? [{ type: 'post-hoc' }]).map((p: { type: string }) => p.type));
const at = (protocol: string, criterion: string, target: number, structure = 'weights') =>
  rows.find(
    (r) =>
      (r.protocol ?? 'post-hoc') === protocol && r.criterion === criterion && r.targetSparsity === target && r.structure === structure && r.predictive === 'mc',
  );
const dense = rows.find((r) => r.targetSparsity === 0 && r.predictive === 'mc');
const pts = (a: number, b: number) => `${(100 * (a - b)).toFixed(2)} points`;
const notRun: string[] = [];

const claims: Claim[] = claimsOrFail(() => {
  const out: Claim[] = [];
  if (types.has('fine-tune')) {
    const one = at('post-hoc', 'magnitude', 0.95);
    const ft = at('fine-tune', 'magnitude', 0.95);
    out.push(
      claimOn('magnitude 95 % one-shot loses ≥ 30 points', { dense, 'magnitude @ 95 %': one }, (r) => ({
        value: `${pct(r['magnitude @ 95 %'].accuracy)} vs dense ${pct(r.dense.accuracy)}`,
        pass: r.dense.accuracy - r['magnitude @ 95 %'].accuracy >= 0.3,
      })),
      claimOn('fine-tune recovers to within 1.5 points of dense', { dense, 'fine-tune magnitude @ 95 %': ft }, (r) => ({
        value: `${pct(r['fine-tune magnitude @ 95 %'].accuracy)} (${pts(r['fine-tune magnitude @ 95 %'].accuracy, r.dense.accuracy)}), ${r['fine-tune magnitude @ 95 %'].costEpochs} epochs in all`,
        pass: r.dense.accuracy - r['fine-tune magnitude @ 95 %'].accuracy <= 0.015,
      })),
    );
  } else notRun.push('fine-tune');
  const rnd98 = at('at-init', 'random', 0.98);
  if (types.has('at-init')) {
    const snip = at('at-init', 'snip', 0.98);
    out.push(
      claimOn('SNIP at-init 98 % ≥ 90 %', { 'snip @ 98 %': snip }, (r) => ({ value: pct(r['snip @ 98 %'].accuracy), pass: r['snip @ 98 %'].accuracy >= 0.9 })),
      claimOn('SNIP ≥ 15 points above random at init (98 %)', { 'snip @ 98 %': snip, 'random @ 98 %': rnd98 }, (r) => ({
        value: `${pct(r['snip @ 98 %'].accuracy)} vs ${pct(r['random @ 98 %'].accuracy)}`,
        pass: r['snip @ 98 %'].accuracy - r['random @ 98 %'].accuracy >= 0.15,
      })),
    );
  } else notRun.push('at-init');
  if (types.has('rigl')) {
    const rigl98 = rows.find((r) => r.protocol === 'rigl' && r.targetSparsity === 0.98 && r.predictive === 'mc');
    const rigl95 = rows.find((r) => r.protocol === 'rigl' && r.targetSparsity === 0.95 && r.predictive === 'mc');
    out.push(
      claimOn('RigL 98 % ≥ 10 points above random at init', { 'rigl @ 98 %': rigl98, 'random at-init @ 98 %': rnd98 }, (r) => ({
        value: `${pct(r['rigl @ 98 %'].accuracy)} vs ${pct(r['random at-init @ 98 %'].accuracy)}`,
        pass: r['rigl @ 98 %'].accuracy - r['random at-init @ 98 %'].accuracy >= 0.1,
      })),
      claimOn("RigL's training MACs at 95 % ≈ 5 % of dense", { 'rigl @ 95 %': rigl95 }, (r) => ({
        value: `${(100 * (r['rigl @ 95 %'].costMacsFraction ?? Number.NaN)).toFixed(2)} %`,
        pass: (r['rigl @ 95 %'].costMacsFraction ?? Number.NaN) >= 0.04 && (r['rigl @ 95 %'].costMacsFraction ?? Number.NaN) <= 0.08,
      })),
    );
  } else notRun.push('rigl');
  if (types.has('sparsegpt')) {
    const sg = at('sparsegpt', 'sparsegpt', 0.8);
    const mag = at('post-hoc', 'magnitude-layer', 0.8);
    const sg24 = at('sparsegpt', 'sparsegpt', 0.5, '2:4');
    out.push(
      claimOn('SparseGPT 80 % within 2 points of dense', { dense, 'sparsegpt @ 80 %': sg }, (r) => ({
        value: `${pct(r['sparsegpt @ 80 %'].accuracy)} vs dense ${pct(r.dense.accuracy)}`,
        pass: r.dense.accuracy - r['sparsegpt @ 80 %'].accuracy <= 0.02,
      })),
      claimOn('SparseGPT 80 % ≥ 15 points above per-layer magnitude', { 'sparsegpt @ 80 %': sg, 'per-layer magnitude @ 80 %': mag }, (r) => ({
        value: `${pct(r['sparsegpt @ 80 %'].accuracy)} vs ${pct(r['per-layer magnitude @ 80 %'].accuracy)}`,
        pass: r['sparsegpt @ 80 %'].accuracy - r['per-layer magnitude @ 80 %'].accuracy >= 0.15,
      })),
      claimOn('SparseGPT 2:4 within 1 point of dense', { dense, 'sparsegpt 2:4': sg24 }, (r) => ({
        value: `${pct(r['sparsegpt 2:4'].accuracy)} vs dense ${pct(r.dense.accuracy)}`,
        pass: r.dense.accuracy - r['sparsegpt 2:4'].accuracy <= 0.01,
      })),
    );
  } else notRun.push('sparsegpt');
  const costCols = ['costEpochs', 'costSteps', 'costSeconds', 'costTrainMacs', 'costMacsFraction'] as const;
  const bad = rows.filter((r) => costCols.some((c) => typeof r[c] !== 'number' || !Number.isFinite(r[c] as number)));
  out.push({
    claim: 'every row has finite cost columns',
    value: bad.length ? `${bad.length} of ${rows.length} rows lack them` : `${rows.length} rows`,
    pass: bad.length === 0,
  });
  const epochs = variant.epochs;
  const wrong = rows.filter((r) => (r.protocol ?? 'post-hoc') === 'post-hoc' && r.costEpochs !== epochs);
  out.push({
    claim: "post-hoc rows cost the model's training epochs",
    value: wrong.length ? `${wrong.length} rows differ from ${epochs}` : `${epochs} epochs`,
    pass: wrong.length === 0,
  });
  return out;
});

if (notRun.length) console.log(`not in this run (claims not checked): ${notRun.join(', ')}`);
const ok = printClaims(`protocols (${dir}, whole run ${manifest.durationSeconds} s)`, claims);
process.exit(ok ? 0 : 1);
