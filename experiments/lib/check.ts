/**
 * Shared helpers of the `check.ts` scripts: find the newest complete run of an
 * experiment, collect claims, print PASS / FAIL lines and exit non-zero on a failure.
 * @module
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Claim {
  claim: string;
  value: string;
  pass: boolean;
}

/** The run directory to check: `explicit` if given, else the newest complete run under `results/<experiment>`. */
export function findRun(experiment: string, explicit?: string, resultsRoot = 'results'): string | null {
  const root = join(resultsRoot, experiment);
  const dir =
    explicit ??
    (existsSync(root)
      ? readdirSync(root)
          .filter((d) => !d.startsWith('.') && !d.startsWith('sweep-'))
          .sort()
          .map((d) => join(root, d))
          .at(-1)
      : undefined);
  return dir && existsSync(join(dir, 'metrics.json')) ? dir : null;
}

/** Parsed `metrics.json` and `manifest.json` of a run directory. */
export function readRun(dir: string): { metrics: any; manifest: any } {
  return { metrics: JSON.parse(readFileSync(join(dir, 'metrics.json'), 'utf8')), manifest: JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) };
}

/** Print the claims; true when all pass. */
export function printClaims(title: string, claims: Claim[]): boolean {
  console.log(`\n${title}`);
  for (const c of claims) console.log(`  ${c.pass ? 'PASS' : 'FAIL'}  ${c.claim}: ${c.value}`);
  return claims.every((c) => c.pass);
}

export const pct = (x: number) => `${(100 * x).toFixed(2)} %`;
