/**
 * Benchmark: one LeNet-300-100 LRT training step (batch 100, sparse-VD KL, Adam)
 * through the framework's Trainer path versus a hand-written raw tfjs loop doing the
 * same arithmetic, on the same backend, in the same process, interleaved in rounds so
 * machine noise hits both alike. Prints and writes results/bench/lrt-step.json.
 *
 *   npm run bench [-- --backend wasm|cpu|tensorflow] [--steps N] [--rounds R]
 */
import { mkdirSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, parseBackendChoice } from '../../src/backend.js';
import { LOG_ALPHA_CLIP, SPARSE_VD_K } from '../../src/bayes/priors.js';
import { makeDataset } from '../../src/data/dataset.js';
import { meanFieldFactory } from '../../src/inference/layer-factories.js';
import { Trainer } from '../../src/inference/trainer.js';
import { buildNetwork } from '../../src/nn/builders.js';
import { RandomStream, rootStream } from '../../src/random.js';
import { writeJsonAtomic } from '../../src/report/atomic.js';
import { packageVersions } from '../../src/experiment/manifest.js';

const args = process.argv.slice(2);
const arg = (k: string, d: string) => {
  const i = args.indexOf(`--${k}`);
  return i >= 0 ? args[i + 1]! : d;
};
const backend = await initBackend(parseBackendChoice(arg('backend', 'auto'), '--backend'));
const STEPS = Number(arg('steps', '20'));
const ROUNDS = Number(arg('rounds', '3'));
const B = 100;
const N = STEPS * B;
const sizes = [784, 300, 100, 10];

// Synthetic inputs of MNIST's shape (timing does not depend on the values).
const s = new RandomStream('bench-data');
const data = makeDataset({
  name: 'bench',
  x: Float32Array.from({ length: N * 784 }, () => s.uniform()),
  y: Int32Array.from({ length: N }, () => s.int(10)),
  n: N,
  shape: [784],
  numClasses: 10,
});

/** Ours: the Trainer running one epoch of STEPS steps. */
function makeOurs() {
  const net = buildNetwork(
    { arch: 'lenet-300-100', activation: 'relu' },
    [784],
    10,
    meanFieldFactory({ type: 'log-uniform' }, -10),
    rootStream(1).fork('init'),
  );
  const trainer = new Trainer(net, data, { epochs: 1000, batchSize: B, lr: { name: 'constant', lr: 1e-3 }, temperature: 1 }, rootStream(1).fork('train'));
  return {
    run: () => trainer.runEpoch(),
    dispose: () => (trainer.dispose(), net.dispose()),
  };
}

/** Raw tfjs: the same model and loss written directly against tfjs-core. */
function makeRaw() {
  const seeds = new RandomStream('raw');
  const th: tf.Variable[] = [];
  const ls: tf.Variable[] = [];
  const bs: tf.Variable[] = [];
  for (let i = 0; i < 3; i++) {
    th.push(tf.variable(tf.truncatedNormal([sizes[i]!, sizes[i + 1]!], 0, Math.sqrt(2 / sizes[i]!), 'float32', seeds.nextSeed())));
    ls.push(tf.variable(tf.fill([sizes[i]!, sizes[i + 1]!], -10)));
    bs.push(tf.variable(tf.zeros([sizes[i + 1]!])));
  }
  const opt = tf.train.adam(1e-3);
  const vars = [...th, ...ls, ...bs];
  const { k1, k2, k3 } = SPARSE_VD_K;
  const run = () => {
    const perm = seeds.permutation(N);
    for (let st = 0; st < STEPS; st++) {
      const xb = new Float32Array(B * 784);
      const yb = new Int32Array(B);
      for (let i = 0; i < B; i++) {
        const j = perm[st * B + i]!;
        xb.set(data.x.subarray(j * 784, (j + 1) * 784), i * 784);
        yb[i] = data.y[j]!;
      }
      const x = tf.tensor2d(xb, [B, 784]);
      const y = tf.tensor1d(yb, 'int32');
      opt.minimize(
        () => {
          let h: tf.Tensor2D = x;
          for (let i = 0; i < 3; i++) {
            const mu = tf.add(tf.matMul(h, th[i]!), bs[i]!);
            const v = tf.matMul(tf.square(h), tf.exp(ls[i]!) as tf.Tensor2D);
            h = tf.add(mu, tf.mul(tf.sqrt(tf.add(v, 1e-8)), tf.randomNormal(mu.shape, 0, 1, 'float32', seeds.nextSeed()))) as tf.Tensor2D;
            if (i < 2) h = tf.relu(h);
          }
          const nll = tf.mean(tf.neg(tf.sum(tf.mul(tf.oneHot(y, 10), tf.logSoftmax(h)), 1)));
          let kl: tf.Tensor = tf.scalar(0);
          for (let i = 0; i < 3; i++) {
            const la = tf.clipByValue(tf.sub(ls[i]!, tf.log(tf.add(tf.square(th[i]!), 1e-8))), -LOG_ALPHA_CLIP, LOG_ALPHA_CLIP);
            const t = tf.add(tf.mul(tf.sigmoid(tf.add(tf.mul(la, k3), k2)), -k1), tf.mul(tf.softplus(tf.neg(la)), 0.5));
            kl = tf.add(kl, tf.add(tf.sum(t), k1 * la.size));
          }
          return tf.add(nll, tf.mul(kl, 1 / N)) as tf.Scalar;
        },
        false,
        vars,
      );
      tf.dispose([x, y]);
    }
    tf.tensor1d([0]).dataSync(); // same single sync at the end as the Trainer's epoch
  };
  return { run, dispose: () => (opt.dispose(), tf.dispose(vars)) };
}

function time(f: () => unknown): number {
  const t0 = performance.now();
  f();
  return (performance.now() - t0) / STEPS;
}

const ours = makeOurs();
const raw = makeRaw();
// Warm-up (kernel compilation, allocator growth).
ours.run();
raw.run();
const t0Tensors = tf.memory().numTensors;
const rounds: { ours: number; raw: number }[] = [];
for (let r = 0; r < ROUNDS; r++) {
  const a = r % 2 === 0 ? ['ours', 'raw'] : ['raw', 'ours'];
  const row = { ours: 0, raw: 0 };
  for (const k of a) row[k as 'ours' | 'raw'] = time(k === 'ours' ? ours.run : raw.run);
  rounds.push(row);
  process.stderr.write(
    `round ${r + 1}/${ROUNDS}: ours ${row.ours.toFixed(1)} ms/step, raw ${row.raw.toFixed(1)} ms/step, ratio ${(row.ours / row.raw).toFixed(3)}\n`,
  );
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const oursMs = median(rounds.map((r) => r.ours));
const rawMs = median(rounds.map((r) => r.raw));
const result = {
  benchmark: 'lenet-300-100 LRT training step, batch 100, sparse-VD KL, Adam',
  backend: backend.name,
  stepsPerRound: STEPS,
  rounds,
  oursMsPerStep: oursMs,
  rawMsPerStep: rawMs,
  ratio: median(rounds.map((r) => r.ours / r.raw)),
  target: 'ratio ≤ 1.2',
  tensorsGrowth: tf.memory().numTensors - t0Tensors,
  packages: packageVersions(),
  node: process.version,
  date: new Date().toISOString(),
};
ours.dispose();
raw.dispose();
mkdirSync('results/bench', { recursive: true });
await writeJsonAtomic('results/bench/lrt-step.json', result);
console.log(
  JSON.stringify({
    backend: result.backend,
    oursMsPerStep: +oursMs.toFixed(2),
    rawMsPerStep: +rawMs.toFixed(2),
    ratio: +result.ratio.toFixed(3),
    target: result.target,
  }),
);
console.log('written: results/bench/lrt-step.json');
