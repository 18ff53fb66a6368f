/**
 * Start-up time of the compiled CLI: `bayesprune --help` (and `criteria`, which loads tfjs),
 * run as a user runs it (`node bin/bayesprune.js` with the compiled dist/, no TypeScript loader),
 * against the development launcher through tsx. Writes results/bench/cli-startup.json.
 *
 *   npm run build && npx tsx experiments/bench/cli-startup.ts [rounds]
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const root = join(import.meta.dirname, '..', '..');
const bin = join(root, 'bin', 'bayesprune.js');
if (!existsSync(join(root, 'dist', 'cli.js'))) {
  process.stderr.write('error: dist/cli.js is missing: run `npm run build` first\n');
  process.exit(1);
}
const rounds = Number(process.argv[2] ?? 10);

function time(args: string[], env: Record<string, string>): number[] {
  const out: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t = performance.now();
    execFileSync(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, stdio: 'ignore' });
    out.push(performance.now() - t);
  }
  return out;
}

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { medianMs: Math.round(s[Math.floor(s.length / 2)]!), minMs: Math.round(s[0]!), maxMs: Math.round(s.at(-1)!), runs: xs.map(Math.round) };
};

// Node itself, for scale.
const bare: number[] = [];
for (let i = 0; i < rounds; i++) {
  const t = performance.now();
  execFileSync(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  bare.push(performance.now() - t);
}
const result = {
  date: new Date().toISOString(),
  node: process.version,
  rounds,
  note: 'wall time of a fresh process, including Node start-up; 2-core machine shared with other work, compare within one run',
  nodeEmpty: stats(bare),
  compiledHelp: stats(time(['--help'], { BAYESPRUNE_DIST: '1' })),
  compiledCriteria: stats(time(['criteria'], { BAYESPRUNE_DIST: '1' })),
  tsxHelp: stats(time(['--help'], {})),
};
mkdirSync(join(root, 'results', 'bench'), { recursive: true });
writeFileSync(join(root, 'results', 'bench', 'cli-startup.json'), `${JSON.stringify(result, null, 2)}\n`);
process.stdout.write(
  `bayesprune --help: ${result.compiledHelp.medianMs} ms compiled (node alone ${result.nodeEmpty.medianMs} ms; tsx ${result.tsxHelp.medianMs} ms); criteria (loads tfjs) ${result.compiledCriteria.medianMs} ms\n`,
);
