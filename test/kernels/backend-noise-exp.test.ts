import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expFused, expOp } from '../../src/nn/fused/exp.js';
import { backendNoiseFused, laneSeeds, lrtNoise } from '../../src/nn/fused/lrt-noise.js';
import { fusedPaths, setFusedPaths, type FusedPaths } from '../../src/nn/fused/settings.js';
import { useWasmBackend } from '../setup-backend.js';

useWasmBackend();

let saved: FusedPaths;
beforeAll(async () => {
  saved = { ...fusedPaths };
});
afterAll(async () => {
  setFusedPaths(saved);
});

/** Standard normal CDF (Abramowitz–Stegun 7.1.26 via erf, |error| < 1.5e-7). */
function phi(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * z);
  const erf = 1 - t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))) * Math.exp(-z * z);
  return x >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

describe('LRT noise drawn by the wasm kernel', () => {
  it('runs on wasm and is reproducible: the same seed gives the same values, another seed others', () => {
    expect(backendNoiseFused()).toBe(true);
    const a = lrtNoise([37, 11], 12345).dataSync();
    const b = lrtNoise([37, 11], 12345).dataSync();
    const c = lrtNoise([37, 11], 12346).dataSync();
    expect(Array.from(a)).toEqual(Array.from(b));
    let same = 0;
    for (let i = 0; i < a.length; i++) if (a[i] === c[i]) same++;
    expect(same).toBe(0);
  });

  it('fills every entry of odd-sized tensors (the last < 8 values), and a prefix is the same draw', () => {
    for (const n of [1, 3, 7, 8, 9, 15, 17]) {
      const v = lrtNoise([n], 77).dataSync();
      const long = lrtNoise([64], 77).dataSync();
      for (let i = 0; i < n; i++) {
        expect(Number.isFinite(v[i]!)).toBe(true);
        expect(v[i]).toBe(long[i]);
      }
    }
    // The kernel does not write past its tensor: a neighbour allocated right after keeps its values.
    const before = tf.fill([64], 3);
    const x = lrtNoise([5], 9);
    const after = tf.fill([64], 3);
    expect(Array.from(before.dataSync()).every((v) => v === 3)).toBe(true);
    expect(Array.from(after.dataSync()).every((v) => v === 3)).toBe(true);
    tf.dispose([before, x, after]);
  });

  it('is standard normal: mean, variance, kurtosis, the Kolmogorov–Smirnov distance, and no correlation between neighbours or lanes', () => {
    const n = 200_000;
    const v = lrtNoise([n], 4242).dataSync();
    let m = 0;
    for (const x of v) m += x;
    m /= n;
    let q = 0;
    let k4 = 0;
    let c1 = 0;
    let c4 = 0;
    for (let i = 0; i < n; i++) {
      const d = v[i]! - m;
      q += d * d;
      k4 += d ** 4;
      if (i + 1 < n) c1 += d * (v[i + 1]! - m);
      if (i + 4 < n) c4 += d * (v[i + 4]! - m);
    }
    q /= n;
    expect(Math.abs(m)).toBeLessThan(4 / Math.sqrt(n));
    expect(Math.abs(q - 1)).toBeLessThan(4 * Math.sqrt(2 / n));
    expect(Math.abs(k4 / n / (q * q) - 3)).toBeLessThan(4 * Math.sqrt(96 / n));
    expect(Math.abs(c1 / n)).toBeLessThan(4 / Math.sqrt(n));
    expect(Math.abs(c4 / n)).toBeLessThan(4 / Math.sqrt(n));
    const sorted = Float64Array.from(v).sort();
    let ks = 0;
    for (let i = 0; i < n; i++) {
      const f = phi(sorted[i]!);
      ks = Math.max(ks, Math.abs(f - i / n), Math.abs(f - (i + 1) / n));
    }
    expect(ks).toBeLessThan(1.63 / Math.sqrt(n)); // KS critical value at 1 %
  });

  it('lane seeds differ for neighbouring seeds and across lanes', () => {
    const seen = new Set<number>();
    for (let s = 1; s <= 200; s++) for (const k of laneSeeds(s)) seen.add(k);
    expect(seen.size).toBe(800);
  });

  it('with backendNoise off is tfjs’s sequence for the seed', () => {
    setFusedPaths({ backendNoise: false });
    const ref = tf.randomNormal([33], 0, 1, 'float32', 5);
    expect(Array.from(lrtNoise([33], 5).dataSync())).toEqual(Array.from(ref.dataSync()));
    setFusedPaths({ backendNoise: true });
    ref.dispose();
  });
});

describe('SIMD exp of log variances', () => {
  it('equals tf.exp to float32 rounding in value and gradient, including the tail of a size not divisible by 4', () => {
    expect(expFused()).toBe(true);
    const xs = Float32Array.from({ length: 1003 }, (_, i) => -30 + (40 * i) / 1003);
    const x = tf.tensor1d(xs);
    const w = tf.tensor1d(Float32Array.from({ length: 1003 }, (_, i) => Math.sin(i)));
    const f = (e: (t: tf.Tensor) => tf.Tensor) => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(e(t), w)));
    const y = expOp(x).dataSync();
    const g = f(expOp)(x).dataSync();
    setFusedPaths({ expKernel: false });
    const y0 = expOp(x).dataSync();
    const g0 = f(expOp)(x).dataSync();
    setFusedPaths({ expKernel: true });
    for (let i = 0; i < xs.length; i++) {
      expect(Math.abs(y[i]! / Math.exp(xs[i]!) - 1)).toBeLessThan(6e-7);
      expect(Math.abs(y[i]! / y0[i]! - 1)).toBeLessThan(6e-7);
      expect(Math.abs(g[i]! - g0[i]!)).toBeLessThanOrEqual(6e-7 * Math.abs(g0[i]!));
    }
    tf.dispose([x, w]);
  });
});
