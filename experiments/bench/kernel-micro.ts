// Micro-benchmark of the SIMD kernels on the wasm heap: ns per entry (development aid).
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/backend.js';
import { meanFieldWasm } from '../../src/kernels/mean-field.js';
await initBackend('wasm', 'flag');
const simd = meanFieldWasm()!;
const be = tf.backend() as unknown as { typedArrayFromHeap(t: tf.TensorInfo): Float32Array };
const n = 235200;
const th = tf.randomNormal([n], 0, 0.05, 'float32', 1);
const ls = tf.fill([n], -10);
const g1 = tf.zeros([n]);
const g2 = tf.zeros([n]);
const at = (t: tf.Tensor) => be.typedArrayFromHeap(t).byteOffset;
/** The fastest of `reps` calls (the machine is shared: the minimum is the least disturbed), in ns per entry. */
const time = (name: string, f: () => void, reps = 100) => {
  for (let i = 0; i < 20; i++) f();
  let best = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    f();
    best = Math.min(best, performance.now() - t0);
  }
  console.log(`${name}: ${((1e6 * best) / n).toFixed(2)} ns/entry`);
};

time('exp4', () => simd.exp4(at(ls), at(g1), n));
time('log4', () => simd.log4(at(th), at(g1), n));
time('normal', () => simd.normal(at(g1), n, 1, 2, 3, 4));
time('adam', () => simd.adam(at(th), at(g1), at(g2), at(ls), at(g1), at(g2), at(ls), n, 0.9, 0.1, 0.999, 0.001, 0.5, 0.5, 1e-8, -1e-3));
time('tf.exp', () => tf.exp(ls).dispose(), 50);
time('tf.mul', () => tf.mul(ls, th).dispose(), 50);
{
  const sc = tf.zeros([48]);
  const bufs = Array.from({ length: 13 }, () => tf.zeros([n]));
  const sv = be.typedArrayFromHeap(sc);
  const io = new Int32Array(sv.buffer, sv.byteOffset, 16);
  const ptrs = [th, ls, null, ...bufs];
  ptrs.forEach((t, i) => (io[i] = t ? at(t) : 0));
  [0.9, 0.1, 0.999, 0.001, 0.5, 0.5, 1e-8, -1e-3].forEach((c, i) => sv.fill(c, 16 + 4 * i, 20 + 4 * i));
  time('klAdam', () => simd.klAdam(sv.byteOffset, n, 0, 2, 1e-4, sv.byteOffset + 64));
  time('2×adam', () => {
    simd.adam(at(th), at(g1), at(g2), at(ls), at(g1), at(g2), at(ls), n, 0.9, 0.1, 0.999, 0.001, 0.5, 0.5, 1e-8, -1e-3);
    simd.adam(at(th), at(g1), at(g2), at(ls), at(g1), at(g2), at(ls), n, 0.9, 0.1, 0.999, 0.001, 0.5, 0.5, 1e-8, -1e-3);
  });
  time('kl', () => simd.kl(at(th), at(ls), 0, at(g1), at(g2), n));
  time('tf.mul', () => tf.mul(ls, th).dispose(), 50);
}
