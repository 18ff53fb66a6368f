/**
 * Sweeps: the points of the config's `sweep` spec (src/experiment/sweep-spec.ts), each an
 * ordinary run in its own worker process, `--jobs N` at a time, then one summary.
 *
 * Layout of a sweep directory (`results/<experiment>/sweep-<id>/`, or `--sweep-dir`):
 * - `sweep.json`: the base config, its hash (`specHash`, SHA-256 of the canonical JSON of the
 *   resolved config and the `--backend` flag) and every point: index, label, values and the
 *   hash of its resolved config;
 * - `runs/<label>/<run-id>/`: the point's finished run (`.<run-id>.partial/` while it runs),
 *   `runs/<label>/point.json` (status and every attempt: exit code, signal, error) and
 *   `runs/<label>/log.txt` (the worker's stdout and stderr, every attempt);
 * - `runs.csv`, `summary.csv`, `summary.md` and plots, written by {@link collectSweep}.
 *
 * Each point's files are written only by the process running that point, and `sweep.json` is
 * created once (atomically) and then only read, so shards (`--shard i/n`) can share a directory.
 * A point's seeds come only from its config, so its numbers do not depend on the worker, the
 * order or the shard it ran in.
 * @module
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BackendChoice } from '../backend.js';
import { writeJsonAtomic } from '../report/atomic.js';
import type { Row } from '../report/table.js';
import { ConfigError, setPath, validateConfig, variantConfig, type ConfigIssue, type ExperimentConfig } from './config.js';
import { flattenRow, type CurveRow } from './curves.js';
import { formatDuration, type ProgressSink } from './progress.js';
import { makeDirs, resolveResultsRoot } from './paths.js';
import { loadData } from './run.js';
import { canonicalJson, expandValues, hashOf, pointLabel, sweepAxes } from './sweep-spec.js';
import { writeSweepSummary } from './sweep-summary.js';
import type { WorkerJob, WorkerMessage } from './sweep-worker.js';

/** One point of a sweep. */
export interface SweepPoint {
  /** Position in the canonical order (shards take index ≡ i mod n). */
  index: number;
  /** Unique, directory-safe label, e.g. `temperature-0.1_seed-2-3fa2b1c0`. */
  label: string;
  /** Dot path → value of every varied key. */
  values: Record<string, unknown>;
  /** The resolved config of the point (base config with the values set, `sweep` emptied). */
  config: ExperimentConfig;
  /** SHA-256 of the canonical JSON of the config it runs with ({@link runConfig}: its run's config.json). */
  configHash: string;
}

/** An error the user can cause (bad flag, directory, mismatching config): one clear line. */
export class SweepError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SweepError';
  }
}

/** The config a point runs with: its resolved config under the experiment name `label` (its run's config.json). */
export function runConfig(p: { label: string; config: ExperimentConfig }): ExperimentConfig {
  return { ...p.config, experiment: p.label };
}

/**
 * Every point of the config's sweep spec, each validated (with its variants). All problems of
 * all points are collected into one {@link ConfigError}.
 */
export function sweepPoints(cfg: ExperimentConfig): SweepPoint[] {
  const all = expandValues(cfg.sweep);
  if (!all.length)
    throw new ConfigError(cfg.experiment, [
      { path: 'sweep', message: 'the config has no sweep; add e.g. `sweep: { grid: { inference.temperature: [1, 0.1] }, seeds: [1, 2, 3] }`' },
    ]);
  const issues: ConfigIssue[] = [];
  const points: SweepPoint[] = [];
  const labels = new Map<string, number>();
  all.forEach((values, index) => {
    const label = pointLabel(values);
    const dup = labels.get(label);
    if (dup !== undefined) {
      issues.push({ path: `sweep`, message: `points ${dup} and ${index} have the same values ${canonicalJson(values)}; every point must differ` });
      return;
    }
    labels.set(label, index);
    const raw = structuredClone({ ...cfg, sweep: {} }) as Record<string, unknown>;
    for (const [k, v] of Object.entries(values)) setPath(raw, k, structuredClone(v));
    try {
      const config = validateConfig(raw, `sweep point ${label}`);
      for (const v of config.variants) variantConfig(config, v);
      points.push({ index, label, values, config, configHash: hashOf(runConfig({ label, config })) });
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      for (const i of e.issues) issues.push({ path: `point ${label} (${canonicalJson(values)}): ${i.path || '(root)'}`, message: i.message });
    }
  });
  if (issues.length) throw new ConfigError(`sweep of ${cfg.experiment}`, issues);
  return points;
}

/**
 * Load (and so check) every distinct data config of the points and their variants before any
 * point trains; a bad one fails naming the point.
 */
export function checkSweepData(points: SweepPoint[]): void {
  const seen = new Set<string>();
  for (const p of points) {
    for (const c of [p.config, ...p.config.variants.map((v) => variantConfig(p.config, v))]) {
      const key = canonicalJson(c.data);
      if (seen.has(key)) continue;
      seen.add(key);
      try {
        loadData(c);
      } catch (e) {
        throw new SweepError(`sweep point ${p.label}: ${(e as Error).message}`);
      }
    }
  }
}

/** `i/n` with 0 ≤ i < n. */
export function parseShard(s: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(s.trim());
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || !(count >= 1) || !(index < count)) throw new SweepError(`--shard ${s}: expected i/n with 0 ≤ i < n, e.g. --shard 0/4`);
  return { index, count };
}

/** What sweep.json records. */
export interface SweepRecord {
  format: 2;
  experiment: string;
  specHash: string;
  backend: BackendChoice | null;
  config: ExperimentConfig;
  configFile: string | null;
  overrides: string[];
  createdAt: string;
  axes: string[];
  points: { index: number; label: string; values: Record<string, unknown>; configHash: string }[];
}

function sweepRecord(cfg: ExperimentConfig, points: SweepPoint[], o: SweepOptions): SweepRecord {
  return {
    format: 2,
    experiment: cfg.experiment,
    specHash: hashOf({ config: cfg, backend: o.backend ?? null }),
    backend: o.backend ?? null,
    config: cfg,
    configFile: o.configFile ?? null,
    overrides: o.overrides ?? [],
    createdAt: new Date().toISOString(),
    axes: sweepAxes(cfg.sweep),
    points: points.map((p) => ({ index: p.index, label: p.label, values: p.values, configHash: p.configHash })),
  };
}

function flatten(v: unknown, prefix: string, out: Map<string, string>): Map<string, string> {
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length) {
    for (const [k, x] of Object.entries(v)) flatten(x, prefix ? `${prefix}.${k}` : k, out);
  } else out.set(prefix, canonicalJson(v));
  return out;
}

/** Keys whose values differ between two configs, as `key (a → b)`. */
export function configDiff(a: unknown, b: unknown): string[] {
  const fa = flatten(a, '', new Map());
  const fb = flatten(b, '', new Map());
  const keys = [...new Set([...fa.keys(), ...fb.keys()])].sort();
  return keys.filter((k) => fa.get(k) !== fb.get(k)).map((k) => `${k} (${fa.get(k) ?? 'unset'} → ${fb.get(k) ?? 'unset'})`);
}

/** Read a sweep directory's sweep.json; errors name the directory. */
export function readSweepRecord(dir: string, flag = 'sweep directory'): SweepRecord {
  if (!existsSync(dir)) throw new SweepError(`${flag} ${dir}: no such directory`);
  if (!statSync(dir).isDirectory()) throw new SweepError(`${flag} ${dir}: not a directory`);
  const p = join(dir, 'sweep.json');
  if (!existsSync(p)) throw new SweepError(`${flag} ${dir}: not a sweep directory (no sweep.json)`);
  let r: SweepRecord;
  try {
    r = JSON.parse(readFileSync(p, 'utf8')) as SweepRecord;
  } catch (e) {
    throw new SweepError(`${p}: unreadable (${(e as Error).message.split('\n')[0]})`);
  }
  if (r?.format !== 2 || typeof r.specHash !== 'string' || !Array.isArray(r.points))
    throw new SweepError(`${p}: not a sweep record of this version (no specHash / points); start a new sweep`);
  return r;
}

function checkSameSpec(dir: string, saved: SweepRecord, rec: SweepRecord, flag: string): void {
  if (saved.specHash === rec.specHash) return;
  const diff = configDiff(saved.config, rec.config);
  if ((saved.backend ?? null) !== (rec.backend ?? null)) diff.push(`--backend (${saved.backend ?? 'unset'} → ${rec.backend ?? 'unset'})`);
  throw new SweepError(
    `${flag} ${dir}: the config differs from the one the sweep started with (${join(dir, 'sweep.json')}): ${
      diff.slice(0, 8).join(', ') + (diff.length > 8 ? `, and ${diff.length - 8} more` : '') || 'same keys, different hash'
    }; use the same config and overrides, or a new sweep directory`,
  );
}

/** Create `dir/sweep.json` exactly once (atomic: write a temp file, hard-link it into place). */
function createRecord(dir: string, rec: SweepRecord, flag: string): boolean {
  try {
    makeDirs(dir);
  } catch (e) {
    throw new SweepError(`${flag} ${dir}: ${(e as Error).message}`);
  }
  const tmp = join(dir, `.sweep.json.tmp-${process.pid}-${Date.now()}`);
  writeFileSync(tmp, JSON.stringify(rec, null, 2) + '\n');
  try {
    linkSync(tmp, join(dir, 'sweep.json'));
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    unlinkSync(tmp);
  }
}

function timestampId(): string {
  return new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')
    .replace('T', '-');
}

/** Pick (or create) the sweep directory and check it belongs to this spec. */
function openSweepDir(cfg: ExperimentConfig, rec: SweepRecord, o: SweepOptions): string {
  if (o.resume !== undefined) {
    const dir = o.resume.replace(/\/+$/, '') || o.resume;
    checkSameSpec(dir, readSweepRecord(dir, '--resume'), rec, '--resume');
    return dir;
  }
  if (o.sweepDir !== undefined) {
    const dir = o.sweepDir.replace(/\/+$/, '') || o.sweepDir;
    if (existsSync(dir) && !statSync(dir).isDirectory()) throw new SweepError(`--sweep-dir ${dir}: exists and is not a directory`);
    if (existsSync(dir) && !existsSync(join(dir, 'sweep.json')) && readdirSync(dir).some((f) => !f.startsWith('.sweep.json.tmp')))
      throw new SweepError(`--sweep-dir ${dir}: exists, is not empty and is not a sweep directory (no sweep.json)`);
    if (!createRecord(dir, rec, '--sweep-dir')) checkSameSpec(dir, readSweepRecord(dir, '--sweep-dir'), rec, '--sweep-dir');
    return dir;
  }
  const base = join(resolveResultsRoot(o.resultsDir, '--results'), cfg.experiment);
  let dir = join(base, `sweep-${timestampId()}`);
  while (existsSync(dir)) dir += 'x';
  createRecord(dir, rec, '--results');
  return dir;
}

/**
 * Validate every point, check its data and create (or join) the sweep directory without running
 * anything: `sweep --slurm` does this on the login node before submitting the array (src/experiment/slurm.ts).
 */
export function prepareSweepDir(cfg: ExperimentConfig, o: SweepOptions = {}): { sweepDir: string; points: SweepPoint[] } {
  const points = sweepPoints(cfg);
  checkSweepData(points);
  return { sweepDir: openSweepDir(cfg, sweepRecord(cfg, points, o), o), points };
}

/** The finished run of a point in `sweepDir`, if any. */
export function completedRun(sweepDir: string, label: string): string | undefined {
  const dir = join(sweepDir, 'runs', label);
  if (!existsSync(dir)) return undefined;
  for (const d of readdirSync(dir).sort()) {
    if (d.startsWith('.')) continue;
    const m = join(dir, d, 'manifest.json');
    if (!existsSync(m)) continue;
    try {
      if ((JSON.parse(readFileSync(m, 'utf8')) as { status?: string }).status === 'complete') return join(dir, d);
    } catch {
      // an unreadable manifest is not a finished run
    }
  }
  return undefined;
}

/** The most recent resumable partial run of a point (one with a manifest), if any. */
function partialRun(sweepDir: string, label: string): string | undefined {
  const dir = join(sweepDir, 'runs', label);
  if (!existsSync(dir)) return undefined;
  const partials = readdirSync(dir)
    .filter((d) => d.startsWith('.') && d.endsWith('.partial') && existsSync(join(dir, d, 'manifest.json')) && existsSync(join(dir, d, 'config.json')))
    .map((d) => join(dir, d))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  return partials[0];
}

/**
 * Wait (up to `maxMs`) while the partial run's lock (`run.lock`, PID and host) is held by a live
 * process on this host: after `kill -9` of a driver its worker may need a moment to notice and exit.
 * A stale lock (dead PID) is left to the run, which takes it over.
 */
async function waitForLock(partial: string, maxMs = 30_000): Promise<void> {
  const f = join(partial, 'run.lock');
  const t0 = Date.now();
  while (Date.now() - t0 < maxMs && existsSync(f)) {
    let holder: { pid?: number; host?: string };
    try {
      holder = JSON.parse(readFileSync(f, 'utf8')) as { pid?: number; host?: string };
    } catch {
      return;
    }
    if (holder.host !== hostname() || !Number.isInteger(holder.pid) || holder.pid === process.pid) return;
    try {
      process.kill(holder.pid!, 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EPERM') return;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * The driver lock of a sweep directory (`.driver.lock`, or `.driver-<i>-of-<n>.lock` for a
 * shard; JSON with PID, host and start time): two drivers running the same points of one
 * directory at once would train them twice. A lock whose PID is dead on this host is stale and
 * taken over; a shard does not conflict with the other shards. Returns the release function.
 */
function acquireDriverLock(sweepDir: string, shard: SweepOptions['shard']): () => void {
  const name = shard ? `.driver-${shard.index}-of-${shard.count}.lock` : '.driver.lock';
  const mine = join(sweepDir, name);
  const others = shard
    ? [join(sweepDir, '.driver.lock'), mine]
    : readdirSync(sweepDir)
        .filter((f) => /^\.driver.*\.lock$/.test(f))
        .map((f) => join(sweepDir, f));
  const host = hostname();
  const busy = (f: string, h: { pid?: number; host?: string; startTime?: string }) =>
    new SweepError(
      `${sweepDir}: another sweep driver is running there (PID ${h.pid} on ${h.host}, since ${h.startTime}${f === mine ? '' : `, ${f.endsWith('.driver.lock') ? 'all points' : 'a shard'}`}); wait for it to finish or stop it${h.host !== host ? `; if it is gone, delete ${f}` : ''}`,
    );
  for (const f of others) {
    let h: { pid?: number; host?: string; startTime?: string };
    try {
      h = JSON.parse(readFileSync(f, 'utf8')) as typeof h;
    } catch {
      continue; // absent, or being written
    }
    if (h.host === host) {
      let alive = true;
      try {
        process.kill(h.pid!, 0);
      } catch (e) {
        alive = (e as NodeJS.ErrnoException).code === 'EPERM';
      }
      if (!alive) {
        try {
          unlinkSync(f); // stale: its driver was killed
        } catch {
          // another driver removed it first
        }
        continue;
      }
    } else if (f !== mine) continue; // another host's shard driver: no conflict can be checked from here
    throw busy(f, h);
  }
  try {
    writeFileSync(mine, JSON.stringify({ pid: process.pid, host, startTime: new Date().toISOString() }) + '\n', { flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    throw busy(
      mine,
      (() => {
        try {
          return JSON.parse(readFileSync(mine, 'utf8'));
        } catch {
          return {};
        }
      })(),
    );
  }
  const release = () => {
    try {
      if ((JSON.parse(readFileSync(mine, 'utf8')) as { pid?: number }).pid === process.pid) unlinkSync(mine);
    } catch {
      // already gone
    }
  };
  process.on('exit', release);
  return () => {
    release();
    process.removeListener('exit', release);
  };
}

/** One attempt at a point, as recorded in `runs/<label>/point.json`. */
export interface Attempt {
  started: string;
  ended: string;
  host: string;
  pid: number | null;
  exitCode: number | null;
  signal: string | null;
  resumedFrom: string | null;
  error: string | null;
}

export interface PointRecord {
  label: string;
  index: number;
  values: Record<string, unknown>;
  configHash: string;
  status: 'running' | 'complete' | 'failed';
  runDir: string | null;
  attempts: Attempt[];
}

function readPointRecord(sweepDir: string, label: string): PointRecord | undefined {
  const p = join(sweepDir, 'runs', label, 'point.json');
  if (!existsSync(p)) return undefined;
  try {
    return JSON.parse(readFileSync(p, 'utf8')) as PointRecord;
  } catch {
    return undefined;
  }
}

export interface SweepOptions {
  /** Results root for a new sweep directory (default `results`). */
  resultsDir?: string;
  configFile?: string | null;
  overrides?: string[];
  backend?: BackendChoice;
  /** Continue this sweep directory (must exist, same config). */
  resume?: string;
  /** Write into this sweep directory (created if absent, joined if it holds the same spec). */
  sweepDir?: string;
  /** Worker processes at a time (default: the number of cores). */
  jobs?: number;
  /** Extra attempts for a failed point (default 0). */
  retry?: number;
  /** Run only the points with index ≡ shard.index (mod shard.count); no summary (use collect). */
  shard?: { index: number; count: number };
  /** Progress output (default stderr); `null` silences it. */
  progress?: ProgressSink | null;
  /** On SIGINT / SIGTERM stop the workers and print the resume command (the CLI sets it). */
  handleSignals?: boolean;
}

export interface SweepResult {
  sweepDir: string;
  /** Labels of the points this invocation ran to completion. */
  ran: string[];
  /** Labels of the points that failed (after retries). */
  failed: string[];
  /** Labels skipped because they had already finished. */
  skipped: string[];
  /** The summary rows (absent for a shard, or when points are missing). */
  summary?: Row[];
  collected?: CollectResult;
}

interface Slot {
  id: number;
  point: SweepPoint;
  child: ChildProcess;
  start: number;
  model?: string;
  stage?: string;
  frac?: number;
  epoch?: number;
  epochs?: number;
  stageStart?: number;
  lastEpochLine?: string;
}

/** The sweep's progress: one line per worker and the overall ETA, redrawn in place on a terminal. */
class SweepDisplay {
  private drawn = 0;
  private timer: NodeJS.Timeout | undefined;
  readonly t0 = Date.now();
  done = 0;
  failed = 0;
  private readonly durations: number[] = [];
  constructor(
    private readonly out: ProgressSink | null,
    private readonly total: number,
    private readonly jobs: number,
    private readonly slots: Map<number, Slot>,
  ) {
    if (out?.isTTY) this.timer = setInterval(() => this.draw(), 500);
  }
  private get tty() {
    return Boolean(this.out?.isTTY);
  }
  finished(seconds: number) {
    this.durations.push(seconds);
  }
  /** Seconds left for the whole sweep: mean point time × (points left − progress of running ones) / jobs. */
  eta(): number {
    const mean = this.durations.length ? this.durations.reduce((a, b) => a + b, 0) / this.durations.length : NaN;
    let left = this.total - this.done - this.failed;
    let est = mean;
    for (const s of this.slots.values()) {
      const f = s.stage === 'train' && s.frac ? s.frac : 0;
      if (!Number.isFinite(mean) && f > 0.05) est = (Date.now() - s.start) / 1000 / f;
      left -= f;
    }
    return (Math.max(0, left) * est) / Math.max(1, Math.min(this.jobs, this.total - this.done - this.failed));
  }
  header(): string {
    const running = this.slots.size;
    return `sweep: ${this.done}/${this.total} done${this.failed ? `, ${this.failed} failed` : ''}, ${running} running | ${formatDuration((Date.now() - this.t0) / 1000)} elapsed, ETA ${formatDuration(this.eta())}`;
  }
  slotLine(s: Slot): string {
    const el = (Date.now() - s.start) / 1000;
    const stage = s.model ? `[${s.model}] ${s.stage}${s.epochs ? ` epoch ${s.epoch}/${s.epochs}` : ''} ${Math.round(100 * (s.frac ?? 0))}%` : 'starting';
    const st = s.stageStart ? (Date.now() - s.stageStart) / 1000 : NaN;
    const eta = s.stage === 'train' && s.frac && s.frac > 0 ? (st / s.frac) * (1 - s.frac) : NaN;
    return `  w${s.id} ${s.point.label}: ${stage} | ${formatDuration(el)}${Number.isFinite(eta) ? `, ETA ${formatDuration(eta)}` : ''}`;
  }
  private clear() {
    if (!this.tty || !this.drawn) return;
    this.out!.write(`\x1b[${this.drawn}A` + '\x1b[2K\n'.repeat(this.drawn) + `\x1b[${this.drawn}A`);
    this.drawn = 0;
  }
  draw() {
    if (!this.tty) return;
    const c = this.out!.columns ?? 0;
    const cols = c > 20 ? c - 1 : 200;
    const lines = [this.header(), ...[...this.slots.values()].map((s) => this.slotLine(s))].map((l) => l.slice(0, cols));
    this.clear();
    this.out!.write(lines.map((l) => `\x1b[2K${l}\n`).join(''));
    this.drawn = lines.length;
  }
  /** A line that stays (point started / finished / failed). */
  event(line: string) {
    if (!this.out) return;
    this.clear();
    this.out.write(line + '\n');
    this.draw();
  }
  /** On a plain stream, a line per finished epoch of each worker. */
  progress(s: Slot) {
    if (!this.out || this.tty) return;
    if (s.epoch === undefined || s.stage !== 'train') return;
    const key = `${s.model} ${s.epoch}/${s.epochs} ${s.frac}`;
    if (s.frac !== undefined && Math.abs(s.frac * (s.epochs ?? 1) - Math.round(s.frac * (s.epochs ?? 1))) < 1e-9 && key !== s.lastEpochLine) {
      s.lastEpochLine = key;
      this.out.write(`${this.slotLine(s).trim()} | ${this.header()}\n`);
    }
  }
  stop() {
    if (this.timer) clearInterval(this.timer);
    this.clear();
  }
}

function workerLaunch(): { file: string; execArgv: string[] } {
  const here = fileURLToPath(import.meta.url);
  const ts = here.endsWith('.ts');
  const file = join(dirname(here), ts ? 'sweep-worker.ts' : 'sweep-worker.js');
  const execArgv = ts ? ['--import', pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href] : [];
  return { file, execArgv };
}

function tail(s: string, n: number): string {
  return s.length > n ? s.slice(-n) : s;
}

/** Run one point in a worker process; resolves with the attempt (never rejects). */
async function runPoint(
  sweepDir: string,
  p: SweepPoint,
  o: SweepOptions,
  slot: Omit<Slot, 'child' | 'start' | 'point'>,
  onSlot: (s: Slot) => void,
  onProgress: (s: Slot) => void,
) {
  const dir = join(sweepDir, 'runs', p.label);
  mkdirSync(dir, { recursive: true });
  // The scan in driveSweep already waited for a killed driver's worker to let go of this partial run.
  const resume = partialRun(sweepDir, p.label);
  const log = createWriteStream(join(dir, 'log.txt'), { flags: 'a' });
  const started = new Date().toISOString();
  log.write(`=== ${started} point ${p.label} on ${hostname()}${resume ? `, resuming ${resume}` : ''} ===\n`);
  const { file, execArgv } = workerLaunch();
  const child = fork(file, [], { execArgv, stdio: ['ignore', 'pipe', 'pipe', 'ipc'], serialization: 'json' });
  const s: Slot = { ...slot, point: p, child, start: Date.now() };
  onSlot(s);
  let errTail = '';
  child.stdout!.on('data', (d: Buffer) => log.write(d));
  child.stderr!.on('data', (d: Buffer) => {
    log.write(d);
    errTail = tail(errTail + d.toString(), 4000);
  });
  let message: string | null = null;
  let runDir: string | null = null;
  child.on('message', (m: WorkerMessage) => {
    if (m.type === 'progress') {
      if (m.stage !== s.stage || m.model !== s.model) s.stageStart = Date.now();
      Object.assign(s, { model: m.model, stage: m.stage, frac: m.frac, epoch: m.epoch, epochs: m.epochs });
      onProgress(s);
    } else if (m.type === 'done') runDir = m.runDir;
    else if (m.type === 'error') message = m.message;
  });
  const job: WorkerJob = {
    type: 'run',
    label: p.label,
    config: runConfig(p),
    resultsDir: join(sweepDir, 'runs'),
    resume,
    backend: o.backend,
    configFile: o.configFile ?? null,
    overrides: [...(o.overrides ?? []), ...Object.entries(p.values).map(([k, v]) => `${k}=${JSON.stringify(v)}`)],
  };
  child.send(job);
  return new Promise<{ attempt: Attempt; runDir: string | null }>((resolve) => {
    let spawnError: string | null = null;
    child.on('error', (e) => (spawnError = e.message));
    child.on('close', (code, signal) => {
      let error: string | null = null;
      if (code !== 0 || signal || !runDir) {
        const oom = /heap out of memory|Out of memory|ENOMEM|RangeError: Array buffer allocation failed/i.test(errTail);
        error =
          message ??
          spawnError ??
          (signal
            ? `killed by ${signal}${signal === 'SIGKILL' ? ' (out of memory, or killed)' : ''}`
            : code !== 0
              ? `exited with code ${code}${oom ? ' (out of memory)' : ''}`
              : 'exited without reporting a result');
        if (oom && !/memory/.test(error)) error += ' (out of memory)';
        const lastLine = errTail.trim().split('\n').at(-1)?.trim();
        if (!message && lastLine) error += `; last output: ${lastLine.slice(0, 200)}`;
      }
      const attempt: Attempt = {
        started,
        ended: new Date().toISOString(),
        host: hostname(),
        pid: child.pid ?? null,
        exitCode: code,
        signal: signal ?? null,
        resumedFrom: resume ?? null,
        error,
      };
      log.end(`=== ${attempt.ended} ${error ? `FAILED: ${error}` : `complete: ${runDir}`} ===\n`, () => resolve({ attempt, runDir: error ? null : runDir }));
    });
  });
}

/**
 * Run the sweep: validate every point and check its data, open the sweep directory, run the
 * unfinished points of this shard in worker processes, then (unless sharded) collect the summary.
 */
export async function runSweep(cfg: ExperimentConfig, o: SweepOptions = {}): Promise<SweepResult> {
  const points = sweepPoints(cfg);
  const jobs = o.jobs ?? availableParallelism();
  if (!Number.isInteger(jobs) || jobs < 1) throw new SweepError(`--jobs ${jobs}: expected a whole number ≥ 1`);
  const retry = o.retry ?? 0;
  if (!Number.isInteger(retry) || retry < 0) throw new SweepError(`--retry ${retry}: expected a whole number ≥ 0`);
  if (o.resume !== undefined && o.sweepDir !== undefined) throw new SweepError('--resume and --sweep-dir: give one of them (both name the sweep directory)');
  if (o.shard && o.resume === undefined && o.sweepDir === undefined)
    throw new SweepError(`--shard ${o.shard.index}/${o.shard.count} needs --sweep-dir DIR (or --resume DIR): the directory every shard writes into`);
  if (o.resume !== undefined) readSweepRecord(o.resume.replace(/\/+$/, '') || o.resume, '--resume');
  else if (o.sweepDir === undefined) resolveResultsRoot(o.resultsDir, '--results');
  checkSweepData(points);
  const rec = sweepRecord(cfg, points, o);
  const sweepDir = openSweepDir(cfg, rec, o);
  const unlock = acquireDriverLock(sweepDir, o.shard);
  try {
    return await driveSweep(points, sweepDir, jobs, retry, o);
  } finally {
    unlock();
  }
}

async function driveSweep(points: SweepPoint[], sweepDir: string, jobs: number, retry: number, o: SweepOptions): Promise<SweepResult> {
  const sink = o.progress === undefined ? process.stderr : o.progress;

  const mine = o.shard ? points.filter((p) => p.index % o.shard!.count === o.shard!.index) : points;
  const skipped: string[] = [];
  const queue: { point: SweepPoint; attempts: Attempt[]; before: number }[] = [];
  const repaired: { point: SweepPoint; runDir: string; attempts: Attempt[] }[] = [];
  for (const p of mine) {
    // After `kill -9` of a driver its worker may still be finishing this point: wait for it to let go of
    // the partial run before deciding, or the point would be run again beside the run it just finished.
    const partial = partialRun(sweepDir, p.label);
    if (partial) await waitForLock(partial);
    const done = completedRun(sweepDir, p.label);
    if (done) {
      skipped.push(p.label);
      // A driver killed between its worker finishing the run and the driver recording it leaves a
      // finished run whose point.json still says "running": record it now, from the run's manifest.
      const pr = readPointRecord(sweepDir, p.label);
      if (pr?.status !== 'complete') repaired.push({ point: p, runDir: done, attempts: pr?.attempts ?? [] });
    } else {
      // Attempts recorded by earlier invocations are kept in point.json but do not count against --retry.
      const attempts = readPointRecord(sweepDir, p.label)?.attempts ?? [];
      queue.push({ point: p, attempts: [...attempts], before: attempts.length });
    }
  }
  const where = o.shard ? ` (shard ${o.shard.index}/${o.shard.count}: ${mine.length} of ${points.length} points)` : '';
  sink?.write(
    `sweep ${sweepDir}${where}: ${queue.length} to run, ${skipped.length} already complete, ${Math.min(jobs, queue.length)} worker${jobs === 1 ? '' : 's'}\n`,
  );

  const slots = new Map<number, Slot>();
  const display = new SweepDisplay(sink, mine.length, jobs, slots);
  display.done = skipped.length;
  const ran: string[] = [];
  const failed: string[] = [];
  let stopping = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    for (const s of slots.values()) s.child.kill('SIGTERM');
    display.stop();
    const cmd = ['bayesprune sweep', o.configFile ?? '<config>', ...(o.overrides ?? []), `--resume ${sweepDir}`].join(' ');
    process.stderr.write(`\nsweep interrupted (${sig}); finished points are kept. Continue with:\n  ${cmd}\n`);
    process.exit(130);
  };
  if (o.handleSignals) {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }
  const writeRecord = (p: SweepPoint, status: PointRecord['status'], attempts: Attempt[], runDir: string | null) =>
    writeJsonAtomic(join(sweepDir, 'runs', p.label, 'point.json'), {
      label: p.label,
      index: p.index,
      values: p.values,
      configHash: p.configHash,
      status,
      runDir,
      attempts,
    } satisfies PointRecord);

  for (const { point: p, runDir, attempts } of repaired) {
    const m = JSON.parse(readFileSync(join(runDir, 'manifest.json'), 'utf8')) as { startTime?: string; endTime?: string | null; resumedFrom?: string | null };
    const attempt: Attempt = {
      started: m.startTime ?? '',
      ended: m.endTime ?? '',
      host: hostname(),
      pid: null,
      exitCode: null,
      signal: null,
      resumedFrom: m.resumedFrom ?? null,
      error: null,
    };
    await writeRecord(p, 'complete', [...attempts, attempt], runDir);
    display.event(`[${p.index + 1}/${points.length}] ${p.label}: finished before the last driver stopped; recorded now from its manifest`);
  }

  let nextId = 1;
  const freeIds: number[] = [];
  const workerLoop = async () => {
    for (;;) {
      const item = queue.shift();
      if (!item || stopping) return;
      const { point: p } = item;
      const id = freeIds.shift() ?? nextId++;
      const tries = item.attempts.filter((a) => a.error).length;
      display.event(`[${p.index + 1}/${points.length}] ${p.label}: start${tries ? ` (attempt ${tries + 1})` : ''} on w${id}`);
      const t = Date.now();
      mkdirSync(join(sweepDir, 'runs', p.label), { recursive: true });
      await writeRecord(p, 'running', item.attempts, null);
      const { attempt, runDir } = await runPoint(
        sweepDir,
        p,
        o,
        { id },
        (s) => {
          slots.set(id, s);
          display.draw();
        },
        (s) => display.progress(s),
      );
      slots.delete(id);
      freeIds.push(id);
      item.attempts.push(attempt);
      if (runDir) {
        await writeRecord(p, 'complete', item.attempts, runDir);
        ran.push(p.label);
        display.done++;
        display.finished((Date.now() - t) / 1000);
        display.event(`[${p.index + 1}/${points.length}] ${p.label}: complete (${formatDuration((Date.now() - t) / 1000)})`);
      } else {
        const again = item.attempts.length - item.before <= retry && !stopping;
        await writeRecord(p, 'failed', item.attempts, null);
        display.event(
          `[${p.index + 1}/${points.length}] ${p.label}: FAILED: ${attempt.error}${again ? ' — retrying' : ''} (log: ${join(sweepDir, 'runs', p.label, 'log.txt')})`,
        );
        if (again) queue.push(item);
        else {
          failed.push(p.label);
          display.failed++;
        }
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(jobs, queue.length) }, () => workerLoop()));
  } finally {
    display.stop();
    if (o.handleSignals) {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    }
  }
  failed.sort((a, b) => points.findIndex((p) => p.label === a) - points.findIndex((p) => p.label === b));
  const result: SweepResult = { sweepDir, ran, failed, skipped };
  if (o.shard) {
    sink?.write(
      `shard ${o.shard.index}/${o.shard.count}: ${ran.length + skipped.length} of ${mine.length} points complete${failed.length ? `, ${failed.length} failed: ${failed.join(', ')}` : ''}; aggregate with: bayesprune sweep collect ${sweepDir}\n`,
    );
    return result;
  }
  const collected = await collectSweep([sweepDir], { progress: sink });
  result.collected = collected;
  result.summary = collected.summary;
  if (failed.length) sink?.write(`sweep: ${failed.length} point${failed.length > 1 ? 's' : ''} failed: ${failed.join(', ')}\n`);
  return result;
}

export interface CollectResult {
  /** Where the summary was written (the first directory). */
  sweepDir: string;
  summary: Row[];
  /** Labels of points with a finished run. */
  complete: string[];
  /** Labels of points without a finished run (failed ones included). */
  missing: string[];
  /** The missing points whose last attempt failed, with its error. */
  failed: { label: string; error: string }[];
}

/**
 * Aggregate the finished points found in one or more directories of the same sweep (shard
 * directories copied from elsewhere included) and write the summary into the first. Points are
 * read in the canonical order, so the result does not depend on where or when each ran.
 */
export async function collectSweep(dirs: string[], o: { progress?: ProgressSink | null } = {}): Promise<CollectResult> {
  if (!dirs.length) throw new SweepError('sweep collect needs at least one sweep directory');
  const sink = o.progress === undefined ? process.stderr : o.progress;
  const recs = dirs.map((d) => readSweepRecord(d, 'sweep collect'));
  const rec = recs[0]!;
  recs.forEach((r, i) => {
    if (r.specHash !== rec.specHash) {
      const diff = configDiff(rec.config, r.config);
      throw new SweepError(`sweep collect: ${dirs[i]} holds a different sweep than ${dirs[0]} (${diff.slice(0, 6).join(', ') || 'different --backend'})`);
    }
  });
  const rows: Row[] = [];
  const complete: string[] = [];
  const missing: string[] = [];
  const failed: { label: string; error: string }[] = [];
  for (const p of rec.points) {
    let runDir: string | undefined;
    for (const d of dirs) {
      runDir = completedRun(d, p.label);
      if (runDir) break;
    }
    if (!runDir) {
      missing.push(p.label);
      for (const d of dirs) {
        const pr = readPointRecord(d, p.label);
        const last = pr?.attempts.at(-1);
        if (pr?.status === 'failed' && last?.error) {
          failed.push({ label: p.label, error: last.error });
          break;
        }
      }
      continue;
    }
    const runCfg = JSON.parse(readFileSync(join(runDir, 'config.json'), 'utf8')) as ExperimentConfig;
    if (hashOf(runCfg) !== p.configHash) {
      // A run directory that does not belong to this point (copied from another sweep?) never enters the summary.
      missing.push(p.label);
      failed.push({ label: p.label, error: `${runDir}/config.json differs from the point's config in sweep.json (hash ${p.configHash.slice(0, 12)})` });
      continue;
    }
    complete.push(p.label);
    const metrics = JSON.parse(readFileSync(join(runDir, 'metrics.json'), 'utf8')) as { variants: Record<string, { curves: CurveRow[] }> };
    const seed = runCfg.seed;
    const axisCols = Object.fromEntries(rec.axes.filter((k) => k !== 'seed').map((k) => [k, JSON.stringify(p.values[k])]));
    for (const v of Object.values(metrics.variants)) for (const c of v.curves) rows.push({ label: p.label, seed, ...axisCols, ...flattenRow(c) });
  }
  const axesText = describeSpec(rec);
  const summary = await writeSweepSummary(dirs[0]!, {
    experiment: rec.experiment,
    axes: rec.axes,
    axesText: missing.length ? `${axesText} — INCOMPLETE: ${missing.length} of ${rec.points.length} points missing (${missing.join(', ')})` : axesText,
    runs: complete.length,
    rows,
  });
  sink?.write(`sweep summary (${complete.length} of ${rec.points.length} points): ${join(dirs[0]!, 'summary.md')}\n`);
  if (missing.length) {
    const errs = new Map(failed.map((f) => [f.label, f.error]));
    sink?.write(
      `missing points (${missing.length}):\n${missing.map((l) => `  ${l}${errs.has(l) ? `: FAILED: ${errs.get(l)}` : ': not run or unfinished'}`).join('\n')}\n`,
    );
  }
  return { sweepDir: dirs[0]!, summary, complete, missing, failed };
}

/** Human-readable description of a sweep spec for summary.md. */
function describeSpec(rec: SweepRecord): string {
  const s = rec.config.sweep;
  const list = (l: unknown[]) => `{${l.map((v) => JSON.stringify(v)).join(', ')}}`;
  const parts = [
    ...Object.entries(s.grid).map(([k, l]) => `\`${k}\` ∈ ${list(l)}`),
    ...s.zip.map(
      (g) =>
        `(${Object.keys(g)
          .map((k) => `\`${k}\``)
          .join(', ')}) ∈ zip(${Object.values(g).map(list).join(', ')})`,
    ),
    ...(s.random
      ? [
          `${s.random.n} random trials (seed ${s.random.seed}) of ${Object.keys(s.random.params)
            .map((k) => `\`${k}\``)
            .join(', ')}`,
        ]
      : []),
    ...(s.seeds ? [`\`seed\` ∈ ${list(s.seeds)}`] : []),
  ];
  return parts.join(' × ');
}
