/**
 * Safe paths for everything a run writes: the results root is checked before any work
 * (it must be, or be creatable as, a writable directory), every path component under it
 * is a plain name (never empty, `.`, `..`, absolute, or containing a separator or NUL),
 * and directories are created without Node's recursive `mkdir`, which spins forever on
 * paths such as `/proc/self/nope` (mkdir there fails with ENOENT although the parent
 * exists, and the recursive walk retries it endlessly).
 * @module
 */
import { mkdirSync, mkdtempSync, rmdirSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';

/** A path a user gave (flag, config key) that cannot be used; the message is one line and names the path. */
export class PathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PathError';
  }
}

/** Longest file or directory name most file systems accept (bytes). */
export const MAX_NAME_BYTES = 255;

const ERRNO_WORDS: Record<string, string> = {
  ENOENT: 'does not exist',
  ENOTDIR: 'a part of the path is a file, not a directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENAMETOOLONG: 'the path or one of its names is too long',
  EISDIR: 'is a directory, not a file',
  ENOTEMPTY: 'the directory is not empty',
  EEXIST: 'already exists',
  EROFS: 'the file system is read-only',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  ELOOP: 'too many levels of symbolic links',
  EMFILE: 'too many open files',
  EBUSY: 'the resource is busy',
  EINVAL: 'invalid path',
  EIO: 'input/output error',
};

/** The error code of a Node.js file-system error, if any. */
export function errnoCode(e: unknown): string | undefined {
  const c = (e as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : undefined;
}

/**
 * A file-system error in plain words naming the path: `<path>: permission denied (EACCES)`.
 * Unknown errors keep the first line of their message, without Node's `syscall 'path'` tail.
 */
export function fsErrorMessage(e: unknown, path: string): string {
  const code = errnoCode(e);
  const words = code ? ERRNO_WORDS[code] : undefined;
  if (words) return `${path}: ${words} (${code})`;
  const msg = String(e instanceof Error ? e.message : e).split('\n')[0]!;
  return `${path}: ${msg.replace(/^[A-Z]+: /, '').replace(/, \w+ '.*'$/, '')}`;
}

/** The reason `name` cannot be one path component, or undefined when it can. */
export function unsafeComponent(name: unknown): string | undefined {
  if (typeof name !== 'string') return `expected a name, got ${name === null ? 'null' : typeof name}`;
  if (name === '') return 'empty name';
  if (name === '.' || name === '..') return `"${name}" would leave the directory`;
  if (name.includes('\0')) return 'contains a NUL character';
  if (name.includes('/') || name.includes('\\')) return 'contains a path separator';
  if (isAbsolute(name)) return 'is an absolute path';
  if (Buffer.byteLength(name) > MAX_NAME_BYTES) return `longer than ${MAX_NAME_BYTES} bytes`;
  return undefined;
}

/**
 * `join(root, ...parts)`, refusing any part that is empty, `.`, `..`, absolute, longer than
 * {@link MAX_NAME_BYTES}, or contains a path separator or NUL: the result is always strictly
 * inside `root`.
 */
export function safeJoin(root: string, ...parts: string[]): string {
  for (const p of parts) {
    const why = unsafeComponent(p);
    if (why) throw new PathError(`unsafe name ${JSON.stringify(p)} under ${root}: ${why}; names are plain file names`);
  }
  return join(root, ...parts);
}

/**
 * `mkdir -p` that cannot spin: walks up to the nearest existing ancestor (which must be a
 * directory), then creates each missing directory once, non-recursively. Returns the
 * directories it created, outermost first. Errors are {@link PathError}s naming the path.
 */
export function makeDirs(dir: string): string[] {
  const target = resolve(dir);
  const missing: string[] = [];
  let p = target;
  for (;;) {
    let isDir: boolean | undefined;
    try {
      isDir = statSync(p).isDirectory();
    } catch (e) {
      const code = errnoCode(e);
      if (code === 'ENOENT' || code === 'ENOTDIR')
        isDir = undefined; // ENOTDIR: a file further up; the walk finds and names it
      else throw new PathError(`cannot create directory ${dir}: ${fsErrorMessage(e, p)}`);
    }
    if (isDir === true) break;
    if (isDir === false) throw new PathError(`cannot create directory ${dir}: ${p} is a file, not a directory`);
    missing.push(p);
    const up = dirname(p);
    if (up === p) break;
    p = up;
  }
  const created: string[] = [];
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d);
      created.push(d);
    } catch (e) {
      if (errnoCode(e) === 'EEXIST' && statSync(d, { throwIfNoEntry: false })?.isDirectory()) continue;
      const why = errnoCode(e) === 'ENOENT' ? `${dirname(d)} does not accept new directories (ENOENT)` : fsErrorMessage(e, d);
      throw new PathError(`cannot create directory ${dir}: ${why}`);
    }
  }
  return created;
}

/**
 * Check a results root before any work: a non-empty path without NUL that is a writable
 * directory or can be created as one. The check writes nothing that outlives it (a probe
 * directory inside the root is created and removed; missing directories are created and
 * removed again). Returns the root (`results` when undefined). Throws a one-line
 * {@link PathError} naming the path otherwise.
 * @param what How the root was given, for the message (e.g. `--results`).
 */
export function resolveResultsRoot(dir: string | undefined, what = 'results root'): string {
  if (dir === undefined) dir = 'results';
  if (typeof dir !== 'string' || dir.trim() === '')
    throw new PathError(`${what}: empty path; give a directory, e.g. ${what === '--results' ? '--results ' : ''}results`);
  if (dir.includes('\0')) throw new PathError(`${what} ${JSON.stringify(dir)}: contains a NUL character`);
  for (const part of resolve(dir).split('/'))
    if (Buffer.byteLength(part) > MAX_NAME_BYTES)
      throw new PathError(`${what} ${dir}: the name "${part.slice(0, 24)}…" is longer than ${MAX_NAME_BYTES} bytes (ENAMETOOLONG)`);
  let created: string[] = [];
  try {
    created = makeDirs(dir);
    const probe = mkdtempSync(join(dir, '.bp-write-check-'));
    rmdirSync(probe);
  } catch (e) {
    const msg = e instanceof PathError ? e.message.replace(/^cannot create directory [^:]*: /, '') : fsErrorMessage(e, dir);
    throw new PathError(`${what} ${dir}: not a writable directory: ${msg}`);
  } finally {
    for (const d of created.reverse()) {
      try {
        rmdirSync(d);
      } catch {
        // Another process put something there meanwhile; leave it.
      }
    }
  }
  return dir;
}
