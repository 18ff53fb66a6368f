/**
 * LeNet-5-Caffe (the "20-50-800-500" network of the Caffe MNIST example, used by
 * Molchanov et al. 2017 and Louizos et al. 2018):
 *
 *   input [28, 28, 1] → conv1 20@5×5 (valid) → act → max-pool 2 → conv2 50@5×5 → act → max-pool 2
 *   → flatten (4·4·50 = 800) → fc1 800→500 → act → fc2 500→10.
 *
 * The Caffe prototxt has no non-linearity after the convolutions; the PyTorch
 * reference implementations of both papers put a ReLU there, and so does this builder
 * (the `model.activation`). Weights: 500 + 25,000 + 400,000 + 5,000 = 430,500.
 *
 * The experiment runner loads images flat ([784]); the network starts with a
 * `Reshape` to [28, 28, 1], so flat and image-shaped inputs both work.
 * @module
 */
import type { Layer } from './layer.js';
import type { LayerFactory, ModelSpec } from './builders.js';
import { Activation, Flatten, MaxPool2d, Reshape } from './activations.js';
import { Network } from './network.js';
import type { RandomStream } from '../random.js';

export function buildLenet5Caffe(spec: ModelSpec, inputShape: number[], numClasses: number, factory: LayerFactory, stream: RandomStream): Network {
  const size = inputShape.reduce((a, b) => a * b, 1);
  if (size !== 28 * 28) throw new Error(`lenet-5-caffe takes 28×28×1 images (784 values per example); the data has shape [${inputShape}]`);
  if (!factory.conv2d) {
    throw new Error(
      `lenet-5-caffe needs convolution layers, but the layer factory "${factory.describe}" has no conv2d; use inference.method vi, map or l0 for this architecture`,
    );
  }
  const conv = factory.conv2d.bind(factory);
  const layers: Layer[] = [
    new Reshape('reshape', [28, 28, 1]),
    conv('conv1', 28, 28, 1, 20, 5, stream.fork('init/conv1')),
    new Activation('act1', spec.activation),
    new MaxPool2d('pool1', 2),
    conv('conv2', 12, 12, 20, 50, 5, stream.fork('init/conv2')),
    new Activation('act2', spec.activation),
    new MaxPool2d('pool2', 2),
    new Flatten('flatten'),
    factory.dense('fc1', 4 * 4 * 50, 500, stream.fork('init/fc1')),
    new Activation('act3', spec.activation),
    factory.dense('fc2', 500, numClasses, stream.fork('init/fc2')),
  ];
  return new Network(layers, inputShape, numClasses, `lenet-5-caffe (${factory.describe})`);
}
