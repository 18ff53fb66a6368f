/**
 * Point-estimate 2-D convolution (NHWC) and the conv geometry shared by every conv layer.
 *
 * Weights are [kh, kw, cin, cout] (tfjs layout). Padding is `valid` (as in
 * LeNet-5-Caffe); a `valid` conv makes the compaction of a removed input channel
 * exact, because a constant input channel then adds a constant to every output
 * position (see `src/pruning/compaction.ts`).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { MaskedWeightLayer } from './mask-slot.js';
import type { ForwardOptions, Layer, WeightMoments } from './layer.js';
import { initBias, initWeight, type Initializer } from './init.js';
import type { RandomStream } from '../random.js';
import { newVariable } from './names.js';
import { weightStructure, type UnitStructure } from './structure.js';
import { RandomStream as Stream } from '../random.js';

/** Geometry of a conv layer: input size, kernel, stride. */
export interface ConvGeometry {
  inH: number;
  inW: number;
  cin: number;
  cout: number;
  /** Square kernel size k (kh = kw = k). */
  k: number;
  stride: number;
}

/** Output height and width of a `valid` convolution: ⌊(in − k)/s⌋ + 1. */
export function convOutputSize(inH: number, inW: number, k: number, stride = 1): [number, number] {
  const oh = Math.floor((inH - k) / stride) + 1;
  const ow = Math.floor((inW - k) / stride) + 1;
  if (!(oh >= 1 && ow >= 1)) throw new Error(`conv: kernel ${k} with stride ${stride} does not fit an input of ${inH}×${inW}`);
  return [oh, ow];
}

/** Options shared by conv layers. */
export interface ConvOptions {
  name: string;
  /** Input height and width (fixes `macsPerWeight` = output positions). */
  inH: number;
  inW: number;
  cin: number;
  cout: number;
  k: number;
  stride?: number;
  init?: Initializer;
  stream: RandomStream;
}

/** Geometry from options (stride defaults to 1). */
export function geometryOf(o: ConvOptions): ConvGeometry {
  return { inH: o.inH, inW: o.inW, cin: o.cin, cout: o.cout, k: o.k, stride: o.stride ?? 1 };
}

/** Initial kernel: fan-in = k²·cin, fan-out = k²·cout (He et al. 2015; Glorot & Bengio 2010). */
export function initKernel(g: ConvGeometry, init: Initializer, stream: RandomStream): tf.Tensor {
  return initWeight([g.k, g.k, g.cin, g.cout], g.k * g.k * g.cin, g.k * g.k * g.cout, init, stream);
}

/** `valid` conv of x [B, H, W, cin] with w [k, k, cin, cout]. */
export function conv(x: tf.Tensor, w: tf.Tensor, stride: number): tf.Tensor4D {
  return tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, 'valid');
}

/** Deterministic conv layer y = conv(x, W) + b; its "posterior" is a point mass. */
export class Conv2d extends MaskedWeightLayer implements Layer {
  readonly kind = 'conv2d';
  readonly name: string;
  readonly geometry: ConvGeometry;
  readonly weightShape: number[];
  /** Output positions H_out·W_out: multiply-adds of one kernel weight per example. */
  readonly macsPerWeight: number;
  readonly w: tf.Variable;
  readonly b: tf.Variable;

  constructor(o: ConvOptions) {
    super();
    this.name = o.name;
    this.geometry = geometryOf(o);
    const [oh, ow] = convOutputSize(o.inH, o.inW, o.k, this.geometry.stride);
    this.macsPerWeight = oh * ow;
    this.weightShape = [o.k, o.k, o.cin, o.cout];
    const init = o.init ?? 'he-normal';
    this.w = newVariable(initKernel(this.geometry, init, o.stream), `${o.name}.w`);
    this.b = newVariable(initBias(o.cout, o.k * o.k * o.cin, init, o.stream), `${o.name}.b`);
  }

  forward(x: tf.Tensor, _opts: ForwardOptions): tf.Tensor {
    return tf.tidy(() => tf.add(conv(x, this.mask.apply(this.w), this.geometry.stride), this.b));
  }

  variables(): tf.Variable[] {
    return [this.w, this.b];
  }

  moments(): WeightMoments {
    return this.pointMoments(this.w.dataSync() as Float32Array, this.macsPerWeight);
  }

  structure(): UnitStructure {
    const g = this.geometry;
    return weightStructure(this.weightShape, this.b, {
      parameterAxes: () => [
        { variable: this.w, inAxis: 2, outAxis: 3 },
        { variable: this.b, outAxis: 0 },
      ],
      deterministicWeight: () => tf.tidy(() => (this.mask.tensor ? this.mask.apply(this.w) : this.w.clone()).dataSync() as Float32Array),
      resized: (i, o) =>
        new Conv2d({ name: this.name, inH: g.inH, inW: g.inW, cin: i, cout: o, k: g.k, stride: g.stride, stream: new Stream(`resize/${this.name}`) }),
    });
  }
}
