/**
 * The options of `inference.method: packnet` (`inference.packnet`) and their cross-field
 * checks, kept apart from the method (src/pruning/packnet-method.ts) so that the config
 * module imports nothing but zod from here.
 * @module
 */
import { z } from 'zod';

const TASK2 = ['auto', 'fashion-mnist', 'permuted-mnist'] as const;
const fraction = () => z.number().finite().min(0).lt(1);

/** `inference.packnet`. */
export const packnetOptionsSchema = z
  .object({
    /** The second task: Fashion-MNIST where installed (`auto`), Fashion-MNIST or an error (`fashion-mnist`), or the task-1 data with permuted pixels. */
    task2: z.enum(TASK2).default('auto'),
    /** Fraction of each task's trained weights pruned (freed for later tasks), per layer by |w|: [task 1, task 2]. */
    pruneFractions: z.array(fraction()).length(2).default([0.5, 0]),
    /** Epochs of retraining each task's kept weights after its pruning (none for a task with fraction 0). */
    retrainEpochs: z.number().int().min(0).max(10000).default(2),
    /** Train the baseline: task 2 alone in a network whose task-1 weights are blocked (same free capacity). */
    baseline: z.boolean().default(true),
  })
  .strict();

export type PackNetConfig = z.infer<typeof packnetOptionsSchema>;

/** Cross-field checks of `inference.method: packnet` (used by the config validator). */
export function packnetIssues(c: { inference: { method: string }; model: { arch: string; activation: string }; data: { name: string } }): {
  path: string;
  message: string;
}[] {
  if (c.inference.method !== 'packnet') return [];
  const out: { path: string; message: string }[] = [];
  if (c.model.arch !== 'mlp' && c.model.arch !== 'lenet-300-100')
    out.push({ path: 'model.arch', message: `inference.method packnet trains a fully connected network: use mlp or lenet-300-100 (got "${c.model.arch}")` });
  if (c.model.activation !== 'relu') out.push({ path: 'model.activation', message: `inference.method packnet uses relu (got "${c.model.activation}")` });
  return out;
}
