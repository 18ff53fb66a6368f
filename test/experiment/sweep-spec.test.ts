import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, validateConfig } from '../../src/experiment/config.js';
import { canonicalJson, expandValues, hashOf, pointLabel, randomTrials } from '../../src/experiment/sweep-spec.js';
import { configDiff, parseShard, runSweep, SweepError, sweepPoints } from '../../src/experiment/sweep.js';
import { createHash } from 'node:crypto';

const base = {
  experiment: 'sw',
  backend: 'cpu',
  data: { name: 'blobs' },
  model: { arch: 'mlp', hidden: [8] },
  train: { epochs: 1, batchSize: 50 },
  eval: { samples: 2 },
  pruning: { criteria: ['snr', 'random'], sparsities: [0, 0.5] },
};

const issuesOf = (f: () => unknown): string[] => {
  try {
    f();
  } catch (e) {
    if (e instanceof ConfigError) return e.issues.map((i) => `${i.path}: ${i.message}`);
    throw e;
  }
  throw new Error('expected a ConfigError');
};

describe('sweep spec', () => {
  it('gives values that print alike different labels (issue 9, defect 1)', () => {
    const pts = sweepPoints(validateConfig({ ...base, sweep: { description: ['a b', 'a/b', 'a_b'] } }));
    const labels = pts.map((p) => p.label);
    expect(new Set(labels).size).toBe(3);
    for (const l of labels) expect(l).toMatch(/^[A-Za-z0-9_-][A-Za-z0-9._-]*$/);
    expect(labels.join(' ')).not.toContain('..');
    // Label = readable prefix + first 8 hex of SHA-256 of the canonical JSON of the values.
    for (const p of pts)
      expect(p.label.slice(-8)).toBe(
        createHash('sha256')
          .update(JSON.stringify({ description: p.values.description }))
          .digest('hex')
          .slice(0, 8),
      );
    expect(pts.map((p) => p.config.description)).toEqual(['a b', 'a/b', 'a_b']);
    // The resolved-config hash is SHA-256 of the canonical JSON (keys sorted at every level) of the config the point runs with.
    expect(pts[0]!.configHash).toBe(
      createHash('sha256')
        .update(canonicalJson({ ...pts[0]!.config, experiment: pts[0]!.label }))
        .digest('hex'),
    );
  });

  it('canonical JSON sorts keys at every level, so equal values hash alike', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 3 }], c: 'q' } })).toBe('{"a":{"c":"q","d":[1,{"x":3,"y":2}]},"b":1}');
    expect(hashOf({ a: 1, b: 2 })).toBe(hashOf({ b: 2, a: 1 }));
    expect(pointLabel({ x: 1, y: 2 })).not.toBe(pointLabel({ x: 2, y: 1 }));
  });

  it('expands grid (first key outermost) × zip × seeds (innermost), each point validated', () => {
    const cfg = validateConfig({
      ...base,
      sweep: {
        grid: { 'inference.temperature': [1, 0.1] },
        zip: [{ 'model.hidden': [[4], [8, 4]], 'train.epochs': [1, 2] }],
        seeds: [3, 4],
      },
    });
    const pts = sweepPoints(cfg);
    const expected: Record<string, unknown>[] = [];
    for (const t of [1, 0.1])
      for (const [h, e] of [
        [[4], 1],
        [[8, 4], 2],
      ] as const)
        for (const s of [3, 4]) expected.push({ 'inference.temperature': t, 'model.hidden': h, 'train.epochs': e, seed: s });
    expect(pts.map((p) => p.values)).toEqual(expected);
    expect(pts.map((p) => p.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(pts[7]!.config.model.hidden).toEqual([8, 4]);
    expect(pts[7]!.config.train.epochs).toBe(2);
    expect(pts[7]!.config.seed).toBe(4);
    expect(pts[7]!.config.inference.temperature).toBe(0.1);
  });

  it('keeps the old shorthand (configs/swag.yaml) as a grid', () => {
    const cfg = loadConfig('configs/swag.yaml');
    const pts = sweepPoints(cfg);
    expect(pts.map((p) => p.config.seed)).toEqual([1, 2, 3]);
    expect(cfg.sweep.grid).toEqual({ seed: [1, 2, 3] });
  });

  it('draws random trials reproducibly inside their ranges', () => {
    const spec = {
      n: 50,
      seed: 7,
      params: {
        'train.optimizer.lr': { 'log-uniform': [1e-4, 1e-2] as [number, number] },
        'inference.temperature': { uniform: [0.5, 1] as [number, number] },
        'train.batchSize': { int: [10, 12] as [number, number] },
        'pruning.scope': { choice: ['global', 'layer'] },
      },
    };
    const a = randomTrials(spec);
    expect(randomTrials(spec)).toEqual(a);
    expect(randomTrials({ ...spec, seed: 8 })).not.toEqual(a);
    for (const t of a) {
      expect(t['train.optimizer.lr']).toBeGreaterThanOrEqual(1e-4);
      expect(t['train.optimizer.lr']).toBeLessThan(1e-2);
      expect(t['inference.temperature']).toBeGreaterThanOrEqual(0.5);
      expect(t['inference.temperature']).toBeLessThan(1);
      expect([10, 11, 12]).toContain(t['train.batchSize']);
      expect(['global', 'layer']).toContain(t['pruning.scope']);
    }
    // All three integers and both choices occur in 50 draws; log-uniform: about half below the geometric mean 1e-3.
    expect(new Set(a.map((t) => t['train.batchSize'])).size).toBe(3);
    expect(new Set(a.map((t) => t['pruning.scope'])).size).toBe(2);
    const below = a.filter((t) => (t['train.optimizer.lr'] as number) < 1e-3).length;
    expect(below).toBeGreaterThan(12);
    expect(below).toBeLessThan(38);
    const cfg = validateConfig({ ...base, sweep: { random: spec, seeds: [1, 2] } });
    const pts = sweepPoints(cfg);
    expect(pts).toHaveLength(100);
    expect(pts[1]!.config.train.optimizer.lr).toBe(a[0]!['train.optimizer.lr']);
    expect(pts[1]!.config.seed).toBe(2);
    expect(expandValues(cfg.sweep)).toEqual(expandValues(cfg.sweep));
  });

  it('reports every spec problem with its key', () => {
    const spec = issuesOf(() =>
      validateConfig({
        ...base,
        sweep: {
          grid: { 'train.epochs': [1, 2], '__proto__.x': [1] },
          zip: [{ 'eval.samples': [1, 2], 'train.batchSize': [10] }],
          random: { n: 2, params: { 'train.epochs': { uniform: [2, 1] }, 'train.optimizer.lr': { gauss: [0, 1] } } },
          seeds: [1, 1],
        },
      }),
    ).join('\n');
    expect(spec).toMatch(/sweep\.grid\.__proto__\.x.*not a dot path/);
    expect(spec).toMatch(/sweep\.zip\.0: the lists of a zip group must have equal lengths \(got eval\.samples: 2, train\.batchSize: 1\)/);
    expect(spec).toMatch(/uniform needs a < b/);
    expect(spec).toMatch(/unknown distribution "gauss"/);
    expect(spec).toMatch(/"train\.epochs" is varied twice/);
    expect(spec).toMatch(/sweep\.seeds: each seed at most once/);
  });

  it('lists the problems of every point in one pass', () => {
    const msgs = issuesOf(() => sweepPoints(validateConfig({ ...base, sweep: { grid: { 'train.epochs': [1, -1, -2], 'eval.samples': [2, 0] } } })));
    // Points (-1, 2), (-1, 0), (-2, 2), (-2, 0) have a bad epochs; (1, 0), (-1, 0), (-2, 0) a bad samples: 7 problems.
    expect(msgs.filter((m) => /train\.epochs/.test(m.split(': ').slice(1).join(': ')) && /≥/.test(m))).toHaveLength(4);
    expect(msgs.filter((m) => /: eval\.samples: /.test(m))).toHaveLength(3);
    expect(msgs).toHaveLength(7);
  });

  it('checks every point’s data before anything is created (issue 9, defect 10)', async () => {
    const root = mkdtempSync(join(tmpdir(), 'bp-sweep-data-'));
    const missing = join(root, 'no-such-dir');
    const cfg = validateConfig({
      ...base,
      sweep: { zip: [{ 'data.name': ['blobs', 'fashion-mnist'], 'data.dir': [root, missing] }] },
    });
    const pts = sweepPoints(cfg);
    const err = await runSweep(cfg, { resultsDir: root, progress: null, jobs: 1 }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain(`sweep point ${pts[1]!.label}`);
    expect((err as Error).message).toContain(missing);
    expect(readdirSync(root)).toEqual([]);
  });

  it('parses --shard i/n and names differing keys', () => {
    expect(parseShard('1/3')).toEqual({ index: 1, count: 3 });
    for (const bad of ['3/3', '0/0', '-1/2', 'a/b', '1', '1/2/3']) expect(() => parseShard(bad)).toThrow(/--shard .*expected i\/n with 0 ≤ i < n/);
    expect(configDiff({ a: { b: 1, c: [1] }, d: 'x' }, { a: { b: 2, c: [1] }, d: 'x', e: true })).toEqual(['a.b (1 → 2)', 'e (unset → true)']);
    expect(new SweepError('x')).toBeInstanceOf(Error);
  });
});
