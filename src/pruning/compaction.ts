/**
 * Compaction: remove pruned units and channels from a network, producing smaller
 * weight tensors, and carry every cut into the next layer's inputs
 * (dense → dense, conv → conv, conv → flatten → dense).
 *
 * Which units go is read from the keep-masks on the weights (`MaskSet`, e.g. from
 * `structured.ts` or from gates):
 * - output unit j of a weight layer (not the classifier) is removed when its column
 *   (dense) / filter (conv) is fully masked ("dead": it outputs the constant act(b_j)),
 *   or when every input of the next layer fed by it is fully masked ("unused");
 * - input feature i of the first weight layer is removed when its row is fully masked;
 *   a `SelectFeatures` layer in front keeps the compacted network's input unchanged.
 *
 * A dead unit's constant output is folded into the next layer's bias, so compaction is
 * exact: with a = act(b_j) carried through the weightless layers between (activation:
 * applied; max-pool, flatten, reshape: a constant stays the same constant),
 *
 *   dense next:  b'_o += Σ_{i fed by j} a_j·W[i, o];   conv next (`valid` padding):  b'_o += a_j·Σ_{kh,kw} W[kh, kw, j, o],
 *
 * with W the weight of the deterministic pass (posterior mean, masks and deterministic
 * gates applied). The compacted network therefore reproduces the masked network's
 * deterministic (`sample: false`) outputs up to float rounding. Sampled passes agree
 * in distribution except for the weight noise of the folded constant inputs, which
 * the bias has not got.
 *
 * Accounting (Blalock et al. 2020 conventions, see `src/metrics/sparsity.ts`): parameters
 * are weight-tensor entries (biases reported separately); multiply-adds per example are
 * Σ weights·macsPerWeight (dense 1, conv output positions); theoretical speed-up =
 * MACs before / MACs after.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { Dense } from '../nn/dense.js';
import type { Layer } from '../nn/layer.js';
import type { MaskSet } from '../nn/network.js';
import { Network } from '../nn/network.js';
import { SelectFeatures } from '../nn/select.js';
import { hasStructure, weightStructure, type UnitStructure } from '../nn/structure.js';
import { LrtDense } from '../bayes/lrt-dense.js';
import { newVariable } from '../nn/names.js';
import { RandomStream } from '../random.js';
import { gateMasks } from './structured.js';
import { BatchNorm } from '../nn/batchnorm.js';

/** Weightless layer kinds compaction knows how to carry a cut through. */
const PASS_THROUGH = new Set(['activation', 'maxpool2d', 'flatten', 'reshape']);

/** Unit structure of a layer: its own `structure()`, or the adapters for the foundation's dense layers. */
export function structureOf(l: Layer): UnitStructure {
  if (hasStructure(l)) return l.structure();
  if (l instanceof LrtDense) {
    return weightStructure(l.weightShape, l.b, {
      parameterAxes: () => [
        { variable: l.theta, inAxis: 0, outAxis: 1 },
        { variable: l.logSigma2, inAxis: 0, outAxis: 1 },
        { variable: l.b, outAxis: 0 },
      ],
      deterministicWeight: () => maskedValues(l.theta, l.getMask()),
      resized: (ni, no) => new LrtDense({ name: l.name, inFeatures: ni, outFeatures: no, prior: l.prior, stream: new RandomStream(`resize/${l.name}`) }),
    });
  }
  if (l instanceof Dense) {
    return weightStructure(l.weightShape, l.b, {
      parameterAxes: () => [
        { variable: l.w, inAxis: 0, outAxis: 1 },
        { variable: l.b, outAxis: 0 },
      ],
      deterministicWeight: () => maskedValues(l.w, l.getMask()),
      resized: (ni, no) => new Dense({ name: l.name, inFeatures: ni, outFeatures: no, stream: new RandomStream(`resize/${l.name}`) }),
    });
  }
  throw new Error(`compaction: layer "${l.name}" of kind "${l.kind}" does not describe its unit structure (no structure() method)`);
}

function maskedValues(v: tf.Tensor, mask: Float32Array | null): Float32Array {
  const out = v.dataSync().slice() as Float32Array;
  if (mask) for (let i = 0; i < out.length; i++) out[i]! *= mask[i]!;
  return out;
}

/** Per-layer line of a {@link CompactionReport}. */
export interface CompactedLayer {
  name: string;
  kind: string;
  shapeBefore: number[];
  shapeAfter: number[];
  inputsRemoved: number;
  outputsRemoved: number;
  /** Weight entries before / after. */
  paramsBefore: number;
  paramsAfter: number;
  /** Weight entries kept by the masks (non-zero mask) before / after. */
  keptBefore: number;
  keptAfter: number;
  macsPerWeight: number;
  macsBefore: number;
  macsAfter: number;
}

/** Parameters and multiply-adds before and after compaction. */
export interface CompactionReport {
  layers: CompactedLayer[];
  /** Network input features before / after (after < before when a SelectFeatures layer was added). */
  inputs: { before: number; after: number };
  /** Weight-tensor entries (biases not counted). */
  params: { before: number; after: number; removedFraction: number };
  /** Bias entries. */
  biases: { before: number; after: number };
  /** Multiply-adds per example (dense tensors, before and after). */
  macs: { before: number; after: number };
  /** Theoretical speed-up macs.before / macs.after. */
  speedup: number;
  /** Channels of the batch-norm layers (each has γ, β and two running statistics) before / after; absent without batch norm. */
  batchNormChannels?: { before: number; after: number };
}

/** One variable of the compacted network cut out of one of the original network. */
export interface VariableSlice {
  from: tf.Variable;
  to: tf.Variable;
  gathers: { axis: number; indices: Int32Array }[];
}

export interface CompactionResult {
  network: Network;
  report: CompactionReport;
  slices: VariableSlice[];
}

interface Plan {
  /** Indices into net.layers of the weight layers. */
  pos: number[];
  structs: UnitStructure[];
  keepIn: Int32Array[];
  keepOut: Int32Array[];
  /** Bias shift of each weight layer over its ORIGINAL outputs (null = none). */
  shift: (Float32Array | null)[];
  /** Kept network input features (null = all). */
  keepInputs: Int32Array | null;
}

const range = (n: number) => Int32Array.from({ length: n }, (_, i) => i);

/** Whether every entry of `mask` along input index i (dense rows / conv input channels) is 0. */
function zeroLines(mask: Float32Array | null, shape: number[], axis: 'in' | 'out'): Uint8Array {
  const nOut = shape.at(-1)!;
  const nIn = shape.at(-2)!;
  const n = axis === 'in' ? nIn : nOut;
  const zero = new Uint8Array(n);
  if (!mask) return zero;
  zero.fill(1);
  for (let f = 0; f < mask.length; f++) {
    if (mask[f] === 0) continue;
    const o = f % nOut;
    const i = Math.floor(f / nOut) % nIn;
    zero[axis === 'in' ? i : o] = 0;
  }
  return zero;
}

/**
 * Apply the layers between two weight layers to a constant vector: `values[r]` is the constant
 * output of unit `units[r]`. Batch norm (evaluation mode) maps each channel's constant to
 * another constant.
 */
function carryConstant(values: Float32Array, units: number[], between: Layer[]): Float32Array {
  let v = values;
  for (const l of between) {
    if (l.kind === 'activation') v = tf.tidy(() => l.forward(tf.tensor1d(v), { sample: false }).dataSync() as Float32Array);
    else if (l instanceof BatchNorm) v = l.evalConstant(v, units);
    else if (!PASS_THROUGH.has(l.kind)) throw new Error(`compaction: cannot carry a removed unit through layer "${l.name}" of kind "${l.kind}"`);
  }
  return v;
}

function makePlan(net: Network): Plan {
  const pos: number[] = [];
  net.layers.forEach((l, i) => {
    if (l.weightShape) pos.push(i);
  });
  if (!pos.length) throw new Error('compaction: the network has no weight layers');
  for (let i = 0; i < pos[0]!; i++) {
    const k = net.layers[i]!.kind;
    if (k !== 'flatten' && k !== 'reshape' && k !== 'select-features')
      throw new Error(`compaction: unexpected layer kind "${k}" before the first weight layer`);
  }
  const structs = pos.map((p) => structureOf(net.layers[p]!));
  const masks = pos.map((p) => net.layers[p]!.getMask());
  const shapes = pos.map((p) => net.layers[p]!.weightShape!);
  const L = pos.length;
  const keepIn: Int32Array[] = structs.map((s) => range(s.inUnits));
  const keepOut: Int32Array[] = structs.map((s) => range(s.outUnits));
  const shift: (Float32Array | null)[] = structs.map(() => null);

  // Network inputs: rows of the first layer that are fully masked.
  const unusedIn0 = zeroLines(masks[0]!, shapes[0]!, 'in');
  let keepInputs: Int32Array | null = null;
  if (unusedIn0.some((z) => z)) {
    keepInputs = Int32Array.from(range(structs[0]!.inUnits).filter((i) => !unusedIn0[i]));
    if (keepInputs.length === 0) keepInputs = Int32Array.from([0]);
    keepIn[0] = keepInputs;
  }

  for (let l = 0; l + 1 < L; l++) {
    const s = structs[l]!;
    const next = structs[l + 1]!;
    const between = net.layers.slice(pos[l]! + 1, pos[l + 1]!);
    for (const b of between) {
      if (b instanceof BatchNorm) {
        if (b.channels !== s.outUnits)
          throw new Error(`compaction: batch norm "${b.name}" has ${b.channels} channels but ${net.layers[pos[l]!]!.name} before it has ${s.outUnits} outputs`);
      } else if (b.kind !== 'activation' && !PASS_THROUGH.has(b.kind))
        throw new Error(`compaction: cannot carry cuts through layer "${b.name}" of kind "${b.kind}"`);
    }
    // Map output unit j of layer l to the input indices of layer l+1 it feeds.
    const C = s.outUnits;
    let spread = 1;
    if (s.geometry === 'conv' && next.geometry === 'dense') {
      if (next.inUnits % C !== 0)
        throw new Error(`compaction: ${net.layers[pos[l + 1]!]!.name} has ${next.inUnits} inputs, not a multiple of the ${C} channels of the conv before it`);
      spread = next.inUnits / C;
    } else if (s.geometry === 'dense' && next.geometry === 'conv') {
      continue; // dense → reshape → conv: no unit correspondence; nothing is cut here
    } else if (next.inUnits !== C) {
      throw new Error(`compaction: ${net.layers[pos[l]!]!.name} has ${C} outputs but ${net.layers[pos[l + 1]!]!.name} has ${next.inUnits} inputs`);
    }
    const fed = (j: number) => Array.from({ length: spread }, (_, p) => p * C + j);
    const dead = zeroLines(masks[l]!, shapes[l]!, 'out');
    const unusedNext = zeroLines(masks[l + 1]!, shapes[l + 1]!, 'in');
    const removed: number[] = [];
    for (let j = 0; j < C; j++) if (dead[j] || fed(j).every((i) => unusedNext[i])) removed.push(j);
    if (removed.length === C) removed.pop(); // never cut a layer to zero units
    if (!removed.length) continue;
    const isRemoved = new Uint8Array(C);
    for (const j of removed) isRemoved[j] = 1;
    keepOut[l] = Int32Array.from(range(C).filter((j) => !isRemoved[j]));
    const kin: number[] = [];
    for (let p = 0; p < spread; p++) for (const j of keepOut[l]!) kin.push(p * C + j);
    keepIn[l + 1] = Int32Array.from(kin).sort();
    // Fold the constant outputs of removed dead units into the next layer's bias.
    const deadRemoved = removed.filter((j) => dead[j]);
    if (deadRemoved.length) {
      const bias = s.bias.dataSync();
      const consts = carryConstant(
        Float32Array.from(deadRemoved, (j) => bias[j]!),
        deadRemoved,
        between,
      );
      const W = next.deterministicWeight();
      const nOut = next.outUnits;
      const nIn = next.inUnits;
      const sh = new Float32Array(nOut);
      const spatial = next.geometry === 'conv' ? W.length / (nIn * nOut) : 1;
      deadRemoved.forEach((j, r) => {
        const a = consts[r]!;
        if (a === 0) return;
        for (const i of fed(j)) {
          for (let k = 0; k < spatial; k++) {
            const base = (k * nIn + i) * nOut;
            for (let o = 0; o < nOut; o++) sh[o]! += a * W[base + o]!;
          }
        }
      });
      shift[l + 1] = sh;
    }
  }
  return { pos, structs, keepIn, keepOut, shift, keepInputs };
}

function gatherAxes(t: tf.Tensor, gathers: { axis: number; indices: Int32Array }[]): tf.Tensor {
  return tf.tidy(() => {
    let r = t;
    for (const g of gathers) if (g.indices.length < r.shape[g.axis]!) r = tf.gather(r, tf.tensor1d(g.indices, 'int32'), g.axis);
    return r === t ? t.clone() : r;
  });
}

function gatherMask(mask: Float32Array, shape: number[], keepIn: Int32Array, keepOut: Int32Array): Float32Array {
  return tf.tidy(() => {
    const rank = shape.length;
    const t = gatherAxes(tf.tensor(mask, shape), [
      { axis: rank - 2, indices: keepIn },
      { axis: rank - 1, indices: keepOut },
    ]);
    return t.dataSync() as Float32Array;
  });
}

const prod = (s: number[]) => s.reduce((a, b) => a * b, 1);
const countKept = (m: Float32Array | null, size: number) => (m ? m.reduce((a, v) => a + (v !== 0 ? 1 : 0), 0) : size);

/**
 * Build the compacted weight layers of a plan. `reuse`: layers with nothing cut keep
 * their instance (for in-place compaction); otherwise every weight layer is copied.
 */
function build(net: Network, plan: Plan, reuse: boolean): { layers: Layer[]; report: CompactionReport; slices: VariableSlice[]; replaced: Layer[] } {
  const slices: VariableSlice[] = [];
  const replaced: Layer[] = [];
  const rows: CompactedLayer[] = [];
  const newLayers = net.layers.slice();
  plan.pos.forEach((p, l) => {
    const old = net.layers[p]!;
    const s = plan.structs[l]!;
    const kin = plan.keepIn[l]!;
    const kout = plan.keepOut[l]!;
    const sh = plan.shift[l];
    const shapeBefore = old.weightShape!;
    const unchanged = kin.length === s.inUnits && kout.length === s.outUnits && !sh;
    const mask = old.getMask();
    let layer: Layer = old;
    if (!(unchanged && reuse)) {
      layer = s.resized(kin.length, kout.length);
      const ns = structureOf(layer);
      const oldAxes = s.parameterAxes();
      const newAxes = ns.parameterAxes();
      if (oldAxes.length !== newAxes.length) throw new Error(`compaction: ${old.name}: resized layer has a different parameter list`);
      oldAxes.forEach((a, k) => {
        const gathers: VariableSlice['gathers'] = [];
        if (a.inAxis !== undefined) gathers.push({ axis: a.inAxis, indices: kin });
        if (a.outAxis !== undefined) gathers.push({ axis: a.outAxis, indices: kout });
        const to = newAxes[k]!.variable;
        tf.tidy(() => {
          let v = gatherAxes(a.variable, gathers);
          if (a.variable === s.bias && sh) v = tf.add(v, gatherAxes(tf.tensor1d(sh), [{ axis: 0, indices: kout }]));
          if (!tf.util.arraysEqual(v.shape, to.shape))
            throw new Error(`compaction: ${old.name}: cut ${a.variable.name} to [${v.shape}], the resized layer expects [${to.shape}]`);
          to.assign(v);
        });
        slices.push({ from: a.variable, to, gathers });
      });
      if (mask) {
        const m = gatherMask(mask, shapeBefore, kin, kout);
        if (m.some((v) => v === 0)) layer.setMask(m);
      }
      newLayers[p] = layer;
      if (layer !== old) replaced.push(old);
    }
    const shapeAfter = layer.weightShape!;
    const mpw = old.macsPerWeight ?? 1;
    rows.push({
      name: old.name,
      kind: old.kind,
      shapeBefore,
      shapeAfter,
      inputsRemoved: s.inUnits - kin.length,
      outputsRemoved: s.outUnits - kout.length,
      paramsBefore: prod(shapeBefore),
      paramsAfter: prod(shapeAfter),
      keptBefore: countKept(mask, prod(shapeBefore)),
      keptAfter: countKept(layer.getMask(), prod(shapeAfter)),
      macsPerWeight: mpw,
      macsBefore: prod(shapeBefore) * mpw,
      macsAfter: prod(shapeAfter) * mpw,
    });
  });
  // Batch norms after a weight layer that lost output units lose the same channels (γ, β, running statistics).
  let bnBefore = 0;
  let bnAfter = 0;
  plan.pos.forEach((p, l) => {
    const end = l + 1 < plan.pos.length ? plan.pos[l + 1]! : net.layers.length;
    const kout = plan.keepOut[l]!;
    for (let q = p + 1; q < end; q++) {
      const bn = net.layers[q];
      if (!(bn instanceof BatchNorm)) continue;
      bnBefore += bn.channels;
      if (kout.length === bn.channels && reuse) {
        bnAfter += bn.channels;
        continue;
      }
      const cut = bn.keepChannels(kout.length === bn.channels ? range(bn.channels) : kout);
      bnAfter += cut.channels;
      const gathers = kout.length === bn.channels ? [] : [{ axis: 0, indices: kout }];
      slices.push({ from: bn.gamma, to: cut.gamma, gathers }, { from: bn.beta, to: cut.beta, gathers });
      newLayers[q] = cut;
      replaced.push(bn);
    }
  });
  // The input end: compose with an existing SelectFeatures in front of the first weight layer.
  const first = plan.pos[0]!;
  let inputsBefore = plan.structs[0]!.inUnits;
  let inputsAfter = plan.keepIn[0]!.length;
  if (plan.keepInputs) {
    const prev = first > 0 ? newLayers[first - 1] : undefined;
    if (prev instanceof SelectFeatures) {
      inputsBefore = net.inputShape.reduce((a, b) => a * b, 1);
      newLayers[first - 1] = new SelectFeatures(
        prev.name,
        Int32Array.from(plan.keepInputs, (i) => prev.indices[i]!),
      );
      replaced.push(prev);
    } else {
      newLayers.splice(first, 0, new SelectFeatures('select-inputs', plan.keepInputs));
    }
  } else if (first > 0 && newLayers[first - 1] instanceof SelectFeatures) {
    const prev = newLayers[first - 1] as SelectFeatures;
    inputsBefore = net.inputShape.reduce((a, b) => a * b, 1);
    inputsAfter = prev.indices.length;
    if (!reuse) newLayers[first - 1] = new SelectFeatures(prev.name, prev.indices);
  }
  const pb = rows.reduce((a, r) => a + r.paramsBefore, 0);
  const pa = rows.reduce((a, r) => a + r.paramsAfter, 0);
  const mb = rows.reduce((a, r) => a + r.macsBefore, 0);
  const ma = rows.reduce((a, r) => a + r.macsAfter, 0);
  const report: CompactionReport = {
    layers: rows,
    inputs: { before: inputsBefore, after: inputsAfter },
    params: { before: pb, after: pa, removedFraction: pb ? 1 - pa / pb : 0 },
    biases: { before: rows.reduce((a, r) => a + r.shapeBefore.at(-1)!, 0), after: rows.reduce((a, r) => a + r.shapeAfter.at(-1)!, 0) },
    macs: { before: mb, after: ma },
    speedup: ma > 0 ? mb / ma : Infinity,
    ...(bnBefore ? { batchNormChannels: { before: bnBefore, after: bnAfter } } : {}),
  };
  return { layers: newLayers, report, slices, replaced };
}

/**
 * A new, independent network with the pruned units and channels removed (the original
 * is unchanged; masks in `masks`, when given, replace the network's current masks for
 * the duration of the call).
 */
export function compactNetwork(net: Network, masks?: MaskSet): CompactionResult {
  const saved = masks ? net.getMasks() : null;
  if (masks) net.setMasks(masks);
  try {
    const plan = makePlan(net);
    const { layers, report, slices } = build(net, plan, false);
    const network = new Network(layers, net.inputShape, net.numClasses, `${net.description}, compacted`);
    return { network, report, slices };
  } finally {
    if (saved) net.setMasks(saved.size ? saved : null);
  }
}

/**
 * The structured operating point of a gated network: masks from the gates' deterministic
 * decisions ({@link gateMasks}: hard-concrete ẑ = 0, spike-and-slab φ ≤ ½, or P(z ≠ 0) <
 * `threshold`), then {@link compactNetwork}. `report.inputs` counts the pixels kept by
 * input gates, `report.macs.after` the multiply-adds of the compacted network.
 */
export function compactByGates(net: Network, threshold?: number): CompactionResult {
  return compactNetwork(net, gateMasks(net, threshold));
}

/** A Markdown table of a compaction report (per layer, then totals). */
export function formatCompactionReport(r: CompactionReport): string {
  const lines = [
    '| layer | kind | shape before | shape after | params before | params after | MACs before | MACs after |',
    '|---|---|---|---|---:|---:|---:|---:|',
    ...r.layers.map(
      (l) =>
        `| ${l.name} | ${l.kind} | ${l.shapeBefore.join('×')} | ${l.shapeAfter.join('×')} | ${l.paramsBefore} | ${l.paramsAfter} | ${l.macsBefore} | ${l.macsAfter} |`,
    ),
    `| total | | inputs ${r.inputs.before} | inputs ${r.inputs.after} | ${r.params.before} | ${r.params.after} | ${r.macs.before} | ${r.macs.after} |`,
    '',
    `Parameters removed: ${(100 * r.params.removedFraction).toFixed(2)} % (biases ${r.biases.before} → ${r.biases.after}); theoretical speed-up ${r.speedup.toFixed(2)}×.`,
    ...(r.batchNormChannels ? [`Batch-norm channels ${r.batchNormChannels.before} → ${r.batchNormChannels.after} (γ, β and running statistics of each).`] : []),
  ];
  return lines.join('\n');
}

interface AdamSlot {
  originalName: string;
  variable: tf.Variable;
}

/**
 * Compact `net` in place (its `layers` array is rewritten; removed layers are disposed),
 * and cut the optimizer state the same way so training goes on (Adam: first and second
 * moments are indexed by the position of each variable in the variable list). Returns
 * the report, or null when nothing could be cut.
 */
export function compactInPlace(net: Network, optimizer?: tf.Optimizer): CompactionReport | null {
  const plan = makePlan(net);
  const nothing = plan.pos.every(
    (_, l) => plan.keepIn[l]!.length === plan.structs[l]!.inUnits && plan.keepOut[l]!.length === plan.structs[l]!.outUnits && !plan.shift[l],
  );
  if (nothing) return null;
  const oldVars = net.variables();
  const { layers, report, slices, replaced } = build(net, plan, true);
  net.layers.splice(0, net.layers.length, ...layers);
  const newVars = net.variables();
  if (optimizer) remapOptimizer(optimizer, oldVars, newVars, slices);
  for (const l of replaced) l.dispose();
  return report;
}

/** Cut Adam's per-variable moments along with the variables. */
function remapOptimizer(optimizer: tf.Optimizer, oldVars: tf.Variable[], newVars: tf.Variable[], slices: VariableSlice[]): void {
  const o = optimizer as unknown as { accumulatedFirstMoment?: AdamSlot[]; accumulatedSecondMoment?: AdamSlot[] };
  if (!Array.isArray(o.accumulatedFirstMoment) || !Array.isArray(o.accumulatedSecondMoment)) {
    throw new Error(`compaction during training supports the Adam optimizer only (got ${optimizer.getClassName()})`);
  }
  const index = new Map(oldVars.map((v, i) => [v, i]));
  const byTarget = new Map(slices.map((s) => [s.to, s]));
  for (const key of ['accumulatedFirstMoment', 'accumulatedSecondMoment'] as const) {
    const old = o[key]!;
    const next: AdamSlot[] = [];
    const kept = new Set<AdamSlot>();
    newVars.forEach((v, k) => {
      const sl = byTarget.get(v);
      const src = index.get(sl ? sl.from : v);
      const slot = src === undefined ? undefined : old[src];
      if (!slot) return;
      const suffix = key === 'accumulatedFirstMoment' ? 'm' : 'v';
      if (!sl) {
        next[k] = slot;
        kept.add(slot);
      } else {
        const cut = gatherAxes(slot.variable, sl.gathers);
        next[k] = { originalName: `${v.name}/${suffix}`, variable: newVariable(cut, `${v.name}/${suffix}`, false) };
      }
    });
    for (const s of old) if (s && !kept.has(s)) s.variable.dispose();
    o[key] = next;
  }
}
