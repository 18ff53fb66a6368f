/**
 * Weight initialization, seeded from a {@link RandomStream}.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { RandomStream } from '../random.js';

/** Initializers available in configs. */
export const INITIALIZERS = ['he-normal', 'glorot-normal', 'glorot-uniform'] as const;
export type Initializer = (typeof INITIALIZERS)[number];

/**
 * Draw an initial weight tensor. `fanIn`/`fanOut` follow Glorot & Bengio (2010)
 * and He et al. (2015): He normal std = sqrt(2 / fanIn); Glorot normal std =
 * sqrt(2 / (fanIn + fanOut)); Glorot uniform limit = sqrt(6 / (fanIn + fanOut)).
 * Normals are truncated at 2 std, as in Keras.
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
  }
}
