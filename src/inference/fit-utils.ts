/**
 * Small helpers shared by inference methods that run their own training loop
 * (SWAG's SGD, SVGD's particle updates): building a point network, reporting
 * epochs to the run's hooks.
 *
 * Resuming: these loops keep method state (SWAG moments, SVGD particles and their
 * RMSProp history) that the shared checkpoint format does not hold, so they do not
 * call `FitContext.restore`; an interrupted run retrains the method from the start.
 * Per-epoch checkpoints written by the run's `onEpoch` hook hold the network's
 * variables only (the current iterate / particle mean) and are harmless.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from '../data/dataset.js';
import { buildNetwork } from '../nn/builders.js';
import type { Network } from '../nn/network.js';
import type { RandomStream } from '../random.js';
import type { ExperimentConfig } from '../experiment/config.js';
import { pointFactory } from './layer-factories.js';
import type { EpochStats, Trainer, TrainHooks } from './trainer.js';

/** The config's architecture with point-estimate Dense layers (init from `stream.fork('init')`). */
export function pointNetworkFor(config: ExperimentConfig, train: Dataset, stream: RandomStream): Network {
  const m = config.model;
  return buildNetwork({ arch: m.arch, hidden: m.hidden, activation: m.activation }, train.shape, train.numClasses, pointFactory(m.init), stream.fork('init'));
}

/**
 * Report a finished epoch to the hooks. `onEpoch` receives a minimal trainer-shaped
 * object (epoch counter, network, empty optimizer state) so a run's checkpointing hook
 * keeps working.
 */
export async function reportEpoch(hooks: TrainHooks, stats: EpochStats, net: Network, epochsDone: number): Promise<void> {
  const shim = {
    epoch: epochsDone,
    net,
    state: async () => ({ epoch: epochsDone, optimizer: [] as { name: string; values: Float32Array; shape: number[] }[] }),
  } as unknown as Trainer;
  await hooks.onEpoch?.(stats, shim);
}

/** A fresh stats record (times filled by {@link finishStats}). */
export function epochStats(epoch: number, lr: number, loss: number, nll: number, trainAccuracy: number): EpochStats {
  return { epoch, loss, nll, kl: 0, beta: 0, lr, trainAccuracy, seconds: 0, numTensors: 0 };
}

export function finishStats(stats: EpochStats, t0: number): EpochStats {
  stats.seconds = (performance.now() - t0) / 1000;
  stats.numTensors = tf.memory().numTensors;
  return stats;
}
