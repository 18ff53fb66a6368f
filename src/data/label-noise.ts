/**
 * Symmetric label noise for the training split (`data.labelNoise`): a seeded random subset
 * of round(fraction·n) examples gets a label drawn uniformly from the *other* classes
 * (every wrong class equally likely; no flipped label equals the clean one). The draws
 * come from the run's seed only, so the same seed gives the same noisy labels; the name
 * of the noisy split records the fraction, seed and number flipped.
 * @module
 */
import type { Dataset } from './dataset.js';
import { RandomStream } from '../random.js';

/** A copy of `ds` with round(fraction·n) labels flipped to uniformly drawn other classes (features shared, labels copied). */
export function withLabelNoise(ds: Dataset, fraction: number, seed: number): Dataset {
  if (!(fraction >= 0 && fraction <= 1)) throw new Error(`data.labelNoise must be in [0, 1], got ${fraction}`);
  if (ds.numClasses < 2 && fraction > 0) throw new Error(`data.labelNoise needs at least 2 classes (${ds.name} has ${ds.numClasses})`);
  const stream = new RandomStream(`seed:${seed}/label-noise`);
  const flips = Math.round(fraction * ds.n);
  const order = stream.permutation(ds.n);
  const y = Int32Array.from(ds.y);
  for (let i = 0; i < flips; i++) {
    const j = order[i]!;
    const r = stream.int(ds.numClasses - 1); // one of the other numClasses − 1 classes
    y[j] = r >= ds.y[j]! ? r + 1 : r;
  }
  return { ...ds, y, name: `${ds.name}+noise(${fraction}, seed ${seed}, ${flips} flipped)` };
}
