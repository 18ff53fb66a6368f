import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lrtDenseSample } from '../../src/nn/fused/lrt-dense-op.js';
import { fusedPaths, setFusedPaths, type FusedPaths } from '../../src/nn/fused/settings.js';
import { RandomStream } from '../../src/random.js';
import { useTestBackend } from '../setup-backend.js';
import { randomDataset, trainMeanFieldMlp } from '../helpers/mean-field-training.js';

let initial = 'cpu';
let saved: FusedPaths;
beforeAll(async () => {
  initial = await useTestBackend();
  saved = { ...fusedPaths };
});
afterAll(async () => {
  setFusedPaths(saved);
  await tf.setBackend(initial);
});

/** The composed ops the op replaces. */
function composed(x: tf.Tensor2D, th: tf.Tensor2D, s2: tf.Tensor2D, b: tf.Tensor1D, eps: tf.Tensor2D): tf.Tensor2D {
  const mean = tf.add(tf.matMul(x, th), b);
  return tf.add(mean, tf.mul(tf.sqrt(tf.add(tf.matMul(tf.square(x), s2), 1e-8)), eps)) as tf.Tensor2D;
}

const data = randomDataset('lrt-op-data', 200, 24, 3);

/** Two epochs of a masked sparse-VD MLP (every 7th weight entry from the 4th pruned). */
const train = () => trainMeanFieldMlp({ data, hidden: [20, 12], seed: 4, epochs: 2, mask: (i) => (i % 7 === 3 ? 0 : 1) });

describe('LRT dense forward as one op', { timeout: 120_000 }, () => {
  for (const backend of ['cpu', 'wasm']) {
    it(`equals the composed ops in value and in every gradient, bit for bit (${backend})`, async () => {
      expect(await tf.setBackend(backend)).toBe(true);
      const r = new RandomStream(`op-${backend}`);
      const rnd = (shape: number[], sc = 1) =>
        tf.tensor(
          Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => sc * r.normal()),
          shape,
        );
      const x = rnd([7, 13]) as tf.Tensor2D;
      const th = rnd([13, 5], 0.3) as tf.Tensor2D;
      const s2 = tf.exp(rnd([13, 5], 1)) as tf.Tensor2D;
      const b = rnd([5]) as tf.Tensor1D;
      const eps = rnd([7, 5]) as tf.Tensor2D;
      const w = rnd([7, 5]);
      const loss = (f: typeof composed) => (xi: tf.Tensor, t: tf.Tensor, v: tf.Tensor, bi: tf.Tensor) =>
        tf.sum(tf.mul(f(xi as tf.Tensor2D, t as tf.Tensor2D, v as tf.Tensor2D, bi as tf.Tensor1D, eps), w)) as tf.Scalar;
      const ya = lrtDenseSample(x, th, s2, b, eps).dataSync();
      const yb = composed(x, th, s2, b, eps).dataSync();
      expect(Array.from(ya)).toEqual(Array.from(yb));
      const ga = tf.grads(loss(lrtDenseSample))([x, th, s2, b]);
      const gb = tf.grads(loss(composed))([x, th, s2, b]);
      for (let i = 0; i < 4; i++) {
        expect(ga[i]!.shape).toEqual(gb[i]!.shape);
        expect(Array.from(ga[i]!.dataSync())).toEqual(Array.from(gb[i]!.dataSync()));
      }
      // And against central finite differences (float64 arithmetic on the float32 values) for a few entries of θ and σ².
      const xv = x.arraySync();
      const thv = th.arraySync();
      const s2v = s2.arraySync();
      const bv = b.arraySync();
      const ev = eps.arraySync();
      const wv = w.arraySync() as number[][];
      const f64 = (t: number[][], v: number[][]) => {
        let sum = 0;
        for (let n = 0; n < 7; n++)
          for (let o = 0; o < 5; o++) {
            let m = bv[o]!;
            let q = 1e-8;
            for (let k = 0; k < 13; k++) {
              m += xv[n]![k]! * t[k]![o]!;
              q += xv[n]![k]! ** 2 * v[k]![o]!;
            }
            sum += wv[n]![o]! * (m + Math.sqrt(q) * ev[n]![o]!);
          }
        return sum;
      };
      const dTh = ga[1]!.arraySync() as number[][];
      const dS2 = ga[2]!.arraySync() as number[][];
      for (const [k, o] of [
        [0, 0],
        [5, 3],
        [12, 4],
      ] as const) {
        const h = 1e-4;
        const tp = thv.map((row) => [...row]);
        const tm = thv.map((row) => [...row]);
        tp[k]![o]! += h;
        tm[k]![o]! -= h;
        expect(Math.abs((f64(tp, s2v) - f64(tm, s2v)) / (2 * h) - dTh[k]![o]!)).toBeLessThan(1e-3 * Math.max(1, Math.abs(dTh[k]![o]!)));
        const sp = s2v.map((row) => [...row]);
        const sm = s2v.map((row) => [...row]);
        sp[k]![o]! += h;
        sm[k]![o]! -= h;
        expect(Math.abs((f64(thv, sp) - f64(thv, sm)) / (2 * h) - dS2[k]![o]!)).toBeLessThan(1e-3 * Math.max(1, Math.abs(dS2[k]![o]!)));
      }
      tf.dispose([x, th, s2, b, eps, w, ...ga, ...gb]);
    });

    it(`training through it is bit-identical to training through the tape, masks included (${backend})`, async () => {
      expect(await tf.setBackend(backend)).toBe(true);
      setFusedPaths({ lrtDenseOp: true });
      const a = train();
      setFusedPaths({ lrtDenseOp: false });
      const b = train();
      setFusedPaths({ lrtDenseOp: true });
      expect(a.losses).toEqual(b.losses);
      for (let i = 0; i < a.vars.length; i++) expect(Array.from(a.vars[i]!)).toEqual(Array.from(b.vars[i]!));
    });
  }
});
