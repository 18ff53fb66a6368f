/** The lock of a partial run (src/experiment/run-lock.ts) and the checks of a directory given to --resume. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/experiment/config.js';
import { runExperiment } from '../../src/experiment/run.js';
import { acquireRunLock, lockHolder, lockPath } from '../../src/experiment/run-lock.js';
import { useTestBackend } from '../setup-backend.js';

beforeAll(useTestBackend);

const dirOf = () => mkdtempSync(join(tmpdir(), 'bp-lock-'));
const deadPid = () => Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
const readLock = (d: string) => JSON.parse(readFileSync(lockPath(d), 'utf8'));

describe('run lock', () => {
  it('is created exclusively with PID, host and start time; a second taker (even this process) is refused; release removes only our own', () => {
    const d = dirOf();
    const lock = acquireRunLock(d, 'r1');
    const info = readLock(d);
    expect(info).toMatchObject({ pid: process.pid, host: hostname() });
    expect(Date.parse(info.startTime)).toBeGreaterThan(Date.now() - 60_000);
    if (existsSync('/proc/self/stat')) expect(info.procStart).toMatch(/^\d+$/);
    expect(lockHolder(d)).toMatchObject({ alive: true });
    expect(() => acquireRunLock(d, 'r1')).toThrow(new RegExp(`run r1 in ${d} is locked by PID ${process.pid} on host ${hostname()} since ${info.startTime}`));
    lock.release();
    expect(existsSync(lockPath(d))).toBe(false);
    // A lock that someone else has taken meanwhile is not ours to remove.
    const again = acquireRunLock(d, 'r1');
    writeFileSync(lockPath(d), JSON.stringify({ ...readLock(d), pid: 1 }));
    again.release();
    expect(existsSync(lockPath(d))).toBe(true);
  });

  it('takes over stale locks with a note: dead PID, PID reused by another process, unreadable and old', () => {
    const notes: string[] = [];
    const note = (s: string) => void notes.push(s);
    const d = dirOf();
    const dead = deadPid();
    writeFileSync(lockPath(d), JSON.stringify({ pid: dead, host: hostname(), startTime: '2026-01-01T00:00:00.000Z' }));
    expect(lockHolder(d)).toMatchObject({ alive: false });
    acquireRunLock(d, 'r2', note).release();
    expect(notes.pop()).toBe(
      `note: took over the stale lock of run r2 (PID ${dead} on host ${hostname()} since 2026-01-01T00:00:00.000Z: that process is no longer running)\n`,
    );
    if (existsSync('/proc/self/stat')) {
      // This PID is alive, but started at another time: a reused PID, not the holder.
      writeFileSync(lockPath(d), JSON.stringify({ pid: process.pid, host: hostname(), startTime: '2026-01-01T00:00:00.000Z', procStart: '1' }));
      acquireRunLock(d, 'r2', note).release();
      expect(notes.pop()).toMatch(/took over the stale lock/);
    }
    // An unreadable lock: refused while fresh (being written), taken over when old.
    writeFileSync(lockPath(d), '{"pid": 12');
    expect(() => acquireRunLock(d, 'r2', note)).toThrow(/is being locked by another process right now/);
    const old = new Date(Date.now() - 60_000);
    utimesSync(lockPath(d), old, old);
    acquireRunLock(d, 'r2', note).release();
    expect(notes.pop()).toMatch(/removed an unreadable stale lock of run r2/);
  });

  it('never takes over a lock of another host, nor one another process is taking over right now', () => {
    const d = dirOf();
    writeFileSync(lockPath(d), JSON.stringify({ pid: deadPid(), host: 'other-host', startTime: '2026-01-01T00:00:00.000Z' }));
    expect(lockHolder(d)).toMatchObject({ alive: null });
    expect(() => acquireRunLock(d, 'r3')).toThrow(new RegExp(`on host other-host .*if no process on other-host is running it any more, delete ${lockPath(d)}`));
    writeFileSync(lockPath(d), JSON.stringify({ pid: deadPid(), host: hostname(), startTime: '2026-01-01T00:00:00.000Z' }));
    writeFileSync(`${lockPath(d)}.takeover`, '{}');
    expect(() => acquireRunLock(d, 'r3')).toThrow(/another process is taking over its stale lock right now/);
  });
});

describe('a directory given to --resume is checked before anything is touched', { timeout: 60_000 }, () => {
  const cfg = validateConfig({
    experiment: 'tiny',
    seed: 3,
    backend: 'cpu',
    data: { name: 'blobs' },
    model: { arch: 'mlp', hidden: [4] },
    train: { epochs: 1, batchSize: 100 },
    eval: { samples: 2 },
    pruning: { criteria: ['magnitude'], sparsities: [0, 0.5] },
  });
  function partialDir(manifest: string, config = JSON.stringify(cfg)): string {
    const d = join(dirOf(), 'tiny', '.20260101-000000Z-s3.partial');
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'manifest.json'), manifest);
    writeFileSync(join(d, 'config.json'), config);
    return d;
  }
  const resume = (d: string) => runExperiment(cfg, { resultsDir: join(d, '..', '..'), progress: null, resume: d });

  it('a manifest naming another run (e.g. a path) or not JSON, a config that is not JSON, a file', async () => {
    const m = (runId: unknown) => JSON.stringify({ runId, status: 'running' });
    await expect(resume(partialDir(m('../../escape')))).rejects.toThrow(
      /names run "..\/..\/escape", the directory run 20260101-000000Z-s3; this directory cannot be resumed/,
    );
    await expect(resume(partialDir('{"runId": '))).rejects.toThrow(/manifest.json is not a valid JSON object/);
    await expect(resume(partialDir('null'))).rejects.toThrow(/manifest.json is not a valid JSON object/);
    await expect(resume(partialDir(m('20260101-000000Z-s3'), '[1'))).rejects.toThrow(/config.json is not a valid JSON object/);
    const f = join(dirOf(), 'file');
    writeFileSync(f, 'x');
    await expect(resume(f)).rejects.toThrow(/--resume .*file: not a directory/);
    const sweep = join(dirOf(), 'tiny', 'sweep-20260101-000000Z');
    mkdirSync(sweep, { recursive: true });
    await expect(resume(sweep)).rejects.toThrow(/this is a sweep directory; continue it with bayesprune sweep <config.yaml> --resume/);
  });
});
