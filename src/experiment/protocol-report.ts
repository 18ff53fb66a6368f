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

type AnyRow = CurveRow & Partial<ProtocolRow>;

/** Markdown lines of the section (none when no model ran a protocol besides post-hoc). */
export function protocolSection(results: { name: string; curves: CurveResult }[], plot: (name: string, svg: string) => string): string[] {
  const all = results.flatMap((r) => allCurveRows(r.curves).map((x) => ({ model: r.name, row: x as AnyRow })));
  const protocolOf = (x: AnyRow) => x.protocol ?? 'post-hoc';
  if (!all.some((x) => protocolOf(x.row) !== 'post-hoc')) return [];
  const points = all.filter(({ row }) => row.predictive === 'mc' && row.targetSparsity !== null && row.structure !== 'units');
  const md: string[] = ['## Protocols', ''];
  md.push(
    'Pruning protocols (`pruning.protocols`): *post-hoc* trains once and masks; *fine-tune* trains each masked model further with its mask fixed; *iterative* prunes in rounds with fine-tuning between; *at-init* masks a fresh network and trains it; *rigl* trains at a fixed count with a changing topology; *sparsegpt* reconstructs each layer on calibration data without retraining. ' +
      'Cost: epochs and optimizer steps spent in total (the pretraining included where the protocol starts from the trained model), wall time, and training multiply-adds implied by the masks (3 × examples × kept weights × MACs per weight, ×2 for mean-field layers), also as a fraction of dense training on the same examples.',
    '',
  );
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
          seconds: row.costSeconds !== undefined ? Number(row.costSeconds.toFixed(1)) : null,
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
