/**
 * A feed-forward network: a sequence of {@link Layer}s, functional and minimal.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ForwardOptions, Layer, WeightMoments } from './layer.js';
import type { RandomStream } from '../random.js';

/** Masks by weight name (`<layer>.weight`), 1 = keep, 0 = pruned. */
export type MaskSet = Map<string, Float32Array>;

/** One named array of saved state (checkpoint entry). */
export interface StateEntry {
  name: string;
  shape: number[];
  values: Float32Array;
}

/**
 * Training state kept outside the layers (e.g. unit removal's per-unit counters), registered
 * on the network under a name in {@link Network.auxState} so checkpoints save and restore it.
 */
export interface AuxState {
  /** The state as entries (values copied out). */
  saveState(): StateEntry[];
  /** Restore from {@link saveState}'s entries; throws a one-line message if they do not fit. */
  loadState(entries: StateEntry[]): void;
}

export class Network {
  /** Training state outside the layers, by name, saved in checkpoints (see {@link AuxState}). */
  readonly auxState = new Map<string, AuxState>();

  constructor(
    readonly layers: Layer[],
    /** Per-example input shape, e.g. [784]. */
    readonly inputShape: number[],
    readonly numClasses: number,
    /** A short description, e.g. `lenet-300-100 (lrt-dense, log-uniform prior)`. */
    readonly description: string,
  ) {}

  /** Logits for a batch. */
  forward(x: tf.Tensor, opts: ForwardOptions): tf.Tensor2D {
    return tf.tidy(() => {
      let h = x;
      for (const l of this.layers) h = l.forward(h, opts);
      return h as tf.Tensor2D;
    });
  }

  /** Total KL(q ‖ p) over layers that have one (0 for a point-estimate network). */
  kl(opts?: { stream?: RandomStream }): tf.Scalar {
    return tf.tidy(() => {
      const terms = this.layers.filter((l) => l.kl).map((l) => l.kl!(opts));
      return (terms.length ? tf.addN(terms) : tf.scalar(0)) as tf.Scalar;
    });
  }

  /** Sum of the layers' training penalties (network slimming's λ·Σ|γ|), or null when no layer has one. */
  penalty(): tf.Scalar | null {
    const terms = this.layers.map((l) => l.penalty?.() ?? null).filter((t): t is tf.Scalar => t !== null);
    if (terms.length <= 1) return terms[0] ?? null;
    const sum = tf.addN(terms) as tf.Scalar;
    tf.dispose(terms);
    return sum;
  }

  /** Whether any layer carries a KL term (is Bayesian). */
  get isBayesian(): boolean {
    return this.layers.some((l) => l.kl);
  }

  variables(): tf.Variable[] {
    return this.layers.flatMap((l) => l.variables());
  }

  /** Non-trainable state of the layers that training changes (batch-norm running statistics), for checkpoints. */
  stateVariables(): tf.Variable[] {
    return this.layers.flatMap((l) => l.stateVariables?.() ?? []);
  }

  /** Layers with a prunable weight, in order. */
  weightLayers(): Layer[] {
    return this.layers.filter((l) => l.weightShape);
  }

  /** Per-weight posterior moments of every prunable weight (masked weights have mean and variance 0). */
  moments(): WeightMoments[] {
    return this.weightLayers().map((l) => l.moments()!);
  }

  /** Apply masks by weight name; a null set clears every mask. Unknown names are an error. */
  setMasks(masks: MaskSet | null): void {
    const byName = new Map(this.weightLayers().map((l) => [`${l.name}.weight`, l]));
    if (masks) {
      for (const [name, m] of masks) {
        const l = byName.get(name);
        if (!l) throw new Error(`mask for unknown weight "${name}"; weights: ${[...byName.keys()].join(', ')}`);
        const size = l.weightShape!.reduce((a, b) => a * b, 1);
        if (m.length !== size) throw new Error(`mask for "${name}" has ${m.length} entries, expected ${size}`);
      }
    }
    for (const [name, l] of byName) l.setMask(masks?.get(name) ?? null);
  }

  /** The masks currently applied. */
  getMasks(): MaskSet {
    const out: MaskSet = new Map();
    for (const l of this.weightLayers()) {
      const m = l.getMask();
      if (m) out.set(`${l.name}.weight`, m);
    }
    return out;
  }

  /** Number of prunable weights. */
  numWeights(): number {
    return this.weightLayers().reduce((a, l) => a + l.weightShape!.reduce((x, y) => x * y, 1), 0);
  }

  dispose(): void {
    for (const l of this.layers) l.dispose();
  }
}
