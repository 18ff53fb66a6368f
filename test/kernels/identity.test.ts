import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { setFusedPaths } from '../../src/nn/fused/settings.js';
import { useWasmBackend } from '../setup-backend.js';

useWasmBackend();

afterAll(async () => {
  setFusedPaths({ copyFreeIdentity: true });
});

const heapOffset = (t: tf.Tensor) => (tf.backend() as unknown as { typedArrayFromHeap(t: tf.TensorInfo): Float32Array }).typedArrayFromHeap(t).byteOffset;

describe('copy-free Identity on wasm', () => {
  it('clones share memory, outlive the original, and free it with the last reference', () => {
    const before = tf.memory().numBytes;
    const x = tf.tensor1d([1, 2, 3, 4.5]);
    const y = tf.clone(x);
    expect(heapOffset(y)).toBe(heapOffset(x));
    x.dispose();
    expect(Array.from(y.dataSync())).toEqual([1, 2, 3, 4.5]);
    // Further ops on the clone read the shared data.
    const z = tf.mul(y, 2);
    expect(Array.from(z.dataSync())).toEqual([2, 4, 6, 9]);
    tf.dispose([y, z]);
    expect(tf.memory().numBytes).toBe(before);
  });

  it('copies when switched off', () => {
    setFusedPaths({ copyFreeIdentity: false });
    const x = tf.tensor1d([1, 2]);
    const y = tf.clone(x);
    expect(heapOffset(y)).not.toBe(heapOffset(x));
    expect(Array.from(y.dataSync())).toEqual([1, 2]);
    tf.dispose([x, y]);
    setFusedPaths({ copyFreeIdentity: true });
  });

  it('a variable assigned from a clone keeps its value when the clone is disposed', () => {
    const v = tf.variable(tf.zeros([3]));
    const c = tf.clone(tf.tensor1d([7, 8, 9]));
    v.assign(c);
    c.dispose();
    expect(Array.from(v.dataSync())).toEqual([7, 8, 9]);
    v.dispose();
  });
});
