import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { gemmFused, matMulAB } from '../../src/nn/fused/matmul.js';
import { RandomStream } from '../../src/random.js';
import { useWasmBackend } from '../setup-backend.js';

useWasmBackend();

describe('SIMD gemm (wasm)', { timeout: 60_000 }, () => {
  it('A·B and Aᵀ·B equal a float64 loop to float32 rounding, for shapes off the 4×8 tiles and K across the 128-chunks', () => {
    expect(gemmFused()).toBe(true);
    const r = new RandomStream('gemm');
    for (const [m, k, n] of [
      [1, 1, 1],
      [3, 5, 7],
      [4, 8, 8],
      [5, 129, 9],
      [13, 300, 17],
      [100, 257, 10],
    ] as const) {
      for (const transposeA of [false, true]) {
        const aShape = transposeA ? [k, m] : [m, k];
        const a = tf.tensor2d(
          Float32Array.from({ length: m * k }, () => r.normal()),
          aShape as [number, number],
        );
        const b = tf.tensor2d(
          Float32Array.from({ length: k * n }, () => r.normal()),
          [k, n],
        );
        const c = matMulAB(a, b, transposeA);
        expect(c.shape).toEqual([m, n]);
        const av = a.dataSync();
        const bv = b.dataSync();
        const cv = c.dataSync();
        const ref = tf.matMul(a, b, transposeA, false).dataSync();
        for (let i = 0; i < m; i++) {
          for (let j = 0; j < n; j++) {
            let s = 0;
            let abs = 0;
            for (let q = 0; q < k; q++) {
              const x = (transposeA ? av[q * m + i]! : av[i * k + q]!) * bv[q * n + j]!;
              s += x;
              abs += Math.abs(x);
            }
            // float32 summation of k terms: error ≤ k·2⁻²⁴·Σ|terms|
            expect(Math.abs(cv[i * n + j]! - s)).toBeLessThanOrEqual(k * 6e-8 * abs + 1e-30);
            expect(Math.abs(cv[i * n + j]! - ref[i * n + j]!)).toBeLessThanOrEqual(2 * k * 6e-8 * abs + 1e-30);
          }
        }
        tf.dispose([a, b, c]);
      }
    }
  });

  it('gives tfjs’s matMul bit for bit for the LeNet-300-100 training products', () => {
    const r = new RandomStream('gemm-lenet');
    for (const [m, k, n] of [
      [100, 784, 300],
      [100, 300, 100],
      [100, 100, 10],
    ] as const) {
      const a = tf.tensor2d(
        Float32Array.from({ length: m * k }, () => r.uniform()),
        [m, k],
      );
      const b = tf.tensor2d(
        Float32Array.from({ length: k * n }, () => r.normal()),
        [k, n],
      );
      expect(Array.from(matMulAB(a, b).dataSync())).toEqual(Array.from(tf.matMul(a, b).dataSync()));
      tf.dispose([a, b]);
    }
  });
});
