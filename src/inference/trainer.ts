/**
 * Minibatch training of a {@link Network} by maximizing the ELBO (variational
 * inference) or the log-likelihood (MAP / ML: a network without KL terms).
 *
 * Per step the loss is the ELBO scaled to one example:
 *
 *   L = (1/B) Σ_batch −log p(y | x, w̃)  +  β(t) · T · KL(q ‖ p) / N,
 *
 * i.e. (expected NLL over the whole training set + β·T·KL) / N, estimated on a
 * minibatch of B from N examples. β(t) is the KL warm-up; T the posterior
 * temperature (T < 1 gives a cold posterior, Wenzel et al. 2020).
 * Optimizer: Adam (Kingma & Ba 2015) with a per-epoch learning-rate schedule.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from '../data/dataset.js';
import { FusedAdamOptimizer } from '../nn/fused/adam.js';
import { meanFieldStepPlan } from '../nn/fused/mean-field-step.js';
import type { Network } from '../nn/network.js';
import type { RandomStream } from '../random.js';
import { klBeta, learningRate, type KlWarmup, type LrSchedule } from './schedules.js';

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  lr: LrSchedule;
  /** KL weight after warm-up: the posterior temperature T (1 = the ELBO; < 1 = cold posterior). */
  temperature: number;
  warmup?: KlWarmup;
  /** Adam β1, β2, ε. */
  adam?: { beta1?: number; beta2?: number; epsilon?: number };
  /**
   * Precision λ of a Gaussian prior N(0, 1/λ) on every variable of the network: adds λ‖θ‖²/(2N) to the per-example
   * loss, so that training finds the MAP under that prior (0 or absent: none). Used by the Laplace fit's `mapPrior`.
   */
  priorPrecision?: number;
}

/** What one epoch did. Losses are means over the epoch's steps. */
export interface EpochStats {
  epoch: number;
  loss: number;
  nll: number;
  /** Total KL(q ‖ p) (not divided by N) at the end of the epoch's steps, averaged. */
  kl: number;
  beta: number;
  lr: number;
  trainAccuracy: number;
  validationAccuracy?: number;
  seconds: number;
  numTensors: number;
}

export interface TrainHooks {
  /** Called every `every` steps with the running means (cheap: one sync per call). */
  onStep?: (info: { epoch: number; step: number; steps: number; loss: number; nll: number; kl: number; accuracy: number }) => void;
  stepEvery?: number;
  /** Called after each epoch (checkpointing, progress). May be async. */
  onEpoch?: (stats: EpochStats, trainer: Trainer) => void | Promise<void>;
  /** Deterministic validation accuracy after each epoch. */
  validation?: Dataset;
}

/** Batches of a shuffled permutation: x [B, ...shape], one-hot y. */
function* epochBatches(ds: Dataset, batchSize: number, stream: RandomStream): Generator<{ x: Float32Array; y: Int32Array; size: number }> {
  const perm = stream.permutation(ds.n);
  const d = ds.x.length / ds.n;
  for (let start = 0; start < ds.n; start += batchSize) {
    const size = Math.min(batchSize, ds.n - start);
    const x = new Float32Array(size * d);
    const y = new Int32Array(size);
    for (let i = 0; i < size; i++) {
      const j = perm[start + i]!;
      x.set(ds.x.subarray(j * d, (j + 1) * d), i * d);
      y[i] = ds.y[j]!;
    }
    yield { x, y, size };
  }
}

/** Deterministic (posterior-mean) accuracy of `net` on `ds`. */
export function meanAccuracy(net: Network, ds: Dataset, batchSize = 1000): number {
  let correct = 0;
  const d = ds.x.length / ds.n;
  for (let s = 0; s < ds.n; s += batchSize) {
    const size = Math.min(batchSize, ds.n - s);
    const c = tf.tidy(() => {
      const x = tf.tensor(ds.x.subarray(s * d, (s + size) * d), [size, ...ds.shape]);
      const pred = tf.argMax(net.forward(x, { sample: false }), 1);
      return tf.sum(tf.cast(tf.equal(pred, tf.tensor1d(ds.y.subarray(s, s + size), 'int32')), 'float32'));
    });
    correct += c.dataSync()[0]!;
    c.dispose();
  }
  return correct / ds.n;
}

/** Holds the optimizer and step counter of a training run; resumable from a checkpoint. */
export class Trainer {
  readonly optimizer: tf.AdamOptimizer;
  /** Next epoch to run (0-based). */
  epoch = 0;

  constructor(
    readonly net: Network,
    readonly data: Dataset,
    readonly opts: TrainOptions,
    /** Root stream of training; epoch e uses the fork `epoch-e`, so a resumed run draws the same numbers. */
    readonly stream: RandomStream,
  ) {
    if (data.n === 0) throw new Error('training set is empty');
    // tfjs's Adam, with each variable's update fused into one kernel on wasm (bit-identical; src/nn/fused/adam.ts).
    this.optimizer = new FusedAdamOptimizer(opts.lr.lr, opts.adam?.beta1 ?? 0.9, opts.adam?.beta2 ?? 0.999, opts.adam?.epsilon ?? 1e-8);
  }

  /** Run the remaining epochs. */
  async run(hooks: TrainHooks = {}): Promise<EpochStats[]> {
    const out: EpochStats[] = [];
    while (this.epoch < this.opts.epochs) {
      const stats = this.runEpoch(hooks);
      out.push(stats);
      this.epoch++;
      await hooks.onEpoch?.(stats, this);
    }
    return out;
  }

  /** One epoch over the training set. */
  runEpoch(hooks: TrainHooks = {}): EpochStats {
    const { net, data, opts } = this;
    const e = this.epoch;
    const t0 = performance.now();
    const es = this.stream.fork(`epoch-${e}`);
    const shuffle = es.fork('shuffle');
    const noise = es.fork('noise');
    const lr = learningRate(opts.lr, e, opts.epochs);
    (this.optimizer as unknown as { learningRate: number }).learningRate = lr;
    const steps = Math.ceil(data.n / opts.batchSize);
    const vars = net.variables();
    const bayes = net.isBayesian;
    const fused = bayes ? meanFieldStepPlan(net, this.optimizer) : null;
    const every = hooks.stepEvery ?? 10;
    // Running sums stay on the device; they are read once per `every` steps and at the end.
    let sums = tf.zeros([4]); // loss, nll, kl, correct
    let beta = 0;
    let step = 0;
    for (const b of epochBatches(data, opts.batchSize, shuffle)) {
      beta = bayes ? klBeta(opts.warmup, e + step / steps) : 0;
      const klScale = (beta * opts.temperature) / data.n;
      const x = tf.tensor(b.x, [b.size, ...data.shape]);
      const yIdx = tf.tensor1d(b.y, 'int32');
      let parts: tf.Tensor | undefined;
      // The loss and its parts; `kl` gives the KL that goes through the tape.
      const objective = (kl: () => tf.Scalar): tf.Scalar => {
        const logits = net.forward(x, { sample: true, stream: noise, training: true });
        const nll = tf.mean(tf.neg(tf.sum(tf.mul(tf.oneHot(yIdx, net.numClasses), tf.logSoftmax(logits)), 1)));
        const correct = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), yIdx), 'float32'));
        let loss: tf.Scalar = nll as tf.Scalar;
        let klValue: tf.Tensor = tf.scalar(0);
        if (bayes) {
          klValue = kl();
          if (klScale > 0) loss = tf.add(nll, tf.mul(klValue, klScale)) as tf.Scalar;
        }
        const penalty = net.penalty(); // layer regularizers, e.g. network slimming's λ·Σ|γ| (src/nn/batchnorm.ts)
        if (penalty) loss = tf.add(loss, penalty) as tf.Scalar;
        if (opts.priorPrecision) {
          const decay = tf.mul(tf.addN(vars.map((v) => tf.sum(tf.square(v)))), opts.priorPrecision / (2 * data.n));
          loss = tf.add(loss, decay) as tf.Scalar;
        }
        parts = tf.keep(tf.stack([loss, nll, klValue, correct]));
        return loss;
      };
      if (fused) {
        // Mean-field layers' KL, its gradient and Adam in one kernel per layer (src/nn/fused/mean-field-step.ts).
        const opt = this.optimizer as FusedAdamOptimizer;
        const tapeParts = tf.tidy(() => {
          const { value, grads } = tf.variableGrads(() => objective(() => fused.restKl({ stream: noise })), vars);
          value.dispose();
          return grads;
        });
        const klFused = opt.applyGradientsWithKl(tapeParts, fused.groups, klScale);
        tf.dispose(tapeParts);
        const withKl = tf.tidy(() => tf.add(parts!, tf.stack([klScale > 0 ? tf.mul(klFused, klScale) : tf.scalar(0), tf.scalar(0), klFused, tf.scalar(0)])));
        tf.dispose([parts!, klFused]);
        parts = withKl;
      } else this.optimizer.minimize(() => objective(() => net.kl({ stream: noise })), false, vars);
      const next = tf.add(sums, parts!);
      tf.dispose([sums, x, yIdx, parts!]);
      sums = next;
      step++;
      if (hooks.onStep && (step % every === 0 || step === steps)) {
        const s = sums.dataSync();
        hooks.onStep({
          epoch: e,
          step,
          steps,
          loss: s[0]! / step,
          nll: s[1]! / step,
          kl: s[2]! / step,
          accuracy: s[3]! / Math.min(data.n, step * opts.batchSize),
        });
      }
    }
    const s = sums.dataSync();
    sums.dispose();
    const stats: EpochStats = {
      epoch: e,
      loss: s[0]! / steps,
      nll: s[1]! / steps,
      kl: s[2]! / steps,
      beta,
      lr,
      trainAccuracy: s[3]! / data.n,
      seconds: 0,
      numTensors: 0,
    };
    if (hooks.validation) stats.validationAccuracy = meanAccuracy(net, hooks.validation);
    stats.seconds = (performance.now() - t0) / 1000;
    stats.numTensors = tf.memory().numTensors;
    return stats;
  }

  /** Optimizer state and step counter, for checkpoints (values copied out; nothing stays allocated). */
  async state(): Promise<{ epoch: number; optimizer: { name: string; values: Float32Array; shape: number[] }[] }> {
    const ws = await this.optimizer.getWeights();
    const optimizer = await Promise.all(ws.map(async (w) => ({ name: w.name, shape: w.tensor.shape, values: Float32Array.from(await w.tensor.data()) })));
    // getWeights() makes a fresh scalar for the iteration count; the rest are the optimizer's own variables.
    for (const w of ws) if (!(w.tensor instanceof tf.Variable)) w.tensor.dispose();
    // Adam keeps β1^t, β2^t as running products; setWeights would recompute them with pow(),
    // which differs in the last bits. Save them so a resumed run is bit-identical.
    for (const k of ['accBeta1', 'accBeta2'] as const) optimizer.push({ name: `__${k}`, shape: [], values: Float32Array.from(this.adamState()[k].dataSync()) });
    return { epoch: this.epoch, optimizer };
  }

  /** Restore from {@link state}. */
  async restore(st: { epoch: number; optimizer: { name: string; values: Float32Array; shape: number[] }[] }): Promise<void> {
    this.epoch = st.epoch;
    if (!st.optimizer.length) return;
    const named = st.optimizer.filter((w) => !w.name.startsWith('__')).map((w) => ({ name: w.name, tensor: tf.tensor(w.values, w.shape) }));
    await this.optimizer.setWeights(named);
    // setWeights copies into new variables; the staging tensors can go.
    tf.dispose(named.map((w) => w.tensor));
    for (const k of ['accBeta1', 'accBeta2'] as const) {
      const saved = st.optimizer.find((w) => w.name === `__${k}`);
      if (saved) tf.tidy(() => this.adamState()[k].assign(tf.scalar(saved.values[0]!)));
    }
  }

  private adamState(): { accBeta1: tf.Variable; accBeta2: tf.Variable } {
    return this.optimizer as unknown as { accBeta1: tf.Variable; accBeta2: tf.Variable };
  }

  dispose(): void {
    this.optimizer.dispose();
  }
}
