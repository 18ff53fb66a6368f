/**
 * Sweeps end to end, with real worker processes: parallel runs, failures, kill -9 and resume,
 * shards and collect. Tiny runs (blobs, 1 epoch, an 8-unit MLP) on the cpu backend.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/experiment/config.js';
import { collectAction, sweepAction } from '../../src/experiment/sweep-cli.js';
import { collectSweep, completedRun, runSweep, sweepPoints, type PointRecord } from '../../src/experiment/sweep.js';

const base = {
  experiment: 'sw',
  backend: 'cpu',
  data: { name: 'blobs' },
  model: { arch: 'mlp', hidden: [8] },
  inference: { warmup: { startEpoch: 0, endEpoch: 1 } },
  train: { epochs: 1, batchSize: 50, optimizer: { lr: 0.01 } },
  eval: { samples: 2 },
  pruning: { criteria: ['snr', 'random'], sparsities: [0, 0.5] },
};
const sweep = { grid: { 'inference.temperature': [1, 0.1] }, seeds: [1, 2] };
const cfg = validateConfig({ ...base, sweep });

const text = (dir: string, f: string) => readFileSync(join(dir, f), 'utf8');
/** Split one CSV line (RFC 4180 quoting). */
const fields = (line: string): string[] => {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') ((cur += '"'), i++);
      else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') (out.push(cur), (cur = ''));
    else cur += ch;
  }
  out.push(cur);
  return out;
};
/**
 * A sweep CSV without its wall-clock columns (e.g. `costSeconds`, which differs between any two
 * runs); every other column must match byte for byte.
 */
const csv = (dir: string, f: string) => {
  const [head, ...rows] = readFileSync(join(dir, f), 'utf8').trim().split(/\r?\n/);
  const h = fields(head!);
  const keep = h.map((c, i) => (/seconds/i.test(c) ? -1 : i)).filter((i) => i >= 0);
  return [h, ...rows.map(fields)].map((r) => keep.map((i) => r[i]).join('\u0001')).join('\n');
};
const record = (dir: string, label: string) => JSON.parse(readFileSync(join(dir, 'runs', label, 'point.json'), 'utf8')) as PointRecord;
const runDirs = (dir: string) => readdirSync(join(dir, 'runs')).flatMap((l) => readdirSync(join(dir, 'runs', l)).map((d) => `${l}/${d}`));

let reference: string; // the uninterrupted --jobs 2 sweep

beforeAll(async () => {
  const r = await runSweep(cfg, { resultsDir: mkdtempSync(join(tmpdir(), 'bp-sweep-ref-')), progress: null, jobs: 2 });
  expect(r.failed).toEqual([]);
  reference = r.sweepDir;
}, 240_000);

afterEach(() => {
  delete process.env.BAYESPRUNE_SWEEP_FAULT;
});

describe('sweeps with worker processes', { timeout: 240_000 }, () => {
  it('runs every point once, records label → values → config hash, and aggregates over seeds', () => {
    const pts = sweepPoints(cfg);
    const rec = JSON.parse(text(reference, 'sweep.json'));
    expect(rec.points.map((p: { label: string }) => p.label)).toEqual(pts.map((p) => p.label));
    expect(rec.points[3].values).toEqual({ 'inference.temperature': 0.1, seed: 2 });
    expect(rec.points[3].configHash).toBe(pts[3]!.configHash);
    for (const p of pts) {
      const run = completedRun(reference, p.label)!;
      const saved = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8'));
      expect(saved.seed).toBe(p.values.seed);
      // sweep.json's configHash is SHA-256 of the canonical JSON (keys sorted) of the run's config.json.
      const sorted = (v: unknown): unknown =>
        v && typeof v === 'object' && !Array.isArray(v)
          ? Object.fromEntries(
              Object.keys(v)
                .sort()
                .map((k) => [k, sorted((v as Record<string, unknown>)[k])]),
            )
          : Array.isArray(v)
            ? v.map(sorted)
            : v;
      expect(
        createHash('sha256')
          .update(JSON.stringify(sorted(saved)))
          .digest('hex'),
      ).toBe(p.configHash);
      expect(saved.inference.temperature).toBe(p.values['inference.temperature']);
      expect(record(reference, p.label).status).toBe('complete');
      expect(readFileSync(join(reference, 'runs', p.label, 'log.txt'), 'utf8')).toContain('[main] train done');
    }
    // runs.csv: one block per point in canonical order, every row carrying its label and seed.
    const lines = text(reference, 'runs.csv').trim().split('\n');
    const h = lines[0]!.split(',');
    const rows = lines.slice(1).map((l) => l.split(','));
    expect([...new Set(rows.map((r) => r[h.indexOf('label')]))]).toEqual(pts.map((p) => p.label));
    for (const r of rows) {
      const p = pts.find((q) => q.label === r[h.indexOf('label')])!;
      expect(Number(r[h.indexOf('seed')])).toBe(p.values.seed);
    }
  });

  it('a point that throws or is killed does not stop the others; the sweep exits non-zero; --resume reruns only those', async () => {
    const root = mkdtempSync(join(tmpdir(), 'bp-sweep-fail-'));
    const file = join(root, 'c.json');
    writeFileSync(file, JSON.stringify({ ...base, sweep: { seeds: [1, 2, 3] } }));
    const pts = sweepPoints(validateConfig({ ...base, sweep: { seeds: [1, 2, 3] } }));
    process.env.BAYESPRUNE_SWEEP_FAULT = `throw@${pts[0]!.label},kill@${pts[1]!.label}`;
    const dir = join(root, 'sw');
    const code = await sweepAction(file, [], { jobs: 2, retry: 1, sweepDir: dir, quiet: true });
    expect(code).toBe(1);
    expect(completedRun(dir, pts[2]!.label)).toBeDefined();
    const thrown = record(dir, pts[0]!.label);
    expect(thrown.status).toBe('failed');
    expect(thrown.attempts).toHaveLength(2); // --retry 1
    expect(thrown.attempts[1]!.error).toContain('injected fault');
    expect(thrown.attempts[1]!.exitCode).toBe(1);
    expect(readFileSync(join(dir, 'runs', pts[0]!.label, 'log.txt'), 'utf8')).toMatch(/error: injected fault[\s\S]*at runJob/);
    const killed = record(dir, pts[1]!.label);
    expect(killed.attempts.at(-1)!.signal).toBe('SIGKILL');
    expect(killed.attempts.at(-1)!.error).toMatch(/killed by SIGKILL/);
    // The summary covers the finished point and says which are missing; collect exits non-zero.
    expect(text(dir, 'summary.md')).toContain('INCOMPLETE: 2 of 3 points missing');
    expect(await collectAction([dir], { quiet: true })).toBe(1);

    delete process.env.BAYESPRUNE_SWEEP_FAULT;
    const done = statSync(join(completedRun(dir, pts[2]!.label)!, 'manifest.json')).mtimeMs;
    const r = await runSweep(validateConfig({ ...base, sweep: { seeds: [1, 2, 3] } }), { resume: dir, jobs: 2, progress: null });
    expect(r.skipped).toEqual([pts[2]!.label]);
    expect(r.ran.sort()).toEqual([pts[0]!.label, pts[1]!.label].sort());
    expect(r.failed).toEqual([]);
    expect(statSync(join(completedRun(dir, pts[2]!.label)!, 'manifest.json')).mtimeMs).toBe(done);
    expect(await collectAction([dir], { quiet: true })).toBe(0);
  });

  it('kill -9 of the driver, then --resume: no finished point rerun, summary equal to the uninterrupted sweep', async () => {
    const root = mkdtempSync(join(tmpdir(), 'bp-sweep-kill-'));
    const dir = join(root, 'sw');
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
    const mod = pathToFileURL(resolve('src/experiment/sweep.ts')).href;
    const cfgMod = pathToFileURL(resolve('src/experiment/config.ts')).href;
    const script = `const { runSweep } = await import(${JSON.stringify(mod)}); const { validateConfig } = await import(${JSON.stringify(cfgMod)});
      await runSweep(validateConfig(${JSON.stringify({ ...base, sweep })}), { sweepDir: ${JSON.stringify(dir)}, jobs: 1, progress: null });`;
    const driver = spawn(process.execPath, ['--import', tsx, '--input-type=module', '-e', script], { stdio: 'ignore' });
    const pts = sweepPoints(cfg);
    // Wait until two points have finished, then kill the driver (its worker exits with it).
    const t0 = Date.now();
    while (pts.filter((p) => existsSync(join(dir, 'runs')) && completedRun(dir, p.label)).length < 2) {
      if (Date.now() - t0 > 180_000 || driver.exitCode !== null) throw new Error('the sweep driver did not get going');
      await new Promise((r) => setTimeout(r, 100));
    }
    driver.kill('SIGKILL');
    await new Promise((r) => driver.once('exit', r));
    const finished = pts.filter((p) => completedRun(dir, p.label));
    expect(finished.length).toBeGreaterThanOrEqual(2);
    expect(finished.length).toBeLessThan(4);
    const before = new Map(finished.map((p) => [p.label, statSync(join(completedRun(dir, p.label)!, 'manifest.json')).mtimeMs]));

    const r = await runSweep(cfg, { resume: dir, jobs: 2, progress: null });
    expect(r.skipped.sort()).toEqual([...before.keys()].sort());
    expect(r.ran.length).toBe(4 - before.size);
    for (const [label, mtime] of before) {
      expect(statSync(join(completedRun(dir, label)!, 'manifest.json')).mtimeMs).toBe(mtime);
      expect(record(dir, label).attempts).toHaveLength(1);
    }
    // Exactly one finished run per point, and the same numbers as the uninterrupted sweep.
    expect(runDirs(dir).filter((d) => !d.includes('/.') && !/\.(txt|json)$/.test(d))).toHaveLength(4);
    expect(csv(dir, 'runs.csv')).toBe(csv(reference, 'runs.csv'));
    expect(csv(dir, 'summary.csv')).toBe(csv(reference, 'summary.csv'));
  });

  it('a run that finished after its driver last wrote point.json is recorded on --resume (the kill -9 window between the two)', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'bp-sweep-window-')), 'sw');
    cpSync(reference, dir, { recursive: true });
    const [p] = sweepPoints(cfg);
    // What the driver leaves when it dies after the worker renamed the run into place but before it recorded it.
    const rec = record(dir, p!.label);
    writeFileSync(join(dir, 'runs', p!.label, 'point.json'), JSON.stringify({ ...rec, status: 'running', runDir: null, attempts: [] }));
    const r = await runSweep(cfg, { resume: dir, jobs: 1, progress: null });
    expect(r.ran).toEqual([]);
    expect(r.skipped).toHaveLength(4);
    const after = record(dir, p!.label);
    expect(after.status).toBe('complete');
    expect(after.runDir).toBe(completedRun(dir, p!.label));
    expect(after.attempts).toHaveLength(1);
    expect(after.attempts[0]!.error).toBeNull();
    const manifest = JSON.parse(readFileSync(join(completedRun(dir, p!.label)!, 'manifest.json'), 'utf8')) as { startTime: string };
    expect(after.attempts[0]!.started).toBe(manifest.startTime);
  });

  it('--resume waits for a worker of a killed driver that is still finishing its point, and does not run that point again', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'bp-sweep-orphan-')), 'sw');
    cpSync(reference, dir, { recursive: true });
    const [p] = sweepPoints(cfg);
    // The state a driver's kill -9 leaves while its worker (here a stand-in process) is still evaluating:
    // the point's run is a locked .partial directory, point.json says "running"; 1.5 s later the
    // worker renames the run into place and exits.
    const final = completedRun(dir, p!.label)!;
    const partial = join(dir, 'runs', p!.label, `.${final.split('/').at(-1)}.partial`);
    cpSync(final, partial, { recursive: true });
    rmSync(final, { recursive: true });
    const rec = record(dir, p!.label);
    writeFileSync(join(dir, 'runs', p!.label, 'point.json'), JSON.stringify({ ...rec, status: 'running', runDir: null, attempts: [] }));
    const script = `setTimeout(() => { const fs = require('node:fs'); fs.rmSync(${JSON.stringify(join(partial, 'run.lock'))}, { force: true }); fs.renameSync(${JSON.stringify(partial)}, ${JSON.stringify(final)}); }, 1500);`;
    const worker = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
    writeFileSync(join(partial, 'run.lock'), JSON.stringify({ pid: worker.pid, host: hostname(), startTime: new Date().toISOString() }));
    const exited = new Promise((r) => worker.once('exit', r));
    const r = await runSweep(cfg, { resume: dir, jobs: 1, progress: null });
    await exited;
    expect(r.ran).toEqual([]);
    expect(r.skipped).toHaveLength(4);
    expect(record(dir, p!.label).runDir).toBe(final);
    expect(readdirSync(join(dir, 'runs', p!.label)).filter((d) => !d.endsWith('.json') && !d.endsWith('.txt'))).toEqual([final.split('/').at(-1)]);
  });

  it('kill -9 of a worker mid-training, then --resume: the partial run continues from its checkpoint, same numbers', async () => {
    const three = validateConfig({ ...base, train: { ...base.train, epochs: 3 }, sweep: { seeds: [5] } });
    const [p] = sweepPoints(three);
    const root = mkdtempSync(join(tmpdir(), 'bp-sweep-wkill-'));
    process.env.BAYESPRUNE_SWEEP_FAULT = `kill-epoch-2@${p!.label}`;
    const broken = await runSweep(three, { sweepDir: join(root, 'a'), jobs: 1, progress: null });
    expect(broken.failed).toEqual([p!.label]);
    expect(record(broken.sweepDir, p!.label).attempts[0]!.signal).toBe('SIGKILL');
    expect(readdirSync(join(broken.sweepDir, 'runs', p!.label)).filter((d) => d.endsWith('.partial'))).toHaveLength(1);
    delete process.env.BAYESPRUNE_SWEEP_FAULT;
    const resumed = await runSweep(three, { resume: broken.sweepDir, jobs: 1, progress: null });
    expect(resumed.ran).toEqual([p!.label]);
    expect(record(broken.sweepDir, p!.label).attempts[1]!.resumedFrom).toMatch(/\.partial$/);
    expect(readFileSync(join(broken.sweepDir, 'runs', p!.label, 'log.txt'), 'utf8')).toContain('[main] resumed from epoch 1');
    const whole = await runSweep(three, { sweepDir: join(root, 'b'), jobs: 1, progress: null });
    expect(csv(broken.sweepDir, 'runs.csv')).toBe(csv(whole.sweepDir, 'runs.csv'));
  });

  it('shards 0/2 and 1/2 in one directory, then collect, equal the unsharded sweep', async () => {
    const root = mkdtempSync(join(tmpdir(), 'bp-sweep-shard-'));
    const dir = join(root, 'sw');
    // Both shards at once, each with one worker: the points run in other processes and another order.
    const [a, b] = await Promise.all([0, 1].map((i) => runSweep(cfg, { sweepDir: dir, shard: { index: i, count: 2 }, jobs: 1, progress: null })));
    const pts = sweepPoints(cfg);
    expect(a!.ran).toEqual([pts[0]!.label, pts[2]!.label]);
    expect(b!.ran).toEqual([pts[1]!.label, pts[3]!.label]);
    expect(existsSync(join(dir, 'runs.csv'))).toBe(false); // shards leave the summary to collect
    const c = await collectSweep([dir], { progress: null });
    expect(c.missing).toEqual([]);
    expect(csv(dir, 'runs.csv')).toBe(csv(reference, 'runs.csv'));
    expect(csv(dir, 'summary.csv')).toBe(csv(reference, 'summary.csv'));
  });

  it('collect reads shard directories copied from elsewhere and lists what is missing', async () => {
    // Two directories as two machines would leave them: the same sweep.json, each with the runs of one shard.
    const root = mkdtempSync(join(tmpdir(), 'bp-sweep-collect-'));
    const pts = sweepPoints(cfg);
    const dirs = [0, 1].map((i) => {
      const d = join(root, `shard${i}`);
      mkdirSync(join(d, 'runs'), { recursive: true });
      cpSync(join(reference, 'sweep.json'), join(d, 'sweep.json'));
      for (const p of pts.filter((q) => q.index % 2 === i)) cpSync(join(reference, 'runs', p.label), join(d, 'runs', p.label), { recursive: true });
      return d;
    });
    const half = await collectSweep([dirs[0]!], { progress: null });
    expect(half.missing).toEqual([pts[1]!.label, pts[3]!.label]);
    expect(text(dirs[0]!, 'summary.md')).toContain('INCOMPLETE: 2 of 4 points missing');
    const all = await collectSweep(dirs, { progress: null });
    expect(all.missing).toEqual([]);
    expect(csv(dirs[0]!, 'runs.csv')).toBe(csv(reference, 'runs.csv'));
    // A run that does not belong to its point (here: another point's run copied in its place) is refused.
    rmSync(join(dirs[1]!, 'runs', pts[1]!.label), { recursive: true });
    cpSync(join(reference, 'runs', pts[0]!.label), join(dirs[1]!, 'runs', pts[1]!.label), { recursive: true });
    const wrong = await collectSweep(dirs, { progress: null });
    expect(wrong.missing).toEqual([pts[1]!.label]);
    expect(wrong.failed[0]!.error).toMatch(/config\.json differs from the point's config in sweep\.json/);
  });

  it('refuses to resume or join with a different config, and --resume of a missing directory (issue 9, defect 2)', async () => {
    const changed = validateConfig({ ...base, train: { ...base.train, epochs: 2 }, sweep });
    const before = runDirs(reference);
    await expect(runSweep(changed, { resume: reference, progress: null })).rejects.toThrow(
      /--resume .*the config differs from the one the sweep started with .*train\.epochs \(1 → 2\)/,
    );
    await expect(runSweep(changed, { sweepDir: reference, progress: null })).rejects.toThrow(/--sweep-dir .*train\.epochs \(1 → 2\)/);
    await expect(runSweep(cfg, { resume: reference, backend: 'wasm', progress: null })).rejects.toThrow(/--backend \(unset → wasm\)/);
    expect(runDirs(reference)).toEqual(before);
    const gone = join(tmpdir(), `bp-no-such-sweep-${process.pid}`);
    await expect(runSweep(cfg, { resume: gone, progress: null })).rejects.toThrow(`--resume ${gone}: no such directory`);
    expect(existsSync(gone)).toBe(false);
    // A second driver on the same directory is refused while the first is alive; a dead one's lock is stale.
    const lock = join(reference, '.driver.lock');
    writeFileSync(lock, JSON.stringify({ pid: process.pid, host: hostname(), startTime: 'now' }));
    await expect(runSweep(cfg, { resume: reference, progress: null })).rejects.toThrow(/another sweep driver is running there \(PID \d+ on/);
    writeFileSync(lock, JSON.stringify({ pid: spawnSync('true').pid, host: hostname(), startTime: 'then' }));
    // Resuming a finished sweep with the same config reruns nothing.
    const again = await runSweep(cfg, { resume: reference, progress: null });
    expect(again.ran).toEqual([]);
    expect(again.skipped).toHaveLength(4);
    expect(runDirs(reference)).toEqual(before);
    expect(existsSync(lock)).toBe(false);
  });
});
