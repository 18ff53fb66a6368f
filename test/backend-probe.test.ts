import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { backendAvailability, probeNativePackages, type BackendInfo } from '../src/backend.js';

function pkg(dir: string, json: Record<string, unknown>): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify(json));
}

describe('native backend detection (issue 9, defect 14)', () => {
  it("the danfojs override's alias (@tensorflow/tfjs under the folder name tfjs-node) is not a native package", () => {
    const base = mkdtempSync(join(tmpdir(), 'bp-probe-'));
    pkg(base, { name: 'proj', overrides: { 'danfojs-node': { '@tensorflow/tfjs-node': 'npm:@tensorflow/tfjs@4.22.0' } } });
    pkg(join(base, 'node_modules', '@tensorflow', 'tfjs-node'), { name: '@tensorflow/tfjs', version: '4.22.0' });
    const [gpu, node] = probeNativePackages(base);
    expect(gpu).toMatchObject({ package: '@tensorflow/tfjs-node-gpu', status: 'absent', summary: '@tensorflow/tfjs-node-gpu: not installed' });
    expect(node).toMatchObject({ package: '@tensorflow/tfjs-node', status: 'impostor', heldName: '@tensorflow/tfjs', overrideBy: 'danfojs-node' });
    expect(node!.summary).toBe("@tensorflow/tfjs-node: not installed (the folder holds @tensorflow/tfjs 4.22.0, installed by danfojs-node's override)");
  });

  it('a genuine package is found the way Node resolves it (a parent node_modules), an alias without an override entry is still refused', () => {
    const root = mkdtempSync(join(tmpdir(), 'bp-probe-'));
    pkg(join(root, 'node_modules', '@tensorflow', 'tfjs-node-gpu'), { name: '@tensorflow/tfjs-node-gpu', version: '4.22.0' });
    const base = join(root, 'app');
    pkg(base, { name: 'app' });
    pkg(join(base, 'node_modules', '@tensorflow', 'tfjs-node'), { name: 'something-else' });
    const [gpu, node] = probeNativePackages(base);
    expect(gpu).toMatchObject({ status: 'genuine', heldVersion: '4.22.0', summary: '@tensorflow/tfjs-node-gpu: installed (4.22.0)' });
    expect(node!.status).toBe('impostor');
    expect(node!.summary).toBe('@tensorflow/tfjs-node: not installed (the folder holds something-else)');
  });

  it('availability says which backends run and why the others do not', () => {
    const base = mkdtempSync(join(tmpdir(), 'bp-probe-'));
    pkg(base, { name: 'proj', overrides: { 'danfojs-node': { '@tensorflow/tfjs-node': 'npm:@tensorflow/tfjs@4.22.0' } } });
    pkg(join(base, 'node_modules', '@tensorflow', 'tfjs-node'), { name: '@tensorflow/tfjs', version: '4.22.0' });
    const info: BackendInfo = { name: 'wasm', requested: 'auto', source: 'default', tried: [{ name: 'cpu', error: 'boom' }], tfjsCoreVersion: '4.22.0' };
    const a = backendAvailability(info, probeNativePackages(base));
    expect(a.available).toEqual(['wasm']);
    expect(a.unavailable).toEqual([
      {
        name: 'tensorflow',
        why: "no native package: @tensorflow/tfjs-node-gpu: not installed; @tensorflow/tfjs-node: not installed (the folder holds @tensorflow/tfjs 4.22.0, installed by danfojs-node's override)",
      },
      { name: 'cpu', why: 'failed to initialize: boom' },
    ]);
  });
});
