/**
 * "Did you mean" suggestions for config keys, values and CLI arguments (no dependencies, so
 * the CLI can use them before loading tfjs).
 * @module
 */

/**
 * Damerau–Levenshtein distance (optimal string alignment: insertions, deletions,
 * substitutions and transpositions of adjacent characters, each costing 1).
 */
export function editDistance(a: string, b: string): number {
  const m = a.length;
  const n = b.length;
  const d: number[][] = Array.from({ length: m + 1 }, (_, i) => Array.from({ length: n + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= m; i++) {
    for (let j = 1; j <= n; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[m]![n]!;
}

/**
 * The candidate closest to `word` within edit distance `max` (case-insensitive), if any; a
 * candidate as far as the word is long (`x` vs `pi`) is no suggestion.
 */
export function closest(word: string, candidates: readonly string[], max = 2): string | undefined {
  if (word.length > 200) return undefined;
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const dist = editDistance(word.toLowerCase(), c.toLowerCase());
    if (dist <= max && dist < Math.max(word.length, 2) && dist < bestD) {
      best = c;
      bestD = dist;
    }
  }
  return best;
}

/** ` (did you mean "x"?)` or the empty string. */
export function didYouMean(word: string, candidates: readonly string[]): string {
  const c = closest(word, candidates);
  return c !== undefined && c !== word ? ` (did you mean "${c}"?)` : '';
}
