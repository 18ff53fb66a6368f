/**
 * Weight initialization, seeded from a {@link RandomStream}.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { RandomStream } from '../random.js';

/** Initializers available in configs (`model.init`). */
export const INITIALIZERS = ['he-normal', 'glorot-normal', 'glorot-uniform', 'torch-default'] as const;
export type Initializer = (typeof INITIALIZERS)[number];

/**
 * Initializers that draw biases as well as weights ({@link initBias}). Only the point-estimate
 * layers (`Dense`, `Conv2d`) call {@link initBias}; the config refuses these initializers for
 * methods whose layers keep zero biases.
 */
export const BIAS_DRAWING_INITIALIZERS: readonly Initializer[] = ['torch-default'];

/**
 * Draw an initial weight tensor. `fanIn`/`fanOut` follow Glorot & Bengio (2010)
 * and He et al. (2015): He normal std = sqrt(2 / fanIn); Glorot normal std =
 * sqrt(2 / (fanIn + fanOut)); Glorot uniform limit = sqrt(6 / (fanIn + fanOut)).
 * Normals are truncated at 2 std, as in Keras.
 * `torch-default` is PyTorch's `nn.Linear` / `nn.Conv2d` default (kaiming_uniform with
 * a = √5): uniform on ±1/√fanIn, std 1/√(3·fanIn), about 2.45× smaller than He normal.
 */
export function initWeight(shape: number[], fanIn: number, fanOut: number, kind: Initializer, stream: RandomStream): tf.Tensor {
  const seed = stream.nextSeed();
  switch (kind) {
    case 'he-normal':
      return tf.truncatedNormal(shape, 0, Math.sqrt(2 / fanIn), 'float32', seed);
    case 'glorot-normal':
      return tf.truncatedNormal(shape, 0, Math.sqrt(2 / (fanIn + fanOut)), 'float32', seed);
    case 'glorot-uniform': {
      const lim = Math.sqrt(6 / (fanIn + fanOut));
      return tf.randomUniform(shape, -lim, lim, 'float32', seed);
    }
    case 'torch-default': {
      const lim = 1 / Math.sqrt(fanIn);
      return tf.randomUniform(shape, -lim, lim, 'float32', seed);
    }
  }
}

/**
 * Draw an initial bias vector of `size` for a layer of fan-in `fanIn`: zeros for He and Glorot
 * (no random draw, so the stream is left untouched), uniform on ±1/√fanIn for `torch-default`
 * (PyTorch's `nn.Linear` / `nn.Conv2d` bias default). Call it after {@link initWeight} on the
 * same stream.
 */
export function initBias(size: number, fanIn: number, kind: Initializer, stream: RandomStream): tf.Tensor {
  if (!BIAS_DRAWING_INITIALIZERS.includes(kind)) return tf.zeros([size]);
  const lim = 1 / Math.sqrt(fanIn);
  return tf.randomUniform([size], -lim, lim, 'float32', stream.nextSeed());
}
