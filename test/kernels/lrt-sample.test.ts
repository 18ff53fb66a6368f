import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { lrtSample, lrtSampleFused } from '../../src/nn/fused/lrt-sample.js';
import { setFusedPaths } from '../../src/nn/fused/settings.js';
import { RandomStream } from '../../src/random.js';
import { useWasmBackend } from '../setup-backend.js';

useWasmBackend();

/** Float64 reference of one entry: relu?(μ + √(v + 1e-8)·ε). */
const reference = (mu: number, v: number, e: number, relu: boolean) => {
  const x = mu + Math.sqrt(v + 1e-8) * e;
  return relu ? Math.max(0, x) : x;
};

describe('LRT draws from moments in one pass (src/nn/fused/lrt-sample.ts)', () => {
  // [m, N] moments shared by S = 3 draws; N = 7 (rows not a multiple of 4 entries) and N = 8.
  for (const [m, N, S, relu] of [
    [5, 7, 3, true],
    [4, 8, 1, false],
    [3, 10, 2, true],
  ] as const)
    it(`fused kernel = composed tfjs ops = float64 loop (m ${m}, N ${N}, S ${S}${relu ? ', ReLU' : ''})`, () => {
      expect(lrtSampleFused()).toBe(true);
      const s = new RandomStream(`lrt-sample-${m}-${N}-${S}`);
      const mu = tf.tensor2d(
        Float32Array.from({ length: m * N }, () => s.uniform() * 2 - 1),
        [m, N],
      );
      const v = tf.tensor2d(
        Float32Array.from({ length: m * N }, () => (s.uniform() < 0.2 ? 0 : s.uniform() * 0.5)),
        [m, N],
      );
      const eps = tf.tensor2d(
        Float32Array.from({ length: S * m * N }, () => s.normal()),
        [S * m, N],
      );
      const fused = lrtSample(mu, v, eps, relu, true);
      const saved = setFusedPaths({ lrtSampleKernel: false });
      const composed = lrtSample(mu, v, eps, relu, true);
      setFusedPaths(saved);
      const [fh, fh2, ch, ch2] = [fused.h, fused.h2!, composed.h, composed.h2!].map((t) => t.dataSync() as Float32Array);
      expect(fh.length).toBe(S * m * N);
      // The same float32 operations in the same order: equal values.
      expect(Array.from(fh)).toEqual(Array.from(ch));
      expect(Array.from(fh2)).toEqual(Array.from(ch2));
      const md = mu.dataSync();
      const vd = v.dataSync();
      const ed = eps.dataSync();
      for (let e = 0; e < S * m * N; e++) {
        const j = e % (m * N);
        const want = reference(md[j]!, vd[j]!, ed[e]!, relu);
        expect(Math.abs(fh[e]! - want)).toBeLessThan(1e-6 * (1 + Math.abs(want)));
        expect(Math.abs(fh2[e]! - want * want)).toBeLessThan(2e-6 * (1 + want * want));
      }
      tf.dispose([mu, v, eps, fused.h, fused.h2!, composed.h, composed.h2!]);
    });

  it('without squares returns only the draws; mismatched shapes are refused with the shapes named', () => {
    const mu = tf.zeros([2, 3]) as tf.Tensor2D;
    const v = tf.ones([2, 3]) as tf.Tensor2D;
    const eps = tf.ones([4, 3]) as tf.Tensor2D;
    const r = lrtSample(mu, v, eps, false, false);
    expect(r.h2).toBeNull();
    expect(Array.from(r.h.dataSync())).toEqual(new Array(12).fill(Math.fround(Math.sqrt(1 + 1e-8))));
    expect(() => lrtSample(mu, v, tf.ones([3, 3]) as tf.Tensor2D, false, false)).toThrow(/moments \[2, 3\] do not fit noise \[3, 3\]/);
    tf.dispose([mu, v, eps, r.h]);
  });
});
