import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseOverrides, validateConfig } from '../../src/experiment/config.js';

const dir = mkdtempSync(join(tmpdir(), 'bp-config-'));
function file(text: string): string {
  const p = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(p, text);
  return p;
}

function issuesOf(f: () => unknown): { path: string; message: string }[] {
  try {
    f();
  } catch (e) {
    if (e instanceof ConfigError) return e.issues;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('config validation', () => {
  it('fills documented defaults', () => {
    const c = validateConfig({ experiment: 'x' });
    expect(c.seed).toBe(1);
    expect(c.data.name).toBe('mnist-embedded');
    expect(c.inference.prior).toEqual({ type: 'log-uniform' });
    expect(c.train.batchSize).toBe(100);
    expect(c.pruning.logAlphaThreshold).toBe(3);
  });

  it('every shipped config validates', () => {
    const files = readdirSync('configs').filter((f) => f.endsWith('.yaml'));
    expect(files).toContain('quickstart.yaml');
    for (const f of files) expect(() => loadConfig(`configs/${f}`), f).not.toThrow();
  });

  it('an unknown key names its path and the allowed keys', () => {
    const issues = issuesOf(() => validateConfig({ experiment: 'x', train: { epochz: 3 } }));
    expect(issues).toHaveLength(1);
    expect(issues[0]!.path).toBe('train');
    expect(issues[0]!.message).toMatch(/unknown key "epochz"; allowed: epochs, batchSize/);
    // Also inside an object with cross-field checks (inference.swag has a refinement).
    const swag = issuesOf(() => validateConfig({ experiment: 'x', inference: { method: 'swag', swag: { rnak: 3 } } }));
    expect(swag[0]!.message).toMatch(/unknown key "rnak"; allowed: variant, start, .*rank/);
    const rep = issuesOf(() => validateConfig({ experiment: 'x', inference: { method: 'swag', swag: { variant: 'swa', companions: ['swa'] } } }));
    expect(rep[0]!.path).toBe('inference.swag.companions');
  });

  it('lists every problem at once, each with its key and what is allowed', () => {
    const issues = issuesOf(() =>
      validateConfig({ experiment: 'bad name!', train: { epochs: -1 }, data: { name: 'cifar' }, pruning: { criteria: ['snr', 'bogus'] }, backend: 'gpu' }),
    );
    const byPath = Object.fromEntries(issues.map((i) => [i.path, i.message]));
    expect(byPath['experiment']).toMatch(/letters, digits/);
    expect(byPath['train.epochs']).toBe('must be ≥ 0');
    expect(byPath['data.name']).toMatch(/got "cifar"; allowed: mnist-embedded, fashion-mnist, blobs/);
    expect(byPath['backend']).toMatch(/allowed: auto, tensorflow, wasm, cpu/);
    expect(issues.length).toBe(4); // the criterion check runs only once the schema passes
    const later = issuesOf(() => validateConfig({ experiment: 'x', pruning: { criteria: ['snr', 'bogus'] } }));
    expect(later).toEqual([{ path: 'pruning.criteria.1', message: expect.stringMatching(/unknown criterion "bogus"; allowed: .*magnitude/) }]);
  });

  it('the error text is stable (snapshot)', () => {
    try {
      loadConfig(file('experiment: q\ntrain:\n  epochs: 100000\n  optimizer: { lr: 0 }\nfoo: 1\n'));
    } catch (e) {
      expect((e as Error).message.replace(/^.*?: invalid/, '<file>: invalid')).toMatchInlineSnapshot(`
        "<file>: invalid config (3 problems):
          - train.epochs: must be ≤ 10000
          - train.optimizer.lr: must be > 0
          - (root): unknown key "foo"; allowed: experiment, description, seed, backend, data, model, inference, train, eval, pruning, variants, sweep"
      `);
      return;
    }
    throw new Error('expected an error');
  });

  it('overrides are parsed as YAML values and applied by dot path', () => {
    const c = loadConfig('configs/quickstart.yaml', parseOverrides(['train.epochs=3', 'pruning.sparsities=[0, 0.5]', 'seed=7']));
    expect(c.train.epochs).toBe(3);
    expect(c.pruning.sparsities).toEqual([0, 0.5]);
    expect(c.seed).toBe(7);
    expect(() => parseOverrides(['train.epochs'])).toThrow(/key=value/);
  });

  it('variants are validated before any work', () => {
    const issues = issuesOf(() => loadConfig(file('experiment: q\nvariants:\n  - name: v\n    set: { train.epochs: -5 }\n')));
    expect(issues[0]!.path).toBe('train.epochs');
  });

  it('a missing or malformed file is one clear error', () => {
    expect(() => loadConfig(join(dir, 'nope.yaml'))).toThrow(/nope\.yaml: invalid config \(1 problem\):\n  - \(root\): config file not found/);
    expect(() => loadConfig(file('experiment: [unclosed'))).toThrow(/not valid YAML/);
  });
});

describe('names that become paths (issue 9, defect 5)', () => {
  it.each(['..', '.', '.hidden', '', 'a/b', '../up', 'a\0b', 'x'.repeat(129), ' spaced'])('experiment %j is refused', (name) => {
    const issues = issuesOf(() => validateConfig({ experiment: name }));
    expect(issues.map((i) => i.path)).toContain('experiment');
  });
  it.each(['..', '.x', 'a/b'])('variant name %j is refused', (name) => {
    const issues = issuesOf(() => validateConfig({ experiment: 'x', variants: [{ name, set: {} }] }));
    expect(issues.map((i) => i.path)).toContain('variants.0.name');
  });
  it('plain names pass', () => {
    expect(validateConfig({ experiment: 'a.b_c-1', variants: [{ name: 'v.2', set: {} }] }).experiment).toBe('a.b_c-1');
  });
});
