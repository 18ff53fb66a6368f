/**
 * A self-contained HTML page of Vega-Lite charts, tables and text: the vega, vega-lite and
 * vega-embed browser bundles (read from node_modules when the page is written) and every
 * chart's spec with its data are inlined, so the file opens offline and makes no request.
 * The same specs render to SVG headless in Node ({@link renderSvg}) for papers.
 * @module
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { VlSpec } from './specs.js';

/** A block of a section: a chart, a table, or HTML text (already escaped by the caller, see {@link esc}). */
export type Block =
  | { kind: 'chart'; id: string; spec: VlSpec; caption?: string }
  | { kind: 'table'; rows: readonly Record<string, unknown>[]; columns?: readonly string[]; caption?: string }
  | { kind: 'html'; html: string };

export interface Section {
  title: string;
  blocks: Block[];
  /** Heading level (2 default, 3 for a subsection). */
  level?: 2 | 3;
}

/** HTML-escape text. */
export const esc = (s: unknown) =>
  String(s ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');

/** A chart or element id: letters, digits, `-` and `_` only. */
export const slug = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/^-+|-+$/g, '') || 'chart';

const require = createRequire(import.meta.url);

/** The browser bundles, in load order. `vega` and `vega-lite` restrict their exports, so the entry file's directory is used. */
function bundles(): { name: string; code: string }[] {
  const dir = (pkg: string) => dirname(require.resolve(pkg));
  return [
    { name: 'vega', code: readFileSync(join(dir('vega'), 'vega.min.js'), 'utf8') },
    { name: 'vega-lite', code: readFileSync(join(dir('vega-lite'), 'vega-lite.min.js'), 'utf8') },
    { name: 'vega-embed', code: readFileSync(join(dir('vega-embed'), 'vega-embed.min.js'), 'utf8') },
  ];
}

/** Script text safe inside `<script>`: no `</script` and no `<!--` can end or alter the element. */
const scriptSafe = (code: string) => code.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');

/** JSON safe inside `<script type="application/json">`: every `<` escaped as \u003c. */
const jsonSafe = (v: unknown) => JSON.stringify(v).replace(/</g, '\\u003c');

function cell(v: unknown): string {
  if (v === null || v === undefined || (typeof v === 'number' && Number.isNaN(v))) return '–';
  if (typeof v === 'number') {
    if (Number.isInteger(v)) return String(v);
    const a = Math.abs(v);
    return a !== 0 && (a < 1e-3 || a >= 1e6) ? v.toExponential(3) : v.toFixed(4);
  }
  return esc(v);
}

/** An HTML table of rows (columns: first-seen keys unless given). */
export function htmlTable(rows: readonly Record<string, unknown>[], columns?: readonly string[]): string {
  const cols = columns ?? [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const head = cols.map((c) => `<th>${esc(c)}</th>`).join('');
  const body = rows.map((r) => `<tr>${cols.map((c) => `<td>${cell(r[c])}</td>`).join('')}</tr>`).join('\n');
  return `<div class="table"><table><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table></div>`;
}

const STYLE = `
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;background:#fff}
header{padding:18px 28px;background:#f4f6f8;border-bottom:1px solid #dde}
main{padding:8px 28px 40px;max-width:1400px}
h1{margin:0 0 6px;font-size:24px} h2{margin-top:32px;border-bottom:1px solid #eee;padding-bottom:4px} h3{margin-top:22px}
nav a{margin-right:12px;font-size:13px}
.charts{display:flex;flex-wrap:wrap;gap:18px 28px;align-items:flex-start}
figure{margin:8px 0} figcaption{font-size:12px;color:#555;max-width:640px}
.table{overflow-x:auto;margin:10px 0} table{border-collapse:collapse;font-size:12.5px}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:right;white-space:nowrap} th{background:#f4f6f8}
td:first-child,th:first-child{text-align:left}
p,li{max-width:980px;line-height:1.45} .note{font-size:13px;color:#555}
.chart-error{color:#b00;font-weight:bold}
`;

/**
 * The runtime: embed every chart (SVG renderer, export actions for PNG / SVG, no editor link);
 * `document.body.dataset.charts` ends as `done` with `data-rendered` counting the charts drawn,
 * or the error is written into the chart's box and logged.
 */
const RUNTIME = `
(function(){
  var specs = JSON.parse(document.getElementById('bp-specs').textContent);
  var done = 0;
  var opts = {renderer: 'svg', actions: {export: true, source: false, compiled: false, editor: false}, tooltip: {theme: 'light'}};
  Promise.all(specs.map(function(c){
    var el = document.getElementById(c.id);
    return vegaEmbed(el, c.spec, opts).then(function(){ done++; el.setAttribute('data-rendered', 'true'); })
      .catch(function(e){ el.innerHTML = '<p class="chart-error">chart failed: ' + String(e && e.message || e).replace(/</g, '&lt;') + '</p>'; console.error('chart ' + c.id + ': ' + (e && e.message || e)); });
  })).then(function(){ document.body.setAttribute('data-rendered', String(done)); document.body.setAttribute('data-charts', 'done'); });
})();
`;

/** The whole page. Chart ids must be unique (checked). */
export function htmlPage(o: { title: string; subtitle?: string; sections: readonly Section[]; footer?: string }): string {
  const charts: { id: string; spec: VlSpec }[] = [];
  const ids = new Set<string>();
  const parts: string[] = [];
  const nav: string[] = [];
  o.sections.forEach((s, si) => {
    const sid = `s${si}-${slug(s.title)}`;
    if ((s.level ?? 2) === 2) nav.push(`<a href="#${sid}">${esc(s.title)}</a>`);
    parts.push(`<section id="${sid}"><h${s.level ?? 2}>${esc(s.title)}</h${s.level ?? 2}>`);
    let open = false;
    for (const b of s.blocks) {
      if (b.kind === 'chart') {
        if (ids.has(b.id)) throw new Error(`html report: duplicate chart id '${b.id}'`);
        ids.add(b.id);
        charts.push({ id: b.id, spec: b.spec });
        if (!open) parts.push('<div class="charts">');
        open = true;
        parts.push(`<figure><div class="chart" id="${esc(b.id)}"></div>${b.caption ? `<figcaption>${esc(b.caption)}</figcaption>` : ''}</figure>`);
        continue;
      }
      if (open) parts.push('</div>');
      open = false;
      if (b.kind === 'table') parts.push(`${b.caption ? `<p class="note">${esc(b.caption)}</p>` : ''}${htmlTable(b.rows, b.columns)}`);
      else parts.push(b.html);
    }
    if (open) parts.push('</div>');
    parts.push('</section>');
  });
  const scripts = bundles()
    .map((b) => `<script data-bundle="${b.name}">\n${scriptSafe(b.code)}\n</script>`)
    .join('\n');
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data: blob:">
<title>${esc(o.title)}</title>
<style>${STYLE}</style>
</head><body>
<header><h1>${esc(o.title)}</h1>${o.subtitle ? `<div class="note">${o.subtitle}</div>` : ''}<nav>${nav.join('')}</nav></header>
<main>
${parts.join('\n')}
${o.footer ? `<footer class="note">${o.footer}</footer>` : ''}
</main>
${scripts}
<script type="application/json" id="bp-specs">${jsonSafe(charts)}</script>
<script>${RUNTIME}</script>
</body></html>
`;
}

/** Every chart spec of a page's sections, by id. */
export function chartsOf(sections: readonly Section[]): { id: string; spec: VlSpec }[] {
  return sections.flatMap((s) => s.blocks.flatMap((b) => (b.kind === 'chart' ? [{ id: b.id, spec: b.spec }] : [])));
}

/** Render a Vega-Lite spec to SVG headless (vega's View with no renderer; text widths estimated). */
export async function renderSvg(spec: VlSpec): Promise<string> {
  const vega = await import('vega');
  const vl = await import('vega-lite');
  const compiled = vl.compile(spec as unknown as Parameters<typeof vl.compile>[0]).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
