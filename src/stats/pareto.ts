/**
 * Pareto fronts: the non-dominated points under several objectives, each maximized or
 * minimized. a dominates b when a is at least as good in every objective and strictly better
 * in one; points with equal objective vectors do not dominate each other (both stay).
 * Points with a missing or non-finite objective take no part (neither on the front nor dominating).
 * @module
 */

/** One objective of {@link paretoFront}. */
export interface Objective<T> {
  /** The objective's value of a point (null / undefined / NaN: missing). */
  value: (p: T) => number | null | undefined;
  /** Whether larger (`max`) or smaller (`min`) is better. */
  sense: 'max' | 'min';
}

/** Whether `a` dominates `b`, both oriented so that larger is better in every coordinate. */
export function dominates(a: readonly number[], b: readonly number[]): boolean {
  let strict = false;
  for (let i = 0; i < a.length; i++) {
    if (a[i]! < b[i]!) return false;
    if (a[i]! > b[i]!) strict = true;
  }
  return strict;
}

/**
 * Indices (ascending) of the points on the Pareto front. Points are visited in descending
 * lexicographic order of their oriented objective vectors: a point can only be dominated by
 * one visited before it, and if it is dominated at all, it is dominated by a point already on
 * the front (dominance is transitive), so each point is checked against the front only.
 */
export function paretoFront<T>(points: readonly T[], objectives: readonly Objective<T>[]): number[] {
  const vecs: (number[] | null)[] = points.map((p) => {
    const v = objectives.map((o) => {
      const x = o.value(p);
      return typeof x === 'number' && Number.isFinite(x) ? (o.sense === 'max' ? x : -x) : NaN;
    });
    return v.every(Number.isFinite) ? v : null;
  });
  const order = points.map((_, i) => i).filter((i) => vecs[i] !== null);
  order.sort((i, j) => {
    const a = vecs[i]!;
    const b = vecs[j]!;
    for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return b[k]! - a[k]!;
    return i - j;
  });
  const front: number[] = [];
  for (const i of order) if (!front.some((f) => dominates(vecs[f]!, vecs[i]!))) front.push(i);
  return front.sort((a, b) => a - b);
}
