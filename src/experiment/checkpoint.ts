/**
 * Resumable checkpoints: everything training changes — the values of every trainable
 * variable, the layers' non-trainable state (batch-norm running statistics,
 * `Network.stateVariables()`), state registered outside the layers (`Network.auxState`,
 * e.g. unit removal's counters) and the optimizer state — with the epoch and free-form
 * metadata, as ONE file `<dir>/<name>.ckpt` written atomically (temp file, fsync, rename).
 * A checkpoint is therefore one unit: it is either the complete file of one epoch or
 * absent; it can never mix parts of two epochs.
 *
 * Layout (all integers little-endian):
 *
 *   magic "BPCKPT3\n" (8 bytes) | header length H (uint32) | header JSON (H bytes, UTF-8)
 *   | payload (float32 values, `header.bytes` bytes) | SHA-256 of everything before (32 bytes)
 *
 * The header holds the epoch, the variable, state, auxiliary-state and optimizer entries
 * (name, shape, offset, length into the payload) and the metadata. Loading verifies the
 * magic, the lengths and the checksum, and rejects anything else with a message naming the
 * file and saying how to recover. Version 2 files (`BPCKPT2`, which lacked the batch-norm
 * running statistics, so a resumed batch-norm run silently diverged) and files of the older
 * two-part format (`.ckpt.bin` + `.ckpt.json`, which could tear) are rejected too, never
 * trusted. Loading also refuses a checkpoint whose state does not match the model's
 * (a state variable or auxiliary state one side has and the other lacks).
 * @module
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { writeFileAtomic } from '../report/atomic.js';
import { localName } from '../nn/names.js';
import type { AuxState, StateEntry } from '../nn/network.js';

interface Entry {
  name: string;
  shape: number[];
  offset: number;
  length: number;
}

export interface CheckpointIndex<M> {
  /** Format version (3). */
  version: number;
  /** Epochs completed. */
  epoch: number;
  /** Trainable variables. */
  variables: Entry[];
  /** Non-trainable layer state (batch-norm running statistics). */
  state: Entry[];
  /** State registered outside the layers, by owner name (`Network.auxState`). */
  aux: Record<string, Entry[]>;
  optimizer: Entry[];
  /** Payload size in bytes. */
  bytes: number;
  /** Free-form metadata (history, etc.). */
  meta: M;
}

export type OptimizerEntry = StateEntry;

/** What a checkpoint saves of a model: its trainable variables, and optionally its state (see the module doc). */
export interface CheckpointModel {
  variables(): tf.Variable[];
  stateVariables?(): tf.Variable[];
  auxState?: ReadonlyMap<string, AuxState>;
}

/** The model's parts; a bare variable list has no state. */
interface Parts {
  variables: tf.Variable[];
  state: tf.Variable[];
  aux: ReadonlyMap<string, AuxState>;
}

function partsOf(m: tf.Variable[] | CheckpointModel): Parts {
  if (Array.isArray(m)) return { variables: m, state: [], aux: new Map() };
  return { variables: m.variables(), state: m.stateVariables?.() ?? [], aux: m.auxState ?? new Map() };
}

const VERSION = 3;
const MAGIC = Buffer.from(`BPCKPT${VERSION}\n`, 'latin1');
/** Magic numbers of earlier versions, rejected with a message saying what they lack. */
const OLD_MAGIC: Record<string, string> = {
  'BPCKPT2\n':
    'is of checkpoint format version 2, which lacks the batch-norm running statistics and other training state (a run resumed from it is not identical to an uninterrupted one)',
};
const HASH_BYTES = 32;

/** Path of the checkpoint file `name` in `dir`. */
export function checkpointPath(dir: string, name: string): string {
  return join(dir, `${name}.ckpt`);
}

/** Error for a checkpoint that exists but cannot be trusted. */
export class CheckpointError extends Error {
  constructor(
    readonly file: string,
    problem: string,
    verdict = 'it cannot be trusted',
  ) {
    super(
      `checkpoint ${file} ${problem}; ${verdict}: delete it to retrain this model from epoch 0 (the rest of the partial run is kept), or delete the whole partial directory and start a new run`,
    );
    this.name = 'CheckpointError';
  }
}

function pack(items: { name: string; shape: number[]; values: Float32Array }[], start: number): { entries: Entry[]; parts: Float32Array[]; end: number } {
  const entries: Entry[] = [];
  const parts: Float32Array[] = [];
  let offset = start;
  for (const it of items) {
    entries.push({ name: it.name, shape: it.shape, offset, length: it.values.length });
    parts.push(it.values);
    offset += it.values.length;
  }
  return { entries, parts, end: offset };
}

/** The bytes of a checkpoint file (see the module comment for the layout). */
export function encodeCheckpoint<M>(
  epoch: number,
  vars: StateEntry[],
  optimizer: StateEntry[],
  meta: M,
  extra: { state?: StateEntry[]; aux?: Record<string, StateEntry[]> } = {},
): Uint8Array {
  const a = pack(vars, 0);
  const st = pack(extra.state ?? [], a.end);
  let end = st.end;
  const parts = [...a.parts, ...st.parts];
  const aux: Record<string, Entry[]> = {};
  for (const [k, entries] of Object.entries(extra.aux ?? {})) {
    const p = pack(entries, end);
    aux[k] = p.entries;
    parts.push(...p.parts);
    end = p.end;
  }
  const b = pack(optimizer, end);
  parts.push(...b.parts);
  const payload = new Float32Array(b.end);
  let o = 0;
  for (const p of parts) {
    payload.set(p, o);
    o += p.length;
  }
  const index: CheckpointIndex<M> = {
    version: VERSION,
    epoch,
    variables: a.entries,
    state: st.entries,
    aux,
    optimizer: b.entries,
    bytes: payload.byteLength,
    meta,
  };
  const header = Buffer.from(JSON.stringify(index), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32LE(header.length, 0);
  const body = Buffer.concat([MAGIC, len, header, Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)]);
  const hash = createHash('sha256').update(body).digest();
  return Buffer.concat([body, hash]);
}

/** Parse and verify checkpoint bytes; throws {@link CheckpointError} naming `file` on any inconsistency. */
export function decodeCheckpoint<M>(buf: Buffer, file: string): { index: CheckpointIndex<M>; payload: Float32Array } {
  const old = OLD_MAGIC[buf.subarray(0, MAGIC.length).toString('latin1')];
  if (old) throw new CheckpointError(file, old);
  if (buf.length < MAGIC.length || !buf.subarray(0, MAGIC.length).equals(MAGIC))
    throw new CheckpointError(file, `is not a bayesprune checkpoint (${buf.length} bytes, bad magic number)`);
  const start = MAGIC.length + 4;
  if (buf.length < start + HASH_BYTES) throw new CheckpointError(file, `is truncated (${buf.length} bytes)`);
  const h = buf.readUInt32LE(MAGIC.length);
  if (start + h + HASH_BYTES > buf.length)
    throw new CheckpointError(file, `is truncated (${buf.length} bytes; its header alone needs ${start + h + HASH_BYTES})`);
  const body = buf.subarray(0, buf.length - HASH_BYTES);
  const hash = createHash('sha256').update(body).digest();
  if (!hash.equals(buf.subarray(buf.length - HASH_BYTES)))
    throw new CheckpointError(file, `fails its SHA-256 check (truncated, torn or modified: ${buf.length} bytes)`);
  let index: CheckpointIndex<M>;
  try {
    index = JSON.parse(buf.subarray(start, start + h).toString('utf8')) as CheckpointIndex<M>;
  } catch {
    throw new CheckpointError(file, 'has an unreadable header');
  }
  const payloadBytes = body.length - start - h;
  if (index.version !== VERSION || !Array.isArray(index.variables) || !Array.isArray(index.state) || !index.aux || !Array.isArray(index.optimizer))
    throw new CheckpointError(file, `has an inconsistent header (format version ${index.version}, expected ${VERSION})`);
  if (!Number.isInteger(index.epoch) || index.epoch < 0 || index.bytes !== payloadBytes || payloadBytes % 4 !== 0)
    throw new CheckpointError(file, `has an inconsistent header (epoch ${index.epoch}, ${index.bytes} payload bytes declared, ${payloadBytes} present)`);
  const n = payloadBytes / 4;
  for (const e of [...index.variables, ...index.state, ...Object.values(index.aux).flat(), ...index.optimizer])
    if (!(e.offset >= 0 && e.length >= 0 && e.offset + e.length <= n)) throw new CheckpointError(file, `has entry "${e.name}" outside its payload`);
  const payload = new Float32Array(n);
  new Uint8Array(payload.buffer).set(body.subarray(start + h));
  return { index, payload };
}

const entriesOf = (vs: tf.Variable[]): StateEntry[] =>
  vs.map((v) => ({ name: localName(v.name), shape: v.shape, values: Float32Array.from(v.dataSync() as Float32Array) }));

/**
 * Save a model's trainable variables, its layer state and auxiliary state (when `model` is a
 * network; a bare variable list has none) and the optimizer state as the single file
 * `dir/<name>.ckpt` (atomic replace).
 */
export async function saveCheckpoint<M>(
  dir: string,
  name: string,
  epoch: number,
  model: tf.Variable[] | CheckpointModel,
  optimizer: OptimizerEntry[],
  meta: M,
): Promise<void> {
  const p = partsOf(model);
  const aux = Object.fromEntries([...p.aux].map(([k, a]) => [k, a.saveState()]));
  await writeFileAtomic(checkpointPath(dir, name), encodeCheckpoint(epoch, entriesOf(p.variables), optimizer, meta, { state: entriesOf(p.state), aux }));
}

/** Check that the checkpoint entries `saved` fit the variables `vars` one to one (`what`: "variable", "state variable"). */
function checkFit(file: string, saved: Entry[], vars: tf.Variable[], what: string): Map<string, tf.Variable> {
  const byName = new Map(vars.map((v) => [localName(v.name), v]));
  for (const e of saved) {
    const v = byName.get(e.name);
    if (!v) throw new CheckpointError(file, `has ${what} "${e.name}" that the model lacks (was the config changed?)`);
    if (v.size !== e.length) throw new CheckpointError(file, `has ${e.length} values for ${what} "${e.name}", the model expects ${v.size}`);
  }
  if (saved.length !== vars.length) {
    const have = new Set(saved.map((e) => e.name));
    const missing = [...byName.keys()].filter((n) => !have.has(n));
    throw new CheckpointError(
      file,
      `has ${saved.length} ${what}s, the model ${vars.length}${missing.length ? ` (it lacks ${missing.map((n) => `"${n}"`).join(', ')})` : ''} (was the config changed?)`,
    );
  }
  return byName;
}

/**
 * Load the checkpoint `dir/<name>.ckpt` if one exists (null otherwise) and assign the
 * variable values, the layer state and the auxiliary state in place. A checkpoint that
 * exists but is damaged, torn, of an older format, or does not fit the model (variables,
 * state variables and auxiliary state must match one to one) is an error (nothing is
 * assigned then, except the auxiliary state, which is loaded first so that its owner can
 * refuse the checkpoint with its own reason, e.g. unit removal after a removal).
 */
export function loadCheckpoint<M>(
  dir: string,
  name: string,
  model: tf.Variable[] | CheckpointModel,
): { index: CheckpointIndex<M>; optimizer: OptimizerEntry[] } | null {
  const file = checkpointPath(dir, name);
  if (!existsSync(file)) {
    for (const old of [`${name}.ckpt.json`, `${name}.ckpt.bin`])
      if (existsSync(join(dir, old))) throw new CheckpointError(join(dir, old), 'is of the old two-part format, whose parts can come from different epochs');
    return null;
  }
  const { index, payload } = decodeCheckpoint<M>(readFileSync(file), file);
  const p = partsOf(model);
  const savedAux = Object.keys(index.aux).sort();
  const modelAux = [...p.aux.keys()].sort();
  if (savedAux.join('\0') !== modelAux.join('\0'))
    throw new CheckpointError(file, `holds training state of [${savedAux.join(', ')}], the model has [${modelAux.join(', ')}] (was the config changed?)`);
  const values = (e: Entry) => payload.slice(e.offset, e.offset + e.length);
  // Auxiliary state first: its owner may refuse the checkpoint with a better reason than a shape mismatch.
  for (const [k, a] of p.aux) {
    try {
      a.loadState(index.aux[k]!.map((e) => ({ name: e.name, shape: e.shape, values: values(e) })));
    } catch (err) {
      throw new CheckpointError(file, `holds training state of ${k} that cannot be restored: ${(err as Error).message}`, 'it cannot be resumed');
    }
  }
  const vars = checkFit(file, index.variables, p.variables, 'variable');
  const state = checkFit(file, index.state, p.state, 'state variable');
  for (const [entries, byName] of [
    [index.variables, vars],
    [index.state, state],
  ] as const) {
    for (const e of entries) {
      const v = byName.get(e.name)!;
      const t = tf.tensor(payload.subarray(e.offset, e.offset + e.length), v.shape);
      v.assign(t);
      t.dispose();
    }
  }
  const optimizer = index.optimizer.map((e) => ({ name: e.name, shape: e.shape, values: values(e) }));
  return { index, optimizer };
}
