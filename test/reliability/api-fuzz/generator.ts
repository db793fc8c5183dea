// A seeded generator of randomized public-API calls, and the checker of their contract:
//   - a call returns, or throws a coded error (err.code starts with "NT_"); never anything else
//   - tensors passed in are never modified (byte snapshots before / after), except `out`
//   - a result is checked: against a float64 reference where one is cheap (elementwise,
//     broadcasting binary ops, reductions, matmul, softmax, round trips through files),
//     otherwise by invariants (shape, dtype, finiteness for finite inputs, orthogonality...)
//   - nothing stays allocated: nt.memory() is back where it was once results are disposed
// Inputs cover wrong shapes and dtypes, NaN/Inf, empty and 0-d tensors, strided views
// (transposes, slices with steps), disposed tensors, and wrong option types and values.
// Call i depends only on (seed, i): `--only i` reproduces it alone. Ops are one table entry.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type * as NT from '../../../lib';

type Nt = typeof NT;
type Tensor = NT.Tensor;
type DType = NT.DType;

// ---------------- randomness ----------------
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 1;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

export function callSeed(seed: number, i: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ (i + 1), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

// ---------------- inputs ----------------
const FLOATS: DType[] = ['f32', 'f32', 'f32', 'f64', 'f16', 'bf16'];
const ALL: DType[] = [...FLOATS, 'i32', 'u8', 'i8'];
const DIMS = [0, 1, 1, 2, 3, 3, 4, 5, 7, 8, 17];

/** Wrong-typed values for any argument slot. */
const JUNK: unknown[] = [undefined, null, 0, -1, 1.5, NaN, Infinity, 'f32', '', [], [2, 3], {}, { shape: [2] }, true, () => 1, Symbol.iterator, 2 ** 53, -(2 ** 31)];

export interface Made {
  t: Tensor;
  /** Tensors to dispose after the call (the view's base too). */
  own: Tensor[];
}

export class Inputs {
  readonly own: Tensor[] = [];
  constructor(
    readonly nt: Nt,
    readonly r: Rng,
  ) {}

  shape(rank = this.r.pick([0, 1, 1, 2, 2, 2, 3, 4])): number[] {
    return Array.from({ length: rank }, () => this.r.pick(DIMS));
  }

  /** Random values: mostly normal, sometimes with NaN/Inf/huge/tiny values planted. */
  tensor(shape: number[], dtype: DType = this.r.pick(ALL), opts: { special?: boolean; view?: boolean } = {}): Tensor {
    const { nt, r } = this;
    const n = shape.reduce((a, b) => a * b, 1);
    const vals = new Float64Array(n);
    const integer = dtype === 'i32' || dtype === 'u8' || dtype === 'i8';
    for (let i = 0; i < n; ++i) vals[i] = integer ? r.int(dtype === 'u8' ? 256 : 200) - (dtype === 'u8' ? 0 : 100) : (r.next() * 2 - 1) * 3;
    if (!integer && (opts.special ?? r.chance(0.15)) && n > 0) {
      const specials = [NaN, Infinity, -Infinity, -0, 1e30, -1e30, 1e-40, 65504, 3e38];
      for (let k = 0; k < 1 + r.int(3); ++k) vals[r.int(n)] = r.pick(specials);
    }
    let t: Tensor;
    const view = opts.view ?? r.chance(0.3);
    if (view && shape.length >= 1) {
      // a strided view of a larger tensor with the same logical shape: a transpose of the
      // reversed shape, or a slice with a step
      if (shape.length >= 2 && r.chance(0.5)) {
        const rev = shape.slice().reverse();
        const base = nt.tensor(this.reorder(vals, shape, rev), { dtype, shape: rev } as never);
        this.own.push(base);
        const axes = rev.map((_, i) => rev.length - 1 - i);
        t = base.transpose(...axes);
      } else {
        // the shape cut out of a wider tensor: last axis [1, 1 + n) of n + 3 (offset, row stride)
        const nd = shape.length;
        const last = shape[nd - 1];
        const big = shape.slice();
        big[nd - 1] = last + 3;
        const bigVals = new Float64Array(big.reduce((a, b) => a * b, 1)).fill(-7);
        const rows = last === 0 ? 0 : n / last;
        for (let i = 0; i < rows; ++i) for (let j = 0; j < last; ++j) bigVals[i * (last + 3) + 1 + j] = vals[i * last + j];
        const base = nt.tensor(bigVals, { dtype, shape: big } as never);
        this.own.push(base);
        t = base.slice(...(shape.map((d, i) => (i === nd - 1 ? [1, 1 + last] : null)) as never[]));
      }
    } else {
      t = nt.tensor(vals, { dtype, shape } as never);
    }
    this.own.push(t);
    return t;
  }

  /** Values laid out for shape `to` (the reverse of `from`) so the transpose has them in C order of `from`. */
  private reorder(vals: Float64Array, from: number[], to: number[]): Float64Array {
    const out = new Float64Array(vals.length);
    const nd = from.length;
    const idx = new Array(nd).fill(0);
    for (let lin = 0; lin < vals.length; ++lin) {
      // idx is the C-order index in `from`; its reverse is the index in `to`
      let off = 0;
      for (let d = 0; d < nd; ++d) off = off * to[d] + idx[nd - 1 - d];
      out[off] = vals[lin];
      for (let d = nd - 1; d >= 0; --d) {
        if (++idx[d] < from[d]) break;
        idx[d] = 0;
      }
    }
    return out;
  }

  /** A tensor argument, or (rarely) something that is not one: disposed, junk. */
  arg(shape?: number[], dtype?: DType): unknown {
    const r = this.r;
    const roll = r.next();
    if (roll < 0.04) return r.pick(JUNK);
    if (roll < 0.07) {
      const t = this.tensor(shape ?? this.shape(), dtype);
      t.dispose();
      return t;
    }
    return this.tensor(shape ?? this.shape(), dtype ?? (r.chance(0.8) ? r.pick(FLOATS) : r.pick(ALL)));
  }

  /** An option value: usually valid, sometimes junk. */
  opt<T>(valid: readonly T[], junkRate = 0.1): T | unknown {
    return this.r.chance(junkRate) ? this.r.pick(JUNK) : this.r.pick(valid);
  }

  int(valid: readonly number[]): unknown {
    return this.opt([...valid, -1, 0, 1.5, 2 ** 31, -(2 ** 40)], 0.05);
  }

  disposeAll(): void {
    for (const t of this.own) t.dispose();
  }
}

// ---------------- reading values ----------------
export function values(nt: Nt, t: Tensor): Float64Array {
  const f = t.astype('f64');
  const c = f.contiguous();
  const out = Float64Array.from(c.data as Float64Array);
  if (c !== f) c.dispose();
  f.dispose();
  return out;
}

function snapshot(t: Tensor): Uint8Array {
  const s = t._storage;
  return new Uint8Array(s.buffer, s.byteOffset, s.byteLength).slice();
}

const TOL: Record<string, number> = { f64: 1e-12, f32: 2e-6, f16: 2e-3, bf16: 1.6e-2, i32: 0, u8: 0, i8: 0 };

function close(got: number, want: number, dtype: string, scale = 1): boolean {
  if (Number.isNaN(want)) return Number.isNaN(got);
  if (!Number.isFinite(want)) return got === want || Number.isNaN(got) || Math.abs(got) > 1e30;
  if (!Number.isFinite(got)) return Math.abs(want) > (dtype === 'f16' ? 6e4 : 3e38) * 0.99;
  const tol = TOL[dtype] ?? 1e-6;
  return Math.abs(got - want) <= tol * 4 * (Math.abs(want) + scale) + (dtype === 'f16' ? 6e-8 : 1e-30);
}

export class CheckError extends Error {}
function check(cond: boolean, what: string): void {
  if (!cond) throw new CheckError(what);
}
function checkShape(t: Tensor, shape: readonly number[], what: string): void {
  check(t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i]), `${what}: shape [${t.shape}] != [${shape}]`);
}
function isFloat(d: string): boolean {
  return d === 'f32' || d === 'f64' || d === 'f16' || d === 'bf16';
}

/** Broadcast shape of a and b (numpy rules), or null. */
function broadcast(a: readonly number[], b: readonly number[]): number[] | null {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; ++i) {
    const x = a[a.length - n + i] ?? 1, y = b[b.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) return null;
    out.push(x === 1 ? y : x);
  }
  return out;
}
function bIndex(lin: number, outShape: number[], inShape: readonly number[]): number {
  let off = 0, stride = 1, rem = lin;
  const coords: number[] = new Array(outShape.length);
  for (let d = outShape.length - 1; d >= 0; --d) {
    coords[d] = rem % outShape[d];
    rem = Math.floor(rem / outShape[d]);
  }
  for (let d = inShape.length - 1; d >= 0; --d) {
    const c = coords[outShape.length - inShape.length + d];
    off += (inShape[d] === 1 ? 0 : c) * stride;
    stride *= inShape[d];
  }
  return off;
}

// ---------------- the op table ----------------
export interface CallSpec {
  name: string;
  /** Tensors (or anything) passed in; checked for modification. */
  inputs: unknown[];
  /** An out tensor that may legitimately be written. */
  out?: Tensor;
  run(): unknown;
  /** Checks a successful result; returns the tensors to dispose. */
  verify(result: unknown): Tensor[];
  async?: boolean;
  /** The exact arguments of run(), for the async twin. */
  args?: unknown[];
}

type Maker = (nt: Nt, g: Inputs) => CallSpec;

const tensorsIn = (x: unknown): Tensor[] => {
  const out: Tensor[] = [];
  const seen = new Set<unknown>();
  const walk = (v: unknown, depth: number): void => {
    if (depth > 3 || v === null || typeof v !== 'object' || seen.has(v)) return;
    seen.add(v);
    if ((v as { _rec?: unknown })._rec !== undefined && typeof (v as Tensor).dispose === 'function' && (v as Tensor).shape) {
      out.push(v as Tensor);
      return;
    }
    if (typeof (v as { dispose?: unknown }).dispose === 'function' && (v as { codes?: unknown }).codes) {
      (v as { dispose(): void }).dispose(); // QTensor and similar owners
    }
    for (const k of Object.keys(v as object)) walk((v as Record<string, unknown>)[k], depth + 1);
  };
  walk(x, 0);
  return out;
};

function unaryMaker(name: 'exp' | 'log' | 'sqrt' | 'silu' | 'gelu', ref: (x: number) => number): Maker {
  return (nt, g) => {
    const x = g.arg();
    const useOut = g.r.chance(0.15) && x instanceof nt.Tensor && !x.isDisposed;
    const out = useOut ? g.tensor(g.r.chance(0.7) ? [...(x as Tensor).shape] : g.shape(), g.r.chance(0.7) ? (x as Tensor).dtype : g.r.pick(ALL), { view: false }) : undefined;
    const junkOpts = g.r.chance(0.1);
    const opts = junkOpts ? g.r.pick([null, 'x', 5, { out: 3 }]) : out ? { out } : name === 'gelu' ? { approximate: g.opt(['none'], 0.1) } : undefined;
    if (junkOpts && out) out.dispose(); // not passed: an ordinary input-free tensor
    const xv = x instanceof nt.Tensor && !x.isDisposed && isFloat(x.dtype) ? values(nt, x) : null;
    return {
      name,
      inputs: [x],
      out: junkOpts ? undefined : out,
      args: [x, opts],
      run: () => (nt[name] as (a: unknown, o?: unknown) => Tensor)(x, opts),
      verify: (res) => {
        const t = res as Tensor;
        const xt = x as Tensor;
        checkShape(t, xt.shape, name);
        if (out && !junkOpts) check(t === out, `${name}: out not returned (x ${xt.dtype} [${xt.shape}], out ${out.dtype} [${out.shape}], result ${t.dtype} [${t.shape}], opts ${JSON.stringify(Object.keys(opts ?? {}))})`);
        if (xv) {
          const got = values(nt, t);
          for (let i = 0; i < got.length; ++i) {
            const want = ref(xv[i]);
            if (!close(got[i], want, xt.dtype === "f64" && t.dtype === "f64" ? "f64" : t.dtype === "f64" ? xt.dtype : t.dtype)) throw new CheckError(`${name}: element ${i} of ${xv[i]} = ${got[i]}, want ${want}`);
          }
        }
        return out && !junkOpts ? [] : [t];
      },
    };
  };
}

function erf(x: number): number {
  // Abramowitz-Stegun 7.1.26 is too coarse; use a series / continued fraction to ~1e-15
  const t = Math.abs(x);
  if (t > 6) return Math.sign(x);
  let sum = 0, term = t, n = 0;
  if (t < 3) {
    while (Math.abs(term) > 1e-17 * Math.abs(sum) || n === 0) {
      sum += term / (2 * n + 1);
      n++;
      term *= (-t * t) / n;
      if (n > 200) break;
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc continued fraction for t >= 3
  let f = 0;
  for (let k = 60; k >= 1; --k) f = k / 2 / (t + f);
  return Math.sign(x) * (1 - Math.exp(-t * t) / Math.sqrt(Math.PI) / (t + f));
}

function binaryMaker(name: 'add' | 'sub' | 'mul' | 'div', ref: (a: number, b: number) => number): Maker {
  return (nt, g) => {
    const sa = g.shape();
    const sb = g.r.chance(0.6) ? sa.slice(g.r.int(sa.length + 1)) : g.r.chance(0.5) ? sa.map((d) => (g.r.chance(0.3) ? 1 : d)) : g.shape();
    const da = g.r.pick(ALL);
    const a = g.r.chance(0.1) ? g.r.pick([2, -0.5, NaN]) : g.arg(sa, da);
    const b = g.r.chance(0.1) ? g.r.pick([3, 0, Infinity]) : g.arg(sb, g.r.chance(0.7) ? da : g.r.pick(ALL));
    const vals = (v: unknown): { v: Float64Array; shape: readonly number[] } | null =>
      typeof v === 'number' ? { v: Float64Array.of(v), shape: [] } : v instanceof nt.Tensor && !v.isDisposed ? { v: values(nt, v), shape: v.shape } : null;
    const av = vals(a), bv = vals(b);
    return {
      name,
      inputs: [a, b],
      run: () => (nt[name] as (x: unknown, y: unknown) => Tensor)(a, b),
      verify: (res) => {
        const t = res as Tensor;
        check(av !== null && bv !== null, `${name}: accepted a non-tensor operand`);
        const shape = broadcast(av!.shape, bv!.shape);
        check(shape !== null, `${name}: accepted shapes [${av!.shape}] and [${bv!.shape}]`);
        checkShape(t, shape!, name);
        if (isFloat(t.dtype)) {
          const got = values(nt, t);
          for (let i = 0; i < got.length; ++i) {
            const x = av!.v[bIndex(i, shape!, av!.shape)], y = bv!.v[bIndex(i, shape!, bv!.shape)];
            const want = ref(x, y);
            if (!close(got[i], want, t.dtype, Math.abs(x) + Math.abs(y))) throw new CheckError(`${name}: element ${i}: ${x} ${name} ${y} = ${got[i]}, want ${want}`);
          }
        }
        return [t];
      },
    };
  };
}

function reduceMaker(name: 'sum' | 'mean' | 'max' | 'min'): Maker {
  return (nt, g) => {
    const x = g.arg();
    const rank = x instanceof nt.Tensor ? x.ndim : 2;
    const axis = g.r.chance(0.4) ? undefined : g.int([...Array(rank).keys(), -1]);
    const keepdims = g.opt([false, true], 0.05);
    const xv = x instanceof nt.Tensor && !x.isDisposed && isFloat(x.dtype) ? values(nt, x) : null;
    return {
      name,
      inputs: [x],
      run: () => (nt[name] as (a: unknown, o?: unknown) => Tensor)(x, axis === undefined && g.r.chance(0.5) ? undefined : { axis, keepdims }),
      verify: (res) => {
        const t = res as Tensor;
        const xt = x as Tensor;
        if (axis === undefined) {
          check(t.size === 1, `${name}: full reduction has ${t.size} elements`);
          if (xv && xv.length > 0 && isFloat(t.dtype)) {
            const got = values(nt, t)[0];
            let want: number;
            if (name === 'sum' || name === 'mean') {
              want = xv.reduce((s, v) => s + v, 0);
              if (name === 'mean') want /= xv.length;
            } else want = xv.some(Number.isNaN) ? NaN : name === 'max' ? Math.max(...xv) : Math.min(...xv);
            const scale = xv.reduce((s, v) => s + Math.abs(v), 0);
            if (!close(got, want, t.dtype, scale) && Number.isFinite(scale)) throw new CheckError(`${name}: got ${got}, want ${want}`);
          }
        } else {
          const ax = (axis as number) < 0 ? (axis as number) + xt.ndim : (axis as number);
          check(Number.isInteger(ax) && ax >= 0 && ax < xt.ndim, `${name}: accepted axis ${String(axis)} for rank ${xt.ndim}`);
          const want = keepdims === true ? xt.shape.map((d, i) => (i === ax ? 1 : d)) : xt.shape.filter((_, i) => i !== ax);
          checkShape(t, want, name);
        }
        return [t];
      },
    };
  };
}

const softmaxMaker: Maker = (nt, g) => {
  const x = g.arg();
  const axis = g.r.chance(0.7) ? -1 : g.int([0, 1, -2]);
  const xv = x instanceof nt.Tensor && !x.isDisposed && isFloat(x.dtype) ? values(nt, x) : null;
  return {
    name: 'softmax',
    inputs: [x],
    run: () => nt.softmax(x as Tensor, axis as number),
    verify: (res) => {
      const t = res as Tensor;
      const xt = x as Tensor;
      checkShape(t, xt.shape, 'softmax');
      if (xv && xt.ndim >= 1 && axis === -1 && xv.every(Number.isFinite) && xv.every((v) => Math.abs(v) < 1e4)) {
        const got = values(nt, t);
        const n = xt.shape[xt.ndim - 1];
        for (let row = 0; n > 0 && row < got.length / n; ++row) {
          let s = 0;
          for (let j = 0; j < n; ++j) s += got[row * n + j];
          check(Math.abs(s - 1) < (t.dtype === 'f32' || t.dtype === 'f64' ? 1e-4 : 3e-2), `softmax: row ${row} sums to ${s}`);
        }
      }
      return [t];
    },
  };
};

const matmulMaker: Maker = (nt, g) => {
  const m = g.r.pick(DIMS), k = g.r.pick(DIMS), n = g.r.pick(DIMS);
  const dt = g.r.pick(FLOATS);
  const a = g.arg(g.r.chance(0.85) ? [m, k] : g.shape(), dt);
  const b = g.arg(g.r.chance(0.85) ? [k, n] : g.shape(), g.r.chance(0.85) ? dt : g.r.pick(ALL));
  const opts = g.r.chance(0.2) ? { transA: g.opt([false], 0.3), alpha: g.opt([1, 2, -0.5], 0.2) } : undefined;
  const av = a instanceof nt.Tensor && !a.isDisposed && a.ndim === 2 ? values(nt, a) : null;
  const bv = b instanceof nt.Tensor && !b.isDisposed && b.ndim === 2 ? values(nt, b) : null;
  return {
    name: 'matmul',
    inputs: [a, b],
    args: [a, b, opts],
    run: () => nt.matmul(a as Tensor, b as Tensor, opts as never),
    verify: (res) => {
      const t = res as Tensor;
      const at = a as Tensor, bt = b as Tensor;
      if (av && bv && !opts) {
        check(at.shape[1] === bt.shape[0], `matmul: accepted [${at.shape}] x [${bt.shape}]`);
        checkShape(t, [at.shape[0], bt.shape[1]], 'matmul');
        const ds = [at.dtype, bt.dtype, t.dtype];
        const worst = ds.includes('bf16') ? 'bf16' : ds.includes('f16') ? 'f16' : ds.every((d) => d === 'f64') ? 'f64' : 'f32';
        const got = values(nt, t);
        const [M, K] = at.shape, N = bt.shape[1];
        for (let i = 0; i < M; ++i)
          for (let j = 0; j < N; ++j) {
            let s = 0, scale = 0;
            for (let q = 0; q < K; ++q) {
              s += av[i * K + q] * bv[q * N + j];
              scale += Math.abs(av[i * K + q] * bv[q * N + j]);
            }
            if (Number.isFinite(scale) && scale < 1e30 && !close(got[i * N + j], s, worst, scale + 1))
                throw new CheckError(`matmul: [${i},${j}] = ${got[i * N + j]}, want ${s}`);
          }
      }
      return [t];
    },
  };
};

function symmetric(nt: Nt, g: Inputs, n: number, dtype: DType): Tensor {
  const x = g.tensor([n, n], dtype, { special: false, view: false });
  const xt = x.transpose();
  const s = nt.add(x, xt);
  xt.dispose();
  g.own.push(s);
  return s;
}

const eighMaker: Maker = (nt, g) => {
  const n = g.r.pick([0, 1, 2, 3, 5, 8]);
  const a = g.r.chance(0.8) ? symmetric(nt, g, n, g.r.pick(['f32', 'f64'])) : g.arg();
  const opts = g.r.chance(0.3) ? { k: g.int([1, 2, n]), which: g.opt(['largest', 'smallest'], 0.1), vectors: g.opt([true, false], 0.05) } : undefined;
  return {
    name: 'linalg.eigh',
    inputs: [a],
    run: () => nt.linalg.eigh(a as Tensor, opts as never),
    verify: (res) => {
      const r = res as { values: Tensor; vectors: Tensor | null };
      const at = a as Tensor;
      check(at.ndim === 2 && at.shape[0] === at.shape[1], `eigh: accepted [${at.shape}]`);
      const v = values(nt, r.values);
      check(v.length <= at.shape[0], 'eigh: too many values');
      const av = values(nt, at);
      if (av.every(Number.isFinite)) check(v.every(Number.isFinite), 'eigh: non-finite eigenvalue of a finite matrix');
      if (r.vectors) checkShape(r.vectors, [at.shape[0], v.length], 'eigh vectors');
      return [r.values, ...(r.vectors ? [r.vectors] : [])];
    },
  };
};

const svdMaker: Maker = (nt, g) => {
  const a = g.r.chance(0.85) ? g.tensor([g.r.pick(DIMS), g.r.pick(DIMS)], g.r.pick(['f32', 'f64', 'f32', 'f16']), { special: g.r.chance(0.1) }) : g.arg();
  const opts = g.r.chance(0.3) ? { full: g.opt([false, true], 0.1), computeUV: g.opt([true, false], 0.1) } : undefined;
  return {
    name: 'linalg.svd',
    inputs: [a],
    args: [a, opts],
    run: () => nt.linalg.svd(a as Tensor, opts as never),
    verify: (res) => {
      const r = res as { U?: Tensor; S: Tensor; Vt?: Tensor };
      const at = a as Tensor;
      check(at.ndim === 2, `svd: accepted rank ${at.ndim}`);
      const s = values(nt, r.S);
      check(s.length === Math.min(at.shape[0], at.shape[1]), `svd: ${s.length} singular values for [${at.shape}]`);
      const av = values(nt, at);
      if (av.every(Number.isFinite) && av.every((x) => Math.abs(x) < 1e20)) {
        for (let i = 0; i < s.length; ++i) check(s[i] >= 0 && (i === 0 || s[i] <= s[i - 1] * (1 + 1e-5) + 1e-6), `svd: S not sorted non-negative: ${Array.from(s)}`);
        // sum of squares of S = squared Frobenius norm
        const fro = av.reduce((q, x) => q + x * x, 0);
        const ss = s.reduce((q, x) => q + x * x, 0);
        check(Math.abs(fro - ss) <= 1e-3 * fro + 1e-6, `svd: sum S^2 ${ss} != ||A||^2 ${fro}`);
      }
      return [r.S, ...(r.U ? [r.U] : []), ...(r.Vt ? [r.Vt] : [])];
    },
  };
};

const qrMaker: Maker = (nt, g) => {
  const a = g.r.chance(0.85) ? g.tensor([g.r.pick(DIMS), g.r.pick(DIMS)], g.r.pick(['f32', 'f64']), { special: false }) : g.arg();
  return {
    name: 'linalg.qr',
    inputs: [a],
    run: () => nt.linalg.qr(a as Tensor),
    verify: (res) => {
      const r = res as Record<string, Tensor>;
      const at = a as Tensor;
      check(at.ndim === 2, 'qr: accepted a non-matrix');
      return Object.values(r).filter((t) => t instanceof nt.Tensor);
    },
  };
};

const choleskyMaker: Maker = (nt, g) => {
  const n = g.r.pick([0, 1, 2, 4, 7]);
  let a: unknown;
  if (g.r.chance(0.7)) {
    const x = g.tensor([n, n], 'f64', { special: false, view: false });
    a = nt.matmul(x, x, { transB: true } as never);
    const eye = nt.eye(n, 'f64');
    const spd = nt.add(a as Tensor, eye);
    (a as Tensor).dispose();
    eye.dispose();
    a = spd;
    g.own.push(spd);
  } else a = g.arg();
  return {
    name: 'linalg.cholesky',
    inputs: [a],
    run: () => nt.linalg.cholesky(a as Tensor),
    verify: (res) => {
      const l = res as Tensor;
      const at = a as Tensor;
      checkShape(l, at.shape, 'cholesky');
      const lv = values(nt, l);
      const N = at.shape[0];
      for (let i = 0; i < N; ++i) for (let j = i + 1; j < N; ++j) check(lv[i * N + j] === 0, 'cholesky: not lower triangular');
      return [l];
    },
  };
};

const rmsnormMaker: Maker = (nt, g) => {
  const h = g.r.pick([1, 3, 8, 17]);
  const x = g.arg(g.r.chance(0.8) ? [g.r.pick(DIMS), h] : g.shape());
  const w = g.arg(g.r.chance(0.8) ? [h] : g.shape());
  const eps = g.opt([1e-5, 1e-6], 0.1);
  return {
    name: 'rmsnorm',
    inputs: [x, w],
    run: () => nt.rmsnorm(x as Tensor, w as Tensor, eps as number),
    verify: (res) => {
      checkShape(res as Tensor, (x as Tensor).shape, 'rmsnorm');
      return [res as Tensor];
    },
  };
};

const creationMaker: Maker = (nt, g) => {
  const kind = g.r.pick(['zeros', 'ones', 'full', 'arange', 'eye', 'randn']);
  const shape = g.r.chance(0.8) ? g.shape() : g.r.pick([[-1], [1.5], [NaN], [2 ** 31, 2 ** 31], 'x', [[2]], 7, []]);
  const dtype = g.opt(ALL, 0.1);
  const arg = g.r.pick([3, 0, -2, 2.5, NaN, 1e9]);
  return {
    name: `creation.${kind}`,
    inputs: [],
    run: () => {
      switch (kind) {
        case 'zeros': return nt.zeros(shape as never, dtype as DType);
        case 'ones': return nt.ones(shape as never, dtype as DType);
        case 'full': return nt.full(shape as never, arg, dtype as DType);
        case 'arange': return nt.arange(arg, g.r.pick([undefined, 10, -5]), g.r.pick([1, 0.5, 0, -1]), dtype as DType);
        case 'eye': return nt.eye(arg, dtype as DType);
        default: return nt.randn(shape as never, { seed: g.r.pick([1, 2, -1, 1.5, 'x']) as number, dtype: dtype as DType });
      }
    },
    verify: (res) => {
      const t = res as Tensor;
      check(t instanceof nt.Tensor, `${kind}: not a tensor`);
      if (kind === 'zeros' || kind === 'ones') {
        checkShape(t, typeof shape === 'number' ? [shape] : (shape as number[]), kind);
        const v = values(nt, t);
        check(v.every((x) => x === (kind === 'zeros' ? 0 : 1)), `${kind}: wrong values`);
      }
      return [t];
    },
  };
};

const viewMaker: Maker = (nt, g) => {
  const x = g.arg();
  const kind = g.r.pick(['reshape', 'transpose', 'slice', 'get', 'astype', 'contiguous', 'clone']);
  const xt = x as Tensor;
  const rank = x instanceof nt.Tensor ? xt.ndim : 1;
  const args: unknown[] = (() => {
    switch (kind) {
      case 'reshape': return [g.r.chance(0.7) && x instanceof nt.Tensor ? [xt.size] : g.r.pick([[-1], [2, -1], [0], [1.5], [3, 3]])];
      case 'transpose': return g.r.chance(0.6) ? [] : Array.from({ length: rank }, (_, i) => g.r.chance(0.9) ? rank - 1 - i : g.r.pick([-1, 5, 0.5]));
      case 'slice': return Array.from({ length: rank }, () => g.r.pick([null, [0, 1], [1, 3], [-2], [0, 5, 2], [3, 1], [0.5, 2], 'x']));
      case 'get': return Array.from({ length: rank }, () => g.r.pick([0, 1, -1, 2, 9, 0.5, NaN]));
      case 'astype': return [g.opt(ALL, 0.1)];
      default: return [];
    }
  })();
  const xv = x instanceof nt.Tensor && !x.isDisposed ? values(nt, x) : null;
  return {
    name: `tensor.${kind}`,
    inputs: [x],
    run: () => {
      if (!(x instanceof nt.Tensor)) throw Object.assign(new Error('not a tensor'), { code: 'NT_SKIP' });
      return (xt[kind as 'clone'] as (...a: unknown[]) => unknown).apply(xt, args);
    },
    verify: (res) => {
      if (kind === 'get') {
        check(typeof res === 'number', 'get: not a number');
        return [];
      }
      const t = res as Tensor;
      if (kind === 'contiguous' || kind === 'clone' || (kind === 'astype' && isFloat(t.dtype) && xv && isFloat(xt.dtype))) {
        checkShape(t, xt.shape, kind);
        if (kind !== 'astype') {
          const v = values(nt, t);
          for (let i = 0; i < v.length; ++i) check(Object.is(v[i], xv![i]) || (Number.isNaN(v[i]) && Number.isNaN(xv![i])), `${kind}: element ${i} differs`);
        }
      }
      if (kind === 'reshape') check(t.size === xt.size, 'reshape changed the size');
      return t === xt ? [] : [t];
    },
  };
};

let ioDir: string | undefined;
function ioFolder(): string {
  if (!ioDir) {
    ioDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nt-apifuzz-'));
    process.on('exit', () => fs.rmSync(ioDir!, { recursive: true, force: true }));
  }
  return ioDir;
}

const ioMaker: Maker = (nt, g) => {
  const kind = g.r.pick(['safetensors', 'npy']);
  const x = g.arg();
  const name = g.r.pick(['w', 'layer.0.weight', '__proto__', 'ünï', '', '__metadata__', 'a"b\\c']);
  const file = path.join(ioFolder(), `${kind}-${g.r.int(1e9)}.${kind}`);
  const xv = x instanceof nt.Tensor && !x.isDisposed ? values(nt, x) : null;
  return {
    name: `io.${kind}`,
    inputs: [x],
    run: () => {
      try {
        if (kind === 'npy') {
          nt.io.saveNpy(file, x as Tensor);
          return nt.io.loadNpy(file);
        }
        nt.io.saveSafetensors(file, { [name]: x as Tensor }, g.r.chance(0.2) ? ({ k: g.opt(['v'], 0.5) } as never) : undefined);
        return nt.io.loadSafetensors(file)[name];
      } finally {
        fs.rmSync(file, { force: true });
      }
    },
    verify: (res) => {
      const t = res as Tensor;
      checkShape(t, (x as Tensor).shape, `io.${kind} round trip`);
      check(t.dtype === (x as Tensor).dtype, `io.${kind} round trip changed the dtype`);
      const v = values(nt, t);
      for (let i = 0; i < v.length; ++i) check(Object.is(v[i], xv![i]) || (Number.isNaN(v[i]) && Number.isNaN(xv![i])), `io.${kind}: element ${i} differs after the round trip`);
      return [t];
    },
  };
};

const quantMaker: Maker = (nt, g) => {
  const cols = g.r.pick([32, 64, 96, 7, 0]);
  const w = g.r.chance(0.85) ? g.tensor([g.r.pick([1, 3, 8]), cols], g.r.pick(['f32', 'f32', 'f16', 'f64', 'i32']), { special: g.r.chance(0.1) }) : g.arg();
  const opts = { bits: g.opt([2, 3, 4, 8], 0.1), groupSize: g.opt([32, 64, 'row'], 0.1), symmetric: g.opt([true, false], 0.05) };
  return {
    name: 'quant.quantize+dequantize',
    inputs: [w],
    run: () => {
      const q = nt.quant.quantize(w as Tensor, opts as never);
      try {
        return nt.quant.dequantize(q);
      } finally {
        q.dispose();
      }
    },
    verify: (res) => {
      const t = res as Tensor;
      const wt = w as Tensor;
      checkShape(t, wt.shape, 'dequantize(quantize(w))');
      const wv = values(nt, wt);
      if (wv.every(Number.isFinite) && wv.every((x) => Math.abs(x) < 1e4)) {
        const got = values(nt, t);
        const range = Math.max(1e-6, ...wv.map(Math.abs));
        for (let i = 0; i < got.length; ++i) check(Math.abs(got[i] - wv[i]) <= range * 2.1, `quantize: element ${i} ${got[i]} far from ${wv[i]}`);
      }
      return [t];
    },
  };
};

const attentionMaker: Maker = (nt, g) => {
  const b = 1, hkv = g.r.pick([1, 2]), hq = hkv * g.r.pick([1, 2]), d = g.r.pick([1, 4, 8]);
  const sq = g.r.pick([0, 1, 3, 5]), sk = sq + g.r.pick([0, 2]);
  const valid = g.r.chance(0.8);
  const q = g.arg(valid ? [b, hq, sq, d] : g.shape(4), 'f32');
  const k = g.arg(valid ? [b, hkv, sk, d] : g.shape(4), 'f32');
  const v = g.arg(valid ? [b, hkv, sk, d] : g.shape(4), 'f32');
  const opts = g.r.chance(0.3) ? { causal: g.opt([true, false], 0.1), scale: g.opt([0.5, 1], 0.1) } : undefined;
  return {
    name: 'attention.dense',
    inputs: [q, k, v],
    run: () => nt.attention.dense(q as Tensor, k as Tensor, v as Tensor, opts as never),
    verify: (res) => {
      const t = res as Tensor;
      const qt = q as Tensor, vt = v as Tensor;
      checkShape(t, [qt.shape[0], qt.shape[1], qt.shape[2], vt.shape[3]], 'attention.dense');
      const qv = values(nt, qt), kv = values(nt, k as Tensor), vv = values(nt, vt);
      if ([qv, kv, vv].every((a) => a.every((x) => Number.isFinite(x) && Math.abs(x) < 1e3))) {
        // every output row is a convex combination of value rows: within their range
        const lo = Math.min(0, ...vv), hi = Math.max(0, ...vv);
        for (const x of values(nt, t)) check(x >= lo - 1e-3 && x <= hi + 1e-3, `attention.dense: output ${x} outside the values' range`);
      }
      return [t];
    },
  };
};

const gatherMaker: Maker = (nt, g) => {
  const rows = g.r.pick([1, 4, 9]), cols = g.r.pick([1, 3, 8]);
  const table = g.arg([rows, cols], g.r.pick(['f32', 'f32', 'f16', 'i32']));
  const n = g.r.pick([0, 1, 5]);
  const ids = Array.from({ length: n }, () => (g.r.chance(0.9) ? g.r.int(rows) : g.r.pick([-1, rows, 2 ** 31, 0.5, NaN])));
  const idsArg = g.r.chance(0.3) ? Int32Array.from(ids) : ids;
  const tv = table instanceof nt.Tensor && !table.isDisposed ? values(nt, table) : null;
  return {
    name: 'gatherRows',
    inputs: [table],
    run: () => nt.gatherRows(table as Tensor, idsArg),
    verify: (res) => {
      const t = res as Tensor;
      const used = Array.from(idsArg as ArrayLike<number>);
      check(used.every((i) => Number.isInteger(i) && i >= 0 && i < rows), `gatherRows: accepted ids ${used}`);
      checkShape(t, [n, cols], 'gatherRows');
      const got = values(nt, t);
      for (let r = 0; r < n; ++r)
        for (let c = 0; c < cols; ++c) {
          const w = tv![used[r] * cols + c];
          check(Object.is(got[r * cols + c], w) || (Number.isNaN(w) && Number.isNaN(got[r * cols + c])), `gatherRows: [${r},${c}] = ${got[r * cols + c]}, want ${w}`);
        }
      return [t];
    },
  };
};

const ropeMaker: Maker = (nt, g) => {
  const d = g.r.pick([2, 4, 8, 3]);
  const x = g.arg(g.r.chance(0.8) ? [1, g.r.pick([1, 2]), g.r.pick([0, 1, 5]), d] : g.shape(), g.r.pick(['f32', 'f32', 'f64', 'f16']));
  const opts = g.r.chance(0.4) ? { theta: g.opt([10000, 500000], 0.1), positionOffset: g.int([0, 3, 100]) } : undefined;
  const xv = x instanceof nt.Tensor && !x.isDisposed ? values(nt, x) : null;
  return {
    name: 'rope',
    inputs: [x],
    run: () => nt.rope(x as Tensor, opts as never),
    verify: (res) => {
      const t = res as Tensor;
      const xt = x as Tensor;
      checkShape(t, xt.shape, 'rope');
      // a rotation of each pair: the norm of every row is kept
      const got = values(nt, t);
      const D = xt.shape[xt.ndim - 1];
      if (xv && xv.every((v) => Number.isFinite(v) && Math.abs(v) < 1e4))
        for (let r = 0; D > 0 && r < got.length / D; ++r) {
          let a = 0, b = 0;
          for (let j = 0; j < D; ++j) {
            a += xv[r * D + j] ** 2;
            b += got[r * D + j] ** 2;
          }
          check(Math.abs(a - b) <= (t.dtype === 'f16' ? 1e-2 : 1e-4) * (a + 1), `rope: row ${r} norm² ${b}, want ${a}`);
        }
      return [t];
    },
  };
};

const quantMatmulMaker: Maker = (nt, g) => {
  const cols = g.r.pick([32, 64]), rows = g.r.pick([1, 5, 8]);
  const w = g.tensor([rows, cols], 'f32', { special: false, view: false });
  const q = nt.quant.quantize(w, { bits: g.r.pick([2, 3, 4, 8]) as never, groupSize: 32 });
  const deq = nt.quant.dequantize(q);
  g.own.push(deq);
  const x = g.arg(g.r.chance(0.85) ? [g.r.pick([0, 1, 3]), g.r.chance(0.9) ? cols : cols + 1] : g.shape(), g.r.pick(['f32', 'f32', 'f16', 'i32']));
  return {
    name: 'quant.matmul',
    inputs: [x, w],
    run: () => {
      try {
        return nt.quant.matmul(x as Tensor, q);
      } finally {
        q.dispose();
      }
    },
    verify: (res) => {
      const t = res as Tensor;
      const xt = x as Tensor;
      checkShape(t, [...xt.shape.slice(0, -1), rows], 'quant.matmul');
      const xv = values(nt, xt), dv = values(nt, deq), got = values(nt, t);
      const n = xv.length / cols;
      for (let i = 0; i < n; ++i)
        for (let o = 0; o < rows; ++o) {
          let s = 0, scale = 0;
          for (let k = 0; k < cols; ++k) {
            s += xv[i * cols + k] * dv[o * cols + k];
            scale += Math.abs(xv[i * cols + k] * dv[o * cols + k]);
          }
          if (Number.isFinite(scale) && scale < 1e30) check(close(got[i * rows + o], s, xt.dtype === 'f16' ? 'f16' : 'f32', scale + 1), `quant.matmul: [${i},${o}] = ${got[i * rows + o]}, want ${s}`);
        }
      return [t];
    },
  };
};

const argmaxMaker: Maker = (nt, g) => {
  const x = g.arg();
  const xv = x instanceof nt.Tensor && !x.isDisposed ? values(nt, x) : null;
  return {
    name: 'argmax',
    inputs: [x],
    run: () => nt.argmax(x as Tensor),
    verify: (res) => {
      const t = res as Tensor;
      check(t.size === 1, 'argmax: full reduction is not one element');
      const i = values(nt, t)[0];
      check(Number.isInteger(i) && i >= 0 && i < xv!.length, `argmax: index ${i} of ${xv!.length}`);
      if (!xv!.some(Number.isNaN)) check(xv![i] === Math.max(...xv!), `argmax: element ${i} = ${xv![i]} is not the maximum`);
      return [t];
    },
  };
};

const asyncMaker = (inner: Maker, asyncName: string, call: (nt: Nt, a: unknown[]) => Promise<unknown>): Maker => (nt, g) => {
  const spec = inner(nt, g);
  return { ...spec, name: `${asyncName}`, async: true, run: () => call(nt, spec.args!) };
};

export const OPS: Array<[string, number, Maker]> = [
  ['exp', 3, unaryMaker('exp', Math.exp)],
  ['log', 3, unaryMaker('log', Math.log)],
  ['sqrt', 3, unaryMaker('sqrt', Math.sqrt)],
  ['silu', 3, unaryMaker('silu', (x) => x / (1 + Math.exp(-x)))],
  ['gelu', 3, unaryMaker('gelu', (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)))],
  ['add', 4, binaryMaker('add', (a, b) => a + b)],
  ['sub', 3, binaryMaker('sub', (a, b) => a - b)],
  ['mul', 4, binaryMaker('mul', (a, b) => a * b)],
  ['div', 3, binaryMaker('div', (a, b) => a / b)],
  ['sum', 3, reduceMaker('sum')],
  ['mean', 2, reduceMaker('mean')],
  ['max', 2, reduceMaker('max')],
  ['min', 2, reduceMaker('min')],
  ['softmax', 3, softmaxMaker],
  ['rmsnorm', 2, rmsnormMaker],
  ['matmul', 5, matmulMaker],
  ['linalg.eigh', 2, eighMaker],
  ['linalg.svd', 2, svdMaker],
  ['linalg.qr', 1, qrMaker],
  ['linalg.cholesky', 1, choleskyMaker],
  ['creation', 4, creationMaker],
  ['tensor views', 5, viewMaker],
  ['io', 2, ioMaker],
  ['quant', 2, quantMaker],
  ['quant.matmul', 2, quantMatmulMaker],
  ['attention.dense', 2, attentionMaker],
  ['gatherRows', 2, gatherMaker],
  ['rope', 2, ropeMaker],
  ['argmax', 1, argmaxMaker],
  ['expAsync', 1, asyncMaker(unaryMaker('exp', Math.exp), 'expAsync', (nt, a) => nt.expAsync(a[0] as Tensor, a[1] as never))],
  ['matmulAsync', 1, asyncMaker(matmulMaker, 'matmulAsync', (nt, a) => nt.matmulAsync(a[0] as Tensor, a[1] as Tensor, a[2] as never))],
  ['svdAsync', 1, asyncMaker(svdMaker, 'linalg.svdAsync', (nt, a) => nt.linalg.svdAsync(a[0] as Tensor, a[1] as never))],
];

const TOTAL_WEIGHT = OPS.reduce((s, [, w]) => s + w, 0);

export interface CallReport {
  index: number;
  op: string;
  outcome: 'ok' | 'coded' | 'skip';
  code?: string;
}

export type Inject = 'modify-input' | 'leak' | 'uncoded';

/** Runs call `index` of `seed`; throws on a contract violation. `inject` plants one (harness self-test). */
export async function runCall(nt: Nt, seed: number, index: number, inject?: Inject): Promise<CallReport> {
  const r = new Rng(callSeed(seed, index));
  let pick = r.int(TOTAL_WEIGHT);
  let entry = OPS[0];
  for (const e of OPS) {
    if ((pick -= e[1]) < 0) {
      entry = e;
      break;
    }
  }
  const before = nt.memory();
  const g = new Inputs(nt, r);
  let report: CallReport;
  try {
    const spec = entry[2](nt, g);
    const live = spec.inputs.flatMap((x) => tensorsIn(x)).filter((t) => !t.isDisposed && t !== spec.out);
    const snaps = live.map(snapshot);
    const outSnap = spec.out && !spec.out.isDisposed ? snapshot(spec.out) : null;
    let result: unknown;
    let threw: unknown;
    try {
      result = spec.async ? await spec.run() : spec.run();
      if (inject === 'uncoded') throw new TypeError('injected');
    } catch (e) {
      threw = e;
    }
    if (inject === 'modify-input' && live.length > 0 && live[0]._storage.length > 0) live[0]._storage[0] = (live[0]._storage[0] as number) ^ 1;
    if (inject === 'leak') nt.zeros([1]);
    // inputs unchanged, whatever happened
    live.forEach((t, k) => {
      const now = snapshot(t);
      let same = now.length === snaps[k].length;
      for (let i = 0; same && i < now.length; ++i) same = now[i] === snaps[k][i];
      if (!same) throw new CheckError(`${spec.name}: an input tensor was modified (${threw ? 'failed call' : 'successful call'})`);
    });
    if (threw !== undefined && outSnap) {
      // a call refused with an error writes nothing into its out tensor either
      const now = snapshot(spec.out!);
      if (now.length !== outSnap.length || now.some((x, i) => x !== outSnap[i])) throw new CheckError(`${spec.name}: a failed call wrote into its out tensor`);
    }
    if (threw !== undefined) {
      const code = (threw as { code?: unknown })?.code;
      if (code === 'NT_SKIP') report = { index, op: spec.name, outcome: 'skip' };
      else if (typeof code === 'string' && code.startsWith('NT_') && code !== 'NT_INTERNAL') report = { index, op: spec.name, outcome: 'coded', code };
      else throw new CheckError(`${spec.name}: threw an uncoded error: ${(threw as Error)?.stack ?? String(threw)}`);
    } else {
      const owned = spec.verify(result);
      owned.forEach((t) => t.dispose());
      tensorsIn(result).forEach((t) => t.dispose());
      report = { index, op: spec.name, outcome: 'ok' };
    }
  } finally {
    g.disposeAll();
  }
  const after = nt.memory();
  if (after.tensors !== before.tensors || after.bytes !== before.bytes || after.handles !== before.handles)
    throw new CheckError(`${report!.op}: nt.memory() ${JSON.stringify(before)} -> ${JSON.stringify(after)} after disposing everything`);
  return report!;
}
