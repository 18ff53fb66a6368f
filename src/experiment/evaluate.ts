/**
 * Evaluation of a posterior on a data set: the predictive averages class
 * probabilities over S posterior samples (Bayesian model averaging), and the
 * calibration and uncertainty metrics are computed on those probabilities.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from '../data/dataset.js';
import type { Posterior } from '../inference/posterior.js';
import type { RandomStream } from '../random.js';
import { adaptiveEce, calibrationSummary, classwiseEce, reliabilityBins, type CalibrationSummary, type ReliabilityBin } from '../metrics/calibration.js';
import { uncertaintyDecomposition } from '../metrics/uncertainty.js';
import { predictSamplesShared } from '../nn/fused/predictive.js';

export interface PredictOptions {
  /** Posterior samples S; 0 = one deterministic pass with the posterior mean. */
  samples: number;
  stream: RandomStream;
  batchSize?: number;
}

/** Per-sample class probabilities [S][n×k] of `posterior` on `ds`. */
export function predictSamples(posterior: Posterior, ds: Dataset, o: PredictOptions): Float32Array[] {
  const bs = o.batchSize ?? 1000;
  const d = ds.x.length / ds.n;
  const k = ds.numClasses;
  let out: Float32Array[] | undefined;
  for (let s = 0; s < ds.n; s += bs) {
    const size = Math.min(bs, ds.n - s);
    const t = tf.tidy(() => {
      const x = tf.tensor(ds.x.subarray(s * d, (s + size) * d), [size, ...ds.shape]);
      // Shares the first LRT layer's moments across samples where it can (bit-identical; src/nn/fused/predictive.ts).
      return predictSamplesShared(posterior, x, o.samples, o.stream) ?? posterior.predictSamples(x, o.samples, o.stream);
    });
    const S = t.shape[0];
    const data = t.dataSync() as Float32Array;
    t.dispose();
    out ??= Array.from({ length: S }, () => new Float32Array(ds.n * k));
    for (let j = 0; j < S; j++) out[j]!.set(data.subarray(j * size * k, (j + 1) * size * k), s * k);
  }
  return out ?? [];
}

/** Logits [n×k] of the posterior-mean network (current masks) on `ds`. */
export function meanLogits(posterior: Posterior, ds: Dataset, batchSize: number): Float32Array {
  const d = ds.x.length / ds.n;
  const out = new Float32Array(ds.n * ds.numClasses);
  for (let s = 0; s < ds.n; s += batchSize) {
    const size = Math.min(batchSize, ds.n - s);
    const t = tf.tidy(() => posterior.network.forward(tf.tensor(ds.x.subarray(s * d, (s + size) * d), [size, ...ds.shape]), { sample: false }));
    out.set(t.dataSync() as Float32Array, s * ds.numClasses);
    t.dispose();
  }
  return out;
}

/** Row-wise softmax of n×k logits, by the backend's softmax (the values `predictSamples` with 0 samples gives). */
export function softmaxRows(logits: Float32Array, k: number): Float32Array {
  return tf.tidy(() => tf.softmax(tf.tensor2d(logits, [logits.length / k, k])).dataSync() as Float32Array);
}

/** What the evaluation of one predictive reports. */
export interface Evaluation extends CalibrationSummary {
  /** Top-label ECE with 15 equal-mass bins (Nixon et al. 2019). */
  eceAdaptive: number;
  /** Classwise ECE, 15 equal-width bins per class (Kull et al. 2019). */
  eceClasswise: number;
  /** Samples averaged (0 = posterior-mean network). */
  samples: number;
  /** Mean predictive entropy H[E p] (nats). */
  entropy: number;
  /** Mean mutual information (epistemic uncertainty, nats); 0 for a single pass. */
  mutualInformation: number;
  /** Mean expected entropy E[H p] (aleatoric, nats); entropy = expectedEntropy + mutualInformation. */
  expectedEntropy: number;
  reliability: ReliabilityBin[];
}

/** Evaluate the predictive of `posterior` (with its current masks) on `ds`. */
export function evaluatePosterior(posterior: Posterior, ds: Dataset, o: PredictOptions): Evaluation {
  return evaluateSamples(predictSamples(posterior, ds, o), ds, o.samples);
}

/** The evaluation of per-sample class probabilities [S][n×k] (from {@link predictSamples}) on `ds`. */
export function evaluateSamples(samples: Float32Array[], ds: Dataset, numSamples: number): Evaluation {
  const u = uncertaintyDecomposition(samples, ds.numClasses);
  return {
    ...calibrationSummary(u.mean, ds.y),
    eceAdaptive: adaptiveEce(u.mean, ds.y),
    eceClasswise: classwiseEce(u.mean, ds.y),
    samples: numSamples,
    entropy: u.average.predictiveEntropy,
    mutualInformation: u.average.mutualInformation,
    expectedEntropy: u.average.expectedEntropy,
    reliability: reliabilityBins(u.mean, ds.y),
  };
}
