import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  type ConfigIssue,
  derivedSettings,
  editDistance,
  closest,
  loadConfig,
  parseOverrides,
  setPath,
  validateConfig,
  variantConfig,
} from '../../src/experiment/config.js';
import { gateGranularity, removalOf } from '../../src/bayes/gated-methods.js';
import { z } from 'zod';
import { configSchema } from '../../src/experiment/config.js';
import { learningRate } from '../../src/inference/schedules.js';
import { hiddenSizes } from '../../src/nn/builders.js';

const dir = mkdtempSync(join(tmpdir(), 'bp-config-'));
function file(text: string): string {
  const p = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(p, text);
  return p;
}

function issuesOf(f: () => unknown): ConfigIssue[] {
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
    expect(issues[0]!.message).toMatch(/unknown key "epochz" \(did you mean "epochs"\?\); allowed: epochs, batchSize/);
    // Also inside an object with cross-field checks (inference.swag has a refinement).
    const swag = issuesOf(() => validateConfig({ experiment: 'x', inference: { method: 'swag', swag: { rnak: 3 } } }));
    expect(swag[0]!.message).toMatch(/unknown key "rnak" \(did you mean "rank"\?\); allowed: variant, start, .*rank/);
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
    // One pass (issue 9, defect 10): the cross-field criterion check runs although the schema failed elsewhere.
    expect(byPath['pruning.criteria.1']).toMatch(/unknown criterion "bogus"; allowed: /);
    expect(issues.length).toBe(5);
    const later = issuesOf(() => validateConfig({ experiment: 'x', pruning: { criteria: ['snr', 'bogus'] } }));
    expect(later).toEqual([{ path: 'pruning.criteria.1', message: expect.stringMatching(/unknown criterion "bogus"; allowed: .*magnitude/) }]);
  });

  it('eval.workers: "auto" (default) or a whole number of threads; anything else names the key and what is allowed', () => {
    expect(validateConfig({ experiment: 'x' }).eval.workers).toBe('auto');
    expect(validateConfig({ experiment: 'x', eval: { workers: 3 } }).eval.workers).toBe(3);
    expect(issuesOf(() => validateConfig({ experiment: 'x', eval: { workers: 'many' } }))).toEqual([
      { path: 'eval.workers', message: 'must be "auto" or a whole number of threads from 0 to 64' },
    ]);
    expect(issuesOf(() => validateConfig({ experiment: 'x', eval: { workers: -1 } }))[0]!.path).toBe('eval.workers');
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
    expect(() => loadConfig(join(dir, 'nope.yaml'))).toThrow(/nope\.yaml: invalid config \(1 problem\):\n {2}- \(root\): config file not found/);
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

describe('prototype pollution (issue 9, defect 6)', () => {
  const protoKeys = () => Object.getOwnPropertyNames(Object.prototype).sort();
  const before = protoKeys();
  const clean = () => {
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(protoKeys()).toEqual(before);
  };

  it.each(['__proto__.polluted=1', 'constructor.prototype.polluted=1', 'train.__proto__.polluted=1', 'prototype=1', 'a..b=1', '.x=1'])(
    'override %s is refused, naming it',
    (o) => {
      let err: unknown;
      try {
        loadConfig('configs/quickstart.yaml', [o]);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toContain(`override ${o}`);
      expect(() => parseOverrides([o])).toThrow(ConfigError);
      clean();
    },
  );

  it('setPath refuses forbidden segments', () => {
    for (const k of ['__proto__.polluted', 'x.constructor.prototype.polluted', 'prototype']) {
      expect(() => setPath({}, k, 1)).toThrow(/not allowed in a key/);
      clean();
    }
  });

  it('__proto__ keys in a YAML file or a variant are refused and pollute nothing', () => {
    const issues = issuesOf(() =>
      loadConfig(
        file(
          'experiment: x\n__proto__:\n  polluted: 1\ntrain:\n  __proto__: { polluted: 2 }\nvariants:\n  - name: v\n    set: { __proto__.polluted: 3, constructor: 4 }\n',
        ),
      ),
    );
    expect(issues.some((i) => i.path === '' && /key "__proto__" is not allowed/.test(i.message))).toBe(true);
    expect(issues.some((i) => i.path === 'train' && /"__proto__" is not allowed/.test(i.message))).toBe(true);
    expect(issues.some((i) => i.scope === 'variant "v"' && i.path === '__proto__.polluted')).toBe(true);
    clean();
    expect(() => validateConfig(JSON.parse('{"experiment": "x", "__proto__": {"polluted": 1}}'))).toThrow(/"__proto__" is not allowed/);
    clean();
  });
});

describe('non-finite numbers (issue 9, defect 9)', () => {
  it.each([
    ['inference.prior', { type: 'gaussian', sigma: Infinity }, 'inference.prior.sigma'],
    ['inference.warmup', { startEpoch: 0, endEpoch: Infinity }, 'inference.warmup.endEpoch'],
    ['inference.warmup', { startEpoch: -Infinity, endEpoch: 3 }, 'inference.warmup.startEpoch'],
    ['pruning', { logAlphaThreshold: Infinity }, 'pruning.logAlphaThreshold'],
    ['pruning', { logAlphaThreshold: -Infinity }, 'pruning.logAlphaThreshold'],
    ['pruning', { logAlphaThreshold: NaN }, 'pruning.logAlphaThreshold'],
    ['train', { optimizer: { lr: NaN } }, 'train.optimizer.lr'],
    ['pruning', { sparsities: [0, Infinity] }, 'pruning.sparsities.1'],
  ])('%s = %j is refused at %s', (key, value, path) => {
    const raw: Record<string, unknown> = { experiment: 'x' };
    setPath(raw, key, value);
    const issues = issuesOf(() => validateConfig(raw));
    expect(issues.find((i) => i.path === path)?.message).toMatch(/finite/);
  });

  it('YAML .inf / -.inf / .nan are refused from files and overrides', () => {
    const issues = issuesOf(() =>
      loadConfig(file('experiment: x\ninference:\n  prior: { type: gaussian, sigma: .inf }\n  warmup: { startEpoch: 0, endEpoch: .nan }\n'), [
        'pruning.logAlphaThreshold=-.inf',
      ]),
    );
    const byPath = Object.fromEntries(issues.map((i) => [i.path, i]));
    expect(byPath['inference.prior.sigma']!.message).toBe('must be a finite number (got Infinity)');
    expect(byPath['inference.warmup.endEpoch']!.message).toBe('must be a finite number (got NaN)');
    expect(byPath['pruning.logAlphaThreshold']!.message).toBe('must be a finite number (got -Infinity)');
    expect(byPath['pruning.logAlphaThreshold']!.origin).toBe('override pruning.logAlphaThreshold=-.inf');
  });

  it('every number of the schema is finite (a walk over the whole schema: each number has a finite or integer check)', () => {
    const loose: string[] = [];
    let numbers = 0;
    const walk = (t: z.ZodTypeAny, path: string): void => {
      if (t instanceof z.ZodNumber) {
        numbers++;
        if (!t._def.checks.some((c) => c.kind === 'finite' || c.kind === 'int')) loose.push(path);
      } else if (t instanceof z.ZodObject) for (const [k, v] of Object.entries(t.shape)) walk(v as z.ZodTypeAny, `${path}.${k}`);
      else if (t instanceof z.ZodArray) walk(t.element, `${path}[]`);
      else if (t instanceof z.ZodRecord) walk(t._def.valueType, `${path}{}`);
      else if (t instanceof z.ZodDefault || t instanceof z.ZodOptional || t instanceof z.ZodNullable) walk(t._def.innerType, path);
      else if (t instanceof z.ZodEffects) walk(t._def.schema, path);
      else if (t instanceof z.ZodPipeline) (walk(t._def.in, path), walk(t._def.out, path));
      else if (t instanceof z.ZodUnion || t instanceof z.ZodDiscriminatedUnion) for (const o of t.options as z.ZodTypeAny[]) walk(o, path);
    };
    walk(configSchema, '');
    expect(numbers).toBeGreaterThan(40);
    expect(loose).toEqual([]);
  });

  it('null stays allowed for logAlphaThreshold (documented: no threshold point)', () => {
    expect(validateConfig({ experiment: 'x', pruning: { logAlphaThreshold: null } }).pruning.logAlphaThreshold).toBeNull();
  });
});

describe('every problem in one pass (issue 9, defect 10)', () => {
  it('schema and cross-field problems of the config and of every variant together', () => {
    const issues = issuesOf(() =>
      loadConfig(
        file(
          [
            'experiment: x',
            'train: { epochs: -1 }',
            'model: { arch: lenet-300-100, hidden: [10] }',
            'variants:',
            '  - name: a',
            '    set: { train.batchSize: 0 }',
            '  - name: b',
            '    set: { inference.method: map, pruning.criteria: [snr] }',
            '',
          ].join('\n'),
        ),
      ),
    );
    const lines = issues.map((i) => `${i.scope ? `[${i.scope}] ` : ''}${i.path}`);
    expect(lines).toEqual(['train.epochs', 'model.hidden', '[variant "a"] train.batchSize', '[variant "b"] pruning.criteria']);
  });

  it('bad overrides and bad file keys are listed together', () => {
    const issues = issuesOf(() => loadConfig(file('experiment: x\nseed: -3\n'), ['train.epochs=[1', 'eval.samples=0', 'nokey']));
    expect(issues.map((i) => i.origin ?? i.path)).toEqual(['override train.epochs=[1', 'override nokey', 'seed', 'override eval.samples=0']);
  });
});

describe('messages (issue 9, defect 11)', () => {
  it('edit distance against hand-computed values (optimal string alignment)', () => {
    expect(editDistance('', '')).toBe(0);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('kitten', 'sitting')).toBe(3); // k→s, e→i, +g
    expect(editDistance('ca', 'ac')).toBe(1); // one transposition
    expect(editDistance('rnak', 'rank')).toBe(1);
    expect(editDistance('epochz', 'epochs')).toBe(1);
    expect(editDistance('flaw', 'lawn')).toBe(2); // −f, +n
    expect(editDistance('abc', 'ca')).toBe(3); // OSA: a transposed pair is not edited again
    expect(closest('gausian', ['log-uniform', 'gaussian', 'scale-mixture'])).toBe('gaussian');
    expect(closest('x', ['pi', 'lr'])).toBeUndefined();
    expect(closest('compleetely', ['completely', 'complete'])).toBe('completely');
  });

  it('a bad key inside the prior lists the keys of that prior type', () => {
    const issues = issuesOf(() => validateConfig({ experiment: 'x', inference: { prior: { type: 'gaussian', sigmaa: 1 } } }));
    expect(issues).toEqual([{ path: 'inference.prior', message: 'unknown key "sigmaa" (did you mean "sigma"?); allowed: type, sigma' }]);
    const mix = issuesOf(() => validateConfig({ experiment: 'x', inference: { prior: { type: 'scale-mixture', p: 1 } } }));
    expect(mix[0]!.message).toMatch(/allowed: type, pi, sigma1, sigma2$/);
    const disc = issuesOf(() => validateConfig({ experiment: 'x', inference: { prior: { type: 'gausian' } } }));
    expect(disc[0]).toEqual({
      path: 'inference.prior.type',
      message: 'got "gausian" (did you mean "gaussian"?); allowed: log-uniform, gaussian, scale-mixture',
    });
  });

  it('did you mean for enum values and criteria', () => {
    const issues = issuesOf(() => validateConfig({ experiment: 'x', data: { name: 'mnist-embeded' }, pruning: { criteria: ['magnitdue'] } }));
    expect(issues[0]!.message).toMatch(/^got "mnist-embeded" \(did you mean "mnist-embedded"\?\); allowed: /);
    expect(issues[1]!.message).toMatch(/^unknown criterion "magnitdue" \(did you mean "magnitude"\?\); allowed: /);
  });

  it('a bad override value is blamed on the override, not the file', () => {
    let msg = '';
    try {
      loadConfig('configs/quickstart.yaml', ['pruning.sparsities=[0.5']);
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toMatch(
      /^command line: invalid config \(1 problem\):\n {2}- override pruning.sparsities=\[0.5: the value "\[0.5" is not valid YAML .*close the list, e.g. \[0.5, 0.9\]$/,
    );
    try {
      loadConfig('configs/quickstart.yaml', ['train.epochs=-1', 'train.epochz=3']);
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toContain('command line: invalid config (2 problems)');
    expect(msg).toContain('  - override train.epochs=-1: must be ≥ 0');
    expect(msg).toContain('  - override train.epochz=3: train: unknown key "epochz" (did you mean "epochs"?)');
  });

  it('file-system problems are plain words naming the path', () => {
    const d = join(dir, 'adir.yaml');
    mkdirSync(d);
    expect(() => loadConfig(d)).toThrow(/adir\.yaml: invalid config \(1 problem\):\n {2}- \(root\): is a directory, not a config file$/);
    const f = file('experiment: x\n');
    expect(() => loadConfig(join(f, 'sub.yaml'))).toThrow(/cannot read the config file: a part of the path is a file, not a directory \(ENOTDIR\)$/);
    expect(() => loadConfig(join(dir, `${'x'.repeat(300)}.yaml`))).toThrow(/the path or one of its names is too long \(ENAMETOOLONG\)$/);
    expect(() => loadConfig('')).toThrow(/config file name is empty/);
  });
});

describe('resolved config = what runs (issue 9, defect 12)', () => {
  it('the step schedule prints every / gamma, and they are what the learning rate uses', () => {
    const c = validateConfig({ experiment: 'x', train: { optimizer: { schedule: 'step', lr: 1 } } });
    expect(c.train.optimizer.every).toBe(30);
    expect(c.train.optimizer.gamma).toBe(0.1);
    // lr · γ^⌊e/every⌋ by hand: epoch 29 → 1, epoch 30 → 0.1, epoch 61 → 0.01
    const s = { name: 'step' as const, lr: 1, every: c.train.optimizer.every, gamma: c.train.optimizer.gamma };
    expect([29, 30, 61].map((e) => learningRate(s, e, 100))).toEqual([1, 0.1, 0.1 * 0.1]);
  });

  it('derived settings are what the methods use', () => {
    for (const method of ['l0', 'spike-slab', 'unit-gates'] as const) {
      const c = validateConfig({ experiment: 'x', inference: { method } });
      const d = Object.fromEntries(derivedSettings(c).map((x) => [x.key, x.value]));
      expect(d['inference.gates.granularity'], method).toBe(gateGranularity(c));
      const r = removalOf(c);
      expect(d['inference.gates.removal'], method).toEqual(r ? { threshold: 0.01, patience: 3 } : null);
    }
    const mlp = validateConfig({ experiment: 'x', model: { arch: 'mlp' } });
    expect(derivedSettings(mlp)).toEqual([{ key: 'model.hidden', value: hiddenSizes(mlp.model), because: 'model.arch is mlp' }]);
    // SWAG: Maddox et al. sample with scale 0.5 (low rank + diagonal) and 1 (diagonal); SWA is the mean.
    const scale = (variant: string) =>
      derivedSettings(validateConfig({ experiment: 'x', inference: { method: 'swag', swag: { variant } } })).find((x) => x.key === 'inference.swag.scale')
        ?.value;
    expect([scale('swag'), scale('swag-diag'), scale('swa')]).toEqual([0.5, 1, 0]);
    expect(derivedSettings(validateConfig({ experiment: 'x', inference: { method: 'swag', swag: { scale: 2 } } }))).toEqual([]);
  });

  it('a variant that changes the method gets its own derived values', () => {
    const base = validateConfig({ experiment: 'x', inference: { method: 'l0' }, variants: [{ name: 'ss', set: { 'inference.method': 'spike-slab' } }] });
    const v = variantConfig(base, base.variants[0]!);
    expect(gateGranularity(base)).toBe('input');
    expect(gateGranularity(v)).toBe('output');
  });
});
