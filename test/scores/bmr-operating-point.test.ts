import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { LrtDense } from '../../src/bayes/lrt-dense.js';
import { gaussianBlobs } from '../../src/data/synthetic.js';
import { validateConfig } from '../../src/experiment/config.js';
import { curveOptionsFrom, pruningCurves } from '../../src/experiment/curves.js';
import { fitMapNetwork } from '../../src/inference/laplace.js';
import { NetworkPosterior } from '../../src/inference/network-posterior.js';
import { Network } from '../../src/nn/network.js';
import { RandomStream } from '../../src/random.js';
import { useTestBackend } from '../setup-backend.js';

beforeAll(useTestBackend);

describe('pruning.bmr.margin', () => {
  it('defaults to 3 nats and rejects a negative or non-numeric margin with a message naming the key', () => {
    expect(validateConfig({ experiment: 't', data: { name: 'blobs' } }).pruning.bmr.margin).toBe(3);
    expect(validateConfig({ experiment: 't', data: { name: 'blobs' }, pruning: { bmr: { margin: 0 } } }).pruning.bmr.margin).toBe(0);
    expect(() => validateConfig({ experiment: 't', data: { name: 'blobs' }, pruning: { bmr: { margin: -1 } } })).toThrow(/pruning\.bmr\.margin: must be ≥ 0/);
    expect(() => validateConfig({ experiment: 't', data: { name: 'blobs' }, pruning: { bmr: { margin: 'x' } } })).toThrow(/pruning\.bmr\.margin/);
    expect(() => validateConfig({ experiment: 't', data: { name: 'blobs' }, pruning: { bmr: { margn: 1 } } })).toThrow(/pruning\.bmr: unknown key "margn"/);
  });

  it('sets the own operating point: the bmr row prunes exactly the weights whose hand-computed ΔF₀ = ln(σ₀/s) − μ²/(2s²) ≥ margin', async () => {
    const st = new RandomStream('bmr-margin');
    const sigma0 = 0.6;
    const l1 = new LrtDense({ name: 'fc1', inFeatures: 5, outFeatures: 16, prior: { type: 'gaussian', sigma: sigma0 }, stream: st.fork('a') });
    const l2 = new LrtDense({ name: 'fc2', inFeatures: 16, outFeatures: 3, prior: { type: 'gaussian', sigma: sigma0 }, stream: st.fork('b') });
    for (const l of [l1, l2]) l.logSigma2.assign(tf.randomUniform(l.weightShape, -9, -1, 'float32', st.nextSeed()));
    const post = new NetworkPosterior('vi', new Network([l1, l2], [5], 3, 'test'));
    const data = gaussianBlobs({ n: 60, dim: 5, numClasses: 3, stream: st.fork('data') });
    // The hand count, float64, from the layers' own parameters (μ and log s²), not from the posterior's moments.
    const deltaF0 = (l: LrtDense) => {
      const mu = l.theta.dataSync();
      const ls2 = l.logSigma2.dataSync();
      return Array.from(mu, (m, i) => Math.log(sigma0) - 0.5 * ls2[i]! - (m * m) / (2 * Math.exp(ls2[i]!)));
    };
    const all = [...deltaF0(l1), ...deltaF0(l2)];
    const seen = new Set<number>();
    for (const margin of [0, 1.5, 3]) {
      const cfg = validateConfig({
        experiment: 't',
        data: { name: 'blobs' },
        pruning: { criteria: ['bmr'], sparsities: [0], bmr: { margin } },
        eval: { samples: 2 },
      });
      const r = await pruningCurves(post, { ...curveOptionsFrom(cfg), variant: 'main', stream: st.fork(`curves-${margin}`), data });
      const row = r.rows.find((x) => x.criterion.startsWith('bmr(') && x.predictive === 'mc')!;
      expect(row.criterion).toBe(`bmr(ΔF≥${margin})`);
      const expected = all.filter((d) => d >= margin).length / all.length;
      expect(row.sparsity).toBeCloseTo(expected, 10);
      seen.add(Math.round(expected * all.length));
    }
    expect(seen.size).toBe(3); // the three margins give three different operating points on this network
    post.dispose();
  });
});

describe('the Laplace MAP under its prior (fitMapNetwork with λ > 0)', { timeout: 60_000 }, () => {
  it('inference.laplace.mapPrior needs method laplace and one prior precision', () => {
    const laplace = (l: object, method = 'laplace') => ({ experiment: 't', data: { name: 'blobs' }, inference: { method, laplace: l } });
    expect(validateConfig(laplace({ mapPrior: true, priorPrecisions: [100] })).inference.laplace.mapPrior).toBe(true);
    expect(() => validateConfig(laplace({ mapPrior: true }))).toThrow(/inference\.laplace\.mapPrior: .*priorPrecisions must have one value, got 9/);
    expect(() => validateConfig(laplace({ mapPrior: true, priorPrecisions: [1] }, 'laplace-last-layer'))).toThrow(
      /inference\.laplace\.mapPrior: applies to inference\.method laplace only/,
    );
  });

  // Feature 0 is 0 in every example: its first-layer weights get no gradient from the likelihood.
  const base = gaussianBlobs({ n: 80, dim: 4, numClasses: 3, separation: 3, stream: new RandomStream('map-prior-data') });
  const x = base.x.slice();
  for (let i = 0; i < base.n; i++) x[i * 4] = 0;
  const train = { ...base, x };
  const cfg = validateConfig({
    experiment: 't',
    data: { name: 'blobs' },
    model: { arch: 'mlp', hidden: [6] },
    inference: { method: 'laplace' },
    train: { epochs: 1, batchSize: 80, optimizer: { lr: 0.05, schedule: 'constant' } },
  });
  const trainMap = async (lambda: number, epochs: number) => {
    const steps: { loss: number; nll: number }[] = [];
    const { net } = await fitMapNetwork(
      {
        config: { ...cfg, train: { ...cfg.train, epochs } },
        train,
        validation: train,
        stream: new RandomStream('map-prior'),
        hooks: { stepEvery: 1, onStep: (s) => steps.push({ loss: s.loss, nll: s.nll }) },
      },
      lambda,
    );
    return { net, steps };
  };

  it('adds λ‖θ‖²/(2N) over every weight and bias to the per-example loss (first full-batch step: at the initial weights)', async () => {
    const init = await trainMap(0, 1); // one step from the same initial weights; record them by rebuilding (same stream)
    const { pointNetworkFor } = await import('../../src/inference/fit-utils.js');
    const net0 = pointNetworkFor(cfg, train, new RandomStream('map-prior'));
    let sq = 0;
    for (const v of net0.variables()) for (const w of v.dataSync()) sq += w * w;
    net0.dispose();
    const lambda = 7;
    const withPrior = await trainMap(lambda, 1);
    expect(withPrior.steps[0]!.nll).toBeCloseTo(init.steps[0]!.nll, 6);
    expect(init.steps[0]!.loss - init.steps[0]!.nll).toBe(0);
    expect(withPrior.steps[0]!.loss - withPrior.steps[0]!.nll).toBeCloseTo((lambda * sq) / (2 * train.n), 5);
    // the prior lives in the trainer's loss: the network carries no penalty of its own after training
    expect(withPrior.net.penalty()).toBeNull();
    init.net.dispose();
    withPrior.net.dispose();
  });

  it('weights the data never see stay at their initial values without the prior and shrink toward 0 under it', async () => {
    const { pointNetworkFor } = await import('../../src/inference/fit-utils.js');
    const net0 = pointNetworkFor(cfg, train, new RandomStream('map-prior'));
    const w0 = net0.variables()[0]!.dataSync().slice(); // fc1 weight [4, 6]: row 0 is fed by the dead feature
    net0.dispose();
    const ml = await trainMap(0, 40);
    const mp = await trainMap(50, 40);
    const dead = (net: Network) => Array.from(net.variables()[0]!.dataSync().slice(0, 6));
    expect(dead(ml.net)).toEqual(Array.from(w0.slice(0, 6)));
    const norm = (a: ArrayLike<number>) => Math.sqrt(Array.from(a).reduce((s, v) => s + v * v, 0));
    expect(norm(dead(mp.net))).toBeLessThan(0.2 * norm(w0.slice(0, 6)));
    ml.net.dispose();
    mp.net.dispose();
  });

  it('method laplace with inference.laplace.mapPrior fits the MAP under its one λ and scores BMR with that λ', async () => {
    const { fitLaplace } = await import('../../src/inference/laplace.js');
    const { pointNetworkFor } = await import('../../src/inference/fit-utils.js');
    const { bmrPriorSigma } = await import('../../src/scores/bmr.js');
    const w0 = pointNetworkFor(cfg, train, new RandomStream('map-prior'));
    const dead0 = w0.variables()[0]!.dataSync().slice(0, 6);
    w0.dispose();
    const c = validateConfig({
      ...cfg,
      train: { ...cfg.train, epochs: 40 },
      inference: { method: 'laplace', laplace: { mapPrior: true, priorPrecisions: [50] } },
    });
    const { posterior } = await fitLaplace({ config: c, train, validation: train, stream: new RandomStream('map-prior'), hooks: {} });
    const m = posterior.moments()[0]!;
    expect((posterior as unknown as { priorPrecision: number }).priorPrecision).toBe(50);
    expect(bmrPriorSigma(posterior, m).sigma0).toBeCloseTo(1 / Math.sqrt(50), 6);
    const norm = (a: ArrayLike<number>) => Math.sqrt(Array.from(a).reduce((s, v) => s + v * v, 0));
    expect(norm(m.mean.slice(0, 6))).toBeLessThan(0.2 * norm(dead0));
    // H = 0 for the dead weights: their posterior variance is the prior's, 1/λ
    for (let j = 0; j < 6; j++) expect(m.variance[j]).toBeCloseTo(1 / 50, 6);
    posterior.dispose();
  });
});
