/**
 * Predictive uncertainty from Monte Carlo samples of class probabilities
 * (Bayesian model averaging, e.g. S weight samples of a variational posterior,
 * SWAG samples or SVGD particles).
 *
 * Input layout (chosen for this module): an array of S `Float32Array`s, one per
 * sample, each an n×k row-major probability table — what a sampling loop
 * produces, one forward pass at a time, with no S×n×k copy. Use
 * {@link splitSamples} to convert a single S×n×k array.
 *
 * Decomposition (Houlsby et al. 2011; Depeweg et al. 2018; Gal 2016), in nats:
 * - predictive mean p̄_ik = (1/S) Σ_s p^{(s)}_ik;
 * - predictive (total) entropy H[E p] = −Σ_k p̄_k log p̄_k;
 * - expected (aleatoric) entropy E[H p] = (1/S) Σ_s (−Σ_k p^{(s)}_k log p^{(s)}_k);
 * - mutual information (epistemic) MI = H[E p] − E[H p], clamped at 0 (it is ≥ 0
 *   by Jensen's inequality; the clamp removes float round-off).
 * Terms with p = 0 contribute 0 (0·log 0 = 0).
 * @module
 */

/** Per-example and averaged uncertainty decomposition (see {@link uncertaintyDecomposition}). */
export interface UncertaintyDecomposition {
  /** Predictive mean probabilities, n×k row-major. */
  mean: Float32Array;
  /** Per-example predictive entropy H[E p] (nats). */
  predictiveEntropy: Float64Array;
  /** Per-example expected entropy E[H p] (aleatoric, nats). */
  expectedEntropy: Float64Array;
  /** Per-example mutual information H[E p] − E[H p] ≥ 0 (epistemic, nats). */
  mutualInformation: Float64Array;
  /** Averages over the n examples of the three per-example quantities. */
  average: {
    /** Mean over examples of H[E p]. */
    predictiveEntropy: number;
    /** Mean over examples of E[H p]. */
    expectedEntropy: number;
    /** Mean over examples of the (clamped) mutual information. */
    mutualInformation: number;
  };
  /** Number of samples S. */
  samples: number;
  /** Number of examples n. */
  n: number;
  /** Number of classes k. */
  k: number;
}

function checkSamples(samples: readonly Float32Array[], k: number): number {
  if (samples.length === 0) throw new Error('uncertainty: no samples');
  if (!Number.isInteger(k) || k < 1) throw new Error(`uncertainty: numClasses must be a positive integer, got ${k}`);
  const len = samples[0].length;
  if (len % k !== 0) throw new Error(`uncertainty: table length ${len} is not a multiple of k = ${k}`);
  for (let s = 1; s < samples.length; s++) {
    if (samples[s].length !== len) throw new Error(`uncertainty: sample ${s} has length ${samples[s].length}, expected ${len}`);
  }
  return len / k;
}

/**
 * Split one S×n×k row-major array into S views (no copy) of n×k each, the
 * layout the functions of this module take.
 */
export function splitSamples(stacked: Float32Array, numSamples: number): Float32Array[] {
  if (!Number.isInteger(numSamples) || numSamples < 1 || stacked.length % numSamples !== 0) {
    throw new Error(`uncertainty: length ${stacked.length} is not divisible into ${numSamples} samples`);
  }
  const m = stacked.length / numSamples;
  const out: Float32Array[] = [];
  for (let s = 0; s < numSamples; s++) out.push(stacked.subarray(s * m, (s + 1) * m));
  return out;
}

/**
 * Row entropies of an n×k probability table, H_i = −Σ_k p_ik log p_ik (nats),
 * with 0·log 0 = 0.
 */
export function entropy(probs: ArrayLike<number>, numClasses: number): Float64Array {
  const k = numClasses;
  if (probs.length % k !== 0) throw new Error(`uncertainty: length ${probs.length} is not a multiple of k = ${k}`);
  const n = probs.length / k;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let h = 0;
    const o = i * k;
    for (let j = 0; j < k; j++) {
      const p = probs[o + j];
      if (p > 0) h -= p * Math.log(p);
    }
    out[i] = h;
  }
  return out;
}

function meanF64(samples: readonly Float32Array[]): Float64Array {
  const len = samples[0].length;
  const m = new Float64Array(len);
  for (const t of samples) for (let i = 0; i < len; i++) m[i] += t[i];
  const S = samples.length;
  for (let i = 0; i < len; i++) m[i] /= S;
  return m;
}

/**
 * Predictive mean probabilities p̄_ik = (1/S) Σ_s p^{(s)}_ik (accumulated in
 * float64, returned as float32), the Bayesian model average.
 */
export function predictiveMean(samples: readonly Float32Array[], numClasses: number): Float32Array {
  checkSamples(samples, numClasses);
  return Float32Array.from(meanF64(samples));
}

/**
 * Full decomposition H[E p] = E[H p] + MI, per example and averaged over
 * examples (formulas in the module comment). MI is clamped at 0.
 */
export function uncertaintyDecomposition(samples: readonly Float32Array[], numClasses: number): UncertaintyDecomposition {
  const k = numClasses;
  const n = checkSamples(samples, k);
  const meanProbs = meanF64(samples);
  const predictiveEntropy = entropy(meanProbs, k);
  const expectedEntropy = new Float64Array(n);
  for (const t of samples) {
    const h = entropy(t, k);
    for (let i = 0; i < n; i++) expectedEntropy[i] += h[i];
  }
  const S = samples.length;
  const mutualInformation = new Float64Array(n);
  let aP = 0;
  let aE = 0;
  let aM = 0;
  for (let i = 0; i < n; i++) {
    expectedEntropy[i] /= S;
    const mi = predictiveEntropy[i] - expectedEntropy[i];
    mutualInformation[i] = mi > 0 ? mi : 0;
    aP += predictiveEntropy[i];
    aE += expectedEntropy[i];
    aM += mutualInformation[i];
  }
  return {
    mean: Float32Array.from(meanProbs),
    predictiveEntropy,
    expectedEntropy,
    mutualInformation,
    average: {
      predictiveEntropy: n > 0 ? aP / n : NaN,
      expectedEntropy: n > 0 ? aE / n : NaN,
      mutualInformation: n > 0 ? aM / n : NaN,
    },
    samples: S,
    n,
    k,
  };
}

/** Per-example predictive entropy H[E p] (nats). */
export function predictiveEntropy(samples: readonly Float32Array[], numClasses: number): Float64Array {
  checkSamples(samples, numClasses);
  return entropy(meanF64(samples), numClasses);
}

/** Per-example expected entropy E[H p] (aleatoric, nats). */
export function expectedEntropy(samples: readonly Float32Array[], numClasses: number): Float64Array {
  return uncertaintyDecomposition(samples, numClasses).expectedEntropy;
}

/** Per-example mutual information H[E p] − E[H p], clamped at 0 (epistemic, nats). */
export function mutualInformation(samples: readonly Float32Array[], numClasses: number): Float64Array {
  return uncertaintyDecomposition(samples, numClasses).mutualInformation;
}
