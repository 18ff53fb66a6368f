/**
 * The run report: `report.md` with tables, and SVG plots beside it (accuracy,
 * ECE and NLL against sparsity for every criterion and model; reliability diagrams;
 * per-layer sparsity at the log α threshold).
 * @module
 */
import { join } from 'node:path';
import { writeFileAtomic } from '../report/atomic.js';
import { barChart, linePlot, reliabilityDiagram, type LineSeries } from '../report/svg.js';
import { markdownTable, type Row } from '../report/table.js';
import { formatCompactionReport } from '../pruning/compaction.js';
import type { GatedEpochStats } from '../bayes/gated-methods.js';
import type { ExperimentConfig } from './config.js';
import type { CurveRow } from './curves.js';
import type { Manifest } from './manifest.js';
import type { VariantResult } from './run.js';
import { uncertaintySections } from './ood-report.js';
import { protocolSection } from './protocol-report.js';
import { writeHtmlOrWarn, writeRunHtml } from './html-report.js';

/** A model name as part of a file name (companions are named `<variant>/<name>`). */
const fileSafe = (name: string) => name.replace(/[^A-Za-z0-9._-]/g, '_');

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

/** Curves are drawn against compression on a log axis: 2×, 10×, 100× are 50 %, 90 %, 99 % sparsity, spread evenly. */
const COMPRESSION_AXIS = 'compression (total / kept weights, log scale)';

function series(results: VariantResult[], metric: keyof CurveRow): LineSeries[] {
  const out: LineSeries[] = [];
  for (const r of results) {
    const crits = [...new Set(r.curves.rows.filter((x) => x.scope !== 'threshold').map((x) => x.criterion))];
    for (const c of crits) {
      const rows = r.curves.rows
        .filter(
          (x) =>
            x.criterion === c && x.predictive === 'mc' && x.scope !== 'threshold' && (x.structure ?? 'weights') === 'weights' && Number.isFinite(x.compression),
        )
        .sort((a, b) => a.sparsity - b.sparsity);
      out.push({
        name: results.length > 1 ? `${r.name}: ${c}` : c,
        x: rows.map((x) => x.compression),
        y: rows.map((x) => (metric === 'accuracy' ? 100 * (x[metric] as number) : (x[metric] as number))),
        dashed: c === 'random',
      });
    }
  }
  return out;
}

/** Write report.md and its plots into `dir`. */
export async function writeReport(dir: string, cfg: ExperimentConfig, manifest: Manifest, results: VariantResult[]): Promise<void> {
  const files: [string, string][] = [];
  const plot = (name: string, svg: string) => {
    files.push([name, svg]);
    return `![${name}](${name})`;
  };
  const md: string[] = [];
  md.push(`# ${cfg.experiment}`, '');
  if (cfg.description) md.push(cfg.description.trim(), '');
  md.push(
    `Run \`${manifest.runId}\` · seed ${cfg.seed} · backend **${manifest.backend.name}** · data \`${cfg.data.name}\` (split \`${manifest.dataSplit}\`) · evaluated on the ${cfg.eval.split} split with ${cfg.eval.samples} posterior samples · git ${manifest.git ? manifest.git.commit.slice(0, 10) + (manifest.git.dirty ? ' (dirty)' : '') : 'n/a'}`,
    '',
    'Conventions: sparsity = fraction of weights removed, counted over weight matrices (biases not counted; `curves.csv` has both); compression = total / kept weights; NLL is the mean per example; ECE and MCE are top-label with 15 equal-width bins. Pruned weights are removed from both the posterior mean and variance. Curves use the Monte Carlo predictive unless marked *mean*. Plots put compression on a log axis so the high-sparsity end is readable: 2×, 10×, 20×, 100× are 50 %, 90 %, 95 %, 99 % sparsity.',
    '',
  );

  md.push('## Models', '');
  const modelRows: Row[] = results.map((r) => {
    const last = r.history.at(-1);
    const th = r.curves.threshold;
    return {
      model: r.name,
      method: r.method,
      network: r.network,
      weights: r.numWeights,
      epochs: r.history.length,
      'train time': r.sharedTrainingWith ? `${r.sharedTrainingWith}'s run` : `${r.trainSeconds.toFixed(0)} s`,
      'val acc': last?.validationAccuracy !== undefined ? pct(last.validationAccuracy) : '–',
      'test acc (dense)': pct(r.curves.dense.accuracy),
      'NLL (dense)': r.curves.dense.nll.toFixed(4),
      'ECE (dense)': r.curves.dense.ece.toFixed(4),
      'log α threshold: sparsity': th ? pct(th.sparsity.weights.sparsity) : '–',
      compression: th ? `${th.sparsity.weights.compression.toFixed(1)}×` : '–',
      'test acc': th ? pct(th.evaluation.accuracy) : '–',
      ECE: th ? th.evaluation.ece.toFixed(4) : '–',
    };
  });
  md.push(markdownTable(modelRows), '');
  for (const r of results) if (r.section) md.push(`## ${r.name}: ${r.section.title}`, '', r.section.text, '', markdownTable(r.section.table), ''); // method sections (PackNet)

  md.push('## Accuracy and calibration against sparsity', '');
  md.push(
    plot(
      'accuracy_vs_sparsity.svg',
      linePlot({ title: 'Test accuracy vs sparsity', xLabel: COMPRESSION_AXIS, yLabel: 'accuracy (%)', series: series(results, 'accuracy'), xScale: 'log' }),
    ),
    '',
  );
  md.push(
    plot(
      'ece_vs_sparsity.svg',
      linePlot({
        title: 'Expected calibration error vs sparsity',
        xLabel: COMPRESSION_AXIS,
        yLabel: 'ECE (15 bins)',
        series: series(results, 'ece'),
        xScale: 'log',
      }),
    ),
    '',
  );
  md.push(
    plot(
      'nll_vs_sparsity.svg',
      linePlot({
        title: 'NLL vs sparsity',
        xLabel: COMPRESSION_AXIS,
        yLabel: 'NLL (nats / example)',
        series: series(results, 'nll'),
        yScale: 'log',
        xScale: 'log',
      }),
    ),
    '',
  );

  const unitSeries = (metric: 'accuracy' | 'ece'): LineSeries[] =>
    results.flatMap((r) =>
      [...new Set(r.curves.rows.filter((x) => x.structure === 'units').map((x) => x.criterion))].map((c) => {
        const rows = r.curves.rows
          .filter((x) => x.structure === 'units' && x.criterion === c && x.predictive === 'mc')
          .sort((a, b) => a.unitRatio! - b.unitRatio!);
        return {
          name: results.length > 1 ? `${r.name}: ${c}` : c,
          x: [0, ...rows.map((x) => 100 * x.unitRatio!)],
          y: [
            metric === 'accuracy' ? 100 * r.curves.dense.accuracy : r.curves.dense.ece,
            ...rows.map((x) => (metric === 'accuracy' ? 100 * x.accuracy : x.ece)),
          ],
          dashed: c === 'random',
        };
      }),
    );
  if (results.some((r) => r.curves.rows.some((x) => x.structure === 'units'))) {
    md.push('## Structured pruning (whole units / channels)', '');
    md.push(
      `Units are scored by the ${cfg.pruning.units.aggregate} aggregate of their incoming weights' scores and removed ${cfg.pruning.units.scope === 'layer' ? 'in the same fraction from every layer' : 'by one global ranking'} (the classifier's outputs never).`,
      '',
    );
    md.push(
      plot(
        'accuracy_vs_units.svg',
        linePlot({ title: 'Test accuracy vs fraction of units removed', xLabel: 'units removed (%)', yLabel: 'accuracy (%)', series: unitSeries('accuracy') }),
      ),
      '',
    );
    md.push(
      plot(
        'ece_vs_units.svg',
        linePlot({ title: 'ECE vs fraction of units removed', xLabel: 'units removed (%)', yLabel: 'ECE (15 bins)', series: unitSeries('ece') }),
      ),
      '',
    );
  }

  for (const r of results) {
    md.push(`### ${r.name}: operating points`, '');
    const rows = r.curves.rows
      .filter((x) => x.predictive === 'mc')
      .map((x) => ({
        criterion: x.criterion,
        structure: x.structure === 'units' ? `units ${pct(x.unitRatio ?? NaN)}` : (x.structure ?? 'weights'),
        target: x.targetSparsity === null ? (x.structure === 'units' ? '–' : 'threshold') : pct(x.targetSparsity),
        sparsity: pct(x.sparsity),
        compression: `${x.compression.toFixed(1)}×`,
        accuracy: pct(x.accuracy),
        NLL: x.nll.toFixed(4),
        Brier: x.brier.toFixed(4),
        ECE: x.ece.toFixed(4),
        MCE: x.mce.toFixed(4),
        'MI (epistemic)': x.mutualInformation.toFixed(4),
      }));
    md.push(markdownTable(rows), '');
    const mean = r.curves.rows.filter((x) => x.predictive === 'mean');
    if (mean.length) {
      md.push('<details><summary>Same points with the posterior-mean network (no sampling)</summary>', '');
      md.push(
        markdownTable(
          mean.map((x) => ({ criterion: x.criterion, sparsity: pct(x.sparsity), accuracy: pct(x.accuracy), NLL: x.nll.toFixed(4), ECE: x.ece.toFixed(4) })),
        ),
        '',
        '</details>',
        '',
      );
    }
    md.push(plot(`reliability_${fileSafe(r.name)}_dense.svg`, reliabilityDiagram(r.curves.dense.reliability, { title: `${r.name}: dense` })));
    const th = r.curves.threshold;
    if (th) {
      md.push(
        plot(
          `reliability_${fileSafe(r.name)}_threshold.svg`,
          reliabilityDiagram(th.evaluation.reliability, { title: `${r.name}: log α ≥ ${cfg.pruning.logAlphaThreshold}` }),
        ),
        '',
      );
      md.push(
        plot(
          `layers_${fileSafe(r.name)}.svg`,
          barChart({
            title: `${r.name}: sparsity per layer at log α ≥ ${cfg.pruning.logAlphaThreshold}`,
            categories: th.sparsity.layers.map((l) => l.name),
            series: [{ name: 'sparsity', values: th.sparsity.layers.map((l) => l.weights.sparsity) }],
            yLabel: 'fraction removed',
            yRange: [0, 1],
          }),
        ),
        '',
      );
      md.push(
        markdownTable(
          th.sparsity.layers.map((l) => ({
            layer: l.name,
            weights: l.weights.total,
            kept: l.weights.kept,
            sparsity: pct(l.weights.sparsity),
            'MACs kept': l.macs,
            speedup: `${l.speedup.toFixed(1)}×`,
          })),
        ),
        '',
      );
    }
    const g = r.curves.gates;
    if (g) {
      const c = g.compaction;
      md.push(`#### ${r.name}: structured operating point (the gates' own decisions)`, '');
      md.push(
        `Gates closed at test time (hard-concrete ẑ = 0, spike-and-slab φ ≤ ½) remove whole inputs, units or channels. ` +
          `Inputs kept: **${c.inputs.after} of ${c.inputs.before}**; ` +
          `units kept per layer: ${c.layers.map((l) => `${l.name} ${l.shapeAfter.at(-1)}/${l.shapeBefore.at(-1)}`).join(', ')}. ` +
          `Test accuracy **${pct(g.evaluation.accuracy)}** (MC, ${g.evaluation.samples} samples), ECE ${g.evaluation.ece.toFixed(4)}, NLL ${g.evaluation.nll.toFixed(4)}; ` +
          `weights zeroed by the gate masks ${pct(g.sparsity.weights.sparsity)}, removed by compaction ${pct(c.params.removedFraction)} (compaction also drops the weights feeding a unit whose outgoing gates are all closed). Multiply-adds per example ${c.macs.before} → **${c.macs.after}** (${c.speedup.toFixed(2)}× fewer). ` +
          `Compacted vs masked network on ${g.agreementExamples} ${cfg.eval.split} inputs: largest probability difference ${g.maxAbsDiff.toExponential(2)}, largest logit difference ${g.maxLogitDiff.toExponential(2)} (logits up to ${g.logitScale.toFixed(1)} in magnitude).`,
        '',
      );
      md.push(formatCompactionReport(c), '');
    }
    md.push('');
  }

  const withDead = results.filter((r) => r.curves.deadInputs && Object.keys(r.curves.deadInputs.criteria).length);
  if (withDead.length) {
    const d0 = withDead[0]!.curves.deadInputs!;
    md.push('## Weights the data never reach', '');
    md.push(
      `${d0.features} input features are 0 in every training example, so the ${d0.weights} weights of \`${d0.weight}\` they feed do not change the likelihood: ` +
        `their exact posterior is the prior (mean 0). Mean-field VI and Laplace tend to give them the prior's large variance (low SNR); SWAG (the SGD iterates barely move them) and SVGD ` +
        `(the particles' spread in them does not grow) can give them a tiny one, hence a high SNR. The table ranks them as each criterion scored them; ` +
        (cfg.pruning.deadInputs === 'prune-first'
          ? `**the curves above prune them first** (\`pruning.deadInputs: prune-first\`, every criterion but random).`
          : `the curves above use these scores as they are (\`pruning.deadInputs: as-scored\`; \`prune-first\` prunes them first).`),
      '',
    );
    const rows = withDead.flatMap((r) =>
      Object.entries(r.curves.deadInputs!.criteria).map(([c, k]) => ({
        model: r.name,
        criterion: c,
        'median score (dead inputs)': k.medianDead.toPrecision(3),
        'median score (other weights)': k.medianOther.toPrecision(3),
        'share of all weights': pct(k.deadShare),
        'share of the top 10 %': pct(k.deadInTop10),
      })),
    );
    md.push(markdownTable(rows), '');
  }

  md.push(...protocolSection(results, plot)); // pruning.protocols (src/experiment/protocol-report.ts)
  md.push('## Training', '');
  for (const r of results) {
    if (!r.history.length || r.sharedTrainingWith) continue;
    const h = r.history;
    md.push(
      plot(
        `training_${fileSafe(r.name)}.svg`,
        linePlot({
          title: `${r.name}: accuracy during training`,
          xLabel: 'epoch',
          yLabel: 'accuracy (%)',
          series: [
            { name: 'train (sampled)', x: h.map((e) => e.epoch + 1), y: h.map((e) => 100 * e.trainAccuracy) },
            { name: 'validation (mean)', x: h.map((e) => e.epoch + 1), y: h.map((e) => 100 * (e.validationAccuracy ?? NaN)) },
          ],
        }),
      ),
      '',
    );
  }
  for (const r of results) {
    const removal = removalSummary(r.history as GatedEpochStats[]);
    if (!removal) continue;
    const h = r.history as GatedEpochStats[];
    const layers = Object.keys(h.find((e) => e.units)!.units!);
    md.push(`### ${r.name}: units removed during training`, '');
    md.push(
      `Units whose gate settled at 0 were cut out of the network while training went on. First removal after epoch ${removal.firstEpoch + 1}; ` +
        `units left at the end: ${layers.map((l) => `${l} ${h.at(-1)!.units?.[l] ?? '?'}`).join(', ')}. ` +
        `An epoch of the full network took ${removal.fullSeconds.toFixed(1)} s (mean of the epochs up to the first removal); the ${removal.laterEpochs} later epochs took ${removal.laterSeconds.toFixed(1)} s in all instead of ${(removal.fullSeconds * removal.laterEpochs).toFixed(1)} s: ` +
        `**${removal.savedSeconds.toFixed(1)} s saved (${(100 * removal.savedFraction).toFixed(1)} % of the training time)**, measured on a machine that may have been busy.`,
      '',
    );
    const ep = h.map((e) => e.epoch + 1);
    md.push(
      plot(
        `units_${fileSafe(r.name)}.svg`,
        linePlot({
          title: `${r.name}: units left per layer`,
          xLabel: 'epoch',
          yLabel: 'units',
          series: layers.map((l) => ({ name: l, x: ep, y: h.map((e) => e.units?.[l] ?? NaN) })),
        }),
      ),
      '',
    );
    md.push(
      plot(
        `epoch_seconds_${fileSafe(r.name)}.svg`,
        linePlot({
          title: `${r.name}: seconds per epoch`,
          xLabel: 'epoch',
          yLabel: 'seconds',
          series: [{ name: 'epoch time', x: ep, y: h.map((e) => e.seconds) }],
        }),
      ),
      '',
    );
  }

  md.push(...uncertaintySections(results, plot)); // issue 13: OOD, selective prediction, temperature scaling, risk control (ood-report.ts)
  md.push(
    '## Files',
    '',
    '- `config.json`: the resolved config (every default filled in)',
    '- `manifest.json`: versions, backend, seed, git commit, times',
    '- `metrics.json`: everything above as numbers, with the training history',
    '- `curves.csv`: one row per model × criterion × operating point × predictive',
    '- `report.html`: this report with interactive charts, offline (open in a browser); `figures/*.svg`: its charts as SVG',
    '',
  );
  for (const [name, svg] of files) await writeFileAtomic(join(dir, name), svg);
  await writeFileAtomic(join(dir, 'report.md'), md.join('\n'));
  await writeHtmlOrWarn(() => writeRunHtml(dir)); // report.html from curves.csv / metrics.json (src/experiment/html-report.ts)
}

/**
 * Training time saved by removing units during training: the full network's epoch time
 * (mean over the epochs up to and including the first removal) against the time the later
 * epochs actually took. Null when nothing was removed.
 */
export function removalSummary(
  history: GatedEpochStats[],
): { firstEpoch: number; fullSeconds: number; laterEpochs: number; laterSeconds: number; savedSeconds: number; savedFraction: number } | null {
  const first = history.findIndex((e) => e.removed && Object.values(e.removed).some((n) => n > 0));
  if (first < 0) return null;
  const full = history.slice(0, first + 1);
  const later = history.slice(first + 1);
  const fullSeconds = full.reduce((a, e) => a + e.seconds, 0) / full.length;
  const laterSeconds = later.reduce((a, e) => a + e.seconds, 0);
  const savedSeconds = fullSeconds * later.length - laterSeconds;
  return {
    firstEpoch: first,
    fullSeconds,
    laterEpochs: later.length,
    laterSeconds,
    savedSeconds,
    savedFraction: savedSeconds / (fullSeconds * history.length),
  };
}
