/**
 * Checks a PackNet run (configs/packnet-mnist.yaml, issue 11 item 6) against its claims:
 *   - task 1's logits on its whole evaluation split are bit-identical before and after task 2,
 *     and its accuracy is exactly unchanged;
 *   - task 2 (PackNet, in the weights task 1 freed) is within 2 points of (or above) task 2
 *     trained alone in a network restricted to the same free weights;
 *   - the report shows each task's accuracy (with its task-specific mask) and the capacity
 *     (weights owned) each uses: metrics.json, report.md and report.html;
 *   - the capacities add up: weights owned by the tasks + free = all shared weights, and the
 *     baseline had exactly the weights task 1 left free;
 *   - the run's main model is task 1's network (its dense accuracy is task 1's).
 * A claim whose numbers are missing FAILS.
 *
 *   npx tsx experiments/packnet/check.ts [experiment | run directory]   (default: packnet-mnist)
 * Exit code 1 if a claim fails or there is none.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Claim, claimOn, claimsOrFail, findRun, pct, printClaims, readRun } from '../lib/check.js';

const arg = process.argv[2] ?? 'packnet-mnist';
const dir = existsSync(join(arg, 'metrics.json')) ? arg : findRun(arg);
if (!dir) {
  console.error(`no complete run of "${arg}" found under results/; run \`npx tsx src/cli.ts run configs/${arg}.yaml\` first`);
  process.exit(1);
}
const { metrics, manifest } = readRun(dir);
const read = (f: string) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8') : null);

/** The claims of one model of the run (the main model, and each variant such as the permuted-MNIST task 2). */
const claimsFor = (name: string, v: any, md: string | null, html: string | null): Claim[] => {
  const p = v?.packnet;
  const t1 = p?.tasks?.[0];
  const t2 = p?.tasks?.[1];
  const out: Claim[] = [];
  out.push(
    claimOn('task 1 logits bit-identical before and after task 2', { flag: p?.task1LogitsBitIdentical }, ({ flag }) => ({
      value: flag ? `yes (all ${t1?.evalExamples} evaluation examples)` : 'no',
      pass: flag === true,
    })),
  );
  out.push(
    claimOn('task 1 accuracy exactly unchanged by task 2', { before: p?.task1AccuracyBeforeTask2, after: p?.task1AccuracyAfterTask2 }, ({ before, after }) => ({
      value: `${pct(before)} → ${pct(after)}`,
      pass: before === after,
    })),
  );
  out.push(
    claimOn('task 2 within 2 points of task 2 alone with the same free capacity', { t2, baseline: p?.baseline }, ({ t2, baseline }) => {
      const d = t2.accuracy - baseline.accuracy;
      return {
        value: `PackNet ${t2.name} ${pct(t2.accuracy)} vs alone ${pct(baseline.accuracy)} (${baseline.weightsAvailable} free weights): ${d >= 0 ? '+' : ''}${(100 * d).toFixed(2)} points`,
        pass: d >= -0.02,
      };
    }),
  );
  out.push(
    claimOn(
      'capacities add up (owned by task 1 + task 2 + free = all; baseline had task 1’s free weights)',
      { t1, t2, total: p?.totalWeights, free: p?.freeWeightsForTask2, baseline: p?.baseline },
      ({ t1, t2, total, free, baseline }) => {
        const freeEnd = Math.round(t2.freeAfter * total);
        return {
          value: `${t1.weightsOwned} + ${t2.weightsOwned} + ${freeEnd} of ${total}; baseline ${baseline.weightsAvailable} = ${free}`,
          pass: t1.weightsOwned + t2.weightsOwned + freeEnd === total && total - t1.weightsOwned === free && baseline.weightsAvailable === free,
        };
      },
    ),
  );
  out.push(
    claimOn('report.md shows each task’s accuracy and capacity', { md, t1, t2 }, ({ md, t1, t2 }) => {
      const has = (t: { task: number; name: string; accuracy: number; weightsOwned: number }) =>
        md.includes(`| ${t.task}: ${t.name} |`) && md.includes(pct(t.accuracy)) && md.includes(String(t.weightsOwned));
      const title = `## ${name}: PackNet: tasks in one network`;
      return { value: `section ${md.includes(title) ? 'present' : 'absent'}`, pass: md.includes(title) && has(t1) && has(t2) };
    }),
  );
  out.push(
    claimOn('report.html shows the PackNet section', { html }, ({ html }) => ({
      value: html.includes(`${name}: PackNet: tasks in one network`) ? 'present' : 'absent',
      pass: html.includes(`${name}: PackNet: tasks in one network`) && html.includes(`${t1?.task}: ${t1?.name}`),
    })),
  );
  out.push(
    claimOn('the main model is task 1’s network', { dense: v?.dense?.accuracy, t1 }, ({ dense, t1 }) => ({
      value: `dense ${pct(dense)}, task 1 ${pct(t1.accuracy)}, max |Δlogit| ${p.mainModelMaxLogitDiff?.toExponential(1)}`,
      pass: Math.abs(dense - t1.accuracy) < 1e-12,
    })),
  );
  return out.map((c) => ({ ...c, claim: `${name}: ${c.claim}` }));
};

const models = Object.entries((metrics.variants ?? {}) as Record<string, any>).filter(([, v]) => v?.method === 'packnet');
const claims: Claim[] = claimsOrFail(() => {
  if (!models.length) throw new Error('no model of inference.method packnet in metrics.json');
  const md = read('report.md');
  const html = read('report.html');
  return models.flatMap(([name, v]) => claimsFor(name, v, md, html));
});

console.log(`run ${manifest.runId} (${dir}), backend ${manifest.backend?.name}`);
for (const [name, v] of models)
  console.log(`  ${name}: task 2 = ${v.packnet?.tasks?.[1]?.name ?? '?'}, ${v.packnet?.seconds?.toFixed?.(1) ?? '?'} s of PackNet training`);
if (!printClaims('PackNet claims (issue 11 item 6)', claims)) process.exit(1);
