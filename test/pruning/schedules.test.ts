import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { subset } from '../../src/data/dataset.js';
import { gaussianBlobs } from '../../src/data/synthetic.js';
import { pointFactory } from '../../src/inference/layer-factories.js';
import { buildNetwork } from '../../src/nn/builders.js';
import type { Dense } from '../../src/nn/dense.js';
import type { MaskSet, Network } from '../../src/nn/network.js';
import { RandomStream } from '../../src/random.js';
import { magnitudeScores, type ScoreSet } from '../../src/scores/registry.js';
import {
  accuracyOn,
  criterionScorer,
  gradualPrune,
  gradualPruningPoints,
  iterativePrune,
  iterativeSparsities,
  layerSensitivity,
  lotteryTicket,
  masksAtLayerRatios,
  oneShotPrune,
  proposeLayerRatios,
  snapshotVariables,
  trainerFineTune,
  trainFromScratch,
  zhuGuptaSparsity,
  type GradualSchedule,
  type PruningHarness,
} from '../../src/pruning/schedules.js';
import { useTestBackend } from '../setup-backend.js';

beforeAll(useTestBackend);

const stream = new RandomStream('schedules');
const data = gaussianBlobs({ n: 200, dim: 6, numClasses: 3, separation: 3, stream: stream.fork('data') });
const spec = { arch: 'mlp' as const, hidden: [10], activation: 'relu' as const };
const makeNet = (name: string) => buildNetwork(spec, [6], 3, pointFactory(), stream.fork(name));

function magnitude(net: Network): ScoreSet {
  return new Map(net.moments().map((m) => [m.name, magnitudeScores(m)]));
}

/** A "training" step that moves every weight (including masked raw weights) randomly. */
function jiggle(s: RandomStream) {
  return (net: Network) => {
    for (const v of net.variables()) v.assign(tf.tidy(() => tf.add(v, tf.randomNormal(v.shape, 0, 0.3, 'float32', s.nextSeed()))));
  };
}

function zeros(m: MaskSet): number {
  let z = 0;
  for (const a of m.values()) for (const v of a) if (v === 0) z++;
  return z;
}

/** Every weight pruned in `before` is still pruned in `after`. */
function neverRevived(before: MaskSet, after: MaskSet): boolean {
  for (const [name, b] of before) {
    const a = after.get(name)!;
    for (let i = 0; i < b.length; i++) if (b[i] === 0 && a[i] !== 0) return false;
  }
  return true;
}

describe('Zhu & Gupta gradual schedule', () => {
  const s: GradualSchedule = { initialSparsity: 0.1, finalSparsity: 0.9, startStep: 5, numSteps: 8, frequency: 3 };

  it('equals s_f + (s_i − s_f)(1 − (t − t0)/(nΔt))³ at every step, s_i before and s_f after', () => {
    for (let t = 0; t <= 40; t++) {
      let expected: number;
      if (t < 5) expected = 0.1;
      else if (t > 5 + 24) expected = 0.9;
      else expected = 0.9 + (0.1 - 0.9) * (1 - (t - 5) / 24) ** 3;
      expect(zhuGuptaSparsity(t, s)).toBeCloseTo(expected, 14);
    }
    const pts = gradualPruningPoints(s);
    expect(pts.map((p) => p.step)).toEqual([5, 8, 11, 14, 17, 20, 23, 26, 29]);
    pts.forEach((p) => expect(p.sparsity).toBeCloseTo(0.9 + (0.1 - 0.9) * (1 - (p.step - 5) / 24) ** 3, 14));
    expect(pts[0]!.sparsity).toBe(0.1);
    expect(pts.at(-1)!.sparsity).toBe(0.9);
  });

  it('the driver prunes exactly round(s_t·total) weights at each event, never reviving one', async () => {
    const net = makeNet('gradual');
    const total = net.numWeights();
    const masksSeen: MaskSet[] = [];
    const trained: number[] = [];
    const h: PruningHarness = {
      net,
      score: magnitude,
      train: (n, amount) => {
        trained.push(amount);
        jiggle(stream.fork(`g${trained.length}`))(n);
      },
      evaluate: (n) => {
        masksSeen.push(n.getMasks());
        return 0;
      },
    };
    const recs = await gradualPrune(h, s, 2);
    expect(trained).toEqual([5, 3, 3, 3, 3, 3, 3, 3, 3, 2]);
    recs.forEach((r, k) => {
      expect(r.step).toBe(5 + 3 * k);
      expect(r.targetSparsity).toBeCloseTo(zhuGuptaSparsity(r.step, s), 14);
      expect(r.sparsity).toBe(Math.round(r.targetSparsity * total) / total);
    });
    const pruneMasks = masksSeen.filter((_, i) => i % 2 === 0); // evaluate after pruning, then after training
    pruneMasks.forEach((m, k) => {
      expect(zeros(m)).toBe(Math.round(recs[k]!.targetSparsity * total));
      if (k > 0) expect(neverRevived(pruneMasks[k - 1]!, m)).toBe(true);
    });
    net.dispose();
  });
});

describe('iterative pruning', { timeout: 60_000 }, () => {
  it('never revives pruned weights and hits exact counts (global and per layer), with real fine-tuning', async () => {
    for (const scope of ['global', 'layer'] as const) {
      const net = makeNet(`iter-${scope}`);
      const sizes = net.weightLayers().map((l) => l.weightShape!.reduce((a, b) => a * b, 1));
      const total = sizes.reduce((a, b) => a + b, 0);
      const history: MaskSet[] = [];
      const fineTune = trainerFineTune(data, { batchSize: 50, lr: { name: 'constant', lr: 0.01 }, temperature: 1 }, stream.fork('ft'));
      const h: PruningHarness = {
        net,
        scope,
        score: magnitude,
        train: async (n, amount) => {
          await fineTune(n, amount);
          history.push(n.getMasks());
        },
        evaluate: accuracyOn(data),
      };
      const targets = iterativeSparsities(0.9, 4);
      expect(targets.at(-1)!).toBeCloseTo(0.9, 12);
      const recs = await iterativePrune(h, targets, 1);
      recs.forEach((r, k) => {
        const m = history[k]!;
        if (scope === 'global') expect(zeros(m)).toBe(Math.round(r.targetSparsity * total));
        else net.weightLayers().forEach((l, li) => expect(zeros(new Map([['x', m.get(`${l.name}.weight`)!]]))).toBe(Math.round(r.targetSparsity * sizes[li]!)));
        if (k > 0) expect(neverRevived(history[k - 1]!, m)).toBe(true);
        // fine-tuning keeps masked weights at zero in the forward pass (effective weight)
        (net.weightLayers() as Dense[]).forEach((l) => {
          const eff = l.effectiveWeight().dataSync();
          const mask = m.get(`${l.name}.weight`)!;
          mask.forEach((v, i) => v === 0 && expect(Math.abs(eff[i]!)).toBe(0));
        });
      });
      // accuracy recovers after fine-tuning at the last step (blobs are easy)
      expect(recs.at(-1)!.tuned).toBeGreaterThanOrEqual(recs.at(-1)!.pruned - 0.05);
      await expect(iterativePrune(h, [0.5, 0.3], 0)).rejects.toThrow(/must not decrease/);
      net.dispose();
    }
  });

  it('fine-tuning recovers the accuracy that pruning costs (one-shot at 80 %, iterative to 70 %)', async () => {
    // 10-d blobs, 4 classes, 600 train / 600 held out, one draw (shared class means); 10-32-4 ReLU net.
    const st = new RandomStream('recover');
    const all = gaussianBlobs({ n: 1200, dim: 10, numClasses: 4, separation: 2.5, stream: st.fork('data') });
    const train = subset(
      all,
      Int32Array.from({ length: 600 }, (_, i) => i),
      'train',
    );
    const held = subset(
      all,
      Int32Array.from({ length: 600 }, (_, i) => 600 + i),
      'held-out',
    );
    const s10 = { arch: 'mlp' as const, hidden: [32], activation: 'relu' as const };
    const ft = trainerFineTune(train, { batchSize: 50, lr: { name: 'constant', lr: 0.01 }, temperature: 1 }, st.fork('ft'));
    const trained = buildNetwork(s10, [10], 4, pointFactory(), st.fork('init'));
    await ft(trained, 10);
    const evaluate = accuracyOn(held);
    const dense = evaluate(trained);
    expect(dense).toBeGreaterThan(0.8);
    const copy = () => {
      const c = buildNetwork(s10, [10], 4, pointFactory(), st.fork('init'));
      c.variables().forEach((v, i) => v.assign(trained.variables()[i]!));
      return c;
    };
    const one = copy();
    const r = await oneShotPrune({ net: one, score: magnitude, train: ft, evaluate }, 0.8, 6);
    expect(dense - r.pruned).toBeGreaterThan(0.2); // pruning 80 % at once costs > 20 points ...
    expect(r.tuned - r.pruned).toBeGreaterThan(0.2); // ... and 6 epochs of fine-tuning win > 20 back
    expect(r.tuned).toBeGreaterThan(dense - 0.12);
    const iter = copy();
    const recs = await iterativePrune({ net: iter, score: magnitude, train: ft, evaluate }, iterativeSparsities(0.7, 3), 2);
    for (const x of recs) expect(x.tuned).toBeGreaterThan(x.pruned); // every round's fine-tuning helps
    expect(recs.at(-1)!.tuned).toBeGreaterThan(dense - 0.05); // and 70 % ends within 5 points of dense
    for (const n of [trained, one, iter]) n.dispose();
  });

  it('one-shot with a registered criterion', async () => {
    const net = makeNet('oneshot');
    const h: PruningHarness = { net, score: criterionScorer('taylor', { stream, data }), train: () => {}, evaluate: accuracyOn(data) };
    const r = await oneShotPrune(h, 0.5);
    expect(r.sparsity).toBe(Math.round(0.5 * net.numWeights()) / net.numWeights());
    net.dispose();
  });
});

describe('lottery ticket and training from scratch', { timeout: 60_000 }, () => {
  it('rewinds kept weights to their initial values and keeps the masks', async () => {
    const net = makeNet('lottery');
    const init = snapshotVariables(net);
    let round = 0;
    const rewound: Map<string, Float32Array>[] = [];
    const h: PruningHarness = {
      net,
      score: magnitude,
      train: (n) => {
        if (round > 0) rewound.push(snapshotVariables(n)); // state right after the rewind
        round++;
        jiggle(stream.fork(`lt${round}`))(n);
      },
      evaluate: () => 0,
    };
    const recs = await lotteryTicket(h, init, [0.5, 0.75], 1);
    expect(recs.map((r) => r.sparsity)).toEqual([0.5, 0.75].map((s) => Math.round(s * net.numWeights()) / net.numWeights()));
    expect(rewound).toHaveLength(2);
    for (const snap of rewound) for (const [name, v] of snap) expect(Array.from(v)).toEqual(Array.from(init.get(name)!));
    expect(Number.isNaN(recs.at(-1)!.tuned)).toBe(false);
    // the same sparse architecture, freshly initialized, trained from scratch
    const masks = net.getMasks();
    const scratch = await trainFromScratch(
      () => makeNet('scratch'),
      masks,
      () => {},
      () => 1,
      0,
    );
    expect(scratch.net.getMasks().get('fc1.weight')).toEqual(masks.get('fc1.weight'));
    expect(Array.from((scratch.net.weightLayers()[0] as Dense).w.dataSync())).not.toEqual(Array.from(init.values().next().value!));
    scratch.net.dispose();
    net.dispose();
  });
});

/** Brute force for one layer: keep `prior`'s zeros, then remove the lowest remaining scores (ties by index) up to round(r·n) zeros. */
function layerMaskByHand(scores: Float32Array, r: number, prior?: Float32Array): Float32Array {
  const m = prior ? Float32Array.from(prior) : new Float32Array(scores.length).fill(1);
  const order = Array.from(scores.keys())
    .filter((i) => m[i] !== 0)
    .sort((a, b) => scores[a]! - scores[b]! || a - b);
  let z = m.length - order.length;
  for (const i of order) {
    if (z >= Math.round(r * m.length)) break;
    m[i] = 0;
    z++;
  }
  return m;
}

/** Accuracy of a 6-10-3 ReLU MLP computed by explicit loops from the raw weights and the given masks. */
function accuracyByHand(net: Network, masks: MaskSet, ds: typeof data): number {
  const [l1, l2] = net.weightLayers() as Dense[];
  const w1 = l1!.w.dataSync(),
    b1 = l1!.b.dataSync(),
    w2 = l2!.w.dataSync(),
    b2 = l2!.b.dataSync();
  const m1 = masks.get('fc1.weight'),
    m2 = masks.get('fc2.weight');
  const { x, y } = ds;
  let correct = 0;
  for (let n = 0; n < ds.n; n++) {
    const h = new Float64Array(10);
    for (let j = 0; j < 10; j++) {
      let a = b1[j]!;
      for (let i = 0; i < 6; i++) a += x[n * 6 + i]! * w1[i * 10 + j]! * (m1 ? m1[i * 10 + j]! : 1);
      h[j] = Math.max(0, a);
    }
    let best = -Infinity,
      arg = -1;
    for (let c = 0; c < 3; c++) {
      let a = b2[c]!;
      for (let j = 0; j < 10; j++) a += h[j]! * w2[j * 3 + c]! * (m2 ? m2[j * 3 + c]! : 1);
      if (a > best) [best, arg] = [a, c];
    }
    if (arg === y[n]) correct++;
  }
  return correct / ds.n;
}

describe('layer sensitivity', () => {
  it('on an already-pruned network: each metric is that of the brute-force mask (prior kept), drop = base − metric', async () => {
    const net = makeNet('sens');
    const scores = magnitude(net);
    // fc1 already pruned at 80 % by a different (random) ranking, so the magnitude ranking would revive weights.
    const rs = new RandomStream('sens-prior');
    const prior: MaskSet = new Map([
      [
        'fc1.weight',
        layerMaskByHand(
          Float32Array.from({ length: 60 }, () => rs.uniform()),
          0.8,
        ),
      ],
    ]);
    net.setMasks(prior);
    const seen: MaskSet[] = [];
    const evaluate = (n: Network) => {
      seen.push(n.getMasks());
      return accuracyOn(data)(n);
    };
    const ratios = [0.1, 0.5, 0.9];
    const { base, layers } = await layerSensitivity(net, scores, evaluate, ratios);
    expect(base).toBeCloseTo(accuracyByHand(net, prior, data), 12);
    expect(net.getMasks().get('fc1.weight')).toEqual(prior.get('fc1.weight')); // restored
    expect(layers.map((l) => l.weight)).toEqual(['fc1.weight', 'fc2.weight']);
    let k = 1; // seen[0] is the base evaluation
    for (const l of layers) {
      l.ratios.forEach((r, i) => {
        const expected = layerMaskByHand(scores.get(l.weight)!, r, prior.get(l.weight));
        const used = seen[k++]!;
        expect(Array.from(used.get(l.weight)!), `${l.weight} at ${r}`).toEqual(Array.from(expected));
        // The other layer keeps its prior mask (fc2 had none: all kept).
        const other = l.weight === 'fc1.weight' ? 'fc2.weight' : 'fc1.weight';
        if (prior.has(other)) expect(Array.from(used.get(other)!)).toEqual(Array.from(prior.get(other)!));
        const masks = new Map(prior);
        masks.set(l.weight, expected);
        const metric = accuracyByHand(net, masks, data);
        expect(l.metric[i]).toBeCloseTo(metric, 12);
        expect(l.drop[i]).toBeCloseTo(base - metric, 12);
        expect(l.sparsity[i]).toBe(expected.reduce((a, v) => a + (v === 0 ? 1 : 0), 0) / expected.length);
      });
    }
    // fc1 at 10 % and 50 % is evaluated at its real 80 % (the prior mask itself), not revived.
    expect(layers[0]!.sparsity).toEqual([0.8, 0.8, 0.9]);
    expect(layers[1]!.sparsity).toEqual([0.1, 0.5, 0.9]);
    net.setMasks(null);
    net.dispose();
  });

  it('proposes per-layer ratios meeting the budget', () => {
    // synthetic curves: fc1 (60 weights) is robust, fc2 (30 weights) is sensitive
    const syn = [
      { weight: 'fc1.weight', size: 60, ratios: [0.2, 0.5, 0.8], metric: [0, 0, 0], drop: [0, 0.01, 0.02], sparsity: [0.2, 0.5, 0.8] },
      { weight: 'fc2.weight', size: 30, ratios: [0.2, 0.5, 0.8], metric: [0, 0, 0], drop: [0.05, 0.2, 0.5], sparsity: [0.2, 0.5, 0.8] },
    ];
    const p = proposeLayerRatios(syn, 0.5);
    expect(p.met).toBe(true);
    expect(p.ratios.get('fc1.weight')).toBe(0.8);
    expect(p.ratios.get('fc2.weight')).toBe(0);
    expect(p.sparsity).toBeCloseTo(48 / 90, 12);
    expect(proposeLayerRatios(syn, 0.95).met).toBe(false);
    const net = makeNet('ratios');
    const scores = magnitude(net);
    const masks = masksAtLayerRatios(scores, new Map([['fc1.weight', 0.8]]));
    expect(Array.from(masks.get('fc1.weight')!)).toEqual(Array.from(layerMaskByHand(scores.get('fc1.weight')!, 0.8)));
    expect(zeros(new Map([['a', masks.get('fc2.weight')!]]))).toBe(0);
    net.dispose();
  });
});
