/**
 * Unit structure of weight layers: which axis of each parameter indexes the layer's
 * input features and which its output units, so that structured pruning can cut
 * units and channels out of the tensors (`src/pruning/compaction.ts`), and the gate
 * description of gated layers (`src/pruning/structured.ts`).
 *
 * Layers opt in by a `structure()` method (and `gates()` for gated layers); the
 * foundation's `Dense` and `LrtDense` get adapters in the compaction module.
 * @module
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { Layer } from './layer.js';

/** One parameter and the axes that index input features and output units (absent = not indexed). */
export interface ParameterAxes {
  variable: tf.Variable;
  inAxis?: number;
  outAxis?: number;
}

/** How a weight layer's parameters are laid out over its inputs and outputs. */
export interface UnitStructure {
  /** `dense`: weight [in, out]; `conv`: weight [k, k, cin, cout] (the inputs are channels). */
  geometry: 'dense' | 'conv';
  inUnits: number;
  outUnits: number;
  /** Every variable of the layer, in the order of `variables()`, with its unit axes. */
  parameterAxes(): ParameterAxes[];
  /** The bias variable [out] (a point estimate in every layer of this framework). */
  bias: tf.Variable;
  /**
   * The weight the deterministic forward pass (`sample: false`) uses, masks and
   * deterministic gates applied, in the weight's row-major layout.
   */
  deterministicWeight(): Float32Array;
  /**
   * A fresh layer of the same type and settings (same name) with `inUnits` inputs and
   * `outUnits` outputs; the caller overwrites its variables.
   */
  resized(inUnits: number, outUnits: number): Layer;
}

/** What the gates of a gated layer control and how likely each is on. */
export interface GateInfo {
  /** One gate per weight, per input feature (row / input channel) or per output unit (column / channel). */
  granularity: 'weight' | 'input' | 'output';
  /** P(gate ≠ 0) of every gate. */
  inclusion: Float32Array;
  /**
   * The deterministic keep decision of every gate: hard-concrete, test-time gate > 0
   * (Louizos et al. 2018); spike-and-slab, φ > 0.5 (the median model, Bai et al. 2020).
   */
  keep: Uint8Array;
}

/** A layer that can describe its unit structure. */
export interface Structured {
  structure(): UnitStructure;
}

/** A layer with gates. */
export interface Gated {
  gates(): GateInfo;
}

export function hasStructure(l: Layer): l is Layer & Structured {
  return typeof (l as Partial<Structured>).structure === 'function';
}

export function hasGates(l: Layer): l is Layer & Gated {
  return typeof (l as Partial<Gated>).gates === 'function';
}

/** Expand a per-gate array to the weight shape ([in, out] dense; [k, k, cin, cout] conv). */
export function gateToWeight(values: ArrayLike<number>, granularity: GateInfo['granularity'], weightShape: number[]): Float32Array {
  const size = weightShape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(size);
  const nOut = weightShape.at(-1)!;
  const nIn = weightShape.at(-2)!;
  if (granularity === 'weight') {
    if (values.length !== size) throw new Error(`gate count ${values.length} ≠ weight count ${size}`);
    for (let i = 0; i < size; i++) out[i] = values[i]!;
  } else if (granularity === 'output') {
    if (values.length !== nOut) throw new Error(`gate count ${values.length} ≠ output units ${nOut}`);
    for (let i = 0; i < size; i++) out[i] = values[i % nOut]!;
  } else {
    if (values.length !== nIn) throw new Error(`gate count ${values.length} ≠ input units ${nIn}`);
    for (let i = 0; i < size; i++) out[i] = values[Math.floor(i / nOut) % nIn]!;
  }
  return out;
}

/**
 * The unit structure of a layer from its weight shape: [in, out] is `dense`, [k, k, cin, cout]
 * is `conv`; the units are the weight's last two axes.
 */
export function weightStructure(
  weightShape: number[],
  bias: tf.Variable,
  rest: Pick<UnitStructure, 'parameterAxes' | 'deterministicWeight' | 'resized'>,
): UnitStructure {
  if (weightShape.length !== 2 && weightShape.length !== 4)
    throw new Error(`unit structure: a weight of shape [${weightShape}] is neither dense [in, out] nor conv [k, k, cin, cout]`);
  return { geometry: weightShape.length === 4 ? 'conv' : 'dense', inUnits: weightShape.at(-2)!, outUnits: weightShape.at(-1)!, bias, ...rest };
}
