/**
 * Bernoulli unit gates with a Gaussian scale-mixture prior, and the removal of units
 * whose gate has settled at 0 while training goes on (learning and pruning at once).
 *
 * Model: every hidden unit j has a gate z_j ~ Bernoulli(λ) and its incoming weights
 * w_ij | z_j ~ z_j·N(0, σ1²) + (1 − z_j)·N(0, σ2²): a two-scale Gaussian mixture whose
 * narrow component (σ2 ≪ 1) plays the spike. Variational posterior q(z_j) = Bernoulli(φ_j),
 * q(w_ij | z_j = 1) = N(μ_ij, σ_ij²), q(w_ij | z_j = 0) = N(0, σ2²) (equal to the prior's
 * spike, so that branch adds no KL). Hence, per unit,
 *
 *   KL = φ log(φ/λ) + (1 − φ) log((1 − φ)/(1 − λ)) + φ·Σ_i KL(N(μ_ij, σ_ij²) ‖ N(0, σ1²)),
 *
 * the spike-and-slab node KL of Jantre et al. (2023) with a Gaussian spike; with σ2 → 0 it
 * is exactly that layer. The layer is {@link SpikeSlabDense} with `spikeSigma` = σ2 and node
 * granularity (kind `unit-gate-dense`); the binary-concrete straight-through gradient and
 * the KL push φ_j towards 0 or 1.
 *
 * Removal during training ({@link UnitRemoval}): after each epoch the gate probability of
 * every unit-gated layer is checked; a unit whose P(gate ≠ 0) stays below `threshold`
 * (0.01) for `patience` consecutive checks is removed — its column, the next layer's
 * matching inputs and the optimizer state are cut (`compactInPlace`), its constant
 * output folded into the next bias — so later epochs multiply smaller matrices.
 * It works for every layer with per-unit gates (this layer, spike-and-slab node
 * selection, L0 output gates, L0 input gates: an input gate at 0 removes the unit
 * of the previous layer, or a network input).
 * @module
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { AuxState, Network, MaskSet, StateEntry } from '../nn/network.js';
import { hasGates } from '../nn/structure.js';
import { compactInPlace, type CompactionReport } from '../pruning/compaction.js';
import { SpikeSlabDense, type SpikeSlabOptions } from './spike-slab.js';

export interface UnitGateOptions extends Omit<SpikeSlabOptions, 'granularity' | 'spikeSigma' | 'slabSigma' | 'kind'> {
  /** σ1: the wide ("slab") component of the scale mixture. */
  sigma1?: number;
  /** σ2: the narrow ("spike") component (default 1e-3; 0 gives spike-and-slab). */
  sigma2?: number;
}

/** A dense layer with one Bernoulli gate per output unit and a Gaussian scale-mixture prior. */
export class UnitGateDense extends SpikeSlabDense {
  constructor(o: UnitGateOptions) {
    super({ ...o, granularity: 'output', slabSigma: o.sigma1 ?? 1, spikeSigma: o.sigma2 ?? 1e-3, kind: 'unit-gate-dense' });
  }
}

export interface UnitRemovalOptions {
  /** A unit goes when P(gate ≠ 0) < threshold ... */
  threshold: number;
  /** ... at this many consecutive checks. */
  patience: number;
}

/** What one check did. */
export interface RemovalEvent {
  /** Units (or inputs) removed per layer at this check. */
  removed: Record<string, number>;
  /** Output units of each weight layer after the check. */
  units: Record<string, number>;
  /**
   * Where the checked gates stand before removal, per layer: how many have P(gate ≠ 0) < ½
   * (closed at test time) and how many are below the removal threshold.
   */
  gates: Record<string, { closed: number; belowThreshold: number; total: number }>;
  report: CompactionReport | null;
}

/** Counts consecutive low-gate checks per unit and compacts the network when units settle at 0. */
export class UnitRemoval implements AuxState {
  private readonly counts = new Map<string, Int32Array>();

  /** Units removed so far (a compacted network cannot be rebuilt from a checkpoint). */
  private removedUnits = 0;

  /** The per-unit counters of consecutive low-gate checks and the units removed so far, for checkpoints (`Network.auxState`). */
  saveState(): StateEntry[] {
    return [
      { name: '#removed', shape: [1], values: Float32Array.of(this.removedUnits) },
      ...[...this.counts].map(([name, c]) => ({ name, shape: [c.length], values: Float32Array.from(c) })),
    ];
  }

  /**
   * Restore the counters of {@link saveState}. Refuses state saved after a removal: the
   * network was compacted in place then, and a fresh network cannot take its variables.
   */
  loadState(entries: StateEntry[]): void {
    const removed = entries.find((e) => e.name === '#removed')?.values[0] ?? 0;
    if (removed > 0)
      throw new Error(
        `${removed} unit${removed === 1 ? ' was' : 's were'} removed during training before it was saved, and a run cannot be resumed after a removal (the compacted network is not rebuilt)`,
      );
    const counters = entries.filter((e) => e.name !== '#removed');
    for (const e of counters)
      if (!Array.from(e.values).every((v) => Number.isInteger(v) && v >= 0))
        throw new Error(`unit removal: counters of ${e.name} are not non-negative integers`);
    this.counts.clear();
    for (const e of counters) this.counts.set(e.name, Int32Array.from(e.values));
  }

  constructor(readonly opts: UnitRemovalOptions) {
    if (!(opts.threshold > 0 && opts.threshold < 1)) throw new Error(`unit removal: threshold must be in (0, 1), got ${opts.threshold}`);
    if (!(Number.isInteger(opts.patience) && opts.patience >= 1)) throw new Error(`unit removal: patience must be an integer ≥ 1, got ${opts.patience}`);
  }

  /**
   * One check: update the counters, and if any unit has been below the threshold for
   * `patience` checks, mask it and compact the network in place (with the optimizer state).
   */
  check(net: Network, optimizer?: tf.Optimizer): RemovalEvent {
    const masks: MaskSet = new Map();
    const removed: Record<string, number> = {};
    const gates: RemovalEvent['gates'] = {};
    const wl = net.weightLayers();
    wl.forEach((l, idx) => {
      if (!hasGates(l)) return;
      const g = l.gates();
      if (g.granularity === 'weight') return;
      // Output gates of the classifier would remove classes: never.
      if (g.granularity === 'output' && idx === wl.length - 1) return;
      const key = `${l.name}/${g.granularity}`;
      let c = this.counts.get(key);
      if (!c || c.length !== g.inclusion.length) c = new Int32Array(g.inclusion.length);
      const drop: number[] = [];
      gates[l.name] = {
        closed: g.inclusion.filter((p) => p < 0.5).length,
        belowThreshold: g.inclusion.filter((p) => p < this.opts.threshold).length,
        total: g.inclusion.length,
      };
      for (let j = 0; j < c.length; j++) {
        c[j] = g.inclusion[j]! < this.opts.threshold ? c[j]! + 1 : 0;
        if (c[j]! >= this.opts.patience) drop.push(j);
      }
      if (drop.length === c.length) drop.splice(drop.indexOf(argMax(g.inclusion)), 1);
      if (drop.length) {
        const shape = l.weightShape!;
        const m = l.getMask()?.slice() ?? new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(1);
        const nOut = shape.at(-1)!;
        const nIn = shape.at(-2)!;
        const isDropped = new Uint8Array(c.length);
        for (const j of drop) isDropped[j] = 1;
        for (let f = 0; f < m.length; f++) {
          const unit = g.granularity === 'output' ? f % nOut : Math.floor(f / nOut) % nIn;
          if (isDropped[unit]) m[f] = 0;
        }
        masks.set(`${l.name}.weight`, m);
        removed[l.name] = drop.length;
        this.removedUnits += drop.length;
        // Counters of the kept units survive the compaction.
        c = Int32Array.from(Array.from(c).filter((_, j) => !isDropped[j]));
      }
      this.counts.set(key, c);
    });
    let report: CompactionReport | null = null;
    if (masks.size) {
      for (const l of wl) {
        const m = masks.get(`${l.name}.weight`);
        if (m) l.setMask(m);
      }
      report = compactInPlace(net, optimizer);
    }
    const units: Record<string, number> = {};
    for (const l of net.weightLayers()) units[l.name] = l.weightShape!.at(-1)!;
    return { removed, units, gates, report };
  }
}

function argMax(a: Float32Array): number {
  let k = 0;
  for (let i = 1; i < a.length; i++) if (a[i]! > a[k]!) k = i;
  return k;
}
