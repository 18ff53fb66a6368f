import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { LrtDense } from '../../src/bayes/lrt-dense.js';
import { klLogUniform, logAlpha, SPARSE_VD_K } from '../../src/bayes/priors.js';
import { setFusedPaths } from '../../src/nn/fused/settings.js';
import { sparseVdKl, sparseVdKlFused, sparseVdKlLoop } from '../../src/nn/fused/sparse-vd-kl.js';
import { RandomStream } from '../../src/random.js';
import { useWasmBackend } from '../setup-backend.js';

useWasmBackend();

afterAll(async () => {
  setFusedPaths({ klKernel: true });
});

/** Random (θ, log σ²) covering log α inside and outside ±8, θ = 0 and tiny |θ|. */
function inputs(n: number, seed: string): { th: Float32Array; ls: Float32Array } {
  const s = new RandomStream(seed);
  const th = Float32Array.from({ length: n }, (_, i) => (i % 17 === 0 ? 0 : i % 13 === 0 ? 1e-5 * s.normal() : 0.3 * s.normal()));
  const ls = Float32Array.from({ length: n }, () => -22 + 26 * s.uniform());
  return { th, ls };
}

const maxRel = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let scale = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]!));
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!) / (Math.abs(b[i]!) + 1e-6 * scale));
  return m;
};

describe('fused sparse-VD KL kernel (wasm)', { timeout: 60_000 }, () => {
  it('is the active path on wasm', () => {
    expect(sparseVdKlFused()).toBe(true);
  });

  it('matches a hand-derived value and gradient at θ = 1, log σ² = 0 (log α ≈ 0)', () => {
    const { k1, k2, k3 } = SPARSE_VD_K;
    const gT = new Float32Array(1);
    const gL = new Float32Array(1);
    const v = sparseVdKlLoop(Float32Array.of(1), Float32Array.of(0), gT, gL);
    const s = 1 / (1 + Math.exp(-k2));
    expect(v).toBeCloseTo(k1 - k1 * s + 0.5 * Math.log(2), 6);
    const g = -k1 * k3 * s * (1 - s) - 0.25;
    expect(gL[0]).toBeCloseTo(g, 6);
    expect(gT[0]).toBeCloseTo(-2 * g, 6);
    // Clipped (log α = 10 > 8): KL at log α = 8, no gradient.
    sparseVdKlLoop(Float32Array.of(1), Float32Array.of(10), gT, gL);
    expect([gT[0], gL[0]]).toEqual([0, 0]); // +0 both
  });

  it('agrees with autodiff through klLogUniform(logAlpha(θ, log σ²)) in value and gradients, clipped entries included', () => {
    const n = 5001;
    const { th, ls } = inputs(n, 'fused-kl');
    const T = tf.tensor1d(th);
    const L = tf.tensor1d(ls);
    const ref = tf.valueAndGrads((a: tf.Tensor, b: tf.Tensor) => klLogUniform(logAlpha(a, b)))([T, L]);
    const got = tf.valueAndGrads((a: tf.Tensor, b: tf.Tensor) => tf.mul(sparseVdKl(a, b), 2.5) as tf.Scalar)([T, L]);
    // The value against a float64 sum of eq. 14 written out here, and against the float32 composed sum.
    const { k1, k2, k3 } = SPARSE_VD_K;
    let exact = 0;
    for (let i = 0; i < n; i++) {
      const la = Math.min(8, Math.max(-8, ls[i]! - Math.log(th[i]! * th[i]! + 1e-8)));
      exact += k1 - k1 / (1 + Math.exp(-(k2 + k3 * la))) + 0.5 * Math.log(1 + Math.exp(-la));
    }
    const v = got.value.dataSync()[0]! / 2.5;
    expect(Math.abs(v / exact - 1)).toBeLessThan(1e-6);
    expect(Math.abs(v / ref.value.dataSync()[0]! - 1)).toBeLessThan(3e-5);
    const r0 = ref.grads[0]!.dataSync();
    const r1 = ref.grads[1]!.dataSync();
    const g0 = Float32Array.from(got.grads[0]!.dataSync(), (x) => x / 2.5);
    const g1 = Float32Array.from(got.grads[1]!.dataSync(), (x) => x / 2.5);
    // Gradients against the float64 derivative written out here (tight), and against float32 autodiff (its rounding).
    const e0 = new Float64Array(n);
    const e1 = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const t = th[i]! * th[i]! + 1e-8;
      const r = ls[i]! - Math.log(t);
      if (Math.abs(r) > 8) continue;
      const sg = 1 / (1 + Math.exp(-(k2 + k3 * r)));
      const q = 1 / (1 + Math.exp(-r));
      e1[i] = -k1 * k3 * sg * (1 - sg) - 0.5 * (1 - q);
      e0[i] = (e1[i]! * -2 * th[i]!) / t;
    }
    expect(maxRel(g0, e0)).toBeLessThan(1e-5);
    expect(maxRel(g1, e1)).toBeLessThan(1e-5);
    expect(maxRel(r0, e0)).toBeLessThan(1e-3);
    expect(maxRel(r1, e1)).toBeLessThan(1e-3);
    // Entries with |log α| > 8 get exactly zero gradient on both paths.
    let clipped = 0;
    for (let i = 0; i < n; i++) {
      const la = ls[i]! - Math.log(th[i]! * th[i]! + 1e-8);
      if (Math.abs(la) > 8.01) {
        clipped++;
        expect(Math.abs(g1[i]!)).toBe(0);
        expect(Math.abs(r1[i]!)).toBe(0);
      }
    }
    expect(clipped).toBeGreaterThan(n / 10);
    tf.dispose([T, L, ref.value, got.value, ...ref.grads, ...got.grads]);
  });

  it('a masked layer on wasm gives the KL and gradients of the kept weights (composed reference on cpu, removed weights gathered out)', async () => {
    const st = new RandomStream('fused-kl-layer');
    const layer = new LrtDense({ name: 'l', inFeatures: 40, outFeatures: 30, prior: { type: 'log-uniform' }, initLogSigma2: -6, stream: st });
    layer.logSigma2.assign(
      tf.tensor2d(
        Float32Array.from({ length: 1200 }, () => -14 + 12 * st.uniform()),
        [40, 30],
      ),
    );
    const mask = Float32Array.from({ length: 1200 }, () => (st.uniform() < 0.4 ? 0 : 1));
    layer.setMask(mask);
    const { value, grads } = tf.variableGrads(() => layer.kl(), [layer.theta, layer.logSigma2]);
    const a = { v: value.dataSync()[0]!, t: grads[layer.theta.name]!.dataSync(), l: grads[layer.logSigma2.name]!.dataSync() };
    const th = Float32Array.from(layer.theta.dataSync());
    const ls = Float32Array.from(layer.logSigma2.dataSync());
    tf.dispose([value, ...Object.values(grads)]);
    layer.dispose();
    // Reference: autodiff through the composed KL of the gathered kept entries, on cpu.
    await tf.setBackend('cpu');
    const keep = tf.tensor1d(Int32Array.from(Array.from(mask).flatMap((m, i) => (m ? [i] : []))), 'int32');
    const ref = tf.valueAndGrads((x: tf.Tensor, y: tf.Tensor) => klLogUniform(logAlpha(tf.gather(x, keep), tf.gather(y, keep))))([
      tf.tensor1d(th),
      tf.tensor1d(ls),
    ]);
    const b = { v: ref.value.dataSync()[0]!, t: ref.grads[0]!.dataSync(), l: ref.grads[1]!.dataSync() };
    await tf.setBackend('wasm');
    expect(Math.abs(a.v / b.v - 1)).toBeLessThan(3e-5);
    expect(maxRel(a.t, b.t)).toBeLessThan(1e-3);
    expect(maxRel(a.l, b.l)).toBeLessThan(1e-3);
    // Removed weights get no gradient.
    for (let i = 0; i < mask.length; i++) if (mask[i] === 0) expect([Math.abs(a.t[i]!), Math.abs(a.l[i]!)]).toEqual([0, 0]);
  });
});
