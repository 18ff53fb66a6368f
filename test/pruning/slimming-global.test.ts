import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../../src/data/dataset.js';
import { validateConfig } from '../../src/experiment/config.js';
import { Trainer } from '../../src/inference/trainer.js';
import { Activation, Flatten, MaxPool2d, Reshape } from '../../src/nn/activations.js';
import { BatchNorm } from '../../src/nn/batchnorm.js';
import { Conv2d } from '../../src/nn/conv2d.js';
import { Dense } from '../../src/nn/dense.js';
import { Network } from '../../src/nn/network.js';
import { minChannelsKept, slimmingMasks } from '../../src/pruning/slimming.js';
import { RandomStream } from '../../src/random.js';
import { useTestBackend } from '../setup-backend.js';

beforeAll(useTestBackend);

/** conv1 (c1) → bn1 → relu → pool → conv2 (c2) → bn2 → relu → flatten → fc (3), 8×8×2 inputs. */
function bnNet(c1: number, c2: number, lambda = 0): Network {
  const st = new RandomStream('slim-global-net');
  return new Network(
    [
      new Reshape('reshape', [8, 8, 2]),
      new Conv2d({ name: 'conv1', inH: 8, inW: 8, cin: 2, cout: c1, k: 3, stream: st.fork('c1') }),
      new BatchNorm({ name: 'bn1', channels: c1, l1: lambda }),
      new Activation('a1', 'relu'),
      new MaxPool2d('p1', 2),
      new Conv2d({ name: 'conv2', inH: 3, inW: 3, cin: c1, cout: c2, k: 2, stream: st.fork('c2') }),
      new BatchNorm({ name: 'bn2', channels: c2, l1: lambda }),
      new Activation('a2', 'relu'),
      new Flatten('flatten'),
      new Dense({ name: 'fc', inFeatures: 4 * c2, outFeatures: 3, stream: st.fork('fc') }),
    ],
    [128],
    3,
    'bn conv',
  );
}

function bnsOf(net: Network): BatchNorm[] {
  return net.layers.filter((l): l is BatchNorm => l instanceof BatchNorm);
}

function setGammas(net: Network, g: number[][]): void {
  bnsOf(net).forEach((b, i) => b.gamma.assign(tf.tensor1d(g[i]!)));
}

function droppedUnits(mask: Float32Array, nOut: number): number[] {
  const alive = new Uint8Array(nOut);
  for (let f = 0; f < mask.length; f++) if (mask[f] !== 0) alive[f % nOut] = 1;
  return Array.from(alive.keys()).filter((j) => !alive[j]);
}

/**
 * Brute force: among all sets of exactly k channels that leave every layer at least
 * floor_l channels, the one with the smallest Σ|γ| (the values below are distinct, so it is unique).
 */
function bruteForce(g: number[][], k: number, floors: number[]): string[] {
  const all = g.flatMap((layer, l) => layer.map((v, c) => ({ id: `${l}:${c}`, l, a: Math.abs(Math.fround(v)) })));
  let best: { sum: number; set: string[] } | null = null;
  const n = all.length;
  for (let bits = 0; bits < 1 << n; bits++) {
    let cnt = 0;
    for (let b = bits; b; b &= b - 1) cnt++;
    if (cnt !== k) continue;
    const perLayer = g.map(() => 0);
    let sum = 0;
    const set: string[] = [];
    for (let i = 0; i < n; i++)
      if (bits & (1 << i)) {
        perLayer[all[i]!.l]!++;
        sum += all[i]!.a;
        set.push(all[i]!.id);
      }
    if (perLayer.some((r, l) => g[l]!.length - r < floors[l]!)) continue;
    if (!best || sum < best.sum) best = { sum, set };
  }
  return best!.set.sort();
}

function removedSet(masks: Map<string, Float32Array>, sizes: number[]): string[] {
  return ['conv1', 'conv2'].flatMap((name, l) => droppedUnits(masks.get(`${name}.weight`)!, sizes[l]!).map((c) => `${l}:${c}`)).sort();
}

describe('network slimming: global |γ| ranking with a per-layer floor (inference.slimming.minKeep)', () => {
  it('minChannelsKept: max(1, ⌈minKeep·channels⌉)', () => {
    expect([0, 0.1, 0.25, 0.3, 0.5, 1].map((m) => minChannelsKept(16, m))).toEqual([1, 2, 4, 5, 8, 16]);
    expect(minChannelsKept(10, 0.1)).toBe(1);
    expect(minChannelsKept(3, 0)).toBe(1);
  });

  it('a layer whose |γ| are all small keeps its floor; the rest comes from the next-smallest |γ| of other layers (hand example)', () => {
    const g = [
      [0.1, 0.05, 0.12, 0.08, 0.09, 0.11],
      [0.5, -0.3, 0.9, 0.04, 0.7, 0.6, -0.2, 0.8],
    ];
    const net = bnNet(6, 8);
    setGammas(net, g);
    // 50 % of 14 = 7 channels. Without a floor (minKeep 0: one channel): conv1 keeps only its largest |γ| 0.12 (channel 2),
    // conv2 loses 0.04 (3) and 0.2 (6).
    const a = slimmingMasks(net, 0.5, 'global', 0);
    expect(droppedUnits(a.masks.get('conv1.weight')!, 6)).toEqual([0, 1, 3, 4, 5]);
    expect(droppedUnits(a.masks.get('conv2.weight')!, 8)).toEqual([3, 6]);
    // minKeep 0.5: conv1 keeps 3 (0.1, 0.12, 0.11 → channels 0, 2, 5), conv2 gives 0.04, 0.2, 0.3, 0.5 (3, 6, 1, 0).
    const b = slimmingMasks(net, 0.5, 'global', 0.5);
    expect(droppedUnits(b.masks.get('conv1.weight')!, 6)).toEqual([1, 3, 4]);
    expect(droppedUnits(b.masks.get('conv2.weight')!, 8)).toEqual([0, 1, 3, 6]);
    expect(b.unitsRemoved).toEqual({ 'conv1.weight': 3, 'conv2.weight': 4 });
    expect(b.unitFraction).toBe(0.5);
    expect(droppedUnits(b.masks.get('fc.weight')!, 3)).toEqual([]);
    net.dispose();
  });

  it('equals the brute-force smallest-Σ|γ| channel set under the floors, for random |γ|, ratios and minKeep', () => {
    const s = new RandomStream('slim-global-brute');
    const net = bnNet(5, 7);
    for (let trial = 0; trial < 12; trial++) {
      // Layer 1's scales shifted down in half the trials (as after short Adam training: see configs/bn-cnn-slimming.yaml).
      const shift = trial % 2 ? 0.5 : 0;
      const g = [Array.from({ length: 5 }, () => s.normal() - shift), Array.from({ length: 7 }, () => s.normal())];
      setGammas(net, g);
      for (const minKeep of [0, 0.2, 0.4, 0.6]) {
        const floors = [minChannelsKept(5, minKeep), minChannelsKept(7, minKeep)];
        for (const ratio of [0.25, 0.4, 0.5, 0.6]) {
          const k = Math.round(ratio * 12);
          if (k > 12 - floors[0]! - floors[1]!) {
            expect(() => slimmingMasks(net, ratio, 'global', minKeep)).toThrow(/inference\.slimming: ratio .* minKeep .*lower the ratio or minKeep/);
            continue;
          }
          const { masks } = slimmingMasks(net, ratio, 'global', minKeep);
          expect(removedSet(masks, [5, 7])).toEqual(bruteForce(g, k, floors));
        }
      }
    }
    net.dispose();
  });

  it('the config key: default 0 (one-channel floor), out-of-range values named', () => {
    const base = { experiment: 'x', model: { arch: 'bn-cnn' }, inference: { method: 'slimming' } };
    const cfg = validateConfig(base);
    const sl = (cfg.inference as unknown as { slimming: { minKeep: number; lambda: number; scope: string } }).slimming;
    expect(sl).toMatchObject({ minKeep: 0, lambda: 1e-4, scope: 'global' });
    expect(() => validateConfig({ ...base, inference: { method: 'slimming', slimming: { minKeep: 1.5 } } })).toThrow(/inference\.slimming\.minKeep/);
  });
});

describe('network slimming: the trainer really applies the L1 subgradient λ·sign(γ)', () => {
  /**
   * All-zero inputs and zero biases / β: every pre-BN activation is exactly 0, so x̂ = 0 and the
   * NLL's gradient on γ (Σ ∂L/∂y · x̂) is exactly 0. The only gradient on γ is the penalty's,
   * g = λ·sign(γ), constant over steps. Adam with bias correction then moves γ by
   * lr · m̂/(√v̂ + ε) = lr · λ/(λ + ε) per step, against sign(γ): after k steps
   * γ_k = γ_0 − k · lr · sign(γ_0) · λ/(λ + ε) (no sign change for the values below).
   */
  async function run(lambda: number): Promise<{ before: number[]; after: number[]; steps: number }> {
    const net = bnNet(4, 5, lambda);
    const g0 = [
      [0.8, -0.6, 0.3, 0.5],
      [-0.4, 0.9, 0.6, 0.7, -0.25],
    ];
    setGammas(net, g0);
    for (const l of net.layers) for (const v of l.variables()) if (v.shape.length === 1 && !v.name.includes('gamma')) v.assign(tf.zerosLike(v));
    const n = 40;
    const data: Dataset = { name: 'zeros', x: new Float32Array(n * 128), y: Int32Array.from({ length: n }, (_, i) => i % 3), n, shape: [128], numClasses: 3 };
    const t = new Trainer(net, data, { epochs: 2, batchSize: 10, lr: { name: 'constant', lr: 0.01 }, temperature: 1 }, new RandomStream('l1-train'));
    try {
      await t.run();
    } finally {
      t.dispose();
    }
    const after = bnsOf(net).flatMap((b) => Array.from(b.gamma.dataSync()));
    net.dispose();
    return { before: g0.flat(), after, steps: 2 * Math.ceil(n / 10) };
  }

  it('λ = 1e-4 (the paper and the default): γ_k = γ_0 − k·lr·sign(γ_0)·λ/(λ + 1e-8); λ = 0: γ unchanged', async () => {
    const lambda = 1e-4;
    const lr = 0.01;
    const on = await run(lambda);
    expect(on.steps).toBe(8);
    on.before.forEach((g, i) => expect(on.after[i]).toBeCloseTo(g - on.steps * lr * Math.sign(g) * (lambda / (lambda + 1e-8)), 5));
    const off = await run(0);
    off.before.forEach((g, i) => expect(off.after[i]).toBe(Math.fround(g)));
  });
});
