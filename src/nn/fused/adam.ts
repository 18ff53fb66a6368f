/**
 * Adam with each variable's update as one kernel on the wasm backend.
 *
 * tfjs's `AdamOptimizer.applyGradients` runs ~10 small kernels per variable (moments, bias
 * corrections, square root, the step) plus the assignments. {@link FusedAdamOptimizer} is
 * that optimizer (same state variables, names, checkpoints and `getWeights` / `setWeights`)
 * whose update on wasm is the kernel `BayesPruneAdam`: one SIMD pass per variable
 * (src/kernels/mean-field.wat) computing, per entry and rounded to float32 after every
 * operation exactly as tfjs's float32 kernels do,
 *
 *   m' = m·β1 + g·(1 − β1),  v' = v·β2 + g²·(1 − β2),
 *   x' = (m' / (1 − β1^t)) / (√(v' / (1 − β2^t)) + ε) · (−lr) + x,
 *
 * so the result is bit-identical to tfjs's Adam (tested). On other backends, without wasm
 * SIMD, or with `fusedPaths.adamKernel` off, it is tfjs's own `applyGradients`.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { meanFieldWasm } from '../../kernels/mean-field.js';
import { fusedPaths } from './settings.js';
import { wasmBackendOf } from './wasm-heap.js';
import type { MeanFieldGroup } from './mean-field-step.js';

export const ADAM_KERNEL = 'BayesPruneAdam';
/** The fused KL + Adam kernel of mean-field weights (registered in mean-field-step.ts). */
export const MEAN_FIELD_ADAM_KERNEL = 'BayesPruneMeanFieldAdam';

export interface AdamAttrs {
  beta1: number;
  beta2: number;
  epsilon: number;
  learningRate: number;
  /** 1 − β1^t and 1 − β2^t, float32 as tfjs computes them. */
  oneMinusAccBeta1: number;
  oneMinusAccBeta2: number;
}

function adamKernelWasm(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo[] {
  const backend = wasmBackendOf(args.backend);
  const simd = meanFieldWasm(args.backend);
  if (!simd) throw new Error(`${ADAM_KERNEL}: the wasm backend has no SIMD support`);
  const { x, m, v, g } = args.inputs as Record<'x' | 'm' | 'v' | 'g', tf.TensorInfo>;
  const a = args.attrs as unknown as AdamAttrs;
  const ox = backend.makeOutput(x.shape, 'float32');
  const om = backend.makeOutput(x.shape, 'float32');
  const ov = backend.makeOutput(x.shape, 'float32');
  // Offsets after every allocation (an allocation may grow the heap).
  const at = (t: tf.TensorInfo) => backend.typedArrayFromHeap(t).byteOffset;
  const n = backend.typedArrayFromHeap(x).length;
  // JS numbers become float32 parameters by round-to-nearest, as tf.scalar(·) rounds them.
  simd.adam(
    at(x),
    at(m),
    at(v),
    at(g),
    at(ox),
    at(om),
    at(ov),
    n,
    a.beta1,
    1 - a.beta1,
    a.beta2,
    1 - a.beta2,
    a.oneMinusAccBeta1,
    a.oneMinusAccBeta2,
    a.epsilon,
    -a.learningRate,
  );
  return [ox, om, ov];
}

/** tfjs's private Adam state, as its applyGradients uses it. */
interface AdamInternals {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: ({ originalName: string; variable: tf.Variable } | undefined)[];
  accumulatedSecondMoment: ({ originalName: string; variable: tf.Variable } | undefined)[];
  incrementIterations(): void;
}

/** Whether the fused update runs on the active backend. */
export function adamFused(): boolean {
  return fusedPaths.adamKernel && tf.getKernel(ADAM_KERNEL, tf.getBackend()) !== undefined && meanFieldWasm() !== null;
}

/** tfjs's Adam, with the per-variable update fused on wasm (bit-identical). */
export class FusedAdamOptimizer extends tf.AdamOptimizer {
  override applyGradients(variableGradients: Parameters<tf.AdamOptimizer['applyGradients']>[0]): void {
    if (!adamFused()) {
      super.applyGradients(variableGradients);
      return;
    }
    this.applyFused(variableGradients, [], 0);
  }

  /**
   * Adam's update of every variable of `variableGradients` (in its order, as `applyGradients`),
   * where the θ and log σ² of each of `groups` are updated by the fused mean-field kernel with
   * the group's KL times `klScale` added to their gradients (a missing gradient counts as 0).
   * Returns the groups' KL summed (at the parameters before the update), a float32 scalar.
   * Only on the wasm backend with the kernels (see mean-field-step.ts).
   */
  applyGradientsWithKl(variableGradients: tf.NamedTensorMap, groups: MeanFieldGroup[], klScale: number): tf.Scalar {
    return this.applyFused(variableGradients, groups, klScale);
  }

  private applyFused(
    variableGradients: Parameters<tf.AdamOptimizer['applyGradients']>[0] | tf.NamedTensorMap,
    groups: MeanFieldGroup[],
    klScale: number,
  ): tf.Scalar {
    const self = this as unknown as AdamInternals;
    const names = Array.isArray(variableGradients) ? variableGradients.map((v) => v.name) : Object.keys(variableGradients);
    const gradientOf = (name: string) =>
      Array.isArray(variableGradients) ? variableGradients.find((v) => v.name === name)?.tensor : (variableGradients as tf.NamedTensorMap)[name];
    const byTheta = new Map(groups.map((g) => [g.theta.name, g]));
    const logSigma2Names = new Set(groups.map((g) => g.logSigma2.name));
    for (const g of groups) {
      if (!names.includes(g.theta.name) || !names.includes(g.logSigma2.name))
        throw new Error(`applyGradientsWithKl: ${g.theta.name} / ${g.logSigma2.name} not among the variables`);
    }
    const klSum = tf.tidy(() => {
      // 1 − β^t in float32 (tfjs: sub(1, accBeta) on float32 tensors).
      const oneMinusAccBeta1 = Math.fround(1 - self.accBeta1.dataSync()[0]!);
      const oneMinusAccBeta2 = Math.fround(1 - self.accBeta2.dataSync()[0]!);
      const attrs: AdamAttrs = {
        beta1: self.beta1,
        beta2: self.beta2,
        epsilon: self.epsilon,
        learningRate: self.learningRate,
        oneMinusAccBeta1,
        oneMinusAccBeta2,
      };
      const moments = (i: number) => {
        const name = names[i]!;
        const value = tf.engine().registeredVariables[name]!;
        self.accumulatedFirstMoment[i] ??= { originalName: `${name}/m`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
        self.accumulatedSecondMoment[i] ??= { originalName: `${name}/v`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
        return { value, m: self.accumulatedFirstMoment[i]!.variable, v: self.accumulatedSecondMoment[i]!.variable };
      };
      const kls: tf.Tensor[] = [];
      names.forEach((name, i) => {
        const group = byTheta.get(name);
        if (group) {
          const j = names.indexOf(group.logSigma2.name);
          const th = moments(i);
          const ls = moments(j);
          const gTheta = gradientOf(name) ?? tf.zerosLike(th.value);
          const gLs = gradientOf(group.logSigma2.name) ?? tf.zerosLike(ls.value);
          const inputs: tf.NamedTensorMap = {
            theta: th.value,
            logSigma2: ls.value,
            gTheta,
            gLogSigma2: gLs,
            mTheta: th.m,
            vTheta: th.v,
            mLogSigma2: ls.m,
            vLogSigma2: ls.v,
          };
          if (group.mask) inputs.mask = group.mask;
          const kAttrs = { ...attrs, prior: group.prior, sigma: group.sigma, scale: klScale };
          const [nth, nls, nmt, nvt, nml, nvl, kl] = tf.engine().runKernel(MEAN_FIELD_ADAM_KERNEL, inputs, kAttrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
          th.m.assign(nmt!);
          th.v.assign(nvt!);
          th.value.assign(nth!);
          ls.m.assign(nml!);
          ls.v.assign(nvl!);
          ls.value.assign(nls!);
          kls.push(kl!);
          return;
        }
        if (logSigma2Names.has(name)) return; // updated with its θ
        const { value, m, v } = moments(i);
        const gradient = gradientOf(name);
        if (gradient == null) return;
        const [nx, nm, nv] = tf.engine().runKernel(ADAM_KERNEL, { x: value, m, v, g: gradient }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
        m.assign(nm!);
        v.assign(nv!);
        value.assign(nx!);
      });
      self.accBeta1.assign(tf.mul(self.accBeta1, self.beta1));
      self.accBeta2.assign(tf.mul(self.accBeta2, self.beta2));
      return (kls.length ? tf.addN(kls) : tf.scalar(0)) as tf.Scalar;
    });
    self.incrementIterations();
    return klSum;
  }
}

let registered = false;

/** Register the wasm kernel (idempotent; called on import). */
export function registerAdamKernel(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({ kernelName: ADAM_KERNEL, backendName: 'wasm', kernelFunc: adamKernelWasm as unknown as tf.KernelFunc });
}

registerAdamKernel();
