/**
 * Bayesian model reduction (BMR; Friston & Penny 2011, "Post hoc Bayesian model selection";
 * Friston, Parr & Zeidman 2018) as a pruning criterion, as applied to network pruning by
 * Beckers, van Erp, Zhao, Kondrashov & de Vries (2023) and Marković, Friston & Kiebel (2023).
 *
 * With a Gaussian posterior q(w) = N(μ, s²) fitted under a prior p(w) = N(0, σ₀²), replacing the
 * prior by a reduced one p̃(w) = N(0, σ̃²) changes the log evidence (variational free energy) by
 *   ΔF = ln E_q[p̃(w) / p(w)]
 *      = ln(σ₀/σ̃) − ½ ln(1 + a s²) − a μ² / (2 (1 + a s²)),   a = 1/σ̃² − 1/σ₀²,
 * (a Gaussian integral), with no retraining. Pruning is the limit σ̃ → 0 (p̃ → δ(w)):
 *   ΔF₀ = ln q(0) − ln p(0) = ln(σ₀/s) − μ²/(2 s²).
 * ΔF₀ ≥ 0 means that removing the weight does not lower the evidence. BMR's own operating
 * point prunes a weight when the reduced model is favoured by at least m nats, ΔF₀ ≥ m, with m the
 * config's `pruning.bmr.margin`, by default {@link BMR_EVIDENCE_MARGIN} = 3 nats (a Bayes factor
 * ≥ e³ ≈ 20, "strong evidence" on the scale of Kass & Raftery 1995, 2 ln B ≥ 6); m = 0 is the rule
 * as stated, "prune every weight whose reduction does not lower the evidence", and is what a
 * Laplace posterior fitted under its own prior (`inference.laplace.mapPrior`) uses (see 2. below).
 * Why not ΔF₀ ≥ 0 by default: ΔF is exact for the posterior
 * q it is computed from, and under a mean-field (or diagonal Laplace) q the ΔF of pruning a set
 * of weights is exactly the sum of the single-weight ΔF — q holds no correlations, so the kept
 * weights of the reduced posterior do not move to make up for the pruned ones, which the true
 * posterior's would. Per weight the implied data-fit cost of removal is tiny while the Occam
 * factor ln(σ₀/s) is several nats, so ΔF₀ ≥ 0 prunes far more than the network can lose jointly
 * without retraining (measured on the quickstart's Gaussian-prior network: 88 % sparsity, −2.1
 * points; ΔF₀ ≥ 3: 59 %, −0.4; docs/guide.md). The criterion's score is m − ΔF₀ with m the
 * margin (higher = removing it costs more evidence = keep): it ranks exactly as −ΔF₀, and
 * `masksAtThreshold(scores, 0)` gives the operating point ΔF₀ ≥ m.
 *
 * Prior σ₀ per layer, in this order:
 * 1. a Gaussian prior N(0, σ²) declared by the layer (`vi` with `inference.prior.type: gaussian`);
 * 2. the prior precision λ of a Laplace posterior: σ₀ = λ^{−½}, with q = N(θ*, 1/P), P = H/T + λ, the
 *    posterior the predictive uses (its variance 1/P is what ΔF₀ is fed). By default θ* is the
 *    maximum-likelihood fit and λ comes post hoc from the validation grid, so q is not the posterior under
 *    N(0, 1/λ): on configs/laplace.yaml the grid's λ = 1000 is 165× MacKay's evidence-optimal precision of
 *    those weights and ΔF₀ ≥ 0 prunes 0.3 %. With `inference.laplace.mapPrior` the MAP is trained under
 *    N(0, 1/λ) and ΔF₀ ≥ 0 (`pruning.bmr.margin: 0`) is the rule as stated (configs/laplace-bmr.yaml; docs/guide.md has the
 *    measurements, including what it costs the posterior-mean network). Re-centring q at the mode under N(0, 1/λ),
 *    the Savage–Dickey form ½ ln(P/λ) − θ*²H²/(2P), was measured and rejected: with the flat
 *    diagonal GGN of a fit at 100 % training accuracy it ranks high-curvature weights first and
 *    kept 7.5 % accuracy at 50 % sparsity on configs/laplace.yaml; docs/guide.md.)
 * 3. otherwise (sparse VD's improper log-uniform prior, whose density at 0 is infinite, so
 *    ΔF₀ = −∞ for every weight and BMR would prune nothing; SWAG and SVGD, which carry no
 *    prior) an empirical-Bayes Gaussian surrogate: the layer's σ₀² maximizing the ELBO's prior
 *    term, σ₀² = mean over the layer of (μ² + s²) (the minimizer of Σ KL(N(μ, s²) ‖ N(0, σ₀²))).
 * @module
 */
import type { WeightMoments } from '../nn/layer.js';
import type { Posterior } from '../inference/posterior.js';
import type { Criterion, ScoreSet } from './registry.js';

/** ΔF = ln E_q[N(w; 0, σ̃²) / N(w; 0, σ₀²)] for q = N(μ, s²) (closed form; needs σ̃ > 0 and a s² > −1). */
export function bmrDeltaF(mu: number, s: number, sigma0: number, sigmaReduced: number): number {
  const a = 1 / (sigmaReduced * sigmaReduced) - 1 / (sigma0 * sigma0);
  const d = 1 + a * s * s;
  return Math.log(sigma0 / sigmaReduced) - 0.5 * Math.log(d) - (a * mu * mu) / (2 * d);
}

/** ΔF₀ = lim_{σ̃→0} ΔF = ln(σ₀/s) − μ²/(2s²): the evidence change of pruning the weight (setting it to 0). */
export function bmrDeltaFPrune(mu: number, s: number, sigma0: number): number {
  return Math.log(sigma0 / s) - (mu * mu) / (2 * s * s);
}

/** The default margin of BMR's operating point (`pruning.bmr.margin`): prune when ΔF₀ ≥ this many nats (ln Bayes factor; "strong evidence"; see the module comment). */
export const BMR_EVIDENCE_MARGIN = 3;

/** How σ₀ of a layer was found (see the module comment). */
export type BmrPriorSource = 'gaussian-prior' | 'laplace-prior-precision' | 'empirical-bayes';

/** σ₀ of one weight tensor of `posterior`, and where it came from. */
export function bmrPriorSigma(posterior: Posterior, m: WeightMoments): { sigma0: number; source: BmrPriorSource } {
  const layer = posterior.network.weightLayers().find((l) => l.name === m.layer) as { prior?: { type: string; sigma?: number } } | undefined;
  if (layer?.prior?.type === 'gaussian' && typeof layer.prior.sigma === 'number') return { sigma0: layer.prior.sigma, source: 'gaussian-prior' };
  const lambda = (posterior as { priorPrecision?: unknown }).priorPrecision;
  if (typeof lambda === 'number' && lambda > 0) return { sigma0: 1 / Math.sqrt(lambda), source: 'laplace-prior-precision' };
  let s = 0;
  let n = 0;
  for (let i = 0; i < m.mean.length; i++) {
    if (m.variance[i]! <= 0 && m.mean[i] === 0) continue; // masked
    s += m.mean[i]! * m.mean[i]! + m.variance[i]!;
    n++;
  }
  return { sigma0: Math.sqrt(n > 0 ? s / n : 1), source: 'empirical-bayes' };
}

/**
 * Scores `margin` − ΔF₀ per weight (higher = keep; `masksAtThreshold(scores, 0)` prunes ΔF₀ ≥ margin); weights with zero
 * variance score 3e38 when μ ≠ 0 (pruning them is infinitely costly) and −3e38 when μ = 0 (q = δ(0): already pruned, ΔF₀ = +∞).
 */
export function bmrScores(posterior: Posterior, margin = BMR_EVIDENCE_MARGIN): ScoreSet {
  const out: ScoreSet = new Map();
  for (const m of posterior.moments()) {
    const { sigma0 } = bmrPriorSigma(posterior, m);
    const sc = new Float32Array(m.mean.length);
    for (let i = 0; i < sc.length; i++) {
      const v = m.variance[i]!;
      const mu = m.mean[i]!;
      sc[i] = v > 0 ? margin - bmrDeltaFPrune(mu, Math.sqrt(v), sigma0) : mu === 0 ? -3e38 : 3e38;
    }
    out.set(m.name, sc);
  }
  return out;
}

/** The `bmr` criterion (registered in registry.ts). */
export function bmrCriterion(): Criterion {
  return {
    name: 'bmr',
    description: `Bayesian model reduction: evidence lost by shrinking the weight’s Gaussian prior to 0, −ΔF = μ²/(2s²) − ln(σ₀/s); own operating point prunes every weight with ΔF ≥ pruning.bmr.margin (default ${BMR_EVIDENCE_MARGIN} nats, strong evidence for the reduced model)`,
    needsVariance: true,
    needsData: false,
    compute: (p) => {
      if (p.moments().every((m) => m.variance.every((v) => v === 0))) {
        throw new Error(`criterion "bmr" needs posterior variances, but the "${p.method}" posterior is a point estimate (all variances are 0)`);
      }
      return bmrScores(p);
    },
  };
}
