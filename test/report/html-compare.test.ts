/**
 * The HTML pages from hand-written result files (no training): `bayesprune compare` puts the
 * runs' curves on the same axes with the values of their curves.csv; a run written before
 * metrics.json had reliability bins and weight statistics still gets a page (without those
 * charts); usage errors are one line.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import { writeRunHtml } from '../../src/experiment/html-report.js';

const header =
  'variant,criterion,scope,targetSparsity,structure,unitRatio,sparsity,sparsityWithBiases,compression,speedup,predictive,samples,accuracy,nll,brier,ece,mce,entropy,mutualInformation,myNewColumn';

/** A run directory with the given (criterion, sparsity, accuracy) points, MC predictive. */
function fakeRun(root: string, name: string, points: [string, number, number][]): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  const lines = points.map(
    ([c, s, a]) => `main,${c},global,${s},weights,,${s},${s},${1 / (1 - s)},${1 / (1 - s)},mc,2,${a},${1 - a + 0.1},0.2,0.05,0.1,0.5,0.01,${42 + s}`,
  );
  writeFileSync(join(dir, 'curves.csv'), [header, ...lines].join('\r\n') + '\r\n');
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({ experiment: name, seed: 1, data: { name: 'blobs' }, eval: { split: 'test', samples: 2 }, pruning: {} }),
  );
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ runId: `${name}-id`, backend: { name: 'cpu' } }));
  writeFileSync(
    join(dir, 'metrics.json'),
    JSON.stringify({
      variants: { main: { method: 'vi', network: 'mlp', numWeights: 10, epochs: 1, history: [], dense: { accuracy: points[0]![2], nll: 1, ece: 0.05 } } },
    }),
  );
  return dir;
}

/** The charts embedded in a page: its bp-specs JSON. */
function specsOf(file: string): { id: string; spec: { data: { values: Record<string, unknown>[] } } }[] {
  const html = readFileSync(file, 'utf8');
  return JSON.parse(/<script type="application\/json" id="bp-specs">([\s\S]*?)<\/script>/.exec(html)![1]!);
}

const io = () => {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } } };
};

describe('bayesprune compare', () => {
  it("puts both runs' curves on the same axes with their curves.csv values", async () => {
    const root = mkdtempSync(join(tmpdir(), 'bp-compare-'));
    const a = fakeRun(root, 'a', [
      ['snr', 0, 0.9],
      ['snr', 0.5, 0.85],
      ['snr', 0.9, 0.6],
    ]);
    const b = fakeRun(root, 'b', [
      ['magnitude', 0, 0.8],
      ['magnitude', 0.9, 0.4],
    ]);
    const out = join(root, 'out', 'cmp.html');
    const c = io();
    expect(await main(['compare', a, b, '--out', out], c.io)).toBe(0);
    expect(c.out.join('')).toMatch(/cmp\.html: \d+ charts from 2 directories/);
    const nll = specsOf(out).find((s) => s.id === 'runs-nll-vs-sparsity')!;
    const values = nll.spec.data.values.map((v) => [v.series, v.x, v.y]);
    // NLL column = 1 − accuracy + 0.1, x = compression = 1 / (1 − sparsity).
    expect(values).toEqual([
      ['a: snr', 1, 1 - 0.9 + 0.1],
      ['a: snr', 2, 1 - 0.85 + 0.1],
      ['a: snr', 1 / (1 - 0.9), 1 - 0.6 + 0.1],
      ['b: magnitude', 1, 1 - 0.8 + 0.1],
      ['b: magnitude', 1 / (1 - 0.9), 1 - 0.4 + 0.1],
    ]);
  });

  it('refuses a directory that is neither a run nor a sweep, and a missing --out, in one line', async () => {
    const root = mkdtempSync(join(tmpdir(), 'bp-compare-'));
    const c = io();
    expect(await main(['compare', root, '--out', join(root, 'x.html')], c.io)).toBe(1);
    expect(c.err.join('')).toBe(`error: compare: ${root} is neither a finished run (curves.csv) nor a collected sweep (summary.csv)\n`);
    const d = io();
    expect(await main(['compare', root], d.io)).toBe(2);
    expect(d.err.join('')).toMatch(/^error: required option '--out <FILE>' not specified; see bayesprune compare --help\n$/);
  });
});

describe('run page from older or minimal files', () => {
  it('writes report.html without reliability or weight statistics, and explores a new curves.csv column', async () => {
    const root = mkdtempSync(join(tmpdir(), 'bp-html-'));
    const dir = fakeRun(root, 'old', [
      ['snr', 0, 0.9],
      ['snr', 0.9, 0.7],
    ]);
    const r = await writeRunHtml(dir);
    const ids = specsOf(r.file).map((s) => s.id);
    expect(ids).toContain('accuracy-vs-sparsity');
    expect(ids.some((i) => i.startsWith('reliability') || i.startsWith('logalpha') || i.startsWith('input-map'))).toBe(false);
    const explorer = specsOf(r.file).find((s) => s.id === 'explorer')!;
    const mine = explorer.spec.data.values.filter((v) => v.metric === 'myNewColumn').map((v) => v.value);
    expect(mine).toEqual([42, 42.9]);
    // Every chart but the interactive explorer also as an SVG file.
    for (const id of ids.filter((i) => i !== 'explorer')) expect(readFileSync(join(dir, 'figures', `${id}.svg`), 'utf8')).toMatch(/^<svg/);
    expect(existsSync(join(dir, 'figures', 'explorer.svg'))).toBe(false);
  }, 30_000);

  it('adds the protocol charts when curves.csv has protocol rows other than post-hoc, one series per protocol and criterion', async () => {
    const root = mkdtempSync(join(tmpdir(), 'bp-html-'));
    const dir = fakeRun(root, 'proto', [
      ['snr', 0, 0.9],
      ['snr', 0.9, 0.7],
    ]);
    const head = `${header},protocol,costEpochs,costTrainMacs`;
    const row = (p: string, s: number, a: number, macs: number) =>
      `main,snr,global,${s},weights,,${s},${s},${1 / (1 - s)},1,mc,2,${a},0.5,0.2,0.05,0.1,0.5,0.01,0,${p},3,${macs}`;
    writeFileSync(
      join(dir, 'curves.csv'),
      [head, row('post-hoc', 0, 0.9, 1e6), row('post-hoc', 0.9, 0.7, 1e6), row('fine-tune', 0.9, 0.8, 2e6), row('at-init', 0.9, 0.75, 5e5)].join('\r\n') +
        '\r\n',
    );
    const r = await writeRunHtml(dir);
    const charts = specsOf(r.file);
    const acc = charts.find((c) => c.id === 'protocols-accuracy')!;
    expect([...new Set(acc.spec.data.values.map((v) => v.series))]).toEqual(['post-hoc · snr', 'fine-tune · snr', 'at-init · snr']);
    expect(acc.spec.data.values.find((v) => v.series === 'fine-tune · snr')).toMatchObject({ x: 90, y: 80 });
    // Cost chart: the pruned points against their training multiply-adds.
    const cost = charts.find((c) => c.id === 'protocols-cost')!;
    expect(cost.spec.data.values.map((v) => [v.series, v.x])).toEqual([
      ['post-hoc · snr', 1e6],
      ['fine-tune · snr', 2e6],
      ['at-init · snr', 5e5],
    ]);
    // The main curves keep the post-hoc rows only.
    const main = charts.find((c) => c.id === 'nll-vs-sparsity')!;
    expect(main.spec.data.values).toHaveLength(2);
  }, 30_000);
});
