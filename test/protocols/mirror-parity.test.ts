/**
 * What issue 10's PyTorch reference (and our mirror, experiments/protocols/torch_reference.py) assume of a run,
 * checked against hand loops:
 *   - MAP training from a constant-rate Adam config is Adam as torch.optim.Adam computes it (β 0.9 / 0.999,
 *     ε 1e-8, bias correction 1 − βᵗ, the configured rate at every step, no weight decay), on the mean
 *     cross-entropy of batches of a permutation drawn afresh every epoch, and the network a run keeps is the
 *     last step's (no best-validation checkpoint);
 *   - the per-layer magnitude baseline of the sparsegpt protocol removes, in every weight layer (the output
 *     layer included), the round(p·n) weights smallest in |w|, biases kept.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { gaussianBlobs } from '../../src/data/synthetic.js';
import { validateConfig, type ExperimentConfig } from '../../src/experiment/config.js';
import { withProtocols } from '../../src/experiment/protocols.js';
import { pruningCurves } from '../../src/experiment/curves.js';
import { networkFor } from '../../src/inference/methods.js';
import { NetworkPosterior } from '../../src/inference/network-posterior.js';
import { trainOptionsFrom } from '../../src/inference/train-options.js';
import { Trainer } from '../../src/inference/trainer.js';
import type { Network } from '../../src/nn/network.js';
import { RandomStream } from '../../src/random.js';
import { useTestBackend } from '../setup-backend.js';
import { mainModelContext } from '../helpers/protocol-context.js';

beforeAll(useTestBackend);

const DIM = 6;
const CLASSES = 3;
const HIDDEN = 8;
const stream = new RandomStream('mirror-parity');
const all = gaussianBlobs({ n: 300, dim: DIM, numClasses: CLASSES, separation: 2, stream: stream.fork('data') });
const cut = (from: number, to: number) => ({
  ...all,
  n: to - from,
  x: all.x.slice(from * DIM, to * DIM),
  y: all.y.slice(from, to),
  name: `blobs[${from}:${to}]`,
});
const train = cut(0, 60);
const test = cut(60, 300);

function cfgOf(over: Record<string, unknown> = {}): ExperimentConfig {
  return validateConfig({
    experiment: 'mirror-parity',
    seed: 1,
    backend: 'cpu',
    data: { name: 'blobs' },
    model: { arch: 'mlp', hidden: [HIDDEN], init: 'torch-default' },
    inference: { method: 'map' },
    train: { epochs: 3, batchSize: 20, optimizer: { name: 'adam', lr: 0.01, schedule: 'constant' } },
    eval: { samples: 1 },
    pruning: { criteria: ['magnitude'], scope: 'layer', sparsities: [0, 0.8], logAlphaThreshold: null },
    ...over,
  });
}

/** [fc1.w (DIM × HIDDEN, [in, out]), fc1.b, fc2.w (HIDDEN × CLASSES), fc2.b] in float64. */
const paramsOf = (net: Network): Float64Array[] => net.variables().map((v) => Float64Array.from(v.dataSync()));

/** Logits of the one-hidden-layer ReLU MLP, weights [in, out], with optional 0/1 masks of the two weight matrices. */
function logits(p: Float64Array[], x: ArrayLike<number>, masks?: Float64Array[]): { h: Float64Array; z: Float64Array } {
  const [w1, b1, w2, b2] = p as [Float64Array, Float64Array, Float64Array, Float64Array];
  const h = new Float64Array(HIDDEN);
  for (let j = 0; j < HIDDEN; j++) {
    let s = b1[j]!;
    for (let i = 0; i < DIM; i++) s += x[i]! * w1[i * HIDDEN + j]! * (masks ? masks[0]![i * HIDDEN + j]! : 1);
    h[j] = Math.max(0, s);
  }
  const z = new Float64Array(CLASSES);
  for (let k = 0; k < CLASSES; k++) {
    let s = b2[k]!;
    for (let j = 0; j < HIDDEN; j++) s += h[j]! * w2[j * CLASSES + k]! * (masks ? masks[1]![j * CLASSES + k]! : 1);
    z[k] = s;
  }
  return { h, z };
}

/** Gradient of the mean cross-entropy over the examples `idx`, by hand backpropagation. */
function gradient(p: Float64Array[], idx: ArrayLike<number>, data = train): Float64Array[] {
  const g = p.map((t) => new Float64Array(t.length));
  const [gw1, gb1, gw2, gb2] = g as [Float64Array, Float64Array, Float64Array, Float64Array];
  const w2 = p[2]!;
  for (let e = 0; e < idx.length; e++) {
    const j0 = idx[e]!;
    const x = data.x.subarray(j0 * DIM, (j0 + 1) * DIM);
    const { h, z } = logits(p, x);
    const m = Math.max(...z);
    const ex = z.map((v) => Math.exp(v - m));
    const sum = ex.reduce((a, b) => a + b, 0);
    const dz = ex.map((v, k) => (v / sum - (k === data.y[j0] ? 1 : 0)) / idx.length);
    const dh = new Float64Array(HIDDEN);
    for (let k = 0; k < CLASSES; k++) {
      gb2[k]! += dz[k]!;
      for (let j = 0; j < HIDDEN; j++) {
        gw2[j * CLASSES + k]! += h[j]! * dz[k]!;
        dh[j]! += w2[j * CLASSES + k]! * dz[k]!;
      }
    }
    for (let j = 0; j < HIDDEN; j++) {
      if (h[j]! <= 0) continue;
      gb1[j]! += dh[j]!;
      for (let i = 0; i < DIM; i++) gw1[i * HIDDEN + j]! += x[i]! * dh[j]!;
    }
  }
  return g;
}

/** Adam as torch.optim.Adam (Kingma & Ba 2015, Algorithm 1) over the given epochs' permutations. */
function handAdam(p0: Float64Array[], perms: Int32Array[], o: { lr: number; batch: number; eps: number; biasCorrection: boolean }): Float64Array[] {
  const p = p0.map((t) => Float64Array.from(t));
  const m = p.map((t) => new Float64Array(t.length));
  const v = p.map((t) => new Float64Array(t.length));
  let t = 0;
  for (const perm of perms) {
    for (let s = 0; s < perm.length; s += o.batch) {
      t++;
      const g = gradient(p, perm.subarray(s, Math.min(s + o.batch, perm.length)));
      const c1 = o.biasCorrection ? 1 - 0.9 ** t : 1;
      const c2 = o.biasCorrection ? 1 - 0.999 ** t : 1;
      p.forEach((w, a) => {
        for (let i = 0; i < w.length; i++) {
          m[a]![i] = 0.9 * m[a]![i]! + 0.1 * g[a]![i]!;
          v[a]![i] = 0.999 * v[a]![i]! + 0.001 * g[a]![i]! ** 2;
          w[i]! -= (o.lr * (m[a]![i]! / c1)) / (Math.sqrt(v[a]![i]! / c2) + o.eps);
        }
      });
    }
  }
  return p;
}

const maxAbsDiff = (a: Float64Array[], b: Float64Array[]) => Math.max(...a.map((t, i) => Math.max(...t.map((x, j) => Math.abs(x - b[i]![j]!)))));

describe('parity with the PyTorch mirror of issue 10', () => {
  it('MAP training of a constant-rate Adam config is torch.optim.Adam (ε 1e-8, bias correction, fresh permutation each epoch) by a hand loop', async () => {
    const cfg = cfgOf();
    const root = stream.fork('variant');
    const net = networkFor(cfg, train, root);
    const p0 = paramsOf(net);
    const trainStream = root.fork('train');
    // The Trainer's shuffle of epoch e: fork `epoch-e`, then `shuffle` (src/inference/trainer.ts).
    const perms = Array.from({ length: cfg.train.epochs }, (_, e) => trainStream.fork(`epoch-${e}`).fork('shuffle').permutation(train.n));
    expect(perms[1]).not.toEqual(perms[0]);
    const trainer = new Trainer(net, train, trainOptionsFrom(cfg), trainStream);
    const hist = await trainer.run();
    trainer.dispose();
    const ours = paramsOf(net);
    const moved = maxAbsDiff(ours, p0);
    const opts = { lr: 0.01, batch: 20, eps: 1e-8, biasCorrection: true };
    const hand = handAdam(p0, perms, opts);
    // 9 steps of 0.01 each: the weights moved by several steps; the hand loop (float64) agrees to float32 rounding.
    expect(moved).toBeGreaterThan(0.02);
    expect(maxAbsDiff(ours, hand)).toBeLessThan(1e-5);
    expect(hist.map((h) => h.lr)).toEqual([0.01, 0.01, 0.01]);
    // Each factor, changed alone, moves the result far beyond that tolerance (so the test can tell them apart).
    expect(maxAbsDiff(ours, handAdam(p0, perms, { ...opts, biasCorrection: false }))).toBeGreaterThan(1e-3);
    expect(maxAbsDiff(ours, handAdam(p0, [perms[0]!, perms[0]!, perms[0]!], opts))).toBeGreaterThan(1e-3);
    expect(maxAbsDiff(ours, handAdam(p0, perms, { ...opts, lr: 0.009 }))).toBeGreaterThan(1e-3);
    expect(maxAbsDiff(ours, handAdam(p0, perms.slice(0, 2), opts))).toBeGreaterThan(1e-3);
    net.dispose();
  });

  it("ε is 1e-8 (torch), not tfjs's 1e-7: on inputs scaled by 1e-6 the first layer's gradients are ~1e-7 and one step is −lr·g/(|g| + ε)", async () => {
    const tiny = { ...train, x: train.x.map((v) => v * 1e-6), name: 'blobs·1e-6' };
    const cfg = cfgOf({ train: { epochs: 1, batchSize: 60, optimizer: { name: 'adam', lr: 0.01, schedule: 'constant' } } });
    const root = stream.fork('variant-eps');
    const net = networkFor(cfg, tiny, root);
    const p0 = paramsOf(net);
    const trainStream = root.fork('train');
    const g = gradient(p0, trainStream.fork('epoch-0').fork('shuffle').permutation(tiny.n), tiny);
    const trainer = new Trainer(net, tiny, trainOptionsFrom(cfg), trainStream);
    await trainer.run();
    trainer.dispose();
    const moved = net.variables()[0]!.dataSync();
    // fc1.w: every gradient is x·δ with |x| ≲ 1e-5, so of order 1e-7 or smaller (or 0 for an inactive unit).
    const g1 = g[0]!;
    const live = [...g1.keys()].filter((i) => g1[i] !== 0);
    expect(live.length).toBeGreaterThan(g1.length / 4);
    expect(Math.max(...live.map((i) => Math.abs(g1[i]!)))).toBeLessThan(2e-6);
    // One Adam step with bias correction: m̂ = g, v̂ = g², so Δw = −lr·g/(|g| + ε).
    const err = (eps: number) => Math.max(...live.map((i) => Math.abs(moved[i]! - p0[0]![i]! + (0.01 * g1[i]!) / (Math.abs(g1[i]!) + eps))));
    expect(err(1e-8)).toBeLessThan(1e-6);
    expect(err(1e-7)).toBeGreaterThan(1e-3);
    net.dispose();
  });

  it('the per-layer magnitude baseline of sparsegpt removes round(p·n) smallest |w| in every weight layer, output layer included, biases kept', async () => {
    const cfg = cfgOf({
      pruning: {
        criteria: ['magnitude'],
        scope: 'layer',
        sparsities: [0, 0.5, 0.8],
        logAlphaThreshold: null,
        protocols: [{ type: 'sparsegpt', calibration: 60, baseline: true, nm: [] }],
      },
    });
    const root = stream.fork('variant-baseline');
    const net = networkFor(cfg, train, root);
    const trainer = new Trainer(net, train, trainOptionsFrom(cfg), root.fork('train'));
    await trainer.run();
    trainer.dispose();
    const posterior = new NetworkPosterior('map', net);
    const p = paramsOf(net);
    const curves = await pruningCurves(posterior, {
      variant: 'main',
      criteria: ['magnitude'],
      scope: 'layer',
      sparsities: [0.5],
      logAlphaThreshold: null,
      samples: 1,
      batchSize: 1000,
      stream: stream.fork('eval'),
      data: test,
    });
    const out = await withProtocols(curves, mainModelContext(cfg, posterior, { train, evalSet: test }, stream.fork('protocols')));
    const baseline = out.protocols!.rows.filter((r) => r.criterion === 'magnitude-layer' && r.predictive === 'mean');
    expect(baseline.map((r) => r.targetSparsity)).toEqual([0.5, 0.8]);
    for (const s of [0.5, 0.8]) {
      // Brute force: per weight matrix, indices sorted by |w| (ties by index), the first round(s·n) set to 0.
      const masks = [p[0]!, p[2]!].map((w) => {
        const order = [...w.keys()].sort((a, b) => Math.abs(w[a]!) - Math.abs(w[b]!) || a - b);
        const m = new Float64Array(w.length).fill(1);
        for (const j of order.slice(0, Math.round(s * w.length))) m[j] = 0;
        return m;
      });
      let correct = 0;
      for (let e = 0; e < test.n; e++) {
        const { z } = logits(p, test.x.subarray(e * DIM, (e + 1) * DIM), masks);
        if (z.indexOf(Math.max(...z)) === test.y[e]) correct++;
      }
      const row = baseline.find((r) => r.targetSparsity === s)!;
      expect(row.accuracy).toBeCloseTo(correct / test.n, 10);
      // The output layer (HIDDEN × CLASSES = 24 weights) is pruned as well: round(s·24) of them.
      expect(row.layerSparsity.fc2).toBeCloseTo(Math.round(s * HIDDEN * CLASSES) / (HIDDEN * CLASSES), 10);
      expect(row.layerSparsity.fc1).toBeCloseTo(Math.round(s * DIM * HIDDEN) / (DIM * HIDDEN), 10);
    }
    net.dispose();
  });
});
