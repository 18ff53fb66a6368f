import { describe, expect, it } from 'vitest';
import { RandomStream } from '../../src/random.js';
import { layerDensities, randomMasks, riglDropFraction, riglUpdateLayer } from '../../src/pruning/rigl.js';

describe('RigL library', () => {
  it('cosine drop fraction by hand: α at 0, α·3/4 at T_end/3, α/2 at T_end/2, 0 from 75 % of training on', () => {
    const T = 1000; // T_end = 750
    expect(riglDropFraction(0, 0.3, T)).toBeCloseTo(0.3, 12);
    expect(riglDropFraction(250, 0.3, T)).toBeCloseTo(0.3 * 0.75, 12); // cos(π/3) = 1/2
    expect(riglDropFraction(375, 0.3, T)).toBeCloseTo(0.15, 12);
    expect(riglDropFraction(500, 0.3, T)).toBeCloseTo(0.3 * 0.25, 12); // cos(2π/3) = −1/2
    expect(riglDropFraction(749, 0.3, T)).toBeGreaterThan(0);
    expect(riglDropFraction(750, 0.3, T)).toBe(0);
    expect(riglDropFraction(900, 0.3, T)).toBe(0);
    expect(riglDropFraction(50, 0.5, 100, 0.5)).toBe(0);
  });

  it('ERK densities against the formula by hand, with the capped layer made dense', () => {
    // [10, 20] and [20, 5]: raw (n_in + n_out)/(n_in n_out) = 30/200 and 25/100; kept 150 = ε(0.15·200 + 0.25·100) → ε = 150/55.
    const d = layerDensities(
      [
        { name: 'a', shape: [10, 20] },
        { name: 'b', shape: [20, 5] },
      ],
      0.5,
      'erk',
    );
    expect(d.get('a')).toBeCloseTo((150 / 55) * 0.15, 12);
    expect(d.get('b')).toBeCloseTo((150 / 55) * 0.25, 12);
    // [4, 2] would get ε·0.75 > 1 → dense (8 kept); the other keeps 0.5·10008 − 8 = 4996 of 10000.
    const c = layerDensities(
      [
        { name: 'small', shape: [4, 2] },
        { name: 'big', shape: [100, 100] },
      ],
      0.5,
      'erk',
    );
    expect(c.get('small')).toBe(1);
    expect(c.get('big')).toBeCloseTo(0.4996, 12);
    // Convolution: (k_h + k_w + c_in + c_out)/(k_h k_w c_in c_out); uniform: the target everywhere.
    const conv = layerDensities(
      [
        { name: 'c', shape: [5, 5, 1, 20] },
        { name: 'f', shape: [500, 10] },
      ],
      0.9,
      'erk',
    );
    const eps = (0.1 * 5500) / ((31 / 500) * 500 + (510 / 5000) * 5000);
    expect(conv.get('c')).toBeCloseTo((eps * 31) / 500, 12);
    expect(conv.get('f')).toBeCloseTo((eps * 510) / 5000, 12);
    expect([...layerDensities([{ name: 'a', shape: [3, 3] }], 0.7, 'uniform').values()]).toEqual([0.30000000000000004]);
  });

  it('random masks keep exactly round(d·n) per layer', () => {
    const m = randomMasks(
      [
        { name: 'a', shape: [30, 7] },
        { name: 'b', shape: [7, 3] },
      ],
      new Map([
        ['a', 0.1],
        ['b', 0.5],
      ]),
      new RandomStream('rm'),
    );
    expect(m.get('a')!.reduce((t, v) => t + v, 0)).toBe(21);
    expect(m.get('b')!.reduce((t, v) => t + v, 0)).toBe(11); // round(10.5)
  });

  it('an update keeps the count and drops the smallest |w| kept, regrows the largest |g| free (brute force)', () => {
    const s = new RandomStream('upd');
    for (let trial = 0; trial < 20; trial++) {
      const n = 40;
      const mask = Float32Array.from({ length: n }, () => (s.uniform() < 0.4 ? 1 : 0));
      const w = Float64Array.from({ length: n }, () => s.normal());
      const g = Float64Array.from({ length: n }, () => s.normal());
      const frac = 0.1 + 0.4 * s.uniform();
      const u = riglUpdateLayer(mask, w, g, frac);
      const kept = [...mask.keys()].filter((i) => mask[i] === 1);
      expect(u.mask.reduce((t, v) => t + v, 0)).toBe(kept.length);
      const k = Math.round(frac * kept.length);
      // Brute force: the k kept entries of smallest |w|.
      const drop = new Set(kept.filter((i) => kept.filter((j) => Math.abs(w[j]!) < Math.abs(w[i]!)).length < k));
      expect(drop.size).toBe(k);
      // Candidates for growth: not kept after the drop; the k of largest |g|.
      const free = [...mask.keys()].filter((i) => mask[i] === 0 || drop.has(i));
      const grow = new Set(free.filter((i) => free.filter((j) => Math.abs(g[j]!) > Math.abs(g[i]!)).length < k));
      for (let i = 0; i < n; i++) {
        const expected = (mask[i] === 1 && !drop.has(i)) || grow.has(i) ? 1 : 0;
        expect(u.mask[i]).toBe(expected);
      }
      expect(new Set(u.grown)).toEqual(new Set([...grow].filter((i) => mask[i] === 0)));
    }
  });
});
