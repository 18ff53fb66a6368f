/**
 * Evaluation metrics on plain typed arrays: accuracy and calibration (NLL,
 * Brier, ECE/MCE, reliability bins), predictive uncertainty from Monte Carlo
 * samples, OOD detection (AUROC, AUPR, FPR@95 %TPR), and sparsity, compression
 * and MAC accounting.
 * @module
 */
export * from './calibration.js';
export * from './uncertainty.js';
export * from './ood.js';
export * from './sparsity.js';
