/**
 * The options of `inference.method: dcff` (`inference.dcff`) and their cross-field checks,
 * kept apart from the method (src/pruning/dcff.ts) so that the config module imports
 * nothing but zod from here.
 * @module
 */
import { z } from 'zod';

/** Temperature schedules of DCFF (kept in sync with `DCFF_SCHEDULES` of dcff.ts). */
const SCHEDULES = ['sigmoid', 'linear', 'exponential'] as const;

/** `inference.dcff`. */
export const dcffOptionsSchema = z
  .object({
    /** Fraction of each conv layer's filters removed: n − round(ratio·n) fused filters are kept (at least 1). */
    ratio: z.number().finite().gt(0).lt(1).default(0.5),
    /** Kept (fused) filters per conv layer by name, e.g. { conv1: 10, conv2: 20 }; overrides `ratio` for that layer. */
    keep: z.record(z.string(), z.number().int().min(1)).default({}),
    /** Temperature at epoch 0 (the paper: 1). */
    tStart: z.number().finite().gt(0).default(1),
    /** Temperature reached at the end of training (the paper: 10⁴); large = one-hot distributions. */
    tMax: z.number().finite().gt(0).default(1e4),
    /** `sigmoid` (the paper's schedule in the epoch), `linear` or `exponential` from tStart to tMax. */
    schedule: z.enum(SCHEDULES).default('sigmoid'),
    /** Steepness k of the sigmoid schedule per epoch (the paper: 1). */
    sigmoidK: z.number().finite().gt(0).max(100).default(1),
    /** Training epochs of the DCFF network (default: train.epochs); e.g. train.epochs + fineTuneEpochs for the same epoch count as FPGM's training plus fine-tuning. Without fpgm prefer train.epochs (the run's progress line counts those). */
    epochs: z.number().int().min(1).max(10000).nullable().default(null),
    /** Also train the dense network (main model) and prune it by FPGM at the same per-layer ratio, compacted and fine-tuned (companion fpgm-<ratio>). */
    fpgm: z.boolean().default(true),
    /** Fine-tuning epochs of the FPGM-pruned network. */
    fineTuneEpochs: z.number().int().min(0).max(10000).default(2),
    /** Adam learning rate (constant) of that fine-tuning. */
    fineTuneLr: z.number().finite().gt(0).max(10).default(5e-4),
  })
  .strict();

export type DcffOptions = z.infer<typeof dcffOptionsSchema>;

/** Cross-field checks of `inference.method: dcff` (used by the config validator). */
export function dcffIssues(c: { inference: { method: string; dcff?: DcffOptions }; model: { arch: string } }): { path: string; message: string }[] {
  if (c.inference.method !== 'dcff') return [];
  const out: { path: string; message: string }[] = [];
  if (c.model.arch !== 'lenet-5-caffe' && c.model.arch !== 'bn-cnn')
    out.push({ path: 'model.arch', message: `inference.method dcff fuses conv filters: use lenet-5-caffe or bn-cnn (got "${c.model.arch}")` });
  const d = c.inference.dcff;
  if (d && !(d.tMax >= d.tStart)) out.push({ path: 'inference.dcff.tMax', message: `must be at least inference.dcff.tStart (${d.tStart}), got ${d.tMax}` });
  return out;
}
