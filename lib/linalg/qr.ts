// nt.linalg.qr: Householder QR, blocked (recursive panels + compact WY trailing updates through
// GEMM; see native/linalg/qr.h).
import { ntError } from '../errors';
import { native } from '../native/loader';
import { checkOptions, describe } from '../ops/common';
import { Tensor } from '../tensor';
import { callNative, callNativeAsync, checkMatrix, resultDType } from './factor-util';

export type QrMode = 'reduced' | 'complete';

export interface QrOptions {
  /** 'reduced' (default): Q [m, k], R [k, n] with k = min(m, n). 'complete': Q [m, m], R [m, n]. */
  mode?: QrMode;
}

export interface QrResult {
  /** Orthonormal columns. */
  Q: Tensor;
  /** Upper triangular (exact zeros below the diagonal); its diagonal may be negative (LAPACK convention). */
  R: Tensor;
}

interface QrCall {
  a: Tensor;
  Q: Tensor;
  R: Tensor;
}

function prepare(a: Tensor, opts: QrOptions | undefined): QrCall {
  const o = checkOptions<QrOptions>('linalg.qr', opts);
  const x = checkMatrix('linalg.qr', a, 'a');
  const mode = o.mode ?? 'reduced';
  if (mode !== 'reduced' && mode !== 'complete')
    throw ntError('NT_VALUE', `[linalg.qr] mode must be 'reduced' or 'complete', got ${describe(mode)}`);
  const [m, n] = x.shape;
  const k = mode === 'complete' ? m : Math.min(m, n);
  const dtype = resultDType(x);
  const Q = Tensor._empty('linalg.qr', [m, k], dtype);
  const R = Tensor._empty('linalg.qr', [k, n], dtype);
  return { a: x, Q, R };
}

/**
 * A = Q R for any m x n float matrix (tall, wide or square; rank-deficient and zero matrices
 * included). f64 input computes in f64; f32/f16/bf16 in f32 (results are f32). Strided views are
 * accepted. NaN/Inf in `a` is NT_VALUE. Like LAPACK, R's diagonal is not sign-normalized.
 */
export function qr(a: Tensor, opts?: QrOptions): QrResult {
  const c = prepare(a, opts);
  callNative([c.Q, c.R], () => native.qr(c.a._storage, c.a._metaArray, c.Q._storage, c.Q._metaArray, c.R._storage, c.R._metaArray));
  return { Q: c.Q, R: c.R };
}

/** qr on a worker thread. */
export async function qrAsync(a: Tensor, opts?: QrOptions): Promise<QrResult> {
  const c = prepare(a, opts);
  await callNativeAsync([c.Q, c.R], [c.a], () =>
    native.qrAsync(c.a._storage, c.a._metaArray, c.Q._storage, c.Q._metaArray, c.R._storage, c.R._metaArray),
  );
  return { Q: c.Q, R: c.R };
}
