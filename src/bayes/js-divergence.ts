/**
 * The skew geometric Jensen–Shannon divergence as the regularizer of variational
 * inference (Thiagarajan & Ghosh 2023, "Jensen–Shannon divergence based novel loss
 * functions for Bayesian neural networks"), config `inference.divergence`:
 *
 *   { type: kl }                       (default) loss = NLL + T·KL(q ‖ p), the ELBO
 *   { type: js-geometric, alpha: α }   loss = NLL + T·JS^Gα(q ‖ p)
 *
 * Checked against the authors' released implementation (github.com/ponkrshnan/JS_BNNs,
 * bnn_metrics.py, the JS-G loss; read, not copied): the same skew (the geometric mean weights
 * the posterior by α, so α = 0 is KL(q ‖ p)), the same per-weight closed form, and the loss
 * NLL + λ·JS^Gα / (batches per epoch), i.e. our KL weighting with λ (their released config:
 * λ = 1, α = 0.2249). UQpy's geometric_jensen_shannon_divergence has the same convention.
 * Equation numbers of the paper are not cited: only its abstract was available here to check
 * them against.
 *
 * Definition (q the factorized Gaussian posterior, p the prior, α ∈ [0, 1]):
 *
 *   G_α(w) = q(w)^α p(w)^(1−α) / Z_α,  Z_α = ∫ q^α p^(1−α) dw    (normalized weighted geometric mean)
 *   JS^Gα(q ‖ p) = (1 − α)·KL(q ‖ G_α) + α·KL(p ‖ G_α)
 *
 * This is the skewed form of Thiagarajan & Ghosh: the geometric mean weights q by α and
 * p by 1 − α, the opposite of the KL weights (Nielsen's 2019 JS^Gα uses equal weights, and
 * is 0 at α = 0). With this skew the two ends are the two KL directions:
 *
 *   α = 0: G_0 = p, JS = KL(q ‖ p)       the KL ELBO exactly (the special case; tested)
 *   α = 1: G_1 = q, JS = KL(p ‖ q)       the reverse KL
 *
 * Closed form for a Gaussian prior (per weight; q = N(μ, σ²), p = N(m, s²), here m = 0).
 * A product of Gaussian densities raised to powers is Gaussian: log q^α p^(1−α) is a
 * quadratic in w with coefficient −½(α/σ² + (1−α)/s²), so
 *
 *   G_α = N(μ_G, σ_G²),  λ_G = 1/σ_G² = α/σ² + (1 − α)/s²,  μ_G = σ_G²·(α μ/σ² + (1 − α) m/s²).
 *
 * With KL(N(a, A) ‖ N(b, B)) = ½[log(B/A) + (A + (a − b)²)/B − 1]:
 *
 *   (1−α)·KL(q ‖ G) = ½(1−α)[log σ_G² − log σ² + λ_G(σ² + (μ − μ_G)²) − 1]
 *   α·KL(p ‖ G)     = ½α[log σ_G² − log s² + λ_G(s² + (m − μ_G)²) − 1]
 *
 * and their sum
 *
 *   JS^Gα = ½[−log λ_G − (1−α) log σ² − α log s² + λ_G((1−α)σ² + α s²) + λ_G((1−α)(μ − μ_G)² + α(m − μ_G)²) − 1].
 *
 * Since μ − μ_G = (1−α)(μ − m)/(s² λ_G) and m − μ_G = α(m − μ)/(σ² λ_G), the mean term is
 * (μ − m)²·((1−α)³/s⁴ + α³/σ⁴)/λ_G. At α = 0: λ_G = 1/s², μ_G = m and the sum is
 * ½[log s² − log σ² + (σ² + (μ − m)²)/s² − 1] = KL(q ‖ p), the closed form of
 * `klGaussian` in priors.ts.
 *
 * Other priors, by Monte Carlo (the paper's route for non-Gaussian priors). With
 * log G = α log q + (1−α) log p − log Z_α, for any proper p:
 *
 *   JS^Gα = (1−α)²·KL(q ‖ p) + α²·KL(p ‖ q) + log Z_α,   Z_α = ∫ q^α p^(1−α) = E_q[(p/q)^(1−α)] ≤ 1
 *
 * (checked against the closed form above for a Gaussian p, and against quadrature for the
 * scale mixture; tested). `jsGeometricMC` estimates it per weight for the scale-mixture prior
 * p = π N(0, σ1²) + (1−π) N(0, σ2²):
 *   - KL(q ‖ p): one reparameterized draw w = μ + σε per weight, log q(w) − log p(w)
 *     (unbiased; the estimator of `klScaleMixtureMC`);
 *   - KL(p ‖ q) = E_p[log p] − E_p[log q]: E_p[log q] in closed form (E_p w = 0,
 *     E_p w² = π σ1² + (1−π) σ2²), E_p[log p] = −H(p) a constant of the prior (float64
 *     quadrature, no gradient);
 *   - log Z_α: importance sampling from r = ½q + ½p, `samples` draws from each per weight (the
 *     q draws reparameterized), weights q^α p^(1−α) / r ≤ 2 (weighted AM-GM), log of their
 *     mean. Z_α's estimate is unbiased and its log consistent, biased low by about
 *     Var/(2·2·samples·Z²) (Jensen); more samples, less bias.
 *   At α = 0 the estimate is exactly KL(q ‖ p)'s (log Z_0 = log ∫p = 0 and the α² term vanish).
 * The log-uniform prior is improper (KL(p ‖ G_α) is infinite for α > 0): `js-geometric` is
 * refused for it with a config error.
 * It is also refused for methods other than `vi`, whose layers have no factorized
 * Gaussian posterior with this regularizer.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { klScaleMixtureMC, klTerm, logScaleMixture, type PriorSpec } from './priors.js';

/** `inference.divergence`: the ELBO's KL (default) or the skew geometric JS divergence with skew α ∈ [0, 1]. */
export const divergenceSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('kl') }).strict(),
  z
    .object({
      type: z.literal('js-geometric'),
      /** Skew α: 0 = KL(q ‖ p) (the ELBO), 1 = KL(p ‖ q). */
      alpha: z.number().finite().min(0).max(1).default(0.5),
      /** Draws per weight from each of q and the prior for log Z_α in the Monte Carlo estimate (scale-mixture prior; default 4; the Gaussian prior uses the closed form). */
      samples: z.number().int().min(1).max(64).optional(),
    })
    .strict(),
]);

export type DivergenceSpec = { type: 'kl' } | { type: 'js-geometric'; alpha: number; samples?: number };

export const KL_DIVERGENCE: DivergenceSpec = { type: 'kl' };

/**
 * JS^Gα(N(μ, σ²) ‖ N(0, s²)) summed over the weights, closed form (module comment).
 * Differentiable in μ and log σ² by autodiff.
 */
export function jsGeometricGaussian(mu: tf.Tensor, logSigma2: tf.Tensor, s: number, alpha: number): tf.Scalar {
  if (!(alpha >= 0 && alpha <= 1)) throw new Error(`js-geometric: alpha must be in [0, 1], got ${alpha}`);
  const s2 = s * s;
  const a = alpha;
  return tf.tidy(() => {
    const invVar = tf.exp(tf.neg(logSigma2)); // 1/σ²
    const lambda = tf.add(tf.mul(invVar, a), (1 - a) / s2); // λ_G
    const muG = tf.div(tf.mul(tf.mul(mu, invVar), a), lambda); // prior mean m = 0
    const sigma2 = tf.exp(logSigma2);
    const t1 = tf.neg(tf.log(lambda));
    const t2 = tf.mul(logSigma2, -(1 - a));
    const t3 = tf.mul(lambda, tf.add(tf.mul(sigma2, 1 - a), a * s2));
    const t4 = tf.mul(lambda, tf.add(tf.mul(tf.square(tf.sub(mu, muG)), 1 - a), tf.mul(tf.square(muG), a)));
    const perWeight = tf.add(tf.add(t1, t2), tf.add(t3, t4));
    // ½[Σ(...) − n(α log s² + 1)]
    return tf.mul(tf.sub(tf.sum(perWeight), mu.size * (a * Math.log(s2) + 1)), 0.5) as tf.Scalar;
  });
}

/** The configured regularizer of a factorized Gaussian posterior (μ, log σ²) against `prior`, summed over the weights given. */
export function divergenceTerm(divergence: DivergenceSpec, prior: PriorSpec, mu: tf.Tensor, logSigma2: tf.Tensor, seed?: number): tf.Scalar {
  if (divergence.type === 'kl') return klTerm(prior, mu, logSigma2, seed);
  if (prior.type === 'gaussian') return jsGeometricGaussian(mu, logSigma2, prior.sigma, divergence.alpha);
  if (prior.type === 'scale-mixture') {
    if (seed === undefined) throw new Error('js-geometric with the scale-mixture prior is a Monte Carlo estimate: a seed is required');
    return jsGeometricMC(mu, logSigma2, prior, divergence.alpha, divergence.samples ?? 4, seed);
  }
  throw new Error(divergenceRule(prior.type));
}

function divergenceRule(priorType: string): string {
  return `inference.divergence "js-geometric" needs a proper prior: gaussian (closed form) or scale-mixture (Monte Carlo); got prior "${priorType}" (improper)`;
}

const entropyCache = new Map<string, number>();

/** H(p) of the scale mixture π N(0, s1²) + (1−π) N(0, s2²) in float64, by the trapezoid rule over ±12 of the wider σ. */
export function scaleMixtureEntropy(pi: number, s1: number, s2: number): number {
  const key = `${pi}/${s1}/${s2}`;
  const hit = entropyCache.get(key);
  if (hit !== undefined) return hit;
  const sMax = Math.max(s1, s2);
  const sMin = Math.min(s1, s2);
  // Fine enough for the narrow component: at least 40 steps per its σ.
  const n = Math.min(4_000_001, Math.max(20_001, Math.ceil((24 * sMax) / (sMin / 40)) + 1));
  const h = (24 * sMax) / (n - 1);
  const ln = (w: number, s: number) => -0.5 * (w / s) ** 2 - Math.log(s) - 0.5 * Math.log(2 * Math.PI);
  let acc = 0;
  for (let i = 0; i < n; i++) {
    const w = -12 * sMax + i * h;
    const a = Math.log(pi) + ln(w, s1);
    const b = Math.log(1 - pi) + ln(w, s2);
    const m = Math.max(a, b);
    const lp = m + Math.log(Math.exp(a - m) + Math.exp(b - m));
    acc += (i === 0 || i === n - 1 ? 0.5 : 1) * Math.exp(lp) * lp;
  }
  const H = -acc * h;
  entropyCache.set(key, H);
  return H;
}

/**
 * Monte Carlo JS^Gα(N(μ, σ²) ‖ scale mixture) summed over the weights (module comment):
 * (1−α)²·KL(q ‖ p) + α²·KL(p ‖ q) + log Z_α with one draw for KL(q ‖ p), KL(p ‖ q) in closed
 * form up to the prior's entropy, and `samples` draws per weight from each of q and p for log Z_α. Differentiable
 * in μ and log σ² (reparameterization).
 */
export function jsGeometricMC(
  mu: tf.Tensor,
  logSigma2: tf.Tensor,
  prior: { pi: number; sigma1: number; sigma2: number },
  alpha: number,
  samples: number,
  seed: number,
): tf.Scalar {
  if (!(alpha >= 0 && alpha <= 1)) throw new Error(`js-geometric: alpha must be in [0, 1], got ${alpha}`);
  const { pi, sigma1: s1, sigma2: s2 } = prior;
  const a = alpha;
  return tf.tidy(() => {
    const m = tf.reshape(mu, [1, -1]);
    const ls = tf.reshape(logSigma2, [1, -1]);
    const n = m.shape[1]!;
    const sigma = tf.exp(tf.mul(ls, 0.5));
    // KL(q ‖ p), one draw per weight (klScaleMixtureMC's estimator).
    const klQP = klScaleMixtureMC(m, ls, pi, s1, s2, seed);
    let total = tf.mul(klQP, (1 - a) ** 2) as tf.Scalar;
    if (a > 0) {
      // KL(p ‖ q) = −H(p) − E_p[log q],  −E_p[log q] = ½ log 2π + ½ log σ² + (E_p w² + μ²)/(2σ²).
      const m2 = pi * s1 * s1 + (1 - pi) * s2 * s2;
      const negEpLogq = tf.add(tf.mul(ls, 0.5), tf.div(tf.add(tf.square(m), m2), tf.mul(tf.exp(ls), 2)));
      const klPQ = tf.sub(tf.sum(negEpLogq), n * (scaleMixtureEntropy(pi, s1, s2) - 0.5 * Math.log(2 * Math.PI)));
      total = tf.add(total, tf.mul(klPQ, a * a)) as tf.Scalar;
    }
    if (a > 0 && a < 1) {
      // log Z_α by importance sampling from r = ½q + ½p with `samples` draws from each of q and p
      // per weight (balance heuristic, unbiased for Z_α): weights f/r with f = q^α p^(1−α) are at
      // most 2·max(α, 1−α) (weighted AM-GM: f ≤ αq + (1−α)p), so their variance is finite; drawing
      // from q alone gives (p/q)^(1−α), whose variance is infinite for a posterior much narrower
      // than the prior.
      const epsQ = tf.randomNormal([samples, n], 0, 1, 'float32', (seed ^ 0x2545f491) >>> 0); // not the KL(q ‖ p) draw
      const wQ = tf.add(m, tf.mul(sigma, epsQ));
      const comp = tf.less(tf.randomUniform([samples, n], 0, 1, 'float32', (seed ^ 0x68e31da4) >>> 0), pi);
      const wP = tf.mul(
        tf.randomNormal([samples, n], 0, 1, 'float32', (seed ^ 0x1b56c4e9) >>> 0),
        tf.where(comp, tf.fill([samples, n], s1), tf.fill([samples, n], s2)),
      );
      const w = tf.concat([wQ, wP], 0);
      const logq = tf.sub(tf.mul(ls, -0.5), tf.add(tf.div(tf.square(tf.sub(w, m)), tf.mul(tf.exp(ls), 2)), 0.5 * Math.log(2 * Math.PI)));
      const logp = logScaleMixture(w, pi, s1, s2);
      const logf = tf.add(tf.mul(logq, a), tf.mul(logp, 1 - a));
      const hi = tf.maximum(logq, logp);
      const logr = tf.sub(tf.add(hi, tf.log(tf.add(tf.exp(tf.sub(logq, hi)), tf.exp(tf.sub(logp, hi))))), Math.log(2));
      const logZ = tf.sub(tf.logSumExp(tf.sub(logf, logr), 0), Math.log(2 * samples));
      total = tf.add(total, tf.sum(logZ)) as tf.Scalar;
    }
    return total;
  });
}

/** Cross-field check of `inference.divergence` against the method and prior (used by the config validator). */
export function divergenceIssues(c: {
  inference: { method: string; prior: { type: string }; divergence: DivergenceSpec };
}): { path: string; message: string }[] {
  const d = c.inference.divergence;
  if (d.type === 'kl') return [];
  const out: { path: string; message: string }[] = [];
  if (c.inference.method !== 'vi')
    out.push({ path: 'inference.divergence', message: `"js-geometric" is used by inference.method vi only (got "${c.inference.method}")` });
  if (c.inference.prior.type !== 'gaussian' && c.inference.prior.type !== 'scale-mixture')
    out.push({ path: 'inference.divergence', message: divergenceRule(c.inference.prior.type) });
  return out;
}

/** Sets the regularizer of every layer of `layers` that has one (the mean-field layers). */
export function applyDivergence(layers: readonly object[], divergence: DivergenceSpec): void {
  for (const l of layers) if ('divergence' in l) (l as { divergence: DivergenceSpec }).divergence = divergence;
}
