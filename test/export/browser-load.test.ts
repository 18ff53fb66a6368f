/**
 * The exported LayersModel in a browser: headless Chromium (the system `chromium`, driven by
 * puppeteer-core) loads tfjs-core, -backend-cpu and -layers from their own UMD bundles and
 * `tf.loadLayersModel('http://…/model.json')` from a local HTTP server, exactly as a web page
 * would; its predictions match the framework's to 1e-5. Without Chromium the test is skipped with
 * a message, except under CI=true, where that is a failure.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/experiment/config.js';
import { loadData, runExperiment } from '../../src/experiment/run.js';
import { exportRun } from '../../src/export/export.js';
import { loadTrainedModel } from '../../src/export/model-store.js';
import { getCriterion } from '../../src/scores/registry.js';
import { masksAtSparsity } from '../../src/pruning/masks.js';
import { rootStream } from '../../src/random.js';
import { useTestBackend } from '../setup-backend.js';

const repo = resolve(import.meta.dirname, '..', '..');
const CANDIDATES = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].filter((p): p is string =>
  Boolean(p),
);
const chromium = CANDIDATES.find((p) => existsSync(p));
const ci = process.env.CI === 'true' || process.env.CI === '1';
if (!chromium) {
  const msg = `export browser test: no Chromium found (looked for ${CANDIDATES.join(', ')}); install the Debian package \`chromium\` or set CHROMIUM_PATH`;
  if (ci)
    describe('exported model in a browser', () => {
      it('needs Chromium under CI', () => {
        throw new Error(`${msg} (CI=true: a skip is a failure)`);
      });
    });
  else process.stderr.write(`SKIPPED: ${msg}\n`);
}

const CONFIG = {
  experiment: 'browser-export',
  seed: 6,
  backend: 'cpu',
  data: { name: 'blobs' },
  model: { arch: 'mlp', hidden: [16] },
  inference: { method: 'vi', warmup: { startEpoch: 0, endEpoch: 1 } },
  train: { epochs: 2, batchSize: 50, optimizer: { lr: 0.01 } },
  eval: { samples: 2 },
  pruning: { criteria: ['snr'], sparsities: [0, 0.5] },
};

const PAGE = `<!doctype html><html><head><meta charset="utf-8">
<script src="/tf-core.js"></script><script src="/tf-backend-cpu.js"></script><script src="/tf-layers.js"></script>
</head><body><script>
(async () => {
  try {
    await tf.setBackend('cpu');
    const model = await tf.loadLayersModel('/export/model.json');
    const input = await (await fetch('/x.json')).json();
    const p = model.predict(tf.tensor2d(input.x, [input.n, input.d]));
    window.__result = { probs: Array.from(await p.data()), backend: tf.getBackend() };
  } catch (e) {
    window.__result = { error: String(e && e.stack || e) };
  }
})();
</script></body></html>`;

describe.skipIf(!chromium)('exported model in a browser', { timeout: 180_000 }, () => {
  let server: Server;
  let port = 0;
  let out = '';
  let runDir = '';
  let x: Float32Array;
  let n = 0;
  let d = 0;

  beforeAll(async () => {
    await useTestBackend();
    const work = mkdtempSync(join(tmpdir(), 'bp-export-browser-'));
    const r = await runExperiment(validateConfig(CONFIG), { resultsDir: work, progress: null });
    runDir = r.runDir;
    out = join(work, 'export');
    await exportRun(r.runDir, { point: { kind: 'criterion', criterion: 'snr', sparsity: 0.5 }, out });
    const ds = loadData(validateConfig(CONFIG)).test;
    n = 50;
    d = ds.x.length / ds.n;
    x = ds.x.slice(0, n * d);
    const files: Record<string, () => Buffer | string> = {
      '/index.html': () => PAGE,
      '/tf-core.js': () => readFileSync(join(repo, 'node_modules/@tensorflow/tfjs-core/dist/tf-core.min.js')),
      '/tf-backend-cpu.js': () => readFileSync(join(repo, 'node_modules/@tensorflow/tfjs-backend-cpu/dist/tf-backend-cpu.min.js')),
      '/tf-layers.js': () => readFileSync(join(repo, 'node_modules/@tensorflow/tfjs-layers/dist/tf-layers.min.js')),
      '/export/model.json': () => readFileSync(join(out, 'model.json')),
      '/export/weights.bin': () => readFileSync(join(out, 'weights.bin')),
      '/x.json': () => JSON.stringify({ x: Array.from(x), n, d }),
    };
    server = createServer((req, res) => {
      if (req.url === '/favicon.ico') {
        res.writeHead(204).end(); // the browser asks for it; not an error of the page
        return;
      }
      const f = files[(req.url ?? '').split('?')[0]!];
      if (!f) {
        res.writeHead(404).end();
        return;
      }
      const body = f();
      const type = req.url!.endsWith('.html')
        ? 'text/html'
        : req.url!.endsWith('.js')
          ? 'text/javascript'
          : req.url!.endsWith('.bin')
            ? 'application/octet-stream'
            : 'application/json';
      res.writeHead(200, { 'content-type': type }).end(body);
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    port = (server.address() as { port: number }).port;
  }, 120_000);

  afterAll(() => new Promise<void>((done) => (server ? server.close(() => done()) : done())));

  it('tf.loadLayersModel over HTTP in Chromium predicts what the framework predicts (1e-5)', async () => {
    const puppeteer = (await import('puppeteer-core')).default;
    const browser = await puppeteer.launch({ executablePath: chromium!, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto(`http://127.0.0.1:${port}/index.html`);
      await page.waitForFunction('window.__result !== undefined', { timeout: 60_000 });
      const got = (await page.evaluate('window.__result')) as { probs?: number[]; backend?: string; error?: string };
      expect(got.error).toBeUndefined();
      expect(got.backend).toBe('cpu');
      expect(errors, errors.join('\n')).toEqual([]);

      const cfg = validateConfig(CONFIG);
      const data = loadData(cfg);
      const post = await loadTrainedModel(runDir, 'main', cfg);
      const scores = await getCriterion('snr').compute(post, {
        stream: rootStream(cfg.seed).fork('variant/main').fork('eval').fork('scores/snr'),
        data: data.train,
      });
      post.setMasks(masksAtSparsity(scores, 0.5, 'global'));
      const ref = tf.tidy(() => tf.softmax(post.network.forward(tf.tensor2d(x, [n, d]), { sample: false })).dataSync() as Float32Array);
      post.dispose();
      expect(got.probs).toHaveLength(ref.length);
      let maxDiff = 0;
      for (let i = 0; i < ref.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got.probs![i]! - ref[i]!));
      expect(maxDiff).toBeLessThan(1e-5);
    } finally {
      await browser.close();
    }
  });
});
