/**
 * Backend selection and reporting.
 *
 * Order of preference: native TensorFlow (`@tensorflow/tfjs-node-gpu`, then
 * `@tensorflow/tfjs-node`) when it loads, else WebAssembly, else the pure-JS cpu
 * backend. The choice can be forced with a CLI flag, the config key `backend`,
 * or the environment variable `BAYESPRUNE_BACKEND`.
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import './nn/wasm-kernels.js'; // registers Conv2DBackpropFilter for wasm (missing in tfjs-backend-wasm 4.22)
// Gradient functions (tfjs-core registers none itself), with a faster matMul gradient on wasm.
import './nn/gradients.js';

// The choice names live in a dependency-free module (the CLI reads them before loading tfjs).
import { parseBackendChoice, type BackendChoice } from './backend-choices.js';
export { BACKEND_CHOICES, parseBackendChoice, type BackendChoice } from './backend-choices.js';

/** What was chosen and why, recorded in every run's manifest. */
export interface BackendInfo {
  /** The active tfjs backend name (`tensorflow`, `wasm` or `cpu`). */
  name: string;
  /** What was requested (`auto` unless forced). */
  requested: BackendChoice;
  /** Where the request came from. */
  source: 'default' | 'env' | 'config' | 'flag';
  /** The native package that was loaded, if any. */
  nativePackage?: string;
  /** Backends that were tried and failed, with the reason. */
  tried: { name: string; error: string }[];
  tfjsCoreVersion: string;
  /** Backends that can run here. */
  available?: string[];
  /** Backends that cannot, each with the reason in plain words. */
  unavailable?: { name: string; why: string }[];
  /** Whether the wasm backend runs with threads / SIMD (when it is the active one). */
  wasmFeatures?: { threads: boolean; simd: boolean };
}

let current: BackendInfo | undefined;

/** The native TensorFlow packages, in order of preference. */
export const NATIVE_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;

/** What is installed under a native package's name. */
export interface NativeProbe {
  /** The package name looked up, e.g. `@tensorflow/tfjs-node`. */
  package: string;
  /**
   * `genuine`: the folder holds that package; `impostor`: the folder holds another package
   * under that name (an npm alias, e.g. danfojs-node's override installs `@tensorflow/tfjs`
   * as `@tensorflow/tfjs-node`); `absent`: no such folder.
   */
  status: 'genuine' | 'impostor' | 'absent';
  /** The folder found (node_modules/<package>), if any. */
  folder?: string;
  /** `name` and `version` of the package.json in that folder. */
  heldName?: string;
  heldVersion?: string;
  /** The package whose npm override put the impostor there, when the project's package.json says so. */
  overrideBy?: string;
  /** One plain line: `@tensorflow/tfjs-node: not installed (the folder holds @tensorflow/tfjs 4.22.0, installed by danfojs-node's override)`. */
  summary: string;
}

/** The package whose `overrides` entry aliases `pkg` (`"pkg": "npm:other@x"`), searched through nested overrides. */
function overrideOwner(overrides: unknown, pkg: string, owner?: string): string | undefined {
  if (overrides === null || typeof overrides !== 'object') return undefined;
  for (const [k, v] of Object.entries(overrides)) {
    if (k === pkg && typeof v === 'string' && v.startsWith('npm:')) return owner ?? 'the project';
    const found = overrideOwner(v, pkg, k.replace(/@[^@/]*$/, '') || k);
    if (found) return found;
  }
  return undefined;
}

function readJson(path: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    return v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The project root (the folder above src/). */
const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Which native TensorFlow packages are genuinely installed, resolving each name the way
 * Node does from `baseDir` (its node_modules, then its parents'), and reading the
 * package.json found there: only a folder whose `name` is the package counts.
 */
export function probeNativePackages(baseDir: string = PROJECT_ROOT): NativeProbe[] {
  const project = readJson(join(baseDir, 'package.json'));
  return NATIVE_PACKAGES.map((pkg): NativeProbe => {
    let dir = baseDir;
    for (;;) {
      const folder = join(dir, 'node_modules', pkg);
      if (existsSync(join(folder, 'package.json'))) {
        const j = readJson(join(folder, 'package.json'));
        const heldName = typeof j?.name === 'string' ? j.name : undefined;
        const heldVersion = typeof j?.version === 'string' ? j.version : undefined;
        if (heldName === pkg)
          return { package: pkg, status: 'genuine', folder, heldName, heldVersion, summary: `${pkg}: installed (${heldVersion ?? 'unknown version'})` };
        const overrideBy = overrideOwner(project?.overrides, pkg);
        const held = `${heldName ?? 'a package without a name'}${heldVersion ? ` ${heldVersion}` : ''}`;
        return {
          package: pkg,
          status: 'impostor',
          folder,
          heldName,
          heldVersion,
          overrideBy,
          summary: `${pkg}: not installed (the folder holds ${held}${overrideBy ? `, installed by ${overrideBy}'s override` : ''})`,
        };
      }
      const up = dirname(dir);
      if (up === dir) return { package: pkg, status: 'absent', summary: `${pkg}: not installed` };
      dir = up;
    }
  });
}

async function tryNative(tried: BackendInfo['tried']): Promise<string | undefined> {
  for (const probe of probeNativePackages()) {
    const pkg = probe.package;
    if (probe.status !== 'genuine') {
      tried.push({ name: pkg, error: probe.summary.slice(pkg.length + 2) });
      continue;
    }
    try {
      await import(pkg);
      if (tf.findBackend('tensorflow') && (await tf.setBackend('tensorflow'))) return pkg;
      tried.push({ name: pkg, error: 'loaded but registered no usable "tensorflow" backend (is its tfjs-core the same copy?)' });
    } catch (e) {
      tried.push({ name: pkg, error: firstLine(e) });
    }
  }
  return undefined;
}

/**
 * Which backends can run here and why the others cannot, in plain lines, for `info` and
 * the manifest. `tensorflow` needs a genuine native package; wasm and cpu ship with the
 * project (one that failed to initialize says so).
 */
export function backendAvailability(
  info: BackendInfo,
  probes: NativeProbe[] = probeNativePackages(),
): { available: string[]; unavailable: { name: string; why: string }[] } {
  const available: string[] = [];
  const unavailable: { name: string; why: string }[] = [];
  const failed = new Map(info.tried.map((t) => [t.name, t.error]));
  const genuine = probes.filter((p) => p.status === 'genuine');
  if (info.name === 'tensorflow') available.push('tensorflow');
  else if (!genuine.length) unavailable.push({ name: 'tensorflow', why: `no native package: ${probes.map((p) => p.summary).join('; ')}` });
  else if (genuine.every((p) => failed.has(p.package)))
    unavailable.push({ name: 'tensorflow', why: genuine.map((p) => `${p.package}: ${failed.get(p.package)}`).join('; ') });
  else available.push('tensorflow');
  for (const name of ['wasm', 'cpu']) {
    if (failed.has(name)) unavailable.push({ name, why: `failed to initialize: ${failed.get(name)}` });
    else if (tf.engine().registryFactory[name] || tf.findBackend(name)) available.push(name);
    else unavailable.push({ name, why: 'not registered' });
  }
  return { available, unavailable };
}

function firstLine(e: unknown): string {
  return String(e instanceof Error ? e.message : e)
    .split('\n')[0]!
    .slice(0, 200);
}

/**
 * Initialize the tfjs backend. Precedence: explicit `choice` (flag or config, with
 * its `source`), then `BAYESPRUNE_BACKEND`, then `auto`.
 * A forced backend that fails to load is an error, never a silent fallback.
 */
export async function initBackend(choice?: BackendChoice, source: BackendInfo['source'] = 'flag'): Promise<BackendInfo> {
  let requested: BackendChoice = 'auto';
  let src: BackendInfo['source'] = 'default';
  if (choice && choice !== 'auto') {
    requested = choice;
    src = source;
  } else if (process.env.BAYESPRUNE_BACKEND) {
    requested = parseBackendChoice(process.env.BAYESPRUNE_BACKEND, 'environment variable BAYESPRUNE_BACKEND');
    src = 'env';
  }
  if (current && (requested === 'auto' || current.name === requested)) return current;

  const tried: BackendInfo['tried'] = [];
  let nativePackage: string | undefined;
  let ok = false;
  if (requested === 'auto' || requested === 'tensorflow') {
    nativePackage = await tryNative(tried);
    ok = nativePackage !== undefined;
    if (!ok && requested === 'tensorflow') {
      throw new Error(
        `backend "tensorflow" was requested (${src}) but no native package loads: ` +
          tried.map((t) => `${t.name}: ${t.error}`).join('; ') +
          '. Install @tensorflow/tfjs-node(-gpu)@4.22.0, or choose wasm or cpu.',
      );
    }
  }
  for (const name of requested === 'auto' ? ['wasm', 'cpu'] : [requested]) {
    if (ok) break;
    try {
      ok = await tf.setBackend(name);
      await tf.ready();
      if (!ok) tried.push({ name, error: 'setBackend returned false' });
    } catch (e) {
      tried.push({ name, error: firstLine(e) });
      ok = false;
    }
    if (!ok && requested !== 'auto') {
      throw new Error(`backend "${name}" was requested (${src}) but failed to initialize: ${tried.at(-1)?.error}`);
    }
  }
  if (!ok) throw new Error(`no tfjs backend could be initialized: ${JSON.stringify(tried)}`);
  const name = tf.getBackend();
  // The cpu backend prints a "install tfjs-node" banner on first use; the manifest already says which backend runs.
  if (name === 'cpu') (tf.backend() as unknown as { firstUse: boolean }).firstUse = false;
  current = { name, requested, source: src, nativePackage, tried, tfjsCoreVersion: tf.version_core };
  Object.assign(current, backendAvailability(current));
  if (name === 'wasm') {
    current.wasmFeatures = {
      threads: Boolean(tf.env().getAsync ? await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT') : false),
      simd: Boolean(tf.env().getAsync ? await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT') : false),
    };
  }
  return current;
}

/** The backend chosen by the last {@link initBackend}, if any. */
export function backendInfo(): BackendInfo | undefined {
  return current;
}
