/**
 * A network of this framework as plain layers: the deterministic (posterior-mean) weights
 * with masks applied, and, for Bayesian layers, the per-weight variances. From that list:
 *
 * - a tfjs LayersModel (`model.json` + `weights.bin`, the format `tf.loadLayersModel` reads
 *   in Node and the browser) built with @tensorflow/tfjs-layers' `dense`, `conv2d`,
 *   `maxPooling2d`, `flatten`, `reshape` and `activation` layers, ending in a softmax, so
 *   the model outputs class probabilities;
 * - the sparse format (`sparse.json` + `sparse.bin`): per weight layer the kept values
 *   (float32) and their flat row-major indices (uint16 when the tensor has < 65,536 entries,
 *   else uint32), plus the biases; its size in bytes against float32 dense;
 * - the posterior (`posterior.json` + `posterior.bin`): mean, variance and bias of every
 *   weight layer, for `predict`'s Monte Carlo predictive (local reparameterization).
 * @module
 */
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { Activation, MaxPool2d, Reshape } from '../nn/activations.js';
import type { Network } from '../nn/network.js';
import type { SelectFeatures } from '../nn/select.js';
import { structureOf } from '../pruning/compaction.js';

// tfjs-layers is loaded through require, as src/nn/gradients.ts does (its ESM build resolves a second tfjs-core).
const layers = createRequire(import.meta.url)('@tensorflow/tfjs-layers') as typeof tfl;

/** One layer of an exported network. Weight layers carry row-major float32 arrays. */
export type PlainLayer =
  | { type: 'dense'; name: string; units: number; inputs: number; weight: Float32Array; variance: Float32Array; bias: Float32Array }
  | {
      type: 'conv2d';
      name: string;
      kernel: number;
      stride: number;
      inChannels: number;
      filters: number;
      weight: Float32Array;
      variance: Float32Array;
      bias: Float32Array;
    }
  | { type: 'activation'; name: string; fn: 'relu' | 'tanh' | 'sigmoid' | 'elu' }
  | { type: 'maxpool2d'; name: string; size: number; stride: number }
  | { type: 'flatten'; name: string }
  | { type: 'reshape'; name: string; shape: number[] };

export type WeightLayer = Extract<PlainLayer, { type: 'dense' | 'conv2d' }>;

/**
 * The network's deterministic pass as plain layers. A `SelectFeatures` layer in front (left by
 * compaction when whole input features were removed) is folded back into the first weight
 * layer as zero rows, so the exported model takes the original input.
 */
export function plainLayers(net: Network): { layers: PlainLayer[]; inputShape: number[]; numClasses: number } {
  const out: PlainLayer[] = [];
  let select: Int32Array | null = null;
  let selectedFrom = 0;
  for (const l of net.layers) {
    switch (l.kind) {
      case 'select-features': {
        if (out.some((x) => x.type === 'dense' || x.type === 'conv2d'))
          throw new Error(`export: feature selection "${l.name}" after a weight layer is not supported`);
        select = (l as SelectFeatures).indices;
        selectedFrom = net.inputShape.at(-1)!;
        break;
      }
      case 'activation':
        out.push({ type: 'activation', name: l.name, fn: (l as Activation).fn });
        break;
      case 'maxpool2d':
        out.push({ type: 'maxpool2d', name: l.name, size: (l as MaxPool2d).size, stride: (l as MaxPool2d).stride });
        break;
      case 'flatten':
        out.push({ type: 'flatten', name: l.name });
        break;
      case 'reshape':
        out.push({ type: 'reshape', name: l.name, shape: [...(l as Reshape).shape] });
        break;
      default: {
        if (!l.weightShape) throw new Error(`export: layer "${l.name}" of kind "${l.kind}" has no tfjs-layers counterpart here`);
        const s = structureOf(l);
        let weight = s.deterministicWeight();
        let variance = l.moments()!.variance;
        const bias = Float32Array.from(s.bias.dataSync());
        let shape = [...l.weightShape];
        if (select) {
          // Expand the input axis (dense rows / conv input channels) back to the full input.
          const inAxis = s.geometry === 'dense' ? 0 : 2;
          const expand = (a: Float32Array) => expandAxis(a, shape, inAxis, select!, selectedFrom);
          weight = expand(weight);
          variance = expand(variance);
          shape = shape.map((d, i) => (i === inAxis ? selectedFrom : d));
          select = null;
        }
        if (s.geometry === 'dense') {
          out.push({ type: 'dense', name: l.name, inputs: shape[0]!, units: shape[1]!, weight, variance, bias });
        } else {
          const stride = (l as unknown as { geometry?: { stride?: number } }).geometry?.stride ?? 1;
          out.push({ type: 'conv2d', name: l.name, kernel: shape[0]!, stride, inChannels: shape[2]!, filters: shape[3]!, weight, variance, bias });
        }
      }
    }
  }
  return { layers: out, inputShape: [...net.inputShape], numClasses: net.numClasses };
}

/** Scatter `a` (shape `shape`, axis `axis` holding the kept indices `keep`) into a tensor whose axis has `full` entries, zeros elsewhere. */
function expandAxis(a: Float32Array, shape: number[], axis: number, keep: Int32Array, full: number): Float32Array {
  const outer = shape.slice(0, axis).reduce((p, d) => p * d, 1);
  const inner = shape.slice(axis + 1).reduce((p, d) => p * d, 1);
  const n = shape[axis]!;
  const out = new Float32Array(outer * full * inner);
  for (let o = 0; o < outer; o++) for (let k = 0; k < n; k++) out.set(a.subarray((o * n + k) * inner, (o * n + k + 1) * inner), (o * full + keep[k]!) * inner);
  return out;
}

/** The plain layers as a tfjs-layers Sequential model (softmax at the end). The caller disposes it. */
export function toLayersModel(p: { layers: PlainLayer[]; inputShape: number[] }): tfl.Sequential {
  const model = layers.sequential({ name: 'bayesprune' });
  const first = (i: number) => (i === 0 ? { inputShape: p.inputShape } : {});
  const names = new Set<string>();
  const unique = (n: string) => {
    let s = n.replace(/[^A-Za-z0-9_]/g, '_');
    while (names.has(s)) s += '_';
    names.add(s);
    return s;
  };
  const weights: { layer: tfl.layers.Layer; values: tf.Tensor[] }[] = [];
  p.layers.forEach((l, i) => {
    const name = unique(l.name);
    switch (l.type) {
      case 'dense': {
        const layer = layers.layers.dense({ units: l.units, useBias: true, name, ...first(i) });
        model.add(layer);
        weights.push({ layer, values: [tf.tensor2d(l.weight, [l.inputs, l.units]), tf.tensor1d(l.bias)] });
        break;
      }
      case 'conv2d': {
        const layer = layers.layers.conv2d({ filters: l.filters, kernelSize: l.kernel, strides: l.stride, padding: 'valid', useBias: true, name, ...first(i) });
        model.add(layer);
        weights.push({ layer, values: [tf.tensor4d(l.weight, [l.kernel, l.kernel, l.inChannels, l.filters]), tf.tensor1d(l.bias)] });
        break;
      }
      case 'activation':
        model.add(layers.layers.activation({ activation: l.fn, name, ...first(i) }));
        break;
      case 'maxpool2d':
        model.add(layers.layers.maxPooling2d({ poolSize: l.size, strides: l.stride, padding: 'valid', name, ...first(i) }));
        break;
      case 'flatten':
        model.add(layers.layers.flatten({ name, ...first(i) }));
        break;
      case 'reshape':
        model.add(layers.layers.reshape({ targetShape: l.shape, name, ...first(i) }));
        break;
    }
  });
  model.add(layers.layers.activation({ activation: 'softmax', name: unique('softmax') }));
  for (const w of weights) {
    w.layer.setWeights(w.values);
    tf.dispose(w.values);
  }
  return model;
}

/** `model.json` (weights manifest pointing at `weights.bin`) and the weights' bytes. */
export async function layersModelFiles(model: tfl.LayersModel, metadata: Record<string, unknown>): Promise<{ modelJson: unknown; weights: Uint8Array }> {
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      saved = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  const a = saved!;
  const data =
    a.weightData instanceof ArrayBuffer ? new Uint8Array(a.weightData) : new Uint8Array(tf.io.concatenateArrayBuffers(a.weightData as ArrayBuffer[]));
  return {
    modelJson: {
      format: 'layers-model',
      generatedBy: a.generatedBy,
      convertedBy: null,
      modelTopology: a.modelTopology,
      weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }],
      userDefinedMetadata: metadata,
    },
    weights: data,
  };
}

/** Sparse format of the weight layers (values + flat indices + biases) and its size. */
export function sparseFormat(ls: PlainLayer[]): { json: SparseIndex; bin: Uint8Array } {
  const parts: Uint8Array[] = [];
  let off = 0;
  const push = (a: Float32Array | Uint16Array | Uint32Array) => {
    // Each block starts at a multiple of 4 bytes, so every block can be viewed in place.
    const pad = (4 - (off % 4)) % 4;
    if (pad) {
      parts.push(new Uint8Array(pad));
      off += pad;
    }
    const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    parts.push(bytes);
    const at = off;
    off += bytes.byteLength;
    return { offset: at, bytes: bytes.byteLength };
  };
  const index: SparseIndex = { format: 'bayesprune-sparse/1', layers: [], bytes: 0, denseFloat32Bytes: 0 };
  for (const l of ls) {
    if (l.type !== 'dense' && l.type !== 'conv2d') continue;
    const shape = l.type === 'dense' ? [l.inputs, l.units] : [l.kernel, l.kernel, l.inChannels, l.filters];
    const kept: number[] = [];
    for (let i = 0; i < l.weight.length; i++) if (l.weight[i] !== 0) kept.push(i);
    const values = Float32Array.from(kept, (i) => l.weight[i]!);
    const indices = l.weight.length < 65536 ? Uint16Array.from(kept) : Uint32Array.from(kept);
    index.layers.push({
      name: l.name,
      type: l.type,
      shape,
      nonzero: kept.length,
      values: push(values),
      indices: { ...push(indices), dtype: indices instanceof Uint16Array ? 'uint16' : 'uint32' },
      bias: push(l.bias),
    });
    index.denseFloat32Bytes += 4 * (l.weight.length + l.bias.length);
  }
  index.bytes = off;
  const bin = new Uint8Array(off);
  let p = 0;
  for (const part of parts) {
    bin.set(part, p);
    p += part.byteLength;
  }
  return { json: index, bin };
}

export interface SparseIndex {
  format: 'bayesprune-sparse/1';
  layers: {
    name: string;
    type: 'dense' | 'conv2d';
    shape: number[];
    nonzero: number;
    values: { offset: number; bytes: number };
    indices: { offset: number; bytes: number; dtype: 'uint16' | 'uint32' };
    bias: { offset: number; bytes: number };
  }[];
  /** Size of sparse.bin. */
  bytes: number;
  /** The same weights and biases stored dense as float32. */
  denseFloat32Bytes: number;
}

/** The layer list with weights, variances and biases as offsets into one float32 buffer. */
export function posteriorFormat(p: { layers: PlainLayer[]; inputShape: number[]; numClasses: number }): { json: PosteriorIndex; bin: Uint8Array } {
  const blocks: Float32Array[] = [];
  let off = 0;
  const put = (a: Float32Array) => {
    blocks.push(a);
    const at = off;
    off += a.length;
    return { offset: at, length: a.length };
  };
  const layersOut = p.layers.map((l) => {
    if (l.type !== 'dense' && l.type !== 'conv2d') return l;
    const { weight, variance, bias, ...rest } = l;
    return { ...rest, weight: put(weight), variance: put(variance), bias: put(bias) };
  });
  const buf = new Float32Array(off);
  let at = 0;
  for (const b of blocks) {
    buf.set(b, at);
    at += b.length;
  }
  return {
    json: { format: 'bayesprune-posterior-export/1', inputShape: p.inputShape, numClasses: p.numClasses, layers: layersOut as PosteriorIndex['layers'] },
    bin: new Uint8Array(buf.buffer),
  };
}

type Block = { offset: number; length: number };
export interface PosteriorIndex {
  format: 'bayesprune-posterior-export/1';
  inputShape: number[];
  numClasses: number;
  layers: (
    | Exclude<PlainLayer, WeightLayer>
    | (Omit<Extract<PlainLayer, { type: 'dense' }>, 'weight' | 'variance' | 'bias'> & { weight: Block; variance: Block; bias: Block })
    | (Omit<Extract<PlainLayer, { type: 'conv2d' }>, 'weight' | 'variance' | 'bias'> & { weight: Block; variance: Block; bias: Block })
  )[];
}

/** Read back a posterior export into plain layers. */
export function readPosteriorFormat(json: PosteriorIndex, bin: Float32Array): { layers: PlainLayer[]; inputShape: number[]; numClasses: number } {
  const get = (b: Block) => bin.subarray(b.offset, b.offset + b.length);
  const ls = json.layers.map((l): PlainLayer => {
    if (l.type === 'dense' || l.type === 'conv2d') return { ...l, weight: get(l.weight), variance: get(l.variance), bias: get(l.bias) } as PlainLayer;
    return l;
  });
  return { layers: ls, inputShape: json.inputShape, numClasses: json.numClasses };
}
