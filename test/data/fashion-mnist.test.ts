import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { classCounts, IdxError, loadDataset, loadFashionMnist, writeIdx } from '../../src/data/index.js';

const root = mkdtempSync(join(tmpdir(), 'fmnist-test-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Writes a tiny Fashion-MNIST look-alike: `nTrain`/`nTest` 28×28 images, label = i mod 10. */
function fixture(name: string, nTrain: number, nTest: number, gzipMask = [true, false, true, false]): string {
  const dir = join(root, name);
  mkdirSync(dir);
  const files = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'];
  const sizes = [nTrain, nTrain, nTest, nTest];
  files.forEach((f, k) => {
    const n = sizes[k]!;
    const gzip = gzipMask[k]!;
    const path = join(dir, f + (gzip ? '.gz' : ''));
    if (f.includes('images')) {
      // Pixel value encodes the example index so the tests can track examples.
      const px = new Uint8Array(n * 784);
      for (let i = 0; i < n; i++) px.fill(i % 256, i * 784, (i + 1) * 784);
      writeIdx(path, [n, 28, 28], px, { gzip });
    } else {
      writeIdx(
        path,
        [n],
        Uint8Array.from({ length: n }, (_, i) => i % 10),
        { gzip },
      );
    }
  });
  return dir;
}

describe('loadFashionMnist (fixtures)', () => {
  it('loads a mix of raw and gzipped files', () => {
    const dir = fixture('mixed', 30, 20);
    const { train, test } = loadFashionMnist(dir, { flat: true });
    expect([train.n, test.n]).toEqual([30, 20]);
    expect(train.shape).toEqual([784]);
    expect(loadFashionMnist(dir).train.shape).toEqual([28, 28, 1]);
    expect(train.y[13]).toBe(3);
    expect(train.x[13 * 784]).toBeCloseTo(13 / 255, 7);
    expect(classCounts(test)).toEqual(new Array(10).fill(2));
  });

  it('missing directory: names it and gives the apt hint', () => {
    const dir = join(root, 'does-not-exist');
    expect(() => loadFashionMnist(dir)).toThrow(new RegExp(`${dir}.*apt-get install dataset-fashion-mnist`));
  });

  it('missing file: names the file and gives the apt hint', () => {
    const dir = fixture('partial', 10, 10);
    rmSync(join(dir, 't10k-images-idx3-ubyte.gz'));
    expect(() => loadFashionMnist(dir)).toThrow(/t10k-images-idx3-ubyte\(\.gz\).*apt-get install dataset-fashion-mnist/);
  });

  it('image/label count mismatch is an IdxError', () => {
    const dir = fixture('mismatch', 10, 10);
    writeIdx(join(dir, 't10k-labels-idx1-ubyte'), [9], new Uint8Array(9));
    expect(() => loadFashionMnist(dir)).toThrow(IdxError);
  });

  it('registry carves a fixed, disjoint 10 % validation split off train', () => {
    const dir = fixture('registry', 200, 20);
    const a = loadDataset('fashion-mnist', { dir, flat: true });
    const b = loadDataset('fashion-mnist', { dir, flat: true });
    expect([a.train.n, a.validation.n, a.test.n]).toEqual([180, 20, 20]);
    expect(a.validation.y).toEqual(b.validation.y);
    expect(a.validation.x).toEqual(b.validation.x);
    // First pixel identifies the source example (i mod 256, unique here since n < 256).
    const ids = (ds: typeof a.train) => Array.from({ length: ds.n }, (_, k) => Math.round(ds.x[k * 784]! * 255));
    const tr = new Set(ids(a.train));
    const va = ids(a.validation);
    expect(tr.size).toBe(180);
    expect(va.some((i) => tr.has(i))).toBe(false);
    expect(new Set([...tr, ...va]).size).toBe(200);
    expect(va).not.toEqual([...va].sort((p, q) => p - q)); // shuffled, not the first 20
  });
});

const REAL = process.env.FASHION_MNIST_DIR ?? '/usr/share/datasets/fashion-mnist';
const HAVE_REAL = existsSync(join(REAL, 'train-images-idx3-ubyte.gz')) || existsSync(join(REAL, 'train-images-idx3-ubyte'));
// Skipped where the data set is not installed, except under CI (CI=true), where .ci/run installs it and its absence is a failure.
describe.skipIf(!HAVE_REAL && process.env.CI !== 'true')('real Fashion-MNIST (where installed; required under CI=true)', { timeout: 60_000 }, () => {
  it('has 60000 / 10000 balanced examples', () => {
    if (!HAVE_REAL)
      throw new Error(`CI=true but Fashion-MNIST is not in ${REAL}: apt-get install dataset-fashion-mnist (.ci/run does) or set FASHION_MNIST_DIR`);
    const { train, test } = loadFashionMnist(REAL, { flat: true });
    expect([train.n, test.n]).toEqual([60000, 10000]);
    expect(classCounts(train)).toEqual(new Array(10).fill(6000));
    expect(classCounts(test)).toEqual(new Array(10).fill(1000));
  });
});
