import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { klGaussian, klLogUniformFused } from '../../src/bayes/priors.js';
import { FusedAdamOptimizer } from '../../src/nn/fused/adam.js';
import { meanFieldStepPlan, type MeanFieldGroup } from '../../src/nn/fused/mean-field-step.js';
import { fusedPaths, setFusedPaths, type FusedPaths } from '../../src/nn/fused/settings.js';
import type { PriorSpec } from '../../src/bayes/priors.js';
import { RandomStream } from '../../src/random.js';
import { useWasmBackend } from '../setup-backend.js';
import { randomDataset, trainMeanFieldMlp } from '../helpers/mean-field-training.js';

useWasmBackend();

let saved: FusedPaths;
beforeAll(async () => {
  saved = { ...fusedPaths };
});
afterAll(async () => {
  setFusedPaths(saved);
});

/**
 * One Adam step of (θ, log σ²) on the loss  Σ data·(θ, log σ²) + scale·KL  through the composed
 * ops (tfjs's own Adam, tape gradients of the composed KL), and through the fused kernel.
 */
function oneStep(prior: PriorSpec, mask: Float32Array | null, scale: number, fused: boolean) {
  const s = new RandomStream(`step-${prior.type}-${scale}-${mask ? 'm' : ''}`);
  // The composed reference runs on cpu (tfjs-backend-wasm has no gradient of gather: UnsortedSegmentSum).
  if (!fused) tf.setBackend('cpu');
  const n = 64;
  const theta = tf.variable(tf.tensor1d(Float32Array.from({ length: n }, () => s.normal() * 0.3)), true, `t${fused}${prior.type}${scale}${!!mask}`);
  // log σ² spread so that log α crosses both clip bounds
  const logSigma2 = tf.variable(tf.tensor1d(Float32Array.from({ length: n }, () => -12 + 14 * s.uniform())), true, `l${fused}${prior.type}${scale}${!!mask}`);
  const dTheta = tf.tensor1d(Float32Array.from({ length: n }, () => s.normal()));
  const dLs = tf.tensor1d(Float32Array.from({ length: n }, () => s.normal()));
  const maskT = mask ? tf.tensor1d(mask) : null;
  const keep = mask ? tf.tensor1d(Int32Array.from(Array.from(mask).flatMap((m, i) => (m ? [i] : []))), 'int32') : null;
  const opt = new FusedAdamOptimizer(1e-2, 0.9, 0.999, 1e-8);
  let klValue: number;
  const dataLoss = () => tf.add(tf.sum(tf.mul(theta, dTheta)), tf.sum(tf.mul(logSigma2, dLs))) as tf.Scalar;
  if (fused) {
    const group: MeanFieldGroup = {
      theta,
      logSigma2,
      mask: maskT,
      prior: prior.type === 'gaussian' ? 1 : 0,
      sigma: prior.type === 'gaussian' ? prior.sigma : 1,
      kept: 0,
    };
    const { grads, value } = tf.variableGrads(dataLoss, [theta, logSigma2]);
    const kl = opt.applyGradientsWithKl(grads, [group], scale);
    klValue = kl.dataSync()[0]!;
    tf.dispose([kl, value, grads]);
  } else {
    const kl = () => {
      const th = keep ? tf.gather(theta, keep) : theta;
      const ls = keep ? tf.gather(logSigma2, keep) : logSigma2;
      return prior.type === 'gaussian' ? klGaussian(th, ls, prior.sigma) : klLogUniformFused(th, ls);
    };
    klValue = tf.tidy(() => kl().dataSync()[0]!);
    setFusedPaths({ adamKernel: false });
    opt.minimize(() => tf.add(dataLoss(), tf.mul(kl(), scale)) as tf.Scalar, false, [theta, logSigma2]);
    setFusedPaths({ adamKernel: true });
  }
  const out = { theta: Float32Array.from(theta.dataSync()), logSigma2: Float32Array.from(logSigma2.dataSync()), kl: klValue };
  tf.dispose([theta, logSigma2, dTheta, dLs, ...(maskT ? [maskT] : []), ...(keep ? [keep] : [])]);
  opt.dispose();
  if (!fused) tf.setBackend('wasm');
  return out;
}

describe('fused KL + Adam step of mean-field weights (wasm)', { timeout: 120_000 }, () => {
  const mask = Float32Array.from({ length: 64 }, (_, i) => (i % 3 === 1 ? 0 : 1));
  for (const prior of [{ type: 'log-uniform' }, { type: 'gaussian', sigma: 0.7 }] as PriorSpec[]) {
    for (const m of [null, mask]) {
      for (const scale of [0, 0.37]) {
        it(`equals tfjs's Adam on the composed KL to float32 rounding: ${prior.type}, ${m ? 'masked' : 'unmasked'}, scale ${scale}`, () => {
          const a = oneStep(prior, m, scale, true);
          const b = oneStep(prior, m, scale, false);
          expect(Math.abs(a.kl - b.kl)).toBeLessThan(2e-6 * Math.max(1, Math.abs(b.kl)));
          // One Adam step moves each entry by ≈ lr; its direction depends on the gradient's sign only
          // (first step: m/√v = ±1), so the results agree to rounding unless a gradient is ~0.
          for (let i = 0; i < 64; i++) {
            expect(Math.abs(a.theta[i]! - b.theta[i]!)).toBeLessThan(1e-6);
            expect(Math.abs(a.logSigma2[i]! - b.logSigma2[i]!)).toBeLessThan(1e-5);
          }
        });
      }
    }
  }

  it('the update with a non-zero scale differs from the one without (the KL gradient is applied)', () => {
    const a = oneStep({ type: 'log-uniform' }, null, 0, true);
    const b = oneStep({ type: 'log-uniform' }, null, 50, true);
    let diff = 0;
    for (let i = 0; i < 64; i++) diff += Math.abs(a.logSigma2[i]! - b.logSigma2[i]!);
    expect(diff).toBeGreaterThan(1e-3);
  });
});

const data = randomDataset('fused-step-data', 200, 24, 3);

/** Two epochs of a sparse-VD / Gaussian-prior MLP, masked (every 5th weight entry from the 3rd) or not; `planned`: layers the fused step serves. */
function train(prior: PriorSpec, masked: boolean) {
  const r = trainMeanFieldMlp({
    data,
    hidden: [20, 12],
    seed: 3,
    epochs: 2,
    prior,
    mask: masked ? (i) => (i % 5 === 2 ? 0 : 1) : undefined,
    inspect: (net, trainer) => meanFieldStepPlan(net, trainer.optimizer)?.groups.length ?? 0,
  });
  return { ...r, planned: r.inspected ?? 0 };
}

describe('training with the fused KL + Adam step (wasm)', { timeout: 120_000 }, () => {
  it('is bit-identical to the KL-kernel path for the sparse-VD KL, masked or not', () => {
    for (const masked of [false, true]) {
      setFusedPaths({ klAdamStep: true });
      const a = train({ type: 'log-uniform' }, masked);
      setFusedPaths({ klAdamStep: false });
      const b = train({ type: 'log-uniform' }, masked);
      setFusedPaths({ klAdamStep: true });
      expect(a.planned).toBe(3);
      expect(b.planned).toBe(0);
      for (let i = 0; i < a.vars.length; i++) expect(Array.from(a.vars[i]!)).toEqual(Array.from(b.vars[i]!));
      // The epoch's reported KL: the same sum, added in another order.
      for (let e = 0; e < 2; e++) expect(Math.abs(a.kls[e]! / b.kls[e]! - 1)).toBeLessThan(1e-6);
    }
  });

  it('agrees with the composed Gaussian-prior KL to float32 rounding', () => {
    setFusedPaths({ klAdamStep: true });
    // unmasked: the composed masked KL gathers the kept weights, whose gradient tfjs-backend-wasm lacks (the masked case is checked per step above)
    const a = train({ type: 'gaussian', sigma: 1 }, false);
    setFusedPaths({ klAdamStep: false });
    const b = train({ type: 'gaussian', sigma: 1 }, false);
    setFusedPaths({ klAdamStep: true });
    expect(a.planned).toBe(3);
    for (let e = 0; e < 2; e++) {
      expect(Math.abs(a.kls[e]! / b.kls[e]! - 1)).toBeLessThan(1e-5);
      expect(Math.abs(a.losses[e]! / b.losses[e]! - 1)).toBeLessThan(1e-4);
    }
    let maxDiff = 0;
    for (let i = 0; i < a.vars.length; i++) for (let j = 0; j < a.vars[i]!.length; j++) maxDiff = Math.max(maxDiff, Math.abs(a.vars[i]![j]! - b.vars[i]![j]!));
    expect(maxDiff).toBeLessThan(1e-4);
  });

  it('a seeded run is bit-identical run to run', () => {
    const a = train({ type: 'log-uniform' }, true);
    const b = train({ type: 'log-uniform' }, true);
    expect(a.losses).toEqual(b.losses);
    for (let i = 0; i < a.vars.length; i++) expect(Array.from(a.vars[i]!)).toEqual(Array.from(b.vars[i]!));
  });

  it('leaves the weights a mask removes exactly where they were (no data or KL gradient reaches them), and moves the others', () => {
    for (const prior of [{ type: 'log-uniform' }, { type: 'gaussian', sigma: 1 }] as PriorSpec[]) {
      const a = train(prior, true);
      // variables per layer: θ, log σ², b
      for (let l = 0; l < 3; l++) {
        for (const k of [0, 1]) {
          const now = a.vars[3 * l + k]!;
          const before = a.initial[3 * l + k]!;
          let moved = 0;
          for (let i = 0; i < now.length; i++) {
            if (a.masks[l]![i] === 0) expect(now[i]).toBe(before[i]);
            else if (now[i] !== before[i]) moved++;
          }
          expect(moved).toBeGreaterThan(0.9 * a.masks[l]!.reduce((x, y) => x + y, 0));
        }
      }
    }
  });
});
