// Micro-benchmark: the SIMD gemm of src/kernels/mean-field.wat against tfjs-backend-wasm's matMul (development aid).
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/backend.js';
import { meanFieldWasm } from '../../src/kernels/mean-field.js';
await initBackend('wasm', 'flag');
const simd = meanFieldWasm()!;
const be = tf.backend() as unknown as { typedArrayFromHeap(t: tf.TensorInfo): Float32Array };
const at = (t: tf.Tensor) => be.typedArrayFromHeap(t).byteOffset;
/** The fastest of `reps` calls (the machine is shared: the minimum is the least disturbed). */
const time = (f: () => void, reps = 40) => {
  for (let i = 0; i < 5; i++) f();
  let best = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    f();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
};
for (const [M, K, N] of [
  [100, 784, 300],
  [100, 300, 100],
  [100, 100, 10],
]) {
  const a = tf.randomNormal([M, K]);
  const b = tf.randomNormal([K, N]);
  const c = tf.zeros([M, N]);
  const xt = tf.randomNormal([M, K]); // for Aᵀ·B: [K, M]ᵀ... C' = aᵀ·g with g [M, N]
  const g = tf.randomNormal([M, N]);
  const c2 = tf.zeros([K, N]);
  for (let rep = 0; rep < 2; rep++) {
    const ours = time(() => simd.gemm(at(a), K * 4, 4, at(b), N * 4, at(c), N * 4, M, N, K));
    const theirs = time(() => tf.matMul(a, b).dispose());
    const oursT = time(() => simd.gemm(at(xt), 4, K * 4, at(g), N * 4, at(c2), N * 4, K, N, M));
    const theirsT = time(() => tf.tidy(() => tf.matMul(tf.transpose(xt), g)).dispose());
    const gf = (2 * M * K * N) / 1e6;
    console.log(
      `${M}x${K}x${N}: A·B ours ${ours.toFixed(3)} ms (${(gf / ours).toFixed(1)} GF/s) tfjs ${theirs.toFixed(3)} ms (${(gf / theirs).toFixed(1)}); ` +
        `Aᵀ·B ours ${oursT.toFixed(3)} tfjs(transpose+matMul) ${theirsT.toFixed(3)}`,
    );
  }
  const ref = tf.matMul(a, b).dataSync();
  const got = c.dataSync();
  let err = 0;
  for (let i = 0; i < ref.length; i++) err = Math.max(err, Math.abs(ref[i]! - got[i]!));
  const refT = tf.matMul(xt, g, true, false).dataSync();
  const gotT = c2.dataSync();
  let errT = 0;
  for (let i = 0; i < refT.length; i++) errT = Math.max(errT, Math.abs(refT[i]! - gotT[i]!));
  console.log(`  max |diff| ${err.toExponential(2)}, transposed ${errT.toExponential(2)}`);
}
