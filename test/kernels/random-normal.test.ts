import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { fillStandardNormal, standardNormal } from '../../src/nn/fused/random-normal.js';
import { RandomStream } from '../../src/random.js';
import { useTestBackend } from '../setup-backend.js';

beforeAll(useTestBackend);

describe('fast standard normal draws', () => {
  it('equal tf.randomNormal value for value, for many seeds and odd and even lengths', () => {
    const st = new RandomStream('normal-seeds');
    const seeds = [1, 2, 12345, 0.5, -7, 2 ** 31 - 1, ...Array.from({ length: 20 }, () => st.nextSeed())];
    for (const [k, seed] of seeds.entries()) {
      const n = [1, 2, 3, 1000, 4097][k % 5]!;
      const ref = tf.randomNormal([n], 0, 1, 'float32', seed);
      expect(Array.from(fillStandardNormal(new Float32Array(n), seed))).toEqual(Array.from(ref.dataSync()));
      ref.dispose();
    }
  });

  it('gives a tensor of the requested shape, standard normal in distribution', () => {
    const t = standardNormal([200, 300], 99);
    expect(t.shape).toEqual([200, 300]);
    const v = t.dataSync();
    let m = 0;
    let q = 0;
    for (const x of v) {
      m += x;
      q += x * x;
    }
    m /= v.length;
    q = q / v.length - m * m;
    expect(Math.abs(m)).toBeLessThan(4 / Math.sqrt(v.length));
    expect(Math.abs(q - 1)).toBeLessThan(4 * Math.sqrt(2 / v.length));
    t.dispose();
  });

  it('refuses seed 0 (tfjs would draw an unseeded sequence)', () => {
    expect(() => fillStandardNormal(new Float32Array(2), 0)).toThrow(/non-zero/);
  });
});
