/**
 * Resumable checkpoints: the values of every variable and the optimizer state, with
 * the epoch and free-form metadata, as ONE file `<dir>/<name>.ckpt` written atomically
 * (temp file, fsync, rename). A checkpoint is therefore one unit: it is either the
 * complete file of one epoch or absent; it can never mix parts of two epochs.
 *
 * Layout (all integers little-endian):
 *
 *   magic "BPCKPT2\n" (8 bytes) | header length H (uint32) | header JSON (H bytes, UTF-8)
 *   | payload (float32 values, `header.bytes` bytes) | SHA-256 of everything before (32 bytes)
 *
 * The header holds the epoch, the variable and optimizer entries (name, shape, offset,
 * length into the payload) and the metadata. Loading verifies the magic, the lengths and
 * the checksum, and rejects anything else with a message naming the file and saying how
 * to recover. Files of the older two-part format (`.ckpt.bin` + `.ckpt.json`, which could
 * tear) are rejected too, never trusted.
 * @module
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { writeFileAtomic } from '../report/atomic.js';
import { localName } from '../nn/names.js';

interface Entry {
  name: string;
  shape: number[];
  offset: number;
  length: number;
}

export interface CheckpointIndex<M> {
  /** Epochs completed. */
  epoch: number;
  variables: Entry[];
  optimizer: Entry[];
  /** Payload size in bytes. */
  bytes: number;
  /** Free-form metadata (history, etc.). */
  meta: M;
}

export interface OptimizerEntry {
  name: string;
  shape: number[];
  values: Float32Array;
}

const MAGIC = Buffer.from('BPCKPT2\n', 'latin1');
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
  ) {
    super(
      `checkpoint ${file} ${problem}; it cannot be trusted: delete it to retrain this model from epoch 0 (the rest of the partial run is kept), or delete the whole partial directory and start a new run`,
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
export function encodeCheckpoint<M>(epoch: number, vars: OptimizerEntry[], optimizer: OptimizerEntry[], meta: M): Uint8Array {
  const a = pack(vars, 0);
  const b = pack(optimizer, a.end);
  const payload = new Float32Array(b.end);
  let o = 0;
  for (const p of [...a.parts, ...b.parts]) {
    payload.set(p, o);
    o += p.length;
  }
  const index: CheckpointIndex<M> = { epoch, variables: a.entries, optimizer: b.entries, bytes: payload.byteLength, meta };
  const header = Buffer.from(JSON.stringify(index), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32LE(header.length, 0);
  const body = Buffer.concat([MAGIC, len, header, Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)]);
  const hash = createHash('sha256').update(body).digest();
  return Buffer.concat([body, hash]);
}

/** Parse and verify checkpoint bytes; throws {@link CheckpointError} naming `file` on any inconsistency. */
export function decodeCheckpoint<M>(buf: Buffer, file: string): { index: CheckpointIndex<M>; payload: Float32Array } {
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
  if (!Number.isInteger(index.epoch) || index.epoch < 0 || index.bytes !== payloadBytes || payloadBytes % 4 !== 0)
    throw new CheckpointError(file, `has an inconsistent header (epoch ${index.epoch}, ${index.bytes} payload bytes declared, ${payloadBytes} present)`);
  const n = payloadBytes / 4;
  for (const e of [...index.variables, ...index.optimizer])
    if (!(e.offset >= 0 && e.length >= 0 && e.offset + e.length <= n)) throw new CheckpointError(file, `has entry "${e.name}" outside its payload`);
  const payload = new Float32Array(n);
  new Uint8Array(payload.buffer).set(body.subarray(start + h));
  return { index, payload };
}

/** Save `variables` and optimizer state as the single file `dir/<name>.ckpt` (atomic replace). */
export async function saveCheckpoint<M>(
  dir: string,
  name: string,
  epoch: number,
  variables: tf.Variable[],
  optimizer: OptimizerEntry[],
  meta: M,
): Promise<void> {
  const vars = variables.map((v) => ({ name: localName(v.name), shape: v.shape, values: v.dataSync() as Float32Array }));
  await writeFileAtomic(checkpointPath(dir, name), encodeCheckpoint(epoch, vars, optimizer, meta));
}

/**
 * Load the checkpoint `dir/<name>.ckpt` if one exists (null otherwise) and assign the
 * variable values in place. A checkpoint that exists but is damaged, torn, of the old
 * two-part format, or does not fit the model is an error (nothing is assigned then).
 */
export function loadCheckpoint<M>(dir: string, name: string, variables: tf.Variable[]): { index: CheckpointIndex<M>; optimizer: OptimizerEntry[] } | null {
  const file = checkpointPath(dir, name);
  if (!existsSync(file)) {
    for (const old of [`${name}.ckpt.json`, `${name}.ckpt.bin`])
      if (existsSync(join(dir, old))) throw new CheckpointError(join(dir, old), 'is of the old two-part format, whose parts can come from different epochs');
    return null;
  }
  const { index, payload } = decodeCheckpoint<M>(readFileSync(file), file);
  const byName = new Map(variables.map((v) => [localName(v.name), v]));
  if (index.variables.length !== variables.length)
    throw new CheckpointError(file, `has ${index.variables.length} variables, the model ${variables.length} (was the config changed?)`);
  for (const e of index.variables) {
    const v = byName.get(e.name);
    if (!v) throw new CheckpointError(file, `has variable "${e.name}" that the model lacks (was the config changed?)`);
    if (v.size !== e.length) throw new CheckpointError(file, `has ${e.length} values for "${e.name}", the model expects ${v.size}`);
  }
  for (const e of index.variables) {
    const v = byName.get(e.name)!;
    const t = tf.tensor(payload.subarray(e.offset, e.offset + e.length), v.shape);
    v.assign(t);
    t.dispose();
  }
  const optimizer = index.optimizer.map((e) => ({ name: e.name, shape: e.shape, values: payload.slice(e.offset, e.offset + e.length) }));
  return { index, optimizer };
}
