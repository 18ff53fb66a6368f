import { afterAll, describe, expect, it } from 'vitest';
import { fusedPaths, setFusedPaths, type FusedPaths } from '../../src/nn/fused/settings.js';
import { useWasmBackend } from '../setup-backend.js';
import { randomDataset, trainMeanFieldMlp } from '../helpers/mean-field-training.js';

useWasmBackend();

const ALL_ON: FusedPaths = { ...fusedPaths };
for (const k of Object.keys(ALL_ON) as (keyof FusedPaths)[]) ALL_ON[k] = true;
const ALL_OFF = Object.fromEntries(Object.keys(ALL_ON).map((k) => [k, false])) as unknown as FusedPaths;
afterAll(async () => {
  setFusedPaths(ALL_ON);
});

const data = randomDataset('fused-train-data', 300, 30, 4);

/** Train an MLP with the sparse-VD KL (weighted in from the first step) for 3 epochs; returns its variables and losses. */
const train = () => trainMeanFieldMlp({ data, hidden: [21, 11], seed: 5, epochs: 3 });

describe('training with the fused paths on wasm', { timeout: 120_000 }, () => {
  it('a seeded run is bit-identical run to run', () => {
    setFusedPaths(ALL_ON);
    const a = train();
    const b = train();
    expect(a.losses).toEqual(b.losses);
    for (let i = 0; i < a.vars.length; i++) expect(Array.from(a.vars[i]!)).toEqual(Array.from(b.vars[i]!));
  });

  it('agrees with the composed path to float32 rounding (the KL, KL + Adam and exp kernels differ from it bit-wise; the backend noise is another stream, so both use tfjs’s)', () => {
    setFusedPaths({ ...ALL_ON, backendNoise: false });
    const fused = train();
    setFusedPaths(ALL_OFF);
    const composed = train();
    setFusedPaths({ ...ALL_ON, backendNoise: false, klKernel: false, klAdamStep: false, expKernel: false });
    const bitExact = train();
    setFusedPaths(ALL_ON);
    // The JS noise loop, Adam and the copy-free Identity are bit-identical, so without the KL / exp kernels the runs are equal bit for bit.
    for (let i = 0; i < bitExact.vars.length; i++) expect(Array.from(bitExact.vars[i]!)).toEqual(Array.from(composed.vars[i]!));
    // With it, float32 rounding differences only: the losses and the weights agree closely after 18 Adam steps.
    for (let e = 0; e < 3; e++) expect(Math.abs(fused.losses[e]! / composed.losses[e]! - 1)).toBeLessThan(1e-4);
    let maxDiff = 0;
    let scale = 0;
    for (let i = 0; i < fused.vars.length; i++) {
      for (let j = 0; j < fused.vars[i]!.length; j++) {
        maxDiff = Math.max(maxDiff, Math.abs(fused.vars[i]![j]! - composed.vars[i]![j]!));
        scale = Math.max(scale, Math.abs(composed.vars[i]![j]!));
      }
    }
    expect(maxDiff / scale).toBeLessThan(1e-4);
  });
});
