/**
 * The "Protocols" section of report.md (issue 10): a table of every protocol's operating
 * points with their cost, accuracy against sparsity per protocol, and accuracy against the
 * training multiply-adds spent.
 * @module
 */
import { linePlot, type LineSeries } from '../report/svg.js';
import { markdownTable, type Row } from '../report/table.js';
import type { CurveResult, CurveRow } from './curves.js';
import { allCurveRows, type ProtocolRow } from './protocols.js';
import { unitProtocolTable } from './unit-protocol-report.js';

type AnyRow = CurveRow & Partial<ProtocolRow>;

/** Markdown lines of the section (none when no model ran a protocol besides post-hoc). */
export function protocolSection(results: { name: string; curves: CurveResult }[], plot: (name: string, svg: string) => string): string[] {
  const everything = results.flatMap((r) => allCurveRows(r.curves).map((x) => ({ model: r.name, row: x as AnyRow })));
  const protocolOf = (x: AnyRow) => x.protocol ?? 'post-hoc';
  const sens = everything.filter(({ row }) => protocolOf(row) === 'sensitivity');
  const all = everything.filter(({ row }) => protocolOf(row) !== 'sensitivity');
  const md: string[] = sens.length ? sensitivitySection(results, sens, plot) : [];
  if (!all.some((x) => protocolOf(x.row) !== 'post-hoc')) return md;
  const points = all.filter(({ row }) => row.predictive === 'mc' && row.targetSparsity !== null && row.structure !== 'units');
  md.push('## Protocols', '');
  md.push(
    'Pruning protocols (`pruning.protocols`): *post-hoc* trains once and masks; *fine-tune* trains each masked model further with its mask fixed; *iterative* prunes in rounds with fine-tuning between; *at-init* masks a fresh network and trains it; *rigl* trains at a fixed count with a changing topology; *sparsegpt* reconstructs each layer on calibration data without retraining. ' +
      'Cost: epochs and optimizer steps spent in total (the pretraining included where the protocol starts from the trained model), wall time, and training multiply-adds implied by the masks (3 × examples × kept weights × MACs per weight, ×2 for mean-field layers), also as a fraction of dense training on the same examples.',
    '',
  );
  md.push(...unitProtocolTable(results)); // structured (pruning.units) points: post-hoc beside fine-tuned (src/experiment/unit-protocol-report.ts)
  if (!points.some(({ row }) => row.targetSparsity! > 0)) return md; // structured points only: no sparsity table or plots
  const multi = results.length > 1;
  const key = (m: string, x: AnyRow) =>
    [multi ? m : null, protocolOf(x), x.criterion, x.structure === 'weights' ? null : x.structure].filter((v) => v !== null).join(' · ');
  md.push(
    markdownTable(
      points
        .filter(({ row }) => row.targetSparsity! > 0)
        .map(({ model, row }): Row => ({
          ...(multi ? { model } : {}),
          protocol: protocolOf(row),
          criterion: row.criterion,
          structure: row.structure,
          target: `${(100 * row.targetSparsity!).toFixed(1)}%`,
          sparsity: `${(100 * row.sparsity).toFixed(2)}%`,
          accuracy: `${(100 * row.accuracy).toFixed(2)}%`,
          ECE: row.ece.toFixed(4),
          epochs: row.costEpochs ?? null,
          steps: row.costSteps ?? null,
          seconds: row.costSeconds !== undefined ? row.costSeconds.toFixed(1) : null,
          'train MACs': row.costTrainMacs !== undefined ? row.costTrainMacs.toExponential(3) : null,
          'MACs vs dense': row.costMacsFraction !== undefined ? `${(100 * row.costMacsFraction).toFixed(1)}%` : null,
        })),
    ),
    '',
  );
  const groups = new Map<string, AnyRow[]>();
  for (const { model, row } of points) {
    const k = key(model, row);
    groups.set(k, [...(groups.get(k) ?? []), row]);
  }
  const seriesOf = (x: (r: AnyRow) => number): LineSeries[] =>
    [...groups].map(([name, rs]) => {
      const sorted = [...rs].sort((a, b) => x(a) - x(b));
      return { name, x: sorted.map(x), y: sorted.map((r) => 100 * r.accuracy), dashed: name.includes('random') };
    });
  md.push(
    plot(
      'protocols_accuracy_vs_sparsity.svg',
      linePlot({ title: 'Accuracy vs sparsity per protocol', xLabel: 'sparsity (%)', yLabel: 'accuracy (%)', series: seriesOf((r) => 100 * r.sparsity) }),
    ),
    '',
    plot(
      'protocols_accuracy_vs_cost.svg',
      linePlot({
        title: 'Accuracy vs training cost',
        xLabel: 'training multiply-adds (log scale)',
        yLabel: 'accuracy (%)',
        series: seriesOf((r) => r.costTrainMacs ?? NaN),
        xScale: 'log',
      }),
    ),
    '',
  );
  return md;
}

/** Layer sensitivity (protocol `sensitivity`): accuracy drop per layer and ratio, table and plot. */
function sensitivitySection(
  results: { name: string; curves: CurveResult }[],
  sens: { model: string; row: AnyRow }[],
  plot: (name: string, svg: string) => string,
): string[] {
  const md: string[] = ['## Layer sensitivity', ''];
  md.push(
    'One layer at a time pruned at each fraction of its weights (lowest scores first), the other layers dense, no fine-tuning (Han et al. 2015); the drop is in accuracy points against the dense model.',
    '',
  );
  for (const r of results) {
    const rows = sens.filter((x) => x.model === r.name && x.row.predictive === 'mc').map((x) => x.row);
    if (!rows.length) continue;
    const dense = r.curves.dense.accuracy;
    const layers = [...new Set(rows.map((x) => x.structure))];
    const ratios = [...new Set(rows.map((x) => x.targetSparsity!))].sort((a, b) => a - b);
    md.push(`### ${r.name} (criterion ${rows[0]!.criterion}, dense ${(100 * dense).toFixed(2)}%)`, '');
    md.push(
      markdownTable(
        layers.map((l): Row => {
          const out: Row = { layer: l.replace(/^layer:/, '') };
          for (const q of ratios) {
            const x = rows.find((y) => y.structure === l && y.targetSparsity === q);
            out[`${Math.round(100 * q)}%`] = x ? `${(100 * (dense - x.accuracy)).toFixed(2)}` : null;
          }
          return out;
        }),
      ),
      '',
    );
    const series: LineSeries[] = layers.map((l) => {
      const rs = rows.filter((y) => y.structure === l).sort((a, b) => a.targetSparsity! - b.targetSparsity!);
      return { name: l.replace(/^layer:/, ''), x: rs.map((y) => 100 * y.targetSparsity!), y: rs.map((y) => 100 * y.accuracy) };
    });
    md.push(
      plot(
        `sensitivity_${r.name.replace(/[^A-Za-z0-9._-]/g, '_')}.svg`,
        linePlot({ title: `Layer sensitivity (${r.name})`, xLabel: "fraction of the layer's weights removed (%)", yLabel: 'accuracy (%)', series }),
      ),
      '',
    );
  }
  return md;
}
