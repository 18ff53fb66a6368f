/**
 * A small batch-normalized CNN for 28×28 images (`model.arch: bn-cnn`), sized for
 * training on WebAssembly:
 *
 *   input [28, 28, 1] → conv1 16@5×5 (valid) → bn1 → act → max-pool 2 → conv2 32@5×5 → bn2 → act → max-pool 2
 *   → flatten (4·4·32 = 512) → fc1 512→10.
 *
 * Weights: 400 + 12,800 + 5,120 = 18,320; multiply-adds per example: 230,400 (conv1) +
 * 819,200 (conv2) + 5,120 (fc1) = 1,054,720. Every prunable channel is followed by a
 * batch norm, so network slimming (Liu et al. 2017) can rank all of them by |γ| in one
 * global list; removing a channel removes its filter, its BN parameters and the next
 * layer's inputs it fed (`src/pruning/compaction.ts`).
 *
 * Like LeNet-5-Caffe it starts with a `Reshape`, so flat [784] inputs work.
 * @module
 */
import type { Layer } from './layer.js';
import type { LayerFactory, ModelSpec } from './builders.js';
import { Activation, Flatten, MaxPool2d, Reshape } from './activations.js';
import { BatchNorm } from './batchnorm.js';
import { Network } from './network.js';
import type { RandomStream } from '../random.js';

/** Channels of the two conv layers. */
export const BN_CNN_CHANNELS = [16, 32] as const;

export function buildBnCnn(spec: ModelSpec, inputShape: number[], numClasses: number, factory: LayerFactory, stream: RandomStream): Network {
  const size = inputShape.reduce((a, b) => a * b, 1);
  if (size !== 28 * 28) throw new Error(`bn-cnn takes 28×28×1 images (784 values per example); the data has shape [${inputShape}]`);
  if (!factory.conv2d) {
    throw new Error(
      `bn-cnn needs convolution layers, but the layer factory "${factory.describe}" has no conv2d; use inference.method map, vi, swag or slimming`,
    );
  }
  const conv = factory.conv2d.bind(factory);
  const [c1, c2] = BN_CNN_CHANNELS;
  const layers: Layer[] = [
    new Reshape('reshape', [28, 28, 1]),
    conv('conv1', 28, 28, 1, c1, 5, stream.fork('init/conv1')),
    new BatchNorm({ name: 'bn1', channels: c1 }),
    new Activation('act1', spec.activation),
    new MaxPool2d('pool1', 2),
    conv('conv2', 12, 12, c1, c2, 5, stream.fork('init/conv2')),
    new BatchNorm({ name: 'bn2', channels: c2 }),
    new Activation('act2', spec.activation),
    new MaxPool2d('pool2', 2),
    new Flatten('flatten'),
    factory.dense('fc1', 4 * 4 * c2, numClasses, stream.fork('init/fc1')),
  ];
  return new Network(layers, inputShape, numClasses, `bn-cnn (${factory.describe}, batch norm)`);
}
