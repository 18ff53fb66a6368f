import { describe, expect, it } from 'vitest';
import { deadInputDiagnostic, type DeadInputWeights } from '../../src/pruning/dead-inputs.js';
import { RandomStream } from '../../src/random.js';

/** Brute force: every weight as a record, a stable descending sort, the first ⌊0.1·N⌉ counted; medians of sorted copies. */
function bruteForce(scores: Map<string, Float32Array>, dead: DeadInputWeights) {
  const isDead = new Set(dead.indices);
  const deadScores: number[] = [];
  const other: number[] = [];
  const all: { s: number; d: boolean }[] = [];
  for (const [name, s] of scores)
    for (let i = 0; i < s.length; i++) {
      const d = name === dead.name && isDead.has(i);
      (d ? deadScores : other).push(s[i]!);
      all.push({ s: s[i]!, d });
    }
  all.sort((a, b) => (a.s === b.s ? 0 : b.s - a.s)); // stable: ties keep layer, then index order
  const top = all.slice(0, Math.max(1, Math.round(0.1 * all.length)));
  const median = (v: number[]) => {
    const x = [...v].sort((a, b) => a - b);
    const m = x.length >> 1;
    return x.length % 2 ? x[m]! : (x[m - 1]! + x[m]!) / 2;
  };
  return {
    medianDead: median(deadScores),
    medianOther: median(other),
    deadInTop10: top.filter((t) => t.d).length / top.length,
    deadShare: deadScores.length / all.length,
  };
}

describe('deadInputDiagnostic (src/pruning/dead-inputs.ts) against a record sort', () => {
  for (const [label, levels] of [
    ['continuous scores', 0],
    ['heavy ties at the top-10 % boundary', 5],
    ['ties and infinities (dead weights pruned first: −∞)', 3],
  ] as const)
    it(label, () => {
      const r = new RandomStream(`dead-ranking/${label}`);
      for (let trial = 0; trial < 20; trial++) {
        const rows = 3 + r.int(20);
        const out = 2 + r.int(9);
        const draw = () => (levels ? r.int(levels) : r.normal());
        const a = Float32Array.from({ length: rows * out }, draw);
        const b = Float32Array.from({ length: 5 + r.int(200) }, draw);
        const deadRows = [0, 2].filter((x) => x < rows);
        const indices = Int32Array.from(deadRows.flatMap((row) => Array.from({ length: out }, (_, o) => row * out + o)));
        if (label.includes('infinities')) {
          for (const i of indices) if (r.uniform() < 0.5) a[i] = -Infinity;
          b[0] = Infinity;
        }
        // Dead scores high sometimes, so they reach the top 10 %.
        if (trial % 2) for (const i of indices) if (Number.isFinite(a[i]!)) a[i] = a[i]! + (levels || 3);
        const scores = new Map([
          ['fc1.weight', a],
          ['fc2.weight', b],
        ]);
        const dead = { name: 'fc1.weight', features: deadRows.length, indices };
        expect(deadInputDiagnostic(scores, dead), `trial ${trial}`).toEqual(bruteForce(scores, dead));
      }
    });
});
