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
  /** The sparse-VD KL and its gradient as one kernel (float32 rounding). */
  klKernel: boolean;
  /** Adam's update of each variable as one kernel (bit-identical on wasm and cpu). */
  adamKernel: boolean;
  /** `Identity` on wasm shares the input's memory instead of copying it (bit-identical). */
  copyFreeIdentity: boolean;
}

export const fusedPaths: FusedPaths = { sharedPredictive: true, fastNormal: true, klKernel: true, adamKernel: true, copyFreeIdentity: true };

/** Set some switches; returns the previous values (to restore). */
export function setFusedPaths(p: Partial<FusedPaths>): FusedPaths {
  const prev = { ...fusedPaths };
  Object.assign(fusedPaths, p);
  return prev;
}
