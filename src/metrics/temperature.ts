/**
 * Temperature scaling (Guo, Pleiss, Sun & Weinberger 2017): one scalar T > 0 divides
 * the logits, p = softmax(z / T), fitted by minimizing the mean NLL on a held-out
 * (validation) split. It leaves the argmax, hence accuracy, unchanged.
 *
 * The NLL is convex in the inverse temperature β = 1/T (log-sum-exp of a linear
 * function of β minus a linear term), so a golden-section search on β over a wide
 * bracket finds the global optimum.
 * @module
 */

/** Mean NLL (nats) of softmax(β·z) on an n×k logit table. */
export function nllAtInverseTemperature(logits: ArrayLike<number>, labels: ArrayLike<number>, beta: number): number {
  const n = labels.length;
  const k = logits.length / n;
  let s = 0;
  for (let i = 0; i < n; i++) {
    const o = i * k;
    let m = -Infinity;
    for (let j = 0; j < k; j++) m = Math.max(m, beta * logits[o + j]!);
    let z = 0;
    for (let j = 0; j < k; j++) z += Math.exp(beta * logits[o + j]! - m);
    s += m + Math.log(z) - beta * logits[o + labels[i]!]!;
  }
  return s / n;
}

/** Softmax(z / T) of an n×k logit table, as float32 probabilities. */
export function softmaxWithTemperature(logits: ArrayLike<number>, k: number, temperature: number): Float32Array {
  const n = logits.length / k;
  const out = new Float32Array(logits.length);
  for (let i = 0; i < n; i++) {
    const o = i * k;
    let m = -Infinity;
    for (let j = 0; j < k; j++) m = Math.max(m, logits[o + j]! / temperature);
    let z = 0;
    for (let j = 0; j < k; j++) z += Math.exp(logits[o + j]! / temperature - m);
    for (let j = 0; j < k; j++) out[o + j] = Math.exp(logits[o + j]! / temperature - m) / z;
  }
  return out;
}

/**
 * The temperature T minimizing the validation NLL of softmax(z / T), searched over
 * T ∈ [0.01, 100] (golden section on β = 1/T, 1e-7 relative tolerance).
 */
export function fitTemperature(logits: ArrayLike<number>, labels: ArrayLike<number>): { temperature: number; nll: number; nllBefore: number } {
  const n = labels.length;
  if (n === 0) throw new Error('temperature: no validation examples');
  if (logits.length % n !== 0) throw new Error(`temperature: logits length ${logits.length} is not a multiple of ${n} labels`);
  const f = (b: number) => nllAtInverseTemperature(logits, labels, b);
  const g = (Math.sqrt(5) - 1) / 2;
  let a = 0.01;
  let b = 100;
  let c = b - g * (b - a);
  let d = a + g * (b - a);
  let fc = f(c);
  let fd = f(d);
  while (b - a > 1e-7 * (Math.abs(a) + Math.abs(b))) {
    if (fc <= fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - g * (b - a);
      fc = f(c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + g * (b - a);
      fd = f(d);
    }
  }
  const beta = (a + b) / 2;
  return { temperature: 1 / beta, nll: f(beta), nllBefore: f(1) };
}
