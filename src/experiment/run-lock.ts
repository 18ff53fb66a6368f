/**
 * The lock of a partial run: `<partial dir>/run.lock`, a small JSON file with the PID,
 * host name and start time of the process working on the run, created exclusively
 * (`O_EXCL`, flag `wx`), so two processes can never train into the same partial
 * directory at once.
 *
 * - A lock held by a live process on this host (including this process) makes
 *   {@link acquireRunLock} refuse: "locked by PID 1234 on host h since …".
 * - A lock whose PID is no longer running on this host is stale (the process was
 *   killed, e.g. `kill -9`): it is taken over, with a note. On Linux the holder's start
 *   time from `/proc` is recorded too, so a PID reused by a later process (or a zombie)
 *   does not keep a dead run locked. The take-over itself is
 *   serialized by a second exclusive file (`run.lock.takeover`), so two processes
 *   finding the same stale lock cannot both win.
 * - A lock from another host cannot be checked from here: it is refused with the path to
 *   delete once that host's process is known to be gone.
 * The lock is released on completion, on error, and (through an `exit` listener) on
 * SIGINT / SIGTERM; only SIGKILL or a power cut leave it behind, and then it is stale.
 * @module
 */
import { closeSync, fsyncSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

export interface LockInfo {
  pid: number;
  host: string;
  /** ISO time the lock was taken. */
  startTime: string;
  /** The process's start time in clock ticks since boot (Linux `/proc/<pid>/stat`), to tell a reused PID from the holder. */
  procStart?: string;
}

export const LOCK_FILE = 'run.lock';

/** Path of the lock of the partial run directory `dir`. */
export function lockPath(dir: string): string {
  return join(dir, LOCK_FILE);
}

/** Whether a process with this PID exists on this host (EPERM: it exists but belongs to someone else). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** State and start time of a process from `/proc/<pid>/stat` (Linux; null elsewhere or when it is gone). */
function procStat(pid: number): { state: string; start: string } | null {
  try {
    const t = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = t.slice(t.lastIndexOf(')') + 2).split(' '); // fields 3, 4, ... of proc(5)
    return { state: rest[0] ?? '', start: rest[19] ?? '' };
  } catch {
    return null;
  }
}

/**
 * Whether the holder of a lock on this host is still running: its PID exists, is not a
 * zombie, and (where /proc tells) is the same process, not a later one that reused the PID.
 */
export function holderAlive(info: LockInfo): boolean {
  if (!pidAlive(info.pid)) return false;
  const st = procStat(info.pid);
  if (!st) return true;
  if (st.state === 'Z' || st.state === 'X') return false;
  return !info.procStart || st.start === info.procStart;
}

function readLockFile(file: string): LockInfo | null {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as LockInfo;
    if (typeof v.pid === 'number' && typeof v.host === 'string' && typeof v.startTime === 'string') return v;
  } catch {
    /* missing or unreadable */
  }
  return null;
}

/** The lock of `dir` and whether its process is alive (null: another host, cannot tell); null when unlocked. */
export function lockHolder(dir: string): { info: LockInfo; alive: boolean | null } | null {
  const info = readLockFile(lockPath(dir));
  if (!info) return null;
  return { info, alive: info.host === hostname() ? holderAlive(info) : null };
}

/** A held lock; {@link release} is idempotent and synchronous (safe in exit handlers). */
export class RunLock {
  private released = false;
  constructor(
    readonly file: string,
    readonly info: LockInfo,
  ) {}

  /** Remove the lock file if it is still ours. */
  release(): void {
    if (this.released) return;
    this.released = true;
    const cur = readLockFile(this.file);
    if (cur && cur.pid === this.info.pid && cur.host === this.info.host && cur.startTime === this.info.startTime) {
      try {
        unlinkSync(this.file);
      } catch {
        /* already gone */
      }
    }
  }
}

function describe(info: LockInfo): string {
  return `PID ${info.pid} on host ${info.host} since ${info.startTime}`;
}

function tryCreate(file: string, info: LockInfo): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o644);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    throw new Error(`cannot create the run lock ${file}: ${code ?? (e as Error).message}`);
  }
  try {
    writeSync(fd, JSON.stringify(info) + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return true;
}

/** Age in ms of a file (Infinity when it does not exist). */
function ageMs(file: string): number {
  try {
    return Date.now() - statSync(file).mtimeMs;
  } catch {
    return Infinity;
  }
}

/**
 * Lock the partial run directory `dir` for this process, taking over a stale lock
 * (its process is gone) with a `note`. Throws when a live process holds it.
 */
export function acquireRunLock(dir: string, runId: string, note: (s: string) => void = () => {}): RunLock {
  const file = lockPath(dir);
  const own = procStat(process.pid);
  const info: LockInfo = { pid: process.pid, host: hostname(), startTime: new Date().toISOString(), ...(own ? { procStart: own.start } : {}) };
  for (let attempt = 0; attempt < 5; attempt++) {
    if (tryCreate(file, info)) return new RunLock(file, info);
    const holder = readLockFile(file);
    if (!holder) {
      // Unreadable: being written right now (refuse), or left half-written by a killed process (stale).
      if (ageMs(file) < 5000) throw new Error(`run ${runId} in ${dir} is being locked by another process right now (${file}); try again in a moment`);
    } else if (holder.host !== info.host) {
      throw new Error(
        `run ${runId} in ${dir} is locked by ${describe(holder)}; if no process on ${holder.host} is running it any more, delete ${file} and resume again`,
      );
    } else if (holderAlive(holder)) {
      throw new Error(
        `run ${runId} in ${dir} is locked by ${describe(holder)}; another process is running it (wait for it to finish or stop it first; if PID ${holder.pid} is not a bayesprune process, delete ${file})`,
      );
    }
    // Stale: take it over, one taker at a time.
    const guard = `${file}.takeover`;
    if (!tryCreate(guard, info)) {
      if (ageMs(guard) > 10_000) {
        try {
          unlinkSync(guard);
        } catch {
          /* someone else removed it */
        }
        continue;
      }
      throw new Error(`run ${runId} in ${dir}: another process is taking over its stale lock right now; try again in a moment`);
    }
    try {
      const again = readLockFile(file);
      const same = JSON.stringify(again) === JSON.stringify(holder);
      if (same) {
        try {
          unlinkSync(file);
        } catch {
          /* gone already */
        }
        note(
          holder
            ? `note: took over the stale lock of run ${runId} (${describe(holder)}: that process is no longer running)\n`
            : `note: removed an unreadable stale lock of run ${runId} (${file})\n`,
        );
      }
    } finally {
      try {
        unlinkSync(guard);
      } catch {
        /* ignore */
      }
    }
  }
  throw new Error(`run ${runId} in ${dir}: could not take its lock ${file}; try again`);
}
