/**
 * Kernels the WebAssembly backend of tfjs 4.22 lacks, registered for `wasm`.
 *
 * `Conv2DBackpropFilter` (the gradient of a 2-D convolution with respect to its
 * filter) is missing from `@tensorflow/tfjs-backend-wasm`, so any conv layer
 * trained on wasm fails at its first backward pass. `Conv2DBackpropInput` and
 * `MaxPoolGrad` exist on wasm (checked by the tests).
 *
 * `Conv2DBackpropInput` exists on wasm but is slow (it dominated a LeNet-5 training step:
 * ≈ 670 of ≈ 1600 ms), so it is replaced by a matMul + col2im version ({@link col2im}).
 *
 * For x [N, H, W, Cin] (NHWC), dy [N, OH, OW, Cout] and a filter [KH, KW, Cin, Cout]:
 *
 *   dW[kh, kw, ci, co] = Σ_{n, oh, ow} x[n, oh·sh + kh·dh − padTop, ow·sw + kw·dw − padLeft, ci] · dy[n, oh, ow, co]
 *
 * (out-of-range input positions are zero padding). Implemented as im2col + one
 * matrix product: the patch matrix X_col [N·OH·OW, KH·KW·Cin] is built in JS
 * directly in the wasm heap, then dW = X_colᵀ · dy_[N·OH·OW, Cout] runs on the
 * backend's own (SIMD, possibly threaded) `BatchMatMul` kernel. The row-major
 * layout of X_col's columns (kh, kw, ci) is the filter layout, so the product is
 * the filter gradient with no transpose. X_col is written transposed ([K, P]) so the
 * product needs no `transposeA`, which is much slower in the wasm matMul.
 *
 * Measured on the LeNet-5-Caffe conv2 gradient (x [100,12,12,20], dy [100,8,8,50],
 * busy 2-core machine, wasm SIMD without threads): transposed im2col (≈ 15–25 ms) +
 * wasm matMul (≈ 30 ms) ≈ 50 ms; im2col with a `transposeA` matMul ≈ 280 ms; a direct
 * JS loop ≈ 850–950 ms; the cpu backend's own kernel over 60 s. The direct loop is kept as {@link conv2dBackpropFilterReference}
 * for tests and for the measurement.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
// Fast paths of the mean-field training step that replace kernels at load time (copy-free Identity).
import './fused/identity.js';

type ConvInfo = tf.backend_util.Conv2DInfo;

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType, memoryOffset?: number, values?: tf.backend_util.BackendValues): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): tf.backend_util.TypedArray;
  disposeData(dataId: tf.DataId, force?: boolean): boolean;
}

interface BackpropFilterAttrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
}

/** Conv geometry of a backprop-filter call (tfjs's own padding arithmetic). */
function convInfoOf(xShape: number[], a: BackpropFilterAttrs): ConvInfo {
  if (a.dataFormat && a.dataFormat !== 'NHWC')
    throw new Error(`Conv2DBackpropFilter (wasm, registered by bayesprune): only NHWC is supported, got ${a.dataFormat}`);
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    a.filterShape,
    a.strides,
    1,
    a.pad,
    a.dimRoundingMode,
    false,
    'channelsLast',
  );
}

/** The conv geometry under the short names the patch loops below use. */
function geometry(c: ConvInfo) {
  return {
    N: c.batchSize,
    H: c.inHeight,
    W: c.inWidth,
    C: c.inChannels,
    OH: c.outHeight,
    OW: c.outWidth,
    KH: c.filterHeight,
    KW: c.filterWidth,
    sh: c.strideHeight,
    sw: c.strideWidth,
    dh: c.dilationHeight,
    dw: c.dilationWidth,
    top: c.padInfo.top,
    left: c.padInfo.left,
  };
}

/**
 * Fill `colT` [KH·KW·Cin, N·OH·OW] with the transposed patch matrix of `x` (zero
 * where a patch reaches into padding): colT[(kh·KW + kw)·Cin + ci, (n·OH + oh)·OW + ow].
 * Built transposed because the wasm matMul with `transposeA` is ~8× slower than without.
 */
export function im2colT(x: ArrayLike<number>, c: ConvInfo, colT: Float32Array): void {
  const { N, H, W, C, OH, OW, KH, KW, sh, sw, dh, dw, top, left } = geometry(c);
  const P = N * OH * OW;
  for (let kh = 0; kh < KH; kh++) {
    for (let kw = 0; kw < KW; kw++) {
      const kBase = (kh * KW + kw) * C;
      let row = 0;
      for (let n = 0; n < N; n++) {
        const xn = n * H * W * C;
        for (let oh = 0; oh < OH; oh++) {
          const ih = oh * sh + kh * dh - top;
          for (let ow = 0; ow < OW; ow++, row++) {
            const iw = ow * sw + kw * dw - left;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) {
              for (let ci = 0; ci < C; ci++) colT[(kBase + ci) * P + row] = 0;
            } else {
              const src = xn + (ih * W + iw) * C;
              for (let ci = 0; ci < C; ci++) colT[(kBase + ci) * P + row] = x[src + ci]!;
            }
          }
        }
      }
    }
  }
}

/** The filter gradient by a direct loop in JS (reference and fallback; slow). */
export function conv2dBackpropFilterReference(x: ArrayLike<number>, dy: ArrayLike<number>, c: ConvInfo): Float32Array {
  const {
    batchSize: N,
    inHeight: H,
    inWidth: W,
    inChannels: C,
    outHeight: OH,
    outWidth: OW,
    outChannels: CO,
    filterHeight: KH,
    filterWidth: KW,
    strideHeight: sh,
    strideWidth: sw,
    dilationHeight: dh,
    dilationWidth: dw,
  } = c;
  const top = c.padInfo.top;
  const left = c.padInfo.left;
  const dW = new Float32Array(KH * KW * C * CO);
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const dyBase = ((n * OH + oh) * OW + ow) * CO;
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * sh + kh * dh - top;
          if (ih < 0 || ih >= H) continue;
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * sw + kw * dw - left;
            if (iw < 0 || iw >= W) continue;
            const xBase = ((n * H + ih) * W + iw) * C;
            const wBase = (kh * KW + kw) * C * CO;
            for (let ci = 0; ci < C; ci++) {
              const xv = x[xBase + ci]!;
              if (xv === 0) continue;
              const o = wBase + ci * CO;
              for (let co = 0; co < CO; co++) dW[o + co]! += xv * dy[dyBase + co]!;
            }
          }
        }
      }
    }
  }
  return dW;
}

/** Kernel function: im2col into the wasm heap, then the wasm BatchMatMul kernel. */
function conv2dBackpropFilterWasm(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const backend = args.backend as WasmBackendLike;
  const x = args.inputs.x!;
  const dy = args.inputs.dy!;
  const attrs = args.attrs as unknown as BackpropFilterAttrs;
  if (x.dtype !== 'float32' || dy.dtype !== 'float32') throw new Error('Conv2DBackpropFilter (wasm): float32 only');
  const c = convInfoOf(x.shape, attrs);
  const P = c.batchSize * c.outHeight * c.outWidth;
  const K = c.filterHeight * c.filterWidth * c.inChannels;
  const col = backend.makeOutput([1, K, P], 'float32');
  // Views into the heap are taken after the allocation (an allocation may grow and move the heap).
  im2colT(backend.typedArrayFromHeap(x) as Float32Array, c, backend.typedArrayFromHeap(col) as Float32Array);
  const matMul = tf.getKernel('BatchMatMul', 'wasm');
  if (!matMul) throw new Error('Conv2DBackpropFilter (wasm): the wasm backend has no BatchMatMul kernel');
  const dy3: tf.TensorInfo = { dataId: dy.dataId, shape: [1, P, c.outChannels], dtype: 'float32' };
  const out = matMul.kernelFunc({
    inputs: { a: col, b: dy3 },
    backend: args.backend as tf.KernelBackend,
    attrs: { transposeA: false, transposeB: false } as unknown as tf.NamedAttrMap,
  }) as tf.TensorInfo;
  backend.disposeData(col.dataId);
  return { dataId: out.dataId, shape: [...attrs.filterShape], dtype: 'float32' };
}

/**
 * dX for `Conv2DBackpropInput` by matMul + col2im: dX_col [N·OH·OW, KH·KW·Cin] = dy · Wᵀ
 * (on the wasm BatchMatMul, with W [K, Cout] transposed in JS first: it is small), then
 *
 *   dx[n, oh·sh + kh·dh − padTop, ow·sw + kw·dw − padLeft, ci] += dX_col[(n, oh, ow), (kh, kw, ci)]
 *
 * (positions in the padding are dropped). The wasm backend's own kernel is ~5–10× slower
 * on LeNet-5 shapes (≈ 335 ms vs ≈ 35 ms per call for dy [100, 8, 8, 50], W [5, 5, 20, 50];
 * a whole LeNet-5 LRT training step went from ≈ 1.6 s to ≈ 0.55 s on a busy 2-core machine).
 */
function conv2dBackpropInputWasm(original: tf.KernelConfig | undefined) {
  return (args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo => {
    const backend = args.backend as WasmBackendLike;
    const dy = args.inputs.dy!;
    const filter = args.inputs.filter!;
    const attrs = args.attrs as unknown as {
      strides: [number, number] | number;
      pad: BackpropFilterAttrs['pad'];
      dataFormat: 'NHWC' | 'NCHW';
      dimRoundingMode?: 'floor' | 'round' | 'ceil';
      inputShape: [number, number, number, number];
    };
    if ((attrs.dataFormat && attrs.dataFormat !== 'NHWC') || dy.dtype !== 'float32' || filter.dtype !== 'float32') {
      if (!original) throw new Error('Conv2DBackpropInput (wasm): unsupported arguments and no original kernel');
      return original.kernelFunc(args as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
    }
    const c = tf.backend_util.computeConv2DInfo(
      attrs.inputShape,
      filter.shape as [number, number, number, number],
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
      false,
      'channelsLast',
    );
    const P = c.batchSize * c.outHeight * c.outWidth;
    const K = c.filterHeight * c.filterWidth * c.inChannels;
    const CO = c.outChannels;
    const wT = backend.makeOutput([1, CO, K], 'float32');
    {
      const w = backend.typedArrayFromHeap(filter) as Float32Array;
      const t = backend.typedArrayFromHeap(wT) as Float32Array;
      for (let k = 0; k < K; k++) for (let o = 0; o < CO; o++) t[o * K + k] = w[k * CO + o]!;
    }
    const matMul = tf.getKernel('BatchMatMul', 'wasm');
    if (!matMul) throw new Error('Conv2DBackpropInput (wasm): the wasm backend has no BatchMatMul kernel');
    const dy3: tf.TensorInfo = { dataId: dy.dataId, shape: [1, P, CO], dtype: 'float32' };
    const col = matMul.kernelFunc({
      inputs: { a: dy3, b: wT },
      backend: args.backend as tf.KernelBackend,
      attrs: { transposeA: false, transposeB: false } as unknown as tf.NamedAttrMap,
    }) as tf.TensorInfo;
    backend.disposeData(wT.dataId);
    const out = backend.makeOutput([...attrs.inputShape], 'float32');
    col2im(backend.typedArrayFromHeap(col) as Float32Array, c, backend.typedArrayFromHeap(out) as Float32Array);
    backend.disposeData(col.dataId);
    return out;
  };
}

/** Scatter-add the patch-gradient matrix col [N·OH·OW, KH·KW·Cin] into dx [N, H, W, Cin] (zeroed first). */
export function col2im(col: ArrayLike<number>, c: ConvInfo, dx: Float32Array): void {
  const { N, H, W, C, OH, OW, KH, KW, sh, sw, dh, dw, top, left } = geometry(c);
  const K = KH * KW * C;
  dx.fill(0);
  let row = 0;
  for (let n = 0; n < N; n++) {
    const xn = n * H * W * C;
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++, row++) {
        const base = row * K;
        let k = 0;
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * sh + kh * dh - top;
          for (let kw = 0; kw < KW; kw++, k += C) {
            const iw = ow * sw + kw * dw - left;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            const dst = xn + (ih * W + iw) * C;
            for (let ci = 0; ci < C; ci++) dx[dst + ci]! += col[base + k + ci]!;
          }
        }
      }
    }
  }
}

let registered = false;

/**
 * Register the missing (and replace the slow) wasm kernels (idempotent). Called on import.
 * `Conv2DBackpropFilter` is added only when tfjs lacks it; `Conv2DBackpropInput` is replaced
 * by {@link col2im}-based code (the original stays as the fallback for NCHW).
 */
export function registerWasmKernels(): void {
  if (registered) return;
  registered = true;
  if (!tf.getKernel('Conv2DBackpropFilter', 'wasm')) {
    tf.registerKernel({ kernelName: 'Conv2DBackpropFilter', backendName: 'wasm', kernelFunc: conv2dBackpropFilterWasm as unknown as tf.KernelFunc });
  }
  const original = tf.getKernel('Conv2DBackpropInput', 'wasm');
  if (original) tf.unregisterKernel('Conv2DBackpropInput', 'wasm');
  tf.registerKernel({
    kernelName: 'Conv2DBackpropInput',
    backendName: 'wasm',
    setupFunc: original?.setupFunc,
    kernelFunc: conv2dBackpropInputWasm(original) as unknown as tf.KernelFunc,
  });
}

registerWasmKernels();
