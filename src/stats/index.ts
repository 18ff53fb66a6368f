/**
 * Statistics a paper can quote: descriptive statistics with Student-t confidence intervals,
 * paired comparisons over seeds (t interval and exact Wilcoxon signed-rank test), Pareto fronts.
 * @module
 */
export { describe, mean, present, sampleStd, tCritical, type Description } from './describe.js';
export { incompleteBeta, logGamma, tCdf, tQuantile } from './t.js';
export { averageRanks, wilcoxonSignedRank, type WilcoxonResult } from './wilcoxon.js';
export { pairedDifference, type PairedResult } from './paired.js';
export { dominates, paretoFront, type Objective } from './pareto.js';
