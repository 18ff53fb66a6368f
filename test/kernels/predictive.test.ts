import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meanFieldFactory, pointFactory } from '../../src/inference/layer-factories.js';
import { NetworkPosterior } from '../../src/inference/network-posterior.js';
import { buildNetwork } from '../../src/nn/builders.js';
import { predictSamplesShared } from '../../src/nn/fused/predictive.js';
import { RandomStream, rootStream } from '../../src/random.js';
import { useTestBackend } from '../setup-backend.js';

let initial = 'cpu';
beforeAll(async () => {
  initial = await useTestBackend();
});
afterAll(async () => {
  await tf.setBackend(initial);
});

function lenet(factory: ReturnType<typeof meanFieldFactory>) {
  return buildNetwork({ arch: 'lenet-300-100', activation: 'relu' }, [784], 10, factory, rootStream(3).fork('init'));
}

describe('Monte Carlo predictive sharing the first LRT layer across samples', { timeout: 120_000 }, () => {
  for (const backend of ['cpu', 'wasm']) {
    it(`is bit-identical to the per-sample forward on ${backend}, with and without masks`, async () => {
      expect(await tf.setBackend(backend)).toBe(true);
      const net = lenet(meanFieldFactory({ type: 'log-uniform' }, -4));
      const post = new NetworkPosterior('vi', net);
      const s = new RandomStream('pred-x');
      const x = tf.tensor2d(
        Float32Array.from({ length: 37 * 784 }, () => s.uniform()),
        [37, 784],
      );
      for (const masked of [false, true]) {
        if (masked) {
          const ms = new RandomStream('pred-mask');
          post.setMasks(
            new Map(
              net
                .weightLayers()
                .map((l) => [`${l.name}.weight`, Float32Array.from({ length: l.weightShape!.reduce((a, b) => a * b) }, () => (ms.uniform() < 0.7 ? 0 : 1))]),
            ),
          );
        }
        const a = predictSamplesShared(post, x, 5, new RandomStream('pred-noise'))!;
        const b = post.predictSamples(x, 5, new RandomStream('pred-noise'));
        expect(a.shape).toEqual([5, 37, 10]);
        expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
        // The samples differ from each other (noise is drawn per sample, not shared).
        const d = a.dataSync();
        let diff = 0;
        for (let i = 0; i < 37 * 10; i++) diff = Math.max(diff, Math.abs(d[i]! - d[37 * 10 + i]!));
        expect(diff).toBeGreaterThan(1e-4);
        tf.dispose([a, b]);
      }
      x.dispose();
      net.dispose();
    });
  }

  it('declines networks without a leading LRT layer and deterministic predictives', () => {
    const point = lenet(pointFactory('he-normal'));
    const x = tf.zeros([2, 784]);
    expect(predictSamplesShared(new NetworkPosterior('map', point), x, 3, new RandomStream('n'))).toBeNull();
    const vi = lenet(meanFieldFactory({ type: 'log-uniform' }, -4));
    expect(predictSamplesShared(new NetworkPosterior('vi', vi), x, 0, new RandomStream('n'))).toBeNull();
    tf.dispose([x]);
    point.dispose();
    vi.dispose();
  });
});
