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
import { writeJsonAtomic } from '../report/atomic.js';
import type { Row } from '../report/table.js';
import { setPath, validateConfig, variantConfig, type ExperimentConfig } from './config.js';
import { flattenRow, type CurveRow } from './curves.js';
import { runExperiment, type RunOptions } from './run.js';
import { writeSweepSummary } from './sweep-summary.js';

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
  const summary = await writeSweepSummary(sweepDir, {
    experiment: cfg.experiment,
    axes: grid,
    axesText: grid.map((k) => `\`${k}\` ∈ {${cfg.sweep[k]!.map((v) => JSON.stringify(v)).join(', ')}}`).join(' × '),
    runs: points.length,
    rows,
  });
  sink?.write(`sweep summary: ${join(sweepDir, 'summary.md')}\n`);
  return { sweepDir, summary };
}
