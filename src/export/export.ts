/**
 * `bayesprune export <run dir> --point <criterion@sparsity | log-alpha | gates> --format tfjs --out DIR`:
 * the trained posterior of a run (stored by {@link saveTrainedModel} in `<run>/model/`), pruned
 * at one operating point, compacted where structure allows, written as
 *
 *   DIR/model.json + weights.bin     tfjs LayersModel (posterior mean, masks applied; softmax output)
 *   DIR/sparse.json + sparse.bin     kept weights as values + flat indices, biases; sizes in bytes
 *   DIR/posterior.json + .bin        mean, variance, bias per weight layer (Bayesian models), for `predict`
 *   DIR/export.json                  the operating point, sparsity, sizes, accuracy, and the check below
 *
 * The operating point is chosen exactly as the run's curves chose it (same scores, scope and
 * counts), so the export's accuracy is the run's posterior-mean (`mean` predictive) accuracy at
 * that point. Before writing, the LayersModel's outputs on the evaluation split are compared
 * with the framework's masked network (max |Δp| is recorded).
 * @module
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { validateConfig, type ExperimentConfig } from '../experiment/config.js';
import { loadData } from '../experiment/run.js';
import { deadInputWeights, pruneDeadFirst } from '../pruning/dead-inputs.js';
import { masksAtSparsity, masksAtThreshold, maskSparsity } from '../pruning/masks.js';
import { compactNetwork } from '../pruning/compaction.js';
import { gateMasks } from '../pruning/structured.js';
import { getCriterion, criterionNames } from '../scores/registry.js';
import { rootStream } from '../random.js';
import type { MaskSet, Network } from '../nn/network.js';
import { subset, type Dataset } from '../data/dataset.js';
import { loadTrainedModel, storedModels, modelDirName } from './model-store.js';
import { compressionFigures, type CompressionFigures } from './compression.js';
import { layersModelFiles, plainLayers, posteriorFormat, sparseFormat, toLayersModel } from './layers-model.js';

export type ExportPoint = { kind: 'criterion'; criterion: string; sparsity: number } | { kind: 'log-alpha' } | { kind: 'gates' };

/** Parse `--point`: `snr@0.9`, `log-alpha`, `gates`. */
export function parseExportPoint(v: string): ExportPoint {
  if (v === 'log-alpha') return { kind: 'log-alpha' };
  if (v === 'gates') return { kind: 'gates' };
  const m = /^([a-z0-9-]+)@([0-9.]+)$/.exec(v);
  if (!m) throw new Error(`--point "${v}": expected criterion@sparsity (e.g. snr@0.9), log-alpha or gates`);
  const s = Number(m[2]);
  if (!(s >= 0 && s < 1)) throw new Error(`--point "${v}": the sparsity must be in [0, 1), got ${m[2]}`);
  if (!criterionNames().includes(m[1]!)) throw new Error(`--point "${v}": unknown criterion "${m[1]}"; allowed: ${criterionNames().join(', ')}`);
  return { kind: 'criterion', criterion: m[1]!, sparsity: s };
}

export interface ExportOptions {
  point: ExportPoint;
  out: string;
  /** Model of the run (default `main`). */
  model?: string;
  format?: 'tfjs';
  /** Compact (remove dead units) before writing (default true). */
  compact?: boolean;
  /** Check and compression accuracy on the first N examples of the evaluation split only (default: all, matching the run's rows). */
  evalExamples?: number;
}

export interface ExportSummary {
  runDir: string;
  model: string;
  method: string;
  point: string;
  /** Fraction of prunable weights masked. */
  sparsity: number;
  /** Weight-tensor entries of the exported model (after compaction), and non-zero among them. */
  params: { before: number; exported: number; nonzero: number };
  compaction: { applied: boolean; speedup: number; macsBefore: number; macsAfter: number } | null;
  bytes: { denseFloat32: number; sparse: number; layersModelWeights: number };
  bayesian: boolean;
  evaluation: { split: string; examples: number; accuracy: number; maxAbsProbDiff: number };
  /** Bayesian models: per-layer bit precision from the posterior variances, quantized accuracy, storage (compression.ts). */
  compression?: CompressionFigures;
  files: string[];
}

function readJson(path: string, what: string): unknown {
  if (!existsSync(path)) throw new Error(`${path} is missing: is this a finished run directory (${what})?`);
  return JSON.parse(readFileSync(path, 'utf8'));
}

/** Masks of the operating point, computed as the run's curves computed them. */
async function pointMasks(
  net: Network,
  posterior: Awaited<ReturnType<typeof loadTrainedModel>>,
  cfg: ExperimentConfig,
  point: ExportPoint,
  train: Dataset,
): Promise<MaskSet> {
  if (point.kind === 'gates') return gateMasks(net);
  const stream = rootStream(cfg.seed).fork('variant/main').fork('eval');
  if (point.kind === 'log-alpha') {
    const t = cfg.pruning.logAlphaThreshold ?? 3;
    const scores = await getCriterion('log-alpha').compute(posterior, { stream: stream.fork('scores/threshold') });
    return masksAtThreshold(scores, -t);
  }
  let scores = await getCriterion(point.criterion).compute(posterior, { stream: stream.fork(`scores/${point.criterion}`), data: train });
  if (cfg.pruning.deadInputs === 'prune-first' && point.criterion !== 'random') {
    const dead = deadInputWeights(net, train);
    if (dead) scores = pruneDeadFirst(scores, dead);
  }
  return masksAtSparsity(scores, point.sparsity, cfg.pruning.scope);
}

const pointName = (p: ExportPoint) => (p.kind === 'criterion' ? `${p.criterion}@${p.sparsity}` : p.kind);

/** Class probabilities of the framework's deterministic (posterior-mean) pass, [n × k]. */
function meanProbs(net: Network, ds: Dataset): Float32Array {
  const out = new Float32Array(ds.n * ds.numClasses);
  const d = ds.x.length / ds.n;
  for (let s = 0; s < ds.n; s += 500) {
    const m = Math.min(500, ds.n - s);
    const p = tf.tidy(() =>
      tf.softmax(net.forward(tf.reshape(tf.tensor2d(ds.x.subarray(s * d, (s + m) * d), [m, d]), [m, ...net.inputShape]), { sample: false })),
    );
    out.set(p.dataSync() as Float32Array, s * ds.numClasses);
    p.dispose();
  }
  return out;
}

/** Export one operating point of a finished run (see the module comment). */
export async function exportRun(runDir: string, o: ExportOptions): Promise<ExportSummary> {
  if (!existsSync(runDir) || !statSync(runDir).isDirectory()) throw new Error(`export: ${runDir} is not a directory`);
  if ((o.format ?? 'tfjs') !== 'tfjs') throw new Error(`export: --format ${o.format} is not supported; allowed: tfjs`);
  const cfg = validateConfig(readJson(join(runDir, 'config.json'), 'config.json') as ExperimentConfig, join(runDir, 'config.json'));
  const model = o.model ?? 'main';
  if (!storedModels(runDir).includes(modelDirName(model)) && model !== 'main')
    throw new Error(`export: ${runDir} has no stored model "${model}"; stored: ${storedModels(runDir).join(', ') || 'none'}`);
  const posterior = await loadTrainedModel(runDir, model, cfg);
  const net = posterior.network;
  try {
    const data = loadData(cfg);
    const fullEval = cfg.eval.split === 'test' ? data.test : data.validation;
    const evalSet =
      o.evalExamples && o.evalExamples < fullEval.n
        ? subset(
            fullEval,
            Int32Array.from({ length: o.evalExamples }, (_, i) => i),
            `${fullEval.name}[:${o.evalExamples}]`,
          )
        : fullEval;
    const masks = await pointMasks(net, posterior, cfg, o.point, data.train);
    net.setMasks(masks);
    const sparsity = maskSparsity(masks);
    const reference = meanProbs(net, evalSet);
    // Compression figures on the masked (not compacted) network: indices address the original tensors.
    const figures = net.isBayesian ? compressionFigures(plainLayers(net).layers, net.inputShape, evalSet) : undefined;

    let exported: Network = net;
    let compaction: ExportSummary['compaction'] = null;
    if (o.compact !== false) {
      try {
        const c = compactNetwork(net, masks);
        exported = c.network;
        compaction = { applied: true, speedup: c.report.speedup, macsBefore: c.report.macs.before, macsAfter: c.report.macs.after };
      } catch {
        compaction = null; // a layer without unit structure: the masked network is exported as it is
      }
    }
    const plain = plainLayers(exported);
    const lm = toLayersModel(plain);
    const bayesian = net.isBayesian;
    const evalAcc = { correct: 0, maxDiff: 0 };
    try {
      const d = evalSet.x.length / evalSet.n;
      const probs = tf
        .tidy(() => lm.predict(tf.reshape(tf.tensor2d(evalSet.x, [evalSet.n, d]), [evalSet.n, ...plain.inputShape])) as tf.Tensor)
        .dataSync() as Float32Array;
      const k = evalSet.numClasses;
      for (let i = 0; i < evalSet.n; i++) {
        let arg = 0;
        for (let c = 0; c < k; c++) {
          evalAcc.maxDiff = Math.max(evalAcc.maxDiff, Math.abs(probs[i * k + c]! - reference[i * k + c]!));
          if (probs[i * k + c]! > probs[i * k + arg]!) arg = c;
        }
        if (arg === evalSet.y[i]) evalAcc.correct++;
      }
      mkdirSync(o.out, { recursive: true });
      const files: string[] = [];
      const write = (name: string, data: string | Uint8Array) => {
        writeFileSync(join(o.out, name), data);
        files.push(name);
      };
      const summaryBase = { runDir, model, method: posterior.method, point: pointName(o.point), sparsity };
      const { modelJson, weights } = await layersModelFiles(lm, { bayesprune: { ...summaryBase, inputScale: '1/255 of 8-bit pixels', bayesian } });
      write('model.json', `${JSON.stringify(modelJson)}\n`);
      write('weights.bin', weights);
      const sparse = sparseFormat(plain.layers);
      write('sparse.json', `${JSON.stringify(sparse.json, null, 2)}\n`);
      write('sparse.bin', sparse.bin);
      if (bayesian) {
        const post = posteriorFormat(plain);
        write('posterior.json', `${JSON.stringify(post.json, null, 2)}\n`);
        write('posterior.bin', post.bin);
      }
      const weightLayers = plain.layers.filter((l) => l.type === 'dense' || l.type === 'conv2d');
      const summary: ExportSummary = {
        ...summaryBase,
        params: {
          before: net.numWeights(),
          exported: weightLayers.reduce((a, l) => a + l.weight.length, 0),
          nonzero: sparse.json.layers.reduce((a, l) => a + l.nonzero, 0),
        },
        compaction,
        bytes: { denseFloat32: sparse.json.denseFloat32Bytes, sparse: sparse.json.bytes, layersModelWeights: weights.byteLength },
        bayesian,
        evaluation: { split: cfg.eval.split, examples: evalSet.n, accuracy: evalAcc.correct / evalSet.n, maxAbsProbDiff: evalAcc.maxDiff },
        ...(figures ? { compression: figures } : {}),
        files: [...files, 'export.json'],
      };
      writeFileSync(join(o.out, 'export.json'), `${JSON.stringify(summary, null, 2)}\n`);
      return summary;
    } finally {
      lm.dispose();
      if (exported !== net) exported.dispose();
    }
  } finally {
    posterior.dispose();
  }
}
