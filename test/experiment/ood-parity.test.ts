/**
 * Pipeline parity of the Fashion-MNIST OOD set (issue 13): the images that `eval.ood` feeds the network must go
 * through the same preprocessing as the embedded MNIST split (pixels in [0, 1], not 0–255; no normalization;
 * row-major 28×28, same orientation; float32; the evaluation set's shape). Checked by writing embedded test digits
 * as a uint8 IDX file in the Fashion-MNIST layout and loading them back through the OOD path: every pixel must come
 * back at the same index as round(255·x)/255 of the embedded digit. On the real files (where installed; required
 * under CI=true) the pixel statistics are compared with numpy's (bytes / 255) on the same files.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Dataset } from '../../src/data/dataset.js';
import { writeIdx } from '../../src/data/idx.js';
import { loadEmbeddedMnist } from '../../src/data/mnist-embedded.js';
import { buildShiftSets } from '../../src/experiment/ood-eval.js';
import { RandomStream } from '../../src/random.js';

const root = mkdtempSync(join(tmpdir(), 'ood-parity-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const savedDir = process.env.FASHION_MNIST_DIR;
afterEach(() => {
  if (savedDir === undefined) delete process.env.FASHION_MNIST_DIR;
  else process.env.FASHION_MNIST_DIR = savedDir;
});

const fashionOf = (evalSet: Dataset, examples: number): Dataset => {
  const { sets, notes } = buildShiftSets(evalSet, { shifts: ['fashion-mnist'], examples, noiseSigma: 0.5 }, new RandomStream(1), 'mnist-embedded');
  expect(notes).toEqual([]);
  expect(sets.map((s) => s.name)).toEqual(['fashion-mnist']);
  return sets[0]!.data;
};

describe('Fashion-MNIST OOD images are preprocessed like the embedded MNIST split', () => {
  for (const flat of [true, false]) {
    it(`embedded digits written as uint8 IDX come back pixel for pixel (${flat ? 'flat [784]' : '[28, 28, 1]'})`, () => {
      const test = loadEmbeddedMnist({ flat }).test;
      const n = 40;
      // Scale of the embedded split: [0, 1] with full-intensity strokes (not 0–255).
      let max = 0;
      for (let i = 0; i < n * 784; i++) max = Math.max(max, test.x[i]!);
      expect(max).toBeGreaterThan(0.99);
      expect(max).toBeLessThanOrEqual(1);
      const dir = join(root, `roundtrip-${flat}`);
      mkdirSync(dir);
      const bytes = Uint8Array.from(test.x.subarray(0, n * 784), (v) => Math.round(255 * v));
      writeIdx(join(dir, 't10k-images-idx3-ubyte.gz'), [n, 28, 28], bytes, { gzip: true });
      writeIdx(join(dir, 't10k-labels-idx1-ubyte'), [n], Uint8Array.from(test.y.subarray(0, n)), { gzip: false });
      process.env.FASHION_MNIST_DIR = dir;
      const f = fashionOf(test, n);
      expect(f.x).toBeInstanceOf(Float32Array);
      expect(f.shape).toEqual(test.shape);
      expect(f.numClasses).toBe(test.numClasses);
      expect(f.n).toBe(n);
      let worst = 0;
      for (let i = 0; i < n * 784; i++) {
        expect(f.x[i]).toBeCloseTo(bytes[i]! / 255, 6);
        worst = Math.max(worst, Math.abs(f.x[i]! - test.x[i]!));
      }
      expect(worst).toBeLessThanOrEqual(0.5 / 255 + 1e-6); // same pixel at the same index: layout and orientation agree
    });
  }
});

const REAL = process.env.FASHION_MNIST_DIR ?? '/usr/share/datasets/fashion-mnist';
const HAVE_REAL = existsSync(join(REAL, 't10k-images-idx3-ubyte.gz')) || existsSync(join(REAL, 't10k-images-idx3-ubyte'));
// Skipped where the data set is not installed, except under CI (CI=true), where .ci/run installs it and its absence is a failure.
describe.skipIf(!HAVE_REAL && process.env.CI !== 'true')('real Fashion-MNIST OOD set (where installed; required under CI=true)', { timeout: 60_000 }, () => {
  it('all 10,000 test images: pixels in [0, 1], mean 0.2868 and std 0.3524 as numpy computes from the bytes / 255', () => {
    if (!HAVE_REAL)
      throw new Error(`CI=true but Fashion-MNIST is not in ${REAL}: apt-get install dataset-fashion-mnist (.ci/run does) or set FASHION_MNIST_DIR`);
    const n = 10000;
    const evalSet: Dataset = { name: 'stand-in', x: new Float32Array(n * 784), y: new Int32Array(n), n, shape: [784], numClasses: 10 };
    const f = fashionOf(evalSet, n);
    let s = 0;
    let s2 = 0;
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of f.x) {
      s += v;
      s2 += v * v;
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    const mean = s / f.x.length;
    // numpy on the same file (np.frombuffer(..., uint8, offset=16) / 255): mean 0.28684, std 0.35244.
    expect([lo, hi]).toEqual([0, 1]);
    expect(mean).toBeCloseTo(0.2868, 3);
    expect(Math.sqrt(s2 / f.x.length - mean * mean)).toBeCloseTo(0.3524, 3);
  });
});
