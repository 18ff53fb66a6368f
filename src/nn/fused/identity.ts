/**
 * A copy-free `Identity` kernel for the wasm backend.
 *
 * tfjs's gradient tape and `tf.keep` / `clone` run `Identity` many times per training step
 * (~85 for LeNet-300-100); the wasm backend's kernel copies the tensor's bytes each time.
 * This one returns the same data with its reference count raised, as the wasm `Reshape`
 * kernel and the cpu backend's `Identity` already do. That is safe because no kernel writes
 * into its inputs (tfjs's and this package's kernels all write to fresh outputs).
 * With `fusedPaths.copyFreeIdentity` off it is the original copying kernel.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { fusedPaths } from './settings.js';

let registered = false;

/** Replace wasm's `Identity` by the copy-free one (idempotent; called on import). */
export function registerCopyFreeIdentity(): void {
  if (registered) return;
  const original = tf.getKernel('Identity', 'wasm');
  if (!original) return; // the wasm backend is not loaded
  registered = true;
  tf.unregisterKernel('Identity', 'wasm');
  tf.registerKernel({
    kernelName: 'Identity',
    backendName: 'wasm',
    setupFunc: original.setupFunc,
    kernelFunc: ((args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }) => {
      const x = args.inputs.x!;
      if (!fusedPaths.copyFreeIdentity || x.dtype === 'string') return original.kernelFunc(args as Parameters<tf.KernelFunc>[0]);
      (args.backend as { incRef(d: tf.DataId): void }).incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    }) as unknown as tf.KernelFunc,
  });
}

registerCopyFreeIdentity();
