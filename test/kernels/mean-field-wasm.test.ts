import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { compileMeanFieldWat, generatedSource } from '../../src/kernels/build.js';
import { meanFieldWasm } from '../../src/kernels/mean-field.js';
import { useWasmBackend } from '../setup-backend.js';

useWasmBackend();

describe('mean-field SIMD module', { timeout: 60_000 }, () => {
  it('the committed bytes are a fresh compile of mean-field.wat (npm run build:wasm)', async () => {
    const committed = readFileSync(new URL('../../src/kernels/mean-field-wasm.ts', import.meta.url), 'utf8');
    expect(committed).toBe(generatedSource(await compileMeanFieldWat()));
  });

  it('loads on the wasm backend and not on cpu', async () => {
    expect(meanFieldWasm()).not.toBeNull();
    await tf.setBackend('cpu');
    expect(meanFieldWasm()).toBeNull();
    await tf.setBackend('wasm');
  });

  it('its ln and exp are within a few float32 ulps of Math.log / Math.exp on the ranges the KL uses', () => {
    const n = 4096;
    const xs = Float32Array.from({ length: n }, (_, i) => Math.exp(-19 + (25 * i) / n)); // 5.6e-9 … 4.4e2
    const ys = Float32Array.from({ length: n }, (_, i) => -16 + (30 * i) / n);
    const a = tf.tensor1d(xs);
    const b = tf.tensor1d(ys);
    const outA = tf.zeros([n]);
    const outB = tf.zeros([n]);
    const be = tf.backend() as unknown as { typedArrayFromHeap(t: tf.TensorInfo): Float32Array };
    const w = meanFieldWasm()!;
    w.log4(be.typedArrayFromHeap(a).byteOffset, be.typedArrayFromHeap(outA).byteOffset, n);
    w.exp4(be.typedArrayFromHeap(b).byteOffset, be.typedArrayFromHeap(outB).byteOffset, n);
    const la = be.typedArrayFromHeap(outA);
    const eb = be.typedArrayFromHeap(outB);
    let logErr = 0;
    let expErr = 0;
    for (let i = 0; i < n; i++) {
      logErr = Math.max(logErr, Math.abs(la[i]! - Math.log(xs[i]!)));
      expErr = Math.max(expErr, Math.abs(eb[i]! / Math.exp(ys[i]!) - 1));
    }
    expect(logErr).toBeLessThan(4e-6); // |ln x| ≤ 19: a few ulps of 16
    expect(expErr).toBeLessThan(5e-7); // ~4 ulps relative
    tf.dispose([a, b, outA, outB]);
  });
});
