/**
 * Sparsity, compression and multiply-add (MAC) accounting of a pruned network.
 *
 * Conventions (project references, "Conventions" and "Reporting practice",
 * after Blalock et al. 2020):
 * - sparsity = fraction of weights removed; density = 1 − sparsity;
 *   compression = total / nonzero (∞ when nothing is kept);
 * - the default count covers weight matrices and conv kernels only, not biases;
 *   a second count includes biases (biases are never pruned by a mask here, so
 *   they all count as kept). Both are reported. Every layer passed in is
 *   counted, including the classifier: filter the list to exclude one.
 * - MACs per example: dense, one multiply-add per kept weight; conv, one per
 *   kept kernel weight per output spatial position (`macsPerWeight` = H_out·W_out).
 *   Biases and activations are not counted. Theoretical speed-up =
 *   dense MACs / remaining MACs.
 * @module
 */

/** Layer kind; `'dense'` and `'conv'` are known, other strings are accepted. */
export type LayerKind = 'dense' | 'conv' | (string & {});

/** One prunable layer. */
export interface LayerSpec {
  /** Layer name, for the per-layer rows. */
  name: string;
  /** Weight shape (e.g. [in, out] or [kh, kw, cin, cout]); its product is the weight count. */
  shape: number[];
  /** Layer kind. */
  kind: LayerKind;
  /** Keep mask over the weights, same length as the weight count: nonzero = kept, 0 = pruned. Absent = dense. */
  mask?: Uint8Array | Float32Array;
  /** Number of bias parameters (default 0); counted only in the "with biases" totals. */
  biasCount?: number;
  /**
   * Multiply-adds per kept weight per example: default 1 for `'dense'`;
   * required for every other kind (for conv: the number of output spatial positions).
   */
  macsPerWeight?: number;
}

/** Parameter counts with the derived ratios. */
export interface ParamCount {
  /** Number of parameters. */
  total: number;
  /** Number kept (nonzero mask). */
  kept: number;
  /** total − kept. */
  pruned: number;
  /** pruned / total (0 when total is 0). */
  sparsity: number;
  /** kept / total (1 when total is 0). */
  density: number;
  /** total / kept (∞ when kept is 0 and total > 0; 1 when total is 0). */
  compression: number;
}

/** Per-layer row of a {@link SparsityReport}. */
export interface LayerSparsity {
  /** Layer name. */
  name: string;
  /** Layer kind. */
  kind: LayerKind;
  /** Counts over the weights (kernel) only. */
  weights: ParamCount;
  /** Counts over weights and biases. */
  withBiases: ParamCount;
  /** MACs per example of the unpruned layer. */
  denseMacs: number;
  /** MACs per example after pruning. */
  macs: number;
  /** denseMacs / macs (∞ when macs is 0). */
  speedup: number;
}

/** Result of {@link sparsityReport}. */
export interface SparsityReport {
  /** One row per layer, in input order. */
  layers: LayerSparsity[];
  /** Totals over all layers, weights only (the default convention). */
  weights: ParamCount;
  /** Totals over all layers, weights and biases. */
  withBiases: ParamCount;
  /** Total dense MACs per example. */
  denseMacs: number;
  /** Total remaining MACs per example. */
  macs: number;
  /** Theoretical speed-up = denseMacs / macs. */
  speedup: number;
}

/**
 * Counts and ratios from a total and a kept count: sparsity = (total − kept)/total,
 * density = kept/total, compression = total/kept.
 */
export function paramCount(total: number, kept: number): ParamCount {
  const pruned = total - kept;
  return {
    total,
    kept,
    pruned,
    sparsity: total > 0 ? pruned / total : 0,
    density: total > 0 ? kept / total : 1,
    compression: total > 0 ? total / kept : 1,
  };
}

/** Number of nonzero entries of a mask (= kept weights). */
export function countKept(mask: Uint8Array | Float32Array): number {
  let c = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i] !== 0) c++;
  return c;
}

/** Sparsity, compression and MACs of one layer (see the module comment). */
export function layerSparsity(layer: LayerSpec): LayerSparsity {
  const total = layer.shape.reduce((a, b) => a * b, 1);
  if (!Number.isFinite(total) || total < 0 || layer.shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new Error(`sparsity: layer '${layer.name}' has invalid shape [${layer.shape.join(', ')}]`);
  }
  let kept = total;
  if (layer.mask) {
    if (layer.mask.length !== total) {
      throw new Error(`sparsity: layer '${layer.name}' mask length ${layer.mask.length} ≠ weight count ${total}`);
    }
    kept = countKept(layer.mask);
  }
  const biases = layer.biasCount ?? 0;
  if (!Number.isInteger(biases) || biases < 0) throw new Error(`sparsity: layer '${layer.name}' biasCount must be a non-negative integer`);
  let mpw = layer.macsPerWeight;
  if (mpw === undefined) {
    if (layer.kind === 'dense') mpw = 1;
    else {
      throw new Error(`sparsity: layer '${layer.name}' of kind '${layer.kind}' needs macsPerWeight (for conv: output height × width)`);
    }
  }
  if (!(mpw >= 0)) throw new Error(`sparsity: layer '${layer.name}' macsPerWeight must be ≥ 0`);
  const denseMacs = total * mpw;
  const macs = kept * mpw;
  return {
    name: layer.name,
    kind: layer.kind,
    weights: paramCount(total, kept),
    withBiases: paramCount(total + biases, kept + biases),
    denseMacs,
    macs,
    speedup: macs > 0 ? denseMacs / macs : denseMacs > 0 ? Infinity : 1,
  };
}

/**
 * Per-layer and total sparsity, density, compression (weights only and with
 * biases) and MACs with the theoretical speed-up Σ dense MACs / Σ remaining MACs.
 */
export function sparsityReport(layers: readonly LayerSpec[]): SparsityReport {
  const rows = layers.map(layerSparsity);
  let wt = 0;
  let wk = 0;
  let bt = 0;
  let bk = 0;
  let dm = 0;
  let m = 0;
  for (const r of rows) {
    wt += r.weights.total;
    wk += r.weights.kept;
    bt += r.withBiases.total;
    bk += r.withBiases.kept;
    dm += r.denseMacs;
    m += r.macs;
  }
  return {
    layers: rows,
    weights: paramCount(wt, wk),
    withBiases: paramCount(bt, bk),
    denseMacs: dm,
    macs: m,
    speedup: m > 0 ? dm / m : dm > 0 ? Infinity : 1,
  };
}
