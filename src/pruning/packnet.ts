/**
 * PackNet (Mallya & Lazebnik 2018): several tasks in one network by iterative pruning and
 * freezing.
 *
 * The network is an MLP whose hidden layers are shared by all tasks; each task has its own
 * output head. Every shared weight has an owner: 0 = free, t = task t (1-based), or
 * {@link BLOCKED} (never used; for baselines restricted to a given capacity). For task t:
 *
 *  1. train: the weights owned by tasks < t are used as they are (frozen constants), the
 *     free weights are trained (re-initialized He-normal from the task's seed) together with
 *     task t's head; hidden biases are trained by the first task only and frozen after it
 *     (as in the paper);
 *  2. prune: in each layer, `pruneFraction` of the weights trained for t with the smallest |w|
 *     are set to 0 and stay free; the rest become task t's (owner t);
 *  3. retrain task t's kept weights (and head) for `retrainEpochs` with the pruned ones at 0;
 *  4. freeze: task t's weights are never changed again.
 *
 * Inference for task t uses the weights owned by tasks 1..t (its task-specific mask) and
 * head t. Since training a later task changes neither those weights, nor the biases, nor
 * head t, task t's outputs are bit-identical before and after (tested).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from '../data/dataset.js';
import { featureSize } from '../data/dataset.js';
import type { RandomStream } from '../random.js';

/** Owner value of a weight no task may use (baselines with a restricted capacity). */
export const BLOCKED = 255;

export interface PackNetOptions {
  /** Hidden layer widths of the shared MLP (ReLU). */
  hidden: number[];
  /** Fraction of each task's trained weights pruned (freed for later tasks) after its training. */
  pruneFraction: number;
  epochs: number;
  retrainEpochs: number;
  batchSize: number;
  lr: number;
}

export interface TaskResult {
  task: number;
  name: string;
  /** Test accuracy right after training (before pruning). */
  accuracyTrained: number;
  /** Test accuracy after pruning and retraining (the task's final network). */
  accuracy: number;
  /** Fraction of the shared weights this task owns. */
  capacity: number;
  /** Fraction of the shared weights still free after this task. */
  freeAfter: number;
}

interface Head {
  w: tf.Variable;
  b: tf.Variable;
}

/** A PackNet MLP: shared hidden layers with per-weight task ownership, one head per task. */
export class PackNet {
  readonly values: Float32Array[];
  readonly owner: Uint8Array[];
  readonly shapes: [number, number][];
  readonly biases: Float32Array[];
  readonly heads: Head[] = [];
  tasks = 0;

  constructor(
    readonly inFeatures: number,
    readonly opts: PackNetOptions,
  ) {
    if (!(opts.pruneFraction >= 0 && opts.pruneFraction < 1)) throw new Error(`packnet: pruneFraction must be in [0, 1), got ${opts.pruneFraction}`);
    const dims = [inFeatures, ...opts.hidden];
    this.shapes = opts.hidden.map((h, i) => [dims[i]!, h]);
    this.values = this.shapes.map(([a, b]) => new Float32Array(a * b));
    this.owner = this.shapes.map(([a, b]) => new Uint8Array(a * b));
    this.biases = opts.hidden.map((h) => new Float32Array(h));
  }

  /** Marks weights no task may use (1 in `masks` = blocked). */
  block(masks: Uint8Array[]): void {
    masks.forEach((m, l) =>
      m.forEach((v, i) => {
        if (v) this.owner[l]![i] = BLOCKED;
      }),
    );
  }

  /** The 0/1 mask of the weights owned by tasks 1..t in layer l. */
  private taskMask(l: number, t: number): Float32Array {
    return Float32Array.from(this.owner[l]!, (o) => (o >= 1 && o <= t ? 1 : 0));
  }

  /** Logits of task t (1-based) for `n` examples `x` (row-major), with its task-specific masks. */
  logits(t: number, x: Float32Array, n: number): Float32Array {
    if (t < 1 || t > this.tasks) throw new Error(`packnet: task ${t} is not trained (tasks 1..${this.tasks})`);
    return tf.tidy(() => {
      let h: tf.Tensor = tf.tensor2d(x, [n, this.inFeatures]);
      this.shapes.forEach((s, l) => {
        const w = tf.mul(tf.tensor2d(this.values[l]!, s), tf.tensor2d(this.taskMask(l, t), s));
        h = tf.relu(tf.add(tf.matMul(h, w), tf.tensor1d(this.biases[l]!)));
      });
      const head = this.heads[t - 1]!;
      return tf.add(tf.matMul(h, head.w), head.b).dataSync() as Float32Array;
    });
  }

  /** Test accuracy of task t on `ds`. */
  accuracy(t: number, ds: Dataset, batch = 500): number {
    let correct = 0;
    const f = featureSize(ds);
    for (let s = 0; s < ds.n; s += batch) {
      const m = Math.min(batch, ds.n - s);
      const z = this.logits(t, ds.x.subarray(s * f, (s + m) * f), m);
      const k = ds.numClasses;
      for (let i = 0; i < m; i++) {
        let best = 0;
        for (let c = 1; c < k; c++) if (z[i * k + c]! > z[i * k + best]!) best = c;
        if (best === ds.y[s + i]) correct++;
      }
    }
    return correct / ds.n;
  }

  /** Fractions of the shared weights owned by each task and still free. */
  capacity(): { perTask: number[]; free: number; blocked: number } {
    const total = this.owner.reduce((a, o) => a + o.length, 0);
    const counts = new Array<number>(256).fill(0);
    for (const o of this.owner) for (const v of o) counts[v]!++;
    return { perTask: Array.from({ length: this.tasks }, (_, i) => counts[i + 1]! / total), free: counts[0]! / total, blocked: counts[BLOCKED]! / total };
  }

  /**
   * Adds a task: train the free weights and a new head on `train`, prune a fraction of them
   * (`prune`: true = `opts.pruneFraction`, false = none, e.g. for the last task, or a number
   * in [0, 1), this task's own fraction), retrain, freeze.
   */
  addTask(name: string, train: Dataset, test: Dataset, stream: RandomStream, prune: boolean | number = true): TaskResult {
    const fraction = prune === true ? this.opts.pruneFraction : prune === false ? 0 : prune;
    if (!(fraction >= 0 && fraction < 1)) throw new Error(`packnet: the prune fraction of task "${name}" must be in [0, 1), got ${fraction}`);
    if (featureSize(train) !== this.inFeatures) throw new Error(`packnet: task "${name}" has ${featureSize(train)} features, the network ${this.inFeatures}`);
    if (this.tasks >= BLOCKED - 1) throw new Error('packnet: too many tasks');
    const t = ++this.tasks;
    const o = this.opts;
    const init = stream.fork('init');
    const free = this.owner.map((ow) => Float32Array.from(ow, (v) => (v === 0 ? 1 : 0)));
    // Trainable copies of the shared weights: the free ones freshly He-initialized.
    const trainable = this.shapes.map(([a, b], l) => {
      const v = new Float32Array(a * b);
      const sd = Math.sqrt(2 / a);
      for (let i = 0; i < v.length; i++) if (free[l]![i]) v[i] = init.normal() * sd;
      return tf.variable(tf.tensor2d(v, [a, b]));
    });
    const frozen = this.shapes.map((s, l) =>
      tf.tensor2d(
        this.values[l]!.map((w, i) => (this.owner[l]![i]! >= 1 && this.owner[l]![i]! < t ? w : 0)),
        s,
      ),
    );
    const firstTask = t === 1;
    const biases = this.biases.map((b) => (firstTask ? tf.variable(tf.tensor1d(b)) : tf.tensor1d(b)));
    const last = this.opts.hidden[this.opts.hidden.length - 1] ?? this.inFeatures;
    const hw = new Float32Array(last * train.numClasses);
    for (let i = 0; i < hw.length; i++) hw[i] = init.normal() * Math.sqrt(2 / last);
    const head: Head = { w: tf.variable(tf.tensor2d(hw, [last, train.numClasses])), b: tf.variable(tf.zeros([train.numClasses])) };
    const vars = [...trainable, ...(firstTask ? (biases as tf.Variable[]) : []), head.w, head.b];
    const masks = free.map((f, l) => tf.tensor2d(f, this.shapes[l]!));
    const setMasks = (m: Float32Array[]) =>
      m.forEach((f, l) => {
        masks[l]!.dispose();
        masks[l] = tf.tensor2d(f, this.shapes[l]!);
      });

    const commit = () => {
      const keep = masks.map((m) => m.dataSync());
      trainable.forEach((v, l) => {
        const d = v.dataSync();
        for (let i = 0; i < d.length; i++) if (keep[l]![i]) this.values[l]![i] = d[i]!;
      });
      if (firstTask) biases.forEach((b, l) => this.biases[l]!.set(b.dataSync()));
    };
    const fit = (epochs: number, phase: string) => {
      const opt = tf.train.adam(o.lr);
      const order = stream.fork(phase);
      const f = featureSize(train);
      for (let e = 0; e < epochs; e++) {
        const perm = order.permutation(train.n);
        for (let s = 0; s < train.n; s += o.batchSize) {
          const idx = perm.subarray(s, Math.min(s + o.batchSize, train.n));
          const xb = new Float32Array(idx.length * f);
          const yb = new Int32Array(idx.length);
          idx.forEach((j, i) => {
            xb.set(train.x.subarray(j * f, (j + 1) * f), i * f);
            yb[i] = train.y[j]!;
          });
          tf.tidy(() => {
            const x = tf.tensor2d(xb, [idx.length, f]);
            const y = tf.oneHot(tf.tensor1d(yb, 'int32'), train.numClasses);
            opt.minimize(
              () => {
                let h: tf.Tensor = x;
                trainable.forEach((v, l) => {
                  const w = tf.add(frozen[l]!, tf.mul(v, masks[l]!));
                  h = tf.relu(tf.add(tf.matMul(h, w), biases[l]!));
                });
                return tf.losses.softmaxCrossEntropy(y, tf.add(tf.matMul(h, head.w), head.b)) as tf.Scalar;
              },
              false,
              vars,
            );
          });
        }
      }
      opt.dispose();
    };
    const evalNow = () => {
      commit();
      this.owner.forEach((ow, l) => {
        const m = masks[l]!.dataSync();
        for (let i = 0; i < ow.length; i++) if (m[i] && ow[i] === 0) ow[i] = t;
      });
      const acc = this.accuracy(t, test);
      return acc;
    };

    this.heads.push(head);
    fit(o.epochs, 'train');
    const accuracyTrained = evalNow();
    if (fraction > 0) {
      // Per layer: of the weights trained for t, the `fraction` smallest |w| go back to free (value 0).
      const keep = trainable.map((v, l) => {
        const d = v.dataSync();
        const ow = this.owner[l]!;
        const mine: number[] = [];
        for (let i = 0; i < ow.length; i++) if (ow[i] === t) mine.push(i);
        mine.sort((a, b) => Math.abs(d[a]!) - Math.abs(d[b]!) || a - b);
        const cut = Math.round(fraction * mine.length);
        const k = new Float32Array(ow.length);
        mine.forEach((i, r) => {
          if (r < cut) {
            ow[i] = 0;
            this.values[l]![i] = 0;
          } else k[i] = 1;
        });
        return k;
      });
      setMasks(keep);
      trainable.forEach((v, l) => v.assign(tf.mul(v, masks[l]!)));
      fit(o.retrainEpochs, 'retrain');
    }
    const accuracy = evalNow();
    trainable.forEach((v) => v.dispose());
    frozen.forEach((f) => f.dispose());
    masks.forEach((m) => m.dispose());
    biases.forEach((b) => b.dispose());
    const cap = this.capacity();
    return { task: t, name, accuracyTrained, accuracy, capacity: cap.perTask[t - 1]!, freeAfter: cap.free };
  }

  dispose(): void {
    for (const h of this.heads) (h.w.dispose(), h.b.dispose());
  }
}

/** A copy of `ds` with its features permuted by `perm` (the permuted-pixel task). */
export function permutePixels(ds: Dataset, perm: Int32Array, name: string): Dataset {
  const f = featureSize(ds);
  if (perm.length !== f) throw new Error(`permutePixels: permutation of ${perm.length} for ${f} features`);
  const x = new Float32Array(ds.x.length);
  for (let i = 0; i < ds.n; i++) for (let j = 0; j < f; j++) x[i * f + j] = ds.x[i * f + perm[j]!]!;
  return { ...ds, x, name };
}
