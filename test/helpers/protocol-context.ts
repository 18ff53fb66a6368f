/**
 * The protocol context a run gives its main model (src/experiment/run.ts → withProtocols), for the
 * protocol tests: model `main`, pretrained for the config's epochs (1 s of wall time, a placeholder).
 */
import type { Dataset } from '../../src/data/dataset.js';
import type { ExperimentConfig } from '../../src/experiment/config.js';
import type { ProtocolContext } from '../../src/experiment/protocols.js';
import type { Posterior } from '../../src/inference/posterior.js';
import type { RandomStream } from '../../src/random.js';

export function mainModelContext(
  cfg: ExperimentConfig,
  posterior: Posterior,
  data: { train: Dataset; evalSet: Dataset },
  stream: RandomStream,
  extra: Partial<ProtocolContext> = {},
): ProtocolContext {
  return { name: 'main', posterior, cfg, ...data, stream, main: true, pretrain: { epochs: cfg.train.epochs, seconds: 1 }, ...extra };
}
