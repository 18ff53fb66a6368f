/**
 * The HTML reports in a real browser: headless Chromium (the system's, Debian package
 * `chromium`; no browser download) opens a tiny run's report.html, a tiny sweep's summary.html
 * and a compare page with the network disabled, and every chart must render with no console
 * error and no request leaving file://. The expected series counts come from the run's own
 * curves.csv / summary.csv, read here independently of the page builder. Screenshots go to a
 * temporary directory (and to results/screenshots when BAYESPRUNE_SCREENSHOTS=1).
 *
 * Without Chromium the suite is skipped with a message, except under CI=true, where that fails.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'puppeteer-core';
import { validateConfig } from '../../src/experiment/config.js';
import { runExperiment } from '../../src/experiment/run.js';
import { runSweep } from '../../src/experiment/sweep.js';
import { writeCompareHtml } from '../../src/experiment/html-report.js';

// CHROMIUM_PATH, when set, is the only candidate (so a missing browser can be simulated).
const CANDIDATES = process.env.CHROMIUM_PATH ? [process.env.CHROMIUM_PATH] : ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];
const chromium = CANDIDATES.find((p) => existsSync(p));
const ci = process.env.CI === 'true' || process.env.CI === '1';

if (!chromium) {
  const msg = `browser tests: no Chromium found (looked for ${CANDIDATES.join(', ')}); install the Debian package \`chromium\` or set CHROMIUM_PATH`;
  if (ci) {
    describe('HTML reports in headless Chromium', () => {
      it('needs Chromium under CI', () => {
        throw new Error(`${msg} (CI=true: a skip is a failure)`);
      });
    });
  } else {
    process.stderr.write(`SKIPPED: ${msg}\n`);
  }
}

/** A CSV as records (simple split: the files here have no quoted commas in the columns used). */
function csv(file: string): Record<string, string>[] {
  const [head, ...lines] = readFileSync(file, 'utf8').trim().split(/\r?\n/);
  const cols = head!.split(',');
  return lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [cols[i]!, v])));
}

interface PageResult {
  errors: string[];
  requests: string[];
  charts: { id: string; rendered: boolean; svgs: number; marks: number; lines: number; areas: number; rects: number; symbols: number; error: string | null }[];
  bodyRendered: string | null;
}

describe.skipIf(!chromium)('HTML reports in headless Chromium', () => {
  let browser: Browser;
  let root: string;
  let shots: string;
  let blobsRun: string;
  let mnistRun: string;
  let sweepDir: string;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'bp-browser-'));
    shots = join(root, 'screenshots');
    mkdirSync(shots);
    const blobs = validateConfig({
      experiment: 'html-blobs',
      seed: 3,
      backend: 'cpu',
      data: { name: 'blobs' },
      model: { arch: 'mlp', hidden: [16] },
      inference: { method: 'vi' },
      train: { epochs: 1, batchSize: 50 },
      eval: { samples: 2, ood: { enabled: true, examples: 40 } },
      pruning: { criteria: ['snr', 'magnitude', 'random'], sparsities: [0, 0.5, 0.9, 0.95] },
    });
    blobsRun = (await runExperiment(blobs, { resultsDir: root, progress: null })).runDir;
    const mnist = validateConfig({
      experiment: 'html-mnist',
      seed: 1,
      backend: 'cpu',
      data: { name: 'mnist-embedded', trainLimit: 100 },
      model: { arch: 'mlp', hidden: [12] },
      inference: { method: 'vi' },
      train: { epochs: 1, batchSize: 50 },
      eval: { samples: 2 },
      pruning: { criteria: ['snr', 'magnitude'], sparsities: [0, 0.5, 0.9] },
    });
    mnistRun = (await runExperiment(mnist, { resultsDir: root, progress: null })).runDir;
    const sweep = validateConfig({
      experiment: 'html-sweep',
      backend: 'cpu',
      data: { name: 'blobs', trainLimit: 200 },
      model: { arch: 'mlp', hidden: [8] },
      inference: { method: 'vi' },
      train: { epochs: 1, batchSize: 50 },
      eval: { samples: 2 },
      pruning: { criteria: ['snr', 'magnitude'], sparsities: [0, 0.5, 0.95] },
      sweep: { seeds: [1, 2] },
    });
    sweepDir = (await runSweep(sweep, { resultsDir: root, jobs: 1, progress: null })).sweepDir;

    const puppeteer = (await import('puppeteer-core')).default;
    browser = await puppeteer.launch({
      executablePath: chromium,
      headless: true,
      userDataDir: mkdtempSync(join(tmpdir(), 'bp-chromium-profile-')),
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-dev-shm-usage',
      ],
    });
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
  });

  /** Open a page offline, wait for every chart, collect errors, requests and what each chart drew; screenshot it. */
  async function open(file: string, shot: string): Promise<PageResult> {
    const page: Page = await browser.newPage();
    const errors: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.setRequestInterception(true);
    page.on('request', (r) => {
      const url = r.url();
      if (url.startsWith('file:') || url.startsWith('data:') || url.startsWith('blob:')) void r.continue();
      else {
        requests.push(url);
        void r.abort();
      }
    });
    await page.setViewport({ width: 1400, height: 900 });
    await page.goto(`file://${file}`, { waitUntil: 'load' });
    await page.waitForSelector('body[data-charts="done"]', { timeout: 60_000 });
    const charts = await page.evaluate(() =>
      [...document.querySelectorAll('.chart')].map((el) => {
        const svg = el.querySelector('svg');
        const count = (sel: string) => (svg ? svg.querySelectorAll(sel).length : 0);
        return {
          id: el.id,
          rendered: el.getAttribute('data-rendered') === 'true',
          svgs: el.querySelectorAll('svg.marks').length,
          marks: count('.role-mark path, .role-mark rect, .role-mark line'),
          lines: count('.mark-line.role-mark path'),
          areas: count('.mark-area.role-mark path'),
          rects: count('.mark-rect.role-mark path'),
          symbols: count('.mark-symbol.role-mark path'),
          error: el.querySelector('.chart-error')?.textContent ?? null,
        };
      }),
    );
    const bodyRendered = await page.evaluate(() => document.body.getAttribute('data-rendered'));
    await page.screenshot({ path: join(shots, shot), fullPage: true });
    if (process.env.BAYESPRUNE_SCREENSHOTS === '1') {
      mkdirSync('results/screenshots', { recursive: true });
      await page.screenshot({ path: join('results/screenshots', shot), fullPage: true });
    }
    await page.close();
    return { errors, requests, charts, bodyRendered };
  }

  function expectClean(r: PageResult) {
    expect(r.errors).toEqual([]);
    expect(r.requests).toEqual([]);
    expect(r.charts.length).toBeGreaterThan(0);
    for (const c of r.charts) {
      expect(c.error, c.id).toBeNull();
      expect(c.rendered, c.id).toBe(true);
      expect(c.svgs, c.id).toBe(1);
      expect(c.marks, c.id).toBeGreaterThan(0);
    }
    expect(Number(r.bodyRendered)).toBe(r.charts.length);
  }

  const chart = (r: PageResult, id: string) => {
    const c = r.charts.find((x) => x.id === id);
    if (!c) throw new Error(`no chart ${id} (have ${r.charts.map((x) => x.id).join(', ')})`);
    return c;
  };

  it('renders every chart of a run report offline, with the series and marks of curves.csv', async () => {
    const r = await open(join(blobsRun, 'report.html'), 'run-blobs.png');
    expectClean(r);
    const rows = csv(join(blobsRun, 'curves.csv'));
    const curve = rows.filter((x) => x.predictive === 'mc' && x.scope !== 'threshold' && x.structure === 'weights' && x.criterion !== 'none');
    const criteria = new Set(curve.map((x) => x.criterion));
    expect(criteria.size).toBe(3);
    // Accuracy: a focus view (lines) over an overview (lines): one line per criterion in each.
    const acc = chart(r, 'accuracy-vs-sparsity');
    expect(acc.lines).toBe(2 * criteria.size);
    // Points only in the focus view: the rows from 90 % sparsity (compression ≥ 10, the view starts at 0.98 · 10).
    expect(acc.symbols).toBe(curve.filter((x) => Number(x.compression) >= 9.8).length);
    expect(acc.symbols).toBeGreaterThan(0);
    expect(chart(r, 'nll-vs-sparsity').lines).toBe(criteria.size);
    // Reliability: 15 confidence bins in the count histogram (one rect per bin), bars for the non-empty bins.
    const metrics = JSON.parse(readFileSync(join(blobsRun, 'metrics.json'), 'utf8'));
    const bins = metrics.variants.main.reliability.dense as { count: number; accuracy: number | null; confidence: number | null }[];
    expect(bins.length).toBe(15);
    const nonEmpty = bins.filter((b) => b.count > 0).length;
    const over = bins.filter((b) => b.count > 0 && b.confidence! > b.accuracy!).length;
    const under = bins.filter((b) => b.count > 0 && b.confidence! <= b.accuracy!).length;
    expect(chart(r, 'reliability-main-dense').rects).toBe(15 + nonEmpty + over + under);
    // OOD: blobs are not images, so the two noise shifts run; entropy, MI and 1 − max p per criterion.
    for (const s of ['gaussian-noise', 'uniform-noise']) expect(chart(r, `ood-auroc-${s}`).lines).toBe(3 * criteria.size);
    expect(chart(r, 'risk-coverage-dense').lines).toBe(Object.keys(metrics.variants.main.uncertainty.denseRiskCoverage).length);
    // Histograms: one step line per layer.
    expect(chart(r, 'logalpha-hist-main').lines).toBe(metrics.variants.main.threshold.sparsity.layers.length);
    expect(chart(r, 'explorer').lines).toBe(criteria.size);
  }, 120_000);

  it('has tooltips, legend toggling and wheel zoom', async () => {
    const page: Page = await browser.newPage();
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    await page.setRequestInterception(true);
    page.on('request', (r) => void (r.url().startsWith('file:') ? r.continue() : r.abort()));
    await page.setViewport({ width: 1400, height: 900 });
    await page.goto(`file://${join(blobsRun, 'report.html')}`);
    await page.waitForSelector('body[data-charts="done"]', { timeout: 60_000 });
    const nll = await page.$('#nll-vs-sparsity');
    await nll!.scrollIntoView();
    // Tooltip: hover a point.
    const point = await page.$('#nll-vs-sparsity .mark-symbol.role-mark path');
    const box = (await point!.boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.waitForSelector('#vg-tooltip-element.visible', { timeout: 5_000 });
    const tip = await page.$eval('#vg-tooltip-element', (e) => e.textContent ?? '');
    expect(tip).toMatch(/NLL/);
    expect(tip).toMatch(/sparsity/);
    // Legend: clicking the first entry leaves one line opaque, the others faded.
    const opacities = () => page.$$eval('#nll-vs-sparsity .mark-line.role-mark path', (ps) => ps.map((p) => Number(p.getAttribute('opacity') ?? 1)));
    expect(await opacities()).toEqual([1, 1, 1]);
    const entry = await page.$('#nll-vs-sparsity .role-legend-symbol path');
    const eb = (await entry!.boundingBox())!;
    await page.mouse.click(eb.x + eb.width / 2, eb.y + eb.height / 2);
    await page.waitForFunction(() =>
      [...document.querySelectorAll('#nll-vs-sparsity .mark-line.role-mark path')].some((p) => p.getAttribute('opacity') !== '1'),
    );
    expect((await opacities()).sort()).toEqual([0.12, 0.12, 1]);
    // Zoom: the mouse wheel over the plot changes the x axis' tick labels.
    const ticks = () => page.$$eval('#nll-vs-sparsity .role-axis-label text', (ts) => ts.map((t) => t.textContent).join(' '));
    const before = await ticks();
    const plot = (await page.$('#nll-vs-sparsity svg .role-frame'))!;
    const pb = (await plot.boundingBox())!;
    await page.mouse.move(pb.x + pb.width / 2, pb.y + pb.height / 3);
    await page.mouse.wheel({ deltaY: -400 });
    await page.waitForFunction(
      (b) => [...document.querySelectorAll('#nll-vs-sparsity .role-axis-label text')].map((t) => t.textContent).join(' ') !== b,
      {},
      before,
    );
    expect(await ticks()).not.toBe(before);
    expect(errors).toEqual([]);
    await page.close();
  }, 60_000);

  it('shows the 28×28 map of kept first-layer weights of an MNIST run', async () => {
    const r = await open(join(mnistRun, 'report.html'), 'run-mnist.png');
    expectClean(r);
    expect(chart(r, 'input-map-main').rects).toBe(28 * 28);
    const m = JSON.parse(readFileSync(join(mnistRun, 'metrics.json'), 'utf8')).variants.main;
    // The map's total is the number of kept weights of the first layer at the log α point.
    const fc1 = m.threshold.sparsity.layers[0];
    expect(m.weightStats.inputMap.kept.reduce((a: number, b: number) => a + b, 0)).toBe(fc1.weights.kept);
  }, 120_000);

  it('renders a sweep summary with CI bands, and a compare page of two runs', async () => {
    const s = await open(join(sweepDir, 'summary.html'), 'sweep.png');
    expectClean(s);
    const summary = csv(join(sweepDir, 'summary.csv')).filter((x) => x.predictive === 'mc' && x.structure === 'weights' && x.targetSparsity !== '');
    const crit = new Set(summary.map((x) => x.criterion)).size;
    const acc = chart(s, 'sweep-accuracy-vs-sparsity');
    // Sparsities reach 95 %: a focus view (lines and bands) over an overview (lines only).
    expect(acc.areas).toBe(crit);
    expect(acc.lines).toBe(2 * crit);

    const out = join(root, 'compare.html');
    await writeCompareHtml([blobsRun, mnistRun, sweepDir], out);
    const c = await open(out, 'compare.png');
    expectClean(c);
    const runCriteria = (d: string) =>
      new Set(
        csv(join(d, 'curves.csv'))
          .filter((x) => x.predictive === 'mc' && x.criterion !== 'none' && x.scope !== 'threshold')
          .map((x) => x.criterion),
      ).size;
    expect(chart(c, 'runs-nll-vs-sparsity').lines).toBe(runCriteria(blobsRun) + runCriteria(mnistRun));
  }, 120_000);
});
