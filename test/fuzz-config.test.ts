/**
 * Fuzz test of hostile inputs (issue 9): malformed configs, overrides, config files and data
 * files, at least 1,000 generated cases per run, most of them in-process (load / validate,
 * no training) and a handful end to end through `main()` with a temporary results root.
 * For each: a ConfigError (or a clear Error naming the file), every injected fault named,
 * no stack trace, Object.prototype untouched, nothing created under the results root.
 *
 * The seeds are fixed so a failure reproduces; fast-check prints the seed and the path of a
 * failing case, and FUZZ_SEED=<n> replays another seed.
 */
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { main } from '../src/cli.js';
import { configSchema, ConfigError, loadConfig, NAME_PATTERN, setPath, validateConfig, type ConfigIssue } from '../src/experiment/config.js';
import { encodeIdx, loadIdxPair } from '../src/data/idx.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20261130);
const params = (numRuns: number, offset: number) => ({ seed: SEED + offset, numRuns, endOnFailure: true });

const tmp = mkdtempSync(join(tmpdir(), 'bp-fuzz-'));
let fileNo = 0;
function tmpFile(name: string, data: string | Uint8Array): string {
  const p = join(tmp, `${fileNo++}-${name}`);
  writeFileSync(p, data);
  return p;
}

const protoNames = Object.getOwnPropertyNames(Object.prototype).sort();
function prototypeClean(): boolean {
  return (
    ({} as Record<string, unknown>).polluted === undefined && JSON.stringify(Object.getOwnPropertyNames(Object.prototype).sort()) === JSON.stringify(protoNames)
  );
}

const STACK = /\n\s+at |\bat .*\(.*:\d+:\d+\)/;

// ---------------------------------------------------------------------------------------------
// The schema's leaves, as mutation targets.

type Bound = { value: number; inclusive: boolean };
type Leaf =
  | { path: string; kind: 'number'; min?: Bound; max?: Bound; int: boolean; nullable: boolean }
  | { path: string; kind: 'enum'; options: string[]; nullable: boolean }
  | { path: string; kind: 'boolean' }
  | { path: string; kind: 'string'; nullable: boolean }
  | { path: string; kind: 'array'; minLength: number; element: z.ZodTypeAny };

const leaves: Leaf[] = [];
const objectPaths: { path: string; keys: string[] }[] = [];

function unwrap(t: z.ZodTypeAny): { t: z.ZodTypeAny; nullable: boolean } {
  let nullable = false;
  for (;;) {
    if (t instanceof z.ZodDefault || t instanceof z.ZodOptional) t = t._def.innerType;
    else if (t instanceof z.ZodNullable) {
      nullable = true;
      t = t._def.innerType;
    } else if (t instanceof z.ZodEffects) t = t._def.schema;
    else return { t, nullable };
  }
}

function numberInfo(t: z.ZodNumber) {
  let min: Bound | undefined;
  let max: Bound | undefined;
  let int = false;
  for (const c of t._def.checks) {
    if (c.kind === 'min') min = { value: c.value, inclusive: c.inclusive };
    if (c.kind === 'max') max = { value: c.value, inclusive: c.inclusive };
    if (c.kind === 'int') int = true;
  }
  return { min, max, int };
}

function collect(t0: z.ZodTypeAny, path: string): void {
  const { t, nullable } = unwrap(t0);
  if (t instanceof z.ZodObject) {
    const keys = Object.keys(t.shape);
    objectPaths.push({ path, keys });
    for (const k of keys) {
      if (!path && (k === 'variants' || k === 'sweep')) continue;
      collect(t.shape[k], path ? `${path}.${k}` : k);
    }
  } else if (t instanceof z.ZodNumber) leaves.push({ path, kind: 'number', ...numberInfo(t), nullable });
  else if (t instanceof z.ZodEnum) leaves.push({ path, kind: 'enum', options: [...t.options], nullable });
  else if (t instanceof z.ZodLiteral) leaves.push({ path, kind: 'enum', options: [String(t.value)], nullable });
  else if (t instanceof z.ZodBoolean) leaves.push({ path, kind: 'boolean' });
  else if (t instanceof z.ZodString) leaves.push({ path, kind: 'string', nullable });
  else if (t instanceof z.ZodArray) leaves.push({ path, kind: 'array', minLength: t._def.minLength?.value ?? 0, element: unwrap(t.element).t });
  // The prior (a discriminated union), records and the sweep spec are fuzzed by their own generators below.
}
collect(configSchema, '');

// ---------------------------------------------------------------------------------------------
// Generators of values that are invalid by construction.

const HOSTILE_NAMES = [
  '..',
  '.',
  '',
  '.hidden',
  'a/b',
  '../x',
  '/abs',
  'a\\b',
  'a\u0000b',
  'x'.repeat(129),
  ' lead',
  'tab\there',
  'new\nline',
  'é',
  '*',
  '$(rm)',
];
const hostileName = fc.oneof(
  fc.constantFrom(...HOSTILE_NAMES),
  fc.string({ maxLength: 300 }).filter((s) => !NAME_PATTERN.test(s)),
);

/** One edit (insert, delete, substitute, transpose) of `s`. */
const nearMiss = (s: string) =>
  fc.tuple(fc.nat(), fc.constantFrom('a', 'e', 'z', 's', '-', 'x'), fc.constantFrom('ins', 'del', 'sub', 'swap')).map(([i, ch, op]) => {
    const k = s.length ? i % s.length : 0;
    if (op === 'ins') return s.slice(0, k) + ch + s.slice(k);
    if (op === 'del') return s.slice(0, k) + s.slice(k + 1);
    if (op === 'sub') return s.slice(0, k) + (s[k] === ch ? 'q' : ch) + s.slice(k + 1);
    return k + 1 < s.length ? s.slice(0, k) + s[k + 1] + s[k] + s.slice(k + 2) : s + ch;
  });

function badNumber(l: Extract<Leaf, { kind: 'number' }>): fc.Arbitrary<unknown> {
  const opts: fc.Arbitrary<unknown>[] = [fc.constantFrom(Infinity, -Infinity, NaN), fc.constantFrom('abc', '', '1', true, [], {}, [1])];
  if (!l.nullable) opts.push(fc.constant(null));
  if (l.min) opts.push(l.min.inclusive ? fc.double({ min: -1e12, max: l.min.value - 1e-6, noNaN: true }) : fc.constant(l.min.value));
  if (l.max) opts.push(l.max.inclusive ? fc.double({ min: l.max.value + 1e-6, max: 1e15, noNaN: true }) : fc.constant(l.max.value));
  if (l.int) opts.push(fc.integer({ min: -1000, max: 1000 }).map((n) => n + 0.5));
  return fc.oneof(...opts);
}

function badValue(l: Leaf): fc.Arbitrary<unknown> {
  switch (l.kind) {
    case 'number':
      return badNumber(l);
    case 'enum':
      return fc
        .oneof(
          fc.constantFrom(...l.options).chain(nearMiss),
          fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/),
          fc.constantFrom(5, true, [], {}, ...(l.nullable ? [] : [null])),
        )
        .filter((v) => !l.options.includes(v as string));
    case 'boolean':
      return fc.constantFrom('yes', 'true', 1, 0, null, []);
    case 'string':
      if (l.path === 'experiment') return hostileName;
      if (l.path === 'data.dir') return fc.constantFrom('', 'a\u0000b', 5, [], {});
      return fc.constantFrom(5, true, [], {}, ...(l.nullable ? [] : [null]));
    case 'array': {
      const wrongType = fc.constantFrom('notalist', 5, {}, true);
      const el = l.element;
      let badEl: fc.Arbitrary<unknown>;
      if (el instanceof z.ZodNumber) badEl = badNumber({ path: l.path, kind: 'number', ...numberInfo(el), nullable: false });
      else if (el instanceof z.ZodEnum) badEl = fc.stringMatching(/^[a-z]{1,8}$/).filter((s) => !el.options.includes(s));
      else if (l.path === 'pruning.criteria') badEl = fc.oneof(fc.constantFrom('magnitdue', 'snrr', 'randm', ''), fc.constantFrom(5, null));
      else if (l.path === 'pruning.nm') badEl = fc.constantFrom('2:2', '0:4', '4', 'a:b', 5);
      else badEl = fc.constantFrom({}, [], true);
      return fc.oneof(
        wrongType,
        badEl.map((v) => [v]),
        ...(l.minLength > 0 ? [fc.constant([])] : []),
      );
    }
  }
}

type Mutation =
  { kind: 'leaf'; path: string; value: unknown } | { kind: 'unknown-key'; path: string; key: string } | { kind: 'forbidden'; path: string; key: string };

const leafMutation: fc.Arbitrary<Mutation> = fc
  .constantFrom(...leaves)
  .chain((l) => badValue(l).map((value): Mutation => ({ kind: 'leaf', path: l.path, value })));
const unknownKeyMutation: fc.Arbitrary<Mutation> = fc.constantFrom(...objectPaths).chain((o) =>
  fc
    .constantFrom(...o.keys)
    .chain(nearMiss)
    .filter((k) => k !== '' && !o.keys.includes(k) && !k.includes('.'))
    .map((key): Mutation => ({ kind: 'unknown-key', path: o.path, key })),
);
const forbiddenMutation: fc.Arbitrary<Mutation> = fc
  .tuple(fc.constantFrom(...objectPaths), fc.constantFrom('__proto__', 'constructor', 'prototype'))
  .map(([o, key]): Mutation => ({ kind: 'forbidden', path: o.path, key }));
const priorMutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc
    .constantFrom('log-uniform', 'gaussian', 'scale-mixture')
    .chain(nearMiss)
    .filter((t) => !['log-uniform', 'gaussian', 'scale-mixture'].includes(t))
    .map((t): Mutation => ({ kind: 'leaf', path: 'inference.prior.type', value: t })),
  fc.constantFrom(Infinity, -Infinity, NaN, 0, -1, 'big').map((v): Mutation => ({ kind: 'leaf', path: 'inference.prior.sigma', value: v })),
);

const related = (a: string, b: string) => a === b || a.startsWith(`${b}.`) || b.startsWith(`${a}.`) || a === '' || b === '';
const mutationPath = (m: Mutation) => (m.kind === 'leaf' ? m.path : m.path ? `${m.path}.${m.key}` : m.key);

/** Apply mutations whose paths do not overlap; returns those applied. */
function mutate(base: Record<string, unknown>, ms: Mutation[]): Mutation[] {
  const applied: Mutation[] = [];
  for (const m of ms) {
    if (applied.some((a) => related(mutationPath(a), mutationPath(m)) || (related(a.path, m.path) && (a.kind !== 'leaf' || m.kind !== 'leaf')))) continue;
    if (m.kind === 'leaf') {
      if (m.path.startsWith('inference.prior.')) {
        const prior = m.path.endsWith('.sigma') ? { type: 'gaussian', sigma: m.value } : { type: m.value };
        if (applied.some((a) => related(a.path, 'inference.prior'))) continue;
        setPath(base, 'inference.prior', prior);
      } else setPath(base, m.path, m.value);
    } else {
      let o = base as Record<string, unknown>;
      if (m.path) {
        setPath(base, `${m.path}.__fuzz_probe`, 1);
        for (const p of m.path.split('.')) o = o[p] as Record<string, unknown>;
        delete o.__fuzz_probe;
      }
      Object.defineProperty(o, m.key, { value: 1, enumerable: true, writable: true, configurable: true });
    }
    applied.push(m);
  }
  return applied;
}

/** Whether some issue names the mutation's key. */
function named(m: Mutation, issues: ConfigIssue[]): boolean {
  if (m.kind === 'leaf') {
    const p = m.path.startsWith('inference.prior.') ? 'inference.prior' : m.path;
    return issues.some((i) => i.path === p || i.path.startsWith(`${p}.`) || (i.message.includes(p) && p.length > 0));
  }
  return issues.some((i) => i.path === m.path && i.message.includes(`"${m.key}"`));
}

const BASE = { experiment: 'fz', data: { name: 'blobs' }, model: { arch: 'mlp', hidden: [8] } };

function expectClearConfigError(f: () => unknown): ConfigError {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  if (!(err instanceof ConfigError)) throw new Error(`expected a ConfigError, got ${err instanceof Error ? err.stack : String(err)}`);
  expect(err.message).not.toMatch(STACK);
  expect(err.issues.length).toBeGreaterThan(0);
  for (const line of err.message.split('\n').slice(1)) expect(line.startsWith('  - '), line).toBe(true);
  return err;
}

describe('fuzz: hostile configs, overrides, config files and data files (issue 9)', () => {
  it(`the schema offers enough targets (${leaves.length} leaves, ${objectPaths.length} objects)`, () => {
    expect(leaves.length).toBeGreaterThan(60);
    expect(leaves.some((l) => l.path === 'inference.warmup.startEpoch')).toBe(true);
    expect(validateConfig(BASE).experiment).toBe('fz');
  });

  it('malformed configs: every injected fault is named, in one pass (500 cases)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof({ weight: 6, arbitrary: leafMutation }, { weight: 2, arbitrary: unknownKeyMutation }, forbiddenMutation, priorMutation), {
          minLength: 1,
          maxLength: 3,
        }),
        (ms) => {
          const raw = structuredClone(BASE) as Record<string, unknown>;
          const applied = mutate(raw, ms);
          const err = expectClearConfigError(() => validateConfig(raw, 'fuzz'));
          for (const m of applied) expect(named(m, err.issues), `${JSON.stringify(m)} not named in:\n${err.message}`).toBe(true);
          expect(prototypeClean()).toBe(true);
        },
      ),
      params(500, 0),
    );
  });

  const BASE_FILE = tmpFile('base.yaml', 'experiment: fz\ndata: { name: blobs }\nmodel: { arch: mlp, hidden: [8] }\n');

  /** YAML text of a value as typed on a command line. */
  const yamlText = (v: unknown): string =>
    typeof v === 'number'
      ? Number.isNaN(v)
        ? '.nan'
        : v === Infinity
          ? '.inf'
          : v === -Infinity
            ? '-.inf'
            : String(v)
      : typeof v === 'string'
        ? JSON.stringify(v)
        : JSON.stringify(v);

  const overrideArb: fc.Arbitrary<{ key: string; text: string }> = fc.oneof(
    {
      weight: 5,
      arbitrary: fc
        .constantFrom(...leaves.filter((l) => l.path !== 'experiment' || true))
        .chain((l) => badValue(l).map((v) => ({ key: l.path, text: `${l.path}=${yamlText(v)}` }))),
    },
    {
      weight: 2,
      arbitrary: unknownKeyMutation.map((m) => {
        const key = m.path ? `${m.path}.${(m as { key: string }).key}` : (m as { key: string }).key;
        return { key, text: `${key}=1` };
      }),
    },
    fc
      .tuple(
        fc.constantFrom('', 'train.', 'inference.prior.', 'a.b.'),
        fc.constantFrom('__proto__', 'constructor', 'prototype'),
        fc.constantFrom('', '.polluted'),
      )
      .map(([a, b, c]) => ({ key: `${a}${b}${c}`, text: `${a}${b}${c}=1` })),
    fc.constantFrom('a..b', '.x', 'x.', 'train..epochs').map((k) => ({ key: k, text: `${k}=1` })),
    fc.constantFrom(...leaves).map((l) => ({ key: l.path, text: l.path })), // no "="
    fc
      .tuple(fc.constantFrom(...leaves), fc.constantFrom('[0.5', '{a: 1', '"unterminated', "'x", '[1, [2', 'a: b: c', '{]'))
      .map(([l, v]) => ({ key: l.path, text: `${l.path}=${v}` })),
  );

  it('malformed overrides: each is blamed on the override as typed (300 cases)', () => {
    fc.assert(
      fc.property(fc.array(overrideArb, { minLength: 1, maxLength: 3 }), (os) => {
        const chosen: { key: string; text: string }[] = [];
        for (const o of os) if (!chosen.some((c) => related(c.key, o.key))) chosen.push(o);
        const err = expectClearConfigError(() =>
          loadConfig(
            BASE_FILE,
            chosen.map((c) => c.text),
          ),
        );
        for (const c of chosen) {
          const origin = `override ${c.text.length > 80 ? `${c.text.slice(0, 80)}…` : c.text}`;
          expect(
            err.issues.some((i) => i.origin === origin),
            `${c.text} not blamed in:\n${err.message}`,
          ).toBe(true);
        }
        expect(prototypeClean()).toBe(true);
      }),
      params(300, 1),
    );
  });

  it('malformed config files: garbage, truncated JSON, hostile keys; the error names the file (100 cases)', () => {
    const valid = JSON.stringify({ ...BASE, train: { epochs: 1 }, pruning: { sparsities: [0, 0.5] } });
    const fileArb = fc
      .oneof(
        fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b)),
        fc.string({ maxLength: 200 }),
        fc.nat({ max: valid.length - 1 }).map((n) => valid.slice(0, n)),
        fc.constantFrom('---\n...\n', '- a\n- b\n', '"just a string"', '42', 'a: [1\n', 'x: &a [*a]\n', '{}', 'experiment:\n  nested: 1\n', '\u0000\u0001'),
      )
      .filter(
        (t) =>
          !Buffer.from(t as string | Uint8Array)
            .toString('latin1')
            .includes('experiment: fz'),
      );
    fc.assert(
      fc.property(fileArb, (content) => {
        const p = tmpFile('garbage.yaml', content);
        const err = expectClearConfigError(() => loadConfig(p));
        expect(err.message.startsWith(`${p}: invalid config`)).toBe(true);
      }),
      params(100, 2),
    );
  });

  it('truncated, oversized and mismatched IDX / gzip data files: an error naming the file (300 cases)', () => {
    const caseArb = fc.record({
      n: fc.integer({ min: 1, max: 6 }),
      h: fc.integer({ min: 1, max: 4 }),
      w: fc.integer({ min: 1, max: 4 }),
      gzipImages: fc.boolean(),
      gzipLabels: fc.boolean(),
      target: fc.constantFrom('images', 'labels'),
      fault: fc.constantFrom('truncate', 'extend', 'count-mismatch', 'label-range', 'magic', 'type-code', 'ndims', 'gzip-truncate', 'wrong-rank'),
      pos: fc.nat(),
      extra: fc.uint8Array({ minLength: 1, maxLength: 9 }),
      byte: fc.integer({ min: 1, max: 255 }),
    });
    const VALID_CODES = new Set([0x08, 0x09, 0x0b, 0x0c, 0x0d, 0x0e]);
    fc.assert(
      fc.property(caseArb, (c) => {
        let imgDims = [c.n, c.h, c.w];
        let lblDims = [c.n];
        const labels = Uint8Array.from({ length: c.n }, (_, i) => i % 10);
        if (c.fault === 'count-mismatch') lblDims = [c.n + 1 + (c.pos % 3)];
        if (c.fault === 'wrong-rank') imgDims = [c.n * c.h * c.w];
        const img = new Uint8Array(imgDims.reduce((a, b) => a * b, 1)).map((_, i) => i % 256);
        const lbl = c.fault === 'count-mismatch' ? new Uint8Array(lblDims[0]!) : labels;
        if (c.fault === 'label-range') lbl[c.pos % c.n] = 10 + (c.byte % 246);
        let raw = { images: encodeIdx(imgDims, img), labels: encodeIdx(lblDims, lbl) } as Record<'images' | 'labels', Buffer>;
        const t = c.target as 'images' | 'labels';
        let b = Buffer.from(raw[t]);
        if (c.fault === 'truncate') b = b.subarray(0, c.pos % b.length);
        if (c.fault === 'extend') b = Buffer.concat([b, Buffer.from(c.extra)]);
        if (c.fault === 'magic') b[c.pos % 2] = c.byte;
        if (c.fault === 'type-code') b[2] = [...Array(256).keys()].filter((x) => !VALID_CODES.has(x))[c.byte % 250]!;
        if (c.fault === 'ndims') b[3] = c.byte % 2 ? 0 : 17 + (c.byte % 239);
        raw = { ...raw, [t]: b };
        const gz = { images: c.gzipImages, labels: c.gzipLabels };
        const files = {} as Record<'images' | 'labels', Buffer>;
        for (const k of ['images', 'labels'] as const) files[k] = gz[k] || (c.fault === 'gzip-truncate' && k === t) ? gzipSync(raw[k]) : raw[k];
        if (c.fault === 'gzip-truncate') files[t] = files[t].subarray(0, 2 + (c.pos % (files[t].length - 2)));
        const paths = { images: tmpFile('images-idx3-ubyte', files.images), labels: tmpFile('labels-idx1-ubyte', files.labels) };
        let err: unknown;
        try {
          loadIdxPair(paths.images, paths.labels, { name: 'fuzz', numClasses: 10 });
        } catch (e) {
          err = e;
        }
        expect(err, `${JSON.stringify(c)} was accepted`).toBeInstanceOf(Error);
        const msg = (err as Error).message;
        const blamed = c.fault === 'count-mismatch' || c.fault === 'wrong-rank' ? paths.images : c.fault === 'label-range' ? paths.labels : paths[t];
        expect(msg, JSON.stringify(c)).toContain(blamed);
        expect(msg).not.toMatch(STACK);
      }),
      params(300, 3),
    );
  });
});

describe('fuzz through main(): exit code, message, nothing under the results root', () => {
  const root = mkdtempSync(join(tmpdir(), 'bp-fuzz-root-'));
  const results = join(root, 'results');
  const TINY = tmpFile(
    'tiny.yaml',
    'experiment: fz\ndata: { name: blobs, trainLimit: 50 }\nmodel: { arch: mlp, hidden: [4] }\ntrain: { epochs: 1 }\neval: { samples: 1 }\npruning: { sparsities: [0] }\n',
  );

  async function cli(argv: string[]): Promise<{ code: number; err: string }> {
    let err = '';
    let out = '';
    const code = await main(argv, { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } });
    void out;
    return { code, err };
  }

  function fashionDir(fault: 'truncated' | 'mismatch' | 'missing'): { dir: string; blamed: string } {
    const dir = mkdtempSync(join(tmp, 'fm-'));
    const imgs = encodeIdx([3, 2, 2], new Uint8Array(12));
    const lbls = encodeIdx([3], new Uint8Array([0, 1, 2]));
    const f = (n: string, b: Buffer) => writeFileSync(join(dir, n), b);
    f('train-images-idx3-ubyte.gz', gzipSync(fault === 'truncated' ? imgs.subarray(0, 13) : imgs));
    f('train-labels-idx1-ubyte', fault === 'mismatch' ? encodeIdx([2], new Uint8Array([0, 1])) : lbls);
    if (fault !== 'missing') f('t10k-images-idx3-ubyte', imgs);
    f('t10k-labels-idx1-ubyte', lbls);
    const blamed = fault === 'truncated' ? 'train-images-idx3-ubyte.gz' : fault === 'mismatch' ? 'train-labels-idx1-ubyte' : 't10k-images-idx3-ubyte';
    return { dir, blamed };
  }

  const cases: [string, () => string[], RegExp][] = [
    ['experiment=..', () => ['run', TINY, 'experiment=..'], /override experiment=\.\./],
    ['prototype pollution', () => ['run', TINY, '__proto__.polluted=1'], /override __proto__\.polluted=1: "__proto__" is not allowed/],
    ['non-finite sigma', () => ['run', TINY, 'inference.prior={type: gaussian, sigma: .inf}'], /inference\.prior\.sigma: must be a finite number/],
    ['broken YAML override', () => ['run', TINY, 'pruning.sparsities=[0.5'], /override pruning\.sparsities=\[0\.5: the value/],
    ['near-miss key', () => ['run', TINY, 'train.epochz=1'], /did you mean "epochs"/],
    ['directory as config', () => ['run', root], /is a directory, not a config file/],
    ['garbage config', () => ['run', tmpFile('bin.yaml', Buffer.from([0, 159, 146, 150, 255]))], /bin\.yaml: invalid config/],
    ['results root is a file', () => ['run', TINY, '--results', join(tmpFile('blocker', 'x'), 'r')], /blocker is a file, not a directory/],
    ['results root in /proc', () => ['run', TINY, '--results', '/proc/self/nope'], /\/proc\/self\/nope: not a writable directory/],
    ['long experiment name', () => ['run', TINY, `experiment=${'x'.repeat(300)}`], /override experiment=x+…?: got/],
    [
      'variant with a bad key',
      () => ['run', TINY, 'variants=[{name: v, set: {train.epochs: .nan}}]'],
      /\[variant "v"\] train\.epochs: must be a finite number/,
    ],
    ['truncated gzip IDX', () => ['run', TINY, 'data.name=fashion-mnist', `data.dir=${fashionDir('truncated').dir}`], /train-images-idx3-ubyte\.gz/],
    ['image/label count mismatch', () => ['run', TINY, 'data.name=fashion-mnist', `data.dir=${fashionDir('mismatch').dir}`], /train-labels-idx1-ubyte/],
    ['missing IDX file', () => ['run', TINY, 'data.name=fashion-mnist', `data.dir=${fashionDir('missing').dir}`], /t10k-images-idx3-ubyte/],
    ['empty data.dir', () => ['run', TINY, 'data.name=fashion-mnist', 'data.dir=""'], /override data\.dir="": an empty directory name/],
    ['sweep point problems', () => ['validate', TINY, 'sweep={train.epochs: [1, -1]}'], /-1/],
  ];

  it.each(cases)(
    '%s',
    async (_name, argv, re) => {
      const args = argv();
      const withRoot =
        args[0] === 'run' && !args.includes('--results')
          ? [...args, '--results', results, '--quiet', '--backend', 'cpu']
          : [...args, ...(args[0] === 'run' ? ['--quiet'] : [])];
      const r = await cli(withRoot);
      expect(r.code, r.err).not.toBe(0);
      expect(r.err).toMatch(re);
      expect(r.err).not.toMatch(STACK);
      expect(readdirSync(root).filter((d) => d !== 'results')).toEqual([]);
      expect(readdirSync(root).includes('results') ? readdirSync(results) : []).toEqual([]);
      expect(prototypeClean()).toBe(true);
    },
    30_000,
  );

  it('generated hostile overrides through run: exit 1, the override named, nothing created (20 cases)', async () => {
    const leafPaths = leaves.filter((l) => l.kind === 'number');
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...leafPaths).chain((l) => fc.tuple(fc.constant(l.path), fc.constantFrom('.inf', '-.inf', '.nan', '"x"', '[1', '{}'))),
        async ([path, v]) => {
          const r = await cli(['run', TINY, `${path}=${v}`, '--results', results, '--quiet', '--backend', 'cpu']);
          expect(r.code).toBe(1);
          expect(r.err).toContain(`override ${path}=${v}`);
          expect(r.err).not.toMatch(STACK);
          expect(readdirSync(root).includes('results') ? readdirSync(results) : []).toEqual([]);
        },
      ),
      params(20, 4),
    );
    mkdirSync(results, { recursive: true });
  }, 60_000);
});
