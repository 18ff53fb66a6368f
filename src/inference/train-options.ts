/**
 * The {@link TrainOptions} of an experiment config: one place that maps config keys
 * (`train.*`, `inference.temperature`, `inference.warmup`) onto the shared trainer.
 * @module
 */
import type { ExperimentConfig } from '../experiment/config.js';
import type { TrainOptions } from './trainer.js';

export function trainOptionsFrom(c: ExperimentConfig): TrainOptions {
  const o = c.train.optimizer;
  return {
    epochs: c.train.epochs,
    batchSize: c.train.batchSize,
    lr: { name: o.schedule, lr: o.lr, finalFraction: o.finalFraction, every: o.every, gamma: o.gamma },
    temperature: c.inference.temperature,
    warmup: c.inference.warmup,
  };
}
