/**
 * The `sweep` subcommand of the CLI (commander):
 *
 *   bayesprune sweep <config> [key=value ...] [--jobs N] [--retry K] [--resume DIR] [--shard i/n]
 *                    [--sweep-dir DIR] [--results DIR] [--backend NAME] [--quiet]
 *   bayesprune sweep collect <sweep dir> [more dirs ...] [--quiet]
 *
 * Exit status: 0 when every point (of the shard) finished; 1 when a point failed or, for
 * `collect`, when points are missing; errors the user can cause (config, flags, directories)
 * are thrown as one-line errors for the CLI to print.
 * @module
 */
import { availableParallelism } from 'node:os';
import { InvalidArgumentError, type Command } from 'commander';
import { BACKEND_CHOICES, parseBackendChoice } from '../backend-choices.js';
import { addSlurmOptions, slurmSweepAction, usesSlurm } from './slurm.js';

function wholeNumber(flag: string, min: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\s*\d+\s*$/.test(v) || !Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${flag} takes a whole number ≥ ${min} (got "${v}")`);
    return n;
  };
}

export interface SweepCliOptions {
  jobs?: number;
  retry: number;
  resume?: string;
  shard?: string;
  sweepDir?: string;
  results?: string;
  backend?: string;
  quiet?: boolean;
}

/** Run `sweep <config> [overrides...]` with parsed options; returns the exit status. */
export async function sweepAction(file: string, overrides: string[], opts: SweepCliOptions): Promise<number> {
  const { parseShard, runSweep } = await import('./sweep.js');
  const { loadConfig } = await import('./config.js');
  const shard = opts.shard !== undefined ? parseShard(opts.shard) : undefined;
  const backend = opts.backend !== undefined ? parseBackendChoice(opts.backend, '--backend') : undefined;
  const cfg = loadConfig(file, overrides);
  const r = await runSweep(cfg, {
    configFile: file,
    overrides,
    backend,
    jobs: opts.jobs ?? availableParallelism(),
    retry: opts.retry,
    resume: opts.resume,
    sweepDir: opts.sweepDir,
    resultsDir: opts.results,
    shard,
    progress: opts.quiet ? null : process.stderr,
    handleSignals: true,
  });
  if (r.failed.length) {
    process.stderr.write(
      `error: ${r.failed.length} point${r.failed.length > 1 ? 's' : ''} failed (logs under ${r.sweepDir}/runs/<label>/log.txt); rerun them with --resume ${r.sweepDir}\n`,
    );
    return 1;
  }
  if (r.collected?.missing.length) return 1;
  return 0;
}

/** Run `sweep collect <dirs...>`; returns the exit status (1 when points are missing). */
export async function collectAction(dirs: string[], opts: { quiet?: boolean }): Promise<number> {
  const { collectSweep } = await import('./sweep.js');
  const r = await collectSweep(dirs, { progress: opts.quiet ? null : process.stderr });
  if (r.missing.length) {
    process.stderr.write(`error: ${r.missing.length} of ${r.missing.length + r.complete.length} points missing (listed above)\n`);
    return 1;
  }
  return 0;
}

/** Define `sweep` and `sweep collect` on the program. Failing sweeps set `process.exitCode`. */
export function registerSweepCommand(program: Command): Command {
  const sweep = program
    .command('sweep')
    .description("run every point of the config's sweep spec (grid, zip, random, seeds) in worker processes; summary with statistics over seeds")
    .argument('<config>', 'config file (YAML or JSON) with a "sweep" key')
    .argument('[overrides...]', 'key=value overrides by dot path, e.g. train.epochs=5')
    .option('--jobs <N>', `worker processes at a time (default: the number of cores, here ${availableParallelism()})`, wholeNumber('--jobs', 1))
    .option('--retry <K>', 'retry a failed point up to K more times', wholeNumber('--retry', 0), 0)
    .option('--resume <DIR>', 'continue this sweep directory: rerun only unfinished points (same config required)')
    .option('--shard <i/n>', 'run only the points with index ≡ i (mod n), 0 ≤ i < n; no summary (use `sweep collect`)')
    .option('--sweep-dir <DIR>', 'write into this sweep directory (created if absent; joined if it holds the same config)')
    .option('--results <DIR>', 'results root for a new sweep directory (default: results)')
    .option('--backend <NAME>', `tfjs backend of every point (${BACKEND_CHOICES.join(', ')})`)
    .option('--quiet', 'no progress output')
    .action(async (file: string, overrides: string[], opts: SweepCliOptions) => {
      const code = usesSlurm(opts) ? await slurmSweepAction(file, overrides, opts) : await sweepAction(file, overrides, opts);
      if (code) process.exitCode = code;
    });
  addSlurmOptions(sweep);
  sweep
    .command('collect')
    .description('aggregate the finished points of one or more directories of a sweep (e.g. shards); lists missing and failed points')
    .argument('<dirs...>', 'sweep directories (the summary is written into the first)')
    .option('--quiet', 'no progress output')
    .action(async (dirs: string[], opts: { quiet?: boolean }, cmd: Command) => {
      // `--quiet` after the directories is parsed by the parent `sweep` command (same option name).
      const code = await collectAction(dirs, { quiet: Boolean(opts.quiet || cmd.parent?.opts().quiet) });
      if (code) process.exitCode = code;
    });
  return sweep;
}
