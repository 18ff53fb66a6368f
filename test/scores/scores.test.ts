import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { LrtDense } from '../../src/bayes/lrt-dense.js';
import { NetworkPosterior } from '../../src/inference/network-posterior.js';
import { pointFactory } from '../../src/inference/layer-factories.js';
import { buildNetwork } from '../../src/nn/builders.js';
import { Network } from '../../src/nn/network.js';
import { RandomStream } from '../../src/random.js';
import { criterionNames, getCriterion } from '../../src/scores/registry.js';
import { masksAtSparsity } from '../../src/pruning/masks.js';
import { useTestBackend } from '../setup-backend.js';

beforeAll(useTestBackend);

function bayesNet(): Network {
  const st = new RandomStream('scores');
  const l1 = new LrtDense({ name: 'fc1', inFeatures: 20, outFeatures: 8, prior: { type: 'log-uniform' }, stream: st.fork('a') });
  const l2 = new LrtDense({ name: 'fc2', inFeatures: 8, outFeatures: 3, prior: { type: 'log-uniform' }, stream: st.fork('b') });
  // Spread the variances so SNR and magnitude rankings differ.
  for (const l of [l1, l2]) l.logSigma2.assign(tf.randomUniform(l.weightShape, -8, 0, 'float32', st.nextSeed()));
  return new Network([l1, l2], [20], 3, 'test');
}

describe('pruning criteria', () => {
  it('SNR = exp(−log α / 2), so log-α and SNR rank weights identically', async () => {
    const post = new NetworkPosterior('vi', bayesNet());
    const ctx = { stream: new RandomStream('c') };
    const snr = await getCriterion('snr').compute(post, ctx);
    const nla = await getCriterion('log-alpha').compute(post, ctx);
    for (const [k, s] of snr) {
      const l = nla.get(k)!;
      for (let i = 0; i < s.length; i++) expect(Math.log(s[i]!)).toBeCloseTo(l[i]! / 2, 3);
    }
    for (const sp of [0.3, 0.7, 0.9]) expect(masksAtSparsity(snr, sp)).toEqual(masksAtSparsity(nla, sp));
    // ... and SNR differs from magnitude here (the variances were spread out).
    const mag = await getCriterion('magnitude').compute(post, ctx);
    expect(masksAtSparsity(mag, 0.5)).not.toEqual(masksAtSparsity(snr, 0.5));
    post.dispose();
  });

  it('every criterion gives one finite score per weight and is deterministic under a seed', async () => {
    for (const name of criterionNames()) {
      const c = getCriterion(name);
      if (c.needsData || c.needsGates || c.needsBatchNorm) continue; // covered by their own suites (gradient criteria, gates, slimming)
      const post = new NetworkPosterior('vi', bayesNet());
      const a = await c.compute(post, { stream: new RandomStream('same') });
      const b = await c.compute(post, { stream: new RandomStream('same') });
      for (const m of post.moments()) {
        const s = a.get(m.name)!;
        expect(s.length, name).toBe(m.mean.length);
        expect(s.every(Number.isFinite), name).toBe(true);
        expect(Array.from(b.get(m.name)!), name).toEqual(Array.from(s));
      }
      post.dispose();
    }
  });

  it('variance-based criteria refuse a point-estimate posterior with a clear error', async () => {
    const net = buildNetwork({ arch: 'mlp', hidden: [4], activation: 'relu' }, [5], 2, pointFactory(), new RandomStream('p'));
    const post = new NetworkPosterior('map', net);
    await expect(async () => getCriterion('snr').compute(post, { stream: new RandomStream('x') })).rejects.toThrow(/needs posterior variances.*map/);
    post.dispose();
  });

  it('unknown criteria name the allowed ones', () => {
    expect(() => getCriterion('nope')).toThrow(/unknown pruning criterion "nope"; allowed: .*snr/);
  });
});
