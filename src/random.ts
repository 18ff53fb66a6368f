/**
 * Seeded randomness. One root seed → named, independent, deterministic streams.
 *
 * Every random draw in the framework (initialization, shuffling, LRT noise,
 * Monte Carlo samples, random pruning scores) comes from a {@link RandomStream}
 * derived from the run's root seed, and each tfjs random op receives a fresh
 * seed drawn from its stream, so no seed is reused across steps.
 *
 * tfjs trap: in `tf.randomNormal` a seed of 0 means "unseeded"; {@link RandomStream.nextSeed}
 * never returns 0.
 * @module
 */
import seedrandom from 'seedrandom';

/** FNV-1a 32-bit hash of a string: stable across platforms and runs. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A deterministic stream of uniform numbers and integer seeds. */
export class RandomStream {
  private readonly prng: seedrandom.PRNG;
  /** The key this stream was derived from (root seed and path), for diagnostics. */
  readonly key: string;

  constructor(key: string | number) {
    this.key = String(key);
    this.prng = seedrandom.alea(this.key);
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.prng();
  }

  /** A fresh seed in [1, 2^31 − 1] for a tfjs random op (never 0, which tfjs treats as "no seed"). */
  nextSeed(): number {
    return 1 + Math.floor(this.prng() * 2147483646);
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.prng() * n);
  }

  /** Standard normal draw (Box–Muller). */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.prng();
    const v = this.prng();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** In-place Fisher–Yates shuffle; returns the array. */
  shuffle<T>(a: T[] | Int32Array | Uint32Array): typeof a {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i]!;
      a[i] = a[j]!;
      a[j] = t;
    }
    return a;
  }

  /** A random permutation of 0..n−1. */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    this.shuffle(p);
    return p;
  }

  /**
   * An independent child stream named `name`. Children depend only on this
   * stream's key and the name, not on how many draws were made before, so adding
   * a draw in one part of the code never shifts the numbers of another.
   */
  fork(name: string): RandomStream {
    return new RandomStream(`${this.key}/${name}`);
  }
}

/** The root stream of a run. */
export function rootStream(seed: number): RandomStream {
  if (!Number.isInteger(seed) || seed < 0) throw new Error(`seed must be a non-negative integer, got ${seed}`);
  return new RandomStream(`seed:${seed}`);
}
