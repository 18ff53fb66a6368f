import * as tf from '@tensorflow/tfjs-core';
import { initBackend, parseBackendChoice } from '../../src/backend.js';
import { uniformNoise } from '../../src/data/synthetic.js';
import { meanFieldFactory } from '../../src/inference/layer-factories.js';
import { Trainer } from '../../src/inference/trainer.js';
import { buildNetwork } from '../../src/nn/builders.js';
import { RandomStream, rootStream } from '../../src/random.js';
await initBackend(parseBackendChoice('wasm', '--backend'));
const STEPS = 20,
  B = 100,
  N = STEPS * B;
const data = uniformNoise({ n: N, dim: 784, numClasses: 10, stream: new RandomStream('bench-data'), name: 'bench' });
const prior = (process.env.PRIOR ?? 'log-uniform') === 'gaussian' ? { type: 'gaussian', sigma: 1 } : { type: 'log-uniform' };
const net = buildNetwork({ arch: 'lenet-300-100', activation: 'relu' } as any, [784], 10, meanFieldFactory(prior as any, -10), rootStream(1).fork('init'));
const trainer = new Trainer(net, data, { epochs: 1000, batchSize: B, lr: { name: 'constant', lr: 1e-3 } as any, temperature: 1 }, rootStream(1).fork('train'));
trainer.runEpoch();
trainer.runEpoch();
let t0 = performance.now();
for (let i = 0; i < 3; i++) trainer.runEpoch();
const plain = (performance.now() - t0) / (3 * STEPS);
const times = new Map<string, [number, number]>();
for (const k of tf.getKernelsForBackend('wasm')) {
  const orig = k.kernelFunc;
  tf.unregisterKernel(k.kernelName, 'wasm');
  tf.registerKernel({
    ...k,
    kernelFunc: ((a: any) => {
      const t = performance.now();
      const r = orig(a);
      const d = performance.now() - t;
      const e = times.get(k.kernelName) ?? [0, 0];
      e[0] += d;
      e[1]++;
      times.set(k.kernelName, e);
      return r;
    }) as any,
  });
}
// also time JS noise
t0 = performance.now();
for (let i = 0; i < 3; i++) trainer.runEpoch();
const total = (performance.now() - t0) / (3 * STEPS);
let sum = 0;
const rows = [...times.entries()].map(([k, [t, c]]) => [k, t / (3 * STEPS), c / (3 * STEPS)] as const).sort((a, b) => b[1] - a[1]);
for (const [, t] of rows) sum += t;
console.log(`plain ${plain.toFixed(2)} ms/step, instrumented ${total.toFixed(2)}, in kernels ${sum.toFixed(2)}`);
for (const [k, t, c] of rows) if (t > 0.05) console.log(`${k.padEnd(28)} ${t.toFixed(2)} ms  ${c.toFixed(1)} calls`);
