import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { classCounts, embeddedMnistDir, loadEmbeddedMnist, type EmbeddedMnist } from '../../src/data/index.js';

/** Element-wise equality; far faster than toEqual on multi-million-element typed arrays. */
function same(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const CLASS_TOTALS = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];

describe('embedded MNIST split', { timeout: 60_000 }, () => {
  let a: EmbeddedMnist;
  let b: EmbeddedMnist;
  beforeAll(() => {
    a = loadEmbeddedMnist();
    b = loadEmbeddedMnist({ flat: true });
  });

  it('has exactly 8000 / 1000 / 1000 examples', () => {
    expect([a.train.n, a.validation.n, a.test.n]).toEqual([8000, 1000, 1000]);
    expect(a.train.x.length).toBe(8000 * 784);
    expect(a.info.counts).toEqual({ train: 8000, validation: 1000, test: 1000 });
    expect(a.info.classTotals).toEqual(CLASS_TOTALS);
  });

  it('splits are disjoint and cover all 10000 images', () => {
    const owner = new Int8Array(10000).fill(-1);
    const parts = [a.indices.train, a.indices.validation, a.indices.test];
    let clashes = 0;
    parts.forEach((idx, p) => {
      for (const i of idx) {
        if (owner[i] !== -1) clashes++;
        owner[i] = p;
      }
    });
    expect(clashes).toBe(0);
    expect(owner.every((o) => o >= 0)).toBe(true);
  });

  it('is stratified: every class in every split, counts within ±1 of 80/10/10 %', () => {
    const fr = { train: 0.8, validation: 0.1, test: 0.1 } as const;
    for (const part of ['train', 'validation', 'test'] as const) {
      const counts = classCounts(a[part]);
      expect(counts).toEqual(a.info.perClass[part]);
      counts.forEach((c, k) => {
        expect(c).toBeGreaterThan(0);
        expect(Math.abs(c - fr[part] * CLASS_TOTALS[k]!)).toBeLessThanOrEqual(1);
      });
    }
  });

  it('labels and pixels match the source files', () => {
    const starts = CLASS_TOTALS.map((_, c) => CLASS_TOTALS.slice(0, c).reduce((s, v) => s + v, 0));
    const classOf = (i: number) => starts.filter((s) => s <= i).length - 1;
    for (const part of ['train', 'validation', 'test'] as const) {
      const idx = a.indices[part];
      let wrong = 0;
      for (let k = 0; k < idx.length; k++) if (a[part].y[k] !== classOf(idx[k]!)) wrong++;
      expect(wrong).toBe(0);
    }
    // Compare a few images pixel-for-pixel against the JSON.
    const five = JSON.parse(readFileSync(join(embeddedMnistDir(), '5.json'), 'utf8')).data as number[];
    let checked = 0;
    for (let k = 0; k < a.test.n && checked < 3; k++) {
      if (a.test.y[k] !== 5) continue;
      const j = a.indices.test[k]! - starts[5]!;
      const expected = Float32Array.from(five.slice(j * 784, (j + 1) * 784));
      expect(a.test.x.subarray(k * 784, (k + 1) * 784)).toEqual(expected);
      checked++;
    }
    expect(checked).toBe(3);
  });

  it('order is fixed across loads and shuffled (not sorted by class)', () => {
    const c = loadEmbeddedMnist();
    for (const part of ['train', 'validation', 'test'] as const) {
      expect(same(c.indices[part], a.indices[part])).toBe(true);
      expect(same(c[part].y, a[part].y)).toBe(true);
      expect(same(c[part].x, a[part].x)).toBe(true);
      expect(same(b[part].y, a[part].y)).toBe(true);
      expect(same(b[part].x, a[part].x)).toBe(true);
      let changes = 0;
      for (let k = 1; k < a[part].n; k++) if (a[part].y[k] !== a[part].y[k - 1]) changes++;
      expect(changes).toBeGreaterThan(0.7 * a[part].n);
    }
    // Version lock: these change only if the split rule or its stream key changes.
    expect(Array.from(a.indices.train.slice(0, 5))).toEqual([7986, 599, 4443, 9277, 1242]);
    expect(Array.from(a.indices.test.slice(0, 5))).toEqual([2034, 2026, 1560, 1567, 1377]);
    expect(a.info.perClass.validation).toEqual([100, 113, 99, 103, 98, 87, 101, 107, 94, 98]);
    expect(a.info.name).toBe('mnist-embedded-split-v1');
  });

  it('returns independent copies (mutating one load does not affect the next)', () => {
    const c = loadEmbeddedMnist();
    c.train.x[0] = 42;
    c.train.y[0] = 9 - c.train.y[0]!;
    const d = loadEmbeddedMnist();
    expect(d.train.x[0]).toBe(a.train.x[0]);
    expect(d.train.y[0]).toBe(a.train.y[0]);
  });

  it('shapes: [28,28,1] by default, [784] with flat; pixels in [0,1]', () => {
    expect(a.train.shape).toEqual([28, 28, 1]);
    expect(b.train.shape).toEqual([784]);
    let min = Infinity;
    let max = -Infinity;
    for (const v of a.train.x) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    expect(min).toBe(0);
    expect(max).toBe(1);
    expect(a.train.numClasses).toBe(10);
  });
});
