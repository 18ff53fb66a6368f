import { beforeAll, describe, expect, it } from 'vitest';
import { Conv2d } from '../../src/nn/conv2d.js';
import { Dense } from '../../src/nn/dense.js';
import { initBias, initWeight } from '../../src/nn/init.js';
import { ConfigError, validateConfig } from '../../src/experiment/config.js';
import { RandomStream } from '../../src/random.js';
import { useTestBackend } from '../setup-backend.js';

beforeAll(useTestBackend);

/** Mean, standard deviation, min and max by a plain loop. */
function stats(x: Float32Array): { mean: number; std: number; min: number; max: number } {
  let s = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const v of x) {
    s += v;
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  const mean = s / x.length;
  let ss = 0;
  for (const v of x) ss += (v - mean) ** 2;
  return { mean, std: Math.sqrt(ss / x.length), min, max };
}

/** Counts in `bins` equal bins of [lo, hi). */
function histogram(x: Float32Array, lo: number, hi: number, bins: number): number[] {
  const h = new Array<number>(bins).fill(0);
  for (const v of x) h[Math.min(bins - 1, Math.floor(((v - lo) / (hi - lo)) * bins))]!++;
  return h;
}

/** Standard normal pdf and cdf (Abramowitz–Stegun 7.1.26 erf, |error| < 1.5e-7). */
const phi = (z: number) => Math.exp((-z * z) / 2) / Math.sqrt(2 * Math.PI);
function Phi(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return z >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

/**
 * `xs` drawn uniform on ±bound: inside it, both ends reached within `edge`·bound, and the std
 * within `stdTol` (relative) of bound/√3.
 */
function expectUniformOn(xs: Float32Array, bound: number, edge: number, stdTol: number) {
  const s = stats(xs);
  expect(s.min).toBeGreaterThanOrEqual(-bound);
  expect(s.max).toBeLessThanOrEqual(bound);
  expect(s.min).toBeLessThan(-edge * bound);
  expect(s.max).toBeGreaterThan(edge * bound);
  expect(Math.abs(s.std / (bound / Math.sqrt(3)) - 1)).toBeLessThan(stdTol);
  return s;
}

describe('torch-default initializer (PyTorch nn.Linear / nn.Conv2d default)', () => {
  it('draws Dense weights uniform on ±1/√fan_in: range, std 1/√(3·fan_in), flat histogram', () => {
    const fanIn = 784;
    const layer = new Dense({ name: 'fc1', inFeatures: fanIn, outFeatures: 300, init: 'torch-default', stream: new RandomStream('init-test/w') });
    const w = layer.w.dataSync() as Float32Array;
    const bound = 1 / Math.sqrt(fanIn);
    // 235,200 draws: the extremes come within 0.1 % of the bound; std 1/√(3·fan_in) within 1 %.
    const s = expectUniformOn(w, bound, 0.999, 0.01);
    expect(Math.abs(s.mean)).toBeLessThan(0.01 * bound);
    expect(s.std).toBeCloseTo(1 / Math.sqrt(3 * fanIn), 4);
    // Uniform, not a (truncated) normal: 10 equal bins each hold 10 % ± 0.5 %.
    for (const c of histogram(w, -bound, bound, 10)) expect(Math.abs(c / w.length - 0.1)).toBeLessThan(0.005);
    layer.w.dispose();
    layer.b.dispose();
  });

  it('draws Dense biases uniform on ±1/√fan_in (fan_in of the layer, not its width)', () => {
    const fanIn = 100;
    const layer = new Dense({ name: 'fc', inFeatures: fanIn, outFeatures: 20000, init: 'torch-default', stream: new RandomStream('init-test/b') });
    const b = layer.b.dataSync() as Float32Array;
    const bound = 1 / Math.sqrt(fanIn);
    expectUniformOn(b, bound, 0.99, 0.03);
    for (const c of histogram(b, -bound, bound, 5)) expect(Math.abs(c / b.length - 0.2)).toBeLessThan(0.02);
    // The bias is a draw of its own, not a copy of the first weights.
    const w0 = Array.from((layer.w.dataSync() as Float32Array).subarray(0, 20));
    expect(Array.from(b.subarray(0, 20))).not.toEqual(w0);
    layer.w.dispose();
    layer.b.dispose();
  });

  it('uses fan_in = k²·cin for Conv2d weights and biases', () => {
    const [k, cin, cout] = [5, 4, 2000];
    const layer = new Conv2d({ name: 'conv', inH: 12, inW: 12, cin, cout, k, init: 'torch-default', stream: new RandomStream('init-test/conv') });
    const bound = 1 / Math.sqrt(k * k * cin); // 0.1
    expectUniformOn(layer.w.dataSync() as Float32Array, bound, 0.999, 0.01);
    expectUniformOn(layer.b.dataSync() as Float32Array, bound, 0.98, 0.05);
    layer.w.dispose();
    layer.b.dispose();
  });

  it('leaves the default unchanged: he-normal biases are exactly 0 and weights a normal truncated at 2σ, σ = √(2/fan_in)', () => {
    const fanIn = 784;
    const layer = new Dense({ name: 'fc1', inFeatures: fanIn, outFeatures: 300, stream: new RandomStream('init-test/he') });
    const b = layer.b.dataSync() as Float32Array;
    expect(b.every((v) => v === 0)).toBe(true);
    const sigma = Math.sqrt(2 / fanIn);
    const s = stats(layer.w.dataSync() as Float32Array);
    // Std of N(0, σ²) truncated to ±2σ: σ·√(1 − 2·2φ(2) / (Φ(2) − Φ(−2))) ≈ 0.8796 σ.
    const truncStd = sigma * Math.sqrt(1 - (4 * phi(2)) / (Phi(2) - Phi(-2)));
    expect(truncStd / sigma).toBeCloseTo(0.8796, 3);
    expect(Math.abs(s.std / truncStd - 1)).toBeLessThan(0.01);
    expect(Math.max(-s.min, s.max)).toBeLessThanOrEqual(2 * sigma * 1.0001);
    // The default draws no bias: the layer's weights are the stream's first draw, as before the option existed.
    const again = initWeight([fanIn, 300], fanIn, 300, 'he-normal', new RandomStream('init-test/he'));
    expect(Array.from(again.dataSync().subarray(0, 50))).toEqual(Array.from((layer.w.dataSync() as Float32Array).subarray(0, 50)));
    again.dispose();
    layer.w.dispose();
    layer.b.dispose();
  });

  it('initBias: zeros without touching the stream for he / glorot', () => {
    for (const kind of ['he-normal', 'glorot-normal', 'glorot-uniform'] as const) {
      const a = new RandomStream('init-test/s');
      const t = initBias(7, 10, kind, a);
      expect(Array.from(t.dataSync())).toEqual([0, 0, 0, 0, 0, 0, 0]);
      t.dispose();
      expect(a.nextSeed()).toBe(new RandomStream('init-test/s').nextSeed());
    }
  });
});

describe('model.init in the config', () => {
  const issuesOf = (raw: unknown) => {
    try {
      validateConfig(raw);
    } catch (e) {
      if (e instanceof ConfigError) return e.issues.map((i) => `${i.path}: ${i.message}`);
      throw e;
    }
    return [];
  };

  it('accepts torch-default for point-estimate methods and keeps he-normal as the default', () => {
    expect(validateConfig({ experiment: 'x' }).model.init).toBe('he-normal');
    for (const method of ['map', 'swag', 'laplace'])
      expect(issuesOf({ experiment: 'x', model: { init: 'torch-default' }, inference: { method }, pruning: { criteria: ['magnitude'] } })).toEqual([]);
  });

  it('refuses torch-default where the layers keep zero biases, and suggests a spelling', () => {
    const vi = issuesOf({ experiment: 'x', model: { init: 'torch-default' }, inference: { method: 'vi' } });
    expect(vi).toHaveLength(1);
    expect(vi[0]).toMatch(/^model\.init: "torch-default" draws biases too.*\(got "vi"\); use he-normal, glorot-normal, glorot-uniform$/);
    const typo = issuesOf({ experiment: 'x', model: { init: 'torch-defualt' }, inference: { method: 'map' }, pruning: { criteria: ['magnitude'] } });
    expect(typo).toHaveLength(1);
    expect(typo[0]).toMatch(
      /model\.init: got "torch-defualt" \(did you mean "torch-default"\?\); allowed: he-normal, glorot-normal, glorot-uniform, torch-default/,
    );
  });
});
