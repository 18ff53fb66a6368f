/**
 * Switches for the fast paths of src/nn/fused (all on by default). Each fast path computes
 * the same values as the composed tfjs ops it replaces (bit-identical, or to float32
 * rounding where its doc says so); the switches exist so that benchmarks can time both
 * paths interleaved in one process and tests can compare them.
 * @module
 */
export interface FusedPaths {
  /** Monte Carlo predictive sharing the first LRT layer's moments across samples (bit-identical). */
  sharedPredictive: boolean;
  /** LRT noise by the tight Alea + polar loop instead of tf.randomNormal (bit-identical). */
  fastNormal: boolean;
  /** LRT noise drawn by the backend's own generator (wasm: kernel BayesPruneNormal; a different stream from tf.randomNormal). */
  backendNoise: boolean;
  /** exp(log σ²) of the LRT forward pass as one SIMD kernel (float32 rounding). */
  expKernel: boolean;
  /** The sampled LRT dense forward as one op with a hand-written backward (bit-identical to the tape). */
  lrtDenseOp: boolean;
  /** Matrix products of the LRT training op by the SIMD gemm (wasm; the same float32 sums as tfjs's matMul). */
  gemmKernel: boolean;
  /** The sparse-VD KL and its gradient as one kernel (float32 rounding). */
  klKernel: boolean;
  /** Mean-field layers' KL, its gradient and Adam's update in one kernel per layer (trainer step; float32 rounding). */
  klAdamStep: boolean;
  /** Adam's update of each variable as one kernel (bit-identical on wasm and cpu). */
  adamKernel: boolean;
  /** `Identity` on wasm shares the input's memory instead of copying it (bit-identical). */
  copyFreeIdentity: boolean;
  /** The evaluation engine's LRT draws (mean + √(var + 1e-8)·ε, ReLU, square) as one kernel (wasm; same float32 operations). */
  lrtSampleKernel: boolean;
}

/**
 * All on, unless the environment variable `BAYESPRUNE_FUSED=off` turns every fast path off
 * (the composed tfjs ops everywhere: an escape hatch, and the reference for comparisons).
 */
export const fusedPaths: FusedPaths = fusedFromEnv(process.env.BAYESPRUNE_FUSED);

function fusedFromEnv(v: string | undefined): FusedPaths {
  if (v !== undefined && v !== '' && v !== 'on' && v !== 'off') {
    throw new Error(`environment variable BAYESPRUNE_FUSED: "${v}" is not allowed; use on or off`);
  }
  const on = v !== 'off';
  return {
    sharedPredictive: on,
    fastNormal: on,
    backendNoise: on,
    expKernel: on,
    lrtDenseOp: on,
    gemmKernel: on,
    klKernel: on,
    klAdamStep: on,
    adamKernel: on,
    copyFreeIdentity: on,
    lrtSampleKernel: on,
  };
}

/** Set some switches; returns the previous values (to restore). */
export function setFusedPaths(p: Partial<FusedPaths>): FusedPaths {
  const prev = { ...fusedPaths };
  Object.assign(fusedPaths, p);
  return prev;
}
