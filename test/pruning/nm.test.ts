import { describe, expect, it } from 'vitest';
import { nmMask, nmMasks } from '../../src/pruning/nm.js';
import { RandomStream } from '../../src/random.js';

/** Kept count of every block of M along the input axis (second-to-last). */
function blockCounts(mask: Float32Array, shape: number[], m: number): number[] {
  const nOut = shape.at(-1)!;
  const nIn = shape.at(-2)!;
  const outer = mask.length / (nIn * nOut);
  const out: number[] = [];
  for (let p = 0; p < outer; p++)
    for (let o = 0; o < nOut; o++)
      for (let s = 0; s < nIn; s += m) {
        let c = 0;
        for (let i = s; i < Math.min(nIn, s + m); i++) c += mask[(p * nIn + i) * nOut + o]!;
        out.push(c);
      }
  return out;
}

describe('N:M masks', () => {
  const st = new RandomStream('nm');
  it('2:4 on a dense weight keeps exactly 2 in every block of 4 rows of each column, the 2 largest', () => {
    const shape = [8, 3];
    const s = Float32Array.from({ length: 24 }, () => st.normal());
    const mask = nmMask(s, shape, 2, 4);
    expect(blockCounts(mask, shape, 4)).toEqual(Array(6).fill(2));
    // Kept scores beat pruned scores inside each block.
    for (let o = 0; o < 3; o++)
      for (let b = 0; b < 2; b++) {
        const idx = [0, 1, 2, 3].map((k) => (b * 4 + k) * 3 + o);
        const kept = idx.filter((f) => mask[f] === 1).map((f) => s[f]!);
        const pruned = idx.filter((f) => mask[f] === 0).map((f) => s[f]!);
        expect(Math.min(...kept)).toBeGreaterThanOrEqual(Math.max(...pruned));
      }
  });

  it('conv weights use blocks along cin for every (kh, kw, cout); 1:4 and 3:8 exact', () => {
    const shape = [3, 3, 8, 5];
    const s = Float32Array.from({ length: 360 }, () => st.uniform());
    const m14 = nmMask(s, shape, 1, 4);
    expect(blockCounts(m14, shape, 4)).toEqual(Array(3 * 3 * 5 * 2).fill(1));
    const m38 = nmMask(s, shape, 3, 8);
    expect(blockCounts(m38, shape, 8)).toEqual(Array(3 * 3 * 5).fill(3));
    expect(m38.reduce((a, b) => a + b, 0)).toBe(3 * 3 * 5 * 3);
  });

  it('a partial last block keeps min(N, r); previously pruned weights stay pruned', () => {
    const shape = [6, 2];
    const s = Float32Array.from({ length: 12 }, (_, i) => i);
    const mask = nmMask(s, shape, 3, 4);
    expect(blockCounts(mask, shape, 4)).toEqual([3, 2, 3, 2]);
    const prior = new Float32Array(12).fill(1);
    prior[3 * 2 + 0] = 0; // row 3 of column 0: the largest score of its block
    const again = nmMasks(new Map([['w', s]]), new Map([['w', shape]]), 2, 4, new Map([['w', prior]])).get('w')!;
    expect(again[6]).toBe(0);
    expect(blockCounts(again, shape, 4)).toEqual([2, 2, 2, 2]);
  });

  it('rejects bad N:M and NaN scores', () => {
    expect(() => nmMask(new Float32Array(4), [4, 1], 5, 4)).toThrow(/N:M/);
    expect(() => nmMasks(new Map([['w', new Float32Array([NaN, 1, 2, 3])]]), new Map([['w', [4, 1]]]), 2, 4)).toThrow(/NaN/);
  });
});
