/**
 * PackNet (Mallya & Lazebnik 2018) as an inference method: `inference.method: packnet` with
 * the options `inference.packnet` (issue 11 item 6). The library is src/pruning/packnet.ts.
 *
 * Task 1 is the config's data set (`data`, e.g. the embedded MNIST digits), task 2 is
 * Fashion-MNIST where installed (`task2: auto` or `fashion-mnist`), else the task-1 data with
 * a fixed pixel permutation (`permuted-mnist`, always available). Each task trains
 * `train.epochs` epochs (Adam, `train.optimizer.lr`, `train.batchSize`) in the weights still
 * free, is pruned by its entry of `pruneFractions`, retrained `retrainEpochs` epochs and frozen.
 * Both tasks see the same number of training examples (`data.trainLimit`, else all of task 1's).
 *
 * The run's main model is task 1's network (its task-specific mask: the weights task 1 owns,
 * head 1), evaluated like every other model. The PackNet numbers go into the report section
 * "PackNet" (report.md, metrics.json `packnet`, report.html): each task's accuracy on its own
 * evaluation split with its own mask, the weights each task owns, task 1's accuracy before and
 * after task 2 and whether its logits are bit-identical, and the baseline of issue 11: task 2
 * trained alone in a fresh network in which the weights task 1 holds are blocked (the same free
 * capacity, the same initialization stream, prune fraction and epochs as task 2 in PackNet).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { featureSize, subset, type Dataset } from '../data/dataset.js';
import { loadDataset } from '../data/registry.js';
import type { ExperimentConfig } from '../experiment/config.js';
import { NetworkPosterior } from '../inference/network-posterior.js';
import type { FitContext, FitResult, MethodSection } from '../inference/methods.js';
import { pointFactory } from '../inference/layer-factories.js';
import { buildNetwork, hiddenSizes } from '../nn/builders.js';
import { Dense } from '../nn/dense.js';
import { RandomStream } from '../random.js';
import { PackNet, permutePixels, type TaskResult } from './packnet.js';
import type { PackNetConfig } from './packnet-config.js';

/** The task-2 data and which task it is. */
function task2Data(
  choice: PackNetConfig['task2'],
  task1: { train: Dataset; evalSet: Dataset; name: string },
  split: 'test' | 'validation',
): { name: string; train: Dataset; evalSet: Dataset } {
  const f = featureSize(task1.train);
  // auto: Fashion-MNIST only for 784-feature task-1 data (28×28 images); anything else gets the permuted task without loading it.
  if (choice === 'fashion-mnist' && f !== 784)
    throw new Error(
      `inference.packnet.task2 fashion-mnist needs task-1 data with 784 input features (28×28 images); data "${task1.name}" has ${f}; use task2: permuted-mnist`,
    );
  if (choice === 'fashion-mnist' || (choice === 'auto' && f === 784)) {
    let fashion: ReturnType<typeof loadDataset> | null = null;
    try {
      fashion = loadDataset('fashion-mnist', { flat: true });
    } catch (e) {
      if (choice === 'fashion-mnist') throw new Error(`inference.packnet.task2 fashion-mnist: ${(e as Error).message}`);
    }
    if (fashion && featureSize(fashion.train) !== f) {
      if (choice === 'fashion-mnist')
        throw new Error(`inference.packnet.task2 fashion-mnist needs ${featureSize(fashion.train)} input features like task 1; data "${task1.name}" has ${f}`);
      fashion = null;
    }
    if (fashion) {
      const n = Math.min(task1.train.n, fashion.train.n);
      return {
        name: 'fashion-mnist',
        train:
          n < fashion.train.n
            ? subset(
                fashion.train,
                Int32Array.from({ length: n }, (_, i) => i),
                `fashion-mnist/train[:${n}]`,
              )
            : fashion.train,
        evalSet: split === 'test' ? fashion.test : fashion.validation,
      };
    }
  }
  const perm = new RandomStream('packnet/pixel-permutation').permutation(f);
  return {
    name: `${task1.name}-permuted`,
    train: permutePixels(task1.train, perm, `${task1.train.name}-permuted`),
    evalSet: permutePixels(task1.evalSet, perm, `${task1.evalSet.name}-permuted`),
  };
}

const pct = (x: number) => `${(100 * x).toFixed(2)} %`;

/** `inference.method: packnet`: two tasks in one network; the main model is task 1's masked network. */
export async function fitPackNet(ctx: FitContext): Promise<FitResult> {
  const c: ExperimentConfig = ctx.config;
  const o = (c.inference as unknown as { packnet: PackNetConfig }).packnet;
  const t0 = performance.now();
  const split = c.eval.split;
  const task1Name = c.data.name;
  const evalSet1 = split === 'test' ? loadDataset(c.data.name, { flat: true, dir: c.data.dir }).test : ctx.validation;
  const task1 = { name: task1Name, train: ctx.train, evalSet: evalSet1 };
  const task2 = task2Data(o.task2, task1, split);
  const hidden = hiddenSizes({ arch: c.model.arch, hidden: c.model.hidden, activation: c.model.activation });
  const opts = {
    hidden,
    pruneFraction: o.pruneFractions[0]!,
    epochs: c.train.epochs,
    retrainEpochs: o.retrainEpochs,
    batchSize: c.train.batchSize,
    lr: c.train.optimizer.lr,
  };
  const inF = featureSize(ctx.train);
  const net = new PackNet(inF, opts);
  let alone: PackNet | null = null;
  try {
    const r1 = net.addTask(task1Name, task1.train, task1.evalSet, ctx.stream.fork('packnet/task1'), o.pruneFractions[0]!);
    const before = Buffer.from(net.logits(1, task1.evalSet.x, task1.evalSet.n).buffer.slice(0));
    const r2 = net.addTask(task2.name, task2.train, task2.evalSet, ctx.stream.fork('packnet/task2'), o.pruneFractions[1]!);
    const after = Buffer.from(net.logits(1, task1.evalSet.x, task1.evalSet.n).buffer.slice(0));
    const task1After = net.accuracy(1, task1.evalSet);
    let baseline: TaskResult | null = null;
    if (o.baseline) {
      alone = new PackNet(inF, opts);
      alone.block(net.owner.map((ow) => Uint8Array.from(ow, (v) => (v === 1 ? 1 : 0))));
      baseline = alone.addTask(task2.name, task2.train, task2.evalSet, ctx.stream.fork('packnet/task2'), o.pruneFractions[1]!);
    }
    const total = net.owner.reduce((s, ow) => s + ow.length, 0);
    const owned = (t: number) => net.owner.reduce((s, ow) => s + ow.filter((v) => v === t).length, 0);
    const freeForTask2 = total - owned(1);

    // The main model: task 1's network as a plain point-estimate MLP (weights task 1 owns, head 1).
    const network = buildNetwork(
      { arch: 'mlp', hidden, activation: 'relu' },
      ctx.train.shape,
      ctx.train.numClasses,
      pointFactory('he-normal'),
      ctx.stream.fork('init'),
    );
    const dense = network.layers.filter((l): l is Dense => l instanceof Dense);
    tf.tidy(() => {
      net.shapes.forEach((s, l) => {
        dense[l]!.w.assign(
          tf.tensor2d(
            net.values[l]!.map((w, i) => (net.owner[l]![i] === 1 ? w : 0)),
            s,
          ),
        );
        dense[l]!.b.assign(tf.tensor1d(net.biases[l]!));
      });
      dense[hidden.length]!.w.assign(net.heads[0]!.w);
      dense[hidden.length]!.b.assign(net.heads[0]!.b);
    });
    const probe = Math.min(200, task1.evalSet.n);
    const zNet = tf.tidy(() => network.forward(tf.tensor2d(task1.evalSet.x.subarray(0, probe * inF), [probe, inF]), { sample: false }).dataSync());
    const zPack = net.logits(1, task1.evalSet.x.subarray(0, probe * inF), probe);
    let maxLogitDiff = 0;
    for (let i = 0; i < zPack.length; i++) maxLogitDiff = Math.max(maxLogitDiff, Math.abs(zNet[i]! - zPack[i]!));

    const seconds = (performance.now() - t0) / 1000;
    const task = (r: TaskResult, t: number, data: { train: Dataset; evalSet: Dataset }, prune: number) => ({
      task: t,
      name: r.name,
      trainExamples: data.train.n,
      evalExamples: data.evalSet.n,
      pruneFraction: prune,
      accuracyTrained: r.accuracyTrained,
      accuracy: r.accuracy,
      weightsOwned: owned(t),
      capacity: r.capacity,
      freeAfter: r.freeAfter,
    });
    const metrics = {
      evalSplit: split,
      hidden,
      totalWeights: total,
      epochs: opts.epochs,
      retrainEpochs: opts.retrainEpochs,
      tasks: [task(r1, 1, task1, o.pruneFractions[0]!), task(r2, 2, task2, o.pruneFractions[1]!)],
      task1AccuracyBeforeTask2: r1.accuracy,
      task1AccuracyAfterTask2: task1After,
      task1LogitsBitIdentical: before.equals(after),
      freeWeightsForTask2: freeForTask2,
      baseline: baseline
        ? {
            description: 'task 2 alone in a fresh network with the weights task 1 owns blocked (same free capacity)',
            weightsAvailable: freeForTask2,
            accuracyTrained: baseline.accuracyTrained,
            accuracy: baseline.accuracy,
            weightsUsed: alone!.owner.reduce((s, ow) => s + ow.filter((v) => v === 1).length, 0),
          }
        : null,
      task2MinusBaseline: baseline ? r2.accuracy - baseline.accuracy : null,
      mainModelMaxLogitDiff: maxLogitDiff,
      seconds,
    };
    const row = (t: ReturnType<typeof task>) => ({
      task: `${t.task}: ${t.name}`,
      'train examples': t.trainExamples,
      'prune fraction': t.pruneFraction,
      'acc trained': pct(t.accuracyTrained),
      'acc (task mask)': pct(t.accuracy),
      'weights owned': t.weightsOwned,
      capacity: pct(t.capacity),
      'free after': pct(t.freeAfter),
    });
    const section: MethodSection = {
      key: 'packnet',
      title: 'PackNet: tasks in one network',
      text:
        `PackNet (Mallya & Lazebnik 2018) on an MLP ${[inF, ...hidden].join('-')} with one head per task (${total} shared weights): each task trained ${opts.epochs} epochs in the free weights, pruned per layer by |w| (its prune fraction below) and retrained ${opts.retrainEpochs} epochs when the fraction is above 0, frozen; each task evaluated on its ${split} split with its own mask (the weights owned by tasks 1..t and its head). ` +
        `Task 1 after task 2: ${pct(task1After)} (before: ${pct(r1.accuracy)}); its logits on all ${task1.evalSet.n} evaluation examples are ${metrics.task1LogitsBitIdentical ? 'bit-identical' : 'NOT bit-identical'}. ` +
        (baseline
          ? `Baseline, task 2 alone in a network restricted to the same ${freeForTask2} free weights (task 1's blocked): ${pct(baseline.accuracy)}; PackNet's task 2 − baseline = ${(100 * metrics.task2MinusBaseline!).toFixed(2)} points. `
          : '') +
        `The main model of this run is task 1's network (max |logit difference| to PackNet's own forward pass ${maxLogitDiff.toExponential(1)}). ${seconds.toFixed(1)} s.`,
      table: [
        ...metrics.tasks.map(row),
        { task: '1 after task 2', 'acc (task mask)': pct(task1After), 'weights owned': owned(1) },
        ...(baseline
          ? [
              {
                task: `2 alone (baseline): ${task2.name}`,
                'train examples': task2.train.n,
                'prune fraction': o.pruneFractions[1]!,
                'acc trained': pct(baseline.accuracyTrained),
                'acc (task mask)': pct(baseline.accuracy),
                'weights owned': metrics.baseline!.weightsUsed,
                capacity: pct(baseline.capacity),
              },
            ]
          : []),
      ],
      metrics,
    };
    return { posterior: new NetworkPosterior('packnet', network), history: [], section };
  } finally {
    net.dispose();
    alone?.dispose();
  }
}
