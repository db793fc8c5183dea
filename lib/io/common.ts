// Shared plumbing of lib/io: one loader body per format, run either synchronously or on
// libuv workers. A loader is a generator that yields the native io calls it needs; the
// sync driver makes them directly, the async driver awaits their Async twins. So the two
// forms cannot drift apart, and a failed native call is thrown back into the generator,
// whose finally blocks dispose what it had allocated.
import { DTYPES, DType, isPacked } from '../dtype';
import { ErrorCode, isNtError, ntError } from '../errors';
import type { IoOps } from '../native/contract-io';
import { native } from '../native/loader';

export interface NativeCall<K extends keyof IoOps = keyof IoOps> {
  name: K;
  args: Parameters<IoOps[K]>;
}

export type IoJob<T> = Generator<NativeCall, T, unknown>;

/** Yields a native call and hands back its result, typed: `const h = yield* call('npyHeader', path)`. */
export function* call<K extends keyof IoOps>(name: K, ...args: Parameters<IoOps[K]>): Generator<NativeCall, ReturnType<IoOps[K]>, unknown> {
  return (yield { name, args } as NativeCall) as ReturnType<IoOps[K]>;
}

/** Native messages start with "[nativeOp] "; the caller sees its own op name instead. */
export function renamed(op: string, e: unknown): unknown {
  if (!isNtError(e)) return e;
  return ntError(e.code as ErrorCode, `[${op}] ${e.message.replace(/^\[[^\]]*\]\s*/, '')}`);
}

export function runSync<T>(op: string, job: IoJob<T>): T {
  let step = job.next();
  while (!step.done) {
    let result: unknown;
    try {
      const fn = native[step.value.name] as (...a: unknown[]) => unknown;
      result = fn(...step.value.args);
    } catch (e) {
      step = job.throw(renamed(op, e));
      continue;
    }
    step = job.next(result);
  }
  return step.value;
}

export async function runAsync<T>(op: string, job: IoJob<T>): Promise<T> {
  let step = job.next();
  while (!step.done) {
    let result: unknown;
    try {
      const fn = native[`${step.value.name}Async`] as (...a: unknown[]) => Promise<unknown>;
      result = await fn(...step.value.args);
    } catch (e) {
      step = job.throw(renamed(op, e));
      continue;
    }
    step = job.next(result);
  }
  return step.value;
}

export function checkPath(op: string, path: unknown, arg = 'path'): string {
  if (typeof path !== 'string' || path.length === 0)
    throw ntError('NT_VALUE', `[${op}] ${arg} must be a non-empty string, got ${typeof path === 'string' ? "''" : typeof path}`);
  if (path.includes('\0')) throw ntError('NT_VALUE', `[${op}] ${arg} contains a NUL character`);
  return path;
}

export function checkOptions(op: string, opts: unknown): Record<string, unknown> {
  if (opts === undefined) return {};
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts))
    throw ntError('NT_VALUE', `[${op}] options must be an object`);
  return opts as Record<string, unknown>;
}

/** An optional dtype option; `floatOnly` restricts it to f32/f64/f16/bf16. */
export function checkLoadDType(op: string, d: unknown, floatOnly: boolean): DType | undefined {
  if (d === undefined) return undefined;
  const allowed = DTYPES.filter((x) => !isPacked(x) && (!floatOnly || x === 'f32' || x === 'f64' || x === 'f16' || x === 'bf16'));
  if (typeof d !== 'string' || !(allowed as string[]).includes(d))
    throw ntError(
      isPacked(d as DType) ? 'NT_UNSUPPORTED' : 'NT_DTYPE',
      `[${op}] dtype must be one of ${allowed.join(', ')}, got ${String(d)}`,
    );
  return d as DType;
}

/** obj[key] = value as an own property, even for keys such as "__proto__" from a file. */
export function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}
