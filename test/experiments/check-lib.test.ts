/**
 * The experiment check scripts never drop a claim: a claim whose rows are missing is a
 * FAIL naming them (experiments/lib/check.ts), also end to end on hand-made run directories.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { claimOn, claimsOrFail, printClaims } from '../../experiments/lib/check.js';

describe('claims on rows that may be missing', () => {
  it('claimOn: missing rows FAIL with their names; present rows are checked', () => {
    const check = (r: { a: { x: number }; b: { x: number } }) => ({ value: `${r.a.x} vs ${r.b.x}`, pass: r.a.x > r.b.x });
    expect(claimOn('a beats b', { a: { x: 2 }, b: { x: 1 } }, check)).toEqual({ claim: 'a beats b', value: '2 vs 1', pass: true });
    expect(claimOn('a beats b', { a: { x: 1 }, b: { x: 2 } }, check).pass).toBe(false);
    expect(claimOn('a beats b', { a: undefined, b: { x: 1 } }, check)).toEqual({ claim: 'a beats b', value: 'missing row: a', pass: false });
    expect(claimOn('a beats b', { a: null, b: undefined }, check)).toEqual({ claim: 'a beats b', value: 'missing rows: a, b', pass: false });
    // A check that throws on a malformed row is a FAIL too.
    expect(claimOn('deep', { a: {} as { y: { z: number } } }, (r) => ({ value: String(r.a.y.z), pass: true })).pass).toBe(false);
  });

  it('claimsOrFail and printClaims: a broken run or no claims at all is a FAIL', () => {
    const broken = claimsOrFail(() => {
      const m: { threshold: null | { accuracy: number } } = { threshold: null };
      return [{ claim: 'x', value: '', pass: m.threshold!.accuracy > 0 }];
    });
    expect(broken).toHaveLength(1);
    expect(broken[0]!.pass).toBe(false);
    expect(broken[0]!.value).toMatch(/cannot be checked/);
    const log = console.log;
    console.log = () => {};
    try {
      expect(printClaims('t', [])).toBe(false);
      expect(printClaims('t', [{ claim: 'c', value: 'v', pass: true }])).toBe(true);
      expect(printClaims('t', [{ claim: 'c', value: 'v', pass: true }, ...broken])).toBe(false);
    } finally {
      console.log = log;
    }
  });
});

describe('check scripts on runs with missing rows', { timeout: 60_000 }, () => {
  const tsx = join(process.cwd(), 'node_modules/.bin/tsx');
  const row = (variant: string, criterion: string, targetSparsity: number, accuracy: number) => ({
    variant,
    criterion,
    targetSparsity,
    structure: 'weights',
    predictive: 'mc',
    sparsity: targetSparsity,
    accuracy,
    ece: 0.01,
    nll: 0.1,
  });
  function runDir(metrics: unknown): string {
    const dir = join(mkdtempSync(join(tmpdir(), 'bp-check-')), 'run');
    mkdirSync(dir);
    writeFileSync(join(dir, 'metrics.json'), JSON.stringify(metrics));
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ durationSeconds: 1 }));
    return dir;
  }

  it('sparse-vd-lenet300: no random row at 95 % is a FAIL, not a dropped claim', () => {
    const main = {
      epochs: 50,
      trainSeconds: 10,
      threshold: { accuracy: 0.95, sparsity: { weights: { sparsity: 0.985 } } },
      curves: [row('main', 'snr', 0.95, 0.96), row('main', 'magnitude', 0.95, 0.96)],
    };
    const r = spawnSync(tsx, ['experiments/sparse-vd-lenet300/check.ts', runDir({ variants: { main } })], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/FAIL {2}SNR ≫ random at 95 % \(≥ 10 points\): missing row: random @ 95 %/);
    expect(r.stdout).toMatch(/PASS {2}SNR within 0.5 points of magnitude at 95 %/);
    // No threshold point at all: FAIL, no crash.
    const r2 = spawnSync(tsx, ['experiments/sparse-vd-lenet300/check.ts', runDir({ variants: { main: { ...main, threshold: null } } })], { encoding: 'utf8' });
    expect(r2.status).toBe(1);
    expect(r2.stdout).toMatch(/FAIL {2}log α ≥ 3 prunes ≥ 98 % of weights: missing row: log α threshold point/);
    expect(r2.stderr).not.toMatch(/\n\s+at /);
  });

  it('compare-posteriors: a family without its random row at 90 % is a FAIL', () => {
    const curves = (v: string, withRandom: boolean) =>
      [0.9, 0.95, 0.98].flatMap((s) => [row(v, 'snr', s, 0.9), row(v, 'magnitude', s, 0.8), ...(withRandom ? [row(v, 'random', s, 0.2)] : [])]);
    const variants = {
      main: { curves: curves('main', true) },
      swag: { curves: curves('swag', false) },
      svgd: { curves: curves('svgd', true) },
      laplace: { curves: curves('laplace', true) },
    };
    const r = spawnSync(tsx, ['experiments/compare-posteriors/check.ts', runDir({ variants })], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/FAIL {2}SWAG: SNR beats random at 90 % sparsity: missing row: swag random @ 90 %/);
    expect(r.stdout).toMatch(/PASS {2}VI: SNR beats random at 90 % sparsity/);
  });
});
