import fc from 'fast-check';
import { describe as suite, expect, it } from 'vitest';
import { paretoFront, type Objective } from '../../src/stats/index.js';

interface P {
  acc: number | null;
  sparsity: number;
  ece: number;
}
const objectives: Objective<P>[] = [
  { value: (p) => p.acc, sense: 'max' },
  { value: (p) => p.sparsity, sense: 'max' },
  { value: (p) => p.ece, sense: 'min' },
];

/** O(n²) brute force straight from the definition: i is on the front iff no j is ≥ in all and > in one. */
function bruteFront(ps: P[]): number[] {
  const ok = (p: P) => [p.acc, p.sparsity, p.ece].every((v) => typeof v === 'number' && Number.isFinite(v));
  const out: number[] = [];
  for (let i = 0; i < ps.length; i++) {
    if (!ok(ps[i]!)) continue;
    let dominated = false;
    for (let j = 0; j < ps.length && !dominated; j++) {
      if (j === i || !ok(ps[j]!)) continue;
      const a = ps[j]!;
      const b = ps[i]!;
      const geq = a.acc! >= b.acc! && a.sparsity >= b.sparsity && a.ece <= b.ece;
      const gt = a.acc! > b.acc! || a.sparsity > b.sparsity || a.ece < b.ece;
      dominated = geq && gt;
    }
    if (!dominated) out.push(i);
  }
  return out;
}

suite('paretoFront', () => {
  it('a hand example', () => {
    const ps: P[] = [
      { acc: 0.98, sparsity: 0.5, ece: 0.02 }, // front: best accuracy
      { acc: 0.97, sparsity: 0.9, ece: 0.03 }, // front: sparser
      { acc: 0.96, sparsity: 0.9, ece: 0.04 }, // dominated by #1
      { acc: 0.97, sparsity: 0.9, ece: 0.03 }, // equal to #1: not dominated
      { acc: null, sparsity: 0.99, ece: 0.01 }, // missing accuracy: not considered
      { acc: 0.9, sparsity: 0.5, ece: 0.01 }, // front: best ECE
    ];
    expect(paretoFront(ps, objectives)).toEqual([0, 1, 3, 5]);
  });

  it('equals the O(n²) brute-force dominance check on random data', () => {
    const val = fc.integer({ min: 0, max: 6 }).map((x) => x / 6);
    const point = fc.record({ acc: fc.oneof(val, fc.constant(null)), sparsity: val, ece: fc.oneof(val, fc.constant(NaN)) });
    fc.assert(
      fc.property(fc.array(point, { maxLength: 60 }), (ps) => {
        expect(paretoFront(ps, objectives)).toEqual(bruteFront(ps));
      }),
      { numRuns: 300, seed: 7 },
    );
  });
});
