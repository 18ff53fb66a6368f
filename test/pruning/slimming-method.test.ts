import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend.js';
import type { Dataset } from '../../src/data/dataset.js';
import { validateConfig } from '../../src/experiment/config.js';
import { BatchNorm } from '../../src/nn/batchnorm.js';
import { fitSlimming } from '../../src/pruning/slimming.js';
import { RandomStream } from '../../src/random.js';

// bn-cnn trains far faster on WebAssembly than on the pure-JS cpu backend; a failing wasm start is a test failure.
beforeAll(async () => {
  await initBackend('wasm', 'flag');
});

describe('inference.method slimming (fitSlimming)', () => {
  it('trains bn-cnn with λ·Σ|γ| in the loss, then adds a compacted, fine-tuned companion per ratio', async () => {
    const lambda = 1e-3;
    const cfg = validateConfig({
      experiment: 'slim-test',
      model: { arch: 'bn-cnn' },
      inference: { method: 'slimming', slimming: { lambda, ratios: [0.5], fineTuneEpochs: 1 } },
      train: { epochs: 1, batchSize: 20, checkpointEvery: 0 },
    });
    const img = (n: number, seed: string): Dataset => {
      const s = new RandomStream(seed);
      const y = Int32Array.from({ length: n }, (_, i) => i % 10);
      return { name: seed, x: Float32Array.from({ length: n * 784 }, () => s.uniform()), y, n, shape: [784], numClasses: 10 };
    };
    const fit = await fitSlimming({ config: cfg, train: img(20, 'tr'), validation: img(8, 'va'), stream: new RandomStream('fit'), hooks: {} });
    const bns = fit.posterior.network.layers.filter((l): l is BatchNorm => l instanceof BatchNorm);
    expect(bns.map((b) => [b.channels, b.l1])).toEqual([
      [16, lambda],
      [32, lambda],
    ]);
    // The epoch's mean loss exceeds its mean NLL by the mean penalty λ·Σ|γ| (γ starts at 1 and moves little in 2 steps).
    const h = fit.history[0]!;
    const sumAbs = bns.reduce((a, b) => a + Array.from(b.gamma.dataSync()).reduce((x, g) => x + Math.abs(g), 0), 0);
    expect(h.loss - h.nll).toBeGreaterThan(0.9 * lambda * sumAbs);
    expect(h.loss - h.nll).toBeLessThan(1.1 * lambda * sumAbs);
    expect(fit.companions!.map((c) => c.name)).toEqual(['slim-0.5']);
    const slim = fit.companions![0]!.posterior.network;
    expect(slim.layers.filter((l): l is BatchNorm => l instanceof BatchNorm).reduce((a, b) => a + b.channels, 0)).toBe(24);
    expect(slim.description).toMatch(/slimmed 50\.0 % of channels \(48 → 24\).*MACs 1054720 → \d+.*measured forward speed-up/);
    expect(fit.slimming[0]!.maxLogitDiff).toBeLessThan(1e-5);
    expect(fit.slimming[0]!.fineTune.length).toBe(1);
    fit.posterior.dispose();
    for (const c of fit.companions!) c.posterior.dispose();
  }, 60_000);
});
