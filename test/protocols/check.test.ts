import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ALL_PROTOCOLS, claimRows } from '../helpers/protocol-rows.js';

const root = mkdtempSync(join(tmpdir(), 'bp-protocols-check-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const tsx = join(process.cwd(), 'node_modules/.bin/tsx');

let n = 0;
function runDir(protocols: { type: string }[], curves: unknown[]): string {
  const dir = join(root, `run-${n++}`);
  mkdirSync(dir);
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ pruning: { protocols } }));
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ durationSeconds: 10 }));
  writeFileSync(join(dir, 'metrics.json'), JSON.stringify({ variants: { main: { epochs: 30, curves } } }));
  return dir;
}

describe('experiments/protocols/check.ts', () => {
  const good = claimRows();
  const all = ALL_PROTOCOLS;

  it('passes on rows meeting every claim (the reference figures of issue 10) and exits 0', () => {
    const r = spawnSync(tsx, ['experiments/protocols/check.ts', runDir(all, good)], { encoding: 'utf8' });
    expect(r.stdout).not.toContain('FAIL');
    expect(r.stdout.match(/PASS/g)).toHaveLength(11);
    expect(r.status).toBe(0);
  });

  it('fails a claim that misses by a little, names missing rows, and lists protocols not run', () => {
    const bad = good.map((x) => (x.protocol === 'fine-tune' ? { ...x, accuracy: 0.934 } : x)).filter((x) => x.protocol !== 'rigl' || x.targetSparsity !== 0.98);
    const r = spawnSync(tsx, ['experiments/protocols/check.ts', runDir(all, bad)], { encoding: 'utf8' });
    expect(r.stdout).toMatch(/FAIL {2}fine-tune recovers to within 1.5 points of dense: 93.40 %/);
    expect(r.stdout).toMatch(/FAIL {2}RigL 98 % ≥ 10 points above random at init: missing row: rigl @ 98 %/);
    expect(r.status).toBe(1);
    const only = spawnSync(tsx, ['experiments/protocols/check.ts', runDir([{ type: 'post-hoc' }, { type: 'sparsegpt' }], good)], { encoding: 'utf8' });
    expect(only.stdout).toContain('not in this run (claims not checked): fine-tune, at-init, rigl');
    expect(only.stdout.match(/PASS/g)).toHaveLength(5);
    expect(only.status).toBe(0);
  });

  it('fails rows without cost columns and post-hoc rows whose epochs differ from the training', () => {
    const noCost = good.map((x, i) => (i === 1 ? { ...x, costTrainMacs: undefined, costEpochs: 12 } : x));
    const r = spawnSync(tsx, ['experiments/protocols/check.ts', runDir(all, noCost)], { encoding: 'utf8' });
    expect(r.stdout).toMatch(/FAIL {2}every row has finite cost columns: 1 of 10 rows lack them/);
    expect(r.stdout).toMatch(/FAIL {2}post-hoc rows cost the model's training epochs: 1 rows differ from 30/);
    expect(r.status).toBe(1);
  });
});
