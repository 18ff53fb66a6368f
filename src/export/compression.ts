/**
 * Bayesian compression figures (after Louizos, Ullrich & Welling 2017, "Bayesian Compression
 * for Deep Learning"): the posterior variance of the kept weights sets how finely each layer's
 * weights must be stored.
 *
 * Rule used here (per weight layer l, kept weights K_l, posterior means μ_i and std σ_i):
 *   step Δ_l = 2·min_{i∈K_l} σ_i, levels = ⌈(max μ − min μ)/Δ_l⌉ + 1, bits_l = ⌈log₂ levels⌉ (1 … 32);
 * the means are rounded to the grid min μ + k·Δ_l, so rounding moves every kept weight by at
 * most Δ_l/2 = min σ ≤ its own posterior std: a change the posterior cannot tell apart from its
 * own uncertainty. (The paper sets the precision from the layer's posterior variances; this
 * min-σ version is the conservative reading, and needs no tuning.) A layer whose kept weights
 * all have σ = 0 (a point estimate) keeps 32 bits.
 *
 * Storage: per layer the kept values at bits_l each, their flat indices (16 bits below 65,536
 * entries, else 32), the grid's two float32 parameters and the float32 biases; against the
 * dense float32 network (all weights and biases at 32 bits).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { PlainLayer } from './layers-model.js';
import { plainForward } from './predict.js';

export interface LayerPrecision {
  name: string;
  kept: number;
  total: number;
  minStd: number;
  meanStd: number;
  range: [number, number];
  step: number;
  bits: number;
  /** Largest |rounded − mean| over kept weights, and its ratio to that weight's σ (≤ 1 by construction). */
  maxRoundingError: number;
  maxErrorOverStd: number;
}

export interface CompressionFigures {
  rule: string;
  layers: LayerPrecision[];
  bytes: { denseFloat32: number; sparseFloat32: number; quantizedSparse: number };
  /** denseFloat32 / quantizedSparse, and denseFloat32 / sparseFloat32 (pruning alone). */
  compression: { pruningOnly: number; pruningAndPrecision: number };
  /** Accuracy of the posterior-mean network with full and with quantized weights. */
  accuracy: { full: number; quantized: number };
}

/** Quantize the weight layers by the rule above; returns the new layers and the figures per layer. */
export function quantizeLayers(ls: PlainLayer[]): { layers: PlainLayer[]; precision: LayerPrecision[] } {
  const precision: LayerPrecision[] = [];
  const layers = ls.map((l): PlainLayer => {
    if (l.type !== 'dense' && l.type !== 'conv2d') return l;
    const kept: number[] = [];
    for (let i = 0; i < l.weight.length; i++) if (l.weight[i] !== 0) kept.push(i);
    let lo = Infinity;
    let hi = -Infinity;
    let minStd = Infinity;
    let sumStd = 0;
    for (const i of kept) {
      lo = Math.min(lo, l.weight[i]!);
      hi = Math.max(hi, l.weight[i]!);
      const s = Math.sqrt(l.variance[i]!);
      minStd = Math.min(minStd, s);
      sumStd += s;
    }
    const weight = Float32Array.from(l.weight);
    let bits = 32;
    let step = 0;
    let maxErr = 0;
    let maxRatio = 0;
    if (kept.length && minStd > 0 && Number.isFinite(minStd)) {
      step = 2 * minStd;
      const levels = Math.ceil((hi - lo) / step) + 1;
      bits = Math.min(32, Math.max(1, Math.ceil(Math.log2(levels))));
      if (bits < 32) {
        for (const i of kept) {
          const q = lo + Math.round((l.weight[i]! - lo) / step) * step;
          weight[i] = q;
          const err = Math.abs(Math.fround(q) - l.weight[i]!);
          maxErr = Math.max(maxErr, err);
          maxRatio = Math.max(maxRatio, err / Math.sqrt(l.variance[i]!));
        }
      }
    }
    precision.push({
      name: l.name,
      kept: kept.length,
      total: l.weight.length,
      minStd: kept.length ? minStd : 0,
      meanStd: kept.length ? sumStd / kept.length : 0,
      range: [kept.length ? lo : 0, kept.length ? hi : 0],
      step,
      bits,
      maxRoundingError: maxErr,
      maxErrorOverStd: maxRatio,
    });
    return { ...l, weight };
  });
  return { layers, precision };
}

/** Storage in bytes (see the module comment). */
export function storageBytes(ls: PlainLayer[], precision: LayerPrecision[]): CompressionFigures['bytes'] {
  let dense = 0;
  let sparse = 0;
  let quant = 0;
  let k = 0;
  for (const l of ls) {
    if (l.type !== 'dense' && l.type !== 'conv2d') continue;
    const p = precision[k++]!;
    const indexBits = l.weight.length < 65536 ? 16 : 32;
    dense += 4 * (l.weight.length + l.bias.length);
    sparse += 4 * p.kept + (indexBits / 8) * p.kept + 4 * l.bias.length;
    quant += Math.ceil((p.kept * p.bits) / 8) + (indexBits / 8) * p.kept + 8 + 4 * l.bias.length;
  }
  return { denseFloat32: dense, sparseFloat32: sparse, quantizedSparse: quant };
}

function accuracy(ls: PlainLayer[], inputShape: number[], x: Float32Array, y: Int32Array, n: number): number {
  let correct = 0;
  for (let s = 0; s < n; s += 500) {
    const m = Math.min(500, n - s);
    const d = x.length / n;
    const pred = tf.tidy(() =>
      tf.argMax(plainForward(ls, tf.reshape(tf.tensor2d(x.subarray(s * d, (s + m) * d), [m, d]), [m, ...inputShape]), false, 0), 1).dataSync(),
    );
    for (let i = 0; i < m; i++) if (pred[i] === y[s + i]) correct++;
  }
  return correct / n;
}

/** The figures for exported plain layers on an evaluation set. */
export function compressionFigures(ls: PlainLayer[], inputShape: number[], evalSet: { x: Float32Array; y: Int32Array; n: number }): CompressionFigures {
  const q = quantizeLayers(ls);
  const bytes = storageBytes(ls, q.precision);
  return {
    rule: 'bits = ceil(log2(ceil(range / (2 min sigma)) + 1)) per layer over kept weights (rounding error <= min sigma)',
    layers: q.precision,
    bytes,
    compression: { pruningOnly: bytes.denseFloat32 / bytes.sparseFloat32, pruningAndPrecision: bytes.denseFloat32 / bytes.quantizedSparse },
    accuracy: { full: accuracy(ls, inputShape, evalSet.x, evalSet.y, evalSet.n), quantized: accuracy(q.layers, inputShape, evalSet.x, evalSet.y, evalSet.n) },
  };
}
