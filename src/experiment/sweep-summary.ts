/**
 * The summary of a sweep: `runs.csv` (one row per run × curve row), `summary.csv` (aggregated
 * over the replicate axis `seed`), `summary.md` and the plots, written into the sweep directory.
 * @module
 */
import { join } from 'node:path';
import { writeFileAtomic } from '../report/atomic.js';
import { linePlot, type LineSeries } from '../report/svg.js';
import { markdownTable, meanStdColumns, summarize, toCsv, type Row } from '../report/table.js';

/** Value columns aggregated over the sweep. */
export const VALUE_COLS = ['accuracy', 'nll', 'brier', 'ece', 'mce', 'mutualInformation', 'sparsity'];

export interface SweepSummaryInput {
  experiment: string;
  /** Names of the sweep's axes (dot paths); `seed` is the replicate axis. */
  axes: string[];
  /** Human-readable description of the sweep spec for summary.md. */
  axesText: string;
  /** Number of runs (points) in the sweep. */
  runs: number;
  /** One row per run × curve row, with a column per axis holding the JSON of its value. */
  rows: Row[];
}

/** Aggregate and write runs.csv, summary.csv, summary.md and the plots; returns the summary rows. */
export async function writeSweepSummary(sweepDir: string, o: SweepSummaryInput): Promise<Row[]> {
  const grid = o.axes;
  const rows = o.rows;
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
    `# Sweep: ${o.experiment}`,
    '',
    `Grid: ${o.axesText} — ${o.runs} runs. Values are mean ± std (sample std) over ${grid.includes('seed') ? 'seeds' : 'runs'} of the Monte Carlo predictive.`,
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
  return summary;
}
