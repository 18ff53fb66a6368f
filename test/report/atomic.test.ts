import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeFileAtomic, writeFileAtomicSync, writeJsonAtomic } from '../../src/report/atomic.js';

const root = mkdtempSync(join(tmpdir(), 'atomic-test-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const temps = (dir: string) => readdirSync(dir).filter((f) => f.includes('.tmp-'));

describe('writeFileAtomic', () => {
  it('creates parent directories, writes complete content and leaves no temp file', async () => {
    const dir = join(root, 'a', 'b');
    const p = join(dir, 'out.txt');
    const big = 'x'.repeat(1 << 20) + 'END';
    await writeFileAtomic(p, big);
    expect(readFileSync(p, 'utf8')).toBe(big);
    expect(temps(dir)).toEqual([]);
  });

  it('replaces an existing file', async () => {
    const p = join(root, 'replace.txt');
    writeFileSync(p, 'old content that is longer');
    await writeFileAtomic(p, new TextEncoder().encode('new'));
    expect(readFileSync(p, 'utf8')).toBe('new');
    expect(temps(root)).toEqual([]);
  });

  it('cleans the temp file and leaves the target untouched when the rename fails', async () => {
    // A non-empty directory at the target path makes rename() fail after the temp file was written and synced.
    const dir = join(root, 'fail');
    const target = join(dir, 'target');
    mkdirSync(join(target, 'child'), { recursive: true });
    await expect(writeFileAtomic(target, 'data')).rejects.toThrow();
    expect(temps(dir)).toEqual([]);
    expect(readdirSync(target)).toEqual(['child']);
    expect(() => writeFileAtomicSync(target, 'data')).toThrow();
    expect(temps(dir)).toEqual([]);
  });

  it('concurrent writers never leave a partial file', async () => {
    const p = join(root, 'race.txt');
    const payloads = Array.from({ length: 8 }, (_, i) => String(i).repeat(100_000));
    await Promise.all(payloads.map((d) => writeFileAtomic(p, d)));
    expect(payloads).toContain(readFileSync(p, 'utf8'));
    expect(temps(root)).toEqual([]);
  });
});

describe('writeJsonAtomic / writeFileAtomicSync', () => {
  it('writes 2-space JSON with a trailing newline', async () => {
    const p = join(root, 'j', 'x.json');
    await writeJsonAtomic(p, { a: 1, b: [true, null] });
    expect(readFileSync(p, 'utf8')).toBe('{\n  "a": 1,\n  "b": [\n    true,\n    null\n  ]\n}\n');
  });

  it('sync variant writes the same bytes', () => {
    const p = join(root, 's', 'y.txt');
    writeFileAtomicSync(p, 'hello');
    expect(readFileSync(p, 'utf8')).toBe('hello');
    expect(temps(join(root, 's'))).toEqual([]);
  });
});
