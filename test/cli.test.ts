import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { main } from '../src/cli.js';
import { probeNativePackages } from '../src/backend.js';
import { loadConfig } from '../src/experiment/config.js';

const tmp = mkdtempSync(join(tmpdir(), 'bp-cli-'));
function file(name: string, text: string): string {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
}

/** Run the CLI in-process, capturing its output. */
async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } });
  return { code, out, err };
}

/** The tiny blobs config used for end-to-end runs. */
const TINY = file(
  'tiny.yaml',
  [
    'experiment: tiny',
    'data: { name: blobs, trainLimit: 200 }',
    'model: { arch: mlp, hidden: [8] }',
    'train: { epochs: 1, batchSize: 50 }',
    'eval: { samples: 2 }',
    'pruning: { criteria: [snr, magnitude], sparsities: [0, 0.5] }',
    '',
  ].join('\n'),
);

describe('CLI: help and usage errors (issue 9, defect 11)', () => {
  it.each([['run'], ['validate'], ['info'], ['criteria'], ['sweep']])('%s -h prints its own help, never reads "-h" as a file', async (cmd) => {
    for (const flag of ['-h', '--help']) {
      const r = await cli(cmd, flag);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(new RegExp(`^Usage: bayesprune ${cmd} `));
      expect(r.err).toBe('');
    }
    expect((await cli('help', cmd)).out).toMatch(new RegExp(`^Usage: bayesprune ${cmd} `));
  });

  it('no arguments or help: the overview, exit 0', async () => {
    for (const argv of [[], ['help'], ['--help']]) {
      const r = await cli(...argv);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/Commands:[\s\S]*run[\s\S]*sweep[\s\S]*validate[\s\S]*info[\s\S]*criteria/);
    }
  });

  it.each([
    [['rnu', 'x.yaml'], /^error: unknown command 'rnu' \(did you mean run\?\); see bayesprune --help$/],
    [['valdiate'], /did you mean validate/],
    [['run', TINY, '--resul', 'x'], /^error: unknown option '--resul' \(did you mean one of --results, --resume\?\); see bayesprune run --help$/],
    [['run', TINY, '--quite'], /did you mean --quiet/],
    [['run'], /^error: missing required argument 'config'; see bayesprune run --help$/],
    [['run', TINY, '--backend', 'gpuu'], /unknown backend "gpuu" \(did you mean "cpu"\?\); allowed: auto, tensorflow, wasm, cpu/],
    [['run', TINY, '--results='], /--results needs a directory, got an empty value/],
    [['run', TINY, '--results', ''], /--results needs a directory, got an empty value/],
    [['run', TINY, '--resume='], /--resume needs a directory, got an empty value/],
  ])('%j is one line, exit 2', async (argv, re) => {
    const r = await cli(...argv);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err.trimEnd()).toMatch(re);
    expect(r.err.trimEnd().split('\n')).toHaveLength(1);
  });
});

describe('CLI: validate prints every problem, and the config exactly as it runs', () => {
  it('prints the resolved config (step schedule defaults included) equal to what loadConfig gives', async () => {
    const r = await cli('validate', TINY, 'train.optimizer.schedule=step');
    expect(r.code).toBe(0);
    const printed = JSON.parse(r.out);
    expect(printed).toEqual(JSON.parse(JSON.stringify(loadConfig(TINY, ['train.optimizer.schedule=step']))));
    expect(printed.train.optimizer).toMatchObject({ schedule: 'step', every: 30, gamma: 0.1 });
  });

  it('names method-derived values on stderr', async () => {
    const r = await cli('validate', TINY, 'inference.method=swag');
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/derived at run time \(not stored in the config\): inference.swag.scale = 0.5 \(inference.swag.variant is swag\)/);
  });

  it('config, override, variant and sweep-point problems all in one pass, exit 1, no stack trace', async () => {
    const f = file(
      'many.yaml',
      [
        'experiment: many',
        'data: { name: blobs }',
        'model: { arch: mlp, hidden: [8] }',
        'train: { epochz: 1 }',
        'variants:',
        '  - { name: v, set: { eval.samples: 0 } }',
        '',
      ].join('\n'),
    );
    const r = await cli('validate', f, 'seed=-1', 'pruning.criteria=[snr, bogus]');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/invalid config \(4 problems\)/);
    expect(r.err).toMatch(/train: unknown key "epochz" \(did you mean "epochs"\?\)/);
    expect(r.err).toMatch(/override seed=-1: must be ≥ 0/);
    expect(r.err).toMatch(/override pruning.criteria=\[snr, bogus\]: pruning.criteria.1: unknown criterion "bogus"/);
    expect(r.err).toMatch(/\[variant "v"\] eval.samples: must be ≥ 1/);
    expect(r.err).not.toMatch(/\n\s+at /);

    const s = file(
      'sweep.yaml',
      ['experiment: sw', 'data: { name: blobs }', 'model: { arch: mlp, hidden: [8] }', 'sweep: { train.epochs: [1, -1, -2] }', ''].join('\n'),
    );
    const rs = await cli('validate', s);
    expect(rs.code).toBe(1);
    expect(rs.err).toMatch(/2 problems/);
    expect(rs.err).toMatch(/-1/);
    expect(rs.err).toMatch(/-2/);
  });

  it('file problems in plain words', async () => {
    const d = join(tmp, 'cfgdir');
    mkdirSync(d, { recursive: true });
    expect((await cli('validate', d)).err).toMatch(/cfgdir: invalid config \(1 problem\):\n {2}- \(root\): is a directory, not a config file\n$/);
    expect((await cli('validate', join(TINY, 'x.yaml'))).err).toMatch(/a part of the path is a file, not a directory \(ENOTDIR\)/);
    expect((await cli('validate', join(tmp, 'nope.yaml'))).err).toMatch(/nope.yaml: invalid config \(1 problem\):\n {2}- \(root\): config file not found/);
  });
});

describe('CLI: nothing written outside the results root (issue 9, defects 5, 8)', () => {
  it('refuses experiment names and results roots that would escape, before anything is created', async () => {
    const root = mkdtempSync(join(tmpdir(), 'bp-cli-root-'));
    const cwdBefore = readdirSync('.').sort();
    for (const name of ['..', '.', '.hidden', 'a/b']) {
      const r = await cli('run', TINY, `experiment=${JSON.stringify(name)}`, '--results', join(root, 'r'), '--quiet');
      expect(r.code, name).toBe(1);
      expect(r.err, name).toMatch(/override experiment=.*: got .*not starting with "\."/);
    }
    const p = await cli('run', TINY, '--results', '/proc/self/nope', '--quiet');
    expect(p.code).toBe(1);
    expect(p.err).toBe('error: --results /proc/self/nope: not a writable directory: /proc/self does not accept new directories (ENOENT)\n');
    const blocked = file('blocker', 'x');
    const b = await cli('run', TINY, '--results', join(blocked, 'r'), '--quiet');
    expect(b.err).toMatch(/blocker is a file, not a directory/);
    expect(readdirSync(root)).toEqual([]);
    expect(readdirSync('.').sort()).toEqual(cwdBefore);
  });

  it('a tiny run writes only under its results root', async () => {
    const root = mkdtempSync(join(tmpdir(), 'bp-cli-root-'));
    const r = await cli('run', TINY, '--results', join(root, 'res'), '--quiet', '--backend', 'cpu');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(readdirSync(root)).toEqual(['res']);
    const runs = readdirSync(join(root, 'res', 'tiny'));
    expect(runs).toHaveLength(1);
    expect(runs[0]).not.toMatch(/partial/);
    expect(existsSync(join(root, 'res', 'tiny', runs[0]!, 'metrics.json'))).toBe(true);
    // What validate prints is exactly what the run recorded as its config (issue 9, defect 12).
    const printed = JSON.parse((await cli('validate', TINY)).out);
    expect(JSON.parse(readFileSync(join(root, 'res', 'tiny', runs[0]!, 'config.json'), 'utf8'))).toEqual(printed);
  }, 60_000);
});

describe('CLI: info (issue 9, defect 14)', () => {
  it('says which backends are available and why the others are not', async () => {
    const r = await cli('info', '--backend', 'cpu');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^backend in use: cpu/m);
    expect(r.out).toMatch(/^available: .*cpu/m);
    expect(r.out).not.toMatch(/registered no usable/);
    const j = JSON.parse((await cli('info', '--backend', 'cpu', '--json')).out);
    expect(j.available).toContain('cpu');
    expect(Array.isArray(j.unavailable)).toBe(true);
  });
});

describe('info in a fresh process, backend auto (issue 9, defect 14)', () => {
  it('an aliased native folder is reported as not installed and never loaded; the record matches the probe', () => {
    const r = spawnSync(join(process.cwd(), 'node_modules/.bin/tsx'), ['src/cli.ts', 'info', '--json'], {
      encoding: 'utf8',
      env: { ...process.env, BAYESPRUNE_BACKEND: '' },
    });
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    const probes = probeNativePackages();
    for (const p of probes) {
      const tried = (j.backend.tried as { name: string; error: string }[]).find((t) => t.name === p.package);
      if (p.status !== 'genuine') {
        expect(tried?.error).toBe(p.summary.slice(p.package.length + 2));
        expect(j.packages[p.package]).toBeNull();
      }
      expect(tried?.error ?? '').not.toMatch(/registered no usable/);
    }
    if (!probes.some((p) => p.status === 'genuine')) {
      expect(j.available).not.toContain('tensorflow');
      expect(j.unavailable.find((u: { name: string }) => u.name === 'tensorflow').why).toContain(probes.map((p) => p.summary).join('; '));
    }
    expect(j.available).toContain(j.backend.name);
    expect(j.backend.available).toEqual(j.available);
  }, 60_000);
});

describe('formatError', () => {
  it('turns escaped file-system errors into plain words naming the paths, without a stack', async () => {
    const { formatError } = await import('../src/cli.js');
    const e = Object.assign(new Error("ENOTEMPTY: directory not empty, rename '/r/.a.partial' -> '/r/a'"), {
      code: 'ENOTEMPTY',
      path: '/r/.a.partial',
      dest: '/r/a',
    });
    expect(formatError(e)).toBe('error: /r/.a.partial → /r/a: the directory is not empty (ENOTEMPTY)');
    const a = Object.assign(new Error("EACCES: permission denied, open '/x/y'"), { code: 'EACCES', path: '/x/y' });
    expect(formatError(a)).toBe('error: /x/y: permission denied (EACCES)');
  });
});
