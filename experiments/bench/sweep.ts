/**
 * Sweep throughput: the same small sweep (4 seeds of the quickstart, shortened) with `--jobs 1`
 * and then `--jobs 2`, in one invocation; prints and writes the wall-clock ratio
 * (jobs 1 time / jobs 2 time; target ≥ 1.8 on 2 quiet cores) with the machine and its load
 * average before and after each sweep. Both sweeps must produce identical runs.csv (wall-clock columns aside).
 *
 *   npm run bench:sweep [-- --epochs 2 --train-limit 6000 --points 4 --backend wasm --quiet]
 *
 * Writes results/bench/sweep-<date>.json and results/bench/sweep.json (the latest).
 * @module
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseBackendChoice } from '../../src/backend.js';
import { writeJsonAtomic } from '../../src/report/atomic.js';
import { loadConfig } from '../../src/experiment/config.js';
import { runSweep } from '../../src/experiment/sweep.js';

const argv = process.argv.slice(2);
const arg = (name: string, dflt: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : dflt;
};
const epochs = Number(arg('epochs', '2'));
const trainLimit = Number(arg('train-limit', '6000'));
const nPoints = Number(arg('points', '4'));
const backend = parseBackendChoice(arg('backend', 'wasm'), '--backend');
const quiet = argv.includes('--quiet');

const overrides: [string, unknown][] = [
  ['variants', []],
  ['train.epochs', epochs],
  ['data.trainLimit', trainLimit],
  ['eval.samples', 5],
  ['sweep', { seeds: Array.from({ length: nPoints }, (_, i) => i + 1) }],
];
const cfg = loadConfig('configs/quickstart.yaml', overrides);
const load = () => loadavg().map((x) => +x.toFixed(2));
/** runs.csv without its wall-clock columns (any column named …seconds…), which differ between any two runs. */
const withoutWallClock = (csv: string) => {
  const lines = csv.trim().split(/\r?\n/);
  const keep = lines[0]!.split(',').map((c) => !/seconds/i.test(c));
  return lines
    .map((l) =>
      l
        .split(',')
        .filter((_, i) => keep[i])
        .join(','),
    )
    .join('\n');
};

const runs: { jobs: number; seconds: number; loadBefore: number[]; loadAfter: number[]; perPointSeconds: number }[] = [];
const csvs: string[] = [];
const scratch = mkdtempSync(join(tmpdir(), 'bayesprune-bench-sweep-'));
try {
  for (const jobs of [1, 2]) {
    const loadBefore = load();
    console.log(`sweep of ${nPoints} points (quickstart, ${epochs} epochs, ${trainLimit} training examples, ${backend}) with --jobs ${jobs} …`);
    const t0 = performance.now();
    const r = await runSweep(cfg, { sweepDir: join(scratch, `jobs${jobs}`), jobs, backend, progress: quiet ? null : process.stderr });
    const seconds = (performance.now() - t0) / 1000;
    if (r.failed.length) throw new Error(`bench sweep: points failed: ${r.failed.join(', ')} (logs under ${r.sweepDir}/runs)`);
    csvs.push(withoutWallClock(readFileSync(join(r.sweepDir, 'runs.csv'), 'utf8')));
    runs.push({ jobs, seconds: +seconds.toFixed(2), loadBefore, loadAfter: load(), perPointSeconds: +((seconds * jobs) / nPoints).toFixed(2) });
    console.log(`  --jobs ${jobs}: ${seconds.toFixed(1)} s`);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

const ratio = runs[0]!.seconds / runs[1]!.seconds;
const date = new Date();
const result = {
  benchmark: 'sweep throughput (--jobs 1 vs --jobs 2)',
  date: date.toISOString(),
  sweep: { config: 'configs/quickstart.yaml', points: nPoints, epochs, trainLimit, evalSamples: 5, backend, variants: 0 },
  machine: { cpu: cpus()[0]?.model, cpus: cpus().length, memoryGiB: +(totalmem() / 2 ** 30).toFixed(1), platform: process.platform, node: process.version },
  runs,
  ratio: +ratio.toFixed(3),
  target: 1.8,
  identicalResults: csvs[0] === csvs[1],
  note: 'ratio = wall time with --jobs 1 / wall time with --jobs 2; load averages (1, 5, 15 min) show how quiet the machine was',
};
mkdirSync('results/bench', { recursive: true });
const dated = `results/bench/sweep-${date.toISOString().slice(0, 10)}.json`;
await writeJsonAtomic(dated, result);
await writeJsonAtomic('results/bench/sweep.json', result);
console.log(
  `--jobs 1: ${runs[0]!.seconds} s, --jobs 2: ${runs[1]!.seconds} s, ratio ${ratio.toFixed(2)} (target ≥ 1.8); ` +
    `load before/after: ${runs[0]!.loadBefore.join(' ')} / ${runs[1]!.loadAfter.join(' ')}; identical runs.csv (wall-clock columns aside): ${result.identicalResults}`,
);
console.log(`written: ${dated}, results/bench/sweep.json`);
