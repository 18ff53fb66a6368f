import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/experiment/config.js';
import { dataKey, loadData } from '../../src/experiment/run.js';

const base = { experiment: 'k', data: { name: 'blobs', labelNoise: 0.2 } };

describe('data shared between the models of a run', () => {
  it('models whose seeds differ get their own noisy labels (a variant never trains on another seed’s label noise)', () => {
    const a = validateConfig({ ...base, seed: 1 });
    const b = validateConfig({ ...base, seed: 2 });
    expect(dataKey(a)).not.toBe(dataKey(b));
    const ya = loadData(a).train.y;
    const yb = loadData(b).train.y;
    let differ = 0;
    for (let i = 0; i < ya.length; i++) if (ya[i] !== yb[i]) differ++;
    // Two independent 20 % flips of n labels disagree on roughly 2 · 0.2 · 0.8 · n of them; at least one is enough here.
    expect(differ).toBeGreaterThan(0);
  });

  it('without label noise the seed does not change the data, so models share one copy', () => {
    const a = validateConfig({ ...base, data: { name: 'blobs' }, seed: 1 });
    const b = validateConfig({ ...base, data: { name: 'blobs' }, seed: 2 });
    expect(dataKey(a)).toBe(dataKey(b));
    expect(Array.from(loadData(a).train.y)).toEqual(Array.from(loadData(b).train.y));
  });
});
