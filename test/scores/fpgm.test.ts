import { beforeAll, describe, expect, it } from 'vitest';
import { Activation, Flatten, Reshape } from '../../src/nn/activations.js';
import { Conv2d } from '../../src/nn/conv2d.js';
import { Dense } from '../../src/nn/dense.js';
import { Network } from '../../src/nn/network.js';
import { NetworkPosterior } from '../../src/inference/network-posterior.js';
import { unitMasksAtRatio, unitScores } from '../../src/pruning/structured.js';
import { filterNormScores, fpgmFilterScores } from '../../src/scores/fpgm.js';
import { getCriterion } from '../../src/scores/registry.js';
import { RandomStream } from '../../src/random.js';
import { useTestBackend } from '../setup-backend.js';

beforeAll(useTestBackend);

describe('FPGM filter scores (He et al. 2019)', () => {
  it('hand-computed 3-filter example: F0 = (0,0), F1 = (3,4), F2 = (6,8) → Σ distances 15, 10, 15', () => {
    // Dense weight [in = 2, out = 3], row-major: W[k][j] is entry k·3 + j; filter j is column j.
    const w = Float32Array.from([0, 3, 6, 0, 4, 8]);
    expect(Array.from(fpgmFilterScores(w, [2, 3]))).toEqual([15, 10, 15]);
    // The norm criteria rank differently: F0 is the smallest, F1 the geometric-median one FPGM prunes first.
    expect(Array.from(filterNormScores(w, [2, 3], 2))).toEqual([0, 5, 10]);
    expect(Array.from(filterNormScores(w, [2, 3], 1))).toEqual([0, 7, 14]);
  });

  it('conv filters [k, k, cin, cout]: equal a brute-force loop over explicit filter vectors', () => {
    const s = new RandomStream('fpgm-brute');
    const [k, cin, cout] = [3, 2, 6];
    const w = Float32Array.from({ length: k * k * cin * cout }, () => s.normal());
    const filter = (j: number) => {
      const f: number[] = [];
      for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) for (let c = 0; c < cin; c++) f.push(w[((a * k + b) * cin + c) * cout + j]!);
      return f;
    };
    const F = Array.from({ length: cout }, (_, j) => filter(j));
    const brute = F.map((fi) => F.reduce((acc, fj) => acc + Math.hypot(...fi.map((v, t) => v - fj[t]!)), 0));
    const got = fpgmFilterScores(w, [k, k, cin, cout]);
    brute.forEach((v, j) => expect(got[j]).toBeCloseTo(v, 9));
    const l1 = filterNormScores(w, [k, k, cin, cout], 1);
    const l2 = filterNormScores(w, [k, k, cin, cout], 2);
    F.forEach((f, j) => {
      expect(l1[j]).toBeCloseTo(
        f.reduce((a, v) => a + Math.abs(v), 0),
        9,
      );
      expect(l2[j]).toBeCloseTo(Math.hypot(...f), 9);
    });
  });
});

/** conv1 (6 filters) → relu → conv2 (5 filters) → relu → flatten → fc1 (7 units) → relu → fc2 (classifier). */
function net(): Network {
  const st = new RandomStream('fpgm-net');
  return new Network(
    [
      new Reshape('reshape', [6, 6, 1]),
      new Conv2d({ name: 'conv1', inH: 6, inW: 6, cin: 1, cout: 6, k: 3, stream: st.fork('c1') }),
      new Activation('a1', 'relu'),
      new Conv2d({ name: 'conv2', inH: 4, inW: 4, cin: 6, cout: 5, k: 3, stream: st.fork('c2') }),
      new Activation('a2', 'relu'),
      new Flatten('flatten'),
      new Dense({ name: 'fc1', inFeatures: 20, outFeatures: 7, stream: st.fork('f1') }),
      new Activation('a3', 'relu'),
      new Dense({ name: 'fc2', inFeatures: 7, outFeatures: 3, stream: st.fork('f2') }),
    ],
    [36],
    3,
    'tiny conv',
  );
}

/** Indices of the output units whose whole filter / column is masked. */
function droppedUnits(mask: Float32Array, nOut: number): number[] {
  const alive = new Uint8Array(nOut);
  for (let f = 0; f < mask.length; f++) if (mask[f] !== 0) alive[f % nOut] = 1;
  return Array.from(alive.keys()).filter((j) => !alive[j]);
}

describe('filter criteria through the structured path (pruning.units)', () => {
  for (const [crit, ref] of [
    ['fpgm', (w: Float32Array, sh: number[]) => fpgmFilterScores(w, sh)],
    ['filter-l1', (w: Float32Array, sh: number[]) => filterNormScores(w, sh, 1)],
    ['filter-l2', (w: Float32Array, sh: number[]) => filterNormScores(w, sh, 2)],
  ] as const) {
    for (const aggregate of ['l2', 'mean'] as const) {
      it(`${crit} (aggregate ${aggregate}, layers: conv) prunes the lowest-scored half of each conv layer's filters and no dense unit`, async () => {
        const n = net();
        const p = new NetworkPosterior('map', n);
        const scores = await getCriterion(crit).compute(p, { stream: new RandomStream('s') });
        const us = unitScores(n, scores, aggregate, 'conv');
        expect(us.map((u) => u.weight)).toEqual(['conv1.weight', 'conv2.weight']);
        const { masks } = unitMasksAtRatio(n, us, 0.5, 'layer');
        for (const l of n.weightLayers().slice(0, 2)) {
          const sh = l.weightShape!;
          const d = ref(l.moments()!.mean, sh);
          const want = Array.from(d.keys())
            .sort((a, b) => d[a]! - d[b]! || a - b)
            .slice(0, Math.round(0.5 * sh.at(-1)!))
            .sort((a, b) => a - b);
          expect(droppedUnits(masks.get(`${l.name}.weight`)!, sh.at(-1)!)).toEqual(want);
        }
        expect(droppedUnits(masks.get('fc1.weight')!, 7)).toEqual([]);
        p.dispose();
      });
    }
  }

  it('pruning.units.layers rejects a name that is not a hidden weight layer, with the allowed names', async () => {
    const n = net();
    const scores = await getCriterion('fpgm').compute(new NetworkPosterior('map', n), { stream: new RandomStream('s') });
    expect(() => unitScores(n, scores, 'l2', ['conv3'])).toThrow(/"conv3" is not a hidden weight layer.*allowed: conv1, conv2, fc1/);
    expect(unitScores(n, scores, 'l2', 'dense').map((u) => u.weight)).toEqual(['fc1.weight']);
    n.dispose();
  });
});
