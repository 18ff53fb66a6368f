/**
 * Backend selection and reporting.
 *
 * Order of preference: native TensorFlow (`@tensorflow/tfjs-node-gpu`, then
 * `@tensorflow/tfjs-node`) when it loads, else WebAssembly, else the pure-JS cpu
 * backend. The choice can be forced with a CLI flag, the config key `backend`,
 * or the environment variable `BAYESPRUNE_BACKEND`.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import './nn/wasm-kernels.js'; // registers Conv2DBackpropFilter for wasm (missing in tfjs-backend-wasm 4.22)
// Gradient functions (tfjs-core registers none itself), with a faster matMul gradient on wasm.
import './nn/gradients.js';

/** Names accepted by {@link initBackend}. `auto` picks the fastest that loads. */
export const BACKEND_CHOICES = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

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
  /** Whether the wasm backend runs with threads / SIMD (when it is the active one). */
  wasmFeatures?: { threads: boolean; simd: boolean };
}

let current: BackendInfo | undefined;

async function tryNative(tried: BackendInfo['tried']): Promise<string | undefined> {
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
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

function firstLine(e: unknown): string {
  return String(e instanceof Error ? e.message : e)
    .split('\n')[0]!
    .slice(0, 200);
}

/** Read a backend choice, throwing a clear error for anything else. */
export function parseBackendChoice(v: string, where: string): BackendChoice {
  if ((BACKEND_CHOICES as readonly string[]).includes(v)) return v as BackendChoice;
  throw new Error(`${where}: unknown backend "${v}"; allowed: ${BACKEND_CHOICES.join(', ')}`);
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
