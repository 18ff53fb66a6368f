/**
 * Snapshots that protocols and the lottery ticket rewind to (src/pruning/schedules.ts) hold the
 * batch-norm running statistics too: a fine-tune or iterative protocol trains the network
 * (moving the running statistics) and then restores the snapshot; without the statistics,
 * every later protocol point started from the previous point's statistics.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { BatchNorm } from '../../src/nn/batchnorm.js';
import { Network } from '../../src/nn/network.js';
import { restoreVariables, snapshotVariables } from '../../src/pruning/schedules.js';
import { useTestBackend } from '../setup-backend.js';

beforeAll(useTestBackend);

describe('variable snapshots include layer state', () => {
  it('restoring a snapshot undoes the running-statistics update of a training-mode pass (and γ, β changes)', () => {
    const bn = new BatchNorm({ name: 'bn', channels: 2 });
    const net = new Network([bn], [2], 2, 'bn only');
    const snap = snapshotVariables(net);
    const x = tf.tensor2d([
      [0, 10],
      [4, 30],
    ]);
    net.forward(x, { sample: false, training: true });
    bn.gamma.assign(tf.tensor1d([3, 4]));
    // Hand-derived update with momentum 0.1: mean 0.1·(2, 20); variance 0.9 + 0.1·(8, 200) (unbiased, m = 2).
    const m = Array.from(bn.runningMean.dataSync());
    const v = Array.from(bn.runningVar.dataSync());
    [0.2, 2].forEach((e, i) => expect(m[i]).toBeCloseTo(e, 5));
    [1.7, 20.9].forEach((e, i) => expect(v[i]).toBeCloseTo(e, 4));
    restoreVariables(net, snap);
    expect(Array.from(bn.runningMean.dataSync())).toEqual([0, 0]);
    expect(Array.from(bn.runningVar.dataSync())).toEqual([1, 1]);
    expect(Array.from(bn.gamma.dataSync())).toEqual([1, 1]);
    x.dispose();
    net.dispose();
  });
});
