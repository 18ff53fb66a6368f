/**
 * Command-line entry point.
 *
 *   bayesprune run <config.yaml> [key=value ...] [--backend wasm|cpu|tensorflow|auto] [--results DIR] [--resume DIR]
 *   bayesprune validate <config.yaml> [key=value ...]
 *   bayesprune info [--backend ...]
 *   bayesprune criteria
 * @module
 */
import { BACKEND_CHOICES, initBackend, parseBackendChoice, type BackendChoice } from './backend.js';
import { ConfigError, loadConfig, parseOverrides } from './experiment/config.js';
import { packageVersions } from './experiment/manifest.js';
import { getMethod, methodNames } from './inference/methods.js';
import { criterionNames, getCriterion } from './scores/registry.js';
import type { RunOptions } from './experiment/run.js';

export const HELP = `bayesprune — Bayesian variational pruning with calibration reports

Usage:
  bayesprune run <config.yaml> [key=value ...] [options]   train, prune, evaluate, report
  bayesprune sweep <config.yaml> [key=value ...] [options] run every combination of the config's
                                                           "sweep" grid; mean ± std over seeds
  bayesprune validate <config.yaml> [key=value ...]        check a config and print it resolved
  bayesprune info [--backend NAME]                          backend, versions, registries
  bayesprune criteria                                       list pruning criteria
  bayesprune help                                           this text

Overrides set config keys by dot path, e.g. train.epochs=5 seed=2 pruning.scope=layer.

Options:
  --backend NAME   force the tfjs backend (${BACKEND_CHOICES.join(', ')}); also: config key
                   "backend" or environment variable BAYESPRUNE_BACKEND
  --results DIR    results root (default: results)
  --resume DIR     continue an interrupted run (its results/<experiment>/.<run-id>.partial
                   directory) or sweep (its results/<experiment>/sweep-<id> directory)
  --quiet          no progress output
`;

interface Parsed {
  command: string;
  positional: string[];
  flags: Map<string, string | true>;
}

const VALUE_FLAGS = new Set(['backend', 'results', 'resume']);
const BOOL_FLAGS = new Set(['quiet', 'help']);

export function parseArgs(argv: string[]): Parsed {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('--')) {
      const [k, v] = a.slice(2).split('=', 2) as [string, string | undefined];
      if (VALUE_FLAGS.has(k)) {
        const val = v ?? argv[++i];
        if (val === undefined) throw new Error(`--${k} needs a value`);
        flags.set(k, val);
      } else if (BOOL_FLAGS.has(k)) flags.set(k, true);
      else throw new Error(`unknown option --${k}; options: ${[...VALUE_FLAGS, ...BOOL_FLAGS].map((f) => `--${f}`).join(', ')}`);
    } else positional.push(a);
  }
  return { command: positional.shift() ?? 'help', positional, flags };
}

/** Run / sweep options from the parsed command line. */
function runOptions(p: Parsed, file: string, overrides: string[], backend: BackendChoice | undefined): RunOptions {
  const resume = p.flags.get('resume');
  const results = p.flags.get('results');
  return {
    configFile: file,
    overrides,
    backend,
    resume: typeof resume === 'string' ? resume : undefined,
    resultsDir: typeof results === 'string' ? results : undefined,
    progress: p.flags.has('quiet') ? null : process.stderr,
  };
}

export async function main(argv: string[]): Promise<number> {
  const p = parseArgs(argv);
  const backendFlag = p.flags.get('backend');
  const backend: BackendChoice | undefined = typeof backendFlag === 'string' ? parseBackendChoice(backendFlag, '--backend') : undefined;
  if (p.flags.has('help') || p.command === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  switch (p.command) {
    case 'sweep': {
      const [file, ...rest] = p.positional;
      if (!file) throw new Error('sweep needs a config file with a "sweep" grid, e.g. bayesprune sweep configs/swag.yaml');
      const cfg = loadConfig(file, parseOverrides(rest));
      const { runSweep, sweepPoints } = await import('./experiment/sweep.js');
      sweepPoints(cfg); // validates every combination before any work
      await runSweep(cfg, runOptions(p, file, rest, backend));
      return 0;
    }
    case 'run':
    case 'validate': {
      const [file, ...rest] = p.positional;
      if (!file) throw new Error(`${p.command} needs a config file, e.g. bayesprune ${p.command} configs/quickstart.yaml`);
      const cfg = loadConfig(file, parseOverrides(rest));
      if (p.command === 'validate') {
        process.stdout.write(JSON.stringify(cfg, null, 2) + '\n');
        return 0;
      }
      const { runExperiment } = await import('./experiment/run.js');
      await runExperiment(cfg, runOptions(p, file, rest, backend));
      return 0;
    }
    case 'info': {
      const info = await initBackend(backend);
      const out = {
        backend: info,
        packages: packageVersions(),
        node: process.version,
        inferenceMethods: methodNames().map((n) => ({ name: n, description: getMethod(n).description })),
        criteria: criterionNames(),
      };
      process.stdout.write(JSON.stringify(out, null, 2) + '\n');
      return 0;
    }
    case 'criteria':
      for (const n of criterionNames()) process.stdout.write(`${n.padEnd(12)} ${getCriterion(n).description}\n`);
      return 0;
    default:
      throw new Error(`unknown command "${p.command}"; commands: run, sweep, validate, info, criteria, help`);
  }
}

/** One clear line (or a list, for config errors) on stderr; no stack trace unless DEBUG is set. */
export function formatError(e: unknown): string {
  if (e instanceof ConfigError) return `error: ${e.message}`;
  const msg = e instanceof Error ? e.message : String(e);
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
