/**
 * Weightless layers: activations and reshaping.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ForwardOptions, Layer } from './layer.js';

export const ACTIVATIONS = ['relu', 'tanh', 'sigmoid', 'elu'] as const;
export type ActivationName = (typeof ACTIVATIONS)[number];

/** Base for layers without parameters. */
export abstract class Weightless implements Layer {
  abstract readonly kind: string;
  constructor(readonly name: string) {}
  abstract forward(x: tf.Tensor, opts: ForwardOptions): tf.Tensor;
  variables(): tf.Variable[] {
    return [];
  }
  moments(): undefined {
    return undefined;
  }
  setMask(mask: Float32Array | null): void {
    if (mask) throw new Error(`${this.name} has no weights to mask`);
  }
  getMask(): null {
    return null;
  }
  dispose(): void {}
}

/** Elementwise activation. */
export class Activation extends Weightless {
  readonly kind = 'activation';
  constructor(
    name: string,
    readonly fn: ActivationName,
  ) {
    super(name);
  }
  forward(x: tf.Tensor): tf.Tensor {
    switch (this.fn) {
      case 'relu':
        return tf.relu(x);
      case 'tanh':
        return tf.tanh(x);
      case 'sigmoid':
        return tf.sigmoid(x);
      case 'elu':
        return tf.elu(x);
    }
  }
}

/** Flatten everything but the batch dimension. */
export class Flatten extends Weightless {
  readonly kind = 'flatten';
  forward(x: tf.Tensor): tf.Tensor {
    return tf.reshape(x, [x.shape[0]!, -1]);
  }
}

/** Reshape every example to `shape` (the batch dimension is kept). */
export class Reshape extends Weightless {
  readonly kind = 'reshape';
  constructor(
    name: string,
    readonly shape: number[],
  ) {
    super(name);
  }
  forward(x: tf.Tensor): tf.Tensor {
    return tf.reshape(x, [x.shape[0]!, ...this.shape]);
  }
}

/** 2-D max pooling, NHWC. */
export class MaxPool2d extends Weightless {
  readonly kind = 'maxpool2d';
  constructor(
    name: string,
    readonly size: number,
    readonly stride: number = size,
  ) {
    super(name);
  }
  forward(x: tf.Tensor): tf.Tensor {
    return tf.maxPool(x as tf.Tensor4D, this.size, this.stride, 'valid');
  }
}
