/**
 * Data sets selectable by name from experiment configs.
 * @module
 */
import { RandomStream } from '../random.js';
import { type Dataset, subset } from './dataset.js';
import { loadFashionMnist } from './fashion-mnist.js';
import { loadEmbeddedMnist, MNIST_EMBEDDED_SPLIT } from './mnist-embedded.js';
import { gaussianBlobs } from './synthetic.js';

/** Names accepted by {@link loadDataset}. */
export const DATASETS = ['mnist-embedded', 'fashion-mnist', 'blobs'] as const;
/** A name accepted by {@link loadDataset}. */
export type DatasetName = (typeof DATASETS)[number];

/** Stream key of the fixed Fashion-MNIST validation split. */
export const FASHION_MNIST_VALIDATION_SPLIT = 'fashion-mnist-validation-split-v1';

/** Options of {@link loadDataset}; fields that do not apply to a data set are ignored. */
export interface LoadDatasetOptions {
  /** `true` → per-example shape `[784]` (image sets); default `[28, 28, 1]`. */
  flat?: boolean;
  /** fashion-mnist: directory of the IDX files (default: see `loadFashionMnist`). */
  dir?: string;
  /** blobs: examples per split (default 600 / 200 / 200). */
  blobs?: { nTrain?: number; nValidation?: number; nTest?: number; dim?: number; numClasses?: number; separation?: number; seedKey?: string };
}

/** Train / validation / test splits plus a manifest-ready description. */
export interface LoadedDataset {
  train: Dataset;
  validation: Dataset;
  test: Dataset;
  /** Name/version of the split rule, for the run manifest. */
  split: string;
}

/**
 * Loads a named data set with fixed splits (independent of the run seed):
 * - `mnist-embedded`: {@link loadEmbeddedMnist}, 8000 / 1000 / 1000.
 * - `fashion-mnist`: the official 60,000 train / 10,000 test; validation is 10 %
 *   of train chosen by `new RandomStream('fashion-mnist-validation-split-v1').permutation(60000)`:
 *   the first `round(0.1·n)` permuted indices (6000) become validation, the
 *   rest train, both kept in permuted order. Not stratified.
 * - `blobs`: one {@link gaussianBlobs} draw (default 2-d, 3 classes, separation 3)
 *   from `new RandomStream(seedKey ?? 'blobs-v1').fork('all')`, cut in order into
 *   train / validation / test (default 600 / 200 / 200), so the splits share centres.
 * @throws Error listing the allowed names for an unknown name.
 */
export function loadDataset(name: string, opts: LoadDatasetOptions = {}): LoadedDataset {
  switch (name as DatasetName) {
    case 'mnist-embedded': {
      const m = loadEmbeddedMnist({ flat: opts.flat });
      return { train: m.train, validation: m.validation, test: m.test, split: MNIST_EMBEDDED_SPLIT };
    }
    case 'fashion-mnist': {
      const { train: full, test } = loadFashionMnist(opts.dir, { flat: opts.flat });
      const perm = new RandomStream(FASHION_MNIST_VALIDATION_SPLIT).permutation(full.n);
      const nVal = Math.round(0.1 * full.n);
      return {
        train: subset(full, perm.subarray(nVal), 'fashion-mnist/train'),
        validation: subset(full, perm.subarray(0, nVal), 'fashion-mnist/validation'),
        test,
        split: FASHION_MNIST_VALIDATION_SPLIT,
      };
    }
    case 'blobs': {
      const b = opts.blobs ?? {};
      const key = b.seedKey ?? 'blobs-v1';
      const root = new RandomStream(key);
      const common = { dim: b.dim ?? 2, numClasses: b.numClasses ?? 3, separation: b.separation ?? 3 };
      // Class centres must agree across splits, so every split is cut from one draw.
      const nTrain = b.nTrain ?? 600;
      const nVal = b.nValidation ?? 200;
      const nTest = b.nTest ?? 200;
      const all = gaussianBlobs({ ...common, n: nTrain + nVal + nTest, stream: root.fork('all'), name: 'blobs' });
      const range = (a: number, e: number) => Int32Array.from({ length: e - a }, (_, i) => a + i);
      return {
        train: subset(all, range(0, nTrain), 'blobs/train'),
        validation: subset(all, range(nTrain, nTrain + nVal), 'blobs/validation'),
        test: subset(all, range(nTrain + nVal, nTrain + nVal + nTest), 'blobs/test'),
        split: `${key}/all: first ${nTrain} train, next ${nVal} validation, last ${nTest} test`,
      };
    }
    default:
      throw new Error(`unknown data set '${name}'; allowed: ${DATASETS.join(', ')}`);
  }
}
