/**
 * `bayesprune predict <exported model dir> <IDX file | image folder> [--samples S] [--seed N] [--json]`:
 * class predictions of an export. The posterior-mean prediction comes from the tfjs
 * LayersModel (`model.json`, loaded with `tf.loadLayersModel` as any user would); for a
 * Bayesian export (`posterior.json` present) also the Monte Carlo predictive from S draws
 * with the local reparameterization trick (each pre-activation drawn from N(x·μ + b, x²·σ²),
 * as the training layers do), with its uncertainty: predictive entropy H[p̄], expected
 * entropy E[H[p]] and mutual information MI = H[p̄] − E[H[p]] (epistemic part), in nats.
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { readPosteriorFormat, type PlainLayer, type PosteriorIndex } from './layers-model.js';
import { readImages, type ImageBatch } from './images.js';

const layers = createRequire(import.meta.url)('@tensorflow/tfjs-layers') as typeof tfl;

/** Load `dir/model.json` + its weight files from disk with tfjs-layers. */
export async function loadExportedModel(dir: string): Promise<tfl.LayersModel> {
  const path = join(dir, 'model.json');
  if (!existsSync(path)) throw new Error(`predict: ${path} is missing (give a directory written by bayesprune export)`);
  const json = JSON.parse(readFileSync(path, 'utf8')) as {
    modelTopology: object;
    weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  };
  const specs = json.weightsManifest.flatMap((g) => g.weights);
  const bufs = json.weightsManifest.flatMap((g) => g.paths.map((p) => readFileSync(join(dir, p))));
  const all = Buffer.concat(bufs);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer;
  return layers.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: specs, weightData }));
}

/** The Bayesian part of an export, or null. */
export function loadExportedPosterior(dir: string): { layers: PlainLayer[]; inputShape: number[]; numClasses: number } | null {
  const path = join(dir, 'posterior.json');
  if (!existsSync(path)) return null;
  const json = JSON.parse(readFileSync(path, 'utf8')) as PosteriorIndex;
  const b = readFileSync(join(dir, 'posterior.bin'));
  return readPosteriorFormat(json, new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)));
}

/** One sampled (or, with `sample` false, deterministic) forward pass of plain layers; logits. */
export function plainForward(ls: PlainLayer[], x: tf.Tensor, sample: boolean, seed: number): tf.Tensor2D {
  return tf.tidy(() => {
    let h = x;
    let k = 0;
    for (const l of ls) {
      switch (l.type) {
        case 'dense': {
          const w = tf.tensor2d(l.weight, [l.inputs, l.units]);
          const mean = tf.add(tf.matMul(h as tf.Tensor2D, w), tf.tensor1d(l.bias));
          if (!sample) {
            h = mean;
            break;
          }
          const v = tf.matMul(tf.square(h) as tf.Tensor2D, tf.tensor2d(l.variance, [l.inputs, l.units]));
          h = tf.add(mean, tf.mul(tf.sqrt(v), tf.randomNormal(mean.shape, 0, 1, 'float32', seed + 7919 * k++)));
          break;
        }
        case 'conv2d': {
          const shape: [number, number, number, number] = [l.kernel, l.kernel, l.inChannels, l.filters];
          const mean = tf.add(tf.conv2d(h as tf.Tensor4D, tf.tensor4d(l.weight, shape), l.stride, 'valid'), tf.tensor1d(l.bias));
          if (!sample) {
            h = mean;
            break;
          }
          const v = tf.conv2d(tf.square(h) as tf.Tensor4D, tf.tensor4d(l.variance, shape), l.stride, 'valid');
          h = tf.add(mean, tf.mul(tf.sqrt(v), tf.randomNormal(mean.shape, 0, 1, 'float32', seed + 7919 * k++)));
          break;
        }
        case 'activation':
          h = l.fn === 'relu' ? tf.relu(h) : l.fn === 'tanh' ? tf.tanh(h) : l.fn === 'sigmoid' ? tf.sigmoid(h) : tf.elu(h);
          break;
        case 'maxpool2d':
          h = tf.maxPool(h as tf.Tensor4D, l.size, l.stride, 'valid');
          break;
        case 'flatten':
          h = tf.reshape(h, [h.shape[0]!, -1]);
          break;
        case 'reshape':
          h = tf.reshape(h, [h.shape[0]!, ...l.shape]);
          break;
      }
    }
    return h as tf.Tensor2D;
  });
}

export interface Prediction {
  name: string;
  /** argmax of the posterior-mean network's probabilities. */
  label: number;
  probability: number;
  /** Bayesian exports: the MC predictive's argmax, its probability, and the uncertainty (nats). */
  mc?: { label: number; probability: number; entropy: number; expectedEntropy: number; mutualInformation: number };
}

function entropy(p: ArrayLike<number>, off: number, k: number): number {
  let h = 0;
  for (let c = 0; c < k; c++) {
    const q = p[off + c]!;
    if (q > 0) h -= q * Math.log(q);
  }
  return h;
}

/** Predictions of an export for a batch of images (see the module comment). */
export async function predictExport(
  dir: string,
  input: ImageBatch,
  o: { samples?: number; seed?: number } = {},
): Promise<{ predictions: Prediction[]; bayesian: boolean; samples: number }> {
  const model = await loadExportedModel(dir);
  try {
    const inShape = (model.inputs[0]!.shape as (number | null)[]).slice(1) as number[];
    const per = inShape.reduce((a, b) => a * b, 1);
    const got = input.dims.reduce((a, b) => a * b, 1);
    if (got !== per) throw new Error(`predict: the images have ${input.dims.join('×')} = ${got} pixels, the model takes ${inShape.join('×')} = ${per}`);
    const x = tf.tensor(input.x, [input.n, ...inShape]);
    const probs = tf.tidy(() => model.predict(x) as tf.Tensor).dataSync() as Float32Array;
    const k = probs.length / input.n;
    const post = loadExportedPosterior(dir);
    const S = post ? (o.samples ?? 30) : 0;
    let mcMean: Float32Array | null = null;
    let expH: Float32Array | null = null;
    if (post && S > 0) {
      mcMean = new Float32Array(input.n * k);
      expH = new Float32Array(input.n);
      for (let s = 0; s < S; s++) {
        const p = tf.tidy(() => tf.softmax(plainForward(post.layers, x, true, (o.seed ?? 0) * 1_000_003 + s))).dataSync() as Float32Array;
        for (let i = 0; i < p.length; i++) mcMean[i]! += p[i]! / S;
        for (let n = 0; n < input.n; n++) expH[n]! += entropy(p, n * k, k) / S;
      }
    }
    x.dispose();
    const argmax = (p: Float32Array, off: number) => {
      let a = 0;
      for (let c = 1; c < k; c++) if (p[off + c]! > p[off + a]!) a = c;
      return a;
    };
    const predictions = input.names.map((name, n): Prediction => {
      const label = argmax(probs, n * k);
      const out: Prediction = { name, label, probability: probs[n * k + label]! };
      if (mcMean && expH) {
        const l = argmax(mcMean, n * k);
        const h = entropy(mcMean, n * k, k);
        out.mc = { label: l, probability: mcMean[n * k + l]!, entropy: h, expectedEntropy: expH[n]!, mutualInformation: Math.max(0, h - expH[n]!) };
      }
      return out;
    });
    return { predictions, bayesian: post !== null, samples: S };
  } finally {
    model.dispose();
  }
}

export { readImages };
