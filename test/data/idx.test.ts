import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeIdx, IdxError, loadIdxPair, parseIdx, readIdx, writeIdx, type IdxTypedArray } from '../../src/data/index.js';

const dir = mkdtempSync(join(tmpdir(), 'idx-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function expectIdxError(fn: () => unknown, ...parts: (string | RegExp)[]): IdxError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(IdxError);
  const e = err as IdxError;
  for (const p of parts) {
    if (typeof p === 'string') expect(e.message).toContain(p);
    else expect(e.message).toMatch(p);
  }
  return e;
}

describe('IDX round trip', () => {
  const cases: [string, number, IdxTypedArray][] = [
    ['uint8', 0x08, Uint8Array.from([0, 1, 127, 128, 254, 255])],
    ['int8', 0x09, Int8Array.from([-128, -1, 0, 1, 126, 127])],
    ['int16', 0x0b, Int16Array.from([-32768, -2, 0, 3, 1000, 32767])],
    ['int32', 0x0c, Int32Array.from([-2147483648, -70000, 0, 5, 123456789, 2147483647])],
    ['float32', 0x0d, Float32Array.from([-1.5, 0, 0.1, 3.25, 1e-30, 6.5e10])],
    ['float64', 0x0e, Float64Array.from([-1.5, 0, 0.1, Math.PI, 1e-300, 6.5e100])],
  ];
  for (const [type, code, data] of cases) {
    for (const gzip of [false, true]) {
      it(`${type} ${gzip ? 'gzipped' : 'raw'}`, () => {
        const path = join(dir, `rt-${type}${gzip ? '.gz' : ''}`);
        writeIdx(path, [2, 3], data, { gzip });
        const bytes = readFileSync(path);
        if (gzip) expect([bytes[0], bytes[1]]).toEqual([0x1f, 0x8b]);
        else expect(Array.from(bytes.subarray(0, 4))).toEqual([0, 0, code, 2]);
        const r = readIdx(path);
        expect(r.type).toBe(type);
        expect(r.dims).toEqual([2, 3]);
        expect(r.data.constructor).toBe(data.constructor);
        expect(Array.from(r.data)).toEqual(Array.from(data));
      });
    }
  }

  it('stores multi-byte values big-endian', () => {
    const b = encodeIdx([1], Int32Array.from([0x01020304]));
    expect(Array.from(b.subarray(8))).toEqual([1, 2, 3, 4]);
  });
});

describe('IDX errors name the file and say what is wrong', () => {
  const images = Uint8Array.from({ length: 4 * 28 * 28 }, (_, i) => i % 256);

  it('truncated data', () => {
    const path = join(dir, 'train-images-idx3-ubyte.gz');
    const full = encodeIdx([4, 28, 28], images);
    writeFileSync(path, gzipSync(full.subarray(0, full.length - 100)));
    const e = expectIdxError(() => readIdx(path), path, 'truncated', '4×28×28 = 3136 bytes', 'only 3036 follow');
    expect(e.file).toBe(path);
  });

  it('truncated header', () => {
    const path = join(dir, 'short-header');
    writeFileSync(path, Buffer.from([0, 0, 8, 3, 0, 0]));
    expectIdxError(() => readIdx(path), path, 'truncated', '3 dimensions');
  });

  it('trailing bytes', () => {
    const path = join(dir, 'trailing');
    writeFileSync(path, Buffer.concat([encodeIdx([4, 28, 28], images), Buffer.from([1, 2, 3])]));
    expectIdxError(() => readIdx(path), path, 'trailing bytes', '3 extra');
  });

  it('bad magic', () => {
    const path = join(dir, 'bad-magic');
    const bytes = encodeIdx([4, 28, 28], images);
    bytes[0] = 0x50;
    bytes[1] = 0x4b;
    writeFileSync(path, bytes);
    expectIdxError(() => readIdx(path), path, 'bad magic 0x504b0803', 'expected 0x0000', '0x08 ubyte');
  });

  it('unknown type code', () => {
    const bytes = encodeIdx([3], Uint8Array.from([1, 2, 3]));
    bytes[2] = 0x0a;
    expectIdxError(() => parseIdx(bytes, 'mem.idx'), 'mem.idx: bad magic 0x00000a01');
  });

  it('zero dimensions', () => {
    expectIdxError(() => parseIdx(Buffer.from([0, 0, 8, 0]), 'zero.idx'), 'zero.idx', 'dimension count 0');
  });

  it('corrupt gzip', () => {
    const path = join(dir, 'corrupt.gz');
    const gz = gzipSync(encodeIdx([4, 28, 28], images));
    for (let i = 12; i < gz.length - 8; i++) gz[i] = gz[i]! ^ 0x5a;
    writeFileSync(path, gz);
    expectIdxError(() => readIdx(path), path, 'corrupt gzip:');
  });

  it('gzip cut short', () => {
    const path = join(dir, 'cut.gz');
    const gz = gzipSync(encodeIdx([4, 28, 28], images));
    writeFileSync(path, gz.subarray(0, gz.length >> 1));
    expectIdxError(() => readIdx(path), path, 'corrupt gzip:');
  });

  it('missing file', () => {
    const path = join(dir, 'no-such-file-idx3-ubyte');
    expectIdxError(() => readIdx(path), `${path}: file not found`, 'hint');
  });
});

describe('loadIdxPair', () => {
  const n = 5;
  const pixels = Uint8Array.from({ length: n * 4 * 3 }, (_, i) => (i * 37) % 256);
  const labels = Uint8Array.from([3, 0, 9, 1, 3]);
  const img = join(dir, 'pair-images.gz');
  const lab = join(dir, 'pair-labels');
  writeIdx(img, [n, 4, 3], pixels, { gzip: true });
  writeIdx(lab, [n], labels);

  it('scales pixels to [0,1] and keeps labels', () => {
    const ds = loadIdxPair(img, lab, { name: 'pair' });
    expect(ds.n).toBe(n);
    expect(ds.shape).toEqual([4, 3, 1]);
    expect(Array.from(ds.y)).toEqual(Array.from(labels));
    for (let i = 0; i < pixels.length; i++) expect(ds.x[i]).toBeCloseTo(pixels[i]! / 255, 7);
    expect(loadIdxPair(img, lab, { name: 'pair', flat: true }).shape).toEqual([12]);
  });

  it('label count mismatch names both files', () => {
    const lab4 = join(dir, 'pair-labels-4');
    writeIdx(lab4, [4], labels.subarray(0, 4));
    expectIdxError(() => loadIdxPair(img, lab4, { name: 'pair' }), img, lab4, 'has 5 images', 'has 4 labels');
  });

  it('label out of range names both files', () => {
    expectIdxError(() => loadIdxPair(img, lab, { name: 'pair', numClasses: 5 }), img, lab, 'label 9 at index 2');
  });

  it('rejects a labels file with the wrong rank', () => {
    expectIdxError(() => loadIdxPair(img, img, { name: 'pair' }), img, 'expected a labels file with 1 dim');
  });
});
