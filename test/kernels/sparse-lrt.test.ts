import { describe, expect, it } from 'vitest';
import { WASM_MODULES, committedSource, compileWat, generatedSource } from '../../src/kernels/build.js';
import { sparseLrtModule, WasmArena } from '../../src/kernels/sparse-lrt.js';
import { RandomStream } from '../../src/random.js';

const mod = WASM_MODULES.find((m) => m.wat === 'sparse-lrt.wat')!;

/** Brute-force float64 reference of one layer in the transposed layout (dense weights with zeros for the pruned ones). */
function reference(h: number[][], h2: number[][], W: number[][], V: number[][], bias: number[], eps: number[][] | null, mode: 0 | 1 | 2, relu: boolean) {
  const K = W.length;
  const N = bias.length;
  const R = h[0]!.length;
  const out: number[][] = [];
  const out2: number[][] = [];
  for (let n = 0; n < N; n++) {
    out.push([]);
    out2.push([]);
    for (let r = 0; r < R; r++) {
      let mu = bias[n]!;
      let v = 0;
      for (let k = 0; k < K; k++) {
        mu += W[k]![n]! * h[k]![r]!;
        v += V[k]![n]! * h2[k]![r]!;
      }
      if (mode === 0) {
        out[n]!.push(mu);
        out2[n]!.push(v);
        continue;
      }
      let x = mode === 1 ? mu + Math.sqrt(v + 1e-8) * eps![n]![r]! : mu;
      if (relu) x = Math.max(0, x);
      out[n]!.push(x);
      out2[n]!.push(x * x);
    }
  }
  return { out, out2 };
}

describe('sparse LRT evaluation module (src/kernels/sparse-lrt.wat)', () => {
  it('the committed bytes are a fresh compile of sparse-lrt.wat (npm run build:wasm)', async () => {
    expect(committedSource(mod)).toBe(generatedSource(await compileWat(mod), mod));
  });

  // R = 20: one 16-example tile and one 4-example tail; K = 7 inputs, N = 5 outputs, column 3 with no kept weight.
  for (const [mode, relu] of [
    [0, false],
    [1, true],
    [1, false],
    [2, true],
  ] as const)
    it(`layer mode ${mode}${relu ? ' with ReLU' : ''} equals a brute-force loop over the kept weights`, () => {
      const m = sparseLrtModule()!;
      expect(m).not.toBeNull();
      const A = new WasmArena(m);
      const s = new RandomStream(`sparse-lrt-${mode}-${relu}`);
      const K = 7;
      const N = 5;
      const R = 20;
      const h = Array.from({ length: K }, () => Array.from({ length: R }, () => Math.fround(s.uniform() * 2 - 1)));
      const h2 = h.map((row) => row.map((x) => Math.fround(x * x)));
      const keep = Array.from({ length: K }, (_, k) => Array.from({ length: N }, (_, n) => n !== 3 && s.uniform() < 0.6 && !(k === 0 && n === 0)));
      const W = keep.map((row) => row.map((kp) => (kp ? Math.fround(s.uniform() * 2 - 1) : 0)));
      const V = keep.map((row) => row.map((kp) => (kp ? Math.fround(s.uniform() * 0.5) : 0)));
      const bias = Array.from({ length: N }, () => Math.fround(s.uniform() - 0.5));
      const eps = Array.from({ length: N }, () => Array.from({ length: R }, () => Math.fround(s.normal())));
      // CSC, rows in increasing order.
      const colPtr = [0];
      const rowIdx: number[] = [];
      const th: number[] = [];
      const s2: number[] = [];
      for (let n = 0; n < N; n++) {
        for (let k = 0; k < K; k++)
          if (keep[k]![n]) {
            rowIdx.push(k);
            th.push(W[k]![n]!);
            s2.push(V[k]![n]!);
          }
        colPtr.push(rowIdx.length);
      }
      const put = (a: number[], int = false) => {
        const p = A.alloc(Math.max(1, a.length));
        (int ? A.i32 : A.f32).set(a, p / 4);
        return p;
      };
      const hp = put(h.flat());
      const h2p = put(h2.flat());
      const epsp = put(eps.slice().reverse().flat());
      // ε rows in reverse order in memory: the kernel must follow epsRow, not assume a layout.
      const epsRows = put(
        Array.from({ length: N }, (_, n) => epsp + (N - 1 - n) * R * 4),
        true,
      );
      const out = A.alloc(N * R);
      const out2 = A.alloc(N * R);
      m.layer(hp, h2p, R, put(colPtr, true), put(rowIdx, true), put(th), put(s2), put(bias), N, epsRows, out, out2, mode, relu ? 1 : 0);
      const want = reference(h, h2, W, V, bias, eps, mode, relu);
      let worst = 0;
      for (let n = 0; n < N; n++)
        for (let r = 0; r < R; r++) {
          worst = Math.max(worst, Math.abs(A.f32[out / 4 + n * R + r]! - want.out[n]![r]!));
          worst = Math.max(worst, Math.abs(A.f32[out2 / 4 + n * R + r]! - want.out2[n]![r]!));
        }
      expect(worst).toBeLessThan(2e-6);
      // The empty column: μ = bias (mode 0: v = 0).
      if (mode === 0) expect(A.f32[out / 4 + 3 * R + 5]).toBe(bias[3]);
    });

  it('expand draws every sample from the first layer moments: μ + √(v + 1e-8)·ε, ReLU, squares', () => {
    const m = sparseLrtModule()!;
    const A = new WasmArena(m);
    const s = new RandomStream('sparse-lrt-expand');
    const N = 3;
    const mm = 8;
    const S = 4;
    const mu = Array.from({ length: N * mm }, () => Math.fround(s.uniform() * 2 - 1));
    const v = Array.from({ length: N * mm }, () => Math.fround(s.uniform() * 0.3));
    const eps = Array.from({ length: N * S * mm }, () => Math.fround(s.normal()));
    const mup = A.alloc(mu.length);
    const vp = A.alloc(v.length);
    const ep = A.alloc(eps.length);
    A.f32.set(mu, mup / 4);
    A.f32.set(v, vp / 4);
    A.f32.set(eps, ep / 4);
    const rows = A.alloc(N);
    for (let n = 0; n < N; n++) A.i32[rows / 4 + n] = ep + n * S * mm * 4;
    const out = A.alloc(N * S * mm);
    const out2 = A.alloc(N * S * mm);
    m.expand(mup, vp, mm, N, S, rows, out, out2, 1);
    for (let n = 0; n < N; n++)
      for (let k = 0; k < S; k++)
        for (let i = 0; i < mm; i++) {
          const x = Math.max(0, mu[n * mm + i]! + Math.sqrt(v[n * mm + i]! + 1e-8) * eps[n * S * mm + k * mm + i]!);
          const got = A.f32[out / 4 + n * S * mm + k * mm + i]!;
          expect(Math.abs(got - x)).toBeLessThan(1e-6);
          expect(Math.abs(A.f32[out2 / 4 + n * S * mm + k * mm + i]! - x * x)).toBeLessThan(1e-6);
        }
  });

  it('the arena grows the memory and re-makes its views', () => {
    const A = new WasmArena(sparseLrtModule()!);
    const before = A.mod.memory.buffer.byteLength;
    const p = A.alloc(before); // 4 bytes per entry: four times the memory there was
    A.f32[p / 4 + before - 1] = 7;
    expect(A.mod.memory.buffer.byteLength).toBeGreaterThan(before * 4);
    expect(A.f32[p / 4 + before - 1]).toBe(7);
  });
});
