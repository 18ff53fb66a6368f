import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSweep, parseCsv, t975, wilcoxonByEnumeration } from '../../experiments/sweep-stats/check.js';
import { writeSweepSummary } from '../../src/experiment/sweep-summary.js';
import type { Row } from '../../src/report/table.js';

/**
 * A hand-made sweep: 3 seeds × 2 criteria (snr, random) at target sparsity 0.5, the dense point
 * they share, a log α threshold point, and a second variant `sgd` run with seed 1 only.
 *
 * accuracy at 0.5: snr 0.90, 0.92, 0.94; random 0.85, 0.88, 0.86
 *   d = snr − random = 0.05, 0.04, 0.08; mean = 0.17/3 = 0.0566667
 *   deviations −2/300, −5/300, 7/300; Σ² = 78/90000; s² = 39/90000; s = √39/300 = 0.0208167
 *   t_{0.975,2} = 4.30265273 (table); half width = 4.30265273 · s/√3 = 4.30265273 · √13/300 = 0.0517114
 *   CI = [0.0049553, 0.1083781]: excludes 0 → "*"; Wilcoxon: 3 positive of 3 → p = 2/8 = 0.25
 * ECE at 0.5: snr 0.02, 0.03, missing (seed 3); random 0.05, 0.04, 0.06
 *   seed 3 dropped: d = −0.03, −0.01; mean −0.02; s = √(0.0002/1) = 0.0141421
 *   t_{0.975,1} = 12.7062047; half = 12.7062047 · 0.0141421/√2 = 0.127062; CI = [−0.147062, 0.107062]
 *   Wilcoxon: 2 negative of 2 → p = 2/4 = 0.5
 * summary of snr at 0.5: accuracy mean 0.92, std 0.02, CI 0.92 ± 4.30265273 · 0.02/√3 = 0.92 ± 0.0496827; ECE n = 2
 */
function handRows(): Row[] {
  const rows: Row[] = [];
  const base = { structure: 'weights', unitRatio: null, predictive: 'mc', label: '' };
  const acc = { snr: [0.9, 0.92, 0.94], random: [0.85, 0.88, 0.86] };
  const ece = { snr: [0.02, 0.03, null], random: [0.05, 0.04, 0.06] };
  for (const [i, seed] of [1, 2, 3].entries()) {
    for (const c of ['snr', 'random'] as const) {
      rows.push({ ...base, label: `seed-${seed}`, seed, variant: 'main', criterion: c, targetSparsity: 0, sparsity: 0, speedup: 1, accuracy: 0.95, ece: 0.01 });
      rows.push({
        ...base,
        label: `seed-${seed}`,
        seed,
        variant: 'main',
        criterion: c,
        targetSparsity: 0.5,
        sparsity: 0.5,
        speedup: 2,
        accuracy: acc[c][i]!,
        ece: ece[c][i]!,
      });
    }
    rows.push({
      ...base,
      label: `seed-${seed}`,
      seed,
      variant: 'main',
      criterion: 'log-alpha≥3',
      targetSparsity: null,
      sparsity: 0.7,
      speedup: 3.3,
      accuracy: 0.91,
      ece: 0.03,
    });
  }
  // Variant sgd, seed 1 only: dense 0.94 / ECE 0.02 (dominated by main's dense), snr at 0.5: 0.88 / 0.04.
  rows.push({ ...base, label: 'seed-1', seed: 1, variant: 'sgd', criterion: 'snr', targetSparsity: 0, sparsity: 0, speedup: 1, accuracy: 0.94, ece: 0.02 });
  rows.push({ ...base, label: 'seed-1', seed: 1, variant: 'sgd', criterion: 'snr', targetSparsity: 0.5, sparsity: 0.5, speedup: 2, accuracy: 0.88, ece: 0.04 });
  return rows;
}

async function handSweep(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'bp-sweep-summary-'));
  await writeSweepSummary(dir, { experiment: 'hand', axes: ['seed'], axesText: '`seed` ∈ {1, 2, 3}', runs: 3, rows: handRows() });
  return dir;
}

const read = (dir: string, f: string) => parseCsv(readFileSync(join(dir, f), 'utf8'));
const num = (s: string | undefined) => (s === undefined || s === '' ? null : Number(s));

describe('sweep summary statistics', () => {
  it('the paired-difference table matches the hand computation', async () => {
    const dir = await handSweep();
    const paired = read(dir, 'paired.csv');
    const crit = paired.filter((p) => p.factor === 'criterion');
    // Only target 0.5 is compared across criteria (the dense point is shared, the threshold point unique).
    expect(new Set(crit.map((p) => p.targetSparsity))).toEqual(new Set(['0.5']));
    const acc = crit.find((p) => p.variant === 'main' && p.metric === 'accuracy')!;
    expect([acc.a, acc.b, acc.n, acc.seeds]).toEqual(['snr', 'random', '3', '1;2;3']);
    expect(num(acc.mean_diff)).toBeCloseTo(0.17 / 3, 12);
    expect(num(acc.std_diff)).toBeCloseTo(Math.sqrt(39) / 300, 12);
    expect(num(acc.ci_low)).toBeCloseTo(0.0049553, 6);
    expect(num(acc.ci_high)).toBeCloseTo(0.1083781, 6);
    expect(acc.excludes_zero).toBe('yes');
    expect(num(acc.wilcoxon_p)).toBe(0.25);
    const ece = crit.find((p) => p.variant === 'main' && p.metric === 'ece')!;
    expect([ece.n, ece.seeds, ece.excludes_zero]).toEqual(['2', '1;2', 'no']);
    expect(num(ece.mean_diff)).toBeCloseTo(-0.02, 12);
    expect(num(ece.ci_low)).toBeCloseTo(-0.147062, 6);
    expect(num(ece.ci_high)).toBeCloseTo(0.107062, 6);
    expect(num(ece.wilcoxon_p)).toBe(0.5);
    // main − sgd over the one common seed: a difference, no spread, no interval, p = 2/2 = 1.
    const v = paired.find((p) => p.factor === 'variant' && p.criterion === 'snr' && p.targetSparsity === '0.5' && p.metric === 'accuracy')!;
    expect([v.a, v.b, v.n, v.std_diff, v.ci_low, v.ci_high, v.excludes_zero]).toEqual(['main', 'sgd', '1', '', '', '', 'no']);
    expect(num(v.mean_diff)).toBeCloseTo(0.02, 12);
    // The dense model is compared once (its rows repeat for snr and random), with an empty criterion: main − sgd = 0.95 − 0.94.
    const dense = paired.filter((p) => p.factor === 'variant' && p.targetSparsity === '0' && p.metric === 'accuracy');
    expect(dense.map((p) => [p.criterion, p.n])).toEqual([['', '1']]);
    expect(num(dense[0]!.mean_diff)).toBeCloseTo(0.01, 12);
  });

  it('summary.csv has n, mean, std and the 95 % interval; missing values are skipped', async () => {
    const dir = await handSweep();
    const s = read(dir, 'summary.csv').find((r) => r.variant === 'main' && r.criterion === 'snr' && r.targetSparsity === '0.5')!;
    expect(s.n).toBe('3');
    expect(num(s.accuracy_mean)).toBeCloseTo(0.92, 12);
    expect(num(s.accuracy_std)).toBeCloseTo(0.02, 12);
    expect(num(s.accuracy_ci_low)).toBeCloseTo(0.92 - 0.0496827, 6);
    expect(num(s.accuracy_ci_high)).toBeCloseTo(0.92 + 0.0496827, 6);
    expect(s.ece_n).toBe('2');
    expect(num(s.ece_mean)).toBeCloseTo(0.025, 12);
    // One seed: no spread (empty, not 0).
    const one = read(dir, 'summary.csv').find((r) => r.variant === 'sgd' && r.targetSparsity === '0.5')!;
    expect([one.n, one.accuracy_std, one.accuracy_ci_low, one.accuracy_ci_high]).toEqual(['1', '', '', '']);
  });

  it('summary.md shows the A − B tables, marks intervals excluding 0, and lists the Pareto front', async () => {
    const dir = await handSweep();
    const md = readFileSync(join(dir, 'summary.md'), 'utf8');
    const criteria = md.slice(md.indexOf('### Criteria'), md.indexOf('### Variants'));
    expect(criteria).toContain('| main | weights | 0.5000 | snr − random | 3 | +0.0567 [+0.0050, +0.1084] * | 0.2500 | -0.0200 [-0.1471, +0.1071] | 0.5000 |');
    const variants = md.slice(md.indexOf('### Variants'), md.indexOf('## Pareto'));
    expect(variants).toContain('+0.0200 [–]');
    expect(md).toContain('0.8800 ± –');
    // Front (accuracy ↑, sparsity ↑, ECE ↓): main's dense model (0.95, 0, 0.01), snr at 0.5 (0.92, 0.5, 0.025) and the
    // threshold point (0.91, 0.7, 0.03); random at 0.5 and both sgd points are dominated.
    const pareto = read(dir, 'pareto.csv');
    expect(pareto.map((r) => [r.variant, r.criterion, r.front])).toEqual([
      ['main', 'none (dense)', 'both'],
      ['main', 'snr', 'both'],
      ['main', 'log-alpha≥3', 'both'],
    ]);
    const front = md.slice(md.indexOf('## Pareto front'));
    expect(front).toContain('none (dense)');
    expect(front).toContain('log-alpha≥3');
    expect(front).not.toContain('random');
  });

  it('the plots carry 95 % bands and the Pareto front', async () => {
    const dir = await handSweep();
    const svg = readFileSync(join(dir, 'accuracy_vs_sparsity.svg'), 'utf8');
    // Bands: main·snr and main·random have 3 seeds at both points; sgd·snr has one seed (no band).
    expect((svg.match(/<polygon /g) ?? []).length).toBe(2);
    const overlay = svg.slice(svg.indexOf('class="overlay"'));
    expect((overlay.match(/r="7"/g) ?? []).length).toBe(3 + 1); // three front points + the legend's ring
  });

  it('check.ts recomputes the tables from runs.csv: PASS, and FAIL on a tampered value', async () => {
    const dir = await handSweep();
    const ok = checkSweep(dir);
    expect(ok.lines.filter((l) => l.startsWith('FAIL'))).toEqual([]);
    expect(ok.pass).toBe(true);
    expect(ok.paired.rows).toBeGreaterThanOrEqual(4);
    const file = join(dir, 'paired.csv');
    const text = readFileSync(file, 'utf8');
    const exact = String(0.17 / 3);
    // The mean is computed as ((0.9 − 0.85) + (0.92 − 0.88) + (0.94 − 0.86)) / 3 in floating point; find it in the file.
    const written = parseCsv(text).find((p) => p.factor === 'criterion' && p.metric === 'accuracy')!.mean_diff!;
    expect(Math.abs(Number(written) - Number(exact))).toBeLessThan(1e-15);
    writeFileSync(file, text.replace(written, String(Number(written) + 1e-6)));
    const bad = checkSweep(dir);
    expect(bad.pass).toBe(false);
    expect(bad.lines.filter((l) => l.startsWith('FAIL'))).toHaveLength(1);
    // Dropping a row is caught by the completeness check.
    const lines = text.split('\r\n');
    writeFileSync(file, lines.filter((l) => !(l.startsWith('criterion,') && l.includes(',ece,'))).join('\r\n'));
    expect(checkSweep(dir).lines.find((l) => l.includes('every pair of criteria'))).toMatch(/^FAIL/);
  });

  it('check.ts passes a hand-written runs.csv and paired.csv holding the hand-computed values, and fails a wrong one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bp-sweep-hand-'));
    // One axis whose JSON value holds a comma (a quoted CSV field); the numbers of the comment at the top of this file.
    const runs = [
      'label,seed,model.hidden,variant,criterion,structure,unitRatio,targetSparsity,predictive,accuracy,ece',
      ...[
        [1, 0.9, 0.85, 0.02, 0.05],
        [2, 0.92, 0.88, 0.03, 0.04],
        [3, 0.94, 0.86, '', 0.06],
      ].flatMap(([seed, as, ar, es, er]) => [
        `s${seed},${seed},"[8,4]",main,snr,weights,,0.5,mc,${as},${es}`,
        `s${seed},${seed},"[8,4]",main,random,weights,,0.5,mc,${ar},${er}`,
      ]),
    ];
    writeFileSync(join(dir, 'runs.csv'), runs.join('\r\n') + '\r\n');
    // ν = 2: P(T ≤ q) = ½ + q / (2√(2 + q²)) = 0.975 gives q = 0.95 · √(2 / (1 − 0.95²)) = 4.3026527.
    const t2 = 0.95 * Math.sqrt(2 / (1 - 0.95 ** 2));
    const t1 = Math.tan(Math.PI * 0.475); // ν = 1 (Cauchy): tan(π(p − ½)) = 12.7062
    const accMean = 0.17 / 3;
    const accStd = Math.sqrt(39) / 300;
    const accHalf = (t2 * accStd) / Math.sqrt(3);
    const eceHalf = (t1 * Math.SQRT2 * 0.01) / Math.SQRT2;
    const head =
      'factor,a,b,model.hidden,variant,criterion,structure,unitRatio,targetSparsity,predictive,metric,n,mean_diff,std_diff,ci_low,ci_high,excludes_zero,wilcoxon_p,zeros,seeds';
    const paired = (accLow: number) =>
      [
        head,
        `criterion,snr,random,"[8,4]",main,,weights,,0.5,mc,accuracy,3,${accMean},${accStd},${accLow},${accMean + accHalf},yes,0.25,0,1;2;3`,
        `criterion,snr,random,"[8,4]",main,,weights,,0.5,mc,ece,2,-0.02,${Math.SQRT2 * 0.01},${-0.02 - eceHalf},${-0.02 + eceHalf},no,0.5,0,1;2`,
      ].join('\r\n') + '\r\n';
    writeFileSync(join(dir, 'paired.csv'), paired(accMean - accHalf));
    const ok = checkSweep(dir);
    expect(ok.lines.filter((l) => l.startsWith('FAIL'))).toEqual([]);
    expect(ok.paired).toEqual({ rows: 2, passed: 2 });
    writeFileSync(join(dir, 'paired.csv'), paired(accMean - accHalf * 1.01));
    expect(checkSweep(dir).lines.filter((l) => l.startsWith('FAIL'))).toHaveLength(1);
  });

  it("check.ts's own t quantiles and Wilcoxon enumeration agree with the table and hand cases", () => {
    expect(t975(1)).toBeCloseTo(12.7062, 4);
    expect(t975(2)).toBeCloseTo(4.3027, 4);
    expect(t975(4)).toBeCloseTo(2.7764, 4);
    expect(t975(29)).toBeCloseTo(2.0452, 4);
    expect(wilcoxonByEnumeration([1, 2, 3, 4, 5])).toBe(0.0625);
    expect(wilcoxonByEnumeration([1, 2, 3, 4, -5])).toBe(0.625);
  });

  it('check.ts runs as a script and exits 0 on a correct sweep', { timeout: 60_000 }, async () => {
    const dir = await handSweep();
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'experiments/sweep-stats/check.ts', dir], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/PASS {2}criterion: snr − random .* accuracy: n=3 mean 0\.056667 \[0\.004955, 0\.108378\] p=0\.250000/);
    expect(r.stdout).toContain('ALL PASS');
  });
});
