import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, expect } from 'vitest';
import { initBackend } from '../src/backend.js';

/** Tests run on the cpu backend unless BAYESPRUNE_BACKEND says otherwise (exact, no wasm start-up). */
export async function useTestBackend(): Promise<string> {
  const info = await initBackend((process.env.BAYESPRUNE_BACKEND as 'cpu' | 'wasm' | undefined) ?? 'cpu', 'flag');
  return info.name;
}

/**
 * Runs the calling test file on the wasm backend (the fused kernels live there): switches to it before the file's
 * tests (failing if it cannot start) and back to the test backend after them.
 */
export function useWasmBackend(): void {
  let initial = 'cpu';
  beforeAll(async () => {
    initial = await useTestBackend();
    expect(await tf.setBackend('wasm')).toBe(true);
  });
  afterAll(async () => {
    await tf.setBackend(initial);
  });
}
