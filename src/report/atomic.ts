/**
 * Crash-safe file writes: readers see either the old file or the complete new
 * one, never a partial write.
 *
 * Protocol (the write-temp/fsync/rename pattern, as in npm's `write-file-atomic`):
 * 1. create the parent directory (`mkdir -p`);
 * 2. write the data to `<path>.tmp-<pid>-<random hex>` in the same directory
 *    (same file system, so the rename is atomic), opened exclusively (`wx`);
 * 3. `fsync` the temp file, close it;
 * 4. `rename` it over `path` (atomic replacement on POSIX);
 * 5. best-effort `fsync` of the directory so the rename itself is durable.
 * On any error before the rename completes the temp file is removed and the
 * error re-thrown; `path` is then untouched.
 * @module
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

/** Name of the temporary sibling used for `path`: `<path>.tmp-<pid>-<8 random hex bytes>`. */
export function tempPathFor(path: string): string {
  return `${path}.tmp-${process.pid}-${randomBytes(8).toString('hex')}`;
}

async function fsyncDir(dir: string): Promise<void> {
  try {
    const h = await open(dir, 'r');
    try {
      await h.sync();
    } finally {
      await h.close();
    }
  } catch {
    // Directory fsync is unsupported on some platforms (e.g. Windows); the data itself is already synced.
  }
}

/**
 * Atomically replace `path` with `data` (see the module comment for the
 * protocol). Creates missing parent directories. Strings are written as UTF-8.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const target = resolve(path);
  const dir = dirname(target);
  await mkdir(dir, { recursive: true });
  const tmp = tempPathFor(target);
  let handle: fs.promises.FileHandle | undefined;
  try {
    handle = await open(tmp, 'wx', 0o644);
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(tmp, target);
  } catch (err) {
    if (handle) await handle.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fsyncDir(dir);
}

/**
 * Synchronous {@link writeFileAtomic}, for exit handlers and other places that
 * cannot await.
 */
export function writeFileAtomicSync(path: string, data: string | Uint8Array): void {
  const target = resolve(path);
  const dir = dirname(target);
  fs.mkdirSync(dir, { recursive: true });
  const tmp = tempPathFor(target);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx', 0o644);
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, target);
  } catch (err) {
    if (fd !== undefined) {
      try {
        fs.closeSync(fd);
      } catch {
        /* already failing */
      }
    }
    try {
      fs.unlinkSync(tmp);
    } catch {
      /* temp may not exist */
    }
    throw err;
  }
  try {
    const dfd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  } catch {
    /* best effort, see fsyncDir */
  }
}

/** JSON text as written by {@link writeJsonAtomic}: 2-space indentation and a trailing newline. */
export function jsonText(obj: unknown): string {
  const s = JSON.stringify(obj, null, 2);
  if (s === undefined) throw new Error('writeJsonAtomic: value is not JSON-serializable');
  return s + '\n';
}

/**
 * Atomically write `obj` as JSON (2-space indentation, trailing newline) to
 * `path`, creating parent directories. NaN and ±Infinity become `null`, as in
 * `JSON.stringify`.
 */
export async function writeJsonAtomic(path: string, obj: unknown): Promise<void> {
  await writeFileAtomic(path, jsonText(obj));
}
