/**
 * The npm package as a user gets it: `npm pack` (which builds dist/ through `prepack`), the
 * tarball installed into an empty project, the API imported from TypeScript and type-checked
 * with tsc, a tiny experiment run from the compiled JavaScript (no TypeScript loader), and
 * `npx bayesprune --help` there. The tiny experiment must give the same numbers as the same
 * config run from the sources in this process.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/experiment/config.js';
import { runExperiment } from '../../src/experiment/run.js';
import { useTestBackend } from '../setup-backend.js';

const repo = resolve(import.meta.dirname, '..', '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const tsc = join(repo, 'node_modules', 'typescript', 'bin', 'tsc');

/** The config of the tiny experiment, as plain data (the consumer file writes the same object). */
const TINY = {
  experiment: 'packed',
  seed: 5,
  backend: 'cpu',
  data: { name: 'blobs' },
  model: { arch: 'mlp', hidden: [8] },
  inference: { method: 'vi' },
  train: { epochs: 1, batchSize: 50 },
  eval: { samples: 2 },
  pruning: { criteria: ['snr'], sparsities: [0, 0.5] },
};

let work = '';
let project = '';
let tarball = '';

/** Run a command without blocking the test worker (a long spawnSync starves vitest's RPC); throws with its output on failure. */
async function run(cmd: string, args: string[], cwd: string, timeout = 300_000): Promise<{ stdout: string; stderr: string; status: number | null }> {
  const r = await new Promise<{ stdout: string; stderr: string; status: number | null }>((done) => {
    execFile(
      cmd,
      args,
      { cwd, encoding: 'utf8', timeout, maxBuffer: 64 << 20, env: { ...process.env, npm_config_update_notifier: 'false' } },
      (e, stdout, stderr) => done({ stdout, stderr, status: e ? (typeof e.code === 'number' ? e.code : 1) : 0 }),
    );
  });
  return r;
}

async function ok(cmd: string, args: string[], cwd: string, timeout?: number) {
  const r = await run(cmd, args, cwd, timeout);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

beforeAll(async () => {
  await useTestBackend();
  work = mkdtempSync(join(tmpdir(), 'bp-pack-'));
  const packed = await ok(npm, ['pack', '--json', '--pack-destination', work], repo);
  const info = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[];
  tarball = join(work, info[0]!.filename);
  project = join(work, 'consumer');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }));
  // From the npm cache where it can; optional native tfjs packages are left out (they download binaries).
  await ok(npm, ['install', '--prefer-offline', '--no-audit', '--no-fund', '--omit=optional', tarball], project);
}, 600_000);

describe('npm package', { timeout: 300_000 }, () => {
  it('the tarball holds compiled JavaScript with declarations and no sources or tests', () => {
    const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n').filter(Boolean);
    expect(files).toContain('package/dist/index.js');
    expect(files).toContain('package/dist/index.d.ts');
    expect(files).toContain('package/dist/cli.js');
    expect(files).toContain('package/bin/bayesprune.js');
    expect(files).toContain('package/configs/quickstart.yaml');
    expect(files.filter((f) => f.startsWith('package/src/') || f.startsWith('package/test/') || (f.endsWith('.ts') && !f.endsWith('.d.ts')))).toEqual([]);
    const pkg = JSON.parse(readFileSync(join(project, 'node_modules', 'bayesprune', 'package.json'), 'utf8'));
    expect(Object.keys(pkg.dependencies)).not.toContain('tsx');
    expect(existsSync(join(project, 'node_modules', 'tsx'))).toBe(false);
    expect(existsSync(join(project, 'node_modules', 'danfojs-node'))).toBe(false);
  });

  it('the API type-checks from TypeScript, runs a tiny experiment, and matches the sources', async () => {
    const consumer = `import { validateConfig, runExperiment, type RunResult, type ExperimentConfig } from 'bayesprune';
const config: ExperimentConfig = validateConfig(${JSON.stringify(TINY)});
const r: RunResult = await runExperiment(config, { resultsDir: process.argv[2]!, progress: null });
const dense: number = r.variants[0]!.curves.dense.accuracy;
console.log(JSON.stringify({ runDir: r.runDir, dense }));
`;
    writeFileSync(join(project, 'main.ts'), consumer);
    // A wrong use must be a type error: the declarations are real types, not \`any\`.
    writeFileSync(join(project, 'wrong.ts'), `import { runExperiment } from 'bayesprune';\nconst n: number = runExperiment;\nexport { n };\n`);
    const tsconfig = (files: string[]) => ({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        // tfjs's own declarations need @types/long and emscripten types (skipLibCheck is tsc --init's default).
        skipLibCheck: true,
        outDir: 'out',
        typeRoots: [join(repo, 'node_modules', '@types')],
        types: ['node'],
      },
      files,
    });
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify(tsconfig(['main.ts'])));
    writeFileSync(
      join(project, 'tsconfig.wrong.json'),
      JSON.stringify({ ...tsconfig(['wrong.ts']), compilerOptions: { ...tsconfig([]).compilerOptions, noEmit: true } }),
    );
    await ok(process.execPath, [tsc, '-p', 'tsconfig.json'], project);
    const wrong = await run(process.execPath, [tsc, '-p', 'tsconfig.wrong.json'], project);
    expect(wrong.status).not.toBe(0);
    expect(wrong.stdout).toMatch(/wrong\.ts\(2,7\): error TS2322/);

    const results = join(work, 'results');
    const out = await ok(process.execPath, [join(project, 'out', 'main.js'), results], project);
    const { runDir, dense } = JSON.parse(out.stdout.trim().split('\n').at(-1)!) as { runDir: string; dense: number };
    expect(readdirSync(runDir)).toEqual(expect.arrayContaining(['metrics.json', 'report.md', 'curves.csv']));
    // The packaged build and the sources compute the same thing (same seed, cpu backend).
    const mine = await runExperiment(validateConfig(TINY as never), { resultsDir: mkdtempSync(join(tmpdir(), 'bp-pack-src-')), progress: null });
    expect(dense).toBe(mine.variants[0]!.curves.dense.accuracy);
    const rows = (dir: string) =>
      (JSON.parse(readFileSync(join(dir, 'metrics.json'), 'utf8')).variants.main.curves as Record<string, unknown>[]).map((r) => [
        r.criterion,
        r.targetSparsity,
        r.predictive,
        r.accuracy,
        r.nll,
        r.ece,
      ]);
    expect(rows(runDir).length).toBeGreaterThanOrEqual(4);
    expect(rows(runDir)).toEqual(rows(mine.runDir));
  });

  it('npx bayesprune --help runs the compiled CLI (no tsx installed)', async () => {
    const r = await ok('npx', ['--no-install', 'bayesprune', '--help'], project, 60_000);
    expect(r.stdout).toMatch(/^Usage: bayesprune/);
    for (const c of ['run', 'sweep', 'validate', 'info', 'export', 'predict']) expect(r.stdout).toMatch(new RegExp(`\\n  ${c} `));
    const sub = await ok('npx', ['--no-install', 'bayesprune', 'run', '--help'], project, 60_000);
    expect(sub.stdout).toMatch(/Usage: bayesprune run \[options\] <config>/);
    const bad = await run('npx', ['--no-install', 'bayesprune', 'nosuch'], project);
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  });
});
