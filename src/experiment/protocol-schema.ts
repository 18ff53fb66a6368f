/**
 * The schema of `pruning.protocols` (issue 10), kept apart from the protocols themselves
 * (src/experiment/protocols.ts) so that config validation loads no tensor code.
 * @module
 */
import { z } from 'zod';
import { RIGL_DISTRIBUTIONS } from '../pruning/rigl.js';
import { criterionNames } from '../scores/registry.js';

const num = () => z.number().finite();
const epochs = () => num().int().min(0).max(10000);
const lr = () => num().gt(0).max(10);
const targets = () => z.array(num().gt(0).lt(1)).min(1).optional();
const nmPattern = z
  .string()
  .regex(/^\d+:\d+$/, 'an N:M pattern such as "2:4"')
  .refine((p) => {
    const [n, m] = p.split(':').map(Number);
    return n! >= 1 && n! < m!;
  }, 'N:M needs 1 ≤ N < M');

/** One protocol of `pruning.protocols`. `sparsities` (where allowed) overrides `pruning.sparsities` for that protocol. */
export const protocolSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('post-hoc') }).strict(),
  z
    .object({
      type: z.literal('fine-tune'),
      /** Epochs of training with the mask fixed, per operating point. */
      epochs: epochs().default(10),
      /** Adam learning rate (constant). */
      lr: lr().default(3e-4),
      sparsities: targets(),
    })
    .strict(),
  z
    .object({
      type: z.literal('iterative'),
      /** Prune steps (geometric: the same fraction of the remaining weights each) up to the largest target. */
      rounds: num().int().min(1).max(1000).default(5),
      /** Fine-tuning epochs after each prune step. */
      epochs: epochs().default(2),
      lr: lr().default(3e-4),
      sparsities: targets(),
    })
    .strict(),
  z
    .object({
      type: z.literal('at-init'),
      /** How the fresh network is scored: SNIP (|g·w| on one batch), random or magnitude. */
      criteria: z
        .array(z.enum(['snip', 'random', 'magnitude']))
        .min(1)
        .default(['snip', 'random']),
      /** Training epochs of the sparse network (default: train.epochs). */
      epochs: epochs().optional(),
      sparsities: targets(),
    })
    .strict(),
  z
    .object({
      type: z.literal('rigl'),
      distribution: z.enum(RIGL_DISTRIBUTIONS).default('uniform'),
      /** ΔT: optimizer steps between topology updates (counted across epochs: updates at t = ΔT, 2ΔT, … while t < endFraction·T). */
      deltaT: num().int().min(1).max(1e6).default(100),
      /** α: initial drop fraction (decays by cosine). */
      fraction: num().gt(0).max(1).default(0.3),
      /** Fraction of training after which the topology is frozen. */
      endFraction: num().gt(0).max(1).default(0.75),
      /** Training epochs (default: train.epochs). */
      epochs: epochs().optional(),
      sparsities: targets(),
    })
    .strict(),
  z
    .object({
      type: z.literal('gradual'),
      /** Fraction of training at which pruning starts (t0) and at which it reaches the target (t0 + nΔt). */
      start: num().min(0).lt(1).default(0.1),
      end: num().gt(0).max(1).default(0.6),
      /** n: pruning events after the first (Zhu & Gupta 2017: sparsity s_f(1 − (1 − (t − t0)/(nΔt))³)). */
      events: num().int().min(1).max(100000).default(10),
      /** Training epochs (default: train.epochs). */
      epochs: epochs().optional(),
      sparsities: targets(),
    })
    .strict(),
  z
    .object({
      type: z.literal('lottery'),
      /** Prune–rewind rounds to each target (the same fraction of the remaining weights each round). */
      rounds: num().int().min(1).max(100).default(3),
      /** Epoch whose weights the ticket is rewound to (0 = initialization; Frankle et al. 2020: early). */
      rewindEpoch: num().int().min(0).max(10000).default(0),
      /** Training epochs of each round and of the final ticket (default: train.epochs). */
      epochs: epochs().optional(),
      sparsities: targets(),
    })
    .strict(),
  z
    .object({
      type: z.literal('scratch'),
      /** Training epochs of the pruned architecture from a fresh initialization (default: train.epochs). */
      epochs: epochs().optional(),
      sparsities: targets(),
    })
    .strict(),
  z
    .object({
      type: z.literal('sensitivity'),
      /** Criterion that ranks each layer's weights (Han et al. 2015 use magnitude). */
      criterion: z.string().default('magnitude'),
      /** Fractions of one layer's weights removed, the others left as they are; no fine-tuning. */
      ratios: z.array(num().gt(0).lt(1)).min(1).default([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]),
    })
    .strict(),
  z
    .object({
      type: z.literal('sparsegpt'),
      /** Calibration examples (drawn from the training set). */
      calibration: num().int().min(1).max(1e6).default(1000),
      /** Relative dampening of the Hessian: λ = damping · mean(diag XᵀX). */
      damping: num().gt(0).max(10).default(0.01),
      blockSize: num().int().min(1).max(1e5).default(128),
      /** N:M patterns evaluated besides the unstructured sparsities. */
      nm: z.array(nmPattern).default([]),
      /** Also evaluate per-layer magnitude pruning at the same points, no retraining (rows: protocol post-hoc, criterion magnitude-layer). */
      baseline: z.boolean().default(true),
      sparsities: targets(),
    })
    .strict(),
]);

export const PROTOCOL_TYPES = ['post-hoc', 'fine-tune', 'iterative', 'at-init', 'rigl', 'sparsegpt', 'gradual', 'lottery', 'scratch', 'sensitivity'] as const;

/** `pruning.protocols`: the config key (config.ts imports it). */
export const protocolsSchema = z
  .array(protocolSchema)
  .min(1)
  .default([{ type: 'post-hoc' }]);

export type ProtocolSpec = z.infer<typeof protocolSchema>;

/** Methods whose trained network the protocols can train further / rebuild (a network posterior). */
export const PROTOCOL_METHODS = ['vi', 'map'];

/** Problems of a config's protocols that the schema cannot see (one line each, with the key). */
export function protocolIssues(c: {
  inference: { method: string };
  model: { arch: string };
  pruning: { protocols: ProtocolSpec[] };
}): { path: string; message: string }[] {
  const out: { path: string; message: string }[] = [];
  c.pruning.protocols.forEach((p, i) => {
    if (p.type === 'post-hoc') return;
    if (p.type === 'sensitivity') {
      const known = criterionNames();
      if (!known.includes(p.criterion))
        out.push({ path: `pruning.protocols.${i}.criterion`, message: `unknown criterion "${p.criterion}"; allowed: ${known.join(', ')}` });
      return;
    }
    if (p.type === 'gradual' && p.start >= p.end) out.push({ path: `pruning.protocols.${i}.end`, message: `must be above start (${p.start})` });
    if (!PROTOCOL_METHODS.includes(c.inference.method))
      out.push({
        path: `pruning.protocols.${i}`,
        message: `protocol ${p.type} needs inference.method vi or map (a network it trains or rebuilds); got "${c.inference.method}"`,
      });
    if (p.type === 'sparsegpt' && c.model.arch !== 'lenet-300-100' && c.model.arch !== 'mlp')
      out.push({
        path: `pruning.protocols.${i}`,
        message: `protocol sparsegpt handles dense layers only (model.arch lenet-300-100 or mlp); got "${c.model.arch}"`,
      });
  });
  return out;
}
