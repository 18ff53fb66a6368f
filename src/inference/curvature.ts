/**
 * Per-example gradients, diagonal curvature (empirical Fisher, GGN, Monte Carlo
 * Fisher) and batch gradients of a dense feed-forward network, vectorized over
 * the examples of a batch.
 *
 * The trick: for a dense layer z = a·W + b, the gradient of one example's loss ℓ_i
 * with respect to W is the outer product a_iᵀ δ_i, with δ_i = ∂ℓ_i/∂z_i. Because
 * the examples of a batch do not interact, the rows of ∂(Σ_i v_i·z^L_i)/∂z^l are
 * exactly the per-example vectors δ_i (for any output-space vectors v_i held
 * constant). We obtain them in one backward pass by adding a zero "probe" tensor to
 * every pre-activation and differentiating with respect to the probes. Then
 *
 *   Σ_i (∂ℓ_i/∂W)²  =  Σ_i (a_i²)ᵀ(δ_i²)  =  (A∘A)ᵀ (Δ∘Δ)       (one matMul per layer)
 *   Σ_i (∂ℓ_i/∂b)²  =  Σ_i δ_i²
 *
 * Curvatures (all sums over examples, not means):
 * - `ef`, the diagonal empirical Fisher: v_i = ∂ℓ_i/∂z^L_i at the observed label
 *   (softmax: p_i − e_{y_i}; Gaussian: (z_i − y_i)/σ²).
 * - `ggn`, the diagonal generalized Gauss–Newton Σ_i diag(J_iᵀ Λ_i J_i), exact and
 *   sampling-free: factor the output Hessian Λ_i = Σ_c v_{i,c} v_{i,c}ᵀ and backprop
 *   each column, diag = Σ_c (J_iᵀ v_{i,c})². Softmax: Λ = diag(p) − ppᵀ =
 *   Σ_c p_c (e_c − p)(e_c − p)ᵀ, so v_{i,c} = √p_{i,c}(e_c − p_i) (k backward passes,
 *   one per class); this is also the exact (true) Fisher of the categorical model.
 *   Gaussian with noise σ: Λ = I/σ², v_{i,o} = e_o/σ.
 * - `mc-fisher`: the one-sample Monte Carlo estimate of the same GGN: labels drawn
 *   from the model, ŷ_i ~ p(y | x_i, w), v_i = p_i − e_{ŷ_i} (Gaussian: ŷ = z + σε).
 *   Unbiased, one backward pass per batch instead of k.
 *
 * The network's own weights are used as they are (for `Dense` the masked weight;
 * for other dense-like layers — weight shape [in, out] — the posterior mean from
 * `moments()` and their `<layer>.b` bias variable), i.e. curvature and gradients are
 * those of the posterior-mean network. Layers with other weight shapes (conv) are
 * not supported here. Masked weights get curvature and gradient 0
 * (∂/∂w of w∘m is m·∂/∂(w∘m)).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from '../data/dataset.js';
import { Dense } from '../nn/dense.js';
import type { Layer } from '../nn/layer.js';
import { localName } from '../nn/names.js';
import type { Network } from '../nn/network.js';
import type { RandomStream } from '../random.js';

/** The observation model of the network's output. */
export type Likelihood = { type: 'categorical' } | { type: 'gaussian'; sigma: number };

export const CURVATURE_KINDS = ['ggn', 'ef', 'mc-fisher'] as const;
export type CurvatureKind = (typeof CURVATURE_KINDS)[number];

/** A batch as tensors: x [B, ...], y int32 labels [B] (categorical) or float targets [B, out] (Gaussian). */
export interface TensorBatch {
  x: tf.Tensor;
  y: tf.Tensor;
}

/** Diagonal curvature (or a gradient) of one dense-like layer. */
export interface LayerCurvature {
  /** Layer name; the weight is `<layer>.weight`. */
  layer: string;
  shape: number[];
  /** Per weight, row-major like the weight. */
  weight: Float32Array;
  /** Per bias entry (zeros when the layer has no bias). */
  bias: Float32Array;
}

function denseLikeLayers(net: Network): Layer[] {
  const ls = net.weightLayers();
  for (const l of ls) {
    if (l.weightShape!.length !== 2) {
      throw new Error(
        `layer "${l.name}" (${l.kind}) has weight shape [${l.weightShape!.join(', ')}]; gradient criteria and Laplace support dense layers ([in, out]) only`,
      );
    }
  }
  return ls;
}

/** The (masked, mean) weight of a dense-like layer as a tensor. */
function weightOf(l: Layer): tf.Tensor2D {
  if (l instanceof Dense) return l.effectiveWeight() as tf.Tensor2D;
  return tf.tensor2d(l.moments()!.mean, l.weightShape as [number, number]);
}

/** The bias variable of a dense-like layer (`Dense.b`, or the variable named `<layer>.b`). */
function biasOf(l: Layer): tf.Tensor | null {
  if (l instanceof Dense) return l.b;
  return l.variables().find((v) => localName(v.name) === `${l.name}.b`) ?? null;
}

/**
 * Deterministic forward pass of the posterior-mean network, adding `probes[l]` to the
 * pre-activation of the l-th dense layer and recording each dense layer's input.
 */
export function probeForward(net: Network, x: tf.Tensor, probes: tf.Tensor[] | null, record?: tf.Tensor[]): tf.Tensor2D {
  let h = x;
  let li = 0;
  for (const l of net.layers) {
    if (l.weightShape) {
      if (h.rank !== 2) h = tf.reshape(h, [h.shape[0]!, -1]);
      record?.push(h);
      let z: tf.Tensor = tf.matMul(h as tf.Tensor2D, weightOf(l));
      const b = biasOf(l);
      if (b) z = tf.add(z, b);
      if (probes) z = tf.add(z, probes[li]!);
      h = z;
      li++;
    } else h = l.forward(h, { sample: false });
  }
  return h as tf.Tensor2D;
}

/** Per-example output-space gradient ∂ℓ_i/∂z_i at the observed targets (empirical Fisher). */
export function outputGradient(z: tf.Tensor2D, y: tf.Tensor, lik: Likelihood): tf.Tensor2D {
  return tf.tidy(() => {
    if (lik.type === 'categorical') return tf.sub(tf.softmax(z), tf.oneHot(y as tf.Tensor1D, z.shape[1])) as tf.Tensor2D;
    return tf.div(tf.sub(z, y), lik.sigma * lik.sigma) as tf.Tensor2D;
  });
}

/** Columns v_c of the output-Hessian factorization Λ = Σ_c v_c v_cᵀ (see the module doc). */
function ggnFactors(z: tf.Tensor2D, lik: Likelihood): tf.Tensor2D[] {
  const k = z.shape[1];
  if (lik.type === 'gaussian') {
    return Array.from({ length: k }, (_, o) =>
      tf.tidy(() => {
        const row = new Float32Array(k);
        row[o] = 1 / lik.sigma;
        return tf.mul(tf.ones([z.shape[0], 1]), tf.tensor2d(row, [1, k])) as tf.Tensor2D;
      }),
    );
  }
  const p = tf.softmax(z);
  return Array.from({ length: k }, (_, c) =>
    tf.tidy(() => {
      const pc = tf.slice(p, [0, c], [-1, 1]);
      const ec = tf.oneHot(tf.fill([z.shape[0]], c, 'int32') as tf.Tensor1D, k);
      return tf.mul(tf.sqrt(pc), tf.sub(ec, p)) as tf.Tensor2D;
    }),
  );
}

/** One-sample Monte Carlo factor: targets drawn from the model. */
function mcFactor(z: tf.Tensor2D, lik: Likelihood, stream: RandomStream): tf.Tensor2D {
  return tf.tidy(() => {
    if (lik.type === 'categorical') {
      const yhat = tf.reshape(tf.multinomial(z, 1, stream.nextSeed()), [-1]) as tf.Tensor1D;
      return tf.sub(tf.softmax(z), tf.oneHot(yhat, z.shape[1])) as tf.Tensor2D;
    }
    // ŷ = z + σε ⇒ ∂ℓ/∂z = (z − ŷ)/σ² = −ε/σ
    return tf.div(tf.randomNormal(z.shape, 0, 1, 'float32', stream.nextSeed()), -lik.sigma) as tf.Tensor2D;
  });
}

/** Per-example δ_l = ∂(Σ_i v_i·z_i)/∂z^l for every dense layer l: tensors [B, out_l]. */
export function perExampleDeltas(net: Network, x: tf.Tensor, v: tf.Tensor2D): tf.Tensor2D[] {
  const layers = denseLikeLayers(net);
  const probes = layers.map((l) => tf.zeros([x.shape[0]!, l.weightShape![1]!]));
  const f = (...ps: tf.Tensor[]) => tf.sum(tf.mul(probeForward(net, x, ps), v)) as tf.Scalar;
  const grads = tf.grads(f)(probes) as tf.Tensor2D[];
  tf.dispose(probes);
  return grads;
}

/** Multiply by the layer's mask (when it has one). */
function masked(l: Layer, t: tf.Tensor): tf.Tensor {
  const m = l.getMask();
  return m ? tf.mul(t, tf.tensor(m, l.weightShape!)) : t;
}

/**
 * Diagonal curvature Σ_i diag(…) over all examples of `data` (see the module doc for
 * the three kinds). Returns one entry per dense layer with per-weight and per-bias sums.
 */
export function diagonalCurvature(net: Network, data: Iterable<TensorBatch>, kind: CurvatureKind, lik: Likelihood, stream?: RandomStream): LayerCurvature[] {
  const layers = denseLikeLayers(net);
  if (kind === 'mc-fisher' && !stream) throw new Error('mc-fisher curvature needs a random stream');
  let accW = layers.map((l) => tf.zeros(l.weightShape!));
  let accB = layers.map((l) => tf.zeros([l.weightShape![1]!]));
  for (const batch of data) {
    const next = tf.tidy(() => {
      const inputs: tf.Tensor[] = [];
      const z = probeForward(net, batch.x, null, inputs);
      const factors = kind === 'ef' ? [outputGradient(z, batch.y, lik)] : kind === 'ggn' ? ggnFactors(z, lik) : [mcFactor(z, lik, stream!)];
      const a2 = inputs.map((a) => tf.square(a));
      const w = accW.slice();
      const b = accB.slice();
      for (const v of factors) {
        const deltas = perExampleDeltas(net, batch.x, v);
        deltas.forEach((d, l) => {
          const d2 = tf.square(d);
          w[l] = tf.add(w[l]!, tf.matMul(a2[l] as tf.Tensor2D, d2, true, false));
          b[l] = tf.add(b[l]!, tf.sum(d2, 0));
        });
      }
      return { w: w.map((t, l) => masked(layers[l]!, t)), b };
    });
    tf.dispose([...accW, ...accB]);
    accW = next.w;
    accB = next.b;
  }
  const out = layers.map((l, i) => ({
    layer: l.name,
    shape: l.weightShape!,
    weight: accW[i]!.dataSync().slice() as Float32Array,
    bias: accB[i]!.dataSync().slice() as Float32Array,
  }));
  tf.dispose([...accW, ...accB]);
  return out;
}

/**
 * Gradient of the batch's summed loss Σ_i ℓ_i (divide by B for the mean) with respect
 * to every dense layer's weight and bias: ∂/∂W = Aᵀ Δ (masked weights get 0).
 */
export function batchGradients(net: Network, batch: TensorBatch, lik: Likelihood): LayerCurvature[] {
  const layers = denseLikeLayers(net);
  const ts = tf.tidy(() => {
    const inputs: tf.Tensor[] = [];
    const z = probeForward(net, batch.x, null, inputs);
    const deltas = perExampleDeltas(net, batch.x, outputGradient(z, batch.y, lik));
    return deltas.map((d, l) => [masked(layers[l]!, tf.matMul(inputs[l] as tf.Tensor2D, d, true, false)), tf.sum(d, 0)] as const);
  });
  const out = layers.map((l, i) => ({
    layer: l.name,
    shape: l.weightShape!,
    weight: ts[i]![0].dataSync().slice() as Float32Array,
    bias: ts[i]![1].dataSync().slice() as Float32Array,
  }));
  tf.dispose(ts.flatMap((t) => [t[0], t[1]]));
  return out;
}

/**
 * Batches of a classification data set as tensors (int32 labels), at most `maxExamples`
 * (0 = all) examples, in a random order when a stream is given (else the first ones).
 */
export function* datasetBatches(ds: Dataset, batchSize: number, maxExamples = 0, stream?: RandomStream): Generator<TensorBatch> {
  const n = maxExamples > 0 ? Math.min(maxExamples, ds.n) : ds.n;
  const order = stream ? stream.permutation(ds.n).subarray(0, n) : Int32Array.from({ length: n }, (_, i) => i);
  const f = ds.x.length / Math.max(ds.n, 1);
  for (let s = 0; s < n; s += batchSize) {
    const size = Math.min(batchSize, n - s);
    const x = new Float32Array(size * f);
    const y = new Int32Array(size);
    for (let k = 0; k < size; k++) {
      const i = order[s + k]!;
      x.set(ds.x.subarray(i * f, (i + 1) * f), k * f);
      y[k] = ds.y[i]!;
    }
    const xt = tf.tensor(x, [size, ...ds.shape]);
    const yt = tf.tensor1d(y, 'int32');
    try {
      yield { x: xt, y: yt };
    } finally {
      xt.dispose();
      yt.dispose();
    }
  }
}
