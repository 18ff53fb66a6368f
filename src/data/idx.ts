/**
 * Reader and writer for the IDX format of MNIST / Fashion-MNIST, raw or gzipped.
 *
 * Layout: two zero bytes, a type code, the number of dimensions `k`, then `k`
 * big-endian uint32 dimension sizes, then the data, big-endian, row-major.
 * Every error is an {@link IdxError} whose message starts with the file name.
 * @module
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { type Dataset, validateDataset } from './dataset.js';

/** Element type names of IDX files. */
export type IdxType = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';

/** Typed arrays that IDX data decode to. */
export type IdxTypedArray = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

/** A decoded IDX file. */
export interface IdxData {
  /** Dimension sizes from the header, e.g. `[60000, 28, 28]`. */
  dims: number[];
  /** Element type. */
  type: IdxType;
  /** Elements in native byte order, row-major; `length === prod(dims)`. */
  data: IdxTypedArray;
}

/** An error reading or writing an IDX file; `file` is the path (or name) involved. */
export class IdxError extends Error {
  /** The file the error is about. */
  readonly file: string;
  constructor(file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'IdxError';
    this.file = file;
  }
}

interface TypeSpec {
  code: number;
  type: IdxType;
  idxName: string;
  size: number;
}

const TYPES: TypeSpec[] = [
  { code: 0x08, type: 'uint8', idxName: 'ubyte', size: 1 },
  { code: 0x09, type: 'int8', idxName: 'byte', size: 1 },
  { code: 0x0b, type: 'int16', idxName: 'short', size: 2 },
  { code: 0x0c, type: 'int32', idxName: 'int', size: 4 },
  { code: 0x0d, type: 'float32', idxName: 'float', size: 4 },
  { code: 0x0e, type: 'float64', idxName: 'double', size: 8 },
];
const TYPE_LIST = TYPES.map((t) => `0x${t.code.toString(16).padStart(2, '0').toUpperCase()} ${t.idxName}`).join(', ');
const MAX_DIMS = 16;

const hex = (n: number, width: number) => '0x' + n.toString(16).padStart(width, '0');

/**
 * Decodes IDX bytes. Gzip is detected by the magic `0x1f 0x8b` and inflated.
 * @param buffer File contents.
 * @param nameForErrors Path or name put at the start of error messages.
 * @throws {IdxError} on corrupt gzip, bad magic, unknown type, bad dimension
 *   count, truncated header or data, or trailing bytes.
 */
export function parseIdx(buffer: Uint8Array, nameForErrors: string): IdxData {
  const file = nameForErrors;
  let buf = buffer;
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = gunzipSync(buf);
    } catch (e) {
      throw new IdxError(file, `corrupt gzip: ${(e as Error).message}`);
    }
  }
  if (buf.length < 4) {
    throw new IdxError(file, `truncated: file is ${buf.length} bytes, an IDX header needs at least 4 (magic) bytes`);
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const magic = view.getUint32(0, false);
  const spec = TYPES.find((t) => t.code === buf[2]);
  if (buf[0] !== 0 || buf[1] !== 0 || !spec) {
    throw new IdxError(file, `bad magic ${hex(magic, 8)}, expected 0x0000 followed by a type code (${TYPE_LIST}) and a dimension count`);
  }
  const ndims = buf[3]!;
  if (ndims < 1 || ndims > MAX_DIMS) {
    throw new IdxError(file, `bad magic ${hex(magic, 8)}: dimension count ${ndims}, expected 1..${MAX_DIMS}`);
  }
  const headerBytes = 4 + 4 * ndims;
  if (buf.length < headerBytes) {
    throw new IdxError(file, `truncated: header declares ${ndims} dimensions (${headerBytes} header bytes) but the file is ${buf.length} bytes`);
  }
  const dims: number[] = [];
  for (let k = 0; k < ndims; k++) dims.push(view.getUint32(4 + 4 * k, false));
  const count = dims.reduce((p, d) => p * d, 1);
  const want = count * spec.size;
  const have = buf.length - headerBytes;
  const declared = `${dims.join('×')}${spec.size > 1 ? ` × ${spec.size} bytes` : ''} = ${want} bytes of ${spec.idxName} data`;
  if (have < want) throw new IdxError(file, `truncated: header declares ${declared} but only ${have} follow`);
  if (have > want) throw new IdxError(file, `trailing bytes: header declares ${declared} but ${have} follow (${have - want} extra)`);

  let data: IdxTypedArray;
  const off = headerBytes;
  switch (spec.type) {
    case 'uint8':
      data = new Uint8Array(buf.subarray(off, off + want));
      break;
    case 'int8':
      data = new Int8Array(want);
      data.set(new Int8Array(buf.buffer, buf.byteOffset + off, want));
      break;
    case 'int16': {
      const a = new Int16Array(count);
      for (let i = 0; i < count; i++) a[i] = view.getInt16(off + 2 * i, false);
      data = a;
      break;
    }
    case 'int32': {
      const a = new Int32Array(count);
      for (let i = 0; i < count; i++) a[i] = view.getInt32(off + 4 * i, false);
      data = a;
      break;
    }
    case 'float32': {
      const a = new Float32Array(count);
      for (let i = 0; i < count; i++) a[i] = view.getFloat32(off + 4 * i, false);
      data = a;
      break;
    }
    case 'float64': {
      const a = new Float64Array(count);
      for (let i = 0; i < count; i++) a[i] = view.getFloat64(off + 8 * i, false);
      data = a;
      break;
    }
  }
  return { dims, type: spec.type, data };
}

/**
 * Reads and decodes an IDX file (raw or gzipped).
 * @throws {IdxError} `file not found` if `path` does not exist, else as {@link parseIdx}.
 */
export function readIdx(path: string): IdxData {
  if (!existsSync(path)) {
    throw new IdxError(
      path,
      'file not found (hint: check the path and whether the file is gzipped, e.g. `train-images-idx3-ubyte` vs `train-images-idx3-ubyte.gz`)',
    );
  }
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new IdxError(path, `cannot read: ${(e as Error).message}`);
  }
  return parseIdx(bytes, path);
}

function specOf(data: IdxTypedArray): TypeSpec {
  const type: IdxType | undefined =
    data instanceof Uint8Array
      ? 'uint8'
      : data instanceof Int8Array
        ? 'int8'
        : data instanceof Int16Array
          ? 'int16'
          : data instanceof Int32Array
            ? 'int32'
            : data instanceof Float32Array
              ? 'float32'
              : data instanceof Float64Array
                ? 'float64'
                : undefined;
  const spec = TYPES.find((t) => t.type === type);
  if (!spec) throw new Error('encodeIdx: unsupported array type');
  return spec;
}

/**
 * Encodes `data` (type taken from the array class) with header `dims` to IDX
 * bytes, gzipped if `opts.gzip`. Throws if `data.length !== prod(dims)`.
 */
export function encodeIdx(dims: number[], data: IdxTypedArray, opts: { gzip?: boolean } = {}): Buffer {
  const spec = specOf(data);
  const count = dims.reduce((p, d) => p * d, 1);
  if (dims.length < 1 || dims.length > MAX_DIMS || dims.some((d) => !Number.isInteger(d) || d < 0 || d > 0xffffffff)) {
    throw new Error(`encodeIdx: bad dims [${dims.join(', ')}]`);
  }
  if (data.length !== count) throw new Error(`encodeIdx: data has ${data.length} elements, dims [${dims.join(', ')}] need ${count}`);
  const header = 4 + 4 * dims.length;
  const out = Buffer.alloc(header + count * spec.size);
  out[2] = spec.code;
  out[3] = dims.length;
  dims.forEach((d, k) => out.writeUInt32BE(d, 4 + 4 * k));
  for (let i = 0; i < count; i++) {
    const v = data[i]!;
    const o = header + i * spec.size;
    switch (spec.type) {
      case 'uint8':
        out.writeUInt8(v, o);
        break;
      case 'int8':
        out.writeInt8(v, o);
        break;
      case 'int16':
        out.writeInt16BE(v, o);
        break;
      case 'int32':
        out.writeInt32BE(v, o);
        break;
      case 'float32':
        out.writeFloatBE(v, o);
        break;
      case 'float64':
        out.writeDoubleBE(v, o);
        break;
    }
  }
  return opts.gzip ? gzipSync(out) : out;
}

/** Writes an IDX file (see {@link encodeIdx}); used by tests to build fixtures. */
export function writeIdx(path: string, dims: number[], data: IdxTypedArray, opts: { gzip?: boolean } = {}): void {
  writeFileSync(path, encodeIdx(dims, data, opts));
}

/** Options of {@link loadIdxPair}. */
export interface IdxPairOptions {
  /** Data set name. */
  name: string;
  /** Number of classes; labels must lie in `[0, numClasses)`. Default 10. */
  numClasses?: number;
  /** `true` → per-example shape `[H·W]`; default `[H, W, 1]`. */
  flat?: boolean;
}

/**
 * Loads an images file (`[N, H, W]` or `[N, D]`) and a labels file (`[N]`)
 * into a {@link Dataset}. uint8 pixels are divided by 255; float pixels must
 * already lie in [0, 1]. Labels must be integers in `[0, numClasses)`.
 * @throws {IdxError} on any file problem, or (naming both files) when the
 *   image and label counts differ or a label is out of range.
 */
export function loadIdxPair(imagesPath: string, labelsPath: string, opts: IdxPairOptions): Dataset {
  const numClasses = opts.numClasses ?? 10;
  const images = readIdx(imagesPath);
  const labels = readIdx(labelsPath);
  const both = `${imagesPath} + ${labelsPath}`;
  if (images.dims.length !== 2 && images.dims.length !== 3) {
    throw new IdxError(
      imagesPath,
      `expected an images file with 3 dims [N, H, W] (or 2 dims [N, D]), found ${images.dims.length} dims [${images.dims.join('×')}]`,
    );
  }
  if (labels.dims.length !== 1) {
    throw new IdxError(labelsPath, `expected a labels file with 1 dim [N], found ${labels.dims.length} dims [${labels.dims.join('×')}]`);
  }
  if (labels.type === 'float32' || labels.type === 'float64') {
    throw new IdxError(labelsPath, `expected integer labels, found ${labels.type}`);
  }
  const n = images.dims[0]!;
  if (labels.dims[0] !== n) {
    throw new IdxError(both, `image/label count mismatch: ${imagesPath} has ${n} images but ${labelsPath} has ${labels.dims[0]} labels`);
  }
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = labels.data[i]!;
    if (c < 0 || c >= numClasses) {
      throw new IdxError(both, `label ${c} at index ${i} of ${labelsPath} is outside [0, ${numClasses}) (images: ${imagesPath})`);
    }
    y[i] = c;
  }
  const per = images.dims.slice(1).reduce((p, d) => p * d, 1);
  const x = new Float32Array(n * per);
  if (images.type === 'uint8') {
    const src = images.data;
    for (let i = 0; i < src.length; i++) x[i] = src[i]! / 255;
  } else if (images.type === 'float32' || images.type === 'float64') {
    const src = images.data;
    for (let i = 0; i < src.length; i++) {
      const v = src[i]!;
      if (!(v >= 0 && v <= 1)) throw new IdxError(imagesPath, `float pixel ${v} at element ${i} is outside [0, 1]`);
      x[i] = v;
    }
  } else {
    throw new IdxError(imagesPath, `expected uint8 (ubyte) or float pixels, found ${images.type}`);
  }
  const shape = images.dims.length === 2 || opts.flat ? [per] : [images.dims[1]!, images.dims[2]!, 1];
  return validateDataset({ name: opts.name, x, y, n, shape, numClasses });
}
