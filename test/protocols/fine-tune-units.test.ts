import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { gaussianBlobs } from '../../src/data/synthetic.js';
import { validateConfig } from '../../src/experiment/config.js';
import { pruningCurves } from '../../src/experiment/curves.js';
import { withProtocols, type ProtocolRow } from '../../src/experiment/protocols.js';
import { unitProtocolTable } from '../../src/experiment/unit-protocol-report.js';
import { networkFor } from '../../src/inference/methods.js';
import { NetworkPosterior } from '../../src/inference/network-posterior.js';
import { trainOptionsFrom } from '../../src/inference/train-options.js';
import { meanAccuracy, Trainer } from '../../src/inference/trainer.js';
import type { MaskSet } from '../../src/nn/network.js';
import { RandomStream } from '../../src/random.js';
import { useTestBackend } from '../setup-backend.js';
import { mainModelContext } from '../helpers/protocol-context.js';

beforeAll(useTestBackend);

const stream = new RandomStream('fine-tune-units');
const all = gaussianBlobs({ n: 500, dim: 12, numClasses: 4, separation: 2.5, stream: stream.fork('data') });
const cut = (from: number, to: number) => {
  const d = all.x.length / all.n;
  return { ...all, n: to - from, x: all.x.slice(from * d, to * d), y: all.y.slice(from, to), name: `blobs[${from}:${to}]` };
};
const train = cut(0, 350);
const test = cut(350, 500);

describe('fine-tune protocol on the structured points of pruning.units', () => {
  it('fine-tunes each criterion at each unit ratio with the hand-ranked units removed, and the report puts post-hoc beside fine-tuned', async () => {
    const cfg = validateConfig({
      experiment: 'ft-units',
      seed: 1,
      backend: 'cpu',
      data: { name: 'blobs' },
      model: { arch: 'mlp', hidden: [16] },
      inference: { method: 'map' },
      train: { epochs: 8, batchSize: 50, optimizer: { lr: 0.01, schedule: 'constant' } },
      eval: { samples: 1 },
      pruning: {
        criteria: ['filter-l2', 'fpgm'],
        sparsities: [0],
        logAlphaThreshold: null,
        units: { ratios: [0.5], aggregate: 'l2', scope: 'layer' },
        protocols: [{ type: 'fine-tune', epochs: 3, lr: 0.005 }],
      },
    });
    const net = networkFor(cfg, train, stream.fork('init'));
    const t = new Trainer(net, train, trainOptionsFrom(cfg), stream.fork('train'));
    await t.run();
    t.dispose();
    const posterior = new NetworkPosterior('map', net);
    const w1 = Float32Array.from(net.weightLayers()[0]!.moments()!.mean); // fc1 weight [12, 16], column j = unit j
    const before = net.variables().map((v) => Float32Array.from(v.dataSync()));
    const pstream = stream.fork('protocols');
    const curves = await pruningCurves(posterior, {
      variant: 'main',
      criteria: cfg.pruning.criteria,
      scope: 'layer',
      sparsities: [0],
      logAlphaThreshold: null,
      units: cfg.pruning.units,
      samples: 1,
      batchSize: 100,
      stream: stream.fork('curves'),
      data: test,
    });
    const out = await withProtocols(curves, mainModelContext(cfg, posterior, { train, evalSet: test }, pstream)); // pretrained 8 epochs (cfg.train.epochs)
    const rows = out.protocols!.rows as ProtocolRow[];
    // The network is restored after the protocol: same variables, no masks.
    net.variables().forEach((v, i) => expect(Array.from(v.dataSync())).toEqual(Array.from(before[i]!)));
    expect(net.getMasks().size).toBe(0);

    // Hand ranking of fc1's 16 units: ‖column‖₂ (filter-l2) and Σ_k ‖col_j − col_k‖₂ (fpgm); the 8 smallest go.
    const col = (j: number) => Array.from({ length: 12 }, (_, i) => w1[i * 16 + j]!);
    const l2 = Array.from({ length: 16 }, (_, j) => Math.hypot(...col(j)));
    const fp = Array.from({ length: 16 }, (_, j) =>
      Array.from({ length: 16 }, (_, k) => Math.hypot(...col(j).map((v, i) => v - col(k)[i]!))).reduce((a, b) => a + b, 0),
    );
    for (const [criterion, score] of [
      ['filter-l2', l2],
      ['fpgm', fp],
    ] as const) {
      const dropped = new Set(
        Array.from(score.keys())
          .sort((a, b) => score[a]! - score[b]! || a - b)
          .slice(0, 8),
      );
      const ft = rows.filter((r) => r.protocol === 'fine-tune' && r.criterion === criterion && r.structure === 'units');
      expect(ft.map((r) => [r.predictive, r.unitRatio, r.targetSparsity, r.costEpochs])).toEqual([
        ['mc', 0.5, null, 11],
        ['mean', 0.5, null, 11],
      ]);
      // Reproduce the point by hand: masks zeroing the dropped columns of fc1 (and nothing else), the protocol's
      // fine-tuning options and stream, then the accuracy of the fine-tuned network.
      const masks: MaskSet = new Map(
        net.weightLayers().map((l) => {
          const n = l.weightShape!.reduce((a, b) => a * b, 1);
          const m = new Float32Array(n).fill(1);
          if (l === net.weightLayers()[0]) for (let f = 0; f < n; f++) if (dropped.has(f % 16)) m[f] = 0;
          return [`${l.name}.weight`, m];
        }),
      );
      net.setMasks(masks);
      const tr = new Trainer(
        net,
        train,
        { ...trainOptionsFrom(cfg), epochs: 3, lr: { name: 'constant', lr: 0.005 }, warmup: undefined },
        pstream.fork(`fine-tune/${criterion}/units-0.5`),
      );
      await tr.run();
      tr.dispose();
      expect(ft[1]!.accuracy).toBe(meanAccuracy(net, test));
      // Fine-tuning does not lose against the same mask without it (on these blobs).
      const post = curves.rows.find((r) => r.criterion === criterion && r.structure === 'units' && r.predictive === 'mean')!;
      expect(ft[1]!.accuracy).toBeGreaterThanOrEqual(post.accuracy);
      net.setMasks(null);
      net.variables().forEach((v, i) => tf.tidy(() => v.assign(tf.tensor(before[i]!, v.shape))));
    }

    const md = unitProtocolTable([{ name: 'main', curves: out }]).join('\n');
    expect(md).toMatch(/### Structured points/);
    expect(md).toMatch(
      /\| criterion \| units removed \| weights removed \| dense \| post-hoc \| post-hoc vs dense \| fine-tune \| fine-tune vs dense \| fine-tune epochs \|/,
    );
    expect(md.split('\n').filter((l) => /^\| (filter-l2|fpgm) \| 50\.00% \|/.test(l))).toHaveLength(2);
    posterior.dispose();
  }, 120_000);
});
