import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/experiment/config.js';
import { runExperiment } from '../../src/experiment/run.js';
import { writeIdx } from '../../src/data/idx.js';
import { useTestBackend } from '../setup-backend.js';

beforeAll(useTestBackend);

const tiny = (over: Record<string, unknown> = {}) =>
  validateConfig({
    experiment: 'tiny',
    seed: 3,
    backend: 'cpu',
    data: { name: 'blobs' },
    model: { arch: 'mlp', hidden: [16] },
    inference: { method: 'vi', warmup: { startEpoch: 0, endEpoch: 1 } },
    train: { epochs: 3, batchSize: 50, optimizer: { lr: 0.01 } },
    eval: { samples: 3 },
    pruning: { criteria: ['log-alpha', 'magnitude', 'random'], sparsities: [0, 0.5, 0.9] },
    ...over,
  });

/** Wall-clock fields (`seconds`, `trainSeconds`, `costSeconds`, …) and tensor counts zeroed: they differ between identical runs. */
function noClock(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(noClock);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, /seconds$/i.test(k) || k === 'numTensors' ? 0 : noClock(x)]));
  return v;
}

function stable(runDir: string) {
  const m = JSON.parse(readFileSync(join(runDir, 'metrics.json'), 'utf8'));
  const v = m.variants.main;
  return noClock({ curves: v.curves, history: v.history, dense: v.dense }) as { curves: unknown; history: unknown; dense: unknown };
}

describe('running an experiment', { timeout: 120_000 }, () => {
  it('writes the run directory; same seed and backend give identical metrics', async () => {
    const root = mkdtempSync(join(tmpdir(), 'bp-run-'));
    const a = await runExperiment(tiny(), { resultsDir: root, progress: null });
    const b = await runExperiment(tiny(), { resultsDir: root, progress: null });
    expect(a.runDir).not.toBe(b.runDir);
    for (const f of ['config.json', 'manifest.json', 'metrics.json', 'curves.csv', 'report.md', 'accuracy_vs_sparsity.svg', 'ece_vs_sparsity.svg']) {
      expect(existsSync(join(a.runDir, f)), f).toBe(true);
    }
    // No checkpoints or partial directories are left behind.
    expect(readdirSync(join(root, 'tiny')).filter((d) => d.endsWith('.partial'))).toEqual([]);
    expect(readdirSync(a.runDir).filter((f) => f.includes('ckpt') || f.includes('.tmp-'))).toEqual([]);
    expect(stable(a.runDir)).toEqual(stable(b.runDir));
    const man = JSON.parse(readFileSync(join(a.runDir, 'manifest.json'), 'utf8'));
    expect(man.backend.name).toBe('cpu');
    expect(man.seed).toBe(3);
    expect(man.status).toBe('complete');
    expect(man.packages['@tensorflow/tfjs-core']).toBe('4.22.0');
    expect(Date.parse(man.endTime)).toBeGreaterThanOrEqual(Date.parse(man.startTime));
    // A different seed gives different numbers.
    const c = await runExperiment(tiny({ seed: 4 }), { resultsDir: root, progress: null });
    expect(stable(c.runDir).history).not.toEqual(stable(a.runDir).history);
  });

  it('curves have exact operating points and the CSV has one row per point and predictive', async () => {
    const root = mkdtempSync(join(tmpdir(), 'bp-run-'));
    const r = await runExperiment(tiny(), { resultsDir: root, progress: null });
    const rows = r.variants[0]!.curves.rows;
    const weights = 2 * 16 + 16 * 3;
    for (const row of rows.filter((x) => x.targetSparsity !== null)) {
      expect(row.sparsity).toBeCloseTo(Math.round(row.targetSparsity! * weights) / weights, 10);
    }
    // 3 criteria × 3 sparsities + 1 threshold point, each with mc and mean predictive.
    expect(rows.length).toBe((3 * 3 + 1) * 2);
    const csv = readFileSync(join(r.runDir, 'curves.csv'), 'utf8').trim().split(/\r?\n/);
    expect(csv.length).toBe(rows.length + 1);
    expect(csv[0]).toMatch(/^variant,criterion,scope,targetSparsity,structure,unitRatio,sparsity/);
    expect(csv[0]).toMatch(/,sparsity\.fc1,sparsity\.fc2(,|$)/);
    // Per-layer sparsities add up to the total, weighted by layer size.
    for (const row of rows) {
      const total = (row.layerSparsity['fc1']! * 32 + row.layerSparsity['fc2']! * 48) / 80;
      expect(total).toBeCloseTo(row.sparsity, 10);
    }
  });

  it('N:M and structured (unit) operating points from any criterion, with exact counts', async () => {
    const root = mkdtempSync(join(tmpdir(), 'bp-run-'));
    const r = await runExperiment(
      tiny({
        pruning: { criteria: ['magnitude', 'random'], sparsities: [0, 0.5], nm: ['2:4', '1:4'], units: { ratios: [0.5, 0.75] }, logAlphaThreshold: null },
      }),
      { resultsDir: root, progress: null },
    );
    const rows = r.variants[0]!.curves.rows.filter((x) => x.predictive === 'mc');
    // Per criterion: dense, 50 %, 2:4, 1:4, units 50 % and 75 %.
    expect(rows.length).toBe(2 * 6);
    for (const c of ['magnitude', 'random']) {
      // fc1 is 2×16: an input group of 2 < M keeps min(N, 2) per output; fc2 is 16×3: N of every 4 inputs.
      const nm24 = rows.find((x) => x.criterion === c && x.structure === '2:4')!;
      expect(nm24.layerSparsity).toEqual({ fc1: 0, fc2: 0.5 });
      const nm14 = rows.find((x) => x.criterion === c && x.structure === '1:4')!;
      expect(nm14.layerSparsity).toEqual({ fc1: 0.5, fc2: 0.75 });
      expect(nm14.sparsity).toBeCloseTo((0.5 * 32 + 0.75 * 48) / 80, 10);
      // Units: round(r·16) of fc1's 16 units lose their incoming column (2 weights each).
      for (const ratio of [0.5, 0.75]) {
        const u = rows.find((x) => x.criterion === c && x.structure === 'units' && x.unitRatio === ratio)!;
        expect(u.layerSparsity['fc1']).toBeCloseTo(Math.round(ratio * 16) / 16, 10);
      }
    }
    const report = readFileSync(join(r.runDir, 'report.md'), 'utf8');
    expect(report).toContain('## Structured pruning (whole units / channels)');
    expect(existsSync(join(r.runDir, 'accuracy_vs_units.svg'))).toBe(true);
    expect(() => tiny({ pruning: { nm: ['4:2'] } })).toThrow(/1 ≤ N < M/);
  });

  it('a run resumed from a checkpoint gives the same numbers as an uninterrupted run', async () => {
    const root = mkdtempSync(join(tmpdir(), 'bp-run-'));
    const full = await runExperiment(tiny(), { resultsDir: root, progress: null });
    // Interrupt: make the report step fail after training, leaving the partial directory with checkpoints.
    const cfg = tiny();
    let partial = '';
    await expect(
      runExperiment(cfg, {
        resultsDir: root,
        progress: {
          write: (s: string) => {
            const m = /run (\S+):/.exec(s);
            if (m) partial = join(root, 'tiny', `.${m[1]}.partial`);
            if (s.includes('train 100%') || s.includes('train done')) throw new Error('simulated crash');
          },
        },
      }),
    ).rejects.toThrow('simulated crash');
    expect(existsSync(join(partial, 'ckpt-main.ckpt'))).toBe(true);
    expect(existsSync(join(partial, 'metrics.json'))).toBe(false);
    const resumed = await runExperiment(cfg, { resultsDir: root, progress: null, resume: partial });
    expect(stable(resumed.runDir)).toEqual(stable(full.runDir));
    expect(existsSync(partial)).toBe(false);
  });

  it('live tensors stay flat across epochs', async () => {
    const counts: number[] = [];
    const { Trainer } = await import('../../src/inference/trainer.js');
    const { networkFor } = await import('../../src/inference/methods.js');
    const { loadData } = await import('../../src/experiment/run.js');
    const { rootStream } = await import('../../src/random.js');
    const cfg = tiny({ train: { epochs: 6, batchSize: 50 } });
    const data = loadData(cfg);
    const net = networkFor(cfg, data.train, rootStream(1));
    const tr = new Trainer(net, data.train, { epochs: 6, batchSize: 50, lr: { name: 'constant', lr: 0.01 }, temperature: 1 }, rootStream(1));
    await tr.run({ validation: data.validation, onEpoch: () => void counts.push(tf.memory().numTensors) });
    tr.dispose();
    net.dispose();
    expect(new Set(counts.slice(1)).size).toBe(1);
  });
});

describe('command line errors leave no results behind', { timeout: 120_000 }, () => {
  const repo = process.cwd();
  const cli = (args: string[], cwd: string) => spawnSync(join(repo, 'node_modules/.bin/tsx'), [join(repo, 'src/cli.ts'), ...args], { cwd, encoding: 'utf8' });

  function check(args: string[], pattern: RegExp) {
    const cwd = mkdtempSync(join(tmpdir(), 'bp-cli-'));
    const r = cli(args, cwd);
    expect(r.status).toBe(1);
    const err = r.stderr.trim();
    expect(err).toMatch(pattern);
    expect(err.split('\n')[0]).toMatch(/^error: /);
    expect(err).not.toMatch(/\n\s+at /); // no stack trace
    expect(existsSync(join(cwd, 'results'))).toBe(false);
    return err;
  }

  it('unknown key, out-of-range value, missing data file, corrupt IDX file', () => {
    const q = join(process.cwd(), 'configs/quickstart.yaml');
    check(['run', q, 'train.epochz=3'], /train: unknown key "epochz".*allowed: epochs/);
    check(['run', q, 'train.epochs=-2'], /train\.epochs=-2: must be ≥ 0/);
    const empty = mkdtempSync(join(tmpdir(), 'bp-fm-'));
    check(['run', q, 'data.name=fashion-mnist', `data.dir=${empty}`, 'backend=cpu'], new RegExp(`Fashion-MNIST files missing in ${empty}`));
    const bad = mkdtempSync(join(tmpdir(), 'bp-fm-'));
    const imgs = new Uint8Array(5 * 28 * 28);
    writeIdx(join(bad, 'train-images-idx3-ubyte'), [5, 28, 28], imgs);
    writeIdx(join(bad, 'train-labels-idx1-ubyte'), [5], new Uint8Array(5));
    writeIdx(join(bad, 't10k-images-idx3-ubyte'), [5, 28, 28], imgs);
    // A truncated labels file: header says 5 labels, only 2 bytes follow.
    const full = readFileSync(join(bad, 'train-labels-idx1-ubyte'));
    writeFileSync(join(bad, 't10k-labels-idx1-ubyte'), full.subarray(0, full.length - 3));
    check(['run', q, 'data.name=fashion-mnist', `data.dir=${bad}`, 'backend=cpu'], /t10k-labels-idx1-ubyte.*truncated/);
  });

  it('--help and an unknown command', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'bp-cli-'));
    const h = cli(['--help'], cwd);
    expect(h.status).toBe(0);
    expect(h.stdout).toMatch(/Usage: bayesprune/);
    expect(h.stdout).toMatch(/^\s+run\b/m);
    const u = cli(['frobnicate'], cwd);
    expect(u.status).not.toBe(0);
    expect(u.stderr.trim()).toMatch(/^error: unknown command .frobnicate./);
    expect(u.stderr).not.toMatch(/\n\s+at /);
  });
});
