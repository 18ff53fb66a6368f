/**
 * Checks the newest runs of the three issue-3 configs against their targets
 * (embedded MNIST, 8,000 / 1,000 / 1,000):
 *
 *   configs/l0-input-gates.yaml    ≥ 93 % test accuracy with ≤ 400 of the 784 inputs kept by
 *                                  the gates, and the compacted network's multiply-adds equal
 *                                  to a hand count from the kept units;
 *   configs/spike-slab-nodes.yaml  ≥ 93 % test accuracy keeping ≤ 200 of the 400 hidden units;
 *   configs/unit-gates.yaml        units removed during training, later epochs faster (time saved
 *                                  reported), ≥ 93 % test accuracy with the gates' decisions.
 *   configs/lenet5-sparsevd.yaml   ≥ 97 % test accuracy (dense), and log α ≥ 3 pruning ≥ 90 %
 *                                  of the weights with ≤ 1 point lost.
 *
 *   npx tsx experiments/gates-and-conv/check.ts [l0|spike-slab|unit-gates|lenet5 ...]
 *
 * Experiments without a complete run are reported and count as failures. Exit code 1 if
 * any claim fails.
 */
import { claimsOrFail, findRun, pct, printClaims, readRun, type Claim } from '../lib/check.js';
import type { GatedEpochStats } from '../../src/bayes/gated-methods.js';
import { removalSummary } from '../../src/experiment/report.js';

interface CompactedLayer {
  name: string;
  shapeBefore: number[];
  shapeAfter: number[];
  macsPerWeight: number;
  macsAfter: number;
}

/** Kept units from the compacted layer shapes, and the multiply-adds they imply, counted by hand. */
function handCount(layers: CompactedLayer[]): { units: string; macs: number } {
  // Dense layers: [in, out]; MACs of a dense layer = kept inputs × kept outputs.
  let macs = 0;
  for (const l of layers) macs += l.shapeAfter.reduce((a, b) => a * b, 1) * l.macsPerWeight;
  return { units: layers.map((l) => `${l.name} ${l.shapeAfter[0]}→${l.shapeAfter.at(-1)}`).join(', '), macs };
}

/** Compacted vs masked: probabilities to 1e-5, logits to 1e-5 relative to their magnitude (float32 sums in another order). */
function agreement(g: { maxAbsDiff: number; maxLogitDiff?: number; logitScale?: number }): Claim {
  const rel = g.maxLogitDiff !== undefined && g.logitScale ? g.maxLogitDiff / Math.max(1, g.logitScale) : g.maxAbsDiff;
  return {
    claim: 'compacted and masked networks agree to 1e-5 (probabilities; logits relative to their size)',
    value: `probabilities ${g.maxAbsDiff.toExponential(2)}, logits ${(g.maxLogitDiff ?? NaN).toExponential(2)} of up to ${(g.logitScale ?? NaN).toFixed(1)} (${rel.toExponential(2)} relative)`,
    pass: g.maxAbsDiff <= 1e-5 && rel <= 1e-5,
  };
}

const checks: Record<string, { experiment: string; run: (m: any) => Claim[] }> = {
  l0: {
    experiment: 'l0-input-gates',
    run: (m) => {
      const v = m.variants.main;
      const g = v.gates;
      const layers = g.compaction.layers as CompactedLayer[];
      const hc = handCount(layers);
      const inputs = g.compaction.inputs.after;
      // The hand count: kept pixels × kept fc1 units + kept fc1 units × kept fc2 units + kept fc2 units × 10.
      const [l1, l2, l3] = layers as [CompactedLayer, CompactedLayer, CompactedLayer];
      const h1 = l1.shapeAfter[1]!,
        h2 = l2.shapeAfter[1]!;
      const byHand = inputs * h1 + h1 * h2 + h2 * l3.shapeAfter[1]!;
      return [
        { claim: 'trained 50 epochs', value: String(v.epochs), pass: v.epochs === 50 },
        { claim: "test accuracy ≥ 93 % with the gates' own decisions", value: pct(g.accuracy), pass: g.accuracy >= 0.93 },
        { claim: 'at most 400 of the 784 inputs kept', value: `${inputs} of ${g.compaction.inputs.before}`, pass: inputs <= 400 },
        {
          claim: 'compacted multiply-adds = hand count from the kept units',
          value: `${g.compaction.macs.after} reported, ${inputs}·${h1} + ${h1}·${h2} + ${h2}·${l3.shapeAfter[1]} = ${byHand} by hand (${hc.units})`,
          pass: g.compaction.macs.after === byHand && hc.macs === byHand,
        },
        agreement(g),
      ];
    },
  },
  'spike-slab': {
    experiment: 'spike-slab-nodes',
    run: (m) => {
      const v = m.variants.main;
      const g = v.gates;
      const layers = g.compaction.layers as CompactedLayer[];
      const hidden = layers.slice(0, -1).reduce((a, l) => a + l.shapeAfter.at(-1)!, 0);
      const hiddenBefore = layers.slice(0, -1).reduce((a, l) => a + l.shapeBefore.at(-1)!, 0);
      return [
        { claim: 'trained 50 epochs', value: String(v.epochs), pass: v.epochs === 50 },
        { claim: 'test accuracy ≥ 93 % with the nodes whose φ > ½', value: pct(g.accuracy), pass: g.accuracy >= 0.93 },
        { claim: 'at most half of the 400 hidden units kept', value: `${hidden} of ${hiddenBefore} (${handCount(layers).units})`, pass: hidden <= 200 },
        agreement(g),
      ];
    },
  },
  'unit-gates': {
    experiment: 'unit-gates',
    run: (m) => {
      const v = m.variants.main;
      const h = v.history as GatedEpochStats[];
      const r = removalSummary(h);
      const last = h.at(-1)?.units ?? {};
      return [
        {
          claim: 'units removed while training goes on',
          value: r
            ? `first at epoch ${r.firstEpoch + 1}; units left ${Object.entries(last)
                .map(([l, n]) => `${l} ${n}`)
                .join(', ')}`
            : 'none removed',
          pass: r !== null,
        },
        {
          claim: "later epochs cost less (time saved against the full network's epoch time)",
          value: r ? `${r.fullSeconds.toFixed(1)} s per full epoch; ${r.savedSeconds.toFixed(0)} s saved (${pct(r.savedFraction)} of the run)` : '–',
          pass: r !== null && r.savedSeconds > 0,
        },
        { claim: "test accuracy with the gates' own decisions ≥ 93 %", value: pct(v.gates.accuracy), pass: v.gates.accuracy >= 0.93 },
        agreement(v.gates),
      ];
    },
  },
  lenet5: {
    experiment: 'lenet5-sparsevd',
    run: (m) => {
      const v = m.variants.main;
      const th = v.threshold;
      return [
        { claim: 'backend wasm or tensorflow (conv training on wasm)', value: m.backend, pass: m.backend === 'wasm' || m.backend === 'tensorflow' },
        { claim: 'dense test accuracy ≥ 97 %', value: pct(v.dense.accuracy), pass: v.dense.accuracy >= 0.97 },
        {
          claim: 'log α ≥ 3 prunes ≥ 90 % of the weights',
          value: `${pct(th.sparsity.weights.sparsity)} (${th.sparsity.weights.compression.toFixed(1)}×)`,
          pass: th.sparsity.weights.sparsity >= 0.9,
        },
        { claim: 'with at most 1 point lost', value: `${pct(th.accuracy)} vs ${pct(v.dense.accuracy)} dense`, pass: v.dense.accuracy - th.accuracy <= 0.01 },
      ];
    },
  },
};

const wanted = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(checks);
let ok = true;
for (const key of wanted) {
  const c = checks[key];
  if (!c) {
    console.error(`unknown check "${key}"; allowed: ${Object.keys(checks).join(', ')}`);
    process.exit(2);
  }
  const dir = findRun(c.experiment);
  if (!dir) {
    console.log(`\n${c.experiment}: no complete run under results/${c.experiment}; run \`npx tsx src/cli.ts run configs/${c.experiment}.yaml\` first`);
    ok = false;
    continue;
  }
  const { metrics, manifest } = readRun(dir);
  ok =
    printClaims(
      `${c.experiment} (${dir}, ${manifest.durationSeconds ?? '?'} s)`,
      claimsOrFail(() => c.run(metrics)),
    ) && ok;
}
process.exit(ok ? 0 : 1);
