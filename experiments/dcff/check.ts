/**
 * Checks a DCFF run (configs/dcff-lenet5.yaml, issue 11 item 4) against the claims of the issue
 * and of the paper (Lin et al. 2023):
 *   - DCFF and FPGM are compared at the same multiply-adds: both compacted networks have the same
 *     MACs and parameters, fewer than the dense network;
 *   - the compacted DCFF network computes what was trained (fused forward) within 1e-5, and FPGM's
 *     compacted network its masked one within 1e-5;
 *   - the temperature annealed the distributions to one-hot: min p_i(i) ≥ 0.999 at the last epoch
 *     (the fused filters are the filters), and the kept set was recomputed every epoch;
 *   - the paper's claim: DCFF (from scratch) at least as accurate as FPGM at the same MACs;
 *   - DCFF within 1 point of the dense network (the bar issue 11 sets for FPGM at 50 %).
 * The numbers are read from metrics.json: test accuracies of the models main, dcff-<r>, fpgm-<r>,
 * and the model descriptions the method writes (src/pruning/dcff.ts describeDcff / describeFpgm).
 *
 *   npx tsx experiments/dcff/check.ts [experiment | run directory]   (default: dcff-lenet5)
 * Exit code 1 if a claim fails or there is none.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Claim, claimOn, claimsOrFail, findRun, pct, printClaims, readRun } from '../lib/check.js';

interface Model {
  network: string;
  epochs: number;
  dense: { accuracy: number };
}

const arg = process.argv[2] ?? 'dcff-lenet5';
const dir = existsSync(join(arg, 'metrics.json')) ? arg : findRun(arg);
if (!dir) {
  console.error(`no complete run of "${arg}" found under results/; run \`npx tsx src/cli.ts run configs/${arg}.yaml\` first`);
  process.exit(1);
}
const { metrics } = readRun(dir);
const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
const ratio: number = cfg?.inference?.dcff?.ratio ?? 0.5;
const epochs: number = cfg?.inference?.dcff?.epochs ?? cfg?.train?.epochs;
const models = metrics.variants as Record<string, Model>;
const main = models.main;
const dcff = models[`dcff-${ratio}`];
const fpgm = models[`fpgm-${ratio}`];

/** A number after `label` in a description, e.g. "MACs 2293000 → 749000" with label /MACs \d+ → / gives 749000. */
function num(desc: string, re: RegExp): number {
  const m = desc.match(re);
  if (!m) throw new Error(`"${re.source}" not found in the model description`);
  return Number(m[1]);
}
const macs = (d: string) => ({ before: num(d, /MACs (\d+) →/), after: num(d, /MACs \d+ → (\d+)/) });
const params = (d: string) => num(d, /params \d+ → (\d+)/);
const pts = (a: number, b: number) => `${(100 * (a - b)).toFixed(2)} points`;

const claims: Claim[] = claimsOrFail(() => [
  claimOn('DCFF and FPGM at the same multiply-adds and parameters, below the dense network', { dcff, fpgm }, (r) => {
    const a = macs(r.dcff.network);
    const b = macs(r.fpgm.network);
    const pa = params(r.dcff.network);
    const pb = params(r.fpgm.network);
    return {
      value: `MACs ${a.before} → DCFF ${a.after}, FPGM ${b.after} (${(a.before / a.after).toFixed(2)}×); params DCFF ${pa}, FPGM ${pb}`,
      pass: a.after === b.after && pa === pb && a.after < a.before,
    };
  }),
  claimOn('compacted DCFF network = fused (trained) network within 1e-5', { dcff }, (r) => {
    const d = num(r.dcff.network, /fused vs compacted max \|Δlogit\| ([\d.e+-]+)/);
    return { value: `max |Δlogit| ${d.toExponential(1)}`, pass: d <= 1e-5 };
  }),
  claimOn('compacted FPGM network = masked network within 1e-5', { fpgm }, (r) => {
    const d = num(r.fpgm.network, /masked vs compacted max \|Δlogit\| ([\d.e+-]+)/);
    return { value: `max |Δlogit| ${d.toExponential(1)}`, pass: d <= 1e-5 };
  }),
  claimOn('temperature annealed to one-hot distributions: min p_i(i) ≥ 0.999 at the last epoch', { dcff }, (r) => {
    const m = r.dcff.network.match(/last epoch t (\d[\d.e+]*), min p_i\(i\) ([^;]+)/);
    if (!m) throw new Error('"last epoch t …" not found in the model description');
    const mins = [...m[2]!.matchAll(/(\w+) ([\d.]+)/g)].map((x) => [x[1]!, Number(x[2])] as const);
    return { value: `t ${m[1]}, ${mins.map(([l, v]) => `${l} ${v.toFixed(4)}`).join(', ')}`, pass: mins.length > 0 && mins.every(([, v]) => v >= 0.999) };
  }),
  claimOn('kept set recomputed at every epoch (trained from scratch for train.epochs)', { dcff }, (r) => {
    const m = r.dcff.network.match(/kept-set changes per epoch ([^;]+)/);
    if (!m) throw new Error('"kept-set changes per epoch" not found in the model description');
    const lists = [...m[1]!.matchAll(/(\w+) \[([\d,]*)\]/g)].map((x) => [x[1]!, x[2] ? x[2].split(',').map(Number) : []] as const);
    return {
      value: `${lists.map(([l, v]) => `${l} [${v.join(', ')}]`).join('; ')} over epochs 2..${epochs}`,
      pass: lists.length > 0 && lists.every(([, v]) => v.length === epochs - 1),
    };
  }),
  claimOn('the paper: DCFF at least as accurate as FPGM at the same MACs (test accuracy)', { dcff, fpgm }, (r) => ({
    value: `DCFF ${pct(r.dcff.dense.accuracy)} vs FPGM fine-tuned ${pct(r.fpgm.dense.accuracy)} (${pts(r.dcff.dense.accuracy, r.fpgm.dense.accuracy)})`,
    pass: r.dcff.dense.accuracy >= r.fpgm.dense.accuracy,
  })),
  claimOn('DCFF within 1 point of the dense network', { main, dcff }, (r) => ({
    value: `DCFF ${pct(r.dcff.dense.accuracy)} vs dense ${pct(r.main.dense.accuracy)} (${pts(r.dcff.dense.accuracy, r.main.dense.accuracy)})`,
    pass: r.main.dense.accuracy - r.dcff.dense.accuracy <= 0.01,
  })),
]);

for (const [name, v] of Object.entries(models))
  if (!['main', `dcff-${ratio}`, `fpgm-${ratio}`].includes(name) && /DCFF/.test(v.network))
    console.log(`  INFO  variant ${name}: test accuracy ${pct(v.dense.accuracy)}; ${v.network.split('; ').slice(0, 3).join('; ')}`);
const ok = printClaims(`DCFF vs FPGM at the same multiply-adds (${dir})`, claims);
process.exit(ok ? 0 : 1);
