import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adamFused, FusedAdamOptimizer } from '../../src/nn/fused/adam.js';
import { RandomStream } from '../../src/random.js';
import { useTestBackend } from '../setup-backend.js';

let initial = 'cpu';
beforeAll(async () => {
  initial = await useTestBackend();
});
afterAll(async () => {
  await tf.setBackend(initial);
});

/** Run `steps` Adam steps on a random quadratic-plus-sine loss with `opt`; returns variables and optimizer state. */
async function run(opt: tf.AdamOptimizer, steps: number): Promise<Float32Array[]> {
  const s = new RandomStream('adam-vars');
  const shapes = [[7, 5], [13], [4, 4], [1]];
  const vars = shapes.map((sh) =>
    tf.variable(
      tf.tensor(
        Float32Array.from({ length: sh.reduce((a, b) => a * b) }, () => s.normal()),
        sh,
      ),
    ),
  );
  const targets = shapes.map((sh) =>
    tf.tensor(
      Float32Array.from({ length: sh.reduce((a, b) => a * b) }, () => 3 * s.normal()),
      sh,
    ),
  );
  for (let k = 0; k < steps; k++) {
    (opt as unknown as { learningRate: number }).learningRate = 0.01 * (1 - k / (2 * steps)); // a schedule, as the Trainer sets it
    opt.minimize(() => tf.addN(vars.map((v, i) => tf.sum(tf.add(tf.square(tf.sub(v, targets[i]!)), tf.sin(tf.mul(v, 5)))))) as tf.Scalar, false, vars);
  }
  const ws = await opt.getWeights();
  const out = [...vars.map((v) => Float32Array.from(v.dataSync())), ...ws.map((w) => Float32Array.from(w.tensor.dataSync()))];
  opt.dispose();
  tf.dispose([...vars, ...targets]);
  return out;
}

describe('fused Adam', { timeout: 60_000 }, () => {
  for (const backend of ['wasm', 'cpu']) {
    it(`is bit-identical to tf.train.adam over 25 steps with a changing learning rate on ${backend}`, async () => {
      expect(await tf.setBackend(backend)).toBe(true);
      expect(adamFused()).toBe(backend === 'wasm');
      const a = await run(new FusedAdamOptimizer(0.01, 0.9, 0.999, 1e-8), 25);
      const b = await run(tf.train.adam(0.01, 0.9, 0.999, 1e-8), 25);
      expect(a.length).toBe(b.length);
      for (let i = 0; i < a.length; i++) expect(Array.from(a[i]!)).toEqual(Array.from(b[i]!));
      // The variables moved (the comparison is not between two untouched starts).
      const s = new RandomStream('adam-vars');
      expect(Math.abs(a[0]![0]! - s.normal())).toBeGreaterThan(0.05);
    });
  }
});
