import { describe, expect, it } from 'vitest';
import { sparsityReport, type LayerSpec } from '../../src/metrics/sparsity.js';

function maskKeeping(total: number, kept: number, asFloat = false): Uint8Array | Float32Array {
  const m = asFloat ? new Float32Array(total) : new Uint8Array(total);
  for (let i = 0; i < kept; i++) m[(i * 7) % total] = 1; // 7 is coprime with the sizes used
  return m;
}

describe('sparsityReport on a tiny conv + dense net', () => {
  // conv: kernel 3×3×1×2 = 18 weights, 6 kept, 2 biases, output 4×4 = 16 positions.
  // dense: 32×10 = 320 weights, 32 kept, 10 biases.
  // Weights only: total 338, kept 38 → sparsity 300/338, compression 338/38.
  // With biases: total 350, kept 50 → compression 7.
  // MACs: dense 18·16 + 320 = 608; remaining 6·16 + 32 = 128 → speed-up 4.75.
  const layers: LayerSpec[] = [
    { name: 'conv1', kind: 'conv', shape: [3, 3, 1, 2], mask: maskKeeping(18, 6), biasCount: 2, macsPerWeight: 16 },
    { name: 'fc', kind: 'dense', shape: [32, 10], mask: maskKeeping(320, 32, true), biasCount: 10 },
  ];
  const rep = sparsityReport(layers);

  it('counts per layer', () => {
    const [c, d] = rep.layers;
    expect(c.weights).toMatchObject({ total: 18, kept: 6, pruned: 12 });
    expect(c.weights.sparsity).toBeCloseTo(2 / 3, 12);
    expect(c.weights.compression).toBe(3);
    expect(c.withBiases).toMatchObject({ total: 20, kept: 8 });
    expect(c.denseMacs).toBe(288);
    expect(c.macs).toBe(96);
    expect(c.speedup).toBe(3);
    expect(d.weights.density).toBeCloseTo(0.1, 12);
    expect(d.macs).toBe(32);
    expect(d.speedup).toBe(10);
  });

  it('totals weights only and with biases, and MACs', () => {
    expect(rep.weights.total).toBe(338);
    expect(rep.weights.kept).toBe(38);
    expect(rep.weights.sparsity).toBeCloseTo(300 / 338, 12);
    expect(rep.weights.density).toBeCloseTo(38 / 338, 12);
    expect(rep.weights.compression).toBeCloseTo(338 / 38, 12);
    expect(rep.withBiases.total).toBe(350);
    expect(rep.withBiases.compression).toBe(7);
    expect(rep.denseMacs).toBe(608);
    expect(rep.macs).toBe(128);
    expect(rep.speedup).toBe(4.75);
  });

  it('treats a missing mask as dense and a fully pruned layer as infinite compression', () => {
    const r = sparsityReport([
      { name: 'a', kind: 'dense', shape: [4, 5] },
      { name: 'b', kind: 'dense', shape: [5, 2], mask: new Uint8Array(10) },
    ]);
    expect(r.layers[0].weights.sparsity).toBe(0);
    expect(r.layers[0].weights.compression).toBe(1);
    expect(r.layers[1].weights.compression).toBe(Infinity);
    expect(r.layers[1].speedup).toBe(Infinity);
    expect(r.weights.compression).toBe(1.5); // 30 weights, 20 kept
  });

  it('rejects a mask of the wrong length and a conv without macsPerWeight', () => {
    expect(() => sparsityReport([{ name: 'x', kind: 'dense', shape: [2, 2], mask: new Uint8Array(3) }])).toThrow(/mask length/);
    expect(() => sparsityReport([{ name: 'c', kind: 'conv', shape: [3, 3, 1, 1] }])).toThrow(/macsPerWeight/);
  });
});
