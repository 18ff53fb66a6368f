/**
 * Command-line entry point (commander): every subcommand has its own `--help`, usage
 * errors are one line with a "did you mean" where one is close.
 *
 *   bayesprune run <config.yaml> [key=value ...] [--backend wasm|cpu|tensorflow|auto] [--results DIR] [--resume DIR] [--new] [--quiet]
 *   bayesprune sweep <config.yaml> [key=value ...] [options]      (src/experiment/sweep-cli.ts)
 *   bayesprune validate <config.yaml> [key=value ...]
 *   bayesprune info [--backend NAME] [--json]
 *   bayesprune criteria
 *   bayesprune export <run dir> --point <criterion@sparsity | log-alpha | gates> --out DIR   (src/export/cli.ts)
 *   bayesprune predict <exported model dir> <IDX file | image folder>
 *   bayesprune compare <run or sweep dir>... --out FILE      (src/experiment/html-report.ts)
 *   bayesprune help [command]
 *
 * Exit status: 0 success, 1 an error (config, data, files, a failed run), 2 a usage error
 * (unknown command or option, missing argument).
 * @module
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
// Only dependency-free modules at the top: tfjs and everything that loads it are imported inside
// the commands that need them, so `--help` and usage errors start fast (results/bench/cli-startup.json).
import { BACKEND_CHOICES, type BackendChoice } from './backend-choices.js';
import { didYouMean } from './suggest.js';
import { errnoCode, fsErrorMessage, PathError, resolveResultsRoot } from './experiment/paths.js';
import { registerSweepCommand } from './experiment/sweep-cli.js';
import { registerExportCommands } from './export/cli.js';
import { registerCompareCommand } from './experiment/html-report.js';
import type { RunOptions } from './experiment/run.js';

/** Where the CLI writes (the process streams unless a caller captures them). */
export interface CliIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

const OVERRIDES_HELP = 'key=value overrides by dot path, values read as YAML, e.g. train.epochs=5 pruning.sparsities=[0,0.5]';

function backendOption(): Option {
  return new Option(
    '--backend <NAME>',
    `force the tfjs backend (${BACKEND_CHOICES.join(', ')}); also config key "backend" or env BAYESPRUNE_BACKEND`,
  ).argParser((v: string): BackendChoice => {
    if ((BACKEND_CHOICES as readonly string[]).includes(v)) return v as BackendChoice;
    throw new InvalidArgumentError(`unknown backend "${v}"${didYouMean(v, BACKEND_CHOICES)}; allowed: ${BACKEND_CHOICES.join(', ')}`);
  });
}

function nonEmpty(flag: string) {
  return (v: string): string => {
    if (v.trim() === '') throw new InvalidArgumentError(`${flag} needs a directory, got an empty value`);
    if (v.includes('\0')) throw new InvalidArgumentError(`${flag}: the path contains a NUL character`);
    return v;
  };
}

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

interface RunFlags {
  backend?: BackendChoice;
  results?: string;
  resume?: string;
  new?: boolean;
  quiet?: boolean;
}

/** Build the program; actions write to `io` (a failing sweep sets `process.exitCode`). */
export function buildProgram(io: CliIo): Command {
  const program = new Command('bayesprune');
  program
    .description('Bayesian variational pruning with calibration reports')
    .version(version(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help (also for every command: bayesprune run --help)')
    .addHelpCommand('help [command]', 'show help for a command')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      // Usage errors are printed by main() as one line.
      outputError: () => undefined,
    })
    .addHelpText(
      'after',
      `
Overrides set config keys by dot path, e.g. train.epochs=5 seed=2 pruning.scope=layer.
Results go to <results>/<experiment>/<run-id>/ (see docs/guide.md).`,
    );

  program
    .command('run')
    .description('train, prune, evaluate and report one experiment')
    .argument('<config>', 'config file (YAML or JSON)')
    .argument('[overrides...]', OVERRIDES_HELP)
    .addOption(backendOption())
    .option('--results <DIR>', 'results root (default: results)', nonEmpty('--results'))
    .option('--resume <DIR>', 'continue an interrupted run: its <results>/<experiment>/.<run-id>.partial directory', nonEmpty('--resume'))
    .option('--new', 'start a new run even if an unfinished run of the same config exists')
    .option('--quiet', 'no progress output')
    .action(async (file: string, overrides: string[], opts: RunFlags) => {
      const { loadConfig } = await import('./experiment/config.js');
      const cfg = loadConfig(file, overrides);
      const resultsDir = resolveResultsRoot(opts.results, '--results');
      const { runExperiment } = await import('./experiment/run.js');
      const o: RunOptions = {
        configFile: file,
        overrides,
        backend: opts.backend,
        resume: opts.resume,
        resultsDir,
        progress: opts.quiet ? null : io.stderr,
        newRun: Boolean(opts.new),
      };
      await runExperiment(cfg, o);
    });

  registerSweepCommand(program);
  registerExportCommands(program, io.stdout);
  registerCompareCommand(program, io.stdout);

  program
    .command('validate')
    .description('check a config (its variants and sweep points too) and print it resolved, exactly as it runs')
    .argument('<config>', 'config file (YAML or JSON)')
    .argument('[overrides...]', OVERRIDES_HELP)
    .addOption(backendOption())
    .action(async (file: string, overrides: string[]) => {
      const { derivedSettings, loadConfig, validateAll } = await import('./experiment/config.js');
      const cfg = loadConfig(file, overrides);
      const points = await validateAll(cfg, file);
      io.stdout.write(JSON.stringify(cfg, null, 2) + '\n');
      const derived = derivedSettings(cfg);
      if (derived.length)
        io.stderr.write(
          `derived at run time (not stored in the config): ${derived.map((d) => `${d.key} = ${JSON.stringify(d.value)} (${d.because})`).join('; ')}\n`,
        );
      if (points) io.stderr.write(`sweep: ${points} point${points === 1 ? '' : 's'}, each valid\n`);
    });

  program
    .command('info')
    .description('backends (which are available and why the others are not), versions, inference methods, criteria')
    .addOption(backendOption())
    .option('--json', 'print everything as JSON')
    .action(async (opts: { backend?: BackendChoice; json?: boolean }) => {
      const { backendAvailability, initBackend, probeNativePackages } = await import('./backend.js');
      const { packageVersions } = await import('./experiment/manifest.js');
      const { getMethod, methodNames } = await import('./inference/methods.js');
      const { criterionNames } = await import('./scores/registry.js');
      const backend = await initBackend(opts.backend);
      const probes = probeNativePackages();
      const avail = backendAvailability(backend, probes);
      const out = {
        backend,
        available: avail.available,
        unavailable: avail.unavailable,
        nativePackages: probes.map((p) => p.summary),
        packages: packageVersions(),
        node: process.version,
        inferenceMethods: methodNames().map((n) => ({ name: n, description: getMethod(n).description })),
        criteria: criterionNames(),
      };
      if (opts.json) {
        io.stdout.write(JSON.stringify(out, null, 2) + '\n');
        return;
      }
      const lines = [
        `backend in use: ${backend.name} (requested ${backend.requested}, from ${backend.source})${backend.wasmFeatures ? `; wasm threads ${backend.wasmFeatures.threads ? 'on' : 'off'}, SIMD ${backend.wasmFeatures.simd ? 'on' : 'off'}` : ''}`,
        `available: ${avail.available.join(', ') || 'none'}`,
        ...avail.unavailable.map((u) => `not available: ${u.name}: ${u.why}`),
        `native packages: ${probes.map((p) => p.summary).join('; ')}`,
        `tfjs-core ${backend.tfjsCoreVersion}, node ${process.version}`,
        `packages: ${Object.entries(out.packages)
          .map(([k, v]) => `${k} ${v ?? '(not installed)'}`)
          .join(', ')}`,
        `inference methods: ${methodNames().join(', ')}`,
        `criteria: ${criterionNames().join(', ')}`,
      ];
      io.stdout.write(lines.join('\n') + '\n');
    });

  program
    .command('criteria')
    .description('list the pruning criteria')
    .action(async () => {
      const { criterionNames, getCriterion } = await import('./scores/registry.js');
      for (const n of criterionNames()) io.stdout.write(`${n.padEnd(12)} ${getCriterion(n).description}\n`);
    });

  return program;
}

/** A commander usage error as one line: `error: unknown option '--fo' (did you mean --foo?)`. */
function usageLine(e: CommanderError, command: string | undefined): string {
  const lines = e.message
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const head = (lines[0] ?? 'usage error').replace(/^error: /, '');
  const hint = lines
    .slice(1)
    .map((l) => l.replace(/^\((.*)\)$/, '$1').replace(/^Did you mean/, 'did you mean'))
    .join('; ');
  return `error: ${head}${hint ? ` (${hint})` : ''}; see bayesprune ${command ? `${command} ` : ''}--help`;
}

/**
 * Run the CLI on `argv` (without the node and script names). Returns the exit status;
 * every error is printed on `io.stderr` as {@link formatError} writes it, never a stack trace.
 */
export async function main(argv: string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const program = buildProgram(io);
  if (argv.length === 0) {
    io.stdout.write(program.helpInformation());
    return 0;
  }
  const previousExitCode = process.exitCode;
  process.exitCode = undefined;
  try {
    await program.parseAsync(argv, { from: 'user' });
    const code = typeof process.exitCode === 'number' ? process.exitCode : Number(process.exitCode ?? 0) || 0;
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help')
        return e.exitCode === 1 && argv.length ? 0 : e.exitCode;
      const command = argv.find((a) => !a.startsWith('-'));
      io.stderr.write(usageLine(e, program.commands.some((c) => c.name() === command) ? command : undefined) + '\n');
      return 2;
    }
    io.stderr.write(formatError(e) + '\n');
    return 1;
  } finally {
    process.exitCode = previousExitCode;
  }
}

/**
 * One clear message (a list for config errors) for the user; no stack trace unless DEBUG is
 * set. File-system errors become plain words naming the path.
 */
export function formatError(e: unknown): string {
  // ConfigError (experiment/config.ts) by name: importing the class would load tfjs at start-up.
  if ((e instanceof Error && e.name === 'ConfigError') || e instanceof PathError) return `error: ${e.message}`;
  const code = errnoCode(e);
  const path = (e as { path?: unknown } | null)?.path;
  let msg: string;
  const dest = (e as { dest?: unknown } | null)?.dest;
  if (code && typeof path === 'string') msg = fsErrorMessage(e, typeof dest === 'string' ? `${path} → ${dest}` : path);
  else msg = e instanceof Error ? e.message : String(e);
  return `error: ${msg}${process.env.DEBUG && e instanceof Error ? `\n${e.stack}` : ''}`;
}

const isMain = process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\/src\//, '/src/'));
if (isMain) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(formatError(e) + '\n');
      process.exit(1);
    },
  );
}
