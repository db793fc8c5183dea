// NumPy .npy read/write (format 1.0/2.0/3.0). The header is parsed natively (native/io/npy):
// big-endian data is byte-swapped on load, fortran_order arrays load as a transposed view
// (no copy), b1 loads as u8 and wider integers (i2 u2 u4 i8 u8) as range-checked i32.
// Saving writes format 1.0 C-order through a temp file and rename.
import { DType, isPacked } from '../dtype';
import { ntError } from '../errors';
import { MAX_DIMS, MAX_ELEMENTS, numel, shapeString } from '../shape';
import { Tensor } from '../tensor';
import { IoJob, call, checkLoadDType, checkOptions, checkPath, runAsync, runSync } from './common';

export interface NpyLoadOptions {
  /** Convert the array to this dtype on load (any dtype but the packed u4/i4). */
  dtype?: DType;
}

function* loadJob(op: string, path: unknown, options: unknown): IoJob<Tensor> {
  const p = checkPath(op, path);
  const opts = checkOptions(op, options);
  const requested = checkLoadDType(op, opts.dtype, false);
  const h = yield* call('npyHeader', p);
  if (h.loadAs === null) throw ntError('NT_UNSUPPORTED', `[${op}] ${p}: dtype '${h.descr}' cannot be loaded`);
  if (h.shape.length > MAX_DIMS)
    throw ntError('NT_UNSUPPORTED', `[${op}] ${p}: array has rank ${h.shape.length}; ntensor tensors have at most ${MAX_DIMS} dimensions`);
  if (numel(h.shape) > MAX_ELEMENTS)
    throw ntError('NT_UNSUPPORTED', `[${op}] ${p}: array ${shapeString(h.shape)} has ${numel(h.shape)} elements; at most ${MAX_ELEMENTS}`);
  const dtype = requested ?? (h.loadAs as DType);
  // A Fortran-order file is C-order data of the reversed shape; its transpose is the array.
  const stored = h.fortranOrder ? h.shape.slice().reverse() : h.shape;
  const base = Tensor._empty(op, stored, dtype);
  let ok = false;
  try {
    yield* call('npyRead', p, base._storage, base._metaArray);
    ok = true;
  } finally {
    if (!ok) base.dispose();
  }
  if (!h.fortranOrder) return base;
  const view = base.transpose();
  base.dispose();
  return view;
}

/** The array in a .npy file. */
export function loadNpy(path: string, opts: NpyLoadOptions = {}): Tensor {
  return runSync('io.loadNpy', loadJob('io.loadNpy', path, opts));
}

/** loadNpy with the file reading on a libuv worker. */
export function loadNpyAsync(path: string, opts: NpyLoadOptions = {}): Promise<Tensor> {
  return runAsync('io.loadNpyAsync', loadJob('io.loadNpyAsync', path, opts));
}

function* saveJob(op: string, path: unknown, t: unknown): IoJob<void> {
  const p = checkPath(op, path);
  if (!(t instanceof Tensor)) throw ntError('NT_VALUE', `[${op}] expected a Tensor`);
  t._check(op);
  if (isPacked(t.dtype) || t.dtype === 'bf16')
    throw ntError(
      'NT_UNSUPPORTED',
      `[${op}] dtype ${t.dtype} has no .npy equivalent${t.dtype === 'bf16' ? " (numpy has no bfloat16; astype('f32') first)" : ''}`,
    );
  yield* call('npySave', p, t._storage, t._metaArray);
}

/** Writes a tensor (any view; stored C-order) as a .npy file, atomically. */
export function saveNpy(path: string, t: Tensor): void {
  runSync('io.saveNpy', saveJob('io.saveNpy', path, t));
}

export function saveNpyAsync(path: string, t: Tensor): Promise<void> {
  return runAsync('io.saveNpyAsync', saveJob('io.saveNpyAsync', path, t));
}
