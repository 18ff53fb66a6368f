/**
 * PackNet (Mallya & Lazebnik 2018) on two tasks in one MLP (src/pruning/packnet.ts):
 * task 1 the embedded MNIST digits, task 2 Fashion-MNIST where installed (else MNIST with a
 * fixed pixel permutation), each pruned by `prune` and retrained; task 1's accuracy and
 * outputs are checked unchanged after task 2, and task 2 is compared with a network trained
 * on task 2 alone with the same free capacity (the weights task 1 holds blocked).
 *
 *   npx tsx experiments/packnet/run.ts [epochs=3] [retrain=1] [train=4000] [prune=0.5] [task2=auto|fashion|permuted]
 *
 * Writes experiments/packnet/results-<task 2>.json (task 2 = fashion-mnist or permuted-mnist).
 * @module
 */
import { writeFileSync } from 'node:fs';
import { initBackend } from '../../src/backend.js';
import { loadDataset } from '../../src/data/registry.js';
import { subset, type Dataset } from '../../src/data/dataset.js';
import { PackNet, permutePixels } from '../../src/pruning/packnet.js';
import { RandomStream } from '../../src/random.js';

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.split('=') as [string, string]));
const epochs = Number(args.epochs ?? 3);
const retrainEpochs = Number(args.retrain ?? 1);
const nTrain = Number(args.train ?? 4000);
const pruneFraction = Number(args.prune ?? 0.5);
const task2Choice = args.task2 ?? 'auto';
for (const [k, v] of Object.entries({ epochs, retrain: retrainEpochs, train: nTrain, prune: pruneFraction }))
  if (!Number.isFinite(v) || v < 0) throw new Error(`packnet: ${k} must be a non-negative number, got ${args[k]}`);

const backend = await initBackend('auto');
const head = (d: Dataset, n: number) =>
  n > 0 && n < d.n
    ? subset(
        d,
        Int32Array.from({ length: n }, (_, i) => i),
        `${d.name}[:${n}]`,
      )
    : d;
const mnist = loadDataset('mnist-embedded', { flat: true });
let task2: { name: string; train: Dataset; test: Dataset };
const wantFashion = task2Choice === 'fashion' || task2Choice === 'auto';
let fashion: ReturnType<typeof loadDataset> | null = null;
if (wantFashion) {
  try {
    fashion = loadDataset('fashion-mnist', { flat: true });
  } catch (e) {
    if (task2Choice === 'fashion') throw e;
  }
}
if (fashion) {
  task2 = { name: 'fashion-mnist', train: head(fashion.train, nTrain), test: head(fashion.test, 2000) };
} else {
  const perm = new RandomStream('packnet/pixel-permutation').permutation(784);
  task2 = {
    name: 'permuted-mnist',
    train: permutePixels(head(mnist.train, nTrain), perm, 'mnist-permuted/train'),
    test: permutePixels(mnist.test, perm, 'mnist-permuted/test'),
  };
}
const t1 = { name: 'mnist', train: head(mnist.train, nTrain), test: mnist.test };
const opts = { hidden: [300, 100], pruneFraction, epochs, retrainEpochs, batchSize: 100, lr: 0.001 };
const t0 = Date.now();

const net = new PackNet(784, opts);
const r1 = net.addTask(t1.name, t1.train, t1.test, new RandomStream('packnet/task1'));
const logits1 = Buffer.from(net.logits(1, t1.test.x, t1.test.n).buffer.slice(0));
const r2 = net.addTask(task2.name, task2.train, task2.test, new RandomStream('packnet/task2'), false);
const logits1After = Buffer.from(net.logits(1, t1.test.x, t1.test.n).buffer.slice(0));
const task1AfterTask2 = net.accuracy(1, t1.test);

// Baseline: task 2 alone in a fresh network whose weights held by task 1 are blocked (same free capacity).
const alone = new PackNet(784, opts);
alone.block(net.owner.map((o) => Uint8Array.from(o, (v) => (v === 1 ? 1 : 0))));
const rAlone = alone.addTask(task2.name, task2.train, task2.test, new RandomStream('packnet/task2'), false);

const out = {
  backend: backend.name,
  options: { ...opts, trainExamples: nTrain },
  tasks: [r1, r2],
  task1AccuracyAfterTask2: task1AfterTask2,
  task1OutputsBitIdentical: logits1.equals(logits1After),
  task2AloneSameFreeCapacity: rAlone,
  capacity: net.capacity(),
  seconds: (Date.now() - t0) / 1000,
};
console.log(JSON.stringify(out, null, 2));
writeFileSync(new URL(`./results-${task2.name}.json`, import.meta.url), JSON.stringify(out, null, 2) + '\n');
