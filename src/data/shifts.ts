/**
 * Dataset shifts for out-of-distribution (OOD) and shift-robustness evaluation
 * (Ovadia et al. 2019, "Can you trust your model's uncertainty?"): rotated
 * images, Gaussian pixel noise, inverted images, uniform-noise images, and a
 * foreign data set (Fashion-MNIST) when installed. Everything here needs no
 * download; each shift is a new {@link Dataset} of the same per-example shape.
 *
 * Image conventions: an example of shape `[h, w]`, `[h, w, c]` or a flat `[h·w]`
 * with h·w a perfect square is an image, row-major, rows top to bottom; pixel
 * values are assumed to lie in [0, 1] (as every loader of this project yields).
 * @module
 */
import type { Dataset } from './dataset.js';
import { featureSize } from './dataset.js';
import type { RandomStream } from '../random.js';

/** Height, width and channels of an image data set, or null if the shape is not an image. */
export function imageGeometry(shape: readonly number[]): { h: number; w: number; c: number } | null {
  if (shape.length === 3) return { h: shape[0]!, w: shape[1]!, c: shape[2]! };
  if (shape.length === 2) return { h: shape[0]!, w: shape[1]!, c: 1 };
  if (shape.length === 1) {
    const s = Math.round(Math.sqrt(shape[0]!));
    if (s > 1 && s * s === shape[0]) return { h: s, w: s, c: 1 };
  }
  return null;
}

/** Snap a coordinate within 1e-9 of an integer to it (so that 90° rotations are exact permutations). */
function snap(v: number): number {
  const r = Math.round(v);
  return Math.abs(v - r) < 1e-9 ? r : v;
}

/**
 * Rotates one h×w×c image counter-clockwise (as seen on screen, rows top to bottom)
 * by `degrees` about its centre ((h−1)/2, (w−1)/2), with bilinear interpolation and
 * 0 outside the source. Output pixel (r, c) reads the source at
 * r' = c_y + cos θ·(r − c_y) + sin θ·(c − c_x), c' = c_x + cos θ·(c − c_x) − sin θ·(r − c_y).
 * For a square image and θ = 90° this is the permutation out[r][c] = in[c][w−1−r].
 */
export function rotateImage(src: ArrayLike<number>, h: number, w: number, c: number, degrees: number, out = new Float32Array(h * w * c)): Float32Array {
  const t = (degrees * Math.PI) / 180;
  const cos = Math.cos(t);
  const sin = Math.sin(t);
  const cy = (h - 1) / 2;
  const cx = (w - 1) / 2;
  const at = (r: number, q: number, ch: number) => (r >= 0 && r < h && q >= 0 && q < w ? src[(r * w + q) * c + ch]! : 0);
  for (let r = 0; r < h; r++) {
    for (let q = 0; q < w; q++) {
      const dy = r - cy;
      const dx = q - cx;
      const sr = snap(cy + cos * dy + sin * dx);
      const sc = snap(cx + cos * dx - sin * dy);
      const r0 = Math.floor(sr);
      const c0 = Math.floor(sc);
      const fr = sr - r0;
      const fc = sc - c0;
      for (let ch = 0; ch < c; ch++) {
        let v = (1 - fr) * (1 - fc) * at(r0, c0, ch);
        if (fc > 0) v += (1 - fr) * fc * at(r0, c0 + 1, ch);
        if (fr > 0) v += fr * (1 - fc) * at(r0 + 1, c0, ch);
        if (fr > 0 && fc > 0) v += fr * fc * at(r0 + 1, c0 + 1, ch);
        out[(r * w + q) * c + ch] = v;
      }
    }
  }
  return out;
}

function like(ds: Dataset, name: string, x: Float32Array, y: Int32Array = ds.y.slice()): Dataset {
  return { name: `${ds.name}@${name}`, x, y, n: ds.n, shape: [...ds.shape], numClasses: ds.numClasses };
}

/** Every image of `ds` rotated by `degrees` (see {@link rotateImage}); labels kept. Throws if `ds` is not an image set. */
export function rotateDataset(ds: Dataset, degrees: number): Dataset {
  const g = imageGeometry(ds.shape);
  if (!g) throw new Error(`shifts: rotation needs image data, '${ds.name}' has shape [${ds.shape.join(', ')}]`);
  const f = featureSize(ds);
  const x = new Float32Array(ds.x.length);
  for (let i = 0; i < ds.n; i++) rotateImage(ds.x.subarray(i * f, (i + 1) * f), g.h, g.w, g.c, degrees, x.subarray(i * f, (i + 1) * f));
  return like(ds, `rot${degrees}`, x);
}

/** x + σ·N(0, 1) per feature, clipped to [0, 1] when `clip` (default true); labels kept. */
export function gaussianNoiseDataset(ds: Dataset, sigma: number, stream: RandomStream, clip = true): Dataset {
  const x = new Float32Array(ds.x.length);
  for (let i = 0; i < x.length; i++) {
    const v = ds.x[i]! + sigma * stream.normal();
    x[i] = clip ? Math.min(1, Math.max(0, v)) : v;
  }
  return like(ds, `noise${sigma}`, x);
}

/** 1 − x per feature (white digits on black become black on white); labels kept. */
export function invertDataset(ds: Dataset): Dataset {
  const x = new Float32Array(ds.x.length);
  for (let i = 0; i < x.length; i++) x[i] = 1 - ds.x[i]!;
  return like(ds, 'inverted', x);
}

/** `n` examples of iid U[lo, hi] features (default [0, 1]) with the shape of `ds`; labels 0 (meaningless). */
export function uniformNoiseDataset(ds: Dataset, n: number, stream: RandomStream, lo = 0, hi = 1): Dataset {
  const f = featureSize(ds);
  const x = new Float32Array(n * f);
  for (let i = 0; i < x.length; i++) x[i] = lo + (hi - lo) * stream.uniform();
  return { name: 'uniform-noise', x, y: new Int32Array(n), n, shape: [...ds.shape], numClasses: ds.numClasses };
}

/** The first `n` examples of `ds` (views, no copy). */
export function headOf(ds: Dataset, n: number): Dataset {
  if (n >= ds.n) return ds;
  const f = featureSize(ds);
  return { ...ds, x: ds.x.subarray(0, n * f), y: ds.y.subarray(0, n), n };
}
