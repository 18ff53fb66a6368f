/**
 * `export` and `predict`: the exported LayersModel, loaded by a child process that imports
 * only @tensorflow/tfjs-core, -backend-cpu and -layers (no project code), reproduces the
 * framework's posterior-mean predictions at the operating point to 1e-5 and the run's
 * recorded accuracy there; the sparse format decodes to the LayersModel's weights; the
 * Monte Carlo pass of `predict` has the closed-form LRT moments; PNG and PGM decoding.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { deflateSync } from 'node:zlib';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/experiment/config.js';
import { loadData, runExperiment } from '../../src/experiment/run.js';
import { writeIdx } from '../../src/data/idx.js';
import { exportRun, parseExportPoint } from '../../src/export/export.js';
import { loadTrainedModel } from '../../src/export/model-store.js';
import { decodePgm, decodePng, readImages } from '../../src/export/images.js';
import { plainForward, predictExport } from '../../src/export/predict.js';
import type { PlainLayer } from '../../src/export/layers-model.js';
import { quantizeLayers, storageBytes } from '../../src/export/compression.js';
import { getCriterion } from '../../src/scores/registry.js';
import { masksAtSparsity } from '../../src/pruning/masks.js';
import { rootStream } from '../../src/random.js';
import { useTestBackend } from '../setup-backend.js';

const repo = resolve(import.meta.dirname, '..', '..');

const CONFIG = {
  experiment: 'exp',
  seed: 4,
  backend: 'cpu',
  data: { name: 'blobs' },
  model: { arch: 'mlp', hidden: [16, 12] },
  inference: { method: 'vi', warmup: { startEpoch: 0, endEpoch: 1 } },
  train: { epochs: 3, batchSize: 50, optimizer: { lr: 0.01 } },
  eval: { samples: 2 },
  pruning: { criteria: ['snr'], sparsities: [0, 0.6] },
};

/** Plain tfjs in a child process: load model.json + weights.bin with tf.loadLayersModel, predict the IDX-free raw input. */
const CHILD = `
const fs = require('node:fs');
const path = require('node:path');
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const tfl = require('@tensorflow/tfjs-layers');
(async () => {
  await tf.setBackend('cpu');
  const [dir, inputFile, n, d] = process.argv.slice(2);
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const bin = fs.readFileSync(path.join(dir, json.weightsManifest[0].paths[0]));
  const model = await tfl.loadLayersModel(tf.io.fromMemory({
    modelTopology: json.modelTopology,
    weightSpecs: json.weightsManifest[0].weights,
    weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength),
  }));
  const raw = fs.readFileSync(inputFile);
  const x = tf.tensor2d(new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4), [Number(n), Number(d)]);
  const p = model.predict(x);
  const kernels = model.layers.filter((l) => l.getWeights().length === 2).map((l) => Array.from(l.getWeights()[0].dataSync()));
  process.stdout.write(JSON.stringify({ probs: Array.from(p.dataSync()), kernels, layers: model.layers.map((l) => l.getClassName()) }));
})().catch((e) => { process.stderr.write(String(e.stack || e)); process.exit(1); });
`;

function child(args: string[]): Promise<string> {
  return new Promise((done, fail) =>
    execFile(process.execPath, args, { env: { ...process.env, NODE_PATH: join(repo, 'node_modules') }, maxBuffer: 64 << 20 }, (e, out, err) =>
      e ? fail(new Error(`${e.message}\n${err}`)) : done(out),
    ),
  );
}

let runDir = '';
let work = '';
beforeAll(async () => {
  await useTestBackend();
  work = mkdtempSync(join(tmpdir(), 'bp-export-'));
  const r = await runExperiment(validateConfig(CONFIG), { resultsDir: join(work, 'results'), progress: null });
  runDir = r.runDir;
}, 120_000);

describe('export to a tfjs LayersModel', { timeout: 120_000 }, () => {
  it('plain tfjs reproduces the framework posterior-mean predictions (1e-5) and the run accuracy at snr@0.6', async () => {
    const out = join(work, 'snr');
    const s = await exportRun(runDir, { point: parseExportPoint('snr@0.6'), out });
    const cfg = validateConfig(CONFIG);
    const data = loadData(cfg);
    const ds = data.test;
    const d = ds.x.length / ds.n;
    writeFileSync(join(work, 'x.f32'), new Uint8Array(ds.x.buffer, ds.x.byteOffset, ds.x.byteLength));
    const script = join(work, 'child.cjs');
    writeFileSync(script, CHILD);
    const got = JSON.parse(await child([script, out, join(work, 'x.f32'), String(ds.n), String(d)])) as {
      probs: number[];
      kernels: number[][];
      layers: string[];
    };
    expect(got.layers).toEqual(['Dense', 'Activation', 'Dense', 'Activation', 'Dense', 'Activation']);

    // The framework's own masked network (not compacted), rebuilt from the stored posterior.
    const post = await loadTrainedModel(runDir, 'main', cfg);
    const stream = rootStream(cfg.seed).fork('variant/main').fork('eval');
    const scores = await getCriterion('snr').compute(post, { stream: stream.fork('scores/snr'), data: data.train });
    post.setMasks(masksAtSparsity(scores, 0.6, 'global'));
    const ref = tf.tidy(() => tf.softmax(post.network.forward(tf.tensor2d(ds.x, [ds.n, d]), { sample: false })).dataSync() as Float32Array);
    post.dispose();
    expect(got.probs.length).toBe(ref.length);
    let maxDiff = 0;
    let correct = 0;
    const k = ds.numClasses;
    for (let i = 0; i < ds.n; i++) {
      let a = 0;
      for (let c = 0; c < k; c++) {
        maxDiff = Math.max(maxDiff, Math.abs(got.probs[i * k + c]! - ref[i * k + c]!));
        if (got.probs[i * k + c]! > got.probs[i * k + a]!) a = c;
      }
      if (a === ds.y[i]) correct++;
    }
    expect(maxDiff).toBeLessThan(1e-5);
    // The run's recorded posterior-mean accuracy at that operating point.
    const rows = JSON.parse(readFileSync(join(runDir, 'metrics.json'), 'utf8')).variants.main.curves as {
      criterion: string;
      targetSparsity: number;
      predictive: string;
      accuracy: number;
    }[];
    const row = rows.find((r) => r.criterion === 'snr' && r.targetSparsity === 0.6 && r.predictive === 'mean')!;
    expect(correct / ds.n).toBe(row.accuracy);
    expect(s.evaluation.accuracy).toBe(row.accuracy);
    expect(s.sparsity).toBeCloseTo(0.6, 2);
    // Compression figures (Bayesian model): the full-precision accuracy is the export's, rounding stays within one σ.
    expect(s.compression!.accuracy.full).toBe(row.accuracy);
    for (const l of s.compression!.layers) expect(l.maxErrorOverStd).toBeLessThanOrEqual(1 + 1e-5);

    // The sparse format decodes to exactly the LayersModel's kernels; its size is values + indices + biases.
    const sj = JSON.parse(readFileSync(join(out, 'sparse.json'), 'utf8')) as {
      layers: {
        shape: number[];
        nonzero: number;
        values: { offset: number; bytes: number };
        indices: { offset: number; bytes: number; dtype: string };
        bias: { bytes: number };
      }[];
      bytes: number;
    };
    const sb = readFileSync(join(out, 'sparse.bin'));
    expect(sj.bytes).toBe(sb.byteLength);
    expect(sj.layers).toHaveLength(got.kernels.length);
    sj.layers.forEach((l, i) => {
      const dense = new Float32Array(l.shape.reduce((a, b) => a * b, 1));
      const vals = new Float32Array(sb.buffer, sb.byteOffset + l.values.offset, l.nonzero);
      const idx =
        l.indices.dtype === 'uint16'
          ? new Uint16Array(sb.buffer, sb.byteOffset + l.indices.offset, l.nonzero)
          : new Uint32Array(sb.buffer, sb.byteOffset + l.indices.offset, l.nonzero);
      for (let j = 0; j < l.nonzero; j++) dense[idx[j]!] = vals[j]!;
      expect(Array.from(dense)).toEqual(got.kernels[i]!.map((v) => Math.fround(v)));
      expect(l.nonzero).toBe(got.kernels[i]!.filter((v) => v !== 0).length);
      expect(l.values.bytes).toBe(4 * l.nonzero);
      expect(l.indices.bytes).toBe((l.indices.dtype === 'uint16' ? 2 : 4) * l.nonzero);
    });
  });

  it('log-alpha point: the run threshold row, and predict reads IDX input with uncertainty', async () => {
    const out = join(work, 'la');
    const s = await exportRun(runDir, { point: parseExportPoint('log-alpha'), out });
    const m = JSON.parse(readFileSync(join(runDir, 'metrics.json'), 'utf8')).variants.main;
    const th = (m.curves as { criterion: string; predictive: string; accuracy: number }[]).find(
      (r) => r.criterion.startsWith('log-alpha≥') && r.predictive === 'mean',
    )!;
    expect(s.evaluation.accuracy).toBe(th.accuracy);
    expect(s.bayesian).toBe(true);

    const ds = loadData(validateConfig(CONFIG)).test;
    const n = 25;
    const d = ds.x.length / ds.n;
    writeIdx(join(work, 'x.idx'), [n, d], ds.x.slice(0, n * d));
    const r = await predictExport(out, readImages(join(work, 'x.idx')), { samples: 40, seed: 1 });
    expect(r.bayesian).toBe(true);
    expect(r.predictions).toHaveLength(n);
    for (const p of r.predictions) {
      expect(p.mc!.entropy).toBeLessThanOrEqual(Math.log(ds.numClasses) + 1e-9);
      expect(p.mc!.mutualInformation).toBeGreaterThanOrEqual(0);
      expect(p.mc!.mutualInformation).toBeLessThanOrEqual(p.mc!.entropy + 1e-9);
    }
  });

  it('the CLI: export prints sizes and accuracy; predict reads a PGM folder; usage errors are one line', async () => {
    const { main } = await import('../../src/cli.js');
    const io = () => {
      const o = { out: '', err: '' };
      return { o, io: { stdout: { write: (t: string) => (o.out += t) }, stderr: { write: (t: string) => (o.err += t) } } };
    };
    const a = io();
    const dir = join(work, 'cli-export');
    expect(await main(['export', runDir, '--point', 'snr@0.6', '--out', dir], a.io)).toBe(0);
    expect(a.o.out).toMatch(/exported main \(vi\) at snr@0\.6: sparsity 60\.00%/);
    expect(a.o.out).toMatch(/sizes of the exported \(compacted\) network: dense float32 .* KiB, LayersModel weights .* sparse .* KiB/);
    // Blobs have 2-D features: write two 1×2 PGM "images" whose pixels are the features scaled to [0, 1].
    const imgs = join(work, 'pgm');
    mkdirSync(imgs);
    writeFileSync(join(imgs, 'a.pgm'), Buffer.concat([Buffer.from('P5 2 1 255\n', 'latin1'), Buffer.from([0, 255])]));
    writeFileSync(join(imgs, 'b.pgm'), Buffer.concat([Buffer.from('P5 2 1 255\n', 'latin1'), Buffer.from([255, 0])]));
    const b = io();
    const inDim = (JSON.parse(readFileSync(join(runDir, 'model', 'main', 'posterior.json'), 'utf8')) as { inputShape: number[] }).inputShape[0];
    const code = await main(['predict', dir, imgs, '--samples', '5'], b.io);
    expect(inDim).toBe(2); // blobs default to 2 features
    expect(code).toBe(0);
    expect(b.o.out.split('\n')[0]).toMatch(/^image\tlabel\tp\tmc_label/);
    expect(b.o.out).toMatch(/\na\.pgm\t\d\t[01]\.\d{4}\t\d\t/);
    const c = io();
    expect(await main(['export', runDir, '--out', dir], c.io)).toBe(2);
    expect(c.o.err.trim().split('\n')).toHaveLength(1);
    expect(c.o.err).toMatch(/--point/);
  });

  it('refuses a bad point, a missing run and a run without a stored posterior in one line', async () => {
    expect(() => parseExportPoint('snr@1.5')).toThrow(/sparsity must be in \[0, 1\)/);
    expect(() => parseExportPoint('snrr@0.5')).toThrow(/unknown criterion "snrr"/);
    expect(() => parseExportPoint('half')).toThrow(/expected criterion@sparsity/);
    await expect(exportRun(join(work, 'nope'), { point: { kind: 'log-alpha' }, out: join(work, 'x') })).rejects.toThrow(/is not a directory/);
    const empty = join(work, 'empty-run');
    mkdirSync(empty);
    writeFileSync(join(empty, 'config.json'), readFileSync(join(runDir, 'config.json')));
    await expect(exportRun(empty, { point: { kind: 'log-alpha' }, out: join(work, 'x') })).rejects.toThrow(/has no stored posterior/);
  });
});

describe('export of a gated network', { timeout: 120_000 }, () => {
  it('--point gates: the gates decide, and the export reproduces the run gates row', async () => {
    const root = mkdtempSync(join(tmpdir(), 'bp-export-l0-'));
    const cfg = { ...CONFIG, experiment: 'l0', inference: { method: 'l0' }, pruning: { criteria: ['magnitude'], sparsities: [0] } };
    const r = await runExperiment(validateConfig(cfg), { resultsDir: root, progress: null });
    const s = await exportRun(r.runDir, { point: parseExportPoint('gates'), out: join(root, 'out') });
    const row = (
      JSON.parse(readFileSync(join(r.runDir, 'metrics.json'), 'utf8')).variants.main.curves as {
        criterion: string;
        predictive: string;
        accuracy: number;
        sparsity: number;
      }[]
    ).find((x) => x.criterion === 'gates' && x.predictive === 'mean')!;
    expect(s.method).toBe('l0');
    expect(s.evaluation.accuracy).toBe(row.accuracy);
    expect(s.sparsity).toBeCloseTo(row.sparsity, 12);
    expect(s.evaluation.maxAbsProbDiff).toBeLessThan(1e-5);
  });
});

describe('predict internals', () => {
  it('the sampled pass of a dense layer has the LRT moments N(x·μ + b, x²·σ²)', () => {
    const mu = Float32Array.from([0.5, -1, 2, 0.25, 0, 1]); // [3 inputs, 2 units]
    const v = Float32Array.from([0.04, 0.01, 0.09, 0, 0.25, 0.16]);
    const b = Float32Array.from([0.1, -0.2]);
    const layer: PlainLayer = { type: 'dense', name: 'fc', inputs: 3, units: 2, weight: mu, variance: v, bias: b };
    const x = [1, -2, 0.5];
    const S = 4000;
    const xs = tf.tensor2d(
      Array.from({ length: S }, () => x),
      [S, 3],
    );
    const out = plainForward([layer], xs, true, 11).dataSync();
    xs.dispose();
    for (let j = 0; j < 2; j++) {
      const mean = x.reduce((a, xi, i) => a + xi * mu[i * 2 + j]!, b[j]!);
      const variance = x.reduce((a, xi, i) => a + xi * xi * v[i * 2 + j]!, 0);
      let m = 0;
      for (let s = 0; s < S; s++) m += out[s * 2 + j]! / S;
      let q = 0;
      for (let s = 0; s < S; s++) q += (out[s * 2 + j]! - m) ** 2 / (S - 1);
      expect(Math.abs(m - mean)).toBeLessThan(4 * Math.sqrt(variance / S));
      expect(q / variance).toBeGreaterThan(0.9);
      expect(q / variance).toBeLessThan(1.1);
    }
  });

  it('Bayesian compression: bits from the smallest posterior σ of kept weights, rounding within one σ, storage by hand', () => {
    const layer: PlainLayer = {
      type: 'dense',
      name: 'fc',
      inputs: 2,
      units: 2,
      weight: Float32Array.from([0.1, -0.3, 0, 0.5]),
      variance: Float32Array.from([0.05 ** 2, 0.1 ** 2, 1, 0.2 ** 2]),
      bias: Float32Array.from([0, 1]),
    };
    const q = quantizeLayers([layer]);
    const p = q.precision[0]!;
    // step 2·0.05 = 0.1; range 0.8 → ⌈0.8 / 0.1⌉ + 1 = 9 levels → 4 bits.
    expect(p.step).toBeCloseTo(0.1, 7); // σ stored as float32
    expect(p.bits).toBe(4);
    expect(p.kept).toBe(3);
    const w = (q.layers[0] as Extract<PlainLayer, { type: 'dense' }>).weight;
    expect(w[2]).toBe(0);
    for (const i of [0, 1, 3]) {
      const k = Math.round((w[i]! + 0.3) / 0.1);
      expect(Math.abs(w[i]! - (-0.3 + 0.1 * k))).toBeLessThan(1e-6); // on the grid
      expect(Math.abs(w[i]! - layer.weight[i]!)).toBeLessThanOrEqual(Math.sqrt(layer.variance[i]!) + 1e-7);
    }
    expect(p.maxErrorOverStd).toBeLessThanOrEqual(1 + 1e-6);
    // 3 kept × 4 bits = 2 bytes, 3 uint16 indices, 8 bytes of grid, 2 float32 biases; dense 4 × (4 + 2).
    expect(storageBytes([layer], q.precision)).toEqual({ denseFloat32: 24, sparseFloat32: 12 + 6 + 8, quantizedSparse: 2 + 6 + 8 + 8 });
  });

  it('decodes PNG (gray, RGB; filters none, sub, up, average, Paeth) and PGM (P5, P2)', () => {
    const w = 5;
    const h = 5;
    const px = Uint8Array.from({ length: w * h }, (_, i) => (i * 37 + 11) % 256);
    // Encode each row with filter = row index (0..4), as an encoder would (predictors on raw bytes).
    const raw: number[] = [];
    for (let y = 0; y < h; y++) {
      const f = y;
      raw.push(f);
      for (let x = 0; x < w; x++) {
        const a = x > 0 ? px[y * w + x - 1]! : 0;
        const b = y > 0 ? px[(y - 1) * w + x]! : 0;
        const c = x > 0 && y > 0 ? px[(y - 1) * w + x - 1]! : 0;
        const p = a + b - c;
        const paeth = Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c;
        const pred = [0, a, b, (a + b) >> 1, paeth][f]!;
        raw.push((px[y * w + x]! - pred + 256) & 0xff);
      }
    }
    const chunk = (type: string, data: Buffer) => {
      const len = Buffer.alloc(4);
      len.writeUInt32BE(data.length);
      return Buffer.concat([len, Buffer.from(type, 'latin1'), data, Buffer.alloc(4)]); // CRC not checked by the reader
    };
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(w, 0);
    ihdr.writeUInt32BE(h, 4);
    ihdr[8] = 8;
    const png = Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      chunk('IHDR', ihdr),
      chunk('IDAT', deflateSync(Buffer.from(raw))),
      chunk('IEND', Buffer.alloc(0)),
    ]);
    const g = decodePng(png);
    expect([g.width, g.height]).toEqual([w, h]);
    expect(Array.from(g.gray, (v) => Math.round(v * 255))).toEqual(Array.from(px));

    // RGB, 2×1, filter none: gray is the mean of R, G, B.
    const ihdrRgb = Buffer.alloc(13);
    ihdrRgb.writeUInt32BE(2, 0);
    ihdrRgb.writeUInt32BE(1, 4);
    ihdrRgb[8] = 8;
    ihdrRgb[9] = 2;
    const png2 = Buffer.concat([
      png.subarray(0, 8),
      chunk('IHDR', ihdrRgb),
      chunk('IDAT', deflateSync(Buffer.from([0, 30, 60, 90, 255, 0, 0]))),
      chunk('IEND', Buffer.alloc(0)),
    ]);
    const c = decodePng(png2);
    expect(Array.from(c.gray, (v) => v * 255)).toEqual([60, 85].map((v) => expect.closeTo(v, 4)));

    const p5 = Buffer.concat([Buffer.from('P5\n# comment\n3 2\n255\n', 'latin1'), Buffer.from([0, 51, 102, 153, 204, 255])]);
    expect(Array.from(decodePgm(p5).gray)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1].map((v) => expect.closeTo(v, 6)));
    const p2 = Buffer.from('P2 2 1 10\n5 10\n', 'latin1');
    expect(Array.from(decodePgm(p2).gray)).toEqual([0.5, 1]);
  });
});
