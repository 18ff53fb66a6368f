import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fsErrorMessage, makeDirs, PathError, resolveResultsRoot, safeJoin } from '../../src/experiment/paths.js';

const tmp = mkdtempSync(join(tmpdir(), 'bp-paths-'));

describe('safeJoin', () => {
  it('joins plain names', () => {
    expect(safeJoin('/r', 'exp', '.run.partial')).toBe('/r/exp/.run.partial');
  });
  it.each(['', '.', '..', 'a/b', '../x', '/abs', 'a\\b', 'a\0b', 'x'.repeat(256)])('refuses %j', (part) => {
    expect(() => safeJoin('/r', 'ok', part)).toThrow(PathError);
  });
});

describe('makeDirs', () => {
  it('creates a chain and reports what it created, outermost first', () => {
    const d = join(tmp, 'm', 'a', 'b');
    expect(makeDirs(d)).toEqual([join(tmp, 'm'), join(tmp, 'm', 'a'), d]);
    expect(makeDirs(d)).toEqual([]);
  });
  it("fails fast (no spinning) under /proc/self, where Node's recursive mkdir loops forever", () => {
    expect(() => makeDirs('/proc/self/nope/a')).toThrow(/cannot create directory \/proc\/self\/nope\/a: \/proc\/self does not accept new directories/);
  });
  it('names the file that blocks the path', () => {
    const f = join(tmp, 'afile');
    writeFileSync(f, 'x');
    expect(() => makeDirs(join(f, 'sub'))).toThrow(/afile.*(file, not a directory|ENOTDIR)/);
  });
});

describe('resolveResultsRoot', () => {
  it('defaults to results and accepts a creatable directory without leaving it behind', () => {
    expect(resolveResultsRoot(undefined)).toBe('results');
    const d = join(tmp, 'r1', 'deep');
    expect(resolveResultsRoot(d)).toBe(d);
    expect(existsSync(join(tmp, 'r1'))).toBe(false);
    const e = join(tmp, 'r2');
    makeDirs(e);
    expect(resolveResultsRoot(e)).toBe(e);
    expect(readdirSync(e)).toEqual([]);
  });
  it.each([
    ['', /empty path/],
    ['   ', /empty path/],
    ['/proc/self/nope', /\/proc\/self\/nope: not a writable directory: \/proc\/self does not accept new directories/],
    ['a\0b', /NUL/],
    [join('/tmp', 'x'.repeat(300)), /longer than 255 bytes \(ENAMETOOLONG\)/],
  ])('refuses %j in one line', (d, re) => {
    let msg = '';
    try {
      resolveResultsRoot(d, '--results');
    } catch (e) {
      expect(e).toBeInstanceOf(PathError);
      msg = (e as Error).message;
    }
    expect(msg).toMatch(re);
    expect(msg).not.toContain('\n');
  });
  it('refuses a file (ENOTDIR) and names it', () => {
    const f = join(tmp, 'plainfile');
    writeFileSync(f, 'x');
    expect(() => resolveResultsRoot(f)).toThrow(/plainfile.*not a writable directory/);
    expect(() => resolveResultsRoot(join(f, 'sub'))).toThrow(/plainfile.*file, not a directory/);
  });
});

describe('fsErrorMessage', () => {
  it('turns errno codes into words naming the path', () => {
    const err = (code: string) => Object.assign(new Error(`${code}: raw text, open '/x'`), { code });
    expect(fsErrorMessage(err('EACCES'), '/x')).toBe('/x: permission denied (EACCES)');
    expect(fsErrorMessage(err('ENOTDIR'), '/x')).toBe('/x: a part of the path is a file, not a directory (ENOTDIR)');
    expect(fsErrorMessage(err('ENAMETOOLONG'), '/x')).toBe('/x: the path or one of its names is too long (ENAMETOOLONG)');
    expect(fsErrorMessage(err('ENOENT'), '/x')).toBe('/x: does not exist (ENOENT)');
    expect(fsErrorMessage(err('ENOTEMPTY'), '/x')).toBe('/x: the directory is not empty (ENOTEMPTY)');
  });
});
