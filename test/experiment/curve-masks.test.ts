import { describe, expect, it } from 'vitest';
import { masksAtSparsities } from '../../src/experiment/curves.js';
import { masksAtSparsity } from '../../src/pruning/masks.js';
import { RandomStream } from '../../src/random.js';

/** Scores with many ties (small integers), signed zeros and infinities, in three layers of different sizes. */
function scores(seed: string): Map<string, Float32Array> {
  const s = new RandomStream(seed);
  const special = [0, -0, -Infinity, Infinity];
  const layer = (n: number) =>
    Float32Array.from({ length: n }, () => (s.uniform() < 0.1 ? special[s.int(4)]! : s.int(7) - 3 + (s.uniform() < 0.3 ? s.uniform() : 0)));
  return new Map([
    ['a.weight', layer(120)],
    ['b.weight', layer(37)],
    ['c.weight', layer(64)],
  ]);
}

describe('masks of all sparsities of a curve from one sort per ranking', () => {
  for (const scope of ['global', 'layer'] as const) {
    it(`equal masksAtSparsity entry for entry (${scope} scope, ties, ±0, ±∞)`, () => {
      for (const seed of ['m1', 'm2', 'm3']) {
        const sc = scores(seed);
        const sparsities = [0, 0.001, 0.1, 1 / 3, 0.5, 0.8, 0.9, 0.95, 0.99, 0.999, 1];
        const all = masksAtSparsities(sc, sparsities, scope);
        for (const sp of sparsities) {
          const want = masksAtSparsity(sc, sp, scope);
          const got = all.get(sp)!;
          expect([...got.keys()]).toEqual([...want.keys()]);
          for (const [name, m] of want) expect(Array.from(got.get(name)!), `${seed} ${scope} ${sp} ${name}`).toEqual(Array.from(m));
        }
      }
    });
  }

  it('refuses NaN scores and sparsities outside [0, 1] with the one-line messages of masksAtSparsity', () => {
    const sc = scores('m4');
    sc.get('b.weight')![5] = Number.NaN;
    expect(() => masksAtSparsities(sc, [0.5], 'global')).toThrow('score of "b.weight" is NaN at index 5; a criterion must give a number for every weight');
    expect(() => masksAtSparsities(scores('m5'), [1.5], 'global')).toThrow('sparsity must be in [0, 1] (fraction of weights removed), got 1.5');
  });
});
