/**
 * The backend names the CLI and configs accept, without loading tfjs (see backend.ts).
 * @module
 */

/** Names accepted by `initBackend`. `auto` picks the fastest that loads. */
export const BACKEND_CHOICES = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

/** Read a backend choice, throwing a clear error for anything else. */
export function parseBackendChoice(v: string, where: string): BackendChoice {
  if ((BACKEND_CHOICES as readonly string[]).includes(v)) return v as BackendChoice;
  throw new Error(`${where}: unknown backend "${v}"; allowed: ${BACKEND_CHOICES.join(', ')}`);
}
