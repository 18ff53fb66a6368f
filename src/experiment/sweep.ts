/**
 * Config-driven sweeps: the config key `sweep` maps dot paths to lists of values
 * (`sweep: { seed: [1, 2, 3], inference.temperature: [1, 0.1] }`); `bayesprune sweep`
 * runs every combination (the Cartesian product) as an ordinary run and aggregates the
 * curves over seeds as mean ± std (sample std, n − 1).
 *
 * Layout: `results/<experiment>/sweep-<id>/runs/<combination>/<run-id>/` for the runs and
 * `summary.csv`, `summary.md` and plots beside them. Every combination is validated
 * before any work starts; a sweep interrupted midway continues with `--resume <sweep dir>`,
 * skipping combinations whose run completed.
 * @module
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '../report/atomic.js';
import { linePlot, type LineSeries } from '../report/svg.js';
import { markdownTable, meanStdColumns, summarize, toCsv, type Row } from '../report/table.js';
import { setPath, validateConfig, variantConfig, type ExperimentConfig } from './config.js';
import { flattenRow, type CurveRow } from './curves.js';
import { runExperiment, type RunOptions } from './run.js';

/** One combination of sweep values. */
export interface SweepPoint {
  /** Directory-safe label, e.g. `seed-2__inference.temperature-0.1`. */
  label: string;
  values: Record<string, unknown>;
  config: ExperimentConfig;
}

/** The Cartesian product of the config's `sweep` grid, each validated. */
export function sweepPoints(cfg: ExperimentConfig): SweepPoint[] {
  const keys = Object.keys(cfg.sweep);
  if (!keys.length) throw new Error(`config "${cfg.experiment}" has no sweep grid; add e.g. \`sweep: { seed: [1, 2, 3] }\``);
  let combos: Record<string, unknown>[] = [{}];
  for (const k of keys) combos = combos.flatMap((c) => cfg.sweep[k]!.map((v) => ({ ...c, [k]: v })));
  return combos.map((values) => {
    const raw = structuredClone({ ...cfg, sweep: {} }) as Record<string, unknown>;
    for (const [k, v] of Object.entries(values)) setPath(raw, k, structuredClone(v));
    const label = Object.entries(values)
      .map(([k, v]) => `${k}-${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
      .join('__')
      .replace(/[^A-Za-z0-9._-]/g, '_');
    const config = validateConfig(raw, `sweep point ${label}`);
    for (const v of config.variants) variantConfig(config, v);
    return { label, values, config };
  });
}

/** Value columns aggregated over the sweep. */
const VALUE_COLS = ['accuracy', 'nll', 'brier', 'ece', 'mce', 'mutualInformation', 'sparsity'];

function completedRun(dir: string): string | undefined {
  if (!existsSync(dir)) return undefined;
  for (const d of readdirSync(dir)) {
    if (d.startsWith('.')) continue;
    const m = join(dir, d, 'manifest.json');
    if (existsSync(m) && JSON.parse(readFileSync(m, 'utf8')).status === 'complete') return join(dir, d);
  }
  return undefined;
}

export interface SweepResult {
  sweepDir: string;
  summary: Row[];
}

/** Run every sweep point, then aggregate. `resume` continues a sweep directory. */
export async function runSweep(cfg: ExperimentConfig, o: RunOptions & { resume?: string } = {}): Promise<SweepResult> {
  const points = sweepPoints(cfg);
  const sink = o.progress === undefined ? process.stderr : o.progress;
  const root = o.resultsDir ?? 'results';
  const sweepDir =
    o.resume ??
    join(
      root,
      cfg.experiment,
      `sweep-${new Date()
        .toISOString()
        .replace(/[-:]/g, '')
        .replace(/\.\d+Z$/, 'Z')
        .replace('T', '-')}`,
    );
  mkdirSync(sweepDir, { recursive: true });
  await writeJsonAtomic(join(sweepDir, 'sweep.json'), { experiment: cfg.experiment, grid: cfg.sweep, points: points.map((p) => p.label) });
  const grid = Object.keys(cfg.sweep);
  const rows: Row[] = [];
  for (const [i, p] of points.entries()) {
    const dir = join(sweepDir, 'runs', p.label);
    let runDir = completedRun(dir);
    if (runDir) sink?.write(`[sweep ${i + 1}/${points.length}] ${p.label}: already complete\n`);
    else {
      sink?.write(`[sweep ${i + 1}/${points.length}] ${p.label}\n`);
      // Runs of a sweep live under runs/<label>/; a partial one there is resumed.
      const partial = existsSync(dir) ? readdirSync(dir).find((d) => d.endsWith('.partial')) : undefined;
      const r = await runExperiment(
        { ...p.config, experiment: p.label },
        {
          ...o,
          resultsDir: join(sweepDir, 'runs'),
          resume: partial ? join(dir, partial) : undefined,
          configFile: o.configFile,
          overrides: [...(o.overrides ?? []), ...Object.entries(p.values).map(([k, v]) => `${k}=${JSON.stringify(v)}`)],
        },
      ).catch((e) => {
        throw new Error(`sweep point ${p.label}: ${(e as Error).message}`);
      });
      runDir = r.runDir;
    }
    const metrics = JSON.parse(readFileSync(join(runDir, 'metrics.json'), 'utf8')) as { variants: Record<string, { curves: CurveRow[] }> };
    for (const v of Object.values(metrics.variants)) {
      for (const c of v.curves) rows.push({ ...flattenRow(c), ...Object.fromEntries(grid.map((k) => [k, JSON.stringify(p.values[k])])) });
    }
  }
  const groupBy = [...grid.filter((k) => k !== 'seed'), 'variant', 'criterion', 'structure', 'unitRatio', 'targetSparsity', 'predictive'];
  const summary = summarize(rows, groupBy, VALUE_COLS);
  await writeFileAtomic(join(sweepDir, 'runs.csv'), toCsv(rows));
  await writeFileAtomic(join(sweepDir, 'summary.csv'), toCsv(summary));
  const mc = summary.filter((r) => r.predictive === 'mc');
  const seriesKey = (r: Row) =>
    [...groupBy.filter((g) => !['structure', 'unitRatio', 'targetSparsity', 'predictive'].includes(g)).map((g) => r[g])].join(' · ');
  const series = (col: string): LineSeries[] => {
    const by = new Map<string, Row[]>();
    for (const r of mc.filter((x) => x.targetSparsity !== null && x.structure === 'weights')) by.set(seriesKey(r), [...(by.get(seriesKey(r)) ?? []), r]);
    return [...by].map(([name, rs]) => {
      rs.sort((a, b) => Number(a.sparsity_mean) - Number(b.sparsity_mean));
      return {
        name,
        x: rs.map((r) => 100 * Number(r.sparsity_mean)),
        y: rs.map((r) => (col === 'accuracy' ? 100 : 1) * Number(r[`${col}_mean`])),
        dashed: String(name).includes('random'),
      };
    });
  };
  await writeFileAtomic(
    join(sweepDir, 'accuracy_vs_sparsity.svg'),
    linePlot({ title: 'Mean test accuracy vs sparsity', xLabel: 'sparsity (%)', yLabel: 'accuracy (%)', series: series('accuracy') }),
  );
  await writeFileAtomic(
    join(sweepDir, 'ece_vs_sparsity.svg'),
    linePlot({ title: 'Mean ECE vs sparsity', xLabel: 'sparsity (%)', yLabel: 'ECE', series: series('ece') }),
  );
  // One dense row per model (every criterion shares the unpruned point).
  const firstCriterion = new Map<string, unknown>();
  const denseRows = mc.filter((r) => {
    if (Number(r.targetSparsity) !== 0 || r.targetSparsity === null || r.structure !== 'weights') return false;
    const key = [...grid.filter((k) => k !== 'seed').map((k) => r[k]), r.variant].join('·');
    if (!firstCriterion.has(key)) firstCriterion.set(key, r.criterion);
    return firstCriterion.get(key) === r.criterion;
  });
  const md = [
    `# Sweep: ${cfg.experiment}`,
    '',
    `Grid: ${grid.map((k) => `\`${k}\` ∈ {${cfg.sweep[k]!.map((v) => JSON.stringify(v)).join(', ')}}`).join(' × ')} — ${points.length} runs. Values are mean ± std (sample std) over ${grid.includes('seed') ? 'seeds' : 'runs'} of the Monte Carlo predictive.`,
    '',
    '## Dense models (no pruning)',
    '',
    markdownTable(meanStdColumns(denseRows, [...grid.filter((k) => k !== 'seed'), 'variant'], ['accuracy', 'nll', 'brier', 'ece', 'mutualInformation'])),
    '',
    '## Against sparsity',
    '',
    '![accuracy](accuracy_vs_sparsity.svg)',
    '',
    '![ece](ece_vs_sparsity.svg)',
    '',
    markdownTable(meanStdColumns(mc, groupBy, VALUE_COLS)),
    '',
  ];
  await writeFileAtomic(join(sweepDir, 'summary.md'), md.join('\n'));
  sink?.write(`sweep summary: ${join(sweepDir, 'summary.md')}\n`);
  return { sweepDir, summary };
}
