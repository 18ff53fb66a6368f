/**
 * Vega-Lite specifications of the HTML report's charts. Every spec carries its data inline
 * (`data.values`), so a page needs no network and the same spec renders in the browser
 * (vega-embed: tooltips, legend toggling, zoom) and headless in Node (SVG for papers).
 *
 * Interaction conventions: line charts have a point selection bound to the legend (click a
 * legend entry to show only that series, shift-click to add more, double-click to show all)
 * and an interval selection bound to the x scale (mouse wheel zooms, drag pans, double-click
 * resets). Charts against sparsity put compression (total / kept weights) on a log axis, so
 * the high-sparsity end is spread out, and come with a detail view of the high-sparsity end
 * whose range is set by brushing the overview below it.
 * @module
 */

/** A Vega-Lite spec (kept untyped here: the page and the renderer pass it through). */
export type VlSpec = Record<string, unknown>;

export const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

/** One point of one series of a line chart. `lo`/`hi` draw a band (e.g. a 95 % CI); `tip` adds tooltip fields. */
export interface LinePoint {
  series: string;
  x: number;
  y: number;
  lo?: number | null;
  hi?: number | null;
  dashed?: boolean;
  tip?: Record<string, string | number | null>;
}

export interface LineChartOptions {
  title: string;
  xTitle: string;
  yTitle: string;
  points: readonly LinePoint[];
  xLog?: boolean;
  yLog?: boolean;
  /** Number format of the tooltips' x / y (d3-format). */
  xFormat?: string;
  yFormat?: string;
  /** Draw the points (default true). */
  markers?: boolean;
  /** Add a detail view of x ≥ `focusFrom` (brushable overview below); default none. */
  focusFrom?: number;
  width?: number;
  height?: number;
}

const tooltipFields = (points: readonly LinePoint[]) => [...new Set(points.flatMap((p) => Object.keys(p.tip ?? {})))];

/** Flat records for the spec: tooltip fields become columns `tip_<i>`. */
function records(points: readonly LinePoint[]): Record<string, unknown>[] {
  const fields = tooltipFields(points);
  return points
    .filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y))
    .map((p) => {
      const r: Record<string, unknown> = { series: p.series, x: p.x, y: p.y, dashed: Boolean(p.dashed) };
      if (p.lo !== undefined && p.lo !== null && Number.isFinite(p.lo)) r.lo = p.lo;
      if (p.hi !== undefined && p.hi !== null && Number.isFinite(p.hi)) r.hi = p.hi;
      fields.forEach((f, i) => {
        r[`tip_${i}`] = p.tip?.[f] ?? null;
      });
      return r;
    });
}

/** Number of distinct series a line chart draws (lines with at least one finite point). */
export function seriesCount(points: readonly LinePoint[]): number {
  return new Set(points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y)).map((p) => p.series)).size;
}

/** Line chart: one coloured line per series, optional CI band, points with tooltips, legend toggling, x zoom. */
export function lineChart(o: LineChartOptions): VlSpec {
  const values = records(o.points);
  const fields = tooltipFields(o.points);
  const hasBand = values.some((r) => r.lo !== undefined && r.hi !== undefined);
  const xScale = o.xLog ? { type: 'log' } : { zero: false };
  const yScale = o.yLog ? { type: 'log' } : { zero: false };
  const names = [...new Set(values.map((r) => r.series as string))];
  const color = {
    field: 'series',
    type: 'nominal',
    title: null,
    scale: { domain: names },
    legend: { orient: 'bottom', columns: 2, labelLimit: 420, symbolOpacity: 1 },
  };
  const opacity = (on: number, off: number) => ({ condition: { param: 'pick', value: on }, value: off });
  const tooltip = [
    { field: 'series', title: 'series' },
    { field: 'x', title: o.xTitle, format: o.xFormat ?? '.4~g' },
    { field: 'y', title: o.yTitle, format: o.yFormat ?? '.4~g' },
    ...(hasBand
      ? [
          { field: 'lo', title: '95 % CI low', format: '.4~g' },
          { field: 'hi', title: '95 % CI high', format: '.4~g' },
        ]
      : []),
    ...fields.map((f, i) => ({ field: `tip_${i}`, title: f })),
  ];
  const layers = (x: Record<string, unknown>, interactive: boolean, yDomain?: [number, number]): VlSpec[] => {
    const enc = { x, y: { field: 'y', type: 'quantitative', title: o.yTitle, scale: yDomain ? { ...yScale, domain: yDomain } : yScale }, color };
    const out: VlSpec[] = [];
    if (hasBand)
      out.push({
        mark: { type: 'area', clip: true },
        encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, color, opacity: opacity(0.2, 0.03) },
      });
    out.push({
      mark: { type: 'line', clip: true, strokeWidth: 2 },
      encoding: { ...enc, opacity: opacity(1, 0.12), strokeDash: { condition: { test: 'datum.dashed', value: [6, 4] }, value: [1, 0] } },
      ...(interactive
        ? {
            params: [
              { name: 'pick', select: { type: 'point', fields: ['series'] }, bind: 'legend' },
              { name: 'zoom', select: { type: 'interval', encodings: ['x'] }, bind: 'scales' },
            ],
          }
        : {}),
    });
    if (o.markers !== false) out.push({ mark: { type: 'point', filled: true, size: 36, clip: true }, encoding: { ...enc, opacity: opacity(1, 0.1), tooltip } });
    return out;
  };
  const xEnc = { field: 'x', type: 'quantitative', title: o.xTitle, scale: xScale };
  const width = o.width ?? 620;
  const height = o.height ?? 330;
  const xs = values.map((r) => r.x as number);
  const xMax = xs.length ? Math.max(...xs) : 1;
  if (o.focusFrom !== undefined && xs.some((x) => x >= o.focusFrom!) && xMax > o.focusFrom) {
    // Focus + context: the detail view shows the brushed x range, initially the high-sparsity end.
    // Its y range fits the values (and bands) of that end: a scale domain follows all the data, not the brushed part.
    const from = o.focusFrom * (o.xLog ? 0.98 : 1) - (o.xLog ? 0 : 0.01 * xMax);
    const ys = values
      .filter((r) => (r.x as number) >= from)
      .flatMap((r) => [r.y, r.lo, r.hi])
      .filter((v): v is number => typeof v === 'number' && (!o.yLog || v > 0));
    const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
    const pad = y1 > y0 ? 0.05 * (y1 - y0) : Math.max(1e-6, 0.05 * Math.abs(y0));
    const focusY: [number, number] = o.yLog ? [y0 / 1.1, y1 * 1.1] : [y0 - pad, y1 + pad];
    return {
      $schema: SCHEMA,
      title: o.title,
      data: { values },
      vconcat: [
        {
          width,
          height,
          title: { text: 'high-sparsity end (brush the overview below to change the range)', fontSize: 11, fontWeight: 'normal' },
          // Only the brushed points (the y range is set above).
          transform: [{ filter: { param: 'brush' } }],
          layer: layers({ ...xEnc, scale: { ...xScale, domain: { param: 'brush' } } }, true, focusY).map((l, i) =>
            // bind:'scales' zoom would fight the brushed domain: the detail view only toggles series.
            i === (hasBand ? 1 : 0) ? { ...l, params: [{ name: 'pick', select: { type: 'point', fields: ['series'] }, bind: 'legend' }] } : l,
          ),
        },
        {
          width,
          height: 90,
          layer: [
            {
              mark: { type: 'line', strokeWidth: 1.5 },
              encoding: { x: xEnc, y: { field: 'y', type: 'quantitative', title: null, scale: yScale }, color, opacity: opacity(1, 0.12) },
              // Slightly wider than [focusFrom, xMax] so that points on the ends are inside.
              params: [
                {
                  name: 'brush',
                  select: { type: 'interval', encodings: ['x'] },
                  value: { x: [from, xMax * 1.02] },
                },
              ],
            },
          ],
        },
      ],
      resolve: { scale: { color: 'shared' } },
    };
  }
  return { $schema: SCHEMA, title: o.title, width, height, data: { values }, layer: layers(xEnc, true) };
}

export interface BarDatum {
  category: string;
  series: string;
  value: number;
  tip?: Record<string, string | number | null>;
}

/** Grouped bar chart (e.g. sparsity per layer). */
export function barChart(o: { title: string; yTitle: string; bars: readonly BarDatum[]; yDomain?: [number, number]; width?: number }): VlSpec {
  const fields = [...new Set(o.bars.flatMap((b) => Object.keys(b.tip ?? {})))];
  const values = o.bars.map((b) => {
    const r: Record<string, unknown> = { category: b.category, series: b.series, value: b.value };
    fields.forEach((f, i) => {
      r[`tip_${i}`] = b.tip?.[f] ?? null;
    });
    return r;
  });
  const categories = [...new Set(o.bars.map((b) => b.category))];
  return {
    $schema: SCHEMA,
    title: o.title,
    width: o.width ?? Math.max(240, Math.min(620, 70 * categories.length)),
    height: 260,
    data: { values },
    mark: { type: 'bar', tooltip: true },
    encoding: {
      x: { field: 'category', type: 'nominal', title: null, sort: categories, axis: { labelAngle: categories.length > 6 ? -40 : 0 } },
      xOffset: { field: 'series' },
      y: { field: 'value', type: 'quantitative', title: o.yTitle, ...(o.yDomain ? { scale: { domain: o.yDomain } } : {}) },
      color: { field: 'series', type: 'nominal', title: null, legend: new Set(o.bars.map((b) => b.series)).size > 1 ? { orient: 'bottom' } : null },
      tooltip: [
        { field: 'category', title: 'layer' },
        { field: 'series' },
        { field: 'value', format: '.4~g' },
        ...fields.map((f, i) => ({ field: `tip_${i}`, title: f })),
      ],
    },
  };
}

/** One reliability bin (nulls where the bin is empty). */
export interface ReliabilityDatum {
  lo: number;
  hi: number;
  count: number;
  accuracy: number | null;
  confidence: number | null;
}

/**
 * Reliability diagram over a per-bin count histogram. Bars: accuracy per confidence bin. The gap
 * between accuracy and mean confidence is drawn without overlapping the bar's fill: where the
 * model is over-confident (confidence > accuracy) it is a translucent red box above the bar;
 * where it is under-confident (accuracy > confidence) the gap lies inside the bar and is drawn
 * as a dashed outline only, so no colours mix.
 */
export function reliabilityChart(o: { title: string; bins: readonly ReliabilityDatum[]; width?: number }): VlSpec {
  const values = o.bins.map((b) => {
    const ok = b.count > 0 && b.accuracy !== null && b.confidence !== null && Number.isFinite(b.accuracy) && Number.isFinite(b.confidence);
    return {
      lo: b.lo,
      hi: b.hi,
      count: b.count,
      zero: 0,
      accuracy: ok ? b.accuracy : null,
      confidence: ok ? b.confidence : null,
      gapLo: ok ? Math.min(b.accuracy!, b.confidence!) : null,
      gapHi: ok ? Math.max(b.accuracy!, b.confidence!) : null,
      over: ok ? b.confidence! > b.accuracy! : null,
    };
  });
  const width = o.width ?? 300;
  const x = { field: 'lo', type: 'quantitative', title: 'confidence', scale: { domain: [0, 1] } };
  const tooltip = [
    { field: 'lo', title: 'bin from', format: '.3f' },
    { field: 'hi', title: 'bin to', format: '.3f' },
    { field: 'count', title: 'examples' },
    { field: 'accuracy', format: '.4f' },
    { field: 'confidence', title: 'mean confidence', format: '.4f' },
  ];
  return {
    $schema: SCHEMA,
    title: o.title,
    data: { values },
    vconcat: [
      {
        width,
        height: width,
        layer: [
          {
            transform: [{ filter: 'datum.accuracy !== null' }],
            mark: { type: 'rect', color: '#4c78a8', stroke: 'white', strokeWidth: 1 },
            encoding: {
              x,
              x2: { field: 'hi' },
              y: { field: 'accuracy', type: 'quantitative', title: 'accuracy', scale: { domain: [0, 1] } },
              y2: { field: 'zero' },
              tooltip,
            },
          },
          {
            transform: [{ filter: 'datum.over === true' }],
            mark: { type: 'rect', color: '#e45756', opacity: 0.35, stroke: '#e45756', strokeWidth: 1 },
            encoding: { x, x2: { field: 'hi' }, y: { field: 'gapLo', type: 'quantitative' }, y2: { field: 'gapHi' }, tooltip },
          },
          {
            transform: [{ filter: 'datum.over === false' }],
            mark: { type: 'rect', fill: null, fillOpacity: 0, stroke: '#f2b447', strokeWidth: 1.5, strokeDash: [3, 2] },
            encoding: { x, x2: { field: 'hi' }, y: { field: 'gapLo', type: 'quantitative' }, y2: { field: 'gapHi' }, tooltip },
          },
          {
            data: {
              values: [
                { c: 0, a: 0 },
                { c: 1, a: 1 },
              ],
            },
            mark: { type: 'line', color: '#666', strokeDash: [6, 4] },
            encoding: { x: { field: 'c', type: 'quantitative' }, y: { field: 'a', type: 'quantitative' } },
          },
        ],
      },
      {
        width,
        height: 80,
        mark: { type: 'rect', color: '#72b7b2', stroke: 'white', strokeWidth: 1 },
        encoding: {
          x,
          x2: { field: 'hi' },
          y: { field: 'count', type: 'quantitative', title: 'examples' },
          y2: { field: 'zero' },
          tooltip,
        },
      },
    ],
  };
}

/** Heat map of a row-major h × w grid (e.g. kept first-layer weights per input pixel). */
export function heatmapChart(o: { title: string; height: number; width: number; values: readonly number[]; legendTitle: string; size?: number }): VlSpec {
  const values = o.values.map((v, i) => ({ row: Math.floor(i / o.width), col: i % o.width, value: v }));
  const cell = o.size ?? Math.max(4, Math.min(12, Math.floor(336 / Math.max(o.height, o.width))));
  return {
    $schema: SCHEMA,
    title: o.title,
    width: cell * o.width,
    height: cell * o.height,
    data: { values },
    mark: { type: 'rect', tooltip: true },
    encoding: {
      x: { field: 'col', type: 'ordinal', axis: null },
      y: { field: 'row', type: 'ordinal', axis: null },
      color: { field: 'value', type: 'quantitative', title: o.legendTitle, scale: { scheme: 'viridis' } },
      tooltip: [{ field: 'row' }, { field: 'col', title: 'column' }, { field: 'value', title: o.legendTitle }],
    },
  };
}

/** Overlaid step-line histograms (one per series), as fractions of each series' total, with optional vertical rules. */
export function histogramChart(o: {
  title: string;
  xTitle: string;
  series: readonly { name: string; lo: number; width: number; counts: readonly number[] }[];
  rules?: readonly { x: number; label: string }[];
}): VlSpec {
  const values: Record<string, unknown>[] = [];
  for (const s of o.series) {
    const total = s.counts.reduce((a, b) => a + b, 0) || 1;
    s.counts.forEach((c, i) => values.push({ series: s.name, x: s.lo + i * s.width, x2: s.lo + (i + 1) * s.width, count: c, fraction: c / total }));
    // Close the last step.
    values.push({ series: s.name, x: s.lo + s.counts.length * s.width, x2: s.lo + s.counts.length * s.width, count: 0, fraction: s.counts.at(-1)! / total });
  }
  const color = { field: 'series', type: 'nominal', title: null, legend: { orient: 'bottom' } };
  const layer: VlSpec[] = [
    {
      mark: { type: 'line', interpolate: 'step-after', strokeWidth: 1.8 },
      encoding: {
        x: { field: 'x', type: 'quantitative', title: o.xTitle },
        y: { field: 'fraction', type: 'quantitative', title: 'fraction of the layer’s weights' },
        color,
        opacity: { condition: { param: 'pick', value: 1 }, value: 0.12 },
        tooltip: [
          { field: 'series', title: 'layer' },
          { field: 'x', title: 'bin from', format: '.3~g' },
          { field: 'x2', title: 'bin to', format: '.3~g' },
          { field: 'count', title: 'weights' },
          { field: 'fraction', format: '.3~%' },
        ],
      },
      params: [{ name: 'pick', select: { type: 'point', fields: ['series'] }, bind: 'legend' }],
    },
  ];
  if (o.rules?.length)
    layer.push({
      data: { values: o.rules.map((r) => ({ rx: r.x, label: r.label })) },
      mark: { type: 'rule', color: '#444', strokeDash: [4, 3] },
      encoding: { x: { field: 'rx', type: 'quantitative' }, tooltip: [{ field: 'label', title: 'threshold' }] },
    });
  return { $schema: SCHEMA, title: o.title, width: 620, height: 260, data: { values }, layer };
}
