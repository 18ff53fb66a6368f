/**
 * Model builders. An architecture is a list of layer sizes; which layer class
 * implements each weight layer (point estimate, mean-field LRT, gated, ...) is
 * decided by the inference method through a {@link LayerFactory}.
 * @module
 */
import type { Layer } from './layer.js';
import { Activation, Flatten, type ActivationName } from './activations.js';
import { Network } from './network.js';
import type { RandomStream } from '../random.js';
import { buildLenet5Caffe } from './lenet5.js';
import { buildBnCnn } from './bn-cnn.js';

/** Architectures available in configs (`model.arch`). */
export const ARCHITECTURES = ['mlp', 'lenet-300-100', 'lenet-5-caffe', 'bn-cnn'] as const;
export type Architecture = (typeof ARCHITECTURES)[number];

export interface ModelSpec {
  arch: Architecture;
  /** Hidden layer widths for `mlp` (LeNet-300-100 is `mlp` with [300, 100]). */
  hidden?: number[];
  activation: ActivationName;
}

/** Creates the weight layer that sits at a position of the architecture. */
export interface LayerFactory {
  /** Short name of what the factory builds, for descriptions (e.g. `lrt-dense, log-uniform prior`). */
  describe: string;
  dense(name: string, inFeatures: number, outFeatures: number, stream: RandomStream): Layer;
  /**
   * A `valid` k×k conv layer from cin to cout channels on an inH×inW input (stride 1).
   * Optional: architectures with convolutions fail with a clear error without it.
   */
  conv2d?(name: string, inH: number, inW: number, cin: number, cout: number, k: number, stream: RandomStream): Layer;
}

/** Hidden widths of an architecture. */
export function hiddenSizes(spec: ModelSpec): number[] {
  if (spec.arch === 'lenet-300-100') return [300, 100];
  return spec.hidden ?? [300, 100];
}

/**
 * Build a fully connected classifier: input → [dense → activation]* → dense (logits).
 * Layers are named `fc1`, `fc2`, … and their weights `fc1.weight`, ….
 * Each layer draws its initialization from its own fork of `stream` (`init/fc1`, …),
 * so adding a layer never changes another layer's initial weights.
 */
export function buildNetwork(spec: ModelSpec, inputShape: number[], numClasses: number, factory: LayerFactory, stream: RandomStream): Network {
  if (spec.arch === 'lenet-5-caffe') return buildLenet5Caffe(spec, inputShape, numClasses, factory, stream);
  if (spec.arch === 'bn-cnn') return buildBnCnn(spec, inputShape, numClasses, factory, stream);
  const inFeatures = inputShape.reduce((a, b) => a * b, 1);
  const sizes = [inFeatures, ...hiddenSizes(spec), numClasses];
  const layers: Layer[] = [];
  if (inputShape.length > 1) layers.push(new Flatten('flatten'));
  for (let i = 0; i + 1 < sizes.length; i++) {
    const name = `fc${i + 1}`;
    layers.push(factory.dense(name, sizes[i]!, sizes[i + 1]!, stream.fork(`init/${name}`)));
    if (i + 2 < sizes.length) layers.push(new Activation(`act${i + 1}`, spec.activation));
  }
  const arch = spec.arch === 'mlp' ? `mlp-${sizes.slice(1, -1).join('-')}` : spec.arch;
  return new Network(layers, inputShape, numClasses, `${arch} (${factory.describe})`);
}

/** Name of the classifier (last weight) layer of an architecture: its outputs are the classes. */
export function classifierLayerName(spec: ModelSpec): string {
  if (spec.arch === 'lenet-5-caffe') return 'fc2';
  if (spec.arch === 'bn-cnn') return 'fc1';
  return `fc${hiddenSizes(spec).length + 1}`;
}
