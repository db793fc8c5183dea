// Types shared by the native contract files.

/** The TypedArray that stores a tensor's elements (f16/bf16 live in Uint16Array, packed 4-bit in Uint8Array). */
export type Storage = Float32Array | Float64Array | Uint16Array | Int8Array | Uint8Array | Int32Array;

/** Float64Array [dtypeCode, ndim, offset, ...shape, ...strides] (elements; nibbles for 4-bit). */
export type Meta = Float64Array;

/** Every op is exported twice by the addon: `name` and `nameAsync` (Promise, runs on a worker). */
export type WithAsync<T> = T & {
  [K in keyof T as `${K & string}Async`]: T[K] extends (...a: infer A) => infer R ? (...a: A) => Promise<R> : never;
};
