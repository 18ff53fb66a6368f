/**
 * Dependency-free SVG charts for reports: line plots (linear or log axes),
 * reliability diagrams and grouped bar charts. Each function returns a
 * self-contained SVG document string (no scripts, no external fonts or CSS),
 * deterministic for the same input, with every piece of text XML-escaped.
 *
 * Colors: the Okabe–Ito palette (Okabe & Ito 2008, "Color Universal Design"),
 * safe for the common forms of color blindness; line series also differ by
 * marker shape, so they stay distinguishable in grayscale.
 * @module
 */
import { calibrationErrorFromBins, type ReliabilityBin } from '../metrics/calibration.js';

/**
 * Okabe–Ito colorblind-safe palette, ordered for contrast on white
 * (blue, vermillion, bluish green, reddish purple, orange, sky blue, black, yellow).
 */
export const PALETTE: readonly string[] = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#F0E442'];

/** Escape text for XML content and attribute values (&, <, >, ", '). */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&#39;'));
}

/** One line series of {@link linePlot}. */
export interface LineSeries {
  /** Legend label. */
  name: string;
  /** x values; points with a non-finite x or y (or ≤ 0 on a log axis) are skipped and break the line. */
  x: number[];
  /** y values, same length as x. */
  y: number[];
  /** Dashed line (e.g. for baselines). */
  dashed?: boolean;
  /** Draw point markers (default true). */
  markers?: boolean;
  /**
   * Optional error band (e.g. a 95 % confidence interval): lower and upper y per point, same
   * length as x, drawn as a translucent area in the series color behind the line. Points where
   * either bound (or x) is missing or non-finite break the band (a single run has no band).
   */
  lower?: (number | null)[];
  upper?: (number | null)[];
}

/** Highlighted points drawn over the lines of {@link linePlot} (e.g. a Pareto front). */
export interface PointOverlay {
  /** Legend label. */
  name: string;
  x: number[];
  y: number[];
  /** Optional tooltip per point. */
  labels?: string[];
}

/** Options of {@link linePlot}. */
export interface LinePlotOptions {
  /** Chart title. */
  title: string;
  /** x axis label. */
  xLabel: string;
  /** y axis label. */
  yLabel: string;
  /** Series, colored in palette order. */
  series: LineSeries[];
  /** x axis scale (default linear). */
  xScale?: 'linear' | 'log';
  /** y axis scale (default linear). */
  yScale?: 'linear' | 'log';
  /** Fixed y range [min, max]; default: fitted to the data with nice ticks. */
  yRange?: [number, number];
  /** Fixed x range [min, max]; default: fitted to the data. */
  xRange?: [number, number];
  /** Width in px (default 640). */
  width?: number;
  /** Height in px (default 400). */
  height?: number;
  /** Points ringed over the lines (drawn last, in black, listed in the legend). */
  overlay?: PointOverlay;
}

/** Options of {@link reliabilityDiagram}. */
export interface ReliabilityDiagramOptions {
  /** Title; the ECE is appended as " (ECE = …)". */
  title?: string;
  /** ECE to print; default: computed from the bins (L1, count-weighted). */
  ece?: number;
  /** Width in px (default 460). */
  width?: number;
  /** Height in px (default 460). */
  height?: number;
}

/** One bar series of {@link barChart}. */
export interface BarSeries {
  /** Legend label. */
  name: string;
  /** One value per category (non-finite values draw no bar). */
  values: number[];
}

/** Options of {@link barChart}. */
export interface BarChartOptions {
  /** Chart title. */
  title: string;
  /** Category labels along x (e.g. layer names). */
  categories: string[];
  /** One or more series, drawn as grouped bars. */
  series: BarSeries[];
  /** y axis label. */
  yLabel: string;
  /** Optional x axis label (below the category labels). */
  xLabel?: string;
  /** Fixed y range; default [min(0, data), max(data)] with nice ticks (e.g. [0, 1] for sparsity). */
  yRange?: [number, number];
  /** Width in px (default 640). */
  width?: number;
  /** Height in px (default 400). */
  height?: number;
}

// ---------------------------------------------------------------- helpers

const FONT = 'font-family="Helvetica, Arial, sans-serif"';
const GRID = '#e5e5e5';
const AXIS = '#333333';

/** Round for SVG coordinates: 2 decimals, no "-0". */
function r(v: number): string {
  const s = (Math.round(v * 100) / 100).toString();
  return s === '-0' ? '0' : s;
}

/** Short stable hash used for unique clip-path ids. */
function hashId(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(36);
}

/** "Nice" step of roughly range/count: 1, 2, 2.5 or 5 × 10^e (Heckbert 1990). */
function niceStep(range: number, count: number): number {
  const raw = range / Math.max(1, count);
  const e = Math.floor(Math.log10(raw));
  const f = raw / 10 ** e;
  const nf = f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10;
  return nf * 10 ** e;
}

/** Format a tick value given the tick step (enough decimals, no float noise). */
export function formatTick(v: number, step = 0): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-4) {
    const s = v.toExponential(2).replace(/\.?0+e/, 'e');
    return s.replace('e+', 'e').replace(/-/g, '\u2212');
  }
  let s: string;
  if (step > 0) {
    let d = 0;
    while (d < 10 && Math.abs(step * 10 ** d - Math.round(step * 10 ** d)) > 1e-6) d++;
    s = v.toFixed(d);
  } else {
    s = String(Number(v.toPrecision(4)));
  }
  return s.replace(/-/g, '\u2212');
}

interface Axis {
  min: number;
  max: number;
  log: boolean;
  ticks: number[];
  step: number;
}

function linearAxis(lo: number, hi: number, fixed: boolean, count = 6): Axis {
  if (!(hi > lo)) {
    const pad = Math.abs(lo) * 0.1 || 1;
    lo -= pad;
    hi += pad;
  }
  const step = niceStep(hi - lo, count);
  if (!fixed) {
    lo = Math.floor(lo / step + 1e-9) * step;
    hi = Math.ceil(hi / step - 1e-9) * step;
  }
  const ticks: number[] = [];
  const first = Math.ceil(lo / step - 1e-9);
  for (let i = first; i * step <= hi + step * 1e-9; i++) ticks.push(Math.abs(i * step) < step * 1e-9 ? 0 : i * step);
  return { min: lo, max: hi, log: false, ticks, step };
}

function logAxis(lo: number, hi: number, fixed: boolean): Axis {
  if (!(hi > lo)) {
    lo /= 10;
    hi *= 10;
  }
  let a = Math.log10(lo);
  let b = Math.log10(hi);
  if (!fixed) {
    a = Math.floor(a + 1e-9);
    b = Math.ceil(b - 1e-9);
  }
  const ticks: number[] = [];
  const span = b - a;
  const every = Math.max(1, Math.ceil(span / 8));
  for (let e = Math.ceil(a - 1e-9); e <= b + 1e-9; e += every) {
    ticks.push(10 ** e);
    if (span <= 2) for (const m of [2, 5]) if (e + Math.log10(m) <= b + 1e-9) ticks.push(m * 10 ** e);
  }
  ticks.sort((x, y) => x - y);
  return { min: 10 ** a, max: 10 ** b, log: true, ticks, step: 0 };
}

function makeAxis(values: number[], log: boolean, range?: [number, number]): Axis {
  if (range) {
    if (!(range[1] > range[0]) || (log && !(range[0] > 0))) throw new Error(`svg: invalid range [${range.join(', ')}]`);
    return log ? logAxis(range[0], range[1], true) : linearAxis(range[0], range[1], true);
  }
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v) || (log && v <= 0)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (lo === Infinity) return log ? logAxis(1, 10, true) : linearAxis(0, 1, true);
  return log ? logAxis(lo, hi, false) : linearAxis(lo, hi, false);
}

function scaler(axis: Axis, p0: number, p1: number): (v: number) => number {
  if (axis.log) {
    const a = Math.log10(axis.min);
    const b = Math.log10(axis.max);
    return (v) => p0 + ((Math.log10(v) - a) / (b - a)) * (p1 - p0);
  }
  return (v) => p0 + ((v - axis.min) / (axis.max - axis.min)) * (p1 - p0);
}

function tickLabel(axis: Axis, v: number): string {
  if (!axis.log) return formatTick(v, axis.step);
  const e = Math.log10(v);
  if (Math.abs(e - Math.round(e)) < 1e-9 && Math.abs(e) >= 4) return `1e${Math.round(e)}`.replace(/-/g, '\u2212');
  return formatTick(v, 10 ** Math.floor(e + 1e-9));
}

/** Approximate text width in px for 12 px Helvetica. */
function textWidth(s: string, px = 12): number {
  return s.length * px * 0.6;
}

interface Frame {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

function header(width: number, height: number, title: string): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${r(width / 2)}" y="22" text-anchor="middle" ${FONT} font-size="15" font-weight="bold" fill="${AXIS}">${escapeXml(title)}</text>`,
  ];
}

/** Grid, axes, ticks and axis labels; `xa` null draws no x ticks (bar charts). */
function axesGroup(f: Frame, xa: Axis | null, ya: Axis, xLabel: string, yLabel: string, xLabelOffset = 40): string {
  const out: string[] = ['<g class="axes">'];
  const sy = scaler(ya, f.bottom, f.top);
  out.push(`<g class="grid" stroke="${GRID}" stroke-width="1">`);
  for (const t of ya.ticks) out.push(`<line x1="${r(f.left)}" y1="${r(sy(t))}" x2="${r(f.right)}" y2="${r(sy(t))}"/>`);
  if (xa) {
    const sx = scaler(xa, f.left, f.right);
    for (const t of xa.ticks) out.push(`<line x1="${r(sx(t))}" y1="${r(f.top)}" x2="${r(sx(t))}" y2="${r(f.bottom)}"/>`);
  }
  out.push('</g>');
  out.push(`<g class="ticks" ${FONT} font-size="12" fill="${AXIS}">`);
  for (const t of ya.ticks) {
    const y = sy(t);
    out.push(`<line x1="${r(f.left - 5)}" y1="${r(y)}" x2="${r(f.left)}" y2="${r(y)}" stroke="${AXIS}"/>`);
    out.push(`<text x="${r(f.left - 8)}" y="${r(y + 4)}" text-anchor="end">${escapeXml(tickLabel(ya, t))}</text>`);
  }
  if (xa) {
    const sx = scaler(xa, f.left, f.right);
    for (const t of xa.ticks) {
      const x = sx(t);
      out.push(`<line x1="${r(x)}" y1="${r(f.bottom)}" x2="${r(x)}" y2="${r(f.bottom + 5)}" stroke="${AXIS}"/>`);
      out.push(`<text x="${r(x)}" y="${r(f.bottom + 19)}" text-anchor="middle">${escapeXml(tickLabel(xa, t))}</text>`);
    }
  }
  out.push('</g>');
  out.push(
    `<text x="${r((f.left + f.right) / 2)}" y="${r(f.bottom + xLabelOffset)}" text-anchor="middle" ${FONT} font-size="13" fill="${AXIS}">${escapeXml(xLabel)}</text>`,
  );
  const cy = (f.top + f.bottom) / 2;
  out.push(
    `<text x="16" y="${r(cy)}" transform="rotate(-90 16 ${r(cy)})" text-anchor="middle" ${FONT} font-size="13" fill="${AXIS}">${escapeXml(yLabel)}</text>`,
  );
  out.push('</g>');
  return out.join('\n');
}

/** The L-shaped axis lines, drawn after the data so that bars do not cover them. */
function spine(f: Frame): string {
  return `<path class="spine" d="M${r(f.left)},${r(f.top)} V${r(f.bottom)} H${r(f.right)}" fill="none" stroke="${AXIS}" stroke-width="1.2"/>`;
}

/** SVG path of marker `shape` centred at (x, y). */
function marker(shape: number, x: number, y: number, color: string): string {
  const s = 3.5;
  switch (shape % 6) {
    case 0:
      return `<circle cx="${r(x)}" cy="${r(y)}" r="${s}" fill="${color}"/>`;
    case 1:
      return `<rect x="${r(x - s)}" y="${r(y - s)}" width="${2 * s}" height="${2 * s}" fill="${color}"/>`;
    case 2:
      return `<path d="M${r(x)},${r(y - s * 1.2)} L${r(x + s * 1.1)},${r(y + s * 0.9)} L${r(x - s * 1.1)},${r(y + s * 0.9)} Z" fill="${color}"/>`;
    case 3:
      return `<path d="M${r(x)},${r(y - s * 1.3)} L${r(x + s * 1.3)},${r(y)} L${r(x)},${r(y + s * 1.3)} L${r(x - s * 1.3)},${r(y)} Z" fill="${color}"/>`;
    case 4:
      return `<path d="M${r(x)},${r(y + s * 1.2)} L${r(x + s * 1.1)},${r(y - s * 0.9)} L${r(x - s * 1.1)},${r(y - s * 0.9)} Z" fill="${color}"/>`;
    default:
      return `<circle cx="${r(x)}" cy="${r(y)}" r="${s}" fill="#ffffff" stroke="${color}" stroke-width="1.6"/>`;
  }
}

/** A hollow ring around (x, y), marking a highlighted point. */
function ring(x: number, y: number, color: string): string {
  return `<circle cx="${r(x)}" cy="${r(y)}" r="7" fill="none" stroke="${color}" stroke-width="1.8"/>`;
}

interface LegendItem {
  name: string;
  color: string;
  kind: 'line' | 'box' | 'ring';
  dashed?: boolean;
  shape?: number;
  opacity?: number;
}

function legendWidth(items: LegendItem[]): number {
  return items.length === 0 ? 0 : Math.max(...items.map((i) => textWidth(i.name))) + 44;
}

function legendGroup(items: LegendItem[], x: number, y: number): string {
  if (items.length === 0) return '';
  const w = legendWidth(items);
  const out = [
    `<g class="legend" ${FONT} font-size="12" fill="${AXIS}">`,
    `<rect x="${r(x)}" y="${r(y)}" width="${r(w)}" height="${items.length * 20 + 8}" fill="#ffffff" fill-opacity="0.9" stroke="#cccccc"/>`,
  ];
  items.forEach((it, i) => {
    const cy = y + 14 + i * 20;
    if (it.kind === 'line') {
      const dash = it.dashed ? ' stroke-dasharray="6 4"' : '';
      out.push(`<line x1="${r(x + 8)}" y1="${r(cy)}" x2="${r(x + 32)}" y2="${r(cy)}" stroke="${it.color}" stroke-width="2"${dash}/>`);
      if (it.shape !== undefined) out.push(marker(it.shape, x + 20, cy, it.color));
    } else if (it.kind === 'ring') {
      out.push(ring(x + 20, cy, it.color));
    } else {
      const outline = it.dashed ? ` stroke="${it.color}" stroke-width="1.5" stroke-dasharray="3 2"` : '';
      out.push(`<rect x="${r(x + 12)}" y="${r(cy - 6)}" width="16" height="12" fill="${it.color}" fill-opacity="${it.opacity ?? 1}"${outline}/>`);
    }
    out.push(`<text x="${r(x + 38)}" y="${r(cy + 4)}">${escapeXml(it.name)}</text>`);
  });
  out.push('</g>');
  return out.join('\n');
}

// ---------------------------------------------------------------- charts

/**
 * Line plot with axes, nice ticks, grid, legend (right of the plot), one
 * palette color and one marker shape per series, optional dashed lines and
 * linear or log axes. Lines are clipped to the plot area when a range is fixed.
 */
export function linePlot(opts: LinePlotOptions): string {
  const width = opts.width ?? 640;
  const height = opts.height ?? 400;
  const xLog = opts.xScale === 'log';
  const yLog = opts.yScale === 'log';
  for (const s of opts.series) {
    if (s.x.length !== s.y.length) throw new Error(`svg: series '${s.name}' has ${s.x.length} x and ${s.y.length} y values`);
    for (const [k, b] of [
      ['lower', s.lower],
      ['upper', s.upper],
    ] as const) {
      if (b && b.length !== s.x.length) throw new Error(`svg: series '${s.name}' has ${s.x.length} x and ${b.length} ${k} values`);
    }
  }
  const ov = opts.overlay;
  if (ov && ov.x.length !== ov.y.length) throw new Error(`svg: overlay '${ov.name}' has ${ov.x.length} x and ${ov.y.length} y values`);
  const ok = (x: number, y: number) => Number.isFinite(x) && Number.isFinite(y) && (!xLog || x > 0) && (!yLog || y > 0);
  const xs: number[] = [];
  const ys: number[] = [];
  for (const s of opts.series) {
    for (let i = 0; i < s.x.length; i++) {
      if (!ok(s.x[i], s.y[i])) continue;
      xs.push(s.x[i]);
      if (!opts.xRange || (s.x[i] >= opts.xRange[0] && s.x[i] <= opts.xRange[1])) {
        ys.push(s.y[i]);
        // The band widens the y range (only where the point itself is drawn).
        for (const b of [s.lower?.[i], s.upper?.[i]]) if (typeof b === 'number' && ok(s.x[i], b)) ys.push(b);
      }
    }
  }
  if (ov) {
    for (let i = 0; i < ov.x.length; i++) {
      if (!ok(ov.x[i], ov.y[i])) continue;
      xs.push(ov.x[i]);
      if (!opts.xRange || (ov.x[i] >= opts.xRange[0] && ov.x[i] <= opts.xRange[1])) ys.push(ov.y[i]);
    }
  }
  const xa = makeAxis(xs, xLog, opts.xRange);
  const ya = makeAxis(ys, yLog, opts.yRange);
  const items: LegendItem[] = opts.series.map((s, i) => ({
    name: s.name,
    color: PALETTE[i % PALETTE.length],
    kind: 'line',
    dashed: s.dashed,
    shape: s.markers === false ? undefined : i,
  }));
  if (ov?.x.some((x, i) => ok(x, ov.y[i]))) items.push({ name: ov.name, color: AXIS, kind: 'ring' });
  const lw = legendWidth(items);
  const f: Frame = { left: 70, top: 40, right: width - (lw > 0 ? lw + 24 : 20), bottom: height - 56 };
  const sx = scaler(xa, f.left, f.right);
  const sy = scaler(ya, f.bottom, f.top);
  const clip = `clip-${hashId(JSON.stringify([opts.title, opts.xLabel, opts.yLabel, opts.series.map((s) => s.name)]))}`;
  const out = header(width, height, opts.title);
  out.push(
    // The clip extends 6 px beyond the plot area so markers on its edges stay whole.
    `<defs><clipPath id="${clip}"><rect x="${r(f.left - 6)}" y="${r(f.top - 6)}" width="${r(f.right - f.left + 12)}" height="${r(f.bottom - f.top + 12)}"/></clipPath></defs>`,
  );
  out.push(axesGroup(f, xa, ya, opts.xLabel, opts.yLabel));
  // Error bands first, so that every line and marker is drawn over every band.
  const bands: string[] = [];
  opts.series.forEach((s, i) => {
    if (!s.lower || !s.upper) return;
    let run: [number, number, number][] = [];
    const flush = () => {
      if (run.length >= 1) {
        const top = run.map(([x, , hi]) => `${r(x)},${r(hi)}`);
        const bottom = run.map(([x, lo]) => `${r(x)},${r(lo)}`).reverse();
        // A lone point's band is a short vertical bar (2 px wide) so that it stays visible.
        const pts =
          run.length === 1
            ? [
                `${r(run[0]![0] - 1)},${r(run[0]![2])}`,
                `${r(run[0]![0] + 1)},${r(run[0]![2])}`,
                `${r(run[0]![0] + 1)},${r(run[0]![1])}`,
                `${r(run[0]![0] - 1)},${r(run[0]![1])}`,
              ]
            : [...top, ...bottom];
        bands.push(`<polygon points="${pts.join(' ')}" fill="${PALETTE[i % PALETTE.length]}" fill-opacity="0.18" stroke="none"/>`);
      }
      run = [];
    };
    for (let j = 0; j < s.x.length; j++) {
      const lo = s.lower[j];
      const hi = s.upper[j];
      if (!ok(s.x[j], s.y[j]) || typeof lo !== 'number' || typeof hi !== 'number' || !ok(s.x[j], lo) || !ok(s.x[j], hi)) {
        flush();
        continue;
      }
      run.push([sx(s.x[j]), sy(lo), sy(hi)]);
    }
    flush();
  });
  if (bands.length) out.push(`<g class="bands" clip-path="url(#${clip})">`, ...bands, '</g>');
  out.push(`<g class="series" clip-path="url(#${clip})">`);
  opts.series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    let d = '';
    let pen = false;
    const pts: [number, number][] = [];
    for (let j = 0; j < s.x.length; j++) {
      if (!ok(s.x[j], s.y[j])) {
        pen = false;
        continue;
      }
      const px = sx(s.x[j]);
      const py = sy(s.y[j]);
      d += `${pen ? 'L' : 'M'}${r(px)},${r(py)} `;
      pen = true;
      pts.push([px, py]);
    }
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    out.push(`<g class="line">`);
    if (d) {
      out.push(`<path d="${d.trim()}" fill="none" stroke="${color}" stroke-width="2" stroke-linejoin="round" stroke-linecap="round"${dash}/>`);
    }
    if (s.markers !== false) for (const [px, py] of pts) out.push(marker(i, px, py, color));
    out.push(`</g>`);
  });
  out.push('</g>');
  if (ov) {
    out.push(`<g class="overlay" clip-path="url(#${clip})">`);
    for (let i = 0; i < ov.x.length; i++) {
      if (!ok(ov.x[i], ov.y[i])) continue;
      const c = ring(sx(ov.x[i]), sy(ov.y[i]), AXIS);
      out.push(ov.labels?.[i] ? c.replace('/>', `><title>${escapeXml(ov.labels[i]!)}</title></circle>`) : c);
    }
    out.push('</g>');
  }
  out.push(spine(f));
  out.push(legendGroup(items, f.right + 12, f.top));
  out.push('</svg>');
  return out.filter((l) => l !== '').join('\n') + '\n';
}

/**
 * Reliability diagram (Niculescu-Mizil & Caruana 2005; Guo et al. 2017): one
 * bar per non-empty confidence bin spanning [lo, hi] with height = accuracy,
 * a shaded gap between accuracy and mean confidence, and the diagonal of
 * perfect calibration. The title ends with the ECE, computed from the bins
 * (Σ_b (N_b/N)|acc_b − conf_b|) unless given.
 */
export function reliabilityDiagram(bins: readonly ReliabilityBin[], opts: ReliabilityDiagramOptions = {}): string {
  const width = opts.width ?? 460;
  const height = opts.height ?? 460;
  const e = opts.ece ?? calibrationErrorFromBins(bins, 'l1');
  const title = `${opts.title ?? 'Reliability diagram'} (ECE = ${Number.isFinite(e) ? e.toFixed(4) : 'n/a'})`;
  const axis = linearAxis(0, 1, true, 5);
  const items: LegendItem[] = [
    { name: 'Accuracy', color: PALETTE[0], kind: 'box', opacity: 0.8 },
    { name: 'Gap, over-confident', color: PALETTE[1], kind: 'box', opacity: 0.35 },
    { name: 'Gap, under-confident', color: PALETTE[1], kind: 'box', opacity: 0, dashed: true },
    { name: 'Perfect calibration', color: '#666666', kind: 'line', dashed: true },
  ];
  const f: Frame = { left: 64, top: 40, right: width - 20, bottom: height - 56 };
  const sx = scaler(axis, f.left, f.right);
  const sy = scaler(axis, f.bottom, f.top);
  const out = header(width, height, title);
  out.push(axesGroup(f, axis, axis, 'Confidence', 'Accuracy'));
  out.push('<g class="bars">');
  for (const b of bins) {
    if (b.count === 0 || !Number.isFinite(b.accuracy)) continue;
    const x0 = sx(Math.max(0, b.lo));
    const x1 = sx(Math.min(1, b.hi));
    const w = Math.max(0.5, x1 - x0);
    const ya = sy(b.accuracy);
    out.push(
      `<rect x="${r(x0)}" y="${r(ya)}" width="${r(w)}" height="${r(f.bottom - ya)}" fill="${PALETTE[0]}" fill-opacity="0.8" stroke="#ffffff" stroke-width="1"><title>${escapeXml(
        `(${formatTick(b.lo, 0.001)}, ${formatTick(b.hi, 0.001)}]: n = ${b.count}, accuracy ${b.accuracy.toFixed(3)}, confidence ${b.confidence.toFixed(3)}`,
      )}</title></rect>`,
    );
  }
  out.push('</g>');
  out.push('<g class="gaps">');
  for (const b of bins) {
    if (b.count === 0 || !Number.isFinite(b.accuracy) || !Number.isFinite(b.confidence)) continue;
    const x0 = sx(Math.max(0, b.lo));
    const x1 = sx(Math.min(1, b.hi));
    const top = sy(Math.max(b.accuracy, b.confidence));
    const bot = sy(Math.min(b.accuracy, b.confidence));
    // Over-confident (confidence > accuracy): the gap lies above the accuracy bar and is filled.
    // Under-confident: it lies inside the bar, so it is drawn as a dashed outline only; a fill
    // there would mix with the bar's colour and render dark.
    const over = b.confidence > b.accuracy;
    out.push(
      `<rect class="${over ? 'gap-over' : 'gap-under'}" x="${r(x0)}" y="${r(top)}" width="${r(Math.max(0.5, x1 - x0))}" height="${r(bot - top)}" fill="${over ? PALETTE[1] : 'none'}"${over ? ' fill-opacity="0.35"' : ''} stroke="${PALETTE[1]}" stroke-width="${over ? 1 : 1.5}"${over ? '' : ' stroke-dasharray="3 2"'}/>`,
    );
  }
  out.push('</g>');
  out.push(`<line x1="${r(sx(0))}" y1="${r(sy(0))}" x2="${r(sx(1))}" y2="${r(sy(1))}" stroke="#666666" stroke-width="1.5" stroke-dasharray="6 4"/>`);
  out.push(spine(f));
  out.push(legendGroup(items, f.left + 10, f.top + 8));
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/**
 * Grouped bar chart, e.g. per-layer sparsity of several methods: one group per
 * category, one palette-colored bar per series, y ticks and grid, legend at
 * the right. Long category labels are rotated.
 */
export function barChart(opts: BarChartOptions): string {
  const width = opts.width ?? 640;
  const height = opts.height ?? 400;
  const nc = opts.categories.length;
  for (const s of opts.series) {
    if (s.values.length !== nc) throw new Error(`svg: series '${s.name}' has ${s.values.length} values for ${nc} categories`);
  }
  const vals: number[] = [0];
  for (const s of opts.series) for (const v of s.values) if (Number.isFinite(v)) vals.push(v);
  const ya = makeAxis(vals, false, opts.yRange);
  const items: LegendItem[] = opts.series.map((s, i) => ({ name: s.name, color: PALETTE[i % PALETTE.length], kind: 'box' }));
  const lw = legendWidth(items);
  const maxLabel = Math.max(0, ...opts.categories.map((c) => textWidth(c)));
  const right = width - (lw > 0 ? lw + 24 : 20);
  let left = 70;
  let slot = nc > 0 ? (right - left) / nc : 1;
  const rotate = maxLabel > slot - 6;
  // Labels rotated by 45° reach 0.71·width to the left of their anchor: keep the first one inside the canvas.
  const reach = Math.min(140, maxLabel * 0.71);
  if (rotate && reach - slot / 2 + 8 > left) {
    left = Math.min(width / 3, reach - slot / 2 + 8);
    slot = nc > 0 ? (right - left) / nc : 1;
  }
  const labelDepth = rotate ? reach + 12 : 20;
  const f: Frame = { left, top: 40, right, bottom: height - 36 - labelDepth };
  const sy = scaler(ya, f.bottom, f.top);
  const out = header(width, height, opts.title);
  out.push(axesGroup(f, null, ya, opts.xLabel ?? '', opts.yLabel, labelDepth + 22));
  const ns = Math.max(1, opts.series.length);
  const groupW = slot * 0.8;
  const barW = groupW / ns;
  const y0 = sy(Math.min(Math.max(0, ya.min), ya.max));
  out.push('<g class="bars">');
  opts.series.forEach((s, si) => {
    out.push(`<g fill="${PALETTE[si % PALETTE.length]}">`);
    s.values.forEach((v, ci) => {
      if (!Number.isFinite(v)) return;
      const x = f.left + ci * slot + (slot - groupW) / 2 + si * barW;
      const yv = Math.min(Math.max(sy(v), f.top), f.bottom);
      const top = Math.min(yv, y0);
      out.push(
        `<rect x="${r(x)}" y="${r(top)}" width="${r(Math.max(0.5, barW - 1))}" height="${r(Math.abs(y0 - yv))}"><title>${escapeXml(
          `${opts.categories[ci]} · ${s.name}: ${v}`,
        )}</title></rect>`,
      );
    });
    out.push('</g>');
  });
  out.push('</g>');
  out.push(spine(f));
  out.push(`<g class="categories" ${FONT} font-size="12" fill="${AXIS}">`);
  opts.categories.forEach((c, ci) => {
    const x = f.left + (ci + 0.5) * slot;
    const y = f.bottom + 16;
    out.push(
      rotate
        ? `<text x="${r(x)}" y="${r(y)}" transform="rotate(-45 ${r(x)} ${r(y)})" text-anchor="end">${escapeXml(c)}</text>`
        : `<text x="${r(x)}" y="${r(y)}" text-anchor="middle">${escapeXml(c)}</text>`,
    );
  });
  out.push('</g>');
  out.push(legendGroup(items, f.right + 12, f.top));
  out.push('</svg>');
  return out.filter((l) => l !== '').join('\n') + '\n';
}
