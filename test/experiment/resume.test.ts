/**
 * Resuming, locking and interrupting runs (issue 9, defects 4, 7, 11 and the kill -9
 * guarantee), with real processes where signals are involved.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeIdx } from '../../src/data/idx.js';
import type { LoadedDataset } from '../../src/data/registry.js';
import { loadConfig, validateConfig, type ExperimentConfig } from '../../src/experiment/config.js';
import { checkData, runExperiment } from '../../src/experiment/run.js';
import { useTestBackend } from '../setup-backend.js';

beforeAll(useTestBackend);

const repo = process.cwd();
const TSX = join(repo, 'node_modules/.bin/tsx');
const CLI = join(repo, 'src/cli.ts');

const TINY_YAML = `experiment: tiny
seed: 3
backend: cpu
data: { name: blobs }
model: { arch: mlp, hidden: [16] }
inference: { method: vi, warmup: { startEpoch: 0, endEpoch: 1 } }
train: { epochs: 3, batchSize: 50, optimizer: { lr: 0.01 } }
eval: { samples: 3 }
pruning: { criteria: [log-alpha, magnitude], sparsities: [0, 0.5, 0.9] }
`;

function tinyYaml(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bp-resume-cfg-'));
  const f = join(dir, 'tiny.yaml');
  writeFileSync(f, TINY_YAML);
  return f;
}

/** Every file under `dir` with its size and mtime: a fingerprint that any write changes. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const s = statSync(p);
        out[p] = `${s.size}/${s.mtimeMs}`;
      }
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

/** Wall-clock fields (`seconds`, `trainSeconds`, `costSeconds`, …) and tensor counts zeroed: they differ between identical runs. */
function noClock(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(noClock);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, /seconds$/i.test(k) || k === 'numTensors' ? 0 : noClock(x)]));
  return v;
}

/** A CSV with its wall-clock columns blanked. */
function csvNoClock(text: string): string {
  const [head, ...rows] = text.trim().split(/\r?\n/);
  const clock = head!.split(',').map((c) => /seconds$/i.test(c));
  return [
    head,
    ...rows.map((r) =>
      r
        .split(',')
        .map((x, i) => (clock[i] ? '' : x))
        .join(','),
    ),
  ].join('\n');
}

/** The numbers of a run that must not depend on interruptions (wall-clock fields zeroed). */
function stable(runDir: string) {
  const m = JSON.parse(readFileSync(join(runDir, 'metrics.json'), 'utf8'));
  const v = m.variants.main;
  return noClock({
    curves: v.curves,
    threshold: v.threshold,
    history: v.history,
    dense: v.dense,
    csv: csvNoClock(readFileSync(join(runDir, 'curves.csv'), 'utf8')),
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(pred: () => boolean, what: string, child?: ChildProcess, timeoutMs = 60_000): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (child && child.exitCode !== null) throw new Error(`the process exited (code ${child.exitCode}) before ${what}`);
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function start(args: string[], nodeArgs: string[] = []): { child: ChildProcess; exit: Promise<Exit> } {
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', CLI, ...args], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const exit = new Promise<Exit>((res) => child.on('close', (code, signal) => res({ code, signal, stdout, stderr })));
  return { child, exit };
}

const cliSync = (args: string[]) => spawnSync(TSX, [CLI, ...args], { cwd: repo, encoding: 'utf8' });

/** The single partial directory under `root/tiny` (or undefined). */
function partialIn(root: string): string | undefined {
  const d = join(root, 'tiny');
  if (!existsSync(d)) return undefined;
  const p = readdirSync(d).filter((f) => f.endsWith('.partial'));
  return p.length === 1 ? join(d, p[0]!) : undefined;
}

function finishedIn(root: string): string[] {
  const d = join(root, 'tiny');
  return existsSync(d) ? readdirSync(d).filter((f) => !f.startsWith('.')) : [];
}

/** A partial run left by a crash right after training (its last checkpoint written). */
async function crashedRun(cfg: ExperimentConfig, root: string): Promise<string> {
  let partial = '';
  await expect(
    runExperiment(cfg, {
      resultsDir: root,
      progress: {
        write: (s: string) => {
          const m = /run (\S+):/.exec(s);
          if (m) partial = join(root, cfg.experiment, `.${m[1]}.partial`);
          if (s.includes('train done')) throw new Error('simulated crash');
        },
      },
    }),
  ).rejects.toThrow('simulated crash');
  return partial;
}

/** PID of a process that has exited (for a stale lock). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

describe('run --resume refuses what it must not touch', { timeout: 120_000 }, () => {
  it('a finished run: "run <id> is complete; its results are in <dir>", and nothing is written', async () => {
    const root = mkdtempSync(join(tmpdir(), 'bp-resume-'));
    const cfg = loadConfig(tinyYaml());
    const done = await runExperiment(cfg, { resultsDir: root, progress: null });
    const before = tree(root);
    const id = done.manifest.runId;
    await expect(runExperiment(cfg, { resultsDir: root, progress: null, resume: done.runDir })).rejects.toThrow(
      `run ${id} is complete; its results are in ${done.runDir}`,
    );
    // Its former partial directory (gone since completion) points to the results too.
    await expect(runExperiment(cfg, { resultsDir: root, progress: null, resume: join(root, 'tiny', `.${id}.partial`) })).rejects.toThrow(
      `run ${id} is complete; its results are in ${done.runDir}`,
    );
    // A directory that does not exist is an error, not a new run.
    await expect(runExperiment(cfg, { resultsDir: root, progress: null, resume: join(root, 'tiny', 'nope') })).rejects.toThrow(
      /--resume .*nope: no such directory/,
    );
    expect(tree(root)).toEqual(before);
    // The same through the command line: exit 1, one line, nothing written.
    const r = cliSync(['run', tinyYaml(), '--results', root, '--resume', done.runDir]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe(`error: run ${id} is complete; its results are in ${done.runDir}`);
    expect(tree(root)).toEqual(before);
  });
});

describe('a new run directory appears complete or not at all', { timeout: 60_000 }, () => {
  it('staging directories of killed processes are cleaned up; a live one is left alone', async () => {
    const root = mkdtempSync(join(tmpdir(), 'bp-resume-'));
    const dead = join(root, 'tiny', `.20260101-000000Z-s3.partial.new-${deadPid()}-00ff`);
    const live = join(root, 'tiny', `.20260101-000001Z-s3.partial.new-${process.pid}-00ff`);
    for (const d of [dead, live]) {
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, 'config.json'), '{}');
    }
    const r = await runExperiment(loadConfig(tinyYaml()), { resultsDir: root, progress: null });
    expect(existsSync(dead)).toBe(false);
    expect(existsSync(live)).toBe(true);
    expect(readdirSync(join(root, 'tiny')).sort()).toEqual([live.split('/').at(-1), r.runDir.split('/').at(-1)].sort());
  });

  it('two runs of one config started at the same moment get two run directories', async () => {
    const root = mkdtempSync(join(tmpdir(), 'bp-resume-'));
    const cfg = loadConfig(tinyYaml());
    const [a, b] = await Promise.all([runExperiment(cfg, { resultsDir: root, progress: null }), runExperiment(cfg, { resultsDir: root, progress: null })]);
    expect(a.runDir).not.toBe(b.runDir);
    expect(readdirSync(join(root, 'tiny')).sort()).toEqual([a.runDir, b.runDir].map((d) => d.split('/').at(-1)).sort());
    for (const r of [a, b]) expect(JSON.parse(readFileSync(join(r.runDir, 'manifest.json'), 'utf8')).runId).toBe(r.runDir.split('/').at(-1));
  });
});

describe('data are checked against each other and the model before anything is created', { timeout: 120_000 }, () => {
  const q = () => tinyYaml();
  function fmnist(train: number, testSide: number): string {
    const dir = mkdtempSync(join(tmpdir(), 'bp-fm-'));
    writeIdx(join(dir, 'train-images-idx3-ubyte'), [train, 28, 28], new Uint8Array(train * 28 * 28));
    writeIdx(join(dir, 'train-labels-idx1-ubyte'), [train], new Uint8Array(train));
    writeIdx(join(dir, 't10k-images-idx3-ubyte'), [5, testSide, testSide], new Uint8Array(5 * testSide * testSide));
    writeIdx(join(dir, 't10k-labels-idx1-ubyte'), [5], new Uint8Array(5));
    return dir;
  }
  function refused(overrides: string[], pattern: RegExp) {
    const root = mkdtempSync(join(tmpdir(), 'bp-resume-'));
    const r = cliSync(['run', q(), ...overrides, 'eval.split=test', '--results', join(root, 'results')]);
    expect(r.status).toBe(1);
    const err = r.stderr.trim();
    expect(err).toMatch(/^error: /);
    expect(err).toMatch(pattern);
    expect(err).not.toMatch(/\n\s+at /);
    expect(existsSync(join(root, 'results', 'tiny'))).toBe(false); // no .partial, nothing
  }

  it('an empty training set and a train/test shape mismatch (command line)', () => {
    refused(['data.name=fashion-mnist', `data.dir=${fmnist(0, 28)}`], /training split is empty/);
    refused(
      ['data.name=fashion-mnist', `data.dir=${fmnist(20, 14)}`],
      /test examples have shape \[196\], the training examples \(and so the model's input\) \[784\]/,
    );
  });

  it('labels outside the model classes, class-count mismatch, non-finite features (unit)', () => {
    const cfg = validateConfig({ experiment: 'x', data: { name: 'blobs' }, eval: { split: 'test' } });
    const ds = (name: string, n: number, y: number[], numClasses = 3, x?: number[]) => ({
      name,
      n,
      shape: [2],
      numClasses,
      x: Float32Array.from(x ?? Array.from({ length: 2 * n }, () => 0.5)),
      y: Int32Array.from(y),
    });
    const data = (test: ReturnType<typeof ds>): LoadedDataset => ({ train: ds('tr', 2, [0, 2]), validation: ds('va', 1, [1]), test, split: 's' });
    expect(() => checkData(cfg, data(ds('te', 2, [0, 1])))).not.toThrow();
    expect(() => checkData(cfg, data(ds('te', 2, [0, 3])))).toThrow(/test label 1 is 3, outside the model's classes \[0, 3\)/);
    expect(() => checkData(cfg, data(ds('te', 2, [0, 1], 4)))).toThrow(/the test split has 4 classes, the training split \(and so the model\) 3/);
    expect(() => checkData(cfg, data(ds('te', 2, [0, 1], 3, [0, 1, NaN, 2])))).toThrow(/test example 1 has a non-finite feature \(NaN\) at index 0/);
    expect(() => checkData(cfg, data(ds('te', 0, [])))).toThrow(/the test split is empty/);
    // The test split is not used when evaluating on the validation split.
    expect(() => checkData(validateConfig({ experiment: 'x', data: { name: 'blobs' }, eval: { split: 'validation' } }), data(ds('te', 0, [])))).not.toThrow();
  });
});

describe('a partial run is locked', { timeout: 180_000 }, () => {
  it('a live holder is refused, a stale lock is taken over with a note, and the lock never outlives a run', async () => {
    const root = mkdtempSync(join(tmpdir(), 'bp-resume-'));
    const cfg = loadConfig(tinyYaml());
    const full = await runExperiment(cfg, { resultsDir: mkdtempSync(join(tmpdir(), 'bp-resume-ref-')), progress: null });
    const partial = await crashedRun(cfg, root);
    expect(existsSync(join(partial, 'run.lock'))).toBe(false); // released on error
    // Held by a live process (a sleeping child) on this host.
    const holder = spawn('sleep', ['60']);
    const lock = { pid: holder.pid, host: hostname(), startTime: '2026-01-01T00:00:00.000Z' };
    writeFileSync(join(partial, 'run.lock'), JSON.stringify(lock));
    const before = tree(root);
    await expect(runExperiment(cfg, { resultsDir: root, progress: null, resume: partial })).rejects.toThrow(
      `is locked by PID ${holder.pid} on host ${hostname()} since 2026-01-01T00:00:00.000Z`,
    );
    expect(tree(root)).toEqual(before);
    // Held on another host: refused, with the file to delete.
    writeFileSync(join(partial, 'run.lock'), JSON.stringify({ ...lock, host: 'elsewhere' }));
    await expect(runExperiment(cfg, { resultsDir: root, progress: null, resume: partial })).rejects.toThrow(
      new RegExp(`locked by PID ${holder.pid} on host elsewhere .*delete ${join(partial, 'run.lock')}`),
    );
    // A locked partial run is being worked on: re-running the command does not point to it.
    writeFileSync(join(partial, 'run.lock'), JSON.stringify(lock));
    const other = await runExperiment(cfg, { resultsDir: root, progress: null });
    expect(stable(other.runDir)).toEqual(stable(full.runDir));
    // The holder dies (kill -9): its lock is stale and taken over.
    holder.kill('SIGKILL');
    await new Promise((r) => holder.on('close', r));
    let out = '';
    const resumed = await runExperiment(cfg, { resultsDir: root, progress: { write: (s: string) => void (out += s) }, resume: partial });
    expect(out).toContain(`note: took over the stale lock of run ${resumed.manifest.runId} (PID ${holder.pid} on host ${hostname()}`);
    expect(stable(resumed.runDir)).toEqual(stable(full.runDir));
    expect(existsSync(partial)).toBe(false);
    expect(existsSync(join(resumed.runDir, 'run.lock'))).toBe(false);
  });

  it('two real processes: while one runs the partial run, a second --resume of it is refused', async () => {
    const root = mkdtempSync(join(tmpdir(), 'bp-resume-'));
    const yaml = tinyYaml();
    const a = start(['run', yaml, 'train.epochs=8', '--results', root, '--quiet']);
    let p: string | undefined;
    await waitFor(() => (p = partialIn(root)) !== undefined && existsSync(join(p, 'run.lock')), 'the first run to lock its partial directory', a.child);
    a.child.kill('SIGSTOP'); // hold it mid-run, so the race is not timing-dependent
    try {
      const lock = JSON.parse(readFileSync(join(p!, 'run.lock'), 'utf8'));
      expect(lock).toMatchObject({ pid: a.child.pid, host: hostname() });
      expect(Date.parse(lock.startTime)).toBeGreaterThan(0);
      const b = cliSync(['run', yaml, 'train.epochs=8', '--results', root, '--quiet', '--resume', p!]);
      expect(b.status).toBe(1);
      expect(b.stderr.trim()).toMatch(
        new RegExp(`^error: run \\S+ in ${p} is locked by PID ${a.child.pid} on host ${hostname()} since \\S+; another process is running it`),
      );
    } finally {
      a.child.kill('SIGCONT');
    }
    const ea = await a.exit;
    expect(ea.code).toBe(0);
    expect(partialIn(root)).toBeUndefined();
    const [runDir] = finishedIn(root);
    expect(existsSync(join(root, 'tiny', runDir!, 'run.lock'))).toBe(false);
  });
});

describe('Ctrl-C prints the command that continues the run', { timeout: 180_000 }, () => {
  it('SIGINT: exit 130, the exact --resume command, partial dir and checkpoint kept, no lock; the same command again points to it', async () => {
    const root = mkdtempSync(join(tmpdir(), 'bp-resume-'));
    const yaml = tinyYaml();
    const args = ['run', yaml, 'train.epochs=12', 'eval.samples=3', '--results', root];
    const a = start(args);
    let p: string | undefined;
    await waitFor(() => (p = partialIn(root)) !== undefined && existsSync(join(p, 'ckpt-main.ckpt')), 'the first checkpoint', a.child);
    a.child.kill('SIGINT');
    const e = await a.exit;
    expect(e.code).toBe(130);
    const resumeCmd = `bayesprune ${args.join(' ')} --resume ${p}`;
    expect(e.stderr).toContain(`continue it with:\n  ${resumeCmd}\n`);
    expect(existsSync(join(p!, 'ckpt-main.ckpt'))).toBe(true);
    expect(existsSync(join(p!, 'run.lock'))).toBe(false);
    expect(finishedIn(root)).toEqual([]);
    // The same command again: refused, pointing to the unfinished run; nothing new is created.
    const before = tree(root);
    const again = cliSync(args);
    expect(again.status).toBe(1);
    expect(again.stderr.trim()).toBe(`error: an unfinished run of this config exists: ${p}; continue it with --resume ${p} (or pass --new to start another)`);
    expect(tree(root)).toEqual(before);
    // The printed command continues it, with the numbers of an uninterrupted run.
    const r = cliSync(resumeCmd.split(' ').slice(1));
    expect(r.status).toBe(0);
    const [runDir] = finishedIn(root);
    const cfg = loadConfig(yaml, ['train.epochs=12', 'eval.samples=3']);
    const full = await runExperiment(cfg, { resultsDir: mkdtempSync(join(tmpdir(), 'bp-resume-ref-')), progress: null });
    expect(stable(join(root, 'tiny', runDir!))).toEqual(stable(full.runDir));
    // --new starts another run of the same config next to an unfinished one.
    const p2 = await crashedRun(cfg, root);
    await expect(runExperiment(cfg, { resultsDir: root, progress: null })).rejects.toThrow(`an unfinished run of this config exists: ${p2}`);
    const fresh = await runExperiment(cfg, { resultsDir: root, progress: null, newRun: true });
    expect(stable(fresh.runDir)).toEqual(stable(full.runDir));
    expect(existsSync(p2)).toBe(true);
  });
});

describe('kill -9 at any moment, then --resume: the numbers of an uninterrupted run', { timeout: 300_000 }, () => {
  const overrides = ['train.epochs=8', 'eval.samples=3'];
  let reference: unknown;
  let yaml: string;
  beforeAll(async () => {
    yaml = tinyYaml();
    const full = await runExperiment(loadConfig(yaml, overrides), { resultsDir: mkdtempSync(join(tmpdir(), 'bp-resume-ref-')), progress: null });
    reference = stable(full.runDir);
  });

  async function killAndResume(root: string, exit: Promise<Exit>) {
    const e = await exit;
    const p = partialIn(root);
    if (e.code === 0) {
      // Finished before the kill landed: nothing to resume.
      expect(p).toBeUndefined();
    } else {
      expect(e.signal).toBe('SIGKILL');
      if (p) {
        const r = cliSync(['run', yaml, ...overrides, '--results', root, '--quiet', '--resume', p]);
        expect(r.status, r.stderr).toBe(0);
      } else {
        // Killed before the partial directory appeared: the same command starts cleanly.
        expect(cliSync(['run', yaml, ...overrides, '--results', root, '--quiet']).status).toBe(0);
      }
    }
    expect(partialIn(root)).toBeUndefined();
    const dirs = finishedIn(root);
    expect(dirs).toHaveLength(1);
    const runDir = join(root, 'tiny', dirs[0]!);
    expect(readdirSync(runDir).filter((f) => /ckpt|\.tmp-|run\.lock/.test(f))).toEqual([]);
    expect(stable(runDir)).toEqual(reference);
  }

  it('at three random moments of a run', async () => {
    for (let trial = 0; trial < 3; trial++) {
      const root = mkdtempSync(join(tmpdir(), 'bp-kill-'));
      const a = start(['run', yaml, ...overrides, '--results', root, '--quiet']);
      await waitFor(() => existsSync(join(root, 'tiny')), 'the run to start');
      await sleep(Math.random() * 1500);
      a.child.kill('SIGKILL');
      await killAndResume(root, a.exit);
    }
  });

  it('in the middle of writing a checkpoint (the process SIGKILLs itself after half the bytes), at two random epochs', async () => {
    // A preload that makes the k-th binary file write stop halfway and kill the process:
    // exactly a SIGKILL during a checkpoint write.
    const hook = join(mkdtempSync(join(tmpdir(), 'bp-hook-')), 'kill-mid-write.mjs');
    writeFileSync(
      hook,
      `import { open } from 'node:fs/promises';
const fh = await open('/dev/null', 'r');
const proto = Object.getPrototypeOf(fh);
await fh.close();
const orig = proto.writeFile;
let n = 0;
proto.writeFile = async function (data, ...rest) {
  if (data instanceof Uint8Array && ++n === Number(process.env.BP_KILL_AT_BINARY_WRITE)) {
    await orig.call(this, data.subarray(0, data.length >> 1), ...rest);
    process.kill(process.pid, 'SIGKILL');
    await new Promise(() => {});
  }
  return orig.call(this, data, ...rest);
};
`,
    );
    for (let trial = 0; trial < 2; trial++) {
      const k = 1 + Math.floor(Math.random() * 8);
      const root = mkdtempSync(join(tmpdir(), 'bp-kill-'));
      process.env.BP_KILL_AT_BINARY_WRITE = String(k);
      let a: ReturnType<typeof start>;
      try {
        a = start(['run', yaml, ...overrides, '--results', root, '--quiet'], ['--import', hook]);
      } finally {
        delete process.env.BP_KILL_AT_BINARY_WRITE;
      }
      const e = await a.exit;
      expect(e.signal, `checkpoint write ${k}`).toBe('SIGKILL');
      const p = partialIn(root)!;
      // The torn write is a temp file; the checkpoint in place is the previous epoch's, or none.
      expect(readdirSync(p).some((f) => /^ckpt-main\.ckpt\.tmp-/.test(f))).toBe(true);
      expect(existsSync(join(p, 'ckpt-main.ckpt'))).toBe(k > 1);
      await killAndResume(root, Promise.resolve(e));
    }
  });
});
