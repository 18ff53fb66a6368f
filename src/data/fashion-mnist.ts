/**
 * Fashion-MNIST from the four standard IDX files (raw or gzipped).
 * Debian's `dataset-fashion-mnist` package installs them (gzipped) in
 * `/usr/share/datasets/fashion-mnist`.
 * @module
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Dataset } from './dataset.js';
import { loadIdxPair } from './idx.js';

/** Default directory: `$FASHION_MNIST_DIR`, else Debian's install location. */
export const FASHION_MNIST_DEFAULT_DIR = '/usr/share/datasets/fashion-mnist';

/** Class names of Fashion-MNIST, index = label. */
export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'] as const;

const FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

const HINT =
  'install it with `apt-get install dataset-fashion-mnist` (files land in /usr/share/datasets/fashion-mnist), or set FASHION_MNIST_DIR to a directory holding the 4 IDX files';

/**
 * Loads Fashion-MNIST train (60,000) and test (10,000) from `dir`. Each of the
 * four standard files may be raw or `.gz` (the `.gz` one wins if both exist).
 * @param dir Directory; default `$FASHION_MNIST_DIR` or `/usr/share/datasets/fashion-mnist`.
 * @param opts.flat `true` → shape `[784]`; default `[28, 28, 1]`.
 * @throws Error naming the missing directory/files with an install hint;
 *   {@link IdxError} for malformed files.
 */
export function loadFashionMnist(
  dir: string = process.env.FASHION_MNIST_DIR ?? FASHION_MNIST_DEFAULT_DIR,
  opts: { flat?: boolean } = {},
): { train: Dataset; test: Dataset } {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new Error(`Fashion-MNIST directory ${dir} not found; ${HINT}`);
  }
  const found: Partial<Record<keyof typeof FILES, string>> = {};
  const missing: string[] = [];
  for (const [key, base] of Object.entries(FILES) as [keyof typeof FILES, string][]) {
    const gz = join(dir, `${base}.gz`);
    const raw = join(dir, base);
    if (existsSync(gz)) found[key] = gz;
    else if (existsSync(raw)) found[key] = raw;
    else missing.push(`${base}(.gz)`);
  }
  if (missing.length > 0) {
    throw new Error(`Fashion-MNIST files missing in ${dir}: ${missing.join(', ')}; ${HINT}`);
  }
  const flat = opts.flat ?? false;
  return {
    train: loadIdxPair(found.trainImages!, found.trainLabels!, { name: 'fashion-mnist/train', numClasses: 10, flat }),
    test: loadIdxPair(found.testImages!, found.testLabels!, { name: 'fashion-mnist/test', numClasses: 10, flat }),
  };
}
