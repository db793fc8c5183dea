// One algorithm body, two drivers. A method written as a generator yields Steps (each a
// synchronous and an asynchronous way to compute the same value); runSteps drives it on the
// JS thread, runStepsAsync awaits each step so the heavy ops run on worker threads. This keeps
// every `fooAsync` in lib/llm equal to `foo` by construction instead of by copy.

export interface Step<T> {
  sync(): T;
  async(): Promise<T>;
}

export function step<T>(sync: () => T, async: () => Promise<T>): Step<T> {
  return { sync, async };
}

/** A step that is cheap enough to run on the JS thread in both drivers. */
export function inline<T>(fn: () => T): Step<T> {
  return { sync: fn, async: async () => fn() };
}

export type Steps<R> = Generator<Step<unknown>, R, unknown>;

export function runSteps<R>(gen: Steps<R>): R {
  let next = gen.next();
  while (!next.done) {
    let value: unknown;
    try {
      value = next.value.sync();
    } catch (e) {
      next = gen.throw(e);
      continue;
    }
    next = gen.next(value);
  }
  return next.value;
}

export async function runStepsAsync<R>(gen: Steps<R>): Promise<R> {
  let next = gen.next();
  while (!next.done) {
    let value: unknown;
    try {
      value = await next.value.async();
    } catch (e) {
      next = gen.throw(e);
      continue;
    }
    next = gen.next(value);
  }
  return next.value;
}

/** `const v = yield* call(step(...))` gives v the step's type inside a generator. */
export function* call<T>(s: Step<T>): Generator<Step<unknown>, T, unknown> {
  return (yield s as Step<unknown>) as T;
}
