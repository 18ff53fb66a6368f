/**
 * The skew geometric Jensen–Shannon divergence as the regularizer of variational
 * inference (Thiagarajan & Ghosh 2023, "Jensen–Shannon divergence based novel loss
 * functions for Bayesian neural networks"), config `inference.divergence`:
 *
 *   { type: kl }                       (default) loss = NLL + T·KL(q ‖ p), the ELBO
 *   { type: js-geometric, alpha: α }   loss = NLL + T·JS^Gα(q ‖ p)
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
 * Other priors: the log-uniform prior is improper (KL(p ‖ G) is infinite for α > 0), and
 * for the scale mixture Z_α has no closed form; a Monte Carlo estimate of log Z_α is biased,
 * so `js-geometric` is refused for them with a config error (use `prior: {type: gaussian}`).
 * (For any p, log G = α log q + (1−α) log p − log Z_α gives
 * JS^Gα = (1−α)²·KL(q ‖ p) + α²·KL(p ‖ q) + log Z_α, Z_α = E_q[(p/q)^(1−α)] ≤ 1: the
 * route for a sampled estimate, not implemented.)
 * It is also refused for methods other than `vi`, whose layers have no factorized
 * Gaussian posterior with this regularizer.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { klTerm, type PriorSpec } from './priors.js';

/** `inference.divergence`: the ELBO's KL (default) or the skew geometric JS divergence with skew α ∈ [0, 1]. */
export const divergenceSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('kl') }).strict(),
  z
    .object({
      type: z.literal('js-geometric'),
      /** Skew α: 0 = KL(q ‖ p) (the ELBO), 1 = KL(p ‖ q). */
      alpha: z.number().finite().min(0).max(1).default(0.5),
    })
    .strict(),
]);

export type DivergenceSpec = { type: 'kl' } | { type: 'js-geometric'; alpha: number };

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
  if (prior.type !== 'gaussian') throw new Error(divergenceRule(prior.type));
  return jsGeometricGaussian(mu, logSigma2, prior.sigma, divergence.alpha);
}

function divergenceRule(priorType: string): string {
  return `inference.divergence "js-geometric" has a closed form for the Gaussian prior only (got prior "${priorType}"); use inference.prior: {type: gaussian}`;
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
  if (c.inference.prior.type !== 'gaussian') out.push({ path: 'inference.divergence', message: divergenceRule(c.inference.prior.type) });
  return out;
}

/** Sets the regularizer of every layer of `layers` that has one (the mean-field layers). */
export function applyDivergence(layers: readonly object[], divergence: DivergenceSpec): void {
  for (const l of layers) if ('divergence' in l) (l as { divergence: DivergenceSpec }).divergence = divergence;
}
