import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { gaussianBlobs } from '../../src/data/synthetic.js';
import { pruningCurves } from '../../src/experiment/curves.js';
import { batchGradients, datasetBatches, diagonalCurvature } from '../../src/inference/curvature.js';
import { meanFieldFactory, pointFactory } from '../../src/inference/layer-factories.js';
import { NetworkPosterior } from '../../src/inference/network-posterior.js';
import { buildNetwork } from '../../src/nn/builders.js';
import type { Dense } from '../../src/nn/dense.js';
import type { Network } from '../../src/nn/network.js';
import { RandomStream } from '../../src/random.js';
import { criterionNames, getCriterion } from '../../src/scores/registry.js';
import { unitScores } from '../../src/pruning/structured.js';
import { useTestBackend } from '../setup-backend.js';

beforeAll(useTestBackend);

const stream = new RandomStream('grad-criteria');
const data = gaussianBlobs({ n: 60, dim: 5, numClasses: 3, separation: 2, stream: stream.fork('data') });
const spec = { arch: 'mlp' as const, hidden: [4], activation: 'tanh' as const };

/** Per-example gradients of −log p(y_i | x_i) w.r.t. every Dense weight, by brute force (one backward pass per example). */
function bruteForce(net: Network, n: number, label?: (i: number, c: number) => number): { grads: Float32Array[][]; probs: Float32Array[] } {
  const vars = (net.weightLayers() as Dense[]).map((l) => l.w);
  const grads: Float32Array[][] = [];
  const probs: Float32Array[] = [];
  for (let i = 0; i < n; i++) {
    const x = tf.tensor2d(data.x.subarray(i * 5, (i + 1) * 5), [1, 5]);
    probs.push(tf.tidy(() => tf.softmax(net.forward(x, { sample: false }))).dataSync() as Float32Array);
    const per: Float32Array[] = [];
    const classes = label ? 3 : 1;
    for (let c = 0; c < classes; c++) {
      const y = label ? label(i, c) : data.y[i]!;
      const { grads: g, value } = tf.variableGrads(
        () => tf.neg(tf.sum(tf.mul(tf.logSoftmax(net.forward(x, { sample: false })), tf.oneHot([y], 3)))) as tf.Scalar,
        vars,
      );
      per.push(...vars.map((v) => g[v.name]!.dataSync().slice() as Float32Array));
      tf.dispose([value, ...Object.values(g)]);
    }
    grads.push(per);
    x.dispose();
  }
  return { grads, probs };
}

describe('vectorized per-example curvature', () => {
  it('empirical Fisher Σ_i (A²)ᵀ(Δ²) equals the sum of squared per-example gradients', () => {
    const net = buildNetwork(spec, [5], 3, pointFactory(), stream.fork('init'));
    const n = 12;
    const curv = diagonalCurvature(net, datasetBatches(data, 5, n), 'ef', { type: 'categorical' });
    const { grads } = bruteForce(net, n);
    curv.forEach((c, l) => {
      for (let j = 0; j < c.weight.length; j++) {
        const ref = grads.reduce((a, g) => a + g[l]![j]! ** 2, 0);
        expect(c.weight[j]!).toBeCloseTo(ref, 5);
      }
    });
    net.dispose();
  });

  it('exact GGN equals Σ_i Σ_c p_ic (∂ℓ(c)/∂w)² (the true Fisher of the softmax model)', () => {
    const net = buildNetwork(spec, [5], 3, pointFactory(), stream.fork('init2'));
    const n = 8;
    const curv = diagonalCurvature(net, datasetBatches(data, 8, n), 'ggn', { type: 'categorical' });
    const { grads, probs } = bruteForce(net, n, (_i, c) => c);
    curv.forEach((c, l) => {
      for (let j = 0; j < c.weight.length; j++) {
        let ref = 0;
        for (let i = 0; i < n; i++) for (let k = 0; k < 3; k++) ref += probs[i]![k]! * grads[i]![k * 2 + l]![j]! ** 2;
        expect(c.weight[j]!).toBeCloseTo(ref, 5);
      }
    });
    // the one-sample Monte Carlo Fisher is unbiased: its average over draws approaches the GGN
    const draws = 60;
    const acc = curv.map((c) => new Float64Array(c.weight.length));
    for (let s = 0; s < draws; s++) {
      diagonalCurvature(net, datasetBatches(data, 8, n), 'mc-fisher', { type: 'categorical' }, stream.fork(`mc-${s}`)).forEach((c, l) =>
        c.weight.forEach((v, j) => (acc[l]![j]! += v / draws)),
      );
    }
    const total = (a: ArrayLike<number>) => Array.from(a).reduce((x, y) => x + y, 0);
    curv.forEach((c, l) => expect(Math.abs(total(acc[l]!) - total(c.weight)) / total(c.weight)).toBeLessThan(0.15));
    net.dispose();
  });

  it('batch gradients equal autodiff of the summed loss; masked weights get 0', () => {
    const net = buildNetwork(spec, [5], 3, pointFactory(), stream.fork('init3'));
    const mask = new Float32Array(20).fill(1);
    mask[3] = 0;
    net.setMasks(new Map([['fc1.weight', mask]]));
    const x = tf.tensor2d(data.x.subarray(0, 50), [10, 5]);
    const y = tf.tensor1d(data.y.subarray(0, 10), 'int32');
    const g = batchGradients(net, { x, y }, { type: 'categorical' });
    const vars = (net.weightLayers() as Dense[]).map((l) => l.w);
    const ref = tf.variableGrads(() => tf.neg(tf.sum(tf.mul(tf.logSoftmax(net.forward(x, { sample: false })), tf.oneHot(y, 3)))) as tf.Scalar, vars);
    g.forEach((gl, l) => {
      const r = ref.grads[vars[l]!.name]!.dataSync();
      gl.weight.forEach((v, j) => expect(v).toBeCloseTo(r[j]!, 4));
    });
    expect(Math.abs(g[0]!.weight[3]!)).toBe(0);
    net.dispose();
  });
});

/**
 * The 5-4-3 tanh MLP re-implemented in float64 from its raw parameters, with per-example
 * gradients of −log p(c | x_i) by central finite differences: an independent reference
 * for the gradient criteria (no tfjs, no autodiff).
 */
function referenceGradients(net: Network, n: number) {
  const [l1, l2] = net.weightLayers() as Dense[];
  const params = [l1!.w, l2!.w].map((v) => Float64Array.from(v.dataSync()));
  const b1 = Float64Array.from(l1!.b.dataSync()),
    b2 = Float64Array.from(l2!.b.dataSync());
  const logits = (i: number) => {
    const [w1, w2] = params as [Float64Array, Float64Array];
    const h = [0, 0, 0, 0].map((_, j) => {
      let a = b1[j]!;
      for (let k = 0; k < 5; k++) a += data.x[i * 5 + k]! * w1[k * 4 + j]!;
      return Math.tanh(a);
    });
    return [0, 1, 2].map((c) => h.reduce((a, hv, j) => a + hv * w2[j * 3 + c]!, b2[c]!));
  };
  const probs = (i: number) => {
    const z = logits(i);
    const m = Math.max(...z);
    const e = z.map((v) => Math.exp(v - m));
    const sum = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / sum);
  };
  const nll = (i: number, c: number) => -Math.log(probs(i)[c]!);
  const h = 1e-5;
  /** g[i][c][layer][j] = ∂(−log p(c | x_i))/∂w_j. */
  const g = Array.from({ length: n }, (_, i) =>
    [0, 1, 2].map((c) =>
      params.map((w) =>
        Float64Array.from(w, (_v, j) => {
          const orig = w[j]!;
          w[j] = orig + h;
          const up = nll(i, c);
          w[j] = orig - h;
          const down = nll(i, c);
          w[j] = orig;
          return (up - down) / (2 * h);
        }),
      ),
    ),
  );
  return { w: params, g, p: Array.from({ length: n }, (_, i) => probs(i)) };
}

/** Every score within 0.2 % of the largest reference score of its layer. */
function expectScores(s: Map<string, Float32Array>, ref: Float64Array[], what: string) {
  ref.forEach((r, l) => {
    const got = s.get(`fc${l + 1}.weight`)!;
    const scale = Math.max(...r);
    expect(scale).toBeGreaterThan(0);
    r.forEach((v, j) => expect(Math.abs(got[j]! - v), `${what} fc${l + 1}[${j}]`).toBeLessThan(2e-3 * scale));
  });
}

describe('gradient criteria', { timeout: 60_000 }, () => {
  it('are registered and need data', async () => {
    for (const name of ['fisher', 'obd', 'snip', 'taylor']) expect(criterionNames()).toContain(name);
    const net = buildNetwork(spec, [5], 3, pointFactory(), stream.fork('init4'));
    const post = new NetworkPosterior('map', net);
    for (const name of ['fisher', 'obd', 'snip', 'taylor']) {
      const c = getCriterion(name);
      expect(c.needsData).toBe(true);
      await expect(async () => c.compute(post, { stream })).rejects.toThrow(/needs data/);
    }
    net.dispose();
  });

  it('OBD = ½·w²·Σ_i Σ_c p_ic·(∂ℓ_c/∂w)², fisher = ½·w²·Σ_i (∂ℓ_yi/∂w)², taylor = snip = |w·mean_i ∂ℓ_yi/∂w| (finite differences, float64)', async () => {
    const net = buildNetwork(spec, [5], 3, pointFactory(), stream.fork('init4'));
    const post = new NetworkPosterior('map', net);
    const n = data.n; // 60: below every criterion's example limit, so each sees all examples (Taylor and SNIP: one batch)
    const { w, g, p } = referenceGradients(net, n);
    const obd = w.map((wl, l) =>
      Float64Array.from(wl, (v, j) => {
        let h = 0;
        for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) h += p[i]![c]! * g[i]![c]![l]![j]! ** 2;
        return 0.5 * v * v * h;
      }),
    );
    const fisher = w.map((wl, l) =>
      Float64Array.from(wl, (v, j) => {
        let f = 0;
        for (let i = 0; i < n; i++) f += g[i]![data.y[i]!]![l]![j]! ** 2;
        return 0.5 * v * v * f;
      }),
    );
    const taylor = w.map((wl, l) =>
      Float64Array.from(wl, (v, j) => {
        let m = 0;
        for (let i = 0; i < n; i++) m += g[i]![data.y[i]!]![l]![j]! / n;
        return Math.abs(v * m);
      }),
    );
    expectScores(await getCriterion('obd').compute(post, { stream, data }), obd, 'obd');
    expectScores(await getCriterion('fisher').compute(post, { stream, data }), fisher, 'fisher');
    expectScores(await getCriterion('taylor').compute(post, { stream, data }), taylor, 'taylor');
    expectScores(await getCriterion('snip').compute(post, { stream, data }), taylor, 'snip');
    // OBD (true Fisher) and the empirical Fisher really differ here, so the two checks are not one.
    expect(Math.max(...obd[0]!.map((v, j) => Math.abs(v - fisher[0]![j]!)))).toBeGreaterThan(0.05 * Math.max(...obd[0]!));
    net.dispose();
  });

  it('snip uses the initial network when given, and works on mean-field (VI) networks', async () => {
    const init = buildNetwork(spec, [5], 3, pointFactory(), stream.fork('init6'));
    const trained = buildNetwork(spec, [5], 3, pointFactory(), stream.fork('other'));
    const post = new NetworkPosterior('map', trained);
    const atInit = await getCriterion('snip').compute(post, { stream, data, initialNetwork: init });
    const direct = await getCriterion('snip').compute(new NetworkPosterior('map', init), { stream, data });
    expect(Array.from(atInit.get('fc1.weight')!)).toEqual(Array.from(direct.get('fc1.weight')!));
    const vi = buildNetwork(spec, [5], 3, meanFieldFactory({ type: 'log-uniform' }, -10), stream.fork('vi'));
    const f = await getCriterion('fisher').compute(new NetworkPosterior('vi', vi), { stream, data });
    expect(f.get('fc2.weight')!.some((v) => v > 0)).toBe(true);
    [init, trained, vi].forEach((n) => n.dispose());
  });

  it('pruning curves pass scoreData to data-dependent criteria', async () => {
    const net = buildNetwork(spec, [5], 3, pointFactory(), stream.fork('init7'));
    const post = new NetworkPosterior('map', net);
    const res = await pruningCurves(post, {
      variant: 'main',
      criteria: ['fisher', 'magnitude'],
      scope: 'global',
      sparsities: [0, 0.5],
      logAlphaThreshold: null,
      samples: 1,
      batchSize: 100,
      stream,
      data,
      scoreData: data,
    });
    const rows = res.rows.filter((r) => r.criterion === 'fisher' && r.targetSparsity === 0.5);
    expect(rows).toHaveLength(2);
    expect(rows[0]!.sparsity).toBeCloseTo(0.5, 2);
    net.dispose();
  });
});

describe('per-unit versions', () => {
  it('aggregate through the structured-pruning unit scores (l1 = per-unit Taylor sum)', async () => {
    const net = buildNetwork(spec, [5], 3, pointFactory(), stream.fork('init8'));
    const taylor = await getCriterion('taylor').compute(new NetworkPosterior('map', net), { stream, data });
    const [u] = unitScores(net, taylor, 'l1'); // fc1 only: the classifier's units are the classes
    const s = taylor.get('fc1.weight')!;
    for (let j = 0; j < 4; j++) {
      let sum = 0;
      for (let i = 0; i < 5; i++) sum += s[i * 4 + j]!;
      expect(u!.scores[j]!).toBeCloseTo(sum, 5);
    }
    net.dispose();
  });
});
