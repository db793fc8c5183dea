// One algorithm body for both the synchronous and the async API (the model's forward, EoRA,
// the compression pipeline). The body is a generator
// that yields each op call as a Step (its sync form and its Async twin); runSync makes the
// calls directly, runAsync awaits the twins (each on a libuv worker). A failed call is thrown
// back into the generator, so its finally blocks dispose what it allocated either way.

export interface Step<T = unknown> {
  sync(): T;
  async(): Promise<T>;
}

export type Job<T> = Generator<Step, T, unknown>;

/** `const y = yield* step(() => op(x), () => opAsync(x))` */
export function* step<T>(sync: () => T, async: () => Promise<T>): Generator<Step, T, unknown> {
  return (yield { sync, async } as Step) as T;
}

export function runSync<T>(job: Job<T>): T {
  let r = job.next();
  while (!r.done) {
    let value: unknown;
    try {
      value = r.value.sync();
    } catch (e) {
      r = job.throw(e);
      continue;
    }
    r = job.next(value);
  }
  return r.value;
}

export async function runAsync<T>(job: Job<T>): Promise<T> {
  let r = job.next();
  while (!r.done) {
    let value: unknown;
    try {
      value = await r.value.async();
    } catch (e) {
      r = job.throw(e);
      continue;
    }
    r = job.next(value);
  }
  return r.value;
}

/** A step cheap enough to run on the JS thread in both drivers: `yield* inline(() => ...)`. */
export function* inline<T>(fn: () => T): Generator<Step, T, unknown> {
  return yield* step(fn, async () => fn());
}

/**
 * True for a promise from any realm. `instanceof Promise` is false for the addon's promises
 * when this code runs in another vm context (jest runs tests in one), and treating an
 * in-flight native call as finished hands back buffers the worker is still writing.
 */
export function isPromiseLike<T>(v: unknown): v is PromiseLike<T> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}
