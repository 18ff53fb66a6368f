/**
 * Worker process of a sweep: runs one point (one ordinary run) and exits.
 *
 * Started by the sweep driver with `child_process.fork` (IPC channel); the driver sends one
 * {@link WorkerJob} message. The worker reports progress (`{type: 'progress', ...}`) and the
 * outcome (`{type: 'done', runDir}` or `{type: 'error', message}`) over IPC; everything the run
 * prints goes to stdout/stderr, which the driver writes to the point's `log.txt`. When the
 * driver goes away (the IPC channel closes, e.g. after `kill -9`), the worker exits at once so
 * that a resumed sweep never races an orphan; its partial run is resumed from the checkpoint.
 *
 * Fault injection for tests: `BAYESPRUNE_SWEEP_FAULT=<kind>@<label>[,...]` with kind `throw`
 * (an exception inside the run), `exit` (exit code 3), `kill` (SIGKILL of itself) or
 * `kill-epoch-<k>` (SIGKILL of itself once training epoch k has begun, i.e. after the checkpoint
 * of epoch k − 1) makes the worker of that point fail that way.
 * @module
 */
import type { BackendChoice } from '../backend.js';
import type { ExperimentConfig } from './config.js';
import type { ProgressSink } from './progress.js';

export interface WorkerJob {
  type: 'run';
  label: string;
  config: ExperimentConfig;
  resultsDir: string;
  resume?: string;
  backend?: BackendChoice;
  configFile?: string | null;
  overrides?: string[];
}

export type WorkerMessage =
  | { type: 'progress'; model: string; stage: string; frac: number; epoch?: number; epochs?: number }
  | { type: 'done'; runDir: string }
  | { type: 'error'; message: string };

// The sweep's processes already fill the cores: no evaluation worker threads on top (eval.workers: auto).
process.env.BAYESPRUNE_EVAL_WORKERS ??= '0';

const send = (m: WorkerMessage) => new Promise<void>((res) => (process.send ? process.send(m, undefined, {}, () => res()) : res()));

function fault(label: string): string | undefined {
  for (const f of (process.env.BAYESPRUNE_SWEEP_FAULT ?? '').split(',')) {
    const at = f.indexOf('@');
    if (at > 0 && f.slice(at + 1) === label) return f.slice(0, at);
  }
  return undefined;
}

/**
 * A progress sink that looks like a terminal to the run (so every update arrives), turns the
 * updates into IPC progress messages and writes plain lines (stage ends, epoch ends) to stderr.
 */
function progressSink(killAtEpoch?: number): ProgressSink {
  let last = 0;
  return {
    isTTY: true,
    columns: 400,
    write(s: string) {
      if (!s.startsWith('\r')) {
        process.stderr.write(s);
        return;
      }
      const text = s.replace(/^\r/, '').trimEnd();
      if (!text) return;
      const m = /^\[([^\]]+)\] (\S+)\s+(\d+)%/.exec(text);
      const ep = /epoch (\d+)\/(\d+)/.exec(text);
      const epochEnd = / val \S+%/.test(text);
      if (killAtEpoch !== undefined && ep && !epochEnd && Number(ep[1]) >= killAtEpoch) process.kill(process.pid, 'SIGKILL');
      if (epochEnd) process.stderr.write(text.replace(/ \[[█░]+\]/, '') + '\n');
      const now = Date.now();
      if (m && (epochEnd || now - last > 250)) {
        last = now;
        void send({
          type: 'progress',
          model: m[1]!,
          stage: m[2]!,
          frac: Number(m[3]) / 100,
          ...(ep ? { epoch: Number(ep[1]), epochs: Number(ep[2]) } : {}),
        });
      }
    },
  };
}

async function runJob(job: WorkerJob): Promise<void> {
  const kind = fault(job.label);
  if (kind === 'exit') process.exit(3);
  if (kind === 'kill') process.kill(process.pid, 'SIGKILL');
  if (kind === 'throw') throw new Error(`injected fault in point ${job.label} (BAYESPRUNE_SWEEP_FAULT)`);
  const { runExperiment } = await import('./run.js');
  const r = await runExperiment(job.config, {
    resultsDir: job.resultsDir,
    resume: job.resume,
    backend: job.backend,
    configFile: job.configFile,
    overrides: job.overrides,
    signals: false, // the sweep driver prints the command that continues the sweep
    progress: progressSink(kind?.startsWith('kill-epoch-') ? Number(kind.slice('kill-epoch-'.length)) : undefined),
  });
  await send({ type: 'done', runDir: r.runDir });
}

process.on('disconnect', () => process.exit(70));
process.once('message', (job: WorkerJob) => {
  runJob(job).then(
    () => process.exit(0),
    async (e: unknown) => {
      const message = e instanceof Error ? e.message : String(e);
      process.stderr.write(`error: ${message}\n${e instanceof Error && e.stack ? e.stack + '\n' : ''}`);
      await send({ type: 'error', message });
      process.exit(1);
    },
  );
});
