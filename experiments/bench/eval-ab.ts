/**
 * A/B of two engine versions in one process (load-robust ratios): an earlier engine, copied to
 * src/experiment/mc-engine-base.ts for this comparison only (untracked; delete it afterwards), e.g.
 *
 *   git show 46cecbe:src/experiment/mc-engine.ts > src/experiment/mc-engine-base.ts
 *
 * against the working one, in rounds (base, then new: the first round also pays warm-up). Dev tool
 * for issue 15 item 3.
 *
 *   npx tsx experiments/bench/eval-ab.ts --run results/quickstart/<run id> [--model main] [--rounds 2] [--no-ood]
 */
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { initBackend } from '../../src/backend.js';
import { loadConfig, variantConfig } from '../../src/experiment/config.js';
import { curveOptionsFrom, pruningCurves } from '../../src/experiment/curves.js';
import { SharedEvaluator } from '../../src/experiment/mc-engine.js';
import { UncertaintyEvaluator } from '../../src/experiment/ood-eval.js';
import { loadData } from '../../src/experiment/run.js';
import { loadTrainedModel } from '../../src/export/model-store.js';
import { rootStream } from '../../src/random.js';
import { maxRowDifference } from './eval-bench.js';

const args = process.argv.slice(2);
const arg = (k: string, dflt: string) => (args.includes(`--${k}`) ? args[args.indexOf(`--${k}`) + 1]! : dflt);
const run = arg('run', '');
await initBackend('auto');
const model = arg('model', 'main');
const runCfg = loadConfig(join(run, 'config.json'));
const v = runCfg.variants.find((x) => x.name === model);
const cfg = v ? variantConfig(runCfg, v) : runCfg;
if (args.includes('--no-ood')) cfg.eval.ood.enabled = false;
const d = loadData(cfg);
const posterior = await loadTrainedModel(run, model, cfg);
const base = (await import(`../../src/experiment/${'mc-engine-base.js'}`)) as { SharedEvaluator: typeof SharedEvaluator };
const create = SharedEvaluator.create;
const cpu = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1e6;
};
const rows: Record<string, unknown[]> = {};
for (let round = 0; round < Number(arg('rounds', '2')); round++) {
  for (const which of ['base', 'new']) {
    SharedEvaluator.create = which === 'base' ? (base.SharedEvaluator.create as typeof create) : create;
    const stream = rootStream(cfg.seed).fork(`variant/${model}`).fork('eval');
    const t0 = performance.now();
    const c0 = cpu();
    const unc = new UncertaintyEvaluator(cfg, d.test, d.validation, stream.fork('uncertainty'));
    const curves = await pruningCurves(posterior, {
      variant: model,
      ...curveOptionsFrom(cfg),
      stream,
      data: d.test,
      scoreData: d.train,
      pointMetrics: unc.hook,
    });
    unc.summary(stream.fork('uncertainty'));
    console.log(
      `${which} round ${round}: ${((performance.now() - t0) / 1000).toFixed(2)} s wall, ${(cpu() - c0).toFixed(2)} s CPU, load ${loadavg()[0]!.toFixed(1)}`,
    );
    rows[which] = curves.rows;
  }
}
console.log('max row difference new vs base', JSON.stringify(maxRowDifference(rows.new as never, rows.base as never)));
