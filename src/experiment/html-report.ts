/**
 * The offline HTML reports (issue 12): `report.html` beside a run's report.md, `summary.html`
 * beside a sweep's summary.md, and `bayesprune compare <dirs>... --out FILE`, which puts
 * several runs' or sweeps' curves on the same axes. Each page is one self-contained file
 * (src/report/html/page.ts) of Vega-Lite charts. Everything is read back from the files a run
 * or sweep writes (curves.csv, metrics.json, config.json, manifest.json; summary.csv,
 * pareto.csv), so columns added to curves.csv later appear in the page's column explorer
 * without code here, and the OOD / selective-prediction / protocol charts appear when their
 * columns exist. The same specs are rendered to SVG under `figures/` for papers.
 * @module
 */
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { writeFileAtomic } from '../report/atomic.js';
import { parseCsv, type CsvRecord } from '../report/html/csv.js';
import { chartsOf, esc, htmlPage, htmlTable, renderSvg, slug, type Block, type Section } from '../report/html/page.js';
import {
  barChart,
  heatmapChart,
  histogramChart,
  lineChart,
  reliabilityChart,
  type LinePoint,
  type ReliabilityDatum,
  type VlSpec,
} from '../report/html/specs.js';
import type { WeightStats } from '../report/html/weight-stats.js';

// biome-ignore lint/suspicious/noExplicitAny: metrics.json read back untyped
type Json = Record<string, any>;

/** A finished run's files, read back. */
export interface RunData {
  dir: string;
  /** Short name for compare pages (`<experiment>/<run id>` unless given). */
  label: string;
  config: Json;
  manifest: Json;
  metrics: Json;
  rows: CsvRecord[];
}

/** A sweep directory's summary files, read back. */
export interface SweepData {
  dir: string;
  label: string;
  summary: CsvRecord[];
  pareto: CsvRecord[];
  /** The sweep's axes other than seed (columns before `variant` in summary.csv). */
  axes: string[];
}

function readJson(file: string, what: string): Json {
  if (!existsSync(file)) throw new Error(`${what}: ${file} not found`);
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Json;
  } catch (e) {
    throw new Error(`${what}: ${file} is not valid JSON (${(e as Error).message})`);
  }
}

/** Read a run directory (curves.csv, metrics.json, config.json, manifest.json). */
export function readRun(dir: string, label?: string): RunData {
  const csv = join(dir, 'curves.csv');
  if (!existsSync(csv)) throw new Error(`${dir}: not a finished run (no curves.csv)`);
  const config = readJson(join(dir, 'config.json'), 'run');
  const manifest = readJson(join(dir, 'manifest.json'), 'run');
  const metrics = readJson(join(dir, 'metrics.json'), 'run');
  return {
    dir,
    label: label ?? `${config.experiment ?? basename(dirname(dir))}/${manifest.runId ?? basename(dir)}`,
    config,
    manifest,
    metrics,
    rows: parseCsv(readFileSync(csv, 'utf8')),
  };
}

/** Read a sweep directory (summary.csv, pareto.csv). */
export function readSweep(dir: string, label?: string): SweepData {
  const csv = join(dir, 'summary.csv');
  if (!existsSync(csv)) throw new Error(`${dir}: not a collected sweep (no summary.csv)`);
  const text = readFileSync(csv, 'utf8');
  const summary = parseCsv(text);
  const head = text.slice(0, text.search(/\r?\n/)).split(',');
  const axes = head.slice(0, Math.max(0, head.indexOf('variant')));
  const pareto = existsSync(join(dir, 'pareto.csv')) ? parseCsv(readFileSync(join(dir, 'pareto.csv'), 'utf8')) : [];
  return { dir, label: label ?? basename(resolve(dir)), summary, pareto, axes };
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const pct = (v: unknown) => (num(v) === null ? null : `${(100 * (v as number)).toFixed(2)} %`);
const COMPRESSION = 'compression (total / kept weights, log scale)';
/** Detail view of the high-sparsity end: from 90 % sparsity (10× compression). */
const FOCUS = 10;

/** Rows of an unstructured post-hoc pruning curve (MC predictive unless `predictive`). */
function curveRows(rows: readonly CsvRecord[], predictive = 'mc'): CsvRecord[] {
  return rows.filter(
    (r) =>
      r.predictive === predictive &&
      r.scope !== 'threshold' &&
      (r.structure ?? 'weights') === 'weights' &&
      (r.protocol ?? 'post-hoc') === 'post-hoc' &&
      num(r.compression) !== null &&
      r.criterion !== 'none',
  );
}

const multiVariant = (rows: readonly CsvRecord[]) => new Set(rows.map((r) => r.variant)).size > 1;

/** Line points of `value(row)` against compression, one series per (prefix,) variant and criterion. */
function curvePoints(
  rows: readonly CsvRecord[],
  value: (r: CsvRecord) => number | null,
  o: { prefix?: string; suffix?: string; predictive?: string } = {},
): LinePoint[] {
  const cr = curveRows(rows, o.predictive);
  const multi = multiVariant(cr);
  return cr
    .map((r) => ({
      series: `${o.prefix ? `${o.prefix}: ` : ''}${multi ? `${r.variant}: ` : ''}${r.criterion}${o.suffix ?? ''}`,
      x: r.compression as number,
      y: value(r) ?? NaN,
      dashed: r.criterion === 'random',
      tip: { sparsity: pct(r.sparsity), target: pct(r.targetSparsity) },
    }))
    .sort((a, b) => (a.series === b.series ? a.x - b.x : 0));
}

const col =
  (c: string, scale = 1) =>
  (r: CsvRecord) =>
    num(r[c]) === null ? null : scale * (r[c] as number);

function chart(id: string, spec: VlSpec, caption?: string): Block {
  return { kind: 'chart', id, spec, caption };
}

/** The three curves of report.md (accuracy, ECE, NLL against compression) for the given runs on the same axes. */
function metricCharts(runs: readonly { prefix?: string; rows: CsvRecord[] }[], idPrefix = ''): Block[] {
  const pts = (c: string, s = 1) => runs.flatMap((r) => curvePoints(r.rows, col(c, s), { prefix: r.prefix }));
  const focused = (id: string, spec: VlSpec): Block =>
    chart(
      id,
      spec,
      spec.vconcat
        ? 'Upper panel: the high-sparsity end (from 90 % sparsity); brush the lower panel to change its range. Click a legend entry to show one series (shift-click for more, double-click for all).'
        : 'Mouse wheel zooms the compression axis, drag pans, double-click resets. Click a legend entry to show one series (shift-click for more).',
    );
  return [
    focused(
      `${idPrefix}accuracy-vs-sparsity`,
      lineChart({
        title: 'Test accuracy vs sparsity',
        xTitle: COMPRESSION,
        yTitle: 'accuracy (%)',
        points: pts('accuracy', 100),
        xLog: true,
        focusFrom: FOCUS,
      }),
    ),
    focused(
      `${idPrefix}ece-vs-sparsity`,
      lineChart({
        title: 'Expected calibration error vs sparsity',
        xTitle: COMPRESSION,
        yTitle: 'ECE (15 bins)',
        points: pts('ece'),
        xLog: true,
        focusFrom: FOCUS,
      }),
    ),
    chart(
      `${idPrefix}nll-vs-sparsity`,
      lineChart({ title: 'NLL vs sparsity', xTitle: COMPRESSION, yTitle: 'NLL (nats / example)', points: pts('nll'), xLog: true, yLog: true }),
    ),
  ];
}

const reliabilityData = (bins: readonly Json[]): ReliabilityDatum[] =>
  bins.map((b) => ({ lo: b.lo, hi: b.hi, count: b.count, accuracy: num(b.accuracy), confidence: num(b.confidence) }));

/** Every section of a run's page. */
export function runSections(run: RunData): Section[] {
  const { rows, metrics, config } = run;
  const variants = Object.entries((metrics.variants ?? {}) as Record<string, Json>);
  const threshold = config.pruning?.logAlphaThreshold ?? null;
  const sections: Section[] = [];

  sections.push({
    title: 'Models',
    blocks: [
      {
        kind: 'table',
        rows: variants.map(([name, v]) => ({
          model: name,
          method: v.method,
          network: v.network,
          weights: v.numWeights,
          epochs: v.epochs,
          'train time (s)': v.sharedTrainingWith ? `${v.sharedTrainingWith}'s run` : num(v.trainSeconds),
          'val acc': pct(v.final?.validationAccuracy),
          'test acc (dense)': pct(v.dense?.accuracy),
          'NLL (dense)': num(v.dense?.nll),
          'ECE (dense)': num(v.dense?.ece),
          'log α threshold: sparsity': pct(v.threshold?.sparsity?.weights?.sparsity),
          compression: num(v.threshold?.sparsity?.weights?.compression),
          'test acc': pct(v.threshold?.accuracy),
          ECE: num(v.threshold?.ece),
        })),
      },
    ],
  });

  // Method sections (PackNet): metrics.json `section`.
  for (const [name, v] of variants)
    if (v.section)
      sections.push({
        title: `${name}: ${v.section.title}`,
        blocks: [
          { kind: 'html', html: `<p>${esc(v.section.text)}</p>` },
          { kind: 'table', rows: v.section.table },
        ],
      });
  sections.push({ title: 'Accuracy and calibration against sparsity', blocks: metricCharts([{ rows }]) });

  const units = rows.filter((r) => r.structure === 'units' && r.predictive === 'mc');
  if (units.length) {
    const multi = multiVariant(units);
    const dense = (variant: unknown) => variants.find(([n]) => n === variant)?.[1]?.dense;
    const crits = [...new Set(units.map((r) => `${r.variant}\u0000${r.criterion}`))];
    const pts = (c: 'accuracy' | 'ece', s: number): LinePoint[] =>
      crits.flatMap((k) => {
        const [v, crit] = k.split('\u0000') as [string, string];
        const name = `${multi ? `${v}: ` : ''}${crit}`;
        const d = num(dense(v)?.[c]);
        return [
          ...(d === null ? [] : [{ series: name, x: 0, y: s * d, dashed: crit === 'random' }]),
          ...units
            .filter((r) => r.variant === v && r.criterion === crit)
            .map((r) => ({ series: name, x: 100 * (r.unitRatio as number), y: s * (r[c] as number), dashed: crit === 'random' })),
        ].sort((a, b) => a.x - b.x);
      });
    sections.push({
      title: 'Structured pruning (whole units / channels)',
      blocks: [
        chart(
          'accuracy-vs-units',
          lineChart({ title: 'Test accuracy vs fraction of units removed', xTitle: 'units removed (%)', yTitle: 'accuracy (%)', points: pts('accuracy', 100) }),
        ),
        chart(
          'ece-vs-units',
          lineChart({ title: 'ECE vs fraction of units removed', xTitle: 'units removed (%)', yTitle: 'ECE (15 bins)', points: pts('ece', 1) }),
        ),
      ],
    });
  }

  // Operating points, reliability, per-layer sparsity, weight posteriors: per model.
  for (const [name, v] of variants) {
    const mine = rows.filter((r) => r.variant === name);
    const blocks: Block[] = [];
    const opRows = (predictive: string) =>
      mine
        .filter((r) => r.predictive === predictive)
        .map((r) => ({
          ...(r.protocol && r.protocol !== 'post-hoc' ? { protocol: r.protocol } : {}),
          criterion: r.criterion,
          structure: r.structure === 'units' ? `units ${pct(r.unitRatio)}` : (r.structure ?? 'weights'),
          target: r.targetSparsity === null ? (r.structure === 'units' ? '–' : 'threshold') : pct(r.targetSparsity),
          sparsity: pct(r.sparsity),
          compression: num(r.compression),
          accuracy: pct(r.accuracy),
          NLL: num(r.nll),
          Brier: num(r.brier),
          ECE: num(r.ece),
          MCE: num(r.mce),
          'MI (epistemic)': num(r.mutualInformation),
        }));
    blocks.push({ kind: 'table', rows: opRows('mc'), caption: 'Operating points (Monte Carlo predictive).' });
    const meanRows = opRows('mean');
    if (meanRows.length)
      blocks.push({
        kind: 'html',
        html: `<details><summary>Same points with the posterior-mean network (no sampling)</summary>${htmlTable(meanRows)}</details>`,
      });
    const rel = v.reliability as { dense?: Json[]; threshold?: Json[] | null } | undefined;
    if (rel?.dense)
      blocks.push(
        chart(
          `reliability-${slug(name)}-dense`,
          reliabilityChart({ title: `${name}: dense (ECE ${num(v.dense?.ece)?.toFixed(4) ?? 'n/a'})`, bins: reliabilityData(rel.dense) }),
          'Bars: accuracy per confidence bin; red boxes: over-confidence gap; dashed outlines: under-confidence gap; below: examples per bin.',
        ),
      );
    if (rel?.threshold)
      blocks.push(
        chart(
          `reliability-${slug(name)}-threshold`,
          reliabilityChart({
            title: `${name}: log α ≥ ${threshold} (ECE ${num(v.threshold?.ece)?.toFixed(4) ?? 'n/a'})`,
            bins: reliabilityData(rel.threshold),
          }),
        ),
      );
    const layers = v.threshold?.sparsity?.layers as Json[] | undefined;
    if (layers?.length) {
      blocks.push(
        chart(
          `layers-${slug(name)}`,
          barChart({
            title: `${name}: sparsity per layer at log α ≥ ${threshold}`,
            yTitle: 'fraction removed',
            yDomain: [0, 1],
            bars: layers.map((l) => ({
              category: l.name,
              series: 'sparsity',
              value: l.weights.sparsity,
              tip: { weights: l.weights.total, kept: l.weights.kept },
            })),
          }),
        ),
      );
      blocks.push({
        kind: 'table',
        rows: layers.map((l) => ({
          layer: l.name,
          weights: l.weights.total,
          kept: l.weights.kept,
          sparsity: pct(l.weights.sparsity),
          'MACs kept': l.macs,
          speedup: num(l.speedup),
        })),
      });
    }
    blocks.push(...weightBlocks(name, v.weightStats as WeightStats | null | undefined));
    sections.push({ title: `${name}: operating points, calibration and weights`, blocks });
  }

  sections.push(...protocolSections(rows));
  sections.push(...uncertaintySections(rows, variants));

  // Training.
  const training: Block[] = [];
  for (const [name, v] of variants) {
    const h = (v.history ?? []) as Json[];
    if (!h.length || v.sharedTrainingWith) continue;
    training.push(
      chart(
        `training-${slug(name)}`,
        lineChart({
          title: `${name}: accuracy during training`,
          xTitle: 'epoch',
          yTitle: 'accuracy (%)',
          points: [
            ...h.map((e) => ({ series: 'train (sampled)', x: e.epoch + 1, y: 100 * (num(e.trainAccuracy) ?? NaN) })),
            ...h.map((e) => ({ series: 'validation (mean)', x: e.epoch + 1, y: 100 * (num(e.validationAccuracy) ?? NaN) })),
          ],
        }),
      ),
    );
  }
  if (training.length) sections.push({ title: 'Training', blocks: training });

  const dead = variants.filter(([, v]) => v.deadInputs && Object.keys(v.deadInputs.criteria ?? {}).length);
  if (dead.length)
    sections.push({
      title: 'Weights the data never reach',
      blocks: [
        {
          kind: 'table',
          rows: dead.flatMap(([name, v]) =>
            Object.entries(v.deadInputs.criteria as Record<string, Json>).map(([c, k]) => ({
              model: name,
              criterion: c,
              'median score (dead inputs)': num(k.medianDead),
              'median score (other weights)': num(k.medianOther),
              'share of all weights': pct(k.deadShare),
              'share of the top 10 %': pct(k.deadInTop10),
            })),
          ),
        },
      ],
    });

  sections.push(explorerSection(rows));
  return sections;
}

/** Per-layer log α / SNR histograms and the first layer's kept-weights map. */
function weightBlocks(name: string, w: WeightStats | null | undefined): Block[] {
  if (!w?.layers?.length) return [];
  const out: Block[] = [];
  const t = w.threshold;
  out.push(
    chart(
      `logalpha-hist-${slug(name)}`,
      histogramChart({
        title: `${name}: log α = log(σ²/μ²) per layer`,
        xTitle: 'log α (values outside [−12, 12] in the end bins)',
        series: w.layers.map((l) => ({ name: `${l.layer} (${l.kept}/${l.weights} kept)`, ...l.logAlpha })),
        rules: t === null ? [] : [{ x: t, label: `log α = ${t}: weights to the right are pruned` }],
      }),
    ),
    chart(
      `snr-hist-${slug(name)}`,
      histogramChart({
        title: `${name}: signal-to-noise ratio |μ|/σ per layer`,
        xTitle: 'SNR (dB) = 10·log10(μ²/σ²) = −4.343·log α',
        series: w.layers.map((l) => ({ name: l.layer, ...l.snrDb })),
        rules: t === null ? [] : [{ x: (-10 / Math.LN10) * t, label: `log α = ${t}: weights to the left are pruned` }],
      }),
    ),
  );
  const m = w.inputMap;
  if (m)
    out.push(
      chart(
        `input-map-${slug(name)}`,
        heatmapChart({
          title: `${name}: kept ${m.layer} weights per input pixel (of ${m.outputs * m.channels}) at log α ≥ ${t}`,
          height: m.height,
          width: m.width,
          values: m.kept,
          legendTitle: 'kept weights',
        }),
        `${m.kept.filter((k) => k === 0).length} of ${m.height * m.width} pixels have no kept weight (removed from the input).`,
      ),
    );
  return out;
}

/** Protocols (issue 10): accuracy vs sparsity per protocol and criterion, and the cost columns. */
function protocolSections(rows: readonly CsvRecord[]): Section[] {
  const protos = [...new Set(rows.map((r) => r.protocol ?? 'post-hoc'))];
  if (!protos.some((p) => p !== 'post-hoc')) return [];
  const pts = rows.filter((r) => r.predictive === 'mc' && num(r.targetSparsity) !== null && r.structure !== 'units' && num(r.sparsity) !== null);
  const multi = multiVariant(pts);
  const name = (r: CsvRecord) =>
    [multi ? r.variant : null, r.protocol ?? 'post-hoc', r.criterion, r.structure === 'weights' ? null : r.structure].filter((x) => x !== null).join(' · ');
  const line = (c: string, s: number): LinePoint[] =>
    pts
      .map((r) => ({
        series: name(r),
        x: 100 * (r.sparsity as number),
        y: s * (num(r[c]) ?? NaN),
        dashed: r.criterion === 'random',
        tip: { 'training MACs': num(r.costTrainMacs), epochs: num(r.costEpochs) },
      }))
      .sort((a, b) => (a.series === b.series ? a.x - b.x : 0));
  const costCols = Object.keys(rows[0] ?? {}).filter((c) => c.startsWith('cost'));
  const blocks: Block[] = [
    chart(
      'protocols-accuracy',
      lineChart({ title: 'Accuracy vs sparsity per protocol', xTitle: 'sparsity (%)', yTitle: 'accuracy (%)', points: line('accuracy', 100) }),
    ),
    chart('protocols-ece', lineChart({ title: 'ECE vs sparsity per protocol', xTitle: 'sparsity (%)', yTitle: 'ECE', points: line('ece', 1) })),
  ];
  if (costCols.includes('costTrainMacs'))
    blocks.push(
      chart(
        'protocols-cost',
        lineChart({
          title: 'Accuracy vs training multiply-adds spent',
          xTitle: 'training multiply-adds (log scale)',
          yTitle: 'accuracy (%)',
          xLog: true,
          points: pts
            .filter((r) => (num(r.targetSparsity) ?? 0) > 0 && (num(r.costTrainMacs) ?? 0) > 0)
            .map((r) => ({ series: name(r), x: r.costTrainMacs as number, y: 100 * (r.accuracy as number), tip: { sparsity: pct(r.sparsity) } }))
            .sort((a, b) => (a.series === b.series ? a.x - b.x : 0)),
        }),
      ),
    );
  blocks.push({
    kind: 'table',
    rows: pts
      .filter((r) => (num(r.targetSparsity) ?? 0) > 0)
      .map((r) => ({
        ...(multi ? { model: r.variant } : {}),
        protocol: r.protocol,
        criterion: r.criterion,
        sparsity: pct(r.sparsity),
        accuracy: pct(r.accuracy),
        ECE: num(r.ece),
        ...Object.fromEntries(costCols.map((c) => [c, r[c]])),
      })),
  });
  return [{ title: 'Protocols', blocks }];
}

/** OOD detection, shift accuracy, selective prediction, entropy split, temperature scaling, risk control: when their columns exist. */
function uncertaintySections(rows: readonly CsvRecord[], variants: [string, Json][]): Section[] {
  const cols = Object.keys(rows[0] ?? {});
  const out: Section[] = [];
  const shifts = [...new Set(cols.map((c) => /^ood\.(.+)\.(entropy|mi|maxprob)\.auroc$/.exec(c)?.[1]).filter((s): s is string => Boolean(s)))];
  if (shifts.length) {
    const blocks: Block[] = [];
    for (const s of shifts) {
      const pts = (['entropy', 'mi', 'maxprob'] as const).flatMap((score) =>
        cols.includes(`ood.${s}.${score}.auroc`)
          ? curvePoints(rows, col(`ood.${s}.${score}.auroc`), { suffix: ` · ${score === 'maxprob' ? '1 − max p' : score}` })
          : [],
      );
      blocks.push(
        chart(
          `ood-auroc-${slug(s)}`,
          lineChart({ title: `OOD AUROC vs sparsity: test vs ${s}`, xTitle: COMPRESSION, yTitle: 'AUROC', points: pts, xLog: true }),
        ),
      );
      if (cols.includes(`shift.${s}.accuracy`))
        blocks.push(
          chart(
            `shift-${slug(s)}`,
            lineChart({
              title: `Accuracy and ECE under ${s} vs sparsity`,
              xTitle: COMPRESSION,
              yTitle: 'accuracy / ECE',
              xLog: true,
              points: [
                ...curvePoints(rows, col(`shift.${s}.accuracy`), { suffix: ' · accuracy' }),
                ...curvePoints(rows, col(`shift.${s}.ece`), { suffix: ' · ECE' }),
              ],
            }),
          ),
        );
    }
    const notes = variants.flatMap(([, v]) => (v.uncertainty?.ood?.notes ?? []) as string[]);
    if (notes.length) blocks.push({ kind: 'html', html: `<ul class="note">${[...new Set(notes)].map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` });
    out.push({ title: 'Out-of-distribution detection against sparsity', blocks });
  }
  const sel = ['entropy', 'mi', 'maxprob'].filter((s) => cols.includes(`sel.aurc.${s}`));
  const rc = variants.flatMap(([name, v]) =>
    Object.entries((v.uncertainty?.denseRiskCoverage ?? {}) as Record<string, { coverage: number[]; risk: number[]; aurc: number }>).flatMap(([score, c]) =>
      c.coverage.map((x, i) => ({
        series: `${variants.length > 1 ? `${name}: ` : ''}${score} (AURC ${num(c.aurc)?.toFixed(4)})`,
        x,
        y: c.risk[i] ?? NaN,
        dashed: score === 'mi',
      })),
    ),
  );
  if (sel.length || rc.length) {
    const blocks: Block[] = [];
    if (sel.length)
      blocks.push(
        chart(
          'aurc-vs-sparsity',
          lineChart({
            title: 'AURC vs sparsity (lower is better)',
            xTitle: COMPRESSION,
            yTitle: 'AURC',
            xLog: true,
            points: sel.flatMap((s) => curvePoints(rows, col(`sel.aurc.${s}`), { suffix: ` · ${s}` })),
          }),
        ),
      );
    if (rc.length)
      blocks.push(
        chart(
          'risk-coverage-dense',
          lineChart({ title: 'Risk–coverage, dense models', xTitle: 'coverage', yTitle: 'selective risk (error rate)', points: rc, markers: false }),
        ),
      );
    out.push({ title: 'Selective prediction', blocks });
  }
  if (cols.includes('expectedEntropy'))
    out.push({
      title: 'Epistemic / aleatoric split',
      blocks: [
        chart(
          'entropy-split',
          lineChart({
            title: 'Aleatoric E[H] (solid) and epistemic MI (dashed) vs sparsity',
            xTitle: COMPRESSION,
            yTitle: 'nats',
            xLog: true,
            points: [
              ...curvePoints(rows, col('expectedEntropy'), { suffix: ' · E[H]' }),
              ...curvePoints(rows, col('mutualInformation'), { suffix: ' · MI' }).map((p) => ({ ...p, dashed: true })),
            ],
          }),
        ),
      ],
    });
  if (cols.includes('ts.ece'))
    out.push({
      title: 'Temperature scaling beside the posteriors',
      blocks: [
        chart(
          'temperature-ece',
          lineChart({
            title: 'ECE: MC predictive vs temperature-scaled posterior mean',
            xTitle: COMPRESSION,
            yTitle: 'ECE (15 bins)',
            xLog: true,
            points: [
              ...curvePoints(rows, col('ece'), { suffix: ' · MC' }),
              ...curvePoints(rows, col('ts.ece'), { suffix: ' · TS mean', predictive: 'mean' }).map((p) => ({ ...p, dashed: true })),
            ],
          }),
        ),
      ],
    });
  const risk = variants.flatMap(([name, v]) => ((v.uncertainty?.riskControl ?? []) as Json[]).map((r) => ({ model: name, ...flatScalars(r) })));
  if (risk.length) out.push({ title: 'Risk control (Learn then Test)', blocks: [{ kind: 'table', rows: risk }] });
  return out;
}

/** The scalar fields of an object (nested arrays and objects left out). */
function flatScalars(o: Json): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v === null || typeof v !== 'object'));
}

/**
 * Every numeric column of curves.csv against compression, chosen from a drop-down: columns added
 * to the curves later (by any part of the project) appear here with no change to this file.
 */
function explorerSection(rows: readonly CsvRecord[]): Section {
  const cr = curveRows(rows);
  const skip = new Set(['targetSparsity', 'unitRatio', 'compression', 'samples']);
  const cols = Object.keys(rows[0] ?? {}).filter((c) => !skip.has(c) && cr.some((r) => num(r[c]) !== null));
  const multi = multiVariant(cr);
  const values = cr.flatMap((r) =>
    cols
      .filter((c) => num(r[c]) !== null)
      .map((c) => ({ series: `${multi ? `${r.variant}: ` : ''}${r.criterion}`, x: r.compression, metric: c, value: r[c], sparsity: pct(r.sparsity) })),
  );
  const first = cols.includes('accuracy') ? 'accuracy' : (cols[0] ?? '');
  const spec: VlSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Any curves.csv column vs sparsity (choose below)',
    width: 620,
    height: 300,
    data: { values },
    params: [{ name: 'column', value: first, bind: { input: 'select', options: cols, name: 'column ' } }],
    transform: [{ filter: 'datum.metric === column' }],
    layer: [
      {
        mark: { type: 'line', point: { filled: true, size: 30 }, tooltip: true },
        encoding: {
          x: { field: 'x', type: 'quantitative', title: COMPRESSION, scale: { type: 'log' } },
          y: { field: 'value', type: 'quantitative', title: 'value', scale: { zero: false } },
          color: { field: 'series', type: 'nominal', title: null, legend: { orient: 'bottom' } },
          opacity: { condition: { param: 'pick', value: 1 }, value: 0.12 },
          tooltip: [{ field: 'series' }, { field: 'metric', title: 'column' }, { field: 'value', format: '.5~g' }, { field: 'sparsity' }],
        },
        params: [
          { name: 'pick', select: { type: 'point', fields: ['series'] }, bind: 'legend' },
          { name: 'zoom', select: { type: 'interval', encodings: ['x'] }, bind: 'scales' },
        ],
      },
    ],
  };
  return {
    title: 'Column explorer',
    blocks: [
      {
        kind: 'html',
        html: `<p class="note">${cols.length} numeric columns of <code>curves.csv</code> (Monte Carlo predictive, unstructured post-hoc points).</p>`,
      },
      chart('explorer', spec),
    ],
  };
}

/** Sections of a sweep's page (from summary.csv and pareto.csv): curves with 95 % CI bands. */
export function sweepSections(sweeps: readonly SweepData[]): Section[] {
  const multiSweep = sweeps.length > 1;
  const curve = (s: SweepData) =>
    s.summary.filter(
      (r) => r.predictive === 'mc' && num(r.targetSparsity) !== null && (r.structure ?? 'weights') === 'weights' && num(r.sparsity_mean) !== null,
    );
  const key = (s: SweepData, r: CsvRecord) =>
    [multiSweep ? s.label : null, ...s.axes.map((a) => `${a}=${r[a]}`), r.variant, r.protocol && r.protocol !== 'post-hoc' ? r.protocol : null, r.criterion]
      .filter((x) => x !== null && x !== undefined)
      .join(' · ');
  const pts = (c: string, scale: number): LinePoint[] =>
    sweeps
      .flatMap((s) =>
        curve(s).map((r) => ({
          series: key(s, r),
          x: 100 * (r.sparsity_mean as number),
          y: scale * (num(r[`${c}_mean`]) ?? NaN),
          lo: num(r[`${c}_ci_low`]) === null ? null : scale * (r[`${c}_ci_low`] as number),
          hi: num(r[`${c}_ci_high`]) === null ? null : scale * (r[`${c}_ci_high`] as number),
          dashed: r.criterion === 'random',
          tip: { n: num(r[`${c}_n`]), std: num(r[`${c}_std`]) },
        })),
      )
      .sort((a, b) => (a.series === b.series ? a.x - b.x : 0));
  const metrics: [string, string, number][] = [
    ['accuracy', 'accuracy (%)', 100],
    ['ece', 'ECE (15 bins)', 1],
    ['nll', 'NLL (nats / example)', 1],
  ];
  const blocks: Block[] = metrics
    .filter(([c]) => sweeps.some((s) => s.summary.some((r) => num(r[`${c}_mean`]) !== null)))
    .map(([c, title, scale]) =>
      chart(
        `sweep-${c}-vs-sparsity`,
        lineChart({
          title: `Mean ${c === 'accuracy' ? 'test accuracy' : c.toUpperCase()} vs sparsity (95 % CI bands)`,
          xTitle: 'sparsity (%)',
          yTitle: title,
          points: pts(c, scale),
          focusFrom: 90,
        }),
        'Bands: 95 % Student-t confidence interval of the mean over seeds.',
      ),
    );
  const sections: Section[] = [{ title: 'Against sparsity', blocks }];
  for (const s of sweeps) {
    const cols = [
      ...s.axes,
      'variant',
      'criterion',
      'targetSparsity',
      'accuracy_mean',
      'accuracy_ci_low',
      'accuracy_ci_high',
      'ece_mean',
      'nll_mean',
      'sparsity_mean',
      'accuracy_n',
    ];
    const rows = s.summary.filter((r) => r.predictive === 'mc');
    sections.push({
      title: `${multiSweep ? `${s.label}: ` : ''}operating points (means over seeds)`,
      blocks: [{ kind: 'table', rows, columns: cols.filter((c) => rows.some((r) => r[c] !== undefined)) }],
    });
    if (s.pareto.length)
      sections.push({
        title: `${multiSweep ? `${s.label}: ` : ''}Pareto front`,
        level: 3,
        blocks: [
          {
            kind: 'table',
            rows: s.pareto,
            columns: [...s.axes, 'variant', 'criterion', 'front', 'accuracy_mean', 'sparsity_mean', 'speedup_mean', 'ece_mean'].filter(
              (c) => c in (s.pareto[0] ?? {}),
            ),
          },
        ],
      });
  }
  return sections;
}

/**
 * Write an HTML page, or print one warning line on stderr when that fails: the Markdown report and
 * the numbers are written already, and a run's results must not be lost to its HTML view.
 */
export async function writeHtmlOrWarn(write: () => Promise<{ file: string }>): Promise<void> {
  try {
    await write();
  } catch (e) {
    process.stderr.write(`warning: HTML report not written: ${e instanceof Error ? e.message : String(e)}\n`);
  }
}

/** Write every chart's SVG into `<dir>/figures/`. */
async function writeFigures(dir: string, sections: readonly Section[]): Promise<number> {
  // The column explorer is interactive only (its SVG would show just the first column).
  const charts = chartsOf(sections).filter((c) => c.id !== 'explorer');
  if (!charts.length) return 0;
  mkdirSync(join(dir, 'figures'), { recursive: true });
  for (const c of charts) await writeFileAtomic(join(dir, 'figures', `${c.id}.svg`), await renderSvg(c.spec));
  return charts.length;
}

const FIGURES_NOTE =
  'Each chart’s menu (…) saves it as SVG or PNG; the same charts, rendered headless, are in <code>figures/*.svg</code> beside this file (PNG only from the page’s menu: a headless PNG needs a native canvas package).';

/** Write `report.html` (and `figures/*.svg`) for the finished run in `dir`; returns the file and the number of charts. */
export async function writeRunHtml(dir: string): Promise<{ file: string; charts: number }> {
  const run = readRun(dir);
  const sections = runSections(run);
  const m = run.manifest;
  const c = run.config;
  const subtitle = [
    `run <code>${esc(m.runId)}</code>`,
    `seed ${esc(c.seed)}`,
    `backend <b>${esc(m.backend?.name)}</b>`,
    `data <code>${esc(c.data?.name)}</code>`,
    `evaluated on the ${esc(c.eval?.split)} split with ${esc(c.eval?.samples)} posterior samples`,
    `git ${m.git ? esc(String(m.git.commit).slice(0, 10)) + (m.git.dirty ? ' (dirty)' : '') : 'n/a'}`,
  ].join(' · ');
  const intro: Section = {
    title: 'About this report',
    blocks: [
      {
        kind: 'html',
        html: `${c.description ? `<p>${esc(String(c.description).trim())}</p>` : ''}<p class="note">Sparsity = fraction of weights removed (weight matrices; biases not counted); compression = total / kept weights, on a log axis so 2×, 10×, 100× are 50 %, 90 %, 99 % sparsity. Curves use the Monte Carlo predictive. The same numbers as report.md, from curves.csv and metrics.json. ${FIGURES_NOTE}</p>`,
      },
    ],
  };
  const all = [intro, ...sections];
  const html = htmlPage({ title: String(c.experiment ?? 'run'), subtitle, sections: all });
  const file = join(dir, 'report.html');
  await writeFileAtomic(file, html);
  await writeFigures(dir, all);
  return { file, charts: chartsOf(all).length };
}

/** Write `summary.html` (and `figures/*.svg`) for the collected sweep in `dir`. */
export async function writeSweepHtml(dir: string, experiment?: string): Promise<{ file: string; charts: number }> {
  const s = readSweep(dir);
  const sections = sweepSections([s]);
  const html = htmlPage({
    title: `Sweep: ${experiment ?? s.label}`,
    subtitle: `${esc(s.dir)} · axes: ${s.axes.length ? s.axes.map((a) => `<code>${esc(a)}</code>`).join(', ') : 'none besides seed'} · ${FIGURES_NOTE}`,
    sections,
  });
  const file = join(dir, 'summary.html');
  await writeFileAtomic(file, html);
  await writeFigures(dir, sections);
  return { file, charts: chartsOf(sections).length };
}

/** One page with the curves of several runs and / or sweeps on the same axes. */
export async function writeCompareHtml(dirs: readonly string[], out: string): Promise<{ file: string; charts: number }> {
  if (!dirs.length) throw new Error('compare: give at least one run or sweep directory');
  const runs: RunData[] = [];
  const sweeps: SweepData[] = [];
  const labels = uniqueLabels(dirs);
  dirs.forEach((d, i) => {
    if (!existsSync(d) || !statSync(d).isDirectory()) throw new Error(`compare: ${d} is not a directory`);
    if (existsSync(join(d, 'curves.csv'))) runs.push(readRun(d, labels[i]));
    else if (existsSync(join(d, 'summary.csv'))) sweeps.push(readSweep(d, labels[i]));
    else throw new Error(`compare: ${d} is neither a finished run (curves.csv) nor a collected sweep (summary.csv)`);
  });
  const sections: Section[] = [];
  if (runs.length) {
    sections.push({
      title: 'Runs: accuracy and calibration against sparsity',
      blocks: metricCharts(
        runs.map((r) => ({ prefix: r.label, rows: r.rows })),
        'runs-',
      ),
    });
    sections.push({
      title: 'Runs',
      blocks: [
        {
          kind: 'table',
          rows: runs.flatMap((r) =>
            Object.entries((r.metrics.variants ?? {}) as Record<string, Json>).map(([name, v]) => ({
              run: r.label,
              model: name,
              method: v.method,
              network: v.network,
              'test acc (dense)': pct(v.dense?.accuracy),
              'ECE (dense)': num(v.dense?.ece),
              'log α threshold: sparsity': pct(v.threshold?.sparsity?.weights?.sparsity),
              'test acc': pct(v.threshold?.accuracy),
              directory: r.dir,
            })),
          ),
        },
      ],
    });
  }
  if (sweeps.length) sections.push(...sweepSections(sweeps));
  const html = htmlPage({
    title: `Comparison of ${dirs.length} result${dirs.length > 1 ? 's' : ''}`,
    subtitle: labels.map((l) => `<code>${esc(l)}</code>`).join(' · '),
    sections,
  });
  mkdirSync(dirname(resolve(out)), { recursive: true });
  await writeFileAtomic(out, html);
  return { file: out, charts: chartsOf(sections).length };
}

/** Labels for directories: their last path component, with parents added until unique. */
function uniqueLabels(dirs: readonly string[]): string[] {
  const parts = dirs.map((d) => resolve(d).split('/').filter(Boolean));
  for (let depth = 1; depth <= 6; depth++) {
    const labels = parts.map((p) => p.slice(-depth).join('/'));
    if (new Set(labels).size === labels.length) return labels;
  }
  return dirs.map((d) => resolve(d));
}

/** `bayesprune compare <dirs...> --out FILE` (registered by src/cli.ts). */
export function registerCompareCommand(program: Command, out: { write(s: string): unknown } = process.stdout): void {
  program
    .command('compare')
    .description("one offline HTML page with several runs' or sweeps' curves on the same axes")
    .argument('<dirs...>', 'run directories (with curves.csv) and / or sweep directories (with summary.csv)')
    .requiredOption('--out <FILE>', 'the HTML file to write')
    .action(async (dirs: string[], opts: { out: string }) => {
      const r = await writeCompareHtml(dirs, opts.out);
      out.write(`${r.file}: ${r.charts} charts from ${dirs.length} director${dirs.length > 1 ? 'ies' : 'y'}\n`);
    });
}
