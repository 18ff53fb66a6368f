/**
 * The summary of a sweep, written into the sweep directory:
 * - `runs.csv`: one row per run × curve row (the sweep's axes, `label` and `seed` as columns);
 * - `summary.csv`: per operating point, aggregated over the replicate axis `seed`, for each metric
 *   c: `c_mean`, `c_std` (sample std, n − 1), `c_ci_low`, `c_ci_high` (95 % Student-t interval
 *   of the mean) and `c_n` (values present; missing ones are skipped, never counted as 0);
 * - `paired.csv`: paired comparisons A − B over the same seeds (criteria at the same operating
 *   point, variants, and the levels of every other axis), see {@link pairedComparisons};
 * - `pareto.csv`: the Pareto front over every point × variant × criterion × operating point;
 * - `summary.md` and the plots (95 % bands, Pareto front ringed).
 * @module
 */
import { join } from 'node:path';
import { writeFileAtomic } from '../report/atomic.js';
import { linePlot, type LineSeries } from '../report/svg.js';
import { formatNumber, markdownTable, meanStdColumns, summarize, toCsv, type Cell, type Row } from '../report/table.js';
import { pairedDifference, paretoFront, type Objective } from '../stats/index.js';
import { writeHtmlOrWarn, writeSweepHtml } from './html-report.js';

/** Value columns aggregated over the sweep. */
export const VALUE_COLS = ['accuracy', 'nll', 'brier', 'ece', 'mce', 'mutualInformation', 'sparsity', 'speedup'];

/** Metrics compared in paired.csv (summary.md shows accuracy and ECE). */
export const PAIRED_METRICS = ['accuracy', 'nll', 'brier', 'ece', 'mce'];

/** The replicate axis: statistics aggregate over it and pair by it. */
export const REPLICATE = 'seed';

/** Columns of paired.csv other than the context columns (which are the group columns). */
export const PAIRED_STAT_COLS = ['metric', 'n', 'mean_diff', 'std_diff', 'ci_low', 'ci_high', 'excludes_zero', 'wilcoxon_p', 'zeros', 'seeds'];

export interface SweepSummaryInput {
  experiment: string;
  /** Names of the sweep's axes (dot paths); `seed` is the replicate axis. */
  axes: string[];
  /** Human-readable description of the sweep spec for summary.md. */
  axesText: string;
  /** Number of runs (points) in the sweep. */
  runs: number;
  /** One row per run × curve row, with a column per axis holding the JSON of its value, and `seed`. */
  rows: Row[];
}

/** The columns that identify an operating point: every axis but `seed`, then the curve's keys. */
export function groupColumns(axes: readonly string[]): string[] {
  return [...axes.filter((k) => k !== REPLICATE), 'variant', 'protocol', 'criterion', 'structure', 'unitRatio', 'targetSparsity', 'predictive'];
}

/** Whether a curve row takes part in the comparison of criteria: the same operating point for every criterion. */
function comparableAcrossCriteria(r: Row): boolean {
  // The dense point (target 0) is one model shared by every criterion; the log α threshold and
  // the gates' point (target null, unstructured) sit at sparsities of their own.
  if (r.structure === 'weights' || r.structure === undefined) return typeof r.targetSparsity === 'number' && r.targetSparsity > 0;
  return true;
}

/** The unpruned point (target 0, unstructured): one model, its row repeated for every criterion. */
const isDenseRow = (r: Row) => r.targetSparsity === 0 && r.structure === 'weights';

const keyOf = (r: Row, cols: readonly string[]) => JSON.stringify(cols.map((c) => (r[c] === undefined ? null : [typeof r[c], r[c]])));

/**
 * Paired comparisons A − B of the levels of each factor (the criterion, the variant, and every
 * axis but `seed`) with everything else fixed: for each context (the other group columns), each
 * pair of levels in first-appearance order (A before B) and each metric, the runs are matched by
 * `seed` (a seed missing, or with a missing value, in either is dropped) and the differences give
 * n, the mean, the sample std, the 95 % t interval, whether it excludes 0, and the exact two-sided
 * Wilcoxon signed-rank p-value (zero differences dropped, ties given average ranks). A seed that
 * occurs twice for the same level and context counts once (the first row). The factor's own column
 * is null in the output; `seeds` lists the seeds used, separated by `;`. The criteria are compared
 * at every sparsity > 0 and structured point, not at the dense point (one model) nor at the log α
 * threshold or gate points (each at a sparsity of its own); the other factors compare the dense
 * model once, with the criterion column null.
 */
export function pairedComparisons(rows: readonly Row[], axes: readonly string[], metrics: readonly string[] = PAIRED_METRICS): Row[] {
  const group = groupColumns(axes);
  const factors = ['criterion', 'variant', ...axes.filter((k) => k !== REPLICATE)];
  const out: Row[] = [];
  for (const factor of factors) {
    const context = group.filter((g) => g !== factor);
    const contexts = new Map<string, { ctx: Row; levels: Map<string, { level: Cell; bySeed: Map<string, Row> }> }>();
    for (const row of rows) {
      if (factor === 'criterion' && !comparableAcrossCriteria(row)) continue;
      // Other factors compare the dense model once, not once per criterion (its rows are copies).
      const r = factor !== 'criterion' && isDenseRow(row) ? { ...row, criterion: null } : row;
      const level = r[factor] ?? null;
      if (level === null) continue;
      const ck = keyOf(r, context);
      let c = contexts.get(ck);
      if (!c) {
        c = { ctx: Object.fromEntries(context.map((g) => [g, r[g] ?? null])), levels: new Map() };
        contexts.set(ck, c);
      }
      const lk = JSON.stringify([typeof level, level]);
      let l = c.levels.get(lk);
      if (!l) {
        l = { level, bySeed: new Map() };
        c.levels.set(lk, l);
      }
      const seed = String(r[REPLICATE] ?? '');
      if (!l.bySeed.has(seed)) l.bySeed.set(seed, r);
    }
    for (const { ctx, levels } of contexts.values()) {
      const ls = [...levels.values()];
      for (let i = 0; i < ls.length; i++) {
        for (let j = i + 1; j < ls.length; j++) {
          const a = ls[i]!;
          const b = ls[j]!;
          for (const m of metrics) {
            const pick = (l: typeof a) => new Map([...l.bySeed].map(([s, r]) => [s, r[m]]));
            const d = pairedDifference(pick(a), pick(b));
            if (d.n === 0) continue;
            const row: Row = { factor, a: a.level, b: b.level };
            for (const g of group) row[g] = g === factor ? null : (ctx[g] ?? null);
            Object.assign(row, {
              metric: m,
              n: d.n,
              mean_diff: d.mean,
              std_diff: d.std,
              ci_low: d.ciLow,
              ci_high: d.ciHigh,
              excludes_zero: d.excludesZero ? 'yes' : 'no',
              wilcoxon_p: d.p,
              zeros: d.zeros,
              seeds: d.keys.join(';'),
            });
            out.push(row);
          }
        }
      }
    }
  }
  return out;
}

const signed = (x: number, digits: number) => (x > 0 ? '+' : '') + formatNumber(x, digits);

/** "+0.0123 [+0.0034, +0.0212] *" ("*": the interval excludes 0); "[–]" without an interval. */
function diffCell(r: Row | undefined, digits = 4): string {
  if (!r || typeof r.mean_diff !== 'number') return '';
  const ci = typeof r.ci_low === 'number' && typeof r.ci_high === 'number' ? `[${signed(r.ci_low, digits)}, ${signed(r.ci_high, digits)}]` : '[–]';
  return `${signed(r.mean_diff, digits)} ${ci}${r.excludes_zero === 'yes' ? ' *' : ''}`;
}

const pCell = (r: Row | undefined) =>
  !r ? '' : typeof r.wilcoxon_p === 'number' ? (r.wilcoxon_p >= 1e-4 ? r.wilcoxon_p.toFixed(4) : r.wilcoxon_p.toExponential(1)) : '–';

/** Markdown "A − B" table of one factor: MC predictive, accuracy and ECE side by side. */
function pairedMarkdown(paired: readonly Row[], factor: string, group: readonly string[]): string {
  const mine = paired.filter((r) => r.factor === factor && r.predictive === 'mc');
  const byKey = new Map<string, Row[]>();
  for (const r of mine) {
    const k = keyOf(r, [...group, 'a', 'b']);
    byKey.set(k, [...(byKey.get(k) ?? []), r]);
  }
  // Context columns that say something: not the factor, not the predictive, not empty everywhere.
  const ctxCols = group.filter((g) => g !== factor && g !== 'predictive' && mine.some((r) => r[g] !== null && r[g] !== undefined));
  const table: Row[] = [...byKey.values()].map((rs) => {
    const acc = rs.find((r) => r.metric === 'accuracy');
    const ece = rs.find((r) => r.metric === 'ece');
    const first = rs[0]!;
    const row: Row = {};
    for (const g of ctxCols) row[g] = first[g] ?? null;
    if (ctxCols.includes('criterion') && row.criterion === null && isDenseRow(first)) row.criterion = 'none (dense)';
    row['A − B'] = `${first.a} − ${first.b}`;
    row.n = Math.max(...rs.map((r) => Number(r.n)));
    row['Δ accuracy [95 % CI]'] = diffCell(acc);
    row['p (accuracy)'] = pCell(acc);
    row['Δ ECE [95 % CI]'] = diffCell(ece);
    row['p (ECE)'] = pCell(ece);
    return row;
  });
  return markdownTable(table);
}

/** Where the factor's name is shown in summary.md. */
const FACTOR_TITLE: Record<string, string> = { criterion: 'Criteria at the same operating point', variant: 'Variants (models of one run)' };

/** Aggregate and write runs.csv, summary.csv, paired.csv, pareto.csv, summary.md and the plots; returns the summary rows. */
export async function writeSweepSummary(sweepDir: string, o: SweepSummaryInput): Promise<Row[]> {
  const grid = o.axes;
  const rows = o.rows;
  const axesNoSeed = grid.filter((k) => k !== REPLICATE);
  const groupBy = groupColumns(grid);
  const summary = summarize(rows, groupBy, VALUE_COLS);
  const paired = pairedComparisons(rows, grid);
  await writeFileAtomic(join(sweepDir, 'runs.csv'), toCsv(rows));
  await writeFileAtomic(join(sweepDir, 'summary.csv'), toCsv(summary));
  await writeFileAtomic(join(sweepDir, 'paired.csv'), toCsv(paired, ['factor', 'a', 'b', ...groupBy, ...PAIRED_STAT_COLS]));
  const mc = summary.filter((r) => r.predictive === 'mc');

  // Pareto fronts over every point × variant × criterion × operating point (MC predictive, means
  // over seeds); the dense model, shared by every criterion, counts once.
  const firstCriterion = new Map<string, unknown>();
  const isDense = isDenseRow;
  const candidates = mc.filter((r) => {
    if (!isDense(r)) return true;
    const key = [...axesNoSeed.map((k) => r[k]), r.variant].join('·');
    if (!firstCriterion.has(key)) firstCriterion.set(key, r.criterion);
    return firstCriterion.get(key) === r.criterion;
  });
  const num = (c: string) => (r: Row) => (typeof r[c] === 'number' ? (r[c] as number) : null);
  const bySparsity: Objective<Row>[] = [
    { value: num('accuracy_mean'), sense: 'max' },
    { value: num('sparsity_mean'), sense: 'max' },
    { value: num('ece_mean'), sense: 'min' },
  ];
  const byMacs: Objective<Row>[] = [
    { value: num('accuracy_mean'), sense: 'max' },
    { value: num('speedup_mean'), sense: 'max' },
    { value: num('ece_mean'), sense: 'min' },
  ];
  const frontS = new Set(paretoFront(candidates, bySparsity));
  const frontM = new Set(paretoFront(candidates, byMacs));
  const paretoRows = candidates
    .map((r, i) => ({ r, i }))
    .filter(({ i }) => frontS.has(i) || frontM.has(i))
    .map(({ r, i }): Row => ({
      ...r,
      criterion: isDense(r) ? 'none (dense)' : r.criterion,
      front: frontS.has(i) && frontM.has(i) ? 'both' : frontS.has(i) ? 'sparsity' : 'macs',
    }));
  paretoRows.sort((a, b) => Number(a.sparsity_mean) - Number(b.sparsity_mean));
  await writeFileAtomic(join(sweepDir, 'pareto.csv'), toCsv(paretoRows));
  const pointName = (r: Row) =>
    [
      ...axesNoSeed.map((k) => `${k}=${r[k]}`),
      r.variant,
      r.criterion,
      r.structure === 'weights' ? null : r.structure,
      r.unitRatio === null ? null : `units ${r.unitRatio}`,
      typeof r.sparsity_mean === 'number' ? `sparsity ${(100 * r.sparsity_mean).toFixed(1)} %` : null,
      typeof r.accuracy_mean === 'number' ? `accuracy ${(100 * r.accuracy_mean).toFixed(2)} %` : null,
      typeof r.ece_mean === 'number' ? `ECE ${r.ece_mean.toFixed(4)}` : null,
    ]
      .filter((x) => x !== null && x !== undefined)
      .join(' · ');
  const frontPoints = paretoRows.filter((r) => r.front !== 'macs');

  const mcCurve = mc.filter((x) => x.targetSparsity !== null && x.structure === 'weights');
  const seriesKey = (r: Row) =>
    [...axesNoSeed.map((g) => r[g]), r.variant, ...(r.protocol && r.protocol !== 'post-hoc' ? [r.protocol] : []), r.criterion].join(' · ');
  const series = (col: string): LineSeries[] => {
    const by = new Map<string, Row[]>();
    for (const r of mcCurve) by.set(seriesKey(r), [...(by.get(seriesKey(r)) ?? []), r]);
    const scale = col === 'accuracy' ? 100 : 1;
    const val = (r: Row, c: string) => (typeof r[c] === 'number' ? scale * (r[c] as number) : null);
    return [...by].map(([name, rs]) => {
      rs.sort((a, b) => Number(a.sparsity_mean) - Number(b.sparsity_mean));
      return {
        name,
        x: rs.map((r) => 100 * Number(r.sparsity_mean ?? NaN)),
        y: rs.map((r) => val(r, `${col}_mean`) ?? NaN),
        lower: rs.map((r) => val(r, `${col}_ci_low`)),
        upper: rs.map((r) => val(r, `${col}_ci_high`)),
        dashed: String(name).includes('random'),
      };
    });
  };
  const overlay = (col: string) => ({
    name: 'Pareto front',
    x: frontPoints.map((r) => 100 * Number(r.sparsity_mean ?? NaN)),
    y: frontPoints.map((r) => (col === 'accuracy' ? 100 : 1) * Number(r[`${col}_mean`] ?? NaN)),
    labels: frontPoints.map(pointName),
  });
  await writeFileAtomic(
    join(sweepDir, 'accuracy_vs_sparsity.svg'),
    linePlot({
      title: 'Mean test accuracy vs sparsity (95 % CI bands)',
      xLabel: 'sparsity (%)',
      yLabel: 'accuracy (%)',
      series: series('accuracy'),
      overlay: overlay('accuracy'),
    }),
  );
  await writeFileAtomic(
    join(sweepDir, 'ece_vs_sparsity.svg'),
    linePlot({ title: 'Mean ECE vs sparsity (95 % CI bands)', xLabel: 'sparsity (%)', yLabel: 'ECE', series: series('ece'), overlay: overlay('ece') }),
  );

  const denseRows = candidates.filter(isDense);
  const replicates = grid.includes(REPLICATE) || rows.some((r) => r[REPLICATE] !== undefined);
  const maxN = Math.max(0, ...paired.map((r) => Number(r.n)));
  const pointTable = (rs: readonly Row[], cols: readonly string[]) => {
    const withCi = meanStdColumns(rs, cols, ['accuracy', 'nll', 'ece'], 4, { ci: true, showMissing: true });
    const plain = meanStdColumns(rs, cols, ['brier', 'mce', 'mutualInformation', 'sparsity', 'speedup'], 4, { showMissing: true });
    return withCi.map((r, i) => ({ ...r, ...plain[i] }));
  };
  const md = [
    `# Sweep: ${o.experiment}`,
    '',
    `Sweep: ${o.axesText} — ${o.runs} runs.`,
    '',
    `Each value is mean ± sample std (n − 1) over ${replicates ? 'seeds' : 'runs'} of the Monte Carlo predictive, followed by the 95 % confidence interval ` +
      `of the mean [mean ± t₀.₉₇₅,ₙ₋₁ · std/√n] (Student t) where shown. n is the number of runs per operating point; missing values are skipped, ` +
      `never counted as 0 ("(n = k)" when only k values were present). A single run has no spread: "± –". Full columns (mean, std, interval, n) in summary.csv.`,
    '',
    '## Dense models (no pruning)',
    '',
    markdownTable(pointTable(denseRows, [...axesNoSeed, 'variant'])),
    '## Against sparsity',
    '',
    'Shaded bands: 95 % confidence interval of the mean over seeds; rings: the Pareto front (accuracy ↑, sparsity ↑, ECE ↓).',
    '',
    '![accuracy](accuracy_vs_sparsity.svg)',
    '',
    '![ece](ece_vs_sparsity.svg)',
    '',
    markdownTable(pointTable(mc, groupBy)),
    '## Paired comparisons (A − B over the same seeds)',
    '',
    'For each pair, the runs are matched by seed (a seed missing in either is dropped) and the differences A − B summarized: ' +
      'mean difference with its 95 % Student-t confidence interval, marked * where the interval excludes 0, and the exact two-sided ' +
      'Wilcoxon signed-rank p-value (all 2ⁿ sign assignments; zero differences dropped, ties given average ranks; with n = 3 the smallest possible p is 0.25, ' +
      'with n = 5 it is 0.0625). Monte Carlo predictive; every metric and both predictives in paired.csv.',
    '',
  ];
  if (paired.length === 0) md.push('No pair of criteria, variants or axis values shares seeds in this sweep.', '');
  else if (maxN < 2) md.push('Every comparison has a single seed: no interval and no test (add seeds, e.g. `seeds: [1, 2, 3]`).', '');
  for (const factor of ['criterion', 'variant', ...axesNoSeed]) {
    if (!paired.some((r) => r.factor === factor && r.predictive === 'mc')) continue;
    md.push(`### ${FACTOR_TITLE[factor] ?? `\`${factor}\``}`, '', pairedMarkdown(paired, factor, groupBy));
  }
  md.push(
    '## Pareto front',
    '',
    'Operating points (every point × variant × criterion × operating point, means over seeds, Monte Carlo predictive; the dense model once) ' +
      'that no other point beats in all three of accuracy ↑, sparsity ↑ and ECE ↓ (front "sparsity"), or accuracy ↑, theoretical speed-up ↑ ' +
      '(dense multiply-adds / multiply-adds, i.e. multiply-adds ↓) and ECE ↓ (front "macs"); "both" when on both. Also in pareto.csv.',
    '',
  );
  if (paretoRows.length === 0) md.push('No operating point has accuracy, sparsity and ECE.', '');
  else {
    const cols = [...axesNoSeed, 'variant', 'criterion', 'structure', 'unitRatio', 'targetSparsity'].filter((c) =>
      paretoRows.some((r) => r[c] !== null && r[c] !== undefined),
    );
    const shown = pointTable(paretoRows, cols).map((r, i) => ({ ...r, front: paretoRows[i]!.front }));
    md.push(markdownTable(shown, [...cols, 'front', 'n', 'accuracy', 'sparsity', 'speedup', 'ece']));
  }
  await writeFileAtomic(join(sweepDir, 'summary.md'), md.join('\n'));
  await writeHtmlOrWarn(() => writeSweepHtml(sweepDir, o.experiment)); // summary.html (src/experiment/html-report.ts)
  return summary;
}
