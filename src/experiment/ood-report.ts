/**
 * Report sections of the uncertainty analysis (issue 13): OOD AUROC against sparsity per
 * shift, accuracy / ECE under shift, selective prediction (AURC, risk–coverage), the
 * aleatoric / epistemic split, the temperature-scaled posterior-mean network beside the
 * posteriors, and the Learn-then-Test risk-control result. Called by report.ts.
 * @module
 */
import { linePlot, type LineSeries } from '../report/svg.js';
import { markdownTable, type Row } from '../report/table.js';
import type { CurveRow } from './curves.js';
import type { VariantResult } from './run.js';

const AXIS = 'compression (total / kept weights, log scale)';
const fileSafe = (name: string) => name.replace(/[^A-Za-z0-9._-]/g, '_');
const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
const num = (x: number | null | undefined, d = 4) => (x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d));

/** The weight-structure curve rows of one model and criterion for one predictive, by sparsity. */
function curveRows(r: VariantResult, crit: string, predictive: 'mc' | 'mean'): CurveRow[] {
  return r.curves.rows
    .filter(
      (x) =>
        x.criterion === crit &&
        x.predictive === predictive &&
        x.scope !== 'threshold' &&
        (x.structure ?? 'weights') === 'weights' &&
        Number.isFinite(x.compression),
    )
    .sort((a, b) => a.sparsity - b.sparsity);
}

function criteriaOf(r: VariantResult): string[] {
  return [...new Set(r.curves.rows.filter((x) => x.scope !== 'threshold' && x.criterion !== 'none').map((x) => x.criterion))];
}

/** One series per model × criterion of an `extra` column (or a row field) against compression. */
function extraSeries(results: VariantResult[], column: string, predictive: 'mc' | 'mean' = 'mc', suffix = '', dashed = false): LineSeries[] {
  const out: LineSeries[] = [];
  for (const r of results) {
    for (const c of criteriaOf(r)) {
      const rows = curveRows(r, c, predictive);
      const y = rows.map((x) => {
        const v = x.extra?.[column] ?? (x as unknown as Record<string, unknown>)[column];
        return typeof v === 'number' ? v : NaN;
      });
      if (!y.some(Number.isFinite)) continue;
      out.push({ name: `${results.length > 1 ? `${r.name}: ` : ''}${c}${suffix}`, x: rows.map((x) => x.compression), y, dashed: dashed || c === 'random' });
    }
  }
  return out;
}

/** Markdown lines (and plots via `plot`) of the uncertainty sections; empty when nothing was measured. */
export function uncertaintySections(results: VariantResult[], plot: (name: string, svg: string) => string): string[] {
  const md: string[] = [];
  const withU = results.filter((r) => r.curves.uncertainty);
  if (!withU.length) return md;

  // OOD detection.
  const shifts = [...new Set(withU.flatMap((r) => r.curves.uncertainty!.ood?.shifts.map((s) => s.name) ?? []))];
  const notes = [...new Set(withU.flatMap((r) => r.curves.uncertainty!.ood?.notes ?? []))];
  if (shifts.length || notes.length) {
    const inN = withU.find((r) => r.curves.uncertainty!.ood)?.curves.uncertainty?.ood?.inExamples;
    md.push(
      '## Out-of-distribution detection against sparsity',
      '',
      `In-distribution: the first ${inN} evaluation examples; each shift has as many examples (\`eval.ood\`). A higher score means "more OOD"; AUROC 1 = perfectly separated, 0.5 = chance. Scores: predictive entropy H[E p], mutual information (epistemic; 0 for a single-network posterior such as MAP) and 1 − max p. Every operating point's AUROC, AUPR and FPR at 95 % TPR of all three scores are in \`curves.csv\` (\`ood.<shift>.<score>.<metric>\`); the dense model's per-example scores are in \`uncertainty.json\`.`,
      '',
    );
    for (const n of notes) md.push(`- ${n}`);
    if (notes.length) md.push('');
    const denseRows: Row[] = [];
    for (const r of withU) {
      const d = r.curves.rows.find((x) => x.criterion !== 'none' && x.predictive === 'mc' && x.targetSparsity === 0);
      if (!d) continue;
      for (const s of shifts) {
        const e = d.extra ?? {};
        denseRows.push({
          model: r.name,
          shift: s,
          'AUROC entropy': e[`ood.${s}.entropy.auroc`] ?? null,
          'AUROC MI': e[`ood.${s}.mi.auroc`] ?? null,
          'AUROC 1−max p': e[`ood.${s}.maxprob.auroc`] ?? null,
          'AUPR MI': e[`ood.${s}.mi.aupr`] ?? null,
          'FPR95 MI': e[`ood.${s}.mi.fpr95`] ?? null,
          'accuracy under shift': e[`shift.${s}.accuracy`] ?? null,
          'ECE under shift': e[`shift.${s}.ece`] ?? null,
        });
      }
    }
    md.push('Dense models:', '', markdownTable(denseRows), '');
    for (const s of shifts) {
      for (const [score, label] of [
        ['entropy', 'predictive entropy'],
        ['mi', 'mutual information'],
      ] as const) {
        const ser = extraSeries(withU, `ood.${s}.${score}.auroc`);
        if (ser.length)
          md.push(
            plot(
              `ood_auroc_${score}_${fileSafe(s)}.svg`,
              linePlot({ title: `AUROC vs sparsity: test vs ${s}, by ${label}`, xLabel: AXIS, yLabel: 'AUROC', series: ser, xScale: 'log' }),
            ),
            '',
          );
      }
      const acc = extraSeries(withU, `shift.${s}.accuracy`);
      if (acc.length) {
        const ece = extraSeries(withU, `shift.${s}.ece`);
        md.push(
          plot(
            `shift_accuracy_${fileSafe(s)}.svg`,
            linePlot({ title: `Accuracy under ${s} vs sparsity`, xLabel: AXIS, yLabel: 'accuracy', series: acc, xScale: 'log' }),
          ),
          '',
        );
        md.push(
          plot(
            `shift_ece_${fileSafe(s)}.svg`,
            linePlot({ title: `ECE under ${s} vs sparsity`, xLabel: AXIS, yLabel: 'ECE (15 bins)', series: ece, xScale: 'log' }),
          ),
          '',
        );
      }
    }
  }

  // Selective prediction.
  md.push(
    '## Selective prediction',
    '',
    'Abstaining on the least certain examples: AURC = mean selective risk over all coverages (lower is better), for predictive entropy and mutual information; accuracy at 90 % / 95 % coverage in `curves.csv` (`sel.acc@90.<score>`, `sel.acc@95.<score>`).',
    '',
  );
  for (const [score, label] of [
    ['entropy', 'entropy'],
    ['mi', 'mutual information'],
  ] as const) {
    const ser = extraSeries(withU, `sel.aurc.${score}`);
    if (ser.length)
      md.push(
        plot(`aurc_${score}_vs_sparsity.svg`, linePlot({ title: `AURC (${label}) vs sparsity`, xLabel: AXIS, yLabel: 'AURC', series: ser, xScale: 'log' })),
        '',
      );
  }
  const rcSeries: LineSeries[] = [];
  for (const r of withU) {
    for (const [score, curve] of Object.entries(r.curves.uncertainty!.denseRiskCoverage)) {
      if (score === 'maxprob') continue;
      rcSeries.push({
        name: `${withU.length > 1 ? `${r.name}: ` : ''}${score} (AURC ${curve.aurc.toFixed(4)})`,
        x: curve.coverage,
        y: curve.risk,
        markers: false,
        dashed: score === 'mi',
      });
    }
  }
  if (rcSeries.length)
    md.push(
      plot(
        'risk_coverage_dense.svg',
        linePlot({ title: 'Risk–coverage, dense models', xLabel: 'coverage', yLabel: 'selective risk (error rate)', series: rcSeries }),
      ),
      '',
    );
  const selRows: Row[] = [];
  for (const r of withU) {
    for (const c of criteriaOf(r)) {
      for (const x of curveRows(r, c, 'mc')) {
        const e = x.extra ?? {};
        selRows.push({
          model: r.name,
          criterion: c,
          sparsity: pct(x.sparsity),
          accuracy: pct(x.accuracy),
          'AURC entropy': e['sel.aurc.entropy'] ?? null,
          'AURC MI': e['sel.aurc.mi'] ?? null,
          'acc @90 % (entropy)': e['sel.acc@90.entropy'] ?? null,
          'acc @95 % (entropy)': e['sel.acc@95.entropy'] ?? null,
          'H total': x.entropy,
          'E[H] aleatoric': e['expectedEntropy'] ?? null,
          'MI epistemic': x.mutualInformation,
        });
      }
    }
  }
  if (selRows.length) md.push(markdownTable(selRows), '');

  // Entropy split.
  md.push(
    '## Epistemic / aleatoric split',
    '',
    'Total predictive entropy H[E p] = expected entropy E[H p] (aleatoric) + mutual information (epistemic), means over the evaluation examples.',
    '',
  );
  const split = [...extraSeries(withU, 'expectedEntropy', 'mc', ' E[H]'), ...extraSeries(withU, 'mutualInformation', 'mc', ' MI', true)];
  if (split.length)
    md.push(
      plot(
        'entropy_split_vs_sparsity.svg',
        linePlot({ title: 'Aleatoric (solid) and epistemic (dashed) entropy vs sparsity', xLabel: AXIS, yLabel: 'nats', series: split, xScale: 'log' }),
      ),
      '',
    );

  // Temperature scaling.
  const tsRows: Row[] = [];
  for (const r of withU) {
    for (const c of criteriaOf(r)) {
      const mc = curveRows(r, c, 'mc');
      for (const m of curveRows(r, c, 'mean')) {
        const e = m.extra ?? {};
        if (e['ts.temperature'] === undefined) continue;
        const p = mc.find((x) => x.targetSparsity === m.targetSparsity);
        tsRows.push({
          model: r.name,
          method: r.method,
          criterion: c,
          sparsity: pct(m.sparsity),
          'MC acc': p ? pct(p.accuracy) : '–',
          'MC ECE': p?.ece ?? null,
          'MC adaptive ECE': p?.extra?.eceAdaptive ?? null,
          'MC classwise ECE': p?.extra?.eceClasswise ?? null,
          T: e['ts.temperature'] ?? null,
          'TS ECE': e['ts.ece'] ?? null,
          'TS adaptive ECE': e['ts.eceAdaptive'] ?? null,
          'TS classwise ECE': e['ts.eceClasswise'] ?? null,
          'TS NLL': e['ts.nll'] ?? null,
        });
      }
    }
  }
  if (tsRows.length) {
    md.push(
      '## Temperature scaling beside the posteriors',
      '',
      'At every operating point the posterior-mean network (the MAP network for `map`) gets one temperature T fitted on the validation logits (Guo et al. 2017; it does not change accuracy); its ECE is set beside the Monte Carlo predictive. Adaptive ECE uses 15 equal-mass bins, classwise ECE 15 equal-width bins per class.',
      '',
      markdownTable(tsRows),
      '',
    );
    md.push(
      plot(
        'ece_temperature_scaled_vs_sparsity.svg',
        linePlot({
          title: 'ECE vs sparsity: MC predictive (solid) and temperature-scaled mean network (dashed)',
          xLabel: AXIS,
          yLabel: 'ECE (15 bins)',
          series: [...extraSeries(withU, 'ece', 'mc'), ...extraSeries(withU, 'ts.ece', 'mean', ' + TS', true)],
          xScale: 'log',
        }),
      ),
      '',
    );
  }

  // Bayesian model reduction.
  const bmrRows: Row[] = [];
  for (const r of results) {
    const b = r.curves.bmr;
    if (!b) continue;
    const mcRows = b.rows.filter((x) => x.predictive === 'mc');
    const th = r.curves.threshold?.rows.find((x) => x.predictive === 'mc');
    for (const x of [...mcRows, ...(th ? [th] : [])]) {
      bmrRows.push({
        model: r.name,
        point: x.criterion,
        sparsity: pct(x.sparsity),
        accuracy: pct(x.accuracy),
        'drop vs dense (points)': num(100 * (r.curves.dense.accuracy - x.accuracy), 2),
        ECE: x.ece,
        NLL: x.nll,
      });
    }
  }
  if (bmrRows.length) {
    md.push(
      '## Bayesian model reduction',
      '',
      '`bmr(ΔF≥m)` prunes, with no retraining, every weight whose removal raises the evidence by at least m nats (`pruning.bmr.margin`; default 3, a Bayes factor ≥ e³, strong evidence; 0: every removal that does not lower it): ΔF = ln(σ₀/s) − μ²/(2s²) ≥ m for a Gaussian posterior N(μ, s²) under the prior N(0, σ₀²) (σ₀ from the Gaussian prior, a Laplace prior precision, or an empirical-Bayes surrogate for priors without one; see docs/guide.md). `<criterion>@bmr-sparsity` rows prune the other criteria to the same sparsity; the log α threshold point is listed when present.',
      '',
      markdownTable(bmrRows),
      '',
    );
  }

  // Risk control.
  const rc = withU.flatMap((r) => (r.curves.uncertainty!.riskControl ?? []).map((x) => ({ model: r.name, ...x })));
  if (rc.length) {
    const f = rc[0]!;
    md.push(
      '## Risk-controlled pruning (Learn-then-Test)',
      '',
      `The sparsest network whose accuracy drop against the dense model is ≤ ε = ${f.epsilon} with probability ≥ 1 − δ = ${1 - f.delta}: ${f.calibrationExamples} calibration examples, Hoeffding–Bentkus p-values of the flip rate P(dense right, pruned wrong) (an upper bound on the drop), fixed-sequence testing from dense to sparse. Predictive: ${f.predictive === 'mean' ? 'the posterior-mean network' : `the Monte Carlo predictive`}. The realized drop is measured on the other ${f.testExamples} examples.`,
      '',
      markdownTable(
        rc.map((x) => ({
          model: x.model,
          criterion: x.criterion,
          'chosen sparsity': x.chosenTargetSparsity === 0 ? 'dense (none certified)' : pct(x.chosenSparsity),
          'p-value': x.pValue,
          'calibration flip rate':
            x.chosenTargetSparsity === 0 ? null : (x.candidates.find((c) => c.targetSparsity === x.chosenTargetSparsity)?.calibrationRisk ?? null),
          'test acc dense': pct(x.denseTestAccuracy),
          'test acc chosen': pct(x.chosenTestAccuracy),
          'test drop (points)': num(100 * x.testDrop, 2),
          'candidates (sparsity: p)': x.candidates.map((c) => `${pct(c.targetSparsity)}: ${c.pValue.toPrecision(2)}`).join(', '),
        })),
      ),
      '',
    );
  }
  return md;
}
