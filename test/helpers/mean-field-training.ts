/**
 * Shared fixture of the fused-path tests (test/kernels/*): a seeded random classification set
 * and a short, seeded sparse-VD (or other prior) MLP training run through the real Trainer,
 * returning the variables before and after and each epoch's loss and KL.
 */
import type { Dataset } from '../../src/data/dataset.js';
import { uniformNoise } from '../../src/data/synthetic.js';
import type { PriorSpec } from '../../src/bayes/priors.js';
import { meanFieldFactory } from '../../src/inference/layer-factories.js';
import { Trainer } from '../../src/inference/trainer.js';
import { buildNetwork } from '../../src/nn/builders.js';
import type { Network } from '../../src/nn/network.js';
import { RandomStream, rootStream } from '../../src/random.js';

/** n examples of `dim` uniform [0, 1) features with uniform labels in 0…classes−1, drawn from RandomStream(key). */
export function randomDataset(key: string, n: number, dim: number, classes: number): Dataset {
  return uniformNoise({ n, dim, numClasses: classes, stream: new RandomStream(key), name: 'synthetic' });
}

export interface MeanFieldRun<T> {
  /** Every variable before training and after it (net.variables() order). */
  initial: Float32Array[];
  vars: Float32Array[];
  losses: number[];
  kls: number[];
  /** The masks set on the weight layers (empty without `mask`). */
  masks: Float32Array[];
  /** What `inspect` returned (after the trainer was built, before the first step). */
  inspected: T | undefined;
}

/**
 * Train a ReLU MLP of mean-field layers (log σ² initialized at −6) on `data` for `epochs` epochs of
 * batch 50 at a constant Adam rate 3e-3, KL weighted in from the first step; init and training
 * streams from rootStream(seed). `mask(i)` (0 or 1 per weight entry) masks every weight layer.
 */
export function trainMeanFieldMlp<T = undefined>(o: {
  data: Dataset;
  hidden: number[];
  seed: number;
  epochs: number;
  prior?: PriorSpec;
  mask?: (i: number) => number;
  inspect?: (net: Network, trainer: Trainer) => T;
}): MeanFieldRun<T> {
  const d = o.data;
  const net = buildNetwork(
    { arch: 'mlp', hidden: o.hidden, activation: 'relu' },
    d.shape,
    d.numClasses,
    meanFieldFactory(o.prior ?? { type: 'log-uniform' }, -6),
    rootStream(o.seed).fork('init'),
  );
  const masks: Float32Array[] = [];
  if (o.mask) {
    for (const l of net.weightLayers()) {
      const m = Float32Array.from({ length: l.weightShape!.reduce((a, b) => a * b, 1) }, (_, i) => o.mask!(i));
      l.setMask!(m);
      masks.push(m);
    }
  }
  const initial = net.variables().map((v) => Float32Array.from(v.dataSync()));
  const trainer = new Trainer(
    net,
    d,
    { epochs: o.epochs, batchSize: 50, lr: { name: 'constant', lr: 3e-3 }, temperature: 1 },
    rootStream(o.seed).fork('train'),
  );
  const inspected = o.inspect?.(net, trainer);
  const losses: number[] = [];
  const kls: number[] = [];
  for (let e = 0; e < o.epochs; e++) {
    const st = trainer.runEpoch();
    losses.push(st.loss);
    kls.push(st.kl);
    trainer.epoch++;
  }
  const vars = net.variables().map((v) => Float32Array.from(v.dataSync()));
  trainer.dispose();
  net.dispose();
  return { initial, vars, losses, kls, masks, inspected };
}
