/**
 * Checks the claims of issue 11 items 2 and 3 against the newest complete runs of
 * configs/bn-cnn-slimming.yaml and configs/fpgm-lenet5.yaml (or the run directories given):
 *
 * Network slimming, for every compacted model `slim-<ratio>` of the run:
 *   - the channel ranking is global (inference.slimming.scope: global);
 *   - ≥ 40 % of the batch-normalized channels removed;
 *   - ≥ 2× fewer multiply-adds per example;
 *   - test accuracy after fine-tuning ≤ 1 point below the dense (main) network;
 *   - compacted and masked networks agree: max |Δlogit| ≤ 1e-5.
 * FPGM at 50 % of LeNet-5's conv filters per layer:
 *   - fine-tuned FPGM within 1 point of the dense network;
 *   - the run has fine-tuned and post-hoc rows of fpgm, filter-l1, filter-l2 and snr at the same
 *     ratio, and report.md puts them side by side (the structured-points table).
 * A row the claims need that is missing is a FAIL.
 *
 *   npx tsx experiments/fpgm-slimming/check.ts [slimming run dir] [fpgm run dir]
 * Exit code 1 if a claim fails or none could be checked.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Claim, claimOn, claimsOrFail, findRun, pct, printClaims, readRun } from '../lib/check.js';

interface Row {
  protocol?: string;
  criterion: string;
  structure: string;
  unitRatio: number | null;
  targetSparsity: number | null;
  sparsity: number;
  accuracy: number;
  predictive: string;
  costEpochs?: number;
}

const pts = (a: number, b: number) => `${a - b >= 0 ? '+' : ''}${(100 * (a - b)).toFixed(2)} points`;
const runOf = (arg: string | undefined, experiment: string) => (arg && existsSync(join(arg, 'metrics.json')) ? arg : findRun(experiment));

/** The numbers of one compacted slimming model: the method's section (metrics.json) when present, else its model description. */
function slimNumbers(
  metrics: any,
  ratio: number,
): { channels: { before: number; after: number }; macs: { before: number; after: number }; maxLogitDiff: number; speedup: number } | null {
  const sec = metrics.variants.main?.slimming?.ratios?.find((r: { ratio: number }) => r.ratio === ratio);
  if (sec?.channels) return { channels: sec.channels, macs: sec.macs, maxLogitDiff: sec.maxLogitDiff, speedup: sec.measured.speedup };
  const d: string | undefined = metrics.variants[`slim-${ratio}`]?.network;
  if (!d) return null;
  const ch = /of channels \((\d+) → (\d+)\)/.exec(d);
  const macs = /MACs (\d+) → (\d+)/.exec(d);
  const logit = /max \|Δlogit\| ([0-9.e+-]+)/.exec(d);
  const sp = /measured forward speed-up ([0-9.]+)×/.exec(d);
  if (!ch || !macs || !logit) return null;
  return {
    channels: { before: +ch[1]!, after: +ch[2]! },
    macs: { before: +macs[1]!, after: +macs[2]! },
    maxLogitDiff: +logit[1]!,
    speedup: sp ? +sp[1]! : Number.NaN,
  };
}

function slimmingClaims(dir: string | null): Claim[] {
  if (!dir) return [{ claim: 'network slimming: a complete run of bn-cnn-slimming', value: 'none under results/bn-cnn-slimming', pass: false }];
  const { metrics } = readRun(dir);
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  const s = cfg.inference?.slimming ?? {};
  const ratios: number[] = s.ratios ?? [];
  const dense = metrics.variants.main?.dense;
  const out: Claim[] = [
    {
      claim: 'slimming: channels ranked by |γ| in one global list',
      value: `scope ${s.scope}, minKeep ${s.minKeep ?? 0}, λ ${s.lambda}`,
      pass: s.scope === 'global',
    },
  ];
  if (!ratios.length) out.push({ claim: 'slimming: at least one slim-<ratio> model', value: 'inference.slimming.ratios is empty', pass: false });
  for (const r of ratios) {
    const n = slimNumbers(metrics, r);
    const slim = metrics.variants[`slim-${r}`]?.dense;
    const tag = `slim-${r}`;
    out.push(
      claimOn(`${tag}: ≥ 40 % of the channels removed`, { [tag]: n }, (x) => {
        const c = x[tag]!.channels;
        return { value: `${c.before} → ${c.after} (${pct(1 - c.after / c.before)} removed)`, pass: 1 - c.after / c.before >= 0.4 };
      }),
      claimOn(`${tag}: ≥ 2× fewer multiply-adds`, { [tag]: n }, (x) => {
        const m = x[tag]!.macs;
        return {
          value: `${m.before} → ${m.after} (${(m.before / m.after).toFixed(2)}×; measured forward ${x[tag]!.speedup.toFixed(2)}×)`,
          pass: m.before / m.after >= 2,
        };
      }),
      claimOn(`${tag}: fine-tuned test accuracy ≤ 1 point below dense`, { dense, [`${tag} test`]: slim }, (x) => ({
        value: `${pct(x[`${tag} test`].accuracy)} vs dense ${pct(x.dense.accuracy)} (${pts(x[`${tag} test`].accuracy, x.dense.accuracy)})`,
        pass: x.dense.accuracy - x[`${tag} test`].accuracy <= 0.01,
      })),
      claimOn(`${tag}: compacted = masked within 1e-5`, { [tag]: n }, (x) => ({
        value: `max |Δlogit| ${x[tag]!.maxLogitDiff.toExponential(1)}`,
        pass: x[tag]!.maxLogitDiff <= 1e-5,
      })),
    );
  }
  return out;
}

const FILTER_CRITERIA = ['fpgm', 'filter-l1', 'filter-l2', 'snr'];

function fpgmClaims(dir: string | null, ratio = 0.5): Claim[] {
  if (!dir) return [{ claim: 'FPGM: a complete run of fpgm-lenet5', value: 'none under results/fpgm-lenet5', pass: false }];
  const { metrics } = readRun(dir);
  const rows: Row[] = metrics.variants.main?.curves ?? [];
  const dense = rows.find((r) => r.targetSparsity === 0 && r.predictive === 'mc');
  const at = (protocol: string, criterion: string) =>
    rows.find(
      (r) => (r.protocol ?? 'post-hoc') === protocol && r.criterion === criterion && r.structure === 'units' && r.unitRatio === ratio && r.predictive === 'mc',
    );
  const ft = at('fine-tune', 'fpgm');
  const out: Claim[] = [
    claimOn(`FPGM @ ${pct(ratio)} of conv filters, fine-tuned, within 1 point of dense`, { dense, 'fine-tuned fpgm': ft }, (x) => ({
      value: `${pct(x['fine-tuned fpgm'].accuracy)} vs dense ${pct(x.dense.accuracy)} (${pts(x['fine-tuned fpgm'].accuracy, x.dense.accuracy)}; post-hoc ${at('post-hoc', 'fpgm') ? pct(at('post-hoc', 'fpgm')!.accuracy) : 'missing'}; ${x['fine-tuned fpgm'].costEpochs} epochs in all)`,
      pass: x.dense.accuracy - x['fine-tuned fpgm'].accuracy <= 0.01,
    })),
  ];
  const needed = Object.fromEntries(
    FILTER_CRITERIA.flatMap((c) => [[`post-hoc ${c}`, at('post-hoc', c)] as const, [`fine-tuned ${c}`, at('fine-tune', c)] as const]),
  );
  out.push(
    claimOn(`FPGM beside filter-l1, filter-l2 and snr at the same ratio, with and without fine-tuning`, needed, (x) => ({
      value: FILTER_CRITERIA.map((c) => `${c} ${pct(x[`post-hoc ${c}`]!.accuracy)} → ${pct(x[`fine-tuned ${c}`]!.accuracy)}`).join(', '),
      pass: true,
    })),
  );
  const report = existsSync(join(dir, 'report.md')) ? readFileSync(join(dir, 'report.md'), 'utf8') : '';
  const table = report.split('### Structured points')[1]?.split('\n#')[0] ?? '';
  const listed = FILTER_CRITERIA.filter((c) => new RegExp(`^\\| ${c} \\| ${(100 * ratio).toFixed(2)}% \\|`, 'm').test(table));
  out.push({
    claim: "report.md's structured-points table lists the four criteria post-hoc and fine-tuned",
    value: table ? `rows: ${listed.join(', ') || 'none'}` : 'no "Structured points" table in report.md',
    pass: listed.length === FILTER_CRITERIA.length && /fine-tune vs dense/.test(table),
  });
  return out;
}

const slimDir = runOf(process.argv[2], 'bn-cnn-slimming');
const fpgmDir = runOf(process.argv[3], 'fpgm-lenet5');
const a = printClaims(
  `network slimming (${slimDir ?? 'no run'})`,
  claimsOrFail(() => slimmingClaims(slimDir)),
);
const b = printClaims(
  `FPGM filter pruning (${fpgmDir ?? 'no run'})`,
  claimsOrFail(() => fpgmClaims(fpgmDir)),
);
process.exit(a && b ? 0 : 1);
