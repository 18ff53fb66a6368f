import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/experiment/config.js';
import { checkpointPath, loadCheckpoint, saveCheckpoint } from '../../src/experiment/checkpoint.js';
import { loadData } from '../../src/experiment/run.js';
import { networkFor } from '../../src/inference/methods.js';
import { Trainer } from '../../src/inference/trainer.js';
import type { Network } from '../../src/nn/network.js';
import { rootStream } from '../../src/random.js';
import { useTestBackend } from '../setup-backend.js';

beforeAll(useTestBackend);

const cfg = validateConfig({
  experiment: 'ckpt',
  seed: 5,
  backend: 'cpu',
  data: { name: 'blobs' },
  model: { arch: 'mlp', hidden: [8] },
  inference: { method: 'vi' },
  train: { epochs: 2, batchSize: 50, optimizer: { lr: 0.01 } },
});
const data = loadData(cfg);
const trainOpts = { epochs: 2, batchSize: 50, lr: { name: 'constant' as const, lr: 0.01 }, temperature: 1 };

/** Raw bytes of every variable, for bit-exact comparison. */
const bits = (net: Network) => net.variables().map((v) => Array.from(new Uint32Array(Float32Array.from(v.dataSync()).buffer)));
const optBits = (o: { name: string; values: Float32Array }[]) => o.map((w) => [w.name, Array.from(new Uint32Array(Float32Array.from(w.values).buffer))]);

interface Saved {
  file: string;
  vars: number[][];
  optimizer: { name: string; shape: number[]; values: Float32Array }[];
}

/** Train 2 epochs, checkpointing after each; keep a copy of each epoch's file and the exact state. */
async function trainAndCheckpoint(dir: string): Promise<Saved[]> {
  const net = networkFor(cfg, data.train, rootStream(1));
  const tr = new Trainer(net, data.train, trainOpts, rootStream(2));
  const saved: Saved[] = [];
  await tr.run({
    onEpoch: async (st, t) => {
      const state = await t.state();
      await saveCheckpoint(dir, 'ckpt-main', t.epoch, net.variables(), state.optimizer, { history: [st] });
      const copy = join(dir, `epoch${t.epoch}.ckpt`);
      copyFileSync(checkpointPath(dir, 'ckpt-main'), copy);
      saved.push({ file: copy, vars: bits(net), optimizer: state.optimizer });
    },
  });
  tr.dispose();
  net.dispose();
  return saved;
}

describe('checkpoints are one atomic, verified unit', { timeout: 60_000 }, () => {
  it('a good checkpoint round-trips bit for bit, Adam state included, and the resumed epoch equals the uninterrupted one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bp-ckpt-'));
    const [e1, e2] = await trainAndCheckpoint(dir);
    copyFileSync(e1!.file, checkpointPath(dir, 'ckpt-main'));
    // A fresh network with a different initialization.
    const net = networkFor(cfg, data.train, rootStream(99));
    expect(bits(net)).not.toEqual(e1!.vars);
    const ck = loadCheckpoint<{ history: unknown[] }>(dir, 'ckpt-main', net.variables())!;
    expect(ck.index.epoch).toBe(1);
    expect(ck.index.meta.history).toHaveLength(1);
    expect(bits(net)).toEqual(e1!.vars);
    expect(optBits(ck.optimizer)).toEqual(optBits(e1!.optimizer));
    expect(ck.optimizer.some((w) => w.name === '__accBeta1')).toBe(true);
    // Restored into a trainer, the optimizer state reads back identically, and epoch 2 reproduces the uninterrupted epoch 2.
    const tr = new Trainer(net, data.train, trainOpts, rootStream(2));
    await tr.restore({ epoch: ck.index.epoch, optimizer: ck.optimizer });
    expect(optBits((await tr.state()).optimizer)).toEqual(optBits(e1!.optimizer));
    await tr.run();
    expect(bits(net)).toEqual(e2!.vars);
    tr.dispose();
    net.dispose();
  });

  it('rejects a torn checkpoint (header of epoch 1, payload of epoch 2), a truncated one, a flipped bit and the old two-part format', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bp-ckpt-'));
    const [e1, e2] = await trainAndCheckpoint(dir);
    const a = readFileSync(e1!.file);
    const b = readFileSync(e2!.file);
    // Both files: 8-byte magic, uint32 header length, header, payload, 32-byte hash.
    const h = a.readUInt32LE(8);
    const hb = b.readUInt32LE(8);
    expect(a.subarray(12, 12 + h).toString()).toMatch(/"epoch":1/);
    expect(b.subarray(12, 12 + hb).toString()).toMatch(/"epoch":2/);
    const torn = Buffer.concat([a.subarray(0, 12 + h), b.subarray(12 + hb)]);
    expect(torn.length).toBe(a.length);
    const target = checkpointPath(dir, 'ckpt-main');
    const net = networkFor(cfg, data.train, rootStream(99));
    const before = bits(net);
    const expectRejected = (buf: Buffer, why: RegExp) => {
      writeFileSync(target, buf);
      expect(() => loadCheckpoint(dir, 'ckpt-main', net.variables())).toThrow(why);
      expect(() => loadCheckpoint(dir, 'ckpt-main', net.variables())).toThrow(/delete it to retrain this model from epoch 0/);
      expect(bits(net)).toEqual(before); // nothing assigned
    };
    expectRejected(torn, new RegExp(`checkpoint ${target} fails its SHA-256 check`));
    expectRejected(a.subarray(0, a.length - 100), /fails its SHA-256 check/);
    expectRejected(a.subarray(0, 20), /is truncated/);
    expectRejected(Buffer.alloc(0), /not a bayesprune checkpoint/);
    const flipped = Buffer.from(a);
    flipped[flipped.length - 200] ^= 1;
    expectRejected(flipped, /fails its SHA-256 check/);
    // The same parts stitched in their own order are fine: the check is not over-eager.
    writeFileSync(target, Buffer.concat([a.subarray(0, 12 + h), a.subarray(12 + h)]));
    expect(loadCheckpoint(dir, 'ckpt-main', net.variables())!.index.epoch).toBe(1);
    // A checkpoint of another model is rejected by name / size.
    const other = networkFor(validateConfig({ ...cfg, model: { arch: 'mlp', hidden: [4] } }), data.train, rootStream(1));
    expect(() => loadCheckpoint(dir, 'ckpt-main', other.variables())).toThrow(/the model expects/);
    other.dispose();
    // Old two-part files (which could tear) are never trusted.
    const old = mkdtempSync(join(tmpdir(), 'bp-ckpt-'));
    writeFileSync(join(old, 'ckpt-main.ckpt.json'), '{"epoch":1}');
    writeFileSync(join(old, 'ckpt-main.ckpt.bin'), Buffer.alloc(8));
    expect(() => loadCheckpoint(old, 'ckpt-main', net.variables())).toThrow(/old two-part format/);
    // No checkpoint at all: null.
    expect(loadCheckpoint(mkdtempSync(join(tmpdir(), 'bp-ckpt-')), 'ckpt-main', net.variables())).toBeNull();
    net.dispose();
  });
});
