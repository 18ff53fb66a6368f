import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addSlurmOptions, REPO_ROOT, runSlurmSweep, SBATCH_MISSING, shellQuote, slurmScripts, type SlurmOptions } from '../../src/experiment/slurm.js';
import { jobStates, slurmUnavailable, startSlurmCluster, waitForJobs, type SlurmCluster } from '../helpers/slurm-cluster.js';

// Made in beforeAll (not at load), so a run that skips every test here leaves nothing in /tmp.
let tmp = '';
/** A stand-in for the CLI: writes each argument it receives, NUL-terminated, to $ARGV_OUT. */
let stub = '';
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'slurm-unit-'));
  stub = join(tmp, 'argv-stub.sh');
  writeFileSync(stub, '#!/bin/bash\nprintf "%s\\0" "$@" > "$ARGV_OUT"\n', { mode: 0o755 });
  mkdirSync(join(tmp, 'sweep dir'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** Runs a generated script with bash (as Slurm would) and returns the argv the CLI received. */
function argvOf(script: string, env: Record<string, string> = {}): string[] {
  const file = join(tmp, `s-${Math.random().toString(36).slice(2)}.sh`);
  const out = `${file}.argv`;
  writeFileSync(file, script);
  const r = spawnSync('bash', [file], { env: { ...process.env, ...env, ARGV_OUT: out }, encoding: 'utf8' });
  expect(r.stderr.replace(/^bayesprune sweep: array task.*\n/m, '')).toBe('');
  expect(r.status).toBe(0);
  return readFileSync(out, 'utf8').split('\0').slice(0, -1);
}

const sbatchLines = (script: string): Map<string, string> =>
  new Map(
    script
      .split('\n')
      .filter((l) => l.startsWith('#SBATCH '))
      .map((l) => {
        const [k, ...v] = l.slice('#SBATCH '.length).split('=');
        return [k!, v.join('=')] as [string, string];
      }),
  );

const HOSTILE = [
  'description=two words',
  "description=it's",
  'description="double" and `backticks` $(touch /tmp/pwned) ${HOME} $HOME',
  'description=semi;colon|pipe&amp>redirect<in *glob? ~tilde',
  'description=new\nline\ttab',
  'description=',
  "description=''",
  'description=\\back\\slash\\',
];

describe('shellQuote', () => {
  it('bash reads every hostile string back unchanged', () => {
    for (const s of [...HOSTILE, '', "'", "''", '-n', 'plain', 'a b']) {
      const r = spawnSync('bash', ['-c', `printf "%s\\0" ${shellQuote(s)}`], { encoding: 'utf8' });
      expect(r.stdout).toBe(`${s}\0`);
    }
  });
});

describe('slurmScripts', () => {
  const spec = (options: SlurmOptions, points = 4, overrides: string[] = []) =>
    slurmScripts({
      points,
      experiment: 'exp',
      configFile: 'configs/x.yaml',
      overrides,
      sweepDir: join(tmp, 'sweep dir'),
      cli: [stub],
      cwd: tmp,
      options,
    });

  it('the array task passes hostile overrides, the absolute config, its shard and the sweep dir to the CLI verbatim', () => {
    const s = spec({}, 7, HOSTILE);
    for (const task of [0, 3, 6]) {
      const argv = argvOf(s.array, { SLURM_ARRAY_TASK_ID: String(task), SLURM_ARRAY_JOB_ID: '99' });
      expect(argv).toEqual(['sweep', join(process.cwd(), 'configs/x.yaml'), ...HOSTILE, '--shard', `${task}/7`, '--sweep-dir', join(tmp, 'sweep dir')]);
    }
    expect(argvOf(s.collect)).toEqual(['sweep', 'collect', join(tmp, 'sweep dir')]);
    // Run by hand instead of through sbatch: a clear refusal, the CLI never starts.
    const file = join(tmp, 'by-hand.sh');
    writeFileSync(file, s.array);
    const env: NodeJS.ProcessEnv = { ...process.env, ARGV_OUT: join(tmp, 'by-hand.argv') };
    delete env.SLURM_ARRAY_TASK_ID;
    const r = spawnSync('bash', [file], { env, encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/SLURM_ARRAY_TASK_ID: is not set: submit this script with sbatch/);
    expect(existsSync(join(tmp, 'by-hand.argv'))).toBe(false);
    // A sweep directory the compute node cannot see (no shared filesystem): a clear refusal.
    const lost = slurmScripts({
      points: 2,
      experiment: 'e',
      configFile: 'c.yaml',
      overrides: [],
      sweepDir: join(tmp, 'not-shared'),
      cli: [stub],
      cwd: tmp,
      options: {},
    });
    writeFileSync(file, lost.array);
    const r2 = spawnSync('bash', [file], { env: { ...env, SLURM_ARRAY_TASK_ID: '0' }, encoding: 'utf8' });
    expect(r2.status).toBe(1);
    expect(r2.stderr).toContain(`bayesprune: ${join(tmp, 'not-shared')} is not visible on `);
    expect(r2.stderr).toContain('--slurm needs a filesystem shared by the login and compute nodes');
    expect(existsSync(join(tmp, 'by-hand.argv'))).toBe(false);
  });

  it('array range, throttle and resources', () => {
    const a = sbatchLines(spec({ arrayLimit: 3, partition: 'gpu-a', time: '1-02:00:00', mem: '4G', cpusPerTask: 2 }, 10).array);
    expect(a.get('--array')).toBe('0-9%3');
    expect(a.get('--partition')).toBe('gpu-a');
    expect(a.get('--time')).toBe('1-02:00:00');
    expect(a.get('--mem')).toBe('4G');
    expect(a.get('--cpus-per-task')).toBe('2');
    expect(a.get('--output')).toBe(`"${join(tmp, 'sweep dir', 'slurm', 'logs', '%A_%a.out')}"`);
    expect(a.get('--error')).toBe(`"${join(tmp, 'sweep dir', 'slurm', 'logs', '%A_%a.err')}"`);
    const plain = sbatchLines(spec({}, 1).array);
    expect(plain.get('--array')).toBe('0-0');
    expect([plain.has('--partition'), plain.has('--time'), plain.has('--mem')]).toEqual([false, false, false]);
    expect(plain.get('--cpus-per-task')).toBe('1');
  });

  it('--points-per-task K: ceil(n / K) tasks, and shards i mod T cover every point once with at most K each', () => {
    for (const [n, k] of [
      [10, 3],
      [10, 1],
      [7, 7],
      [5, 9],
      [12, 5],
    ] as const) {
      const s = spec({ pointsPerTask: k }, n);
      const t = Math.ceil(n / k);
      expect(s.tasks).toBe(t);
      expect(sbatchLines(s.array).get('--array')).toBe(`0-${t - 1}`);
      // Brute force over the --shard i/T contract: point p runs in task p mod T.
      const perTask = Array.from({ length: t }, (_, i) => Array.from({ length: n }, (_, p) => p).filter((p) => p % t === i));
      expect(perTask.flat().sort((x, y) => x - y)).toEqual(Array.from({ length: n }, (_, p) => p));
      expect(Math.max(...perTask.map((x) => x.length))).toBeLessThanOrEqual(k);
      expect(Math.min(...perTask.map((x) => x.length))).toBeGreaterThanOrEqual(1);
      expect(argvOf(s.array, { SLURM_ARRAY_TASK_ID: String(t - 1) })).toContain(`${t - 1}/${t}`);
    }
  });

  it('% in the sweep dir is doubled on #SBATCH lines (Slurm filename patterns); a double quote is refused', () => {
    const s = slurmScripts({ points: 2, experiment: 'e', configFile: 'c.yaml', overrides: [], sweepDir: '/r/50%', cli: [stub], options: {} });
    expect(sbatchLines(s.array).get('--output')).toBe('/r/50%%/slurm/logs/%A_%a.out');
    expect(() => slurmScripts({ points: 2, experiment: 'e', configFile: 'c.yaml', overrides: [], sweepDir: '/r/"x', options: {} })).toThrow(
      /double quote.*--sweep-dir/,
    );
  });
});

describe('addSlurmOptions', () => {
  const parse = (args: string[]) => {
    const cmd = addSlurmOptions(
      new Command('sweep')
        .argument('<config>')
        .exitOverride()
        .configureOutput({ writeErr: () => {} }),
    );
    cmd.parse(['x.yaml', ...args], { from: 'user' });
    return cmd.opts<SlurmOptions>();
  };
  it('parses the flags, with --cpus-per-task 1 by default', () => {
    expect(parse(['--slurm', '--partition', 'cpu', '--time', '30', '--mem', '2G', '--array-limit', '4', '--points-per-task', '2', '--dry-run'])).toEqual({
      slurm: true,
      partition: 'cpu',
      time: '30',
      mem: '2G',
      arrayLimit: 4,
      pointsPerTask: 2,
      dryRun: true,
      cpusPerTask: 1,
    });
  });
  it('refuses values that would break an #SBATCH line, naming the flag', () => {
    for (const [flag, v] of [
      ['--time', '2 hours'],
      ['--time', '1:00\n#SBATCH --x'],
      ['--mem', '4 GB'],
      ['--partition', 'a b'],
      ['--cpus-per-task', '0'],
      ['--array-limit', '-1'],
      ['--points-per-task', '1.5'],
    ]) {
      expect(() => parse(['--slurm', `${flag}=${v}`])).toThrow(new RegExp(flag!));
    }
  });
});

describe('runSlurmSweep with a stand-in sbatch', () => {
  /** Records each call's arguments and answers with job ids 41, 42, ... ("<id>;cluster" as --parsable does with federations). */
  function fakeSbatch(): { exe: string; calls: () => string[][] } {
    const d = mkdtempSync(join(tmp, 'fake-'));
    const exe = join(d, 'sbatch');
    writeFileSync(exe, `#!/bin/bash\nn=$(ls "${d}"/call-* 2>/dev/null | wc -l)\nprintf "%s\\0" "$@" > "${d}/call-$n"\necho "$((41 + n));cl"\n`, {
      mode: 0o755,
    });
    return {
      exe,
      calls: () => {
        const out: string[][] = [];
        for (let i = 0; ; i++) {
          try {
            out.push(
              readFileSync(join(d, `call-${i}`), 'utf8')
                .split('\0')
                .slice(0, -1),
            );
          } catch {
            return out;
          }
        }
      },
    };
  }

  it('submits the array, then collect with --dependency=afterany:<array id>, and prints how to follow them', () => {
    const f = fakeSbatch();
    let printed = '';
    const sweepDir = join(tmp, 'run1');
    const r = runSlurmSweep({
      points: 3,
      experiment: 'e',
      configFile: 'c.yaml',
      overrides: [],
      sweepDir,
      options: { arrayLimit: 2 },
      sbatch: f.exe,
      out: { write: (s: string) => (printed += s) },
    });
    expect([r.arrayJobId, r.collectJobId]).toEqual(['41', '42']);
    const calls = f.calls();
    expect(calls).toEqual([
      ['--parsable', join(sweepDir, 'slurm', 'array.sbatch')],
      ['--parsable', '--dependency=afterany:41', '--kill-on-invalid-dep=yes', join(sweepDir, 'slurm', 'collect.sbatch')],
    ]);
    expect(readFileSync(join(sweepDir, 'slurm', 'array.sbatch'), 'utf8')).toBe(r.scripts.array);
    expect(JSON.parse(readFileSync(join(sweepDir, 'slurm', 'jobs.json'), 'utf8'))).toMatchObject({ arrayJobId: '41', collectJobId: '42', tasks: 3 });
    expect(printed).toContain('squeue -j 41,42');
    expect(printed).toContain('sacct -j 41,42');
    expect(printed).toContain(join(sweepDir, 'slurm', 'logs'));
    expect(printed).toContain(join(sweepDir, 'summary.md'));
  });

  it('--dry-run prints both scripts and the commands and submits nothing', () => {
    const f = fakeSbatch();
    let printed = '';
    const r = runSlurmSweep({
      points: 5,
      experiment: 'e',
      configFile: 'c.yaml',
      overrides: ['seed=3'],
      sweepDir: join(tmp, 'dry'),
      options: { dryRun: true },
      sbatch: f.exe,
      out: { write: (s: string) => (printed += s) },
    });
    expect(f.calls()).toEqual([]);
    expect(r.arrayJobId).toBeUndefined();
    expect(printed).toContain(r.scripts.array);
    expect(printed).toContain(r.scripts.collect);
    expect(printed).toMatch(/sbatch --parsable --dependency=afterany:\$\{ARRAY%%;\*\} .*collect\.sbatch/);
  });

  it('a missing sbatch is one clear line', () => {
    mkdirSync(join(tmp, 'nosbatch'));
    expect(() =>
      runSlurmSweep({
        points: 1,
        experiment: 'e',
        configFile: 'c.yaml',
        overrides: [],
        sweepDir: join(tmp, 'nosbatch', 's'),
        options: {},
        sbatch: join(tmp, 'nosbatch', 'sbatch'),
      }),
    ).toThrow(SBATCH_MISSING);
    expect(SBATCH_MISSING).toBe('sbatch not found: --slurm needs a Slurm login node; use --dry-run to see the scripts');
  });

  it('an sbatch refusal names the command and sbatch’s own message', () => {
    const exe = join(tmp, 'refusing-sbatch');
    writeFileSync(exe, '#!/bin/bash\necho "sbatch: error: invalid partition specified: nope" >&2\nexit 1\n', { mode: 0o755 });
    expect(() =>
      runSlurmSweep({ points: 1, experiment: 'e', configFile: 'c.yaml', overrides: [], sweepDir: join(tmp, 'refused'), options: {}, sbatch: exe }),
    ).toThrow(/sbatch --parsable .*array\.sbatch failed: sbatch: error: invalid partition specified: nope/);
  });
});

// ---------------------------------------------------------------------------------------------
// Against a real single-node Slurm (munged + slurmctld + slurmd started by the test itself).

const unavailable = slurmUnavailable();
const inCi = process.env.CI === 'true';
if (unavailable && !inCi) console.warn(`skipping the real-Slurm sweep test: ${unavailable}`);

/** A CSV file as rows of parsed cells (numbers as numbers), in file order, without wall-clock columns (costSeconds), which differ between any two runs. */
function parseCsv(file: string): Record<string, string | number>[] {
  const [head, ...lines] = readFileSync(file, 'utf8').trim().split('\n');
  const cols = head!.split(',');
  const timing = (c: string) => /seconds|elapsed|wall/i.test(c);
  expect(cols.some((c) => /^accuracy/.test(c))).toBe(true);
  return lines.map((l) => {
    const cells = l.split(',');
    expect(cells.length).toBe(cols.length); // no quoted commas in these files
    return Object.fromEntries(
      cols.flatMap((c, i) => (timing(c) ? [] : [[c, cells[i] !== '' && Number.isFinite(Number(cells[i])) ? Number(cells[i]) : cells[i]!]])),
    );
  });
}

describe.skipIf(!!unavailable && !inCi)('sweep --slurm on a local single-node Slurm', { timeout: 420_000 }, () => {
  const failIfUnavailable = () => {
    if (unavailable) throw new Error(`CI=true but no local Slurm can start: ${unavailable}`);
  };
  let cluster: SlurmCluster | undefined;
  // Made in beforeAll, so a skipped or filtered-out suite leaves nothing behind.
  let dir = '';
  // A path with a space and an override with quotes, `$` and spaces: both must reach every task intact.
  let slurmDir = '';
  let localDir = '';
  let config = '';
  const overrides = [`description=it's a "tiny" $HOME sweep`, 'train.batchSize=40'];

  const cli = join(REPO_ROOT, 'bin', 'bayesprune.js');
  const states = (...ids: string[]) => ids.flatMap((id) => jobStates(cluster!, id));
  /** Submits with `sweep --slurm` from `dir` and returns the two job ids it printed. */
  const submit = (args: string[], env: NodeJS.ProcessEnv = cluster!.env): [string, string] => {
    const sub = spawnSync(process.execPath, [cli, 'sweep', config, ...overrides, '--slurm', ...args], { cwd: dir, env, encoding: 'utf8', timeout: 120_000 });
    expect(sub.status, sub.stderr).toBe(0);
    const m = /submitted array job (\d+) .* and collect job (\d+)/.exec(sub.stdout);
    expect(m, sub.stdout).not.toBeNull();
    expect(sub.stdout).toContain(`squeue -j ${m![1]},${m![2]}`);
    return [m![1]!, m![2]!];
  };
  const logText = (sweepDir: string) => {
    const logs = join(sweepDir, 'slurm', 'logs');
    return readdirSync(logs)
      .map((f) => `--- ${f}\n${readFileSync(join(logs, f), 'utf8').slice(-1500)}`)
      .join('\n');
  };

  beforeAll(async () => {
    if (unavailable) return;
    dir = mkdtempSync(join(tmpdir(), 'slurm-e2e-'));
    [slurmDir, localDir, config] = [join(dir, 'slurm sweep'), join(dir, 'local'), join(dir, 'tiny.yaml')];
    writeFileSync(
      config,
      [
        'experiment: tiny-slurm',
        'backend: cpu',
        'data: { name: blobs }',
        'model: { arch: mlp, hidden: [8] }',
        'inference: { warmup: { startEpoch: 0, endEpoch: 1 } }',
        'train: { epochs: 1, batchSize: 50, optimizer: { lr: 0.01 } }',
        'eval: { samples: 2 }',
        'pruning: { criteria: [snr, random], sparsities: [0, 0.5] }',
        'sweep:',
        '  grid: { inference.temperature: [1, 0.1] }',
        '  seeds: [1, 2]',
        '',
      ].join('\n'),
    );
    cluster = await startSlurmCluster();
  }, 120_000);
  afterAll(() => {
    cluster?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the array and the collect job finish, and the collected summary equals a local --jobs 2 sweep', async () => {
    failIfUnavailable();
    // Submitted from another directory than the repository: the tasks must not depend on the submitter's cwd.
    const [arrayId, collectId] = submit(['--sweep-dir', slurmDir, '--array-limit', '2', '--time', '10', '--cpus-per-task', '1']);
    const script = readFileSync(join(slurmDir, 'slurm', 'array.sbatch'), 'utf8');
    expect(sbatchLines(script).get('--array')).toBe('0-3%2');

    // Meanwhile, the same sweep locally with two worker processes.
    const local = spawnSync(process.execPath, [cli, 'sweep', config, ...overrides, '--jobs', '2', '--sweep-dir', localDir], {
      cwd: dir,
      env: process.env,
      encoding: 'utf8',
      timeout: 240_000,
    });
    // Progress lines are kept (not --quiet) so a failure shows what the local sweep did.
    expect(local.status, `local sweep exited ${local.status}:\n${local.stderr.replace(/^.*train epoch.*\n/gm, '').slice(-3000)}`).toBe(0);

    await waitForJobs(cluster!, [arrayId, collectId], 300_000);
    const st = states(arrayId, collectId);
    const logs = join(slurmDir, 'slurm', 'logs');
    expect(st.length, logText(slurmDir)).toBe(5); // 4 array tasks + collect
    expect(
      st.every((s) => s.state === 'COMPLETED' && s.exit === '0:0'),
      `${JSON.stringify(st)}\n${logText(slurmDir)}`,
    ).toBe(true);
    expect(readdirSync(logs).sort()).toEqual(
      [0, 1, 2, 3]
        .flatMap((t) => [`${arrayId}_${t}.err`, `${arrayId}_${t}.out`])
        .concat([`collect_${collectId}.err`, `collect_${collectId}.out`])
        .sort(),
    );
    // Each task ran exactly one point: its shard, i of 4.
    for (const t of [0, 1, 2, 3]) expect(readFileSync(join(logs, `${arrayId}_${t}.err`), 'utf8')).toContain(`shard ${t}/4: 1 of 1 points complete`);

    const a = parseCsv(join(slurmDir, 'summary.csv'));
    const b = parseCsv(join(localDir, 'summary.csv'));
    // 2 temperatures × (2 criteria × 2 sparsities + the log α ≥ 3 threshold point) × 2 predictives (mc, mean), each over both seeds.
    expect(a.length).toBe(2 * (2 * 2 + 1) * 2);
    expect(a.every((r) => r.n === 2)).toBe(true);
    expect(a).toEqual(b);
    expect(parseCsv(join(slurmDir, 'runs.csv'))).toEqual(parseCsv(join(localDir, 'runs.csv')));
    // The hostile override reached the runs verbatim.
    const rec = JSON.parse(readFileSync(join(slurmDir, 'sweep.json'), 'utf8')) as { config: { description: string } };
    expect(rec.config.description).toBe(`it's a "tiny" $HOME sweep`);
  });

  it('a failing point fails only its task; collect still runs and names it; --slurm --resume finishes the sweep', async () => {
    failIfUnavailable();
    const failDir = join(dir, 'with-failure');
    const { loadConfig } = await import('../../src/experiment/config.js');
    const { sweepPoints } = await import('../../src/experiment/sweep.js');
    const labels = sweepPoints(loadConfig(config, overrides)).map((p) => p.label);
    // The fault is in the submitting environment, which Slurm hands to every task (--export=ALL).
    const [arrayId, collectId] = submit(['--sweep-dir', failDir], { ...cluster!.env, BAYESPRUNE_SWEEP_FAULT: `throw@${labels[1]}` });
    await waitForJobs(cluster!, [arrayId, collectId], 300_000);
    const text = logText(failDir);
    // Task 1 ran the failing point and exited 1; the others and then the collect job ran anyway.
    const task = (t: number) => readFileSync(join(failDir, 'slurm', 'logs', `${arrayId}_${t}.err`), 'utf8');
    expect(task(1), text).toMatch(/injected fault/);
    for (const t of [0, 2, 3]) expect(task(t), text).toContain(`shard ${t}/4: 1 of 1 points complete`);
    const collectLog = readFileSync(join(failDir, 'slurm', 'logs', `collect_${collectId}.err`), 'utf8');
    expect(collectLog).toMatch(new RegExp(`missing points \\(1\\):\\s+${labels[1]}: FAILED`));
    // Task 1 and the collect job (a point is missing) exit 1; the other tasks 0.
    const st = states(arrayId, collectId).map((s) => `${s.task ?? 'collect'} ${s.state} ${s.exit}`);
    expect(st.sort(), text).toEqual(['0 COMPLETED 0:0', '1 FAILED 1:0', '2 COMPLETED 0:0', '3 COMPLETED 0:0', 'collect FAILED 1:0']);
    expect(readFileSync(join(failDir, 'summary.md'), 'utf8')).toContain('INCOMPLETE: 1 of 4 points missing');

    // Resubmit without the fault: only the failed point runs again.
    const [array2, collect2] = submit(['--resume', failDir]);
    await waitForJobs(cluster!, [array2, collect2], 300_000);
    const st2 = states(array2, collect2);
    expect(
      st2.every((s) => s.state === 'COMPLETED' && s.exit === '0:0'),
      `${JSON.stringify(st2)}\n${logText(failDir)}`,
    ).toBe(true);
    const task2 = (t: number) => readFileSync(join(failDir, 'slurm', 'logs', `${array2}_${t}.err`), 'utf8');
    for (const t of [0, 2, 3]) expect(task2(t)).toMatch(/0 to run, 1 already complete/);
    expect(task2(1)).toMatch(/1 to run, 0 already complete/);
    expect(parseCsv(join(failDir, 'summary.csv'))).toEqual(parseCsv(join(localDir, 'summary.csv')));
  });
});
