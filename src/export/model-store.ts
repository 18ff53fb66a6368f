/**
 * The trained posterior of each model of a run, kept in the run directory so that `export`
 * can rebuild it later: `<run>/model/<model>/posterior.json` (format, method, input shape,
 * classes, every variable's shape and offset) and `posterior.bin` (the variables' float32
 * values, little-endian, in the network's `variables()` order, then the layer state, e.g.
 * batch-norm running statistics, in `stateVariables()` order).
 *
 * Stored for posteriors that live in their network's variables (`vi`, `map` and the gated
 * methods: the network is rebuilt from the run's config and the values loaded into it).
 * Posteriors held outside the network (SWAG moments, SVGD particles, Laplace curvature) are
 * not stored; `export` says so.
 * @module
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { ExperimentConfig } from '../experiment/config.js';
import { writeFileAtomic, writeJsonAtomic } from '../report/atomic.js';
import { NetworkPosterior } from '../inference/network-posterior.js';
import type { Posterior } from '../inference/posterior.js';
import type { Network } from '../nn/network.js';
import { RandomStream } from '../random.js';

export const POSTERIOR_FORMAT = 'bayesprune-posterior/1';

/** Methods whose network can be rebuilt from the config and whose posterior is its variables. */
export const STORABLE_METHODS = ['vi', 'map', 'l0', 'spike-slab', 'unit-gates'] as const;

export interface StoredPosteriorIndex {
  format: typeof POSTERIOR_FORMAT;
  model: string;
  method: string;
  network: string;
  inputShape: number[];
  numClasses: number;
  variables: { name: string; shape: number[]; offset: number; length: number }[];
  /** Layer state (batch-norm running statistics, `Network.stateVariables()`), stored after the variables; absent in files written before it was kept. */
  state?: { name: string; shape: number[]; offset: number; length: number }[];
}

/** Directory name of a model (variant and companion names may hold `/`). */
export function modelDirName(model: string): string {
  return model.replace(/[^A-Za-z0-9._-]/g, '_');
}

/**
 * Write the posterior of `model` under `<runDir>/model/<model>/` when its method is storable
 * (see {@link STORABLE_METHODS}); returns the directory, or null when nothing was written.
 */
export async function saveTrainedModel(
  runDir: string,
  model: string,
  posterior: Posterior,
  data: { shape: number[]; numClasses: number },
): Promise<string | null> {
  if (!(posterior instanceof NetworkPosterior) || !(STORABLE_METHODS as readonly string[]).includes(posterior.method)) return null;
  const dir = join(runDir, 'model', modelDirName(model));
  mkdirSync(dir, { recursive: true });
  const vars = posterior.network.variables();
  const state = posterior.network.stateVariables();
  const total = [...vars, ...state].reduce((a, v) => a + v.size, 0);
  const buf = new Float32Array(total);
  const index: StoredPosteriorIndex = {
    format: POSTERIOR_FORMAT,
    model,
    method: posterior.method,
    network: posterior.network.description,
    inputShape: data.shape,
    numClasses: data.numClasses,
    variables: [],
    state: [],
  };
  let off = 0;
  for (const v of vars) {
    buf.set(v.dataSync() as Float32Array, off);
    index.variables.push({ name: v.name, shape: v.shape, offset: off, length: v.size });
    off += v.size;
  }
  for (const v of state) {
    buf.set(v.dataSync() as Float32Array, off);
    index.state!.push({ name: v.name, shape: v.shape, offset: off, length: v.size });
    off += v.size;
  }
  await writeFileAtomic(join(dir, 'posterior.bin'), new Uint8Array(buf.buffer));
  await writeJsonAtomic(join(dir, 'posterior.json'), index);
  return dir;
}

/** Models of a run that have a stored posterior. */
export function storedModels(runDir: string): string[] {
  const root = join(runDir, 'model');
  if (!existsSync(root)) return [];
  const out: string[] = [];
  for (const m of readdirSafe(root)) if (existsSync(join(root, m, 'posterior.json'))) out.push(m);
  return out;
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

/**
 * Rebuild the trained posterior of `model` from a run directory: the network built from the
 * run's config (as the run built it), every variable overwritten with the stored values.
 */
export async function loadTrainedModel(runDir: string, model: string, config: ExperimentConfig): Promise<NetworkPosterior> {
  const dir = join(runDir, 'model', modelDirName(model));
  const indexPath = join(dir, 'posterior.json');
  if (!existsSync(indexPath)) {
    const have = storedModels(runDir);
    throw new Error(
      have.length
        ? `${runDir} has no stored posterior for model "${model}"; stored: ${have.join(', ')}`
        : `${runDir} has no stored posterior (model/*/posterior.json): the run predates model saving, or its method is not one of ${STORABLE_METHODS.join(', ')}`,
    );
  }
  const index = JSON.parse(readFileSync(indexPath, 'utf8')) as StoredPosteriorIndex;
  if (index.format !== POSTERIOR_FORMAT) throw new Error(`${indexPath}: unknown format "${index.format}" (expected ${POSTERIOR_FORMAT})`);
  const bytes = readFileSync(join(dir, 'posterior.bin'));
  const values = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const net = await buildFor(index, config);
  const vars = net.variables();
  const mismatch = () =>
    new Error(
      `${indexPath}: the stored variables [${index.variables.map((v) => v.shape.join('×')).join(', ')}] do not fit the network the config builds [${vars.map((v) => v.shape.join('×')).join(', ')}] (was it compacted while training, e.g. unit-gates with removal?)`,
    );
  if (vars.length !== index.variables.length) {
    net.dispose();
    throw mismatch();
  }
  for (const [i, v] of vars.entries()) {
    const s = index.variables[i]!;
    if (s.shape.join(',') !== v.shape.join(',')) {
      net.dispose();
      throw mismatch();
    }
    v.assign(tf.tensor(values.subarray(s.offset, s.offset + s.length), s.shape));
  }
  // Batch-norm running statistics: without them the network would normalize with its initial statistics.
  const state = net.stateVariables();
  const saved = index.state ?? [];
  if (
    state.length !== saved.length ||
    state.some((v, i) => v.shape.join(',') !== saved[i]!.shape.join(',') || saved[i]!.offset + saved[i]!.length > values.length)
  ) {
    net.dispose();
    throw new Error(
      index.state
        ? `${indexPath}: the stored layer state [${saved.map((v) => v.shape.join('×')).join(', ')}] does not fit the network the config builds [${state.map((v) => v.shape.join('×')).join(', ')}]`
        : `${indexPath}: stored without the batch-norm running statistics of its network (written by an older version); run the experiment again to store a usable model`,
    );
  }
  for (const [i, v] of state.entries()) {
    const s = saved[i]!;
    v.assign(tf.tensor(values.subarray(s.offset, s.offset + s.length), s.shape));
  }
  return new NetworkPosterior(index.method, net);
}

async function buildFor(index: StoredPosteriorIndex, config: ExperimentConfig): Promise<Network> {
  const stream = new RandomStream(`export/${index.model}`);
  const data = { shape: index.inputShape, numClasses: index.numClasses };
  if (index.method === 'vi' || index.method === 'map') {
    const { networkFor } = await import('../inference/methods.js');
    return networkFor({ ...config, inference: { ...config.inference, method: index.method } } as ExperimentConfig, data as never, stream);
  }
  const { gatedNetworkFor } = await import('../bayes/gated-methods.js');
  return gatedNetworkFor(config, index.inputShape, index.numClasses, stream);
}
