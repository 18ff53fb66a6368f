/**
 * N:M semi-structured masks from any per-weight score: in every block of M consecutive
 * weights along the input dimension, the N with the highest scores are kept (2:4 keeps
 * 2 of 4; the convention of shared/references.md).
 *
 * Blocks: dense W[in, out] — for each output column, rows [bM, bM + M); conv
 * W[kh, kw, cin, cout] — for each (kh, kw, cout), input channels [bM, bM + M). In
 * general the input axis is the second-to-last one. When the input size is not a
 * multiple of M, the last block of r < M weights keeps min(N, r).
 *
 * Previously masked weights (`prior`) get score −∞: they are pruned first and never
 * revived (repeated pruning acts on the remaining weights only), so a block that had
 * more than M − N weights masked keeps fewer than N. Ties: the lower index is kept.
 * @module
 */
import type { MaskSet } from '../nn/network.js';
import type { ScoreSet } from '../scores/registry.js';

/** Check N and M. */
function checkNM(n: number, m: number): void {
  if (!(Number.isInteger(n) && Number.isInteger(m) && m >= 1 && n >= 0 && n <= m)) throw new Error(`N:M needs integers 0 ≤ N ≤ M, M ≥ 1; got ${n}:${m}`);
}

/** The N:M mask of one weight tensor of `shape` (row-major) from its scores. */
export function nmMask(scores: Float32Array, shape: number[], n: number, m: number, prior?: Float32Array): Float32Array {
  checkNM(n, m);
  const size = shape.reduce((a, b) => a * b, 1);
  if (scores.length !== size) throw new Error(`N:M: ${scores.length} scores for a weight of shape [${shape}]`);
  if (shape.length < 2) throw new Error(`N:M needs a weight with an input and an output axis, got shape [${shape}]`);
  const nOut = shape.at(-1)!;
  const nIn = shape.at(-2)!;
  const outer = size / (nIn * nOut);
  const mask = new Float32Array(size);
  const idx: number[] = [];
  for (let p = 0; p < outer; p++) {
    for (let o = 0; o < nOut; o++) {
      for (let start = 0; start < nIn; start += m) {
        const r = Math.min(m, nIn - start);
        idx.length = 0;
        for (let i = start; i < start + r; i++) idx.push((p * nIn + i) * nOut + o);
        const score = (f: number) => (prior && prior[f] === 0 ? -Infinity : scores[f]!);
        idx.sort((a, b) => score(b) - score(a) || a - b);
        const keep = Math.min(n, r);
        for (let k = 0; k < keep; k++) {
          const f = idx[k]!;
          if (score(f) !== -Infinity) mask[f] = 1;
        }
      }
    }
  }
  return mask;
}

/**
 * N:M masks for every weight in `scores`; `shapes` gives each weight's shape (e.g. from
 * `posterior.moments()` or `net.weightLayers()`).
 */
export function nmMasks(scores: ScoreSet, shapes: Map<string, number[]>, n: number, m: number, prior?: MaskSet): MaskSet {
  const out: MaskSet = new Map();
  for (const [name, s] of scores) {
    for (let i = 0; i < s.length; i++) if (Number.isNaN(s[i]!)) throw new Error(`score of "${name}" is NaN at index ${i}`);
    const shape = shapes.get(name);
    if (!shape) throw new Error(`N:M: no shape for weight "${name}"`);
    out.set(name, nmMask(s, shape, n, m, prior?.get(name)));
  }
  return out;
}

/** Shapes of a network's prunable weights by weight name. */
export function weightShapes(layers: { name: string; weightShape?: number[] }[]): Map<string, number[]> {
  return new Map(layers.filter((l) => l.weightShape).map((l) => [`${l.name}.weight`, l.weightShape!]));
}
