/**
 * Tables for reports: CSV (RFC 4180), Markdown, and multi-seed aggregation
 * (mean ± sample std), following the reporting practice of Blalock et al. 2020
 * (mean ± std over ≥ 3 seeds per operating point).
 *
 * Why `summarize` does not use danfojs-node (checked with danfojs-node 1.1.2
 * as installed here, Node 20): `await import('danfojs-node')` fails with
 * "Cannot find module '@tensorflow/tfjs'" — its `dist/.../tensorflowlib.js`
 * requires `@tensorflow/tfjs`, while the package.json override installs the
 * tfjs alias under the name `@tensorflow/tfjs-node`. With that path shimmed
 * (NODE_PATH) the import took ≈ 1.2 s, but `groupby(...).col(...).mean()`
 * treated a null as 0 (mean of [10, null] = 5), `std()` threw on null, and
 * the std of a one-row group came out 0 instead of undefined. Aggregation over
 * seeds must skip missing values and never invent a zero spread, so it is
 * implemented here in plain TypeScript (a few dozen lines, no load time).
 * @module
 */

import { describe } from '../stats/describe.js';

/** A table cell. */
export type Cell = number | string | null;

/** A table row: column name → cell (missing keys are empty cells). */
export type Row = Record<string, Cell | undefined>;

/** Options of {@link markdownTable}. */
export interface MarkdownOptions {
  /** Decimals for non-integer numbers (default 4); see {@link formatNumber}. */
  digits?: number;
}

/** Column names in first-seen order over all rows. */
export function columnsOf(rows: readonly Row[]): string[] {
  const seen = new Set<string>();
  const cols: string[] = [];
  for (const row of rows) {
    for (const k of Object.keys(row)) {
      if (!seen.has(k)) {
        seen.add(k);
        cols.push(k);
      }
    }
  }
  return cols;
}

/** One CSV field per RFC 4180: quoted (with `"` doubled) iff it contains `,`, `"`, CR or LF. */
export function csvField(value: Cell | undefined): string {
  if (value === null || value === undefined) return '';
  // String(number) is the shortest representation that round-trips exactly
  // (full float64 precision); NaN and ±Infinity are written as NaN / Infinity / -Infinity.
  const s = typeof value === 'number' ? String(value) : value;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * CSV text per RFC 4180: a header line, one record per row, CRLF line breaks
 * (including after the last record), fields quoted when they contain a comma,
 * quote or line break. Numbers keep full precision (`String(x)` round-trips);
 * null/undefined become empty fields. `columns` defaults to all keys in
 * first-seen order.
 */
export function toCsv(rows: readonly Row[], columns?: readonly string[]): string {
  const cols = columns ?? columnsOf(rows);
  const lines = [cols.map((c) => csvField(c)).join(',')];
  for (const row of rows) lines.push(cols.map((c) => csvField(row[c])).join(','));
  return lines.join('\r\n') + '\r\n';
}

/**
 * Fixed-decimal formatting for tables: integers as is; other finite numbers
 * with `digits` decimals (`toFixed(digits)`), except |x| < 10^−digits or
 * |x| ≥ 1e6, written `toExponential(max(1, digits − 1))` so that small values
 * (KL weights, learning rates) do not print as 0.0000. NaN → "NaN", ±∞ → "∞"/"−∞".
 */
export function formatNumber(x: number, digits = 4): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return '∞';
  if (x === -Infinity) return '−∞';
  if (Number.isInteger(x) && Math.abs(x) < 1e15) return String(x);
  const a = Math.abs(x);
  if (a < 10 ** -digits || a >= 1e6) return x.toExponential(Math.max(1, digits - 1));
  return x.toFixed(digits);
}

function mdCell(v: Cell | undefined, digits: number): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'number' ? formatNumber(v, digits) : v;
  return s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

/**
 * GitHub-flavoured Markdown table. Numbers are formatted by {@link formatNumber}
 * with `digits` decimals (default 4); columns holding only numbers (or empty
 * cells) are right-aligned; `|` in text is escaped and line breaks become
 * spaces. `columns` defaults to all keys in first-seen order.
 */
export function markdownTable(rows: readonly Row[], columns?: readonly string[], options: MarkdownOptions = {}): string {
  const digits = options.digits ?? 4;
  const cols = columns ?? columnsOf(rows);
  const numeric = cols.map((c) => rows.every((r) => r[c] === null || r[c] === undefined || typeof r[c] === 'number'));
  const lines = [`| ${cols.map((c) => mdCell(c, digits)).join(' | ')} |`, `| ${cols.map((_, i) => (numeric[i] ? '---:' : '---')).join(' | ')} |`];
  for (const r of rows) lines.push(`| ${cols.map((c) => mdCell(r[c], digits)).join(' | ')} |`);
  return lines.join('\n') + '\n';
}

/** Result of {@link meanStd}. */
export interface MeanStd {
  /** Mean of the finite values (NaN if none). */
  mean: number;
  /** Sample standard deviation, n − 1 in the denominator (NaN if n < 2). */
  std: number;
  /** Number of finite values. */
  n: number;
}

/**
 * Mean and sample standard deviation of the finite values of `xs`:
 * mean = (1/n) Σ x, std = sqrt(Σ (x − mean)² / (n − 1)).
 */
export function meanStd(xs: readonly number[]): MeanStd {
  const v = xs.filter((x) => Number.isFinite(x));
  const n = v.length;
  if (n === 0) return { mean: NaN, std: NaN, n: 0 };
  let m = 0;
  for (const x of v) m += x;
  m /= n;
  if (n === 1) return { mean: m, std: NaN, n };
  let ss = 0;
  for (const x of v) ss += (x - m) * (x - m);
  return { mean: m, std: Math.sqrt(ss / (n - 1)), n };
}

/**
 * Multi-seed aggregation: rows grouped by the values of `groupBy` (groups in
 * first-appearance order; a number and the string of that number are different
 * keys), and for each `valueCols` column c the columns `c_mean`, `c_std`,
 * `c_ci_low`, `c_ci_high` and `c_n`, plus `n` = number of rows in the group.
 *
 * mean = (1/n) Σ x; std = sqrt(Σ (x − mean)² / (n − 1)), the sample standard
 * deviation (Bessel's correction); the 95 % confidence interval of the mean is
 * mean ± t_{0.975, n−1} · std / √n (Student t). `c_mean` is null when no value
 * counts; `c_std` and the interval are null when fewer than 2 do (never a made-up
 * 0). Only finite numbers count: null, missing, strings, NaN and ±∞ are skipped
 * (hence `c_n`, which may be smaller than `n`).
 */
export function summarize(rows: readonly Row[], groupBy: readonly string[], valueCols: readonly string[]): Row[] {
  const groups = new Map<string, Row[]>();
  for (const row of rows) {
    const key = JSON.stringify(groupBy.map((g) => (row[g] === undefined ? null : [typeof row[g], row[g]])));
    let list = groups.get(key);
    if (!list) {
      list = [];
      groups.set(key, list);
    }
    list.push(row);
  }
  const out: Row[] = [];
  for (const list of groups.values()) {
    const res: Row = {};
    for (const g of groupBy) res[g] = list[0][g] ?? null;
    res.n = list.length;
    for (const c of valueCols) {
      const xs: number[] = [];
      for (const r of list) {
        const v = r[c];
        if (typeof v === 'number' && Number.isFinite(v)) xs.push(v);
      }
      const s = describe(xs);
      res[`${c}_mean`] = s.mean;
      res[`${c}_std`] = s.std;
      res[`${c}_ci_low`] = s.ciLow;
      res[`${c}_ci_high`] = s.ciHigh;
      res[`${c}_n`] = s.n;
    }
    out.push(res);
  }
  return out;
}

/** Options of {@link meanStdColumns}. */
export interface MeanStdColumnsOptions {
  /**
   * Append the 95 % interval: "mean ± std [ci_low, ci_high]"; a value with no spread
   * (n = 1) is written "mean ± –" (never ± 0).
   */
  ci?: boolean;
  /** Write "mean (n = c_n)" after the cell when c_n differs from the group's n (missing values skipped). */
  showMissing?: boolean;
}

/**
 * Merge the `c_mean` / `c_std` columns of {@link summarize} output into one
 * display column `c` holding "mean ± std" (or just the mean when the std is
 * missing), keeping the group columns and `n`. For Markdown reports; see
 * {@link MeanStdColumnsOptions} for the interval.
 */
export function meanStdColumns(
  summary: readonly Row[],
  groupBy: readonly string[],
  valueCols: readonly string[],
  digits = 4,
  options: MeanStdColumnsOptions = {},
): Row[] {
  return summary.map((row) => {
    const res: Row = {};
    for (const g of groupBy) res[g] = row[g] ?? null;
    res.n = row.n ?? null;
    for (const c of valueCols) {
      const m = row[`${c}_mean`];
      const s = row[`${c}_std`];
      const lo = row[`${c}_ci_low`];
      const hi = row[`${c}_ci_high`];
      let cell: string | null;
      if (typeof m !== 'number') cell = null;
      else if (!options.ci) cell = typeof s === 'number' ? `${formatNumber(m, digits)} ± ${formatNumber(s, digits)}` : formatNumber(m, digits);
      else {
        const spread = typeof s === 'number' ? formatNumber(s, digits) : '–';
        const ci = typeof lo === 'number' && typeof hi === 'number' ? ` [${formatNumber(lo, digits)}, ${formatNumber(hi, digits)}]` : '';
        cell = `${formatNumber(m, digits)} ± ${spread}${ci}`;
      }
      const cn = row[`${c}_n`];
      if (cell !== null && options.showMissing && typeof cn === 'number' && typeof row.n === 'number' && cn !== row.n) cell += ` (n = ${cn})`;
      res[c] = cell;
    }
    return res;
  });
}
