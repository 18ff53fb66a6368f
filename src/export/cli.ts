/**
 * The `export` and `predict` subcommands (commander); tfjs is loaded only when they run.
 *
 *   bayesprune export <run dir> --point <criterion@sparsity | log-alpha | gates> [--format tfjs] --out DIR [--model NAME] [--no-compact]
 *   bayesprune predict <exported model dir> <IDX file | image folder> [--samples S] [--seed N] [--json]
 * @module
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { BACKEND_CHOICES, type BackendChoice } from '../backend-choices.js';

function wholeNumber(flag: string, min: number) {
  return (v: string): number => {
    if (!/^\s*\d+\s*$/.test(v) || Number(v) < min) throw new InvalidArgumentError(`${flag} takes a whole number ≥ ${min} (got "${v}")`);
    return Number(v);
  };
}

function backendOption(): Option {
  return new Option('--backend <NAME>', `tfjs backend (${BACKEND_CHOICES.join(', ')})`).choices([...BACKEND_CHOICES]);
}

/** Define `export` and `predict` on the program; they write to `out`. */
export function registerExportCommands(program: Command, out: { write(s: string): unknown } = process.stdout): void {
  program
    .command('export')
    .description("write a run's pruned posterior-mean network as a tfjs LayersModel, a sparse format and (Bayesian models) the variances")
    .argument('<run>', 'a finished run directory (results/<experiment>/<run-id>)')
    .requiredOption(
      '--point <POINT>',
      'operating point: criterion@sparsity (e.g. snr@0.9, as in the curves), log-alpha (log α ≥ pruning.logAlphaThreshold) or gates',
    )
    .requiredOption('--out <DIR>', 'output directory (model.json, weights.bin, sparse.*, posterior.*, export.json)')
    .addOption(new Option('--format <FORMAT>', 'output format').choices(['tfjs']).default('tfjs'))
    .option('--model <NAME>', 'which model of the run (default main; variants and companions by name)')
    .option('--no-compact', 'keep pruned units as zeros instead of removing them')
    .addOption(backendOption())
    .option('--json', 'print the summary as JSON')
    .action(
      async (run: string, opts: { point: string; out: string; format: 'tfjs'; model?: string; compact: boolean; backend?: BackendChoice; json?: boolean }) => {
        const { exportRun, parseExportPoint } = await import('./export.js');
        const point = parseExportPoint(opts.point);
        const { initBackend } = await import('../backend.js');
        await initBackend(opts.backend ?? 'cpu', 'flag');
        const s = await exportRun(run, { point, out: opts.out, model: opts.model, format: opts.format, compact: opts.compact });
        if (opts.json) {
          out.write(`${JSON.stringify(s, null, 2)}\n`);
          return;
        }
        const kb = (b: number) => `${(b / 1024).toFixed(1)} KiB`;
        out.write(
          [
            `exported ${s.model} (${s.method}) at ${s.point}: sparsity ${(100 * s.sparsity).toFixed(2)}%, ${s.params.nonzero} non-zero of ${s.params.before} weights`,
            s.compaction
              ? `compacted: ${s.params.exported} weight entries, MACs ${s.compaction.macsBefore} → ${s.compaction.macsAfter} (×${s.compaction.speedup.toFixed(2)})`
              : 'not compacted',
            `sizes of the exported (compacted) network: dense float32 ${kb(s.bytes.denseFloat32)}, LayersModel weights ${kb(s.bytes.layersModelWeights)}, sparse ${kb(s.bytes.sparse)}`,
            `posterior-mean accuracy on ${s.evaluation.split} (${s.evaluation.examples}): ${(100 * s.evaluation.accuracy).toFixed(2)}%; max |Δp| LayersModel vs framework ${s.evaluation.maxAbsProbDiff.toExponential(2)}`,
            ...(s.compression
              ? [
                  `Bayesian compression (bits from the posterior σ of kept weights): ${s.compression.layers.map((l) => `${l.name} ${l.bits} bits`).join(', ')}; quantized accuracy ${(100 * s.compression.accuracy.quantized).toFixed(2)}% (full ${(100 * s.compression.accuracy.full).toFixed(2)}%); ${kb(s.compression.bytes.quantizedSparse)} vs dense float32 ${kb(s.compression.bytes.denseFloat32)} (×${s.compression.compression.pruningAndPrecision.toFixed(1)}; pruning alone ×${s.compression.compression.pruningOnly.toFixed(1)})`,
                ]
              : []),
            `files in ${opts.out}: ${s.files.join(', ')}${s.bayesian ? ' (posterior.* hold the variances: predict gives uncertainty)' : ''}`,
          ].join('\n') + '\n',
        );
      },
    );

  program
    .command('predict')
    .description('predict with an exported model; a Bayesian export adds the MC predictive and its uncertainty (entropy, mutual information)')
    .argument('<model>', 'a directory written by bayesprune export')
    .argument('<images>', 'an IDX images file ([N, H, W] or [N, D]) or a folder of .png / .pgm images')
    .option('--samples <S>', 'Monte Carlo samples for a Bayesian export (0: mean only)', wholeNumber('--samples', 0), 30)
    .option('--seed <N>', 'seed of the Monte Carlo draws', wholeNumber('--seed', 0), 0)
    .option('--json', 'print the predictions as JSON')
    .addOption(backendOption())
    .action(async (model: string, images: string, opts: { samples: number; seed: number; json?: boolean; backend?: BackendChoice }) => {
      const { predictExport, readImages } = await import('./predict.js');
      const batch = readImages(images);
      const { initBackend } = await import('../backend.js');
      await initBackend(opts.backend ?? 'cpu', 'flag');
      const r = await predictExport(model, batch, { samples: opts.samples, seed: opts.seed });
      if (opts.json) {
        out.write(`${JSON.stringify(r, null, 2)}\n`);
        return;
      }
      const head =
        r.bayesian && r.samples > 0 ? `image\tlabel\tp\tmc_label\tmc_p\tentropy\tmutual_info   (MC predictive, ${r.samples} samples; nats)` : 'image\tlabel\tp';
      const lines = r.predictions.map((p) =>
        [
          p.name,
          p.label,
          p.probability.toFixed(4),
          ...(p.mc ? [p.mc.label, p.mc.probability.toFixed(4), p.mc.entropy.toFixed(4), p.mc.mutualInformation.toFixed(4)] : []),
        ].join('\t'),
      );
      out.write(`${[head, ...lines].join('\n')}\n`);
    });
}
