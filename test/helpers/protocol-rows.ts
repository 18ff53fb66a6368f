/**
 * Hand-written curve rows for the tests of experiments/protocols/check.ts: one row per
 * (protocol, criterion, target sparsity) with the cost columns a run writes.
 */

/** The cost columns of a row: `epochs` of training, MAC fraction `frac` of dense. */
export const cost = (epochs: number, frac = 1) => ({
  costEpochs: epochs,
  costSteps: epochs * 80,
  costSeconds: 1,
  costTrainMacs: 1e9 * frac,
  costMacsFraction: frac,
});

export const row = (protocol: string, criterion: string, target: number, accuracy: number, extra: Record<string, unknown> = {}) => ({
  protocol,
  criterion,
  structure: 'weights',
  targetSparsity: target,
  sparsity: target,
  accuracy,
  predictive: 'mc',
  ...cost(30),
  ...extra,
});

/** Every protocol the claims read. */
export const ALL_PROTOCOLS = [{ type: 'post-hoc' }, { type: 'fine-tune' }, { type: 'at-init' }, { type: 'rigl' }, { type: 'sparsegpt' }];

/**
 * The rows every claim reads. Defaults are issue 10's reference figures (dense 95 %, one-shot
 * magnitude 43 % at 95 %, fine-tuned 94 %, SNIP 91.6 % / random 68.6 % / RigL 83.8 % at 98 %, …).
 */
export const claimRows = (o: { fineTune95?: number; snip98?: number; random98?: number; rigl98?: number } = {}) => [
  row('post-hoc', 'magnitude', 0, 0.95),
  row('post-hoc', 'magnitude', 0.95, 0.43),
  row('fine-tune', 'magnitude', 0.95, o.fineTune95 ?? 0.94, cost(40, 0.8)),
  row('at-init', 'snip', 0.98, o.snip98 ?? 0.916, cost(30, 0.02)),
  row('at-init', 'random', 0.98, o.random98 ?? 0.686, cost(30, 0.02)),
  row('rigl', 'rigl-uniform', 0.98, o.rigl98 ?? 0.838, cost(30, 0.03)),
  row('rigl', 'rigl-uniform', 0.95, 0.918, cost(30, 0.055)),
  row('sparsegpt', 'sparsegpt', 0.8, 0.937),
  row('post-hoc', 'magnitude-layer', 0.8, 0.696),
  row('sparsegpt', 'sparsegpt', 0.5, 0.946, { structure: '2:4' }),
];
