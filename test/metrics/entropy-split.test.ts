import { beforeAll, describe, expect, it } from 'vitest';
import { evaluateSamples } from '../../src/experiment/evaluate.js';
import { RandomStream } from '../../src/random.js';
import { useTestBackend } from '../setup-backend.js';

beforeAll(useTestBackend);

describe('total = aleatoric + epistemic entropy at an operating point', () => {
  it('evaluateSamples reports H[E p] = E[H p] + MI, each against direct loops', () => {
    const r = new RandomStream('split');
    const S = 7;
    const n = 30;
    const k = 4;
    const samples = Array.from({ length: S }, () => {
      const t = new Float32Array(n * k);
      for (let i = 0; i < n; i++) {
        const e = Array.from({ length: k }, () => Math.exp(2 * r.normal()));
        const z = e.reduce((a, b) => a + b, 0);
        e.forEach((v, j) => (t[i * k + j] = v / z));
      }
      return t;
    });
    const y = Int32Array.from({ length: n }, () => r.int(k));
    const ev = evaluateSamples(samples, { name: 't', x: new Float32Array(n), y, n, shape: [1], numClasses: k }, S);
    let total = 0;
    let expected = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < k; j++) {
        let m = 0;
        for (let s = 0; s < S; s++) m += samples[s]![i * k + j]! / S;
        total -= m * Math.log(m);
        for (let s = 0; s < S; s++) {
          const p = samples[s]![i * k + j]!;
          expected -= (p * Math.log(p)) / S;
        }
      }
    }
    total /= n;
    expected /= n;
    expect(ev.entropy).toBeCloseTo(total, 5);
    expect(ev.expectedEntropy).toBeCloseTo(expected, 5);
    expect(ev.mutualInformation).toBeCloseTo(total - expected, 5);
    expect(ev.entropy).toBeCloseTo(ev.expectedEntropy + ev.mutualInformation, 10);
    expect(ev.mutualInformation).toBeGreaterThan(0.05);
  });
});
