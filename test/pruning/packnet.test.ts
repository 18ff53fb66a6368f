import { beforeAll, describe, expect, it } from 'vitest';
import { BLOCKED, PackNet, permutePixels } from '../../src/pruning/packnet.js';
import { gaussianBlobs } from '../../src/data/synthetic.js';
import { subset } from '../../src/data/dataset.js';
import { RandomStream } from '../../src/random.js';
import { useTestBackend } from '../setup-backend.js';

beforeAll(useTestBackend);

const dim = 10;
const all = gaussianBlobs({ n: 600, dim, numClasses: 4, separation: 2.5, stream: new RandomStream('packnet-blobs') });
const idx = (a: number, b: number) => Int32Array.from({ length: b - a }, (_, i) => a + i);
const train1 = subset(all, idx(0, 400));
const test1 = subset(all, idx(400, 600));
const perm = new RandomStream('packnet-perm').permutation(dim);
// Task 2: the permuted features with the labels relabelled (c → 3 − c), so it needs weights of its own.
const relabel = (d: typeof all) => ({ ...permutePixels(d, perm, `${d.name}-perm`), y: Int32Array.from(d.y, (c) => 3 - c) });
const train2 = relabel(train1);
const test2 = relabel(test1);
const opts = { hidden: [16, 12], pruneFraction: 0.5, epochs: 4, retrainEpochs: 2, batchSize: 50, lr: 0.01 };

/** Float64 forward pass of task t from the stored weights, written out with loops and the mask owner ∈ [1, t]. */
function forwardByHand(net: PackNet, t: number, x: Float32Array, n: number): Float64Array {
  let h = Float64Array.from(x);
  let width = net.inFeatures;
  net.shapes.forEach(([a, b], l) => {
    const out = new Float64Array(n * b);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < b; j++) {
        let s = net.biases[l]![j]!;
        for (let k = 0; k < a; k++) {
          const o = net.owner[l]![k * b + j]!;
          if (o >= 1 && o <= t) s += h[i * width + k]! * net.values[l]![k * b + j]!;
        }
        out[i * b + j] = Math.max(0, s);
      }
    h = out;
    width = b;
  });
  const w = net.heads[t - 1]!.w.dataSync();
  const bias = net.heads[t - 1]!.b.dataSync();
  const k = bias.length;
  const z = new Float64Array(n * k);
  for (let i = 0; i < n; i++)
    for (let c = 0; c < k; c++) {
      let s = bias[c]!;
      for (let j = 0; j < width; j++) s += h[i * width + j]! * w[j * k + c]!;
      z[i * k + c] = s;
    }
  return z;
}

describe('PackNet (Mallya & Lazebnik 2018)', { timeout: 60_000 }, () => {
  it("task 1's outputs are bit-identical before and after training task 2; masks, ownership and capacity as specified", () => {
    const net = new PackNet(dim, opts);
    const r1 = net.addTask('blobs', train1, test1, new RandomStream('t1'));
    expect(r1.accuracy).toBeGreaterThan(0.6);
    const before = Buffer.from(net.logits(1, test1.x, test1.n).buffer.slice(0));
    const values1 = net.values.map((v) => Float32Array.from(v));
    const owner1 = net.owner.map((o) => Uint8Array.from(o));
    // Task 1 owns exactly n − round(0.5·n) weights per layer (the rest freed, at 0).
    net.shapes.forEach(([a, b], l) => {
      const n = a * b;
      expect(owner1[l]!.filter((o) => o === 1).length).toBe(n - Math.round(0.5 * n));
      owner1[l]!.forEach((o, i) => o === 0 && expect(values1[l]![i]).toBe(0));
    });

    const r2 = net.addTask('blobs-permuted', train2, test2, new RandomStream('t2'));
    expect(r2.accuracy).toBeGreaterThan(0.6);
    const after = Buffer.from(net.logits(1, test1.x, test1.n).buffer.slice(0));
    expect(after.equals(before)).toBe(true);
    expect(net.accuracy(1, test1)).toBe(r1.accuracy);
    net.shapes.forEach(([a, b], l) => {
      const n = a * b;
      const freeAfter1 = owner1[l]!.filter((o) => o === 0).length;
      for (let i = 0; i < n; i++) {
        if (owner1[l]![i] === 1) {
          expect(net.owner[l]![i]).toBe(1);
          expect(net.values[l]![i]).toBe(values1[l]![i]);
        } else expect(net.owner[l]![i]).not.toBe(1);
      }
      expect(net.owner[l]!.filter((o) => o === 2).length).toBe(freeAfter1 - Math.round(0.5 * freeAfter1));
    });
    const cap = net.capacity();
    const total = net.shapes.reduce((s, [a, b]) => s + a * b, 0);
    const count = (v: number) => net.owner.reduce((s, o) => s + o.filter((x) => x === v).length, 0);
    expect(cap.perTask).toEqual([count(1) / total, count(2) / total]);
    expect(cap.free).toBe(count(0) / total);
    expect(r2.capacity).toBe(cap.perTask[1]);

    // Task-specific masks at inference: each task's logits equal a hand-written float64 pass over owner ∈ [1, t].
    for (const [t, ds] of [
      [1, test1],
      [2, test2],
    ] as const) {
      const z = net.logits(t, ds.x.subarray(0, 20 * dim), 20);
      const ref = forwardByHand(net, t, ds.x, 20);
      for (let i = 0; i < ref.length; i++) expect(Math.abs(z[i]! - ref[i]!)).toBeLessThan(1e-4 * (1 + Math.abs(ref[i]!)));
    }
    net.dispose();
  });

  it('blocked weights are never used or trained; bad options and unknown tasks are refused', () => {
    const net = new PackNet(dim, { ...opts, epochs: 1, retrainEpochs: 0 });
    const blocked = net.shapes.map(([a, b]) => Uint8Array.from({ length: a * b }, (_, i) => (i % 3 === 0 ? 1 : 0)));
    net.block(blocked);
    net.addTask('alone', train2, test2, new RandomStream('alone'), false);
    net.owner.forEach((o, l) => o.forEach((v, i) => expect(v === BLOCKED).toBe(blocked[l]![i] === 1)));
    net.owner.forEach((o, l) => o.forEach((v, i) => v === BLOCKED && expect(net.values[l]![i]).toBe(0)));
    expect(net.capacity().free).toBe(0);
    expect(() => net.logits(2, test1.x, 1)).toThrow(/task 2 is not trained/);
    expect(() => new PackNet(dim, { ...opts, pruneFraction: 1 })).toThrow(/pruneFraction/);
    net.dispose();
  });
});
