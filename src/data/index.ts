/**
 * Data layer: the {@link Dataset} type, the embedded MNIST split, IDX and
 * Fashion-MNIST loaders, synthetic sets, mini-batching and the named registry.
 * @module
 */
export * from './dataset.js';
export * from './mnist-embedded.js';
export * from './idx.js';
export * from './fashion-mnist.js';
export * from './synthetic.js';
export * from './batches.js';
export * from './registry.js';
