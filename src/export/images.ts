/**
 * Inputs for `predict`: an IDX images file (`[N, H, W]` or `[N, D]`, uint8 or float), or a
 * folder of PGM (P2 / P5, 8-bit) and PNG (8-bit grayscale, grayscale+alpha, RGB or RGBA,
 * not interlaced) images, read without dependencies (PNG's deflate through node:zlib).
 * Pixels become floats in [0, 1] (8-bit / 255), colour images their mean over R, G, B, as
 * the training data were prepared.
 * @module
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { readIdx } from '../data/idx.js';

export interface ImageBatch {
  /** Row-major pixels in [0, 1], n × featureSize. */
  x: Float32Array;
  n: number;
  /** Per-image dims (H, W) or (D). */
  dims: number[];
  /** One name per image (file name, or `#index` for IDX). */
  names: string[];
}

/** Read an IDX file or a folder of .png / .pgm images. */
export function readImages(path: string): ImageBatch {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch {
    throw new Error(`predict: ${path} does not exist (give an IDX images file or a folder of .png / .pgm images)`);
  }
  if (st.isDirectory()) return readFolder(path);
  const idx = readIdx(path);
  if (idx.dims.length !== 2 && idx.dims.length !== 3)
    throw new Error(`predict: ${path}: expected images [N, H, W] or [N, D], found dims [${idx.dims.join('×')}]`);
  const n = idx.dims[0]!;
  const x = new Float32Array(idx.data.length);
  const scale = idx.type === 'uint8' ? 1 / 255 : 1;
  for (let i = 0; i < x.length; i++) x[i] = idx.data[i]! * scale;
  return { x, n, dims: idx.dims.slice(1), names: Array.from({ length: n }, (_, i) => `#${i}`) };
}

function readFolder(dir: string): ImageBatch {
  const files = readdirSync(dir)
    .filter((f) => ['.png', '.pgm'].includes(extname(f).toLowerCase()))
    .sort();
  if (!files.length) throw new Error(`predict: ${dir} holds no .png or .pgm images`);
  const imgs = files.map((f) => {
    const buf = readFileSync(join(dir, f));
    try {
      return extname(f).toLowerCase() === '.png' ? decodePng(buf) : decodePgm(buf);
    } catch (e) {
      throw new Error(`predict: ${join(dir, f)}: ${(e as Error).message}`);
    }
  });
  const [h, w] = [imgs[0]!.height, imgs[0]!.width];
  const bad = imgs.findIndex((im) => im.height !== h || im.width !== w);
  if (bad >= 0)
    throw new Error(`predict: ${join(dir, files[bad]!)} is ${imgs[bad]!.width}×${imgs[bad]!.height}, the others ${w}×${h}; images must share one size`);
  const x = new Float32Array(files.length * h * w);
  imgs.forEach((im, i) => {
    x.set(im.gray, i * h * w);
  });
  return { x, n: files.length, dims: [h, w], names: files };
}

/** A decoded grayscale image, pixels in [0, 1]. */
export interface Gray {
  width: number;
  height: number;
  gray: Float32Array;
}

/** PGM, binary (P5) or plain (P2), maxval ≤ 255. */
export function decodePgm(buf: Buffer): Gray {
  const magic = buf.subarray(0, 2).toString('latin1');
  if (magic !== 'P5' && magic !== 'P2') throw new Error('not a PGM file (expected P5 or P2)');
  // Header: magic, width, height, maxval, separated by whitespace, with # comments.
  const fields: number[] = [];
  let i = 2;
  while (fields.length < 3) {
    while (i < buf.length && /\s/.test(String.fromCharCode(buf[i]!))) i++;
    if (buf[i] === 0x23) {
      while (i < buf.length && buf[i] !== 0x0a) i++;
      continue;
    }
    let s = '';
    while (i < buf.length && /[0-9]/.test(String.fromCharCode(buf[i]!))) s += String.fromCharCode(buf[i++]!);
    if (!s) throw new Error('malformed PGM header');
    fields.push(Number(s));
  }
  const [width, height, maxval] = fields as [number, number, number];
  if (maxval < 1 || maxval > 255) throw new Error(`PGM maxval ${maxval} not supported (8-bit only)`);
  const gray = new Float32Array(width * height);
  if (magic === 'P5') {
    i++; // the single whitespace after maxval
    if (buf.length - i < gray.length) throw new Error(`PGM data too short: ${buf.length - i} bytes for ${width}×${height}`);
    for (let k = 0; k < gray.length; k++) gray[k] = buf[i + k]! / maxval;
  } else {
    const vals = buf.subarray(i).toString('latin1').trim().split(/\s+/).map(Number);
    if (vals.length < gray.length) throw new Error(`PGM has ${vals.length} values for ${width}×${height}`);
    for (let k = 0; k < gray.length; k++) gray[k] = vals[k]! / maxval;
  }
  return { width, height, gray };
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** PNG: 8-bit depth, colour types 0 (gray), 2 (RGB), 4 (gray+alpha), 6 (RGBA), no interlace. */
export function decodePng(buf: Buffer): Gray {
  if (buf.length < 8 || !buf.subarray(0, 8).equals(PNG_SIGNATURE)) throw new Error('not a PNG file');
  let pos = 8;
  let width = 0;
  let height = 0;
  let colorType = -1;
  const idat: Buffer[] = [];
  while (pos + 8 <= buf.length) {
    const len = buf.readUInt32BE(pos);
    const type = buf.subarray(pos + 4, pos + 8).toString('latin1');
    const data = buf.subarray(pos + 8, pos + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      const depth = data[8]!;
      colorType = data[9]!;
      if (depth !== 8) throw new Error(`PNG bit depth ${depth} not supported (8 only)`);
      if (![0, 2, 4, 6].includes(colorType)) throw new Error(`PNG colour type ${colorType} not supported (gray, gray+alpha, RGB, RGBA)`);
      if (data[12] !== 0) throw new Error('interlaced PNG not supported');
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    pos += 12 + len;
  }
  if (colorType < 0) throw new Error('PNG without IHDR');
  const channels = { 0: 1, 2: 3, 4: 2, 6: 4 }[colorType as 0 | 2 | 4 | 6];
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  if (raw.length < height * (stride + 1)) throw new Error('PNG image data too short');
  const px = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? px[y * stride + x - channels]! : 0;
      const b = y > 0 ? px[(y - 1) * stride + x]! : 0;
      const c = x >= channels && y > 0 ? px[(y - 1) * stride + x - channels]! : 0;
      let pred = 0;
      if (filter === 1) pred = a;
      else if (filter === 2) pred = b;
      else if (filter === 3) pred = (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      } else if (filter !== 0) throw new Error(`PNG filter ${filter} unknown`);
      px[y * stride + x] = (line[x]! + pred) & 0xff;
    }
  }
  const gray = new Float32Array(width * height);
  const colour = colorType === 2 || colorType === 6;
  for (let i = 0; i < gray.length; i++) {
    const o = i * channels;
    gray[i] = (colour ? (px[o]! + px[o + 1]! + px[o + 2]!) / 3 : px[o]!) / 255;
  }
  return { width, height, gray };
}
