/**
 * The training update of a mean-field weight in one pass: KL + its gradient + Adam.
 *
 * With the KL in the loss, a training step of a mean-field layer runs the KL forward,
 * its backward (times the incoming scalar), the addition to the data gradient, and Adam's
 * update of θ and log σ² — about ten passes over each weight. The kernel
 * `BayesPruneMeanFieldAdam` (wasm, src/kernels/mean-field.wat `klAdam`) does it in one:
 * per entry, the KL term and its gradients at the current (θ, log σ²) (sparse-VD's
 * log-uniform prior, or a Gaussian N(0, s²) prior), the data gradients plus scale·(KL
 * gradient), then Adam's update of θ, log σ² and their moments, op for op as
 * tfjs's Adam. Entries the mask removes contribute no KL and no KL gradient, as in
 * {@link maskedKl}. For the log-uniform prior the arithmetic is exactly that of the
 * KL kernel (sparse-vd-kl.ts) followed by the tape's multiply and add and the fused Adam,
 * so a run through this path is bit-identical to the KL-kernel path (tested).
 *
 * {@link meanFieldStepPlan} decides, per epoch, which layers take this path: mean-field
 * layers with the default `kl()`, the KL divergence, a log-uniform or Gaussian prior and a
 * weight count divisible by 4, trained by {@link FusedAdamOptimizer} on a backend with the
 * kernel (wasm). Every other layer keeps its KL in the loss (the tape), so any network
 * trains, with the fused path only where it applies. `fusedPaths.klAdamStep` off, or any
 * other backend: the plan is null and the trainer runs `optimizer.minimize` as before.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { MeanFieldLayer } from '../../bayes/mean-field.js';
import { meanFieldWasm } from '../../kernels/mean-field.js';
import type { Layer } from '../layer.js';
import type { Network } from '../network.js';
import type { RandomStream } from '../../random.js';
import { adamFused, FusedAdamOptimizer, MEAN_FIELD_ADAM_KERNEL, type AdamAttrs } from './adam.js';
import { fusedPaths } from './settings.js';
import { wasmBackendOf } from './wasm-heap.js';

export { MEAN_FIELD_ADAM_KERNEL };

/** One mean-field weight updated by the fused kernel. */
export interface MeanFieldGroup {
  theta: tf.Variable;
  logSigma2: tf.Variable;
  mask: tf.Tensor | null;
  /** 0: sparse-VD (log-uniform) KL; 1: Gaussian N(0, s²) prior. */
  prior: 0 | 1;
  /** Gaussian prior: s (1 for log-uniform, unused). */
  sigma: number;
  /** Entries the mask keeps (all when unmasked). */
  kept: number;
}

export interface MeanFieldAdamAttrs extends AdamAttrs {
  prior: 0 | 1;
  sigma: number;
  /** The KL's weight in the loss (its gradient is added times this; 0: not added). */
  scale: number;
}

function meanFieldAdamWasm(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo[] {
  const backend = wasmBackendOf(args.backend);
  const simd = meanFieldWasm(args.backend);
  if (!simd) throw new Error(`${MEAN_FIELD_ADAM_KERNEL}: the wasm backend has no SIMD support`);
  const a = args.attrs as unknown as MeanFieldAdamAttrs;
  const inp = args.inputs as Record<string, tf.TensorInfo>;
  const shape = inp.theta!.shape;
  const outs = [0, 1, 2, 3, 4, 5].map(() => backend.makeOutput(shape, 'float32'));
  const kl = backend.makeOutput([], 'float32');
  // Scratch: 16 pointers, then 8 splatted float32x4 Adam constants (16-byte aligned after the pointers).
  const scratch = backend.makeOutput([16 + 32], 'float32');
  // Offsets after every allocation (an allocation may grow the heap).
  const at = (t: tf.TensorInfo | undefined) => (t ? backend.typedArrayFromHeap(t).byteOffset : 0);
  const sv = backend.typedArrayFromHeap(scratch) as Float32Array;
  const io = new Int32Array(sv.buffer, sv.byteOffset, 16);
  const ptrs = [inp.theta, inp.logSigma2, inp.mask, inp.gTheta, inp.gLogSigma2, inp.mTheta, inp.vTheta, inp.mLogSigma2, inp.vLogSigma2, ...outs];
  ptrs.forEach((t, i) => (io[i] = at(t)));
  const consts = [a.beta1, 1 - a.beta1, a.beta2, 1 - a.beta2, a.oneMinusAccBeta1, a.oneMinusAccBeta2, a.epsilon, -a.learningRate];
  consts.forEach((c, i) => sv.fill(c, 16 + 4 * i, 20 + 4 * i));
  const n = backend.typedArrayFromHeap(inp.theta!).length;
  if (n % 4 !== 0) throw new Error(`${MEAN_FIELD_ADAM_KERNEL}: ${n} entries, not a multiple of 4`);
  let sum = simd.klAdam(sv.byteOffset, n, a.prior, 2 * a.sigma * a.sigma, a.scale, sv.byteOffset + 64);
  // The Gaussian KL's constant (log s − ½) per kept entry.
  if (a.prior === 1) sum += (Math.log(a.sigma) - 0.5) * (inp.mask ? countKept(backend.typedArrayFromHeap(inp.mask) as Float32Array) : n);
  (backend.typedArrayFromHeap(kl) as Float32Array)[0] = sum;
  backend.disposeData(scratch.dataId);
  return [...outs, kl];
}

function countKept(mask: Float32Array): number {
  let k = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i] !== 0) k++;
  return k;
}

/** The group of `layer` when the fused update applies to it, else null. */
function groupOf(layer: Layer): MeanFieldGroup | null {
  if (!(layer instanceof MeanFieldLayer) || layer.kl !== MeanFieldLayer.prototype.kl || layer.divergence.type !== 'kl') return null;
  const p = layer.prior;
  if (p.type !== 'log-uniform' && p.type !== 'gaussian') return null;
  if (layer.theta.size % 4 !== 0 || layer.theta.dtype !== 'float32' || layer.logSigma2.dtype !== 'float32') return null;
  const mask = (layer as unknown as { mask: { tensor: tf.Tensor | null; data: Float32Array | null } }).mask;
  return {
    theta: layer.theta,
    logSigma2: layer.logSigma2,
    mask: mask.tensor,
    prior: p.type === 'gaussian' ? 1 : 0,
    sigma: p.type === 'gaussian' ? p.sigma : 1,
    kept: mask.data ? countKept(mask.data) : layer.theta.size,
  };
}

/** Which layers of `net` the fused step updates, and the KL of the others. */
export interface MeanFieldStepPlan {
  groups: MeanFieldGroup[];
  /** KL (q ‖ p) of the layers the fused step does not cover (they keep it in the loss). */
  restKl(opts?: { stream?: RandomStream }): tf.Scalar;
}

/** The plan for one epoch, or null when the fused step does not apply (then train as before). */
export function meanFieldStepPlan(net: Network, optimizer: tf.Optimizer): MeanFieldStepPlan | null {
  if (!fusedPaths.klAdamStep || !(optimizer instanceof FusedAdamOptimizer) || !adamFused()) return null;
  if (tf.getKernel(MEAN_FIELD_ADAM_KERNEL, tf.getBackend()) === undefined) return null;
  const groups: MeanFieldGroup[] = [];
  const rest: Layer[] = [];
  for (const l of net.layers) {
    if (!l.kl) continue;
    const g = groupOf(l);
    if (g) groups.push(g);
    else rest.push(l);
  }
  if (!groups.length) return null;
  return {
    groups,
    restKl: (opts) =>
      tf.tidy(() => {
        const terms = rest.map((l) => l.kl!(opts));
        return (terms.length ? tf.addN(terms) : tf.scalar(0)) as tf.Scalar;
      }),
  };
}

let registered = false;

/** Register the wasm kernel (idempotent; called on import). */
export function registerMeanFieldAdamKernel(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({ kernelName: MEAN_FIELD_ADAM_KERNEL, backendName: 'wasm', kernelFunc: meanFieldAdamWasm as unknown as tf.KernelFunc });
}

registerMeanFieldAdamKernel();
