/**
 * bayesprune: Bayesian variational pruning on tfjs.
 *
 * The public API, grouped by the flow data → model → inference → posterior moments →
 * scores → masks → evaluation → report.
 * @module
 */
export { initBackend, backendInfo, BACKEND_CHOICES, type BackendChoice, type BackendInfo } from './backend.js';
export { RandomStream, rootStream, hashString } from './random.js';

// Data
export * from './data/index.js';

// Model
export type { Layer, ForwardOptions, WeightMoments } from './nn/layer.js';
export { Network, type MaskSet } from './nn/network.js';
export { Dense } from './nn/dense.js';
export { Activation, Flatten, Reshape, MaxPool2d, ACTIVATIONS } from './nn/activations.js';
export { buildNetwork, ARCHITECTURES, type ModelSpec, type LayerFactory } from './nn/builders.js';
export { initWeight, INITIALIZERS } from './nn/init.js';

// Bayesian layers and priors
export { LrtDense, type LrtDenseOptions } from './bayes/lrt-dense.js';
export * from './bayes/priors.js';

// Inference
export type { Posterior } from './inference/posterior.js';
export { NetworkPosterior } from './inference/network-posterior.js';
export { Trainer, meanAccuracy, type TrainOptions, type EpochStats, type TrainHooks } from './inference/trainer.js';
export { learningRate, klBeta, LR_SCHEDULES, type LrSchedule, type KlWarmup } from './inference/schedules.js';
export { getMethod, registerMethod, networkFor, type InferenceMethod, type FitContext, type FitResult } from './inference/methods.js';
export { pointFactory, meanFieldFactory } from './inference/layer-factories.js';

// Scores and pruning
export {
  getCriterion,
  registerCriterion,
  criterionNames,
  snrScores,
  negLogAlphaScores,
  magnitudeScores,
  type Criterion,
  type ScoreSet,
  type ScoreContext,
} from './scores/registry.js';
export { masksAtSparsity, masksAtThreshold, maskSparsity, PRUNING_SCOPES, type PruningScope } from './pruning/masks.js';

// Metrics and reports
export * from './metrics/index.js';
export * from './report/index.js';

// Experiments
export { loadConfig, validateConfig, parseOverrides, ConfigError, configSchema, type ExperimentConfig } from './experiment/config.js';
export { runExperiment, loadData, type RunOptions, type RunResult } from './experiment/run.js';
export { evaluatePosterior, predictSamples, type Evaluation } from './experiment/evaluate.js';
export { pruningCurves, accountSparsity, type CurveRow, type CurveOptions } from './experiment/curves.js';
// Offline HTML reports (report.html, summary.html, compare pages) from result directories
export { writeRunHtml, writeSweepHtml, writeCompareHtml, readRun, readSweep, type RunData, type SweepData } from './experiment/html-report.js';

// Export of pruned networks (tfjs LayersModel, sparse format, variances) and prediction
export { exportRun, parseExportPoint, type ExportOptions, type ExportPoint, type ExportSummary } from './export/export.js';
export { predictExport, loadExportedModel, loadExportedPosterior, type Prediction } from './export/predict.js';
export { readImages, decodePng, decodePgm, type ImageBatch } from './export/images.js';
export { saveTrainedModel, loadTrainedModel, STORABLE_METHODS } from './export/model-store.js';
export { compressionFigures, quantizeLayers, type CompressionFigures, type LayerPrecision } from './export/compression.js';
export { plainLayers, toLayersModel, sparseFormat, type PlainLayer, type SparseIndex } from './export/layers-model.js';
