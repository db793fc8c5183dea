// Coded errors. The same codes come from the native guard (native/napi/guard.h), so callers
// can always switch on `err.code`. Shape and value problems are RangeErrors, dtype problems
// TypeErrors, the rest plain Errors — matching the native mapping.

export type ErrorCode =
  | 'NT_SHAPE'
  | 'NT_DTYPE'
  | 'NT_VALUE'
  | 'NT_DISPOSED'
  | 'NT_UNSUPPORTED'
  | 'NT_OOM'
  | 'NT_CUDA'
  | 'NT_IO'
  | 'NT_NUMERIC'
  | 'NT_INTERNAL';

export interface NtError extends Error {
  code: ErrorCode;
}

export function ntError(code: ErrorCode, message: string): NtError {
  const Ctor = code === 'NT_DTYPE' ? TypeError : code === 'NT_SHAPE' || code === 'NT_VALUE' ? RangeError : Error;
  const err = new Ctor(message) as NtError;
  err.code = code;
  Error.captureStackTrace?.(err, ntError);
  return err;
}

/** True for errors thrown by ntensor (TS or native), whatever realm they come from. */
export function isNtError(e: unknown): e is NtError {
  return typeof e === 'object' && e !== null && typeof (e as NtError).code === 'string' && (e as NtError).code.startsWith('NT_');
}
