import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/experiment/config.js';
import { runExperiment } from '../../src/experiment/run.js';
import { useTestBackend } from '../setup-backend.js';

beforeAll(useTestBackend);

/** Brute-force AUROC: P(out > in) + ½ P(out = in) over all pairs. */
function pairwise(a: number[], b: number[]): number {
  let s = 0;
  for (const x of a) for (const y of b) s += y > x ? 1 : y === x ? 0.5 : 0;
  return s / (a.length * b.length);
}

function parseCsv(text: string): Record<string, string>[] {
  const [head, ...lines] = text.trim().split(/\r?\n/);
  const cols = head!.split(',');
  return lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [cols[i]!, v])));
}

describe('a run with eval.ood and pruning.riskControl', { timeout: 120_000 }, () => {
  it('reports OOD, selective, temperature-scaling and risk-control columns at every operating point; dense AUROC recomputes from the saved scores', async () => {
    const root = mkdtempSync(join(tmpdir(), 'bp-ood-'));
    const cfg = validateConfig({
      experiment: 'tiny-ood',
      seed: 5,
      backend: 'cpu',
      data: { name: 'blobs' },
      model: { arch: 'mlp', hidden: [16] },
      inference: { method: 'vi', warmup: { startEpoch: 0, endEpoch: 1 } },
      train: { epochs: 3, batchSize: 50, optimizer: { lr: 0.01 } },
      eval: { samples: 3, ood: { enabled: true, examples: 60 } },
      pruning: { criteria: ['magnitude', 'random'], sparsities: [0, 0.5, 0.9], riskControl: { enabled: true, epsilon: 0.05, delta: 0.1 } },
    });
    const r = await runExperiment(cfg, { resultsDir: root, progress: null });
    const rows = parseCsv(readFileSync(join(r.runDir, 'curves.csv'), 'utf8'));
    const m = JSON.parse(readFileSync(join(r.runDir, 'metrics.json'), 'utf8'));
    const u = m.variants.main.uncertainty;
    // Blobs are not images: rotations, inversion and Fashion-MNIST are skipped with notes; the noise shifts run.
    expect(u.ood.shifts.map((s: { name: string }) => s.name)).toEqual(['gaussian-noise', 'uniform-noise']);
    expect(u.ood.notes.join('\n')).toMatch(/rot30 skipped: data shape \[\d+\] is not an image/);
    expect(u.ood.notes.join('\n')).toMatch(/fashion-mnist skipped/);
    const mc = rows.filter((x) => x.predictive === 'mc');
    const mean = rows.filter((x) => x.predictive === 'mean');
    expect(mc.length).toBeGreaterThanOrEqual(6);
    for (const x of mc) {
      for (const s of ['gaussian-noise', 'uniform-noise'])
        for (const sc of ['entropy', 'mi', 'maxprob'])
          for (const k of ['auroc', 'aupr', 'fpr95']) {
            const v = Number(x[`ood.${s}.${sc}.${k}`]);
            expect(v, `${x.criterion} ${x.targetSparsity} ${s} ${sc} ${k}`).toBeGreaterThanOrEqual(0);
            expect(v).toBeLessThanOrEqual(1);
          }
      expect(Number(x['shift.gaussian-noise.accuracy'])).toBeGreaterThanOrEqual(0);
      expect(Number(x['sel.aurc.entropy'])).toBeGreaterThanOrEqual(0);
      // Entropy split: total = aleatoric + epistemic (CSV values rounded by JSON only).
      expect(Number(x.entropy)).toBeCloseTo(Number(x.expectedEntropy) + Number(x.mutualInformation), 9);
    }
    for (const x of mean) {
      expect(Number(x['ts.temperature'])).toBeGreaterThan(0);
      expect(Number(x['ts.accuracy'])).toBeCloseTo(Number(x.accuracy), 12); // temperature keeps the argmax
    }
    // The dense rows' AUROC equals a brute-force pairwise count over the saved per-example scores.
    const saved = JSON.parse(readFileSync(join(r.runDir, 'uncertainty.json'), 'utf8')).main.denseScores;
    const dense = mc.find((x) => x.targetSparsity === '0')!;
    for (const s of ['gaussian-noise', 'uniform-noise'])
      for (const sc of ['entropy', 'mi', 'maxprob']) {
        expect(saved[s][sc].length).toBe(60);
        expect(Number(dense[`ood.${s}.${sc}.auroc`])).toBeCloseTo(pairwise(saved['in-distribution'][sc], saved[s][sc]), 12);
      }
    // Risk control: one result per criterion, candidates 0.5 and 0.9, the test drop recomputed from its accuracies.
    expect(u.riskControl.map((x: { criterion: string }) => x.criterion)).toEqual(['magnitude', 'random']);
    for (const x of u.riskControl) {
      expect(x.candidates.map((c: { targetSparsity: number }) => c.targetSparsity)).toEqual([0.5, 0.9]);
      expect(x.testDrop).toBeCloseTo(x.denseTestAccuracy - x.chosenTestAccuracy, 12);
      expect(x.calibrationExamples).toBe(Math.floor(0.5 * (x.calibrationExamples + x.testExamples)));
    }
    const report = readFileSync(join(r.runDir, 'report.md'), 'utf8');
    for (const h of [
      '## Out-of-distribution detection against sparsity',
      '## Selective prediction',
      '## Temperature scaling beside the posteriors',
      '## Risk-controlled pruning',
    ])
      expect(report).toContain(h);
  });

  it('refuses bad eval.ood / pruning.riskControl values with one line naming the key', () => {
    const bad = (over: Record<string, unknown>) => () => validateConfig({ experiment: 'x', data: { name: 'blobs' }, ...over });
    expect(bad({ eval: { ood: { shifts: ['rot45'] } } })).toThrow(/eval\.ood\.shifts/);
    expect(bad({ pruning: { riskControl: { delta: 1.5 } } })).toThrow(/pruning\.riskControl\.delta/);
  });
});
