/**
 * Resumable checkpoints: the values of every variable and the optimizer state,
 * written atomically (binary first, then the JSON index that names it, so a
 * checkpoint is either complete or absent).
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { writeFileAtomic, writeJsonAtomic } from '../report/atomic.js';
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
  bytes: number;
  /** Free-form metadata (history, etc.). */
  meta: M;
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

/** Save `variables` and optimizer state under `dir/<name>.ckpt.{bin,json}`. */
export async function saveCheckpoint<M>(
  dir: string,
  name: string,
  epoch: number,
  variables: tf.Variable[],
  optimizer: { name: string; shape: number[]; values: Float32Array }[],
  meta: M,
): Promise<void> {
  const vars = variables.map((v) => ({ name: localName(v.name), shape: v.shape, values: v.dataSync() as Float32Array }));
  const a = pack(vars, 0);
  const b = pack(optimizer, a.end);
  const all = new Float32Array(b.end);
  let o = 0;
  for (const p of [...a.parts, ...b.parts]) {
    all.set(p, o);
    o += p.length;
  }
  await writeFileAtomic(join(dir, `${name}.ckpt.bin`), new Uint8Array(all.buffer));
  const index: CheckpointIndex<M> = { epoch, variables: a.entries, optimizer: b.entries, bytes: all.byteLength, meta };
  await writeJsonAtomic(join(dir, `${name}.ckpt.json`), index);
}

/** Load a checkpoint if a complete one exists; assigns variable values in place. */
export function loadCheckpoint<M>(
  dir: string,
  name: string,
  variables: tf.Variable[],
): { index: CheckpointIndex<M>; optimizer: { name: string; shape: number[]; values: Float32Array }[] } | null {
  const jp = join(dir, `${name}.ckpt.json`);
  const bp = join(dir, `${name}.ckpt.bin`);
  if (!existsSync(jp) || !existsSync(bp)) return null;
  const index = JSON.parse(readFileSync(jp, 'utf8')) as CheckpointIndex<M>;
  const buf = readFileSync(bp);
  if (buf.byteLength !== index.bytes) throw new Error(`${bp}: checkpoint is ${buf.byteLength} bytes, its index says ${index.bytes}; delete it to start over`);
  const all = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  const byName = new Map(variables.map((v) => [localName(v.name), v]));
  for (const e of index.variables) {
    const v = byName.get(e.name);
    if (!v) throw new Error(`${jp}: checkpoint has variable "${e.name}" that the model lacks (was the config changed?)`);
    if (v.size !== e.length) throw new Error(`${jp}: variable "${e.name}" has ${e.length} values, the model expects ${v.size}`);
    const t = tf.tensor(all.subarray(e.offset, e.offset + e.length), e.shape);
    v.assign(t);
    t.dispose();
  }
  if (index.variables.length !== variables.length) throw new Error(`${jp}: checkpoint has ${index.variables.length} variables, the model ${variables.length}`);
  const optimizer = index.optimizer.map((e) => ({ name: e.name, shape: e.shape, values: all.slice(e.offset, e.offset + e.length) }));
  return { index, optimizer };
}
