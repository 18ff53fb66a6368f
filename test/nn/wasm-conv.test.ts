import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend.js';
import { LrtConv2d } from '../../src/bayes/lrt-conv2d.js';
import { Activation, Flatten, MaxPool2d } from '../../src/nn/activations.js';
import { LrtDense } from '../../src/bayes/lrt-dense.js';
import { Network } from '../../src/nn/network.js';
import { conv2dBackpropFilterReference } from '../../src/nn/wasm-kernels.js';
import { RandomStream } from '../../src/random.js';

let hadWasm = false;

beforeAll(async () => {
  await initBackend('cpu', 'flag');
  try {
    await tf.setBackend('wasm');
    await tf.ready();
    hadWasm = tf.getBackend() === 'wasm';
  } catch {
    hadWasm = false;
  }
  await tf.setBackend('cpu');
});

afterAll(async () => {
  await tf.setBackend('cpu');
});

async function convGrads(backend: string, xs: Float32Array, ws: Float32Array, xShape: number[], wShape: number[], stride: number, pad: 'valid' | 'same') {
  await tf.setBackend(backend);
  const x = tf.tensor(xs, xShape);
  const w = tf.tensor(ws, wShape);
  const f = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad))));
  const [gx, gw] = f([x, w]);
  const out = { gx: gx!.dataSync().slice() as Float32Array, gw: gw!.dataSync().slice() as Float32Array };
  tf.dispose([x, w, gx!, gw!]);
  return out;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('conv training on the wasm backend', { timeout: 60_000 }, () => {
  it('the wasm backend has Conv2DBackpropInput and MaxPoolGrad, and Conv2DBackpropFilter is registered', () => {
    expect(hadWasm).toBe(true);
    expect(tf.getKernel('Conv2DBackpropInput', 'wasm')).toBeDefined();
    expect(tf.getKernel('MaxPoolGrad', 'wasm')).toBeDefined();
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
  });

  it('conv gradients on wasm match the cpu backend within 1e-4 (valid and same padding, strides 1 and 2)', async () => {
    for (const [xShape, wShape, stride, pad] of [
      [[2, 7, 7, 3], [3, 3, 3, 4], 1, 'valid'],
      [[2, 8, 8, 3], [3, 3, 3, 5], 2, 'same'],
      [[3, 12, 12, 4], [5, 5, 4, 6], 1, 'valid'],
    ] as const) {
      const xs = Float32Array.from({ length: xShape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i * 0.37));
      const ws = Float32Array.from({ length: wShape.reduce((a, b) => a * b, 1) }, (_, i) => Math.cos(i * 0.11) * 0.1);
      const c = await convGrads('cpu', xs, ws, [...xShape], [...wShape], stride, pad);
      const w = await convGrads('wasm', xs, ws, [...xShape], [...wShape], stride, pad);
      expect(maxAbsDiff(c.gw, w.gw)).toBeLessThan(1e-4);
      expect(maxAbsDiff(c.gx, w.gx)).toBeLessThan(1e-4);
      // The JS reference loop agrees as well.
      const info = tf.backend_util.computeConv2DInfo(
        xShape as unknown as [number, number, number, number],
        wShape as unknown as [number, number, number, number],
        stride,
        1,
        pad,
      );
      await tf.setBackend('cpu');
      const y = tf.conv2d(tf.tensor(xs, [...xShape]) as tf.Tensor4D, tf.tensor(ws, [...wShape]) as tf.Tensor4D, stride, pad);
      const dy = tf.mul(y, 2).dataSync();
      const ref = conv2dBackpropFilterReference(xs, dy, info);
      expect(maxAbsDiff(ref, c.gw)).toBeLessThan(1e-3);
      y.dispose();
    }
  });

  it('a small LRT conv net trains on wasm: the loss decreases and no tensors leak', async () => {
    await tf.setBackend('wasm');
    try {
      const st = new RandomStream('wasm-train');
      const net = new Network(
        [
          new LrtConv2d({ name: 'conv1', inH: 8, inW: 8, cin: 1, cout: 4, k: 3, prior: { type: 'log-uniform' }, stream: st.fork('c1') }),
          new Activation('a1', 'relu'),
          new MaxPool2d('p1', 2),
          new Flatten('f'),
          new LrtDense({ name: 'fc', inFeatures: 36, outFeatures: 2, prior: { type: 'log-uniform' }, stream: st.fork('fc') }),
        ],
        [8, 8, 1],
        2,
        'tiny conv',
      );
      // Class 1 = a bright top half, class 0 = a bright bottom half.
      const n = 32;
      const xs = new Float32Array(n * 64);
      const ys = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        ys[i] = i % 2;
        for (let p = 0; p < 64; p++) xs[i * 64 + p] = (ys[i] === 1 ? p < 32 : p >= 32) ? 1 : 0.1 * st.uniform();
      }
      const x = tf.tensor(xs, [n, 8, 8, 1]);
      const y = tf.oneHot(tf.tensor1d(ys, 'int32'), 2);
      const opt = tf.train.adam(0.02);
      const lossOf = () => tf.tidy(() => tf.losses.softmaxCrossEntropy(y, net.forward(x, { sample: false })).dataSync()[0]!);
      const first = lossOf();
      const step = () =>
        opt.minimize(
          () => tf.add(tf.losses.softmaxCrossEntropy(y, net.forward(x, { sample: true, stream: st, training: true })), tf.div(net.kl(), 1e5)) as tf.Scalar,
          false,
          net.variables(),
        );
      step();
      const n0 = tf.memory().numTensors;
      for (let i = 0; i < 14; i++) step();
      expect(tf.memory().numTensors).toBe(n0);
      const last = lossOf();
      expect(last).toBeLessThan(0.7 * first);
      tf.dispose([x, y]);
      opt.dispose();
      net.dispose();
    } finally {
      await tf.setBackend('cpu');
    }
  });
});
