/**
 * Slurm scale-out of `bayesprune sweep`: `--slurm` writes an sbatch array script whose task
 * `i` runs `bayesprune sweep <config> [overrides] --shard i/T --sweep-dir <dir>` (T tasks, one
 * per point by default or `--points-per-task K` points each), and a collect script that runs
 * `bayesprune sweep collect <dir>`; it submits the array with `sbatch --parsable`, then the
 * collect job with `--dependency=afterany:<array job id>`, and prints how to follow both.
 *
 * Every task writes into the same sweep directory, so the layout assumes a filesystem shared by
 * the login node and the compute nodes (as Slurm clusters have; see docs/slurm.md).
 *
 * Layout: `<sweepDir>/slurm/array.sbatch`, `<sweepDir>/slurm/collect.sbatch`,
 * `<sweepDir>/slurm/logs/<array job>_<task>.out|.err`, `<sweepDir>/slurm/logs/collect_<job>.out|.err`,
 * `<sweepDir>/slurm/jobs.json` (the submitted job ids).
 * @module
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError, type Command } from 'commander';

/** The `--slurm` family of options as commander hands them over. */
export interface SlurmOptions {
  slurm?: boolean;
  partition?: string;
  time?: string;
  cpusPerTask?: number;
  mem?: string;
  arrayLimit?: number;
  dryRun?: boolean;
  pointsPerTask?: number;
}

function positiveInt(flag: string): (v: string) => number {
  return (v: string) => {
    if (!/^[1-9]\d*$/.test(v.trim())) throw new InvalidArgumentError(`${flag} needs a positive integer, got "${v}"`);
    return Number(v);
  };
}

function matching(flag: string, re: RegExp, allowed: string): (v: string) => string {
  return (v: string) => {
    if (!re.test(v)) throw new InvalidArgumentError(`${flag} "${v}" is not ${allowed}`);
    return v;
  };
}

const PARTITION = /^[A-Za-z0-9_.,-]+$/;
// minutes | MM:SS | HH:MM:SS | D-HH | D-HH:MM | D-HH:MM:SS | UNLIMITED / INFINITE (sbatch --time).
const TIME = /^(\d+|\d+:\d+|\d+:\d+:\d+|\d+-\d+|\d+-\d+:\d+|\d+-\d+:\d+:\d+|UNLIMITED|INFINITE|unlimited|infinite)$/;
const MEM = /^\d+[KMGT]?$/i;

/** Adds `--slurm`, `--partition`, `--time`, `--cpus-per-task`, `--mem`, `--array-limit`, `--dry-run`, `--points-per-task` to `cmd`. */
export function addSlurmOptions(cmd: Command): Command {
  return cmd
    .option('--slurm', 'submit the sweep as a Slurm array job plus a dependent collect job (needs sbatch; shared filesystem)')
    .option('--partition <P>', 'Slurm partition (sbatch --partition)', matching('--partition', PARTITION, 'a partition name (letters, digits, "_.,-")'))
    .option(
      '--time <T>',
      'time limit per array task, e.g. 30, 2:00:00, 1-12:00:00',
      matching('--time', TIME, 'a Slurm time: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS'),
    )
    .option('--cpus-per-task <C>', 'CPUs per array task', positiveInt('--cpus-per-task'), 1)
    .option('--mem <M>', 'memory per array task, e.g. 4G (sbatch --mem)', matching('--mem', MEM, 'a Slurm memory size such as 4000, 4000M or 4G'))
    .option('--array-limit <K>', 'run at most K array tasks at a time (the %K throttle)', positiveInt('--array-limit'))
    .option('--points-per-task <K>', 'sweep points per array task (default 1: one task per point)', positiveInt('--points-per-task'))
    .option('--dry-run', 'with --slurm: write and print the sbatch scripts and commands, submit nothing');
}

/** Single-quotes `s` for bash: the result is one word whose value is exactly `s` (spaces, quotes, `$`, backquotes, newlines included). */
export function shellQuote(s: string): string {
  if (s !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A path on an `#SBATCH --output/--error` line: `%` doubled (Slurm filename patterns), double-quoted when it holds a space. */
function sbatchPath(p: string): string {
  if (/["\n\r\\]/.test(p))
    throw new Error(`sweep directory "${p}" holds a double quote, backslash or newline, which #SBATCH lines cannot carry; choose another --sweep-dir`);
  return p.includes(' ') ? `"${p}"` : p;
}

/** The repository root (holds bin/bayesprune.js), from this file's location. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Everything the two scripts depend on. Paths are made absolute here: Slurm tasks start wherever the cluster puts them. */
export interface SlurmScriptSpec {
  /** Number of sweep points. */
  points: number;
  experiment: string;
  /** The config file as given; written absolute into the script. */
  configFile: string;
  /** `key=value` overrides, passed through verbatim. */
  overrides: string[];
  sweepDir: string;
  /** Extra CLI options for every array task (not the collect job), e.g. `['--backend', 'wasm']`. */
  extraArgs?: string[];
  /** argv prefix that starts the CLI (default: this node binary and `<repo>/bin/bayesprune.js`). */
  cli?: string[];
  /** Directory the tasks `cd` into, so relative paths in the config (data.dir) mean what they meant here (default: process.cwd()). */
  cwd?: string;
  options: SlurmOptions;
}

export interface SlurmScripts {
  /** Number of array tasks. */
  tasks: number;
  /** Points per task (upper bound; the last tasks may hold one fewer). */
  pointsPerTask: number;
  arrayPath: string;
  collectPath: string;
  logDir: string;
  array: string;
  collect: string;
}

/** The default CLI argv prefix: absolute, so the scripts do not depend on the task's cwd or PATH. */
export function defaultCli(): string[] {
  return [process.execPath, join(REPO_ROOT, 'bin', 'bayesprune.js')];
}

/** Builds the array and collect scripts (pure; writes nothing). */
export function slurmScripts(spec: SlurmScriptSpec): SlurmScripts {
  const n = spec.points;
  if (!Number.isInteger(n) || n < 1) throw new Error(`a Slurm sweep needs at least one point, got ${n}`);
  const o = spec.options;
  const k = Math.min(o.pointsPerTask ?? 1, n);
  const tasks = Math.ceil(n / k);
  const sweepDir = resolve(spec.sweepDir);
  const slurmDir = join(sweepDir, 'slurm');
  const logDir = join(slurmDir, 'logs');
  const cli = spec.cli ?? defaultCli();
  const cwd = resolve(spec.cwd ?? process.cwd());
  const config = resolve(spec.configFile);
  const extra = spec.extraArgs ?? [];
  const name = `bayesprune-${spec.experiment}`.replace(/[^A-Za-z0-9._-]/g, '_');
  const common = (): string[] => (o.partition ? [`#SBATCH --partition=${o.partition}`] : []);
  const escPct = (p: string): string => p.replace(/%/g, '%%');
  const logPath = (file: string): string => sbatchPath(escPct(logDir) + '/' + file);
  const resources = [
    ...common(),
    ...(o.time ? [`#SBATCH --time=${o.time}`] : []),
    `#SBATCH --cpus-per-task=${o.cpusPerTask ?? 1}`,
    ...(o.mem ? [`#SBATCH --mem=${o.mem}`] : []),
  ];
  // The tasks need the submit directory, the CLI and the sweep directory at the same paths as the login node.
  const sharedCheck = [
    `for d in ${[cwd, sweepDir].map(shellQuote).join(' ')}; do`,
    '  [ -d "$d" ] || { echo "bayesprune: $d is not visible on $(hostname): --slurm needs a filesystem shared by the login and compute nodes (docs/slurm.md)" >&2; exit 1; }',
    'done',
    `cd ${shellQuote(cwd)}`,
  ];
  const run = (args: string[]): string => [...cli, ...args].map(shellQuote).join(' ');
  const array = [
    '#!/bin/bash',
    `#SBATCH --job-name=${name}`,
    `#SBATCH --array=0-${tasks - 1}${o.arrayLimit ? `%${o.arrayLimit}` : ''}`,
    `#SBATCH --output=${logPath('%A_%a.out')}`,
    `#SBATCH --error=${logPath('%A_%a.err')}`,
    ...resources,
    `# Written by \`bayesprune sweep --slurm\`: ${n} sweep point${n === 1 ? '' : 's'} in ${tasks} array task${tasks === 1 ? '' : 's'}; task i runs`,
    `# the points whose index is i modulo ${tasks} (--shard i/${tasks}) into the shared sweep directory.`,
    'set -euo pipefail',
    ...sharedCheck,
    ': "${SLURM_ARRAY_TASK_ID:?is not set: submit this script with sbatch, it is a Slurm array job}"',
    `echo "bayesprune sweep: array task \${SLURM_ARRAY_TASK_ID} of ${tasks} (job \${SLURM_ARRAY_JOB_ID:-?}) on $(hostname)" >&2`,
    `exec ${run(['sweep', config, ...spec.overrides])} --shard "\${SLURM_ARRAY_TASK_ID}/${tasks}" ${[...['--sweep-dir', sweepDir], ...extra].map(shellQuote).join(' ')}`,
    '',
  ].join('\n');
  const collect = [
    '#!/bin/bash',
    `#SBATCH --job-name=${name}-collect`,
    `#SBATCH --output=${logPath('collect_%j.out')}`,
    `#SBATCH --error=${logPath('collect_%j.err')}`,
    ...common(),
    ...(o.time ? [`#SBATCH --time=${o.time}`] : []),
    '#SBATCH --cpus-per-task=1',
    ...(o.mem ? [`#SBATCH --mem=${o.mem}`] : []),
    `# Written by \`bayesprune sweep --slurm\`: aggregates the sweep once every array task has ended (afterany).`,
    'set -euo pipefail',
    ...sharedCheck,
    `exec ${run(['sweep', 'collect', sweepDir])}`,
    '',
  ].join('\n');
  return { tasks, pointsPerTask: k, arrayPath: join(slurmDir, 'array.sbatch'), collectPath: join(slurmDir, 'collect.sbatch'), logDir, array, collect };
}

/** What `runSlurmSweep` needs beyond the scripts: where to print, which sbatch, which environment. */
export interface SlurmSweepArgs extends Omit<SlurmScriptSpec, 'sweepDir'> {
  /** Sweep directory; default `<resultsDir>/<experiment>/sweep-<UTC time>` as for a local sweep. */
  sweepDir?: string;
  /** Results root for the default sweep directory (default `results`). */
  resultsDir?: string;
  /** Where the job ids and follow-up commands go (default stdout). */
  out?: { write(s: string): unknown };
  /** The sbatch executable (default `sbatch` on PATH). */
  sbatch?: string;
  env?: NodeJS.ProcessEnv;
}

export interface SlurmSweepResult {
  sweepDir: string;
  scripts: SlurmScripts;
  /** Absent with --dry-run. */
  arrayJobId?: string;
  collectJobId?: string;
}

/** `sweep-20261130-070000Z`, the name a local sweep directory gets. */
export function sweepDirName(d = new Date()): string {
  return `sweep-${d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')
    .replace('T', '-')}`;
}

export const SBATCH_MISSING = 'sbatch not found: --slurm needs a Slurm login node; use --dry-run to see the scripts';

function sbatch(exe: string, args: string[], env: NodeJS.ProcessEnv | undefined): string {
  let out: string;
  try {
    out = execFileSync(exe, args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT') throw new Error(SBATCH_MISSING);
    const why = (err.stderr ?? '').trim().split('\n').filter(Boolean).pop() ?? err.message;
    throw new Error(`sbatch ${args.join(' ')} failed: ${why}`);
  }
  // --parsable prints "<job id>" or "<job id>;<cluster>".
  const m = /^(\d+)/.exec(out.trim());
  if (!m) throw new Error(`sbatch ${args.join(' ')} printed "${out.trim()}", not a job id`);
  return m[1]!;
}

/**
 * Writes `<sweepDir>/slurm/array.sbatch` and `collect.sbatch`, then (unless `--dry-run`) submits the
 * array and the collect job that depends on it (`afterany`: it aggregates whatever finished) and prints
 * the job ids and how to follow them.
 */
export function runSlurmSweep(a: SlurmSweepArgs): SlurmSweepResult {
  const out = a.out ?? process.stdout;
  const sweepDir = resolve(a.sweepDir ?? join(a.resultsDir ?? 'results', a.experiment, sweepDirName()));
  const s = slurmScripts({ ...a, sweepDir });
  mkdirSync(s.logDir, { recursive: true });
  writeFileSync(s.arrayPath, s.array, { mode: 0o755 });
  writeFileSync(s.collectPath, s.collect, { mode: 0o755 });
  const exe = a.sbatch ?? 'sbatch';
  const arrayCmd = ['--parsable', s.arrayPath];
  const collectCmd = (id: string) => ['--parsable', `--dependency=afterany:${id}`, '--kill-on-invalid-dep=yes', s.collectPath];
  const plan = `${a.points} point${a.points === 1 ? '' : 's'} in ${s.tasks} array task${s.tasks === 1 ? '' : 's'}${s.pointsPerTask > 1 ? ` (≤ ${s.pointsPerTask} points each)` : ''}${a.options.arrayLimit ? `, at most ${a.options.arrayLimit} at a time` : ''}`;
  if (a.options.dryRun) {
    out.write(`# ${s.arrayPath}\n${s.array}\n# ${s.collectPath}\n${s.collect}\n`);
    out.write(
      `# dry run: nothing submitted (${plan}); the sweep directory and both scripts are written. To submit by hand:\n` +
        `ARRAY=$(${[exe, ...arrayCmd].map(shellQuote).join(' ')})\n` +
        `${[exe, ...collectCmd('__ID__')].map(shellQuote).join(' ').replace('__ID__', '${ARRAY%%;*}')}\n`,
    );
    return { sweepDir, scripts: s };
  }
  const arrayJobId = sbatch(exe, arrayCmd, a.env);
  let collectJobId: string;
  try {
    collectJobId = sbatch(exe, collectCmd(arrayJobId), a.env);
  } catch (e) {
    throw new Error(
      `array job ${arrayJobId} was submitted but the collect job was not (${(e as Error).message}); once the array has ended run: bayesprune sweep collect ${sweepDir}`,
    );
  }
  writeFileSync(
    join(sweepDir, 'slurm', 'jobs.json'),
    JSON.stringify({ arrayJobId, collectJobId, tasks: s.tasks, points: a.points, submitted: new Date().toISOString() }, null, 2) + '\n',
  );
  out.write(
    [
      `submitted array job ${arrayJobId} (${plan}) and collect job ${collectJobId} (starts when every task has ended)`,
      `  sweep dir: ${sweepDir}`,
      `  follow:    squeue -j ${arrayJobId},${collectJobId}`,
      `  history:   sacct -j ${arrayJobId},${collectJobId}   (where accounting is enabled; else scontrol show job ${arrayJobId})`,
      `  logs:      ${s.logDir}/${arrayJobId}_<task>.out|.err and collect_${collectJobId}.out|.err`,
      `  summary:   ${join(sweepDir, 'summary.md')} (and summary.csv), written by job ${collectJobId}`,
      `  cancel:    scancel ${arrayJobId} ${collectJobId}`,
      '',
    ].join('\n'),
  );
  return { sweepDir, scripts: s, arrayJobId, collectJobId };
}

/** Whether `exe` (a path, or a name looked up on PATH) is an executable file. */
function onPath(exe: string, env: NodeJS.ProcessEnv): boolean {
  const dirs = exe.includes('/') ? [''] : (env.PATH ?? '').split(':').filter(Boolean);
  return dirs.some((d) => {
    try {
      accessSync(d ? join(d, exe) : exe, constants.X_OK);
      return statSync(d ? join(d, exe) : exe).isFile();
    } catch {
      return false;
    }
  });
}

/** The sweep command's options as the `--slurm` path sees them (the sweep's own plus {@link addSlurmOptions}'). */
export interface SlurmCliOptions extends SlurmOptions {
  jobs?: number;
  retry?: number;
  resume?: string;
  shard?: string;
  sweepDir?: string;
  results?: string;
  backend?: string;
  quiet?: boolean;
}

const SLURM_ONLY: [keyof SlurmOptions, string][] = [
  ['partition', '--partition'],
  ['time', '--time'],
  ['mem', '--mem'],
  ['arrayLimit', '--array-limit'],
  ['pointsPerTask', '--points-per-task'],
  ['dryRun', '--dry-run'],
];

/** True when the sweep command should take the Slurm path: `--slurm`, or a Slurm-only flag (refused without `--slurm`). */
export function usesSlurm(options: object): boolean {
  const opts = options as SlurmOptions;
  return !!opts.slurm || SLURM_ONLY.some(([k]) => opts[k] !== undefined);
}

/**
 * `bayesprune sweep <config> [overrides] --slurm ...`: validate the points and create (or join) the
 * sweep directory here, on the login node, then write and submit the array and collect jobs.
 * Every array task runs `--jobs` (default `--cpus-per-task`) points at a time.
 */
export async function slurmSweepAction(
  file: string,
  overrides: string[],
  options: object,
  io: Pick<SlurmSweepArgs, 'cli' | 'out' | 'env' | 'sbatch'> = {},
): Promise<number> {
  const opts = options as SlurmCliOptions;
  if (!opts.slurm) {
    const given = SLURM_ONLY.filter(([k]) => opts[k] !== undefined).map(([, f]) => f);
    throw new Error(`${given.join(', ')} only appl${given.length > 1 ? 'y' : 'ies'} with --slurm`);
  }
  if (opts.shard !== undefined) throw new Error('--shard and --slurm: --slurm gives every array task its own --shard i/n; drop --shard');
  // Before anything is written: without sbatch only --dry-run makes sense.
  if (!opts.dryRun && !onPath(io.sbatch ?? 'sbatch', io.env ?? process.env)) throw new Error(SBATCH_MISSING);
  const { parseBackendChoice } = await import('../backend.js');
  const { loadConfig } = await import('./config.js');
  const { prepareSweepDir } = await import('./sweep.js');
  const backend = opts.backend !== undefined ? parseBackendChoice(opts.backend, '--backend') : undefined;
  const cfg = loadConfig(file, overrides);
  const config = resolve(file);
  const { sweepDir, points } = prepareSweepDir(cfg, {
    configFile: config,
    overrides,
    backend,
    resume: opts.resume,
    sweepDir: opts.sweepDir,
    resultsDir: opts.results,
  });
  const extraArgs = ['--jobs', String(opts.jobs ?? opts.cpusPerTask ?? 1)];
  if (opts.retry) extraArgs.push('--retry', String(opts.retry));
  if (backend) extraArgs.push('--backend', backend);
  runSlurmSweep({ ...io, points: points.length, experiment: cfg.experiment, configFile: config, overrides, sweepDir, extraArgs, options: opts });
  return 0;
}
