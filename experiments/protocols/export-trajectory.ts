/**
 * Exports what our MAP training of a config starts from and the order it visits the examples in,
 * so that experiments/protocols/torch_reference.py --replay <dir> can train the same network
 * from the same initial weights on the same batches with PyTorch's Adam, and compare:
 *   <dir>/init.f32          the initial variables (fc1.w [784×300] as stored by us, [in, out], then fc1.b, ...)
 *   <dir>/perm.i32          the permutation of the training set of every epoch (epochs × n)
 *   <dir>/after.f32         (with --steps-epochs K) our variables after K epochs of our Trainer
 *   <dir>/meta.json         names, shapes, offsets, seed, epochs, K
 *
 *   npx tsx experiments/protocols/export-trajectory.ts <config> <dir> [key=value ...] [--seed S] [--epochs-ours K]
 *   (overrides as for `run`, e.g. data.trainLimit=100: one step per epoch, to compare single steps)
 *
 * The streams are the run's own: rootStream(seed).fork('variant/main') for the network
 * (networkFor forks 'init'), .fork('train') for the Trainer, whose epoch e shuffles with
 * .fork(`epoch-${e}`).fork('shuffle') (src/inference/trainer.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/experiment/config.js';
import { loadData } from '../../src/experiment/run.js';
import { networkFor } from '../../src/inference/methods.js';
import { trainOptionsFrom } from '../../src/inference/train-options.js';
import { Trainer } from '../../src/inference/trainer.js';
import { rootStream } from '../../src/random.js';
import { initBackend } from '../../src/backend.js';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const positional = args.filter((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
const [configPath, dir] = positional.filter((a) => !a.includes('='));
const overrides = positional.filter((a) => a.includes('='));
if (!configPath || !dir) {
  console.error('usage: npx tsx experiments/protocols/export-trajectory.ts <config> <dir> [key=value ...] [--seed S] [--epochs-ours K]');
  process.exit(2);
}
const seedFlag = flag('--seed');
const cfg = loadConfig(configPath, [...overrides, ...(seedFlag ? [`seed=${seedFlag}`] : [])]);
const oursEpochs = Number(flag('--epochs-ours') ?? 0);
await initBackend(cfg.backend, 'config');
mkdirSync(dir, { recursive: true });
const data = loadData(cfg);
const stream = rootStream(cfg.seed).fork('variant/main');
const net = networkFor(cfg, data.train, stream);
const vars = net.variables();
const dump = (): Float32Array => {
  const parts = vars.map((v) => v.dataSync() as Float32Array);
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};
const init = dump();
writeFileSync(join(dir, 'init.f32'), Buffer.from(init.buffer));
const train = stream.fork('train');
const n = data.train.n;
const perm = new Int32Array(cfg.train.epochs * n);
for (let e = 0; e < cfg.train.epochs; e++) perm.set(train.fork(`epoch-${e}`).fork('shuffle').permutation(n), e * n);
writeFileSync(join(dir, 'perm.i32'), Buffer.from(perm.buffer));
let offset = 0;
const variables = vars.map((v) => {
  const r = { name: v.name, shape: v.shape, offset, length: v.size };
  offset += v.size;
  return r;
});
if (oursEpochs > 0) {
  const trainer = new Trainer(net, data.train, { ...trainOptionsFrom(cfg), epochs: oursEpochs }, train);
  const hist = await trainer.run();
  trainer.dispose();
  writeFileSync(join(dir, 'after.f32'), Buffer.from(dump().buffer));
  console.log(`ours: ${oursEpochs} epochs, last loss ${hist.at(-1)!.loss.toFixed(5)}`);
}
writeFileSync(
  join(dir, 'meta.json'),
  JSON.stringify({ config: configPath, seed: cfg.seed, epochs: cfg.train.epochs, n, oursEpochs, train: cfg.train, init: cfg.model.init, variables }, null, 1),
);
console.log(`seed ${cfg.seed}: init + ${cfg.train.epochs} permutations of ${n} → ${dir}`);
