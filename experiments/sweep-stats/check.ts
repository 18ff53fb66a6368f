/**
 * Recomputes a sweep's statistics from its `runs.csv` with plain arithmetic written here (no
 * import from src/), and compares them with what the sweep wrote:
 * - every row of `paired.csv` (A − B over the same seeds): n, seeds, mean difference, sample std,
 *   95 % t interval, whether it excludes 0, and the exact Wilcoxon signed-rank p-value
 *   (enumerating all 2ⁿ sign assignments, n ≤ 20), one PASS / FAIL line per row;
 * - that every pair of criteria at every operating point with common seeds is in `paired.csv`;
 * - every `summary.csv` row's accuracy and ECE mean, std and interval (one line with the count).
 *
 *   npx tsx experiments/sweep-stats/check.ts <sweep dir>
 *
 * Exit code 1 if any check fails. The t quantile is computed here from its own integral:
 * with t = √ν·tan θ, P(|T| ≤ q) = ∫₀^θq cos^(ν−1) θ dθ / ∫₀^(π/2) cos^(ν−1) θ dθ, θq = atan(q/√ν),
 * integrated by Simpson's rule and inverted by bisection.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

type Rec = Record<string, string>;

/** RFC 4180 CSV: quoted fields may hold commas, doubled quotes and line breaks. */
export function parseCsv(text: string): Rec[] {
  const records: string[][] = [];
  let field = '';
  let rec: string[] = [];
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      rec.push(field);
      field = '';
    } else if (ch === '\r' || ch === '\n') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      rec.push(field);
      records.push(rec);
      rec = [];
      field = '';
    } else field += ch;
  }
  if (field !== '' || rec.length) {
    rec.push(field);
    records.push(rec);
  }
  const [head, ...body] = records;
  if (!head) return [];
  return body.map((r) => Object.fromEntries(head.map((h, i) => [h, r[i] ?? ''])));
}

/** A number from a CSV field, or null when empty / not a finite number. */
function value(s: string | undefined): number | null {
  if (s === undefined || s.trim() === '') return null;
  const x = Number(s);
  return Number.isFinite(x) ? x : null;
}

const tCache = new Map<number, number>();
/** Two-sided 95 % critical value of Student t with ν degrees of freedom (see the module comment). */
export function t975(nu: number): number {
  const hit = tCache.get(nu);
  if (hit !== undefined) return hit;
  const f = (th: number) => Math.cos(th) ** (nu - 1);
  const simpson = (b: number, steps = 20000) => {
    const h = b / steps;
    let s = f(0) + f(b);
    for (let i = 1; i < steps; i++) s += (i % 2 ? 4 : 2) * f(i * h);
    return (s * h) / 3;
  };
  const total = simpson(Math.PI / 2);
  let lo = 0;
  let hi = Math.PI / 2;
  for (let k = 0; k < 60; k++) {
    const mid = (lo + hi) / 2;
    if (simpson(mid) / total < 0.95) lo = mid;
    else hi = mid;
  }
  const q = Math.sqrt(nu) * Math.tan((lo + hi) / 2);
  tCache.set(nu, q);
  return q;
}

/** Exact two-sided Wilcoxon signed-rank p by enumerating all 2ⁿ signs (zeros dropped, ties averaged); null if nothing to rank. */
export function wilcoxonByEnumeration(d: number[]): number | null {
  const v = d.filter((x) => x !== 0);
  const n = v.length;
  if (n === 0) return null;
  const mag = v.map(Math.abs);
  const rank = mag.map((x) => {
    let below = 0;
    let same = 0;
    for (const y of mag) {
      if (y < x) below++;
      else if (y === x) same++;
    }
    return below + (same + 1) / 2;
  });
  let total = 0;
  let w = 0;
  for (let i = 0; i < n; i++) {
    total += rank[i]!;
    if (v[i]! > 0) w += rank[i]!;
  }
  const observed = Math.abs(w - total / 2);
  let extreme = 0;
  for (let mask = 0; mask < 2 ** n; mask++) {
    let s = 0;
    for (let i = 0; i < n; i++) if (mask & (1 << i)) s += rank[i]!;
    if (Math.abs(s - total / 2) >= observed - 1e-9) extreme++;
  }
  return extreme / 2 ** n;
}

/** Mean, sample std and 95 % interval of the differences, by hand. */
function stats(d: number[]): { mean: number | null; std: number | null; lo: number | null; hi: number | null } {
  const n = d.length;
  if (n === 0) return { mean: null, std: null, lo: null, hi: null };
  let sum = 0;
  for (const x of d) sum += x;
  const mean = sum / n;
  if (n < 2) return { mean, std: null, lo: null, hi: null };
  let ss = 0;
  for (const x of d) ss += (x - mean) ** 2;
  const std = Math.sqrt(ss / (n - 1));
  const half = (t975(n - 1) * std) / Math.sqrt(n);
  return { mean, std, lo: mean - half, hi: mean + half };
}

const STAT_COLS = ['factor', 'a', 'b', 'metric', 'n', 'mean_diff', 'std_diff', 'ci_low', 'ci_high', 'excludes_zero', 'wilcoxon_p', 'zeros', 'seeds'];

/** Equal within 1e-9 (absolute, or relative for large values); null equals null only. */
function close(a: number | null, b: number | null): boolean {
  if (a === null || b === null) return a === b;
  return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
}

const fmt = (x: number | null) => (x === null ? '–' : x.toFixed(6));

export interface CheckResult {
  pass: boolean;
  lines: string[];
  /** Rows of paired.csv checked, and how many passed. */
  paired: { rows: number; passed: number };
  summary: { rows: number; passed: number };
}

/** Check a sweep directory; see the module comment. */
export function checkSweep(dir: string): CheckResult {
  const lines: string[] = [];
  for (const f of ['runs.csv', 'paired.csv'])
    if (!existsSync(join(dir, f))) throw new Error(`${join(dir, f)} not found: is ${dir} a collected sweep directory?`);
  const runs = parseCsv(readFileSync(join(dir, 'runs.csv'), 'utf8'));
  const pairedText = readFileSync(join(dir, 'paired.csv'), 'utf8');
  const paired = parseCsv(pairedText);
  const pairedHeader = pairedText.split(/\r?\n/, 1)[0]!.split(',');
  const context = pairedHeader.filter((c) => !STAT_COLS.includes(c));
  let pairedPass = 0;
  for (const p of paired) {
    // The runs of A and of B: every context column equal, the factor's column A or B.
    const side = (level: string) => {
      const bySeed = new Map<string, number | null>();
      for (const r of runs) {
        if (r[p.factor!] !== level) continue;
        // The dense point (target 0, unstructured) is listed once, with an empty criterion: any criterion's copy matches.
        const dense = p.criterion === '' && p.targetSparsity === '0' && p.structure === 'weights';
        if (!context.every((c) => c === p.factor || (dense && c === 'criterion') || (r[c] ?? '') === p[c])) continue;
        if (!bySeed.has(r.seed!)) bySeed.set(r.seed!, value(r[p.metric!]));
      }
      return bySeed;
    };
    const A = side(p.a!);
    const B = side(p.b!);
    const seeds: string[] = [];
    const d: number[] = [];
    for (const [s, va] of A) {
      const vb = B.get(s);
      if (va === null || vb === null || vb === undefined) continue;
      seeds.push(s);
      d.push(va - vb);
    }
    const st = stats(d);
    const excludes = st.lo !== null && st.hi !== null && (st.lo > 0 || st.hi < 0);
    const pExact = d.length <= 20 ? wilcoxonByEnumeration(d) : undefined;
    const problems: string[] = [];
    if (String(d.length) !== p.n) problems.push(`n ${p.n} ≠ ${d.length}`);
    if (seeds.join(';') !== p.seeds) problems.push(`seeds ${p.seeds} ≠ ${seeds.join(';')}`);
    if (!close(st.mean, value(p.mean_diff))) problems.push(`mean ${p.mean_diff} ≠ ${st.mean}`);
    if (!close(st.std, value(p.std_diff))) problems.push(`std ${p.std_diff} ≠ ${st.std}`);
    if (!close(st.lo, value(p.ci_low)) || !close(st.hi, value(p.ci_high))) problems.push(`CI [${p.ci_low}, ${p.ci_high}] ≠ [${st.lo}, ${st.hi}]`);
    if ((excludes ? 'yes' : 'no') !== p.excludes_zero) problems.push(`excludes_zero ${p.excludes_zero} ≠ ${excludes ? 'yes' : 'no'}`);
    if (pExact !== undefined && !close(pExact, value(p.wilcoxon_p))) problems.push(`p ${p.wilcoxon_p} ≠ ${pExact}`);
    const where = context
      .filter((c) => c !== p.factor && p[c] !== '')
      .map((c) => `${c}=${p[c]}`)
      .join(' ');
    const ok = problems.length === 0;
    if (ok) pairedPass++;
    lines.push(
      `${ok ? 'PASS' : 'FAIL'}  ${p.factor}: ${p.a} − ${p.b} (${where}) ${p.metric}: n=${d.length} mean ${fmt(st.mean)} [${fmt(st.lo)}, ${fmt(st.hi)}]` +
        ` p=${pExact === undefined ? 'n > 20, not checked' : fmt(pExact)}${ok ? '' : ` — ${problems.join('; ')}`}`,
    );
  }

  // Completeness for criteria: every context with ≥ 2 criteria sharing a seed at a sparsity > 0 (or a
  // structured point) must appear, for every metric present in paired.csv.
  const metrics = [...new Set(paired.map((p) => p.metric!))];
  const crit = context.filter((c) => c !== 'criterion');
  const levels = new Map<string, Map<string, Map<string, Rec>>>();
  for (const r of runs) {
    const target = value(r.targetSparsity);
    if (r.structure === 'weights' && !(target !== null && target > 0)) continue;
    const key = JSON.stringify(crit.map((c) => r[c] ?? ''));
    if (!levels.has(key)) levels.set(key, new Map());
    const byCrit = levels.get(key)!;
    if (!byCrit.has(r.criterion!)) byCrit.set(r.criterion!, new Map());
    const bySeed = byCrit.get(r.criterion!)!;
    if (!bySeed.has(r.seed!)) bySeed.set(r.seed!, r);
  }
  let expected = 0;
  for (const byCrit of levels.values()) {
    const cs = [...byCrit.values()];
    for (let i = 0; i < cs.length; i++)
      for (let j = i + 1; j < cs.length; j++)
        for (const m of metrics) {
          let common = 0;
          for (const [s, ra] of cs[i]!) if (value(ra[m]) !== null && value(cs[j]!.get(s)?.[m]) !== null) common++;
          if (common > 0) expected++;
        }
  }
  const found = paired.filter((p) => p.factor === 'criterion').length;
  const complete = expected === found;
  lines.push(
    `${complete ? 'PASS' : 'FAIL'}  paired.csv lists every pair of criteria at every operating point: ${found} rows, ${expected} expected from runs.csv`,
  );

  // summary.csv: mean, std and interval of accuracy and ECE per operating point.
  let sumRows = 0;
  let sumPass = 0;
  if (existsSync(join(dir, 'summary.csv'))) {
    const sText = readFileSync(join(dir, 'summary.csv'), 'utf8');
    const sHeader = sText.split(/\r?\n/, 1)[0]!.split(',');
    const groupCols = sHeader.slice(0, sHeader.indexOf('n'));
    const bad: string[] = [];
    for (const s of parseCsv(sText)) {
      sumRows++;
      const rs = runs.filter((r) => groupCols.every((c) => (r[c] ?? '') === s[c]));
      let ok = String(rs.length) === s.n;
      for (const m of ['accuracy', 'ece']) {
        const xs = rs.map((r) => value(r[m])).filter((x): x is number => x !== null);
        const st = stats(xs);
        ok &&=
          String(xs.length) === s[`${m}_n`] &&
          close(st.mean, value(s[`${m}_mean`])) &&
          close(st.std, value(s[`${m}_std`])) &&
          close(st.lo, value(s[`${m}_ci_low`])) &&
          close(st.hi, value(s[`${m}_ci_high`]));
      }
      if (ok) sumPass++;
      else bad.push(groupCols.map((c) => s[c]).join(' · '));
    }
    lines.push(
      `${bad.length ? 'FAIL' : 'PASS'}  summary.csv: accuracy and ECE mean, std and 95 % interval of ${sumPass} of ${sumRows} operating points match runs.csv` +
        (bad.length ? ` — wrong: ${bad.slice(0, 5).join('; ')}` : ''),
    );
  }
  if (paired.length === 0) lines.push('FAIL  paired.csv has no rows: the sweep needs ≥ 2 criteria, variants or axis values over common seeds');
  const pass = paired.length > 0 && pairedPass === paired.length && complete && sumPass === sumRows;
  return { pass, lines, paired: { rows: paired.length, passed: pairedPass }, summary: { rows: sumRows, passed: sumPass } };
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const dir = process.argv[2];
  if (!dir) {
    console.error('usage: npx tsx experiments/sweep-stats/check.ts <sweep dir>');
    process.exit(2);
  }
  try {
    const r = checkSweep(dir);
    console.log(`${dir}: paired-difference table (paired.csv) and summary.csv recomputed from runs.csv`);
    for (const l of r.lines) console.log(l);
    console.log(r.pass ? `ALL PASS (${r.paired.rows} paired rows, ${r.summary.rows} summary rows)` : 'FAILED');
    process.exit(r.pass ? 0 : 1);
  } catch (e) {
    console.error((e as Error).message);
    process.exit(2);
  }
}
