import { initBackend } from '../src/backend.js';

/** Tests run on the cpu backend unless BAYESPRUNE_BACKEND says otherwise (exact, no wasm start-up). */
export async function useTestBackend(): Promise<string> {
  const info = await initBackend((process.env.BAYESPRUNE_BACKEND as 'cpu' | 'wasm' | undefined) ?? 'cpu', 'flag');
  return info.name;
}
