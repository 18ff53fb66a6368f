/**
 * Shared helpers of the `check.ts` scripts: find the newest complete run of an
 * experiment, collect claims, print PASS / FAIL lines and exit non-zero on a failure.
 * A claim whose rows are missing is a FAIL ({@link claimOn}), never silently dropped.
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

/**
 * A claim about rows of a run that may be missing: when any of `needed` is undefined or
 * null the claim FAILS with the names of the missing rows (it is never dropped);
 * otherwise `check` decides.
 */
export function claimOn<T extends Record<string, unknown>>(
  claim: string,
  needed: { [K in keyof T]: T[K] | undefined | null },
  check: (rows: T) => { value: string; pass: boolean },
): Claim {
  const missing = Object.entries(needed)
    .filter(([, v]) => v === undefined || v === null)
    .map(([k]) => k);
  if (missing.length) return { claim, value: `missing ${missing.length > 1 ? 'rows' : 'row'}: ${missing.join(', ')}`, pass: false };
  try {
    return { claim, ...check(needed as T) };
  } catch (e) {
    return { claim, value: `cannot be checked: ${e instanceof Error ? e.message : String(e)}`, pass: false };
  }
}

/** The claims `make` builds, or one FAIL naming what broke (e.g. a field missing from metrics.json). */
export function claimsOrFail(make: () => Claim[]): Claim[] {
  try {
    return make();
  } catch (e) {
    return [{ claim: 'the run has every result the claims need', value: `cannot be checked: ${e instanceof Error ? e.message : String(e)}`, pass: false }];
  }
}

/** Print the claims; true when all pass and there is at least one (nothing checked is a FAIL). */
export function printClaims(title: string, claims: Claim[]): boolean {
  console.log(`\n${title}`);
  if (claims.length === 0) {
    console.log('  FAIL  no claim could be checked');
    return false;
  }
  for (const c of claims) console.log(`  ${c.pass ? 'PASS' : 'FAIL'}  ${c.claim}: ${c.value}`);
  return claims.every((c) => c.pass);
}

export const pct = (x: number) => `${(100 * x).toFixed(2)} %`;
