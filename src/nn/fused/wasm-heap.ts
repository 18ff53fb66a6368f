/**
 * The parts of tfjs-backend-wasm's backend that the fused kernels use: allocate an output
 * in the wasm heap and view a tensor's bytes there as a typed array (no copy).
 * @module
 */
import type * as tf from '@tensorflow/tfjs-core';

export interface WasmHeapBackend {
  makeOutput(shape: number[], dtype: tf.DataType, memoryOffset?: number, values?: tf.backend_util.BackendValues): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): tf.backend_util.TypedArray;
  disposeData(dataId: tf.DataId, force?: boolean): boolean;
}

/** The kernel's backend as a {@link WasmHeapBackend} (checked, so a misuse fails clearly). */
export function wasmBackendOf(backend: unknown): WasmHeapBackend {
  const b = backend as Partial<WasmHeapBackend>;
  if (typeof b.makeOutput !== 'function' || typeof b.typedArrayFromHeap !== 'function') {
    throw new Error('bayesprune fused kernel: registered for wasm but called with a backend that has no wasm heap');
  }
  return b as WasmHeapBackend;
}
