import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/experiment/config.js';
import { ALL_PROTOCOLS, claimRows } from '../helpers/protocol-rows.js';

// experiments/protocols/check.ts over several seeds: hand-written run and sweep directories,
// means and Student-t intervals computed here by hand (t_{0.975, 2} = 4.302653 from a table).
const root = mkdtempSync(join(tmpdir(), 'bp-protocols-seeds-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const tsx = join(process.cwd(), 'node_modules/.bin/tsx');

const all = ALL_PROTOCOLS;
const curves = (random98: number, fineTune95: number) => claimRows({ random98, fineTune95, snip98: 0.92, rigl98: 0.9 });

let n = 0;
function runDir(seed: number, rows: unknown[], parent = root, extra: Record<string, unknown> = {}): string {
  const dir = join(parent, `run-${n++}-s${seed}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ experiment: 'x', seed, train: { epochs: 30 }, pruning: { protocols: all }, ...extra }));
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ seed, durationSeconds: 10 }));
  writeFileSync(join(dir, 'metrics.json'), JSON.stringify({ variants: { main: { epochs: 30, curves: rows } } }));
  return dir;
}
/** A sweep directory whose points are `seeds`; only those in `finished` get a run. */
function sweepDir(seeds: number[], finished: Map<number, unknown[]>): string {
  const dir = join(root, `sweep-${n++}`);
  const points = seeds.map((seed, index) => ({ index, label: `seed-${seed}-abc`, values: { seed } }));
  mkdirSync(join(dir, 'runs'), { recursive: true });
  writeFileSync(join(dir, 'sweep.json'), JSON.stringify({ points }));
  for (const p of points) {
    mkdirSync(join(dir, 'runs', p.label));
    const rows = finished.get(p.values.seed);
    if (rows) runDir(p.values.seed, rows, join(dir, 'runs', p.label), { experiment: p.label, sweep: { seeds } });
  }
  return dir;
}
const check = (...args: string[]) => spawnSync(tsx, ['experiments/protocols/check.ts', ...args], { encoding: 'utf8' });

/** Mean and 95 % t interval of three values, in points, as check.ts prints them. */
function interval3(xs: number[]): string {
  const m = (xs[0] + xs[1] + xs[2]) / 3;
  const s = Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / 2);
  const h = (4.302653 * s) / Math.sqrt(3);
  const f = (x: number) => `${(100 * x).toFixed(2)} points`;
  return `mean over 3 seeds ${f(m)}, 95 % t interval [${f(m - h)}, ${f(m + h)}]`;
}

describe('experiments/protocols/check.ts over seeds', () => {
  it('decides each claim on the mean of a run and a sweep, printing every seed and the t interval', () => {
    // SNIP − random at 98 %: 0.30, 0.08, 0.32 — seed 2 alone fails (≥ 0.15), the mean 0.2333 passes.
    const seed1 = runDir(1, curves(0.62, 0.94));
    const sweep = sweepDir(
      [2, 3],
      new Map([
        [2, curves(0.84, 0.93)],
        [3, curves(0.6, 0.945)],
      ]),
    );
    const r = check(seed1, sweep);
    const line = r.stdout.split('\n').find((l) => l.includes('SNIP ≥ 15 points above random'))!;
    expect(line).toMatch(/^ {2}PASS/);
    expect(line).toContain(interval3([0.3, 0.08, 0.32]));
    expect(line).toContain('seed 1: 92.00 % vs 62.00 %; seed 2: 92.00 % vs 84.00 %; seed 3: 92.00 % vs 60.00 %');
    // fine-tune below dense: 0.01, 0.02, 0.005, mean 0.01167 ≤ 0.015 passes although seed 2 alone fails.
    const ft = r.stdout.split('\n').find((l) => l.includes('fine-tune recovers'))!;
    expect(ft).toMatch(/^ {2}PASS.*mean over 3 seeds 1\.17 points below dense/);
    expect(r.stdout).toMatch(/PASS {2}the runs are replicates .*: seeds 1, 2, 3\n/);
    expect(r.stdout).not.toContain('FAIL');
    expect(r.status).toBe(0);
    // A mean below the threshold fails: SNIP − random = 0.08, 0.08, 0.22, mean 0.1267 < 0.15, though seed 3 alone passes.
    const low = check(runDir(1, curves(0.84, 0.94)), runDir(2, curves(0.84, 0.94)), runDir(3, curves(0.7, 0.94)));
    expect(low.stdout).toMatch(/FAIL {2}SNIP ≥ 15 points above random at init \(98 %\): mean over 3 seeds 12\.67 points/);
    expect(low.status).toBe(1);
  });

  it('fails on a row missing from one seed, an unfinished sweep point, a repeated seed and differing configs', () => {
    const missing = curves(0.62, 0.94).filter((x) => x.protocol !== 'rigl' || x.targetSparsity !== 0.98);
    const r = check(runDir(1, curves(0.62, 0.94)), runDir(2, missing));
    expect(r.stdout).toMatch(/FAIL {2}RigL 98 % ≥ 10 points above random at init: 1 of 2 runs lack it .*seed 2: missing row: rigl @ 98 %/);
    expect(r.status).toBe(1);

    const unfinished = check(runDir(1, curves(0.62, 0.94)), sweepDir([2, 3], new Map([[2, curves(0.6, 0.94)]])));
    expect(unfinished.stdout).toMatch(/FAIL {2}every sweep point finished .*point seed-3-abc \({"seed":3}\) has no finished run/);
    expect(unfinished.status).toBe(1);

    const twice = check(runDir(1, curves(0.62, 0.94)), runDir(1, curves(0.62, 0.94)));
    expect(twice.stdout).toMatch(/FAIL {2}the runs are replicates .*a seed repeats/);

    const other = check(runDir(1, curves(0.62, 0.94)), runDir(2, curves(0.62, 0.94), root, { train: { epochs: 20 } }));
    expect(other.stdout).toMatch(/FAIL {2}the runs are replicates .*seed 2 differs from seed 1 in train\.epochs/);
    // A null-valued key (a default a later version adds) is not a difference.
    const nul = check(
      runDir(1, curves(0.62, 0.94), root, { inference: { dcff: { ratio: 0.5 } } }),
      runDir(2, curves(0.62, 0.94), root, { inference: { dcff: { ratio: 0.5, epochs: null } } }),
    );
    expect(nul.stdout).toMatch(/PASS {2}the runs are replicates/);
  });

  it('a key one run lacks counts as its current default when comparing replicates', () => {
    // A key one run lacks (written before the framework had it) is the current default: the same config as that
    // default, a difference from any other value.
    const dflt = validateConfig({ experiment: 'x' }).eval.samples;
    const absent = check(runDir(1, curves(0.62, 0.94)), runDir(2, curves(0.62, 0.94), root, { eval: { samples: dflt } }));
    expect(absent.stdout).toMatch(/PASS {2}the runs are replicates/);
    const set = check(runDir(1, curves(0.62, 0.94)), runDir(2, curves(0.62, 0.94), root, { eval: { samples: dflt + 3 } }));
    expect(set.stdout).toMatch(/FAIL {2}the runs are replicates .*seed 2 differs from seed 1 in eval\.samples/);
  });
});
