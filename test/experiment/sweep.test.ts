import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, validateConfig } from '../../src/experiment/config.js';
import { runSweep, sweepPoints } from '../../src/experiment/sweep.js';
import { useTestBackend } from '../setup-backend.js';

beforeAll(useTestBackend);

const base = {
  experiment: 'sw',
  backend: 'cpu',
  data: { name: 'blobs' },
  model: { arch: 'mlp', hidden: [8] },
  inference: { warmup: { startEpoch: 0, endEpoch: 1 } },
  train: { epochs: 2, batchSize: 50, optimizer: { lr: 0.01 } },
  eval: { samples: 2 },
  pruning: { criteria: ['snr', 'random'], sparsities: [0, 0.5] },
};

describe('sweeps', { timeout: 120_000 }, () => {
  it('expands the grid as a Cartesian product and validates every point first', () => {
    const pts = sweepPoints(validateConfig({ ...base, sweep: { seed: [1, 2], 'inference.temperature': [1, 0.1, 0.01] } }));
    expect(pts.map((p) => p.label)).toEqual([
      'seed-1__inference.temperature-1',
      'seed-1__inference.temperature-0.1',
      'seed-1__inference.temperature-0.01',
      'seed-2__inference.temperature-1',
      'seed-2__inference.temperature-0.1',
      'seed-2__inference.temperature-0.01',
    ]);
    expect(pts[4]!.config.inference.temperature).toBe(0.1);
    expect(pts[4]!.config.seed).toBe(2);
    expect(() => sweepPoints(validateConfig({ ...base, sweep: { 'train.epochs': [1, -1] } }))).toThrow(ConfigError);
  });

  it('aggregates curves over seeds as mean ± sample std', async () => {
    const root = mkdtempSync(join(tmpdir(), 'bp-sweep-'));
    const r = await runSweep(validateConfig({ ...base, sweep: { seed: [1, 2, 3] } }), { resultsDir: root, progress: null });
    expect(existsSync(join(r.sweepDir, 'summary.md'))).toBe(true);
    const runs = readFileSync(join(r.sweepDir, 'runs.csv'), 'utf8').trim().split(/\r?\n/);
    const header = runs[0]!.split(',');
    const col = (name: string) => header.indexOf(name);
    const pick = runs
      .slice(1)
      .map((l) => l.split(','))
      .filter((f) => f[col('criterion')] === 'snr' && f[col('targetSparsity')] === '0.5' && f[col('predictive')] === 'mc');
    expect(pick).toHaveLength(3);
    const acc = pick.map((f) => Number(f[col('accuracy')]));
    const mean = acc.reduce((a, b) => a + b, 0) / 3;
    const std = Math.sqrt(acc.reduce((a, b) => a + (b - mean) ** 2, 0) / 2);
    const row = r.summary.find((s) => s.criterion === 'snr' && s.targetSparsity === 0.5 && s.predictive === 'mc')!;
    expect(row.n).toBe(3);
    expect(row.accuracy_mean).toBeCloseTo(mean, 12);
    expect(row.accuracy_std).toBeCloseTo(std, 12);
    // The dense-model table: one line per model with the dense point's mean ± std.
    const md = readFileSync(join(r.sweepDir, 'summary.md'), 'utf8');
    const dense = r.summary.find((s) => s.criterion === 'snr' && s.targetSparsity === 0 && s.predictive === 'mc')!;
    const denseSection = md.slice(md.indexOf('## Dense models'), md.indexOf('## Against sparsity'));
    expect(denseSection.split('\n').filter((l) => l.startsWith('| main'))).toHaveLength(1);
    expect(denseSection).toContain((dense.nll_mean as number).toFixed(4));
    // Resuming a finished sweep reruns nothing and gives the same summary.
    const again = await runSweep(validateConfig({ ...base, sweep: { seed: [1, 2, 3] } }), { resultsDir: root, progress: null, resume: r.sweepDir });
    expect(again.summary).toEqual(r.summary);
  });
});
