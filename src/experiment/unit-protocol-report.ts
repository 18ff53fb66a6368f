/**
 * The structured points of the protocols (rows with structure `units`: whole filters / units
 * removed by `pruning.units`, e.g. FPGM against filter norms and SNR, issue 11 item 3) in one
 * table: per model, criterion and fraction of units removed, the post-hoc accuracy beside the
 * accuracy after each protocol that re-trained the point (fine-tune), and both against the
 * dense network. Part of the report's "Protocols" section (src/experiment/protocol-report.ts).
 * @module
 */
import { markdownTable, type Row } from '../report/table.js';
import type { CurveResult, CurveRow } from './curves.js';
import { allCurveRows, type ProtocolRow } from './protocols.js';

type AnyRow = CurveRow & Partial<ProtocolRow>;

const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
const pts = (v: number) => `${v >= 0 ? '+' : ''}${(100 * v).toFixed(2)}`;

/** Markdown lines: the table, or nothing when no protocol other than post-hoc produced a structured row. */
export function unitProtocolTable(results: { name: string; curves: CurveResult }[]): string[] {
  const multi = results.length > 1;
  const out: Row[] = [];
  for (const r of results) {
    const rows = allCurveRows(r.curves).filter((x) => x.structure === 'units' && x.predictive === 'mc' && x.unitRatio !== null) as AnyRow[];
    const protocols = [...new Set(rows.map((x) => x.protocol ?? 'post-hoc'))].filter((p) => p !== 'post-hoc');
    if (!protocols.length) continue;
    const dense = r.curves.dense.accuracy;
    const keys = [...new Map(rows.map((x) => [`${x.criterion}|${x.unitRatio}`, x])).values()].sort(
      (a, b) => a.unitRatio! - b.unitRatio! || a.criterion.localeCompare(b.criterion),
    );
    for (const k of keys) {
      const at = (p: string) => rows.find((x) => (x.protocol ?? 'post-hoc') === p && x.criterion === k.criterion && x.unitRatio === k.unitRatio);
      const post = at('post-hoc');
      const row: Row = {
        ...(multi ? { model: r.name } : {}),
        criterion: k.criterion,
        'units removed': pct(k.unitRatio!),
        'weights removed': pct(k.sparsity),
        dense: pct(dense),
        'post-hoc': post ? pct(post.accuracy) : null,
        'post-hoc vs dense': post ? pts(post.accuracy - dense) : null,
      };
      for (const p of protocols) {
        const x = at(p);
        row[p] = x ? pct(x.accuracy) : null;
        row[`${p} vs dense`] = x ? pts(x.accuracy - dense) : null;
        row[`${p} epochs`] = x?.costEpochs ?? null;
      }
      out.push(row);
    }
  }
  if (!out.length) return [];
  return [
    '### Structured points (whole filters / units removed)',
    '',
    'Each criterion removes the same fraction of units (`pruning.units`); post-hoc is the masked network as trained, the protocol columns the same mask after re-training (accuracy of the mask-fixed network; epochs in all, the pretraining included). Differences in accuracy points against the dense network.',
    '',
    markdownTable(out),
    '',
  ];
}
