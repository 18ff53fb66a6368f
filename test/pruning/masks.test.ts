import { describe, expect, it } from 'vitest';
import { maskSparsity, masksAtSparsity, masksAtThreshold } from '../../src/pruning/masks.js';
import { RandomStream } from '../../src/random.js';

const zeros = (m: Float32Array) => m.reduce((a, v) => a + (v === 0 ? 1 : 0), 0);

function randomScores(seed: string, sizes: number[]): Map<string, Float32Array> {
  const st = new RandomStream(seed);
  return new Map(sizes.map((n, i) => [`fc${i + 1}.weight`, Float32Array.from({ length: n }, () => st.uniform())]));
}

describe('masks at a target sparsity', () => {
  it('global: removes exactly round(s·total) weights, the lowest scores', () => {
    const scores = randomScores('g', [1000, 300, 17]);
    for (const s of [0, 0.1, 0.5, 0.9, 0.95, 0.99, 1]) {
      const m = masksAtSparsity(scores, s, 'global');
      const removed = [...m.values()].reduce((a, x) => a + zeros(x), 0);
      expect(removed).toBe(Math.round(s * 1317));
      // Every removed score ≤ every kept score.
      let maxRemoved = -Infinity,
        minKept = Infinity;
      for (const [k, mask] of m) {
        const sc = scores.get(k)!;
        mask.forEach((v, i) => (v === 0 ? (maxRemoved = Math.max(maxRemoved, sc[i]!)) : (minKept = Math.min(minKept, sc[i]!))));
      }
      if (removed > 0 && removed < 1317) expect(maxRemoved).toBeLessThanOrEqual(minKept);
    }
  });

  it('layer: removes exactly round(s·size) in every layer', () => {
    const scores = randomScores('l', [1000, 301, 17]);
    const m = masksAtSparsity(scores, 0.33, 'layer');
    expect([...m.values()].map(zeros)).toEqual([330, 99, 6]);
  });

  it('ties are broken by position and counts stay exact', () => {
    const scores = new Map([
      ['a.weight', new Float32Array(10).fill(1)],
      ['b.weight', new Float32Array(10).fill(1)],
    ]);
    const m = masksAtSparsity(scores, 0.25, 'global');
    expect(zeros(m.get('a.weight')!)).toBe(5);
    expect(Array.from(m.get('a.weight')!.slice(0, 6))).toEqual([0, 0, 0, 0, 0, 1]);
    expect(zeros(m.get('b.weight')!)).toBe(0);
  });

  it('repeated pruning acts on the remaining weights: prior zeros are never revived', () => {
    const scores = randomScores('r', [500]);
    const first = masksAtSparsity(scores, 0.5, 'global');
    // New scores that favour exactly the pruned weights.
    const flipped = new Map([['fc1.weight', Float32Array.from(scores.get('fc1.weight')!, (v) => -v)]]);
    const second = masksAtSparsity(flipped, 0.8, 'global', first);
    const a = first.get('fc1.weight')!,
      b = second.get('fc1.weight')!;
    for (let i = 0; i < a.length; i++) if (a[i] === 0) expect(b[i]).toBe(0);
    expect(zeros(b)).toBe(400);
  });

  it('rejects NaN scores and sparsities outside [0, 1]', () => {
    expect(() => masksAtSparsity(new Map([['x.weight', new Float32Array([1, NaN])]]), 0.5)).toThrow(/NaN.*index 1/);
    expect(() => masksAtSparsity(randomScores('x', [4]), 1.5)).toThrow(/sparsity must be in \[0, 1\]/);
  });
});

/** Brute force: prior zeros stay; then the (k − z) lowest remaining (score, layer, index) entries go. */
function bruteForce(scores: Map<string, Float32Array>, k: number, prior: Map<string, Float32Array>): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  const free: { name: string; layer: number; i: number; v: number }[] = [];
  let z = 0;
  [...scores.entries()].forEach(([name, s], layer) => {
    const p = prior.get(name);
    const m = new Float32Array(s.length).fill(1);
    for (let i = 0; i < s.length; i++) {
      if (p && p[i] === 0) {
        m[i] = 0;
        z++;
      } else free.push({ name, layer, i, v: s[i]! });
    }
    out.set(name, m);
  });
  free.sort((a, b) => a.v - b.v || a.layer - b.layer || a.i - b.i);
  for (let j = 0; j < k - z && j < free.length; j++) out.get(free[j]!.name)![free[j]!.i] = 0;
  return out;
}

describe('masks on top of a prior mask (never revive a weight)', () => {
  it('equals a brute-force loop for targets below, at and above the prior sparsity, global and per layer', () => {
    const st = new RandomStream('prior-brute');
    for (let trial = 0; trial < 40; trial++) {
      const sizes = [1 + Math.floor(st.uniform() * 30), 1 + Math.floor(st.uniform() * 30)];
      // Coarse scores give many ties; some −∞ scores must not be confused with prior zeros.
      const scores = new Map(
        sizes.map((n, i) => [`fc${i + 1}.weight`, Float32Array.from({ length: n }, () => (st.uniform() < 0.1 ? -Infinity : Math.floor(st.uniform() * 5)))]),
      );
      const priorSparsity = st.uniform();
      const prior = new Map(sizes.map((n, i) => [`fc${i + 1}.weight`, Float32Array.from({ length: n }, () => (st.uniform() < priorSparsity ? 0 : 1))]));
      for (const s of [0, 0.1, 0.3, 0.5, 0.7, 0.9, 1, st.uniform()]) {
        const total = sizes[0]! + sizes[1]!;
        const g = masksAtSparsity(scores, s, 'global', prior);
        const eg = bruteForce(scores, Math.round(s * total), prior);
        for (const [n, m] of eg) expect(Array.from(g.get(n)!), `global trial ${trial} s=${s}`).toEqual(Array.from(m));
        const l = masksAtSparsity(scores, s, 'layer', prior);
        for (const [n, sc] of scores) {
          const el = bruteForce(new Map([[n, sc]]), Math.round(s * sc.length), new Map([[n, prior.get(n)!]]));
          expect(Array.from(l.get(n)!), `layer trial ${trial} s=${s}`).toEqual(Array.from(el.get(n)!));
        }
        // Never revived, whatever the target.
        for (const m of [g, l]) for (const [n, p] of prior) p.forEach((v, i) => v === 0 && expect(m.get(n)![i]).toBe(0));
      }
    }
  });

  it('a target below the prior sparsity returns the prior mask itself, with its real sparsity', () => {
    const scores = randomScores('below', [10]);
    const prior = new Map([['fc1.weight', Float32Array.from([0, 0, 0, 0, 0, 0, 0, 0, 1, 1])]]);
    // Scores favour the pruned weights, so any revival would show.
    scores.get('fc1.weight')!.set([9, 9, 9, 9, 9, 9, 9, 9, 0, 0]);
    for (const s of [0, 0.1, 0.5, 0.8]) {
      const m = masksAtSparsity(scores, s, 'global', prior);
      expect(Array.from(m.get('fc1.weight')!)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 1, 1]);
      expect(maskSparsity(m)).toBe(0.8);
    }
    expect(Array.from(masksAtSparsity(scores, 0.9, 'layer', prior).get('fc1.weight')!)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    expect(Array.from(masksAtThreshold(scores, -1, prior).get('fc1.weight')!)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 1, 1]);
  });
});

describe('masks at a threshold', () => {
  it('keeps exactly the scores strictly above the threshold', () => {
    const m = masksAtThreshold(new Map([['w.weight', new Float32Array([-4, -3, -2.9, 0, 5])]]), -3);
    expect(Array.from(m.get('w.weight')!)).toEqual([0, 0, 1, 1, 1]);
    expect(maskSparsity(m)).toBeCloseTo(0.4, 10);
  });
});
