import { beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../../src/data/dataset.js';
import { gaussianBlobs } from '../../src/data/synthetic.js';
import { pointFactory } from '../../src/inference/layer-factories.js';
import { trainSwag } from '../../src/inference/swag.js';
import { buildNetwork } from '../../src/nn/builders.js';
import { deadInputDiagnostic, deadInputFeatures, deadInputWeights, pruneDeadFirst } from '../../src/pruning/dead-inputs.js';
import { masksAtSparsity } from '../../src/pruning/masks.js';
import { getCriterion } from '../../src/scores/registry.js';
import { RandomStream } from '../../src/random.js';
import { useTestBackend } from '../setup-backend.js';

beforeAll(useTestBackend);

/** Blobs in `dim` features with the features of `deadAt` set to 0 in every example. */
function withDeadFeatures(n: number, dim: number, deadAt: number[], stream: RandomStream, separation = 4): Dataset {
  const d = gaussianBlobs({ n, dim, numClasses: 3, separation, stream });
  for (let i = 0; i < n; i++) for (const j of deadAt) d.x[i * dim + j] = 0;
  return d;
}

describe('dead input features', () => {
  const stream = new RandomStream('dead-inputs');
  const data = withDeadFeatures(50, 6, [1, 4], stream.fork('data'));

  it('finds exactly the features that are 0 in every example', () => {
    expect(Array.from(deadInputFeatures(data))).toEqual([0, 1, 0, 0, 1, 0]);
    // one non-zero entry anywhere makes a feature live
    const x = Float32Array.from(data.x);
    x[49 * 6 + 4] = 0.5;
    expect(Array.from(deadInputFeatures({ ...data, x }))).toEqual([0, 1, 0, 0, 0, 0]);
  });

  it('lists the first layer weights those features feed (row-major [F, out]) and none for a live input', () => {
    const net = buildNetwork({ arch: 'mlp', hidden: [5], activation: 'relu' }, [6], 3, pointFactory(), stream.fork('net'));
    const dead = deadInputWeights(net, data)!;
    expect(dead.name).toBe('fc1.weight');
    expect(dead.features).toBe(2);
    expect(Array.from(dead.indices)).toEqual([5, 6, 7, 8, 9, 20, 21, 22, 23, 24]);
    const live = gaussianBlobs({ n: 50, dim: 6, numClasses: 3, separation: 4, stream: stream.fork('live') });
    expect(deadInputWeights(net, live)).toBeNull();
    net.dispose();
  });

  it('prune-first removes exactly the dead-input weights at their share of sparsity, whatever their scores', () => {
    const net = buildNetwork({ arch: 'mlp', hidden: [5], activation: 'relu' }, [6], 3, pointFactory(), stream.fork('net2'));
    const dead = deadInputWeights(net, data)!;
    // give the dead-input weights the highest scores of all
    const scores = new Map(
      net.moments().map((m) => [m.name, Float32Array.from(m.mean, (v, i) => Math.abs(v) + (m.name === 'fc1.weight' && dead.indices.includes(i) ? 100 : 0))]),
    );
    const total = [...scores.values()].reduce((a, s) => a + s.length, 0);
    const masks = masksAtSparsity(pruneDeadFirst(scores, dead), dead.indices.length / total, 'global');
    const m = masks.get('fc1.weight')!;
    const pruned = [...m.keys()].filter((i) => m[i] === 0);
    expect(pruned).toEqual(Array.from(dead.indices));
    for (const [name, mk] of masks) if (name !== 'fc1.weight') expect(mk.every((v) => v === 1)).toBe(true);
    // the input scores are not modified
    expect(scores.get('fc1.weight')![5]!).toBeGreaterThan(100);
    net.dispose();
  });

  it('the diagnostic gives medians and the top-10 % share by hand', () => {
    const dead = { name: 'a.weight', features: 1, indices: Int32Array.from([0, 1]) };
    // 20 weights: dead ones score 50 and 40, the others 1..18
    const scores = new Map([
      ['a.weight', Float32Array.from([50, 40, 1, 2, 3, 4, 5, 6, 7, 8])],
      ['b.weight', Float32Array.from([9, 10, 11, 12, 13, 14, 15, 16, 17, 18])],
    ]);
    const d = deadInputDiagnostic(scores, dead);
    expect(d.medianDead).toBe(45);
    expect(d.medianOther).toBe(9.5);
    expect(d.deadShare).toBe(0.1);
    expect(d.deadInTop10).toBe(1); // the top 2 of 20 are both dead
  });
});

describe('SWAG and dead inputs', { timeout: 60_000 }, () => {
  it('SWAG gives weights fed by an always-zero input a near-zero variance, so SNR ranks them above the rest', async () => {
    const stream = new RandomStream('swag-dead');
    const data = withDeadFeatures(200, 6, [0, 3], stream.fork('data'), 1.5);
    const net = buildNetwork({ arch: 'mlp', hidden: [8], activation: 'relu' }, [6], 3, pointFactory(), stream.fork('init'));
    const { posterior } = await trainSwag(
      net,
      data,
      { variant: 'swag-diag', epochs: 6, batchSize: 20, lr: 0.1, swaLr: 0.05, swaStart: 3, momentum: 0.9, weightDecay: 5e-4, collectEvery: 1, rank: 2 },
      stream.fork('train'),
    );
    const dead = deadInputWeights(net, data)!;
    const snr = await getCriterion('snr').compute(posterior, { stream: stream.fork('s') });
    const d = deadInputDiagnostic(snr, dead);
    // the only thing moving them is weight decay, identical every step: the iterates' spread is
    // orders of magnitude below that of weights the data move
    const fc1 = posterior.moments()[0]!;
    const varDead = Array.from(dead.indices, (i) => fc1.variance[i]!);
    const varLive = Array.from(fc1.variance)
      .filter((_, i) => !dead.indices.includes(i))
      .sort((a, b) => a - b);
    expect(Math.max(...varDead)).toBeLessThan(varLive[0]!);
    expect(d.medianDead).toBeGreaterThan(10 * d.medianOther);
    expect(d.deadInTop10).toBeGreaterThan(2 * d.deadShare); // over-represented among the weights SNR keeps
    posterior.dispose();
  });
});
