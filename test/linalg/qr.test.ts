// nt.linalg.qr: reconstruction, orthonormality, exact triangularity, shapes of both modes, special
// matrices, views, thread-count independence, async, errors.
import * as nt from '../../lib';
import { errorOf } from '../helpers/reference';
import {
  Dt,
  M,
  TOL,
  disposeAll,
  frob,
  isUpperExact,
  matmul,
  orthoError,
  read,
  rejectionOf,
  relErr,
  toTensor,
  uniformM,
  withSpectrum,
} from './factor-helpers';

const DTYPES: Dt[] = ['f32', 'f64'];

/** Checks A = QR, Q^T Q = I, R upper with exact zeros and the shapes of `mode`. */
function checkQr(a: M, dtype: Dt, mode: 'reduced' | 'complete', label: string, input?: nt.Tensor): void {
  const t = input ?? toTensor(a, dtype);
  const { Q, R } = nt.linalg.qr(t, { mode });
  try {
    const k = mode === 'complete' ? a.rows : Math.min(a.rows, a.cols);
    expect(Q.shape).toEqual([a.rows, k]);
    expect(R.shape).toEqual([k, a.cols]);
    expect(Q.dtype).toBe(dtype);
    expect(R.dtype).toBe(dtype);
    const q = read(Q);
    const r = read(R);
    expect(isUpperExact(r)).toBe(true);
    if (a.rows * a.cols > 0) {
      const err = relErr(matmul(q, r), a);
      if (!(err <= TOL[dtype].recon)) throw new Error(`${label}: ||A - QR|| / ||A|| = ${err} > ${TOL[dtype].recon}`);
    }
    if (k > 0) {
      const o = orthoError(q);
      if (!(o <= TOL[dtype].ortho)) throw new Error(`${label}: ||Q^T Q - I||_max = ${o} > ${TOL[dtype].ortho}`);
    }
  } finally {
    disposeAll(Q, R);
    if (!input) t.dispose();
  }
}

describe('linalg.qr', () => {
  const shapes: [number, number][] = [
    [1, 1],
    [2, 2],
    [7, 7],
    [33, 33],
    [129, 129],
    [7, 3],
    [129, 33],
    [500, 60],
    [3, 7],
    [33, 129],
    [60, 500],
    [1, 9],
    [9, 1],
  ];
  for (const dtype of DTYPES)
    for (const [m, n] of shapes)
      for (const mode of ['reduced', 'complete'] as const)
        it(`factors a ${m}x${n} ${dtype} matrix (${mode}) with A = QR, orthonormal Q, exactly upper R`, () => {
          checkQr(uniformM(m, n, 1000 + m * 7 + n), dtype, mode, `${dtype} ${m}x${n} ${mode}`);
        });

  it('factors a 300x300 f64 matrix crossing several panels and blocks', () => {
    checkQr(uniformM(300, 300, 5), 'f64', 'reduced', 'f64 300');
  });

  for (const dtype of DTYPES) {
    it(`handles a rank-deficient ${dtype} matrix (rank 3 of 40x25): Q stays orthonormal, A = QR`, () => {
      checkQr(withSpectrum(40, 25, [3, 2, 1], 11), dtype, 'reduced', 'rank 3');
      checkQr(withSpectrum(40, 25, [3, 2, 1], 11), dtype, 'complete', 'rank 3 complete');
    });

    it(`handles the zero matrix (${dtype}): Q orthonormal, R = 0`, () => {
      const { Q, R } = nt.linalg.qr(nt.zeros([6, 4], dtype));
      try {
        expect(orthoError(read(Q))).toBeLessThanOrEqual(TOL[dtype].ortho);
        expect(frob(read(R))).toBe(0);
      } finally {
        disposeAll(Q, R);
      }
    });

    it(`handles an ill-conditioned ${dtype} matrix (cond 1e10) backward-stably`, () => {
      const s = Array.from({ length: 30 }, (_, i) => 10 ** (-10 * (i / 29)));
      checkQr(withSpectrum(50, 30, s, 21), dtype, 'reduced', 'cond 1e10');
    });

    it(`handles graded columns (${dtype}): column j scaled by 10^-j`, () => {
      const a = uniformM(20, 10, 3);
      for (let i = 0; i < 20; ++i) for (let j = 0; j < 10; ++j) a.data[i * 10 + j] *= 10 ** -j;
      checkQr(a, dtype, 'reduced', 'graded');
    });
  }

  it('factors the identity into Q = +-I and R = +-I', () => {
    const { Q, R } = nt.linalg.qr(nt.eye(5, 'f64'));
    try {
      const q = read(Q);
      const r = read(R);
      for (let i = 0; i < 5; ++i)
        for (let j = 0; j < 5; ++j) {
          expect(Math.abs(q.data[i * 5 + j])).toBe(i === j ? 1 : 0);
          expect(Math.abs(r.data[i * 5 + j])).toBe(i === j ? 1 : 0);
        }
    } finally {
      disposeAll(Q, R);
    }
  });

  it('returns the shapes of empty matrices: 0x0, 5x0 and 0x5 in both modes', () => {
    const cases: [number, number, 'reduced' | 'complete', number[], number[]][] = [
      [0, 0, 'reduced', [0, 0], [0, 0]],
      [5, 0, 'reduced', [5, 0], [0, 0]],
      [5, 0, 'complete', [5, 5], [5, 0]],
      [0, 5, 'reduced', [0, 0], [0, 5]],
      [0, 5, 'complete', [0, 0], [0, 5]],
    ];
    for (const [m, n, mode, qs, rs] of cases) {
      const a = nt.zeros([m, n], 'f32');
      const { Q, R } = nt.linalg.qr(a, { mode });
      expect(Q.shape).toEqual(qs);
      expect(R.shape).toEqual(rs);
      if (mode === 'complete' && m > 0) expect(orthoError(read(Q))).toBe(0);
      disposeAll(a, Q, R);
    }
  });

  it('reads strided views (transpose and slice) like their contiguous copies', () => {
    const base = toTensor(uniformM(40, 30, 8), 'f32');
    const t = base.transpose(1, 0).slice([3, 27]); // 24 x 40 view with strides [1, 30]
    const c = t.contiguous();
    const v = nt.linalg.qr(t);
    const w = nt.linalg.qr(c);
    try {
      expect(Array.from(v.Q.data)).toEqual(Array.from(w.Q.data));
      expect(Array.from(v.R.data)).toEqual(Array.from(w.R.data));
      checkQr(read(c), 'f32', 'reduced', 'view', t);
    } finally {
      disposeAll(base, t, c, v, w);
    }
  });

  it('accepts f16 and bf16 input and computes in f32', () => {
    for (const dtype of ['f16', 'bf16'] as const) {
      const a = toTensor(uniformM(20, 12, 4), dtype);
      const { Q, R } = nt.linalg.qr(a);
      expect(Q.dtype).toBe('f32');
      const ref = read(a);
      expect(relErr(matmul(read(Q), read(R)), ref)).toBeLessThanOrEqual(TOL.f32.recon);
      disposeAll(a, Q, R);
    }
  });

  it('gives the same factors to rounding for 1 and 2 threads', () => {
    const a = toTensor(uniformM(200, 150, 9), 'f64');
    const before = nt.getNumThreads();
    try {
      nt.setNumThreads(1);
      const one = nt.linalg.qr(a);
      nt.setNumThreads(2);
      const two = nt.linalg.qr(a);
      expect(relErr(read(one.Q), read(two.Q))).toBeLessThanOrEqual(1e-13);
      expect(relErr(read(one.R), read(two.R))).toBeLessThanOrEqual(1e-13);
      disposeAll(one, two);
    } finally {
      nt.setNumThreads(before);
      a.dispose();
    }
  });

  it('qrAsync gives the same result as qr', async () => {
    const a = toTensor(uniformM(70, 50, 10), 'f32');
    const s = nt.linalg.qr(a, { mode: 'complete' });
    const p = await nt.linalg.qrAsync(a, { mode: 'complete' });
    expect(Array.from(p.Q.data)).toEqual(Array.from(s.Q.data));
    expect(Array.from(p.R.data)).toEqual(Array.from(s.R.data));
    disposeAll(a, s, p);
  });

  it('frees everything it allocates', () => {
    const base = nt.memory();
    const a = toTensor(uniformM(30, 20, 12), 'f32');
    const r = nt.linalg.qr(a);
    disposeAll(a, r);
    expect(nt.memory().tensors).toBe(base.tensors);
    expect(nt.memory().bytes).toBe(base.bytes);
  });

  describe('errors', () => {
    it('rejects non-2-D input with NT_SHAPE', () => {
      const a = nt.zeros([3, 4, 5]);
      const e = errorOf(() => nt.linalg.qr(a));
      expect(e.code).toBe('NT_SHAPE');
      expect(e.message).toBe('[linalg.qr] expected a to be a 2-D tensor, got shape [3,4,5]');
      a.dispose();
    });

    it('rejects integer dtypes with NT_DTYPE', () => {
      const a = nt.zeros([3, 3], 'i32');
      const e = errorOf(() => nt.linalg.qr(a));
      expect(e.code).toBe('NT_DTYPE');
      expect(e.message).toMatch(/^\[linalg\.qr\] a must be f32, f64, f16 or bf16, got i32/);
      a.dispose();
    });

    it('rejects a disposed tensor with NT_DISPOSED', () => {
      const a = nt.zeros([3, 3]);
      a.dispose();
      expect(errorOf(() => nt.linalg.qr(a)).code).toBe('NT_DISPOSED');
    });

    it('rejects NaN and Inf with NT_VALUE and frees its outputs', async () => {
      for (const bad of [NaN, Infinity, -Infinity]) {
        const a = nt.tensor([1, 2, 3, bad], { shape: [2, 2], dtype: 'f32' });
        const base = nt.memory();
        const e = errorOf(() => nt.linalg.qr(a));
        expect(e.code).toBe('NT_VALUE');
        expect(e.message).toBe('[linalg.qr] input contains NaN or Inf');
        expect(nt.memory().tensors).toBe(base.tensors);
        const r = await rejectionOf(nt.linalg.qrAsync(a));
        expect(r.code).toBe('NT_VALUE');
        expect(nt.memory().tensors).toBe(base.tensors);
        a.dispose();
      }
    });

    it('rejects an unknown mode and a non-object options argument with NT_VALUE', () => {
      const a = nt.zeros([2, 2]);
      const e = errorOf(() => nt.linalg.qr(a, { mode: 'full' as 'reduced' }));
      expect(e.code).toBe('NT_VALUE');
      expect(e.message).toBe("[linalg.qr] mode must be 'reduced' or 'complete', got string full");
      expect(errorOf(() => nt.linalg.qr(a, 3 as unknown as object)).code).toBe('NT_VALUE');
      expect(errorOf(() => nt.linalg.qr(3 as unknown as nt.Tensor)).code).toBe('NT_VALUE');
      a.dispose();
    });

    it('checks output shapes in native code too (direct addon calls)', () => {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      const { native } = require('../../lib/native/loader');
      const a = nt.zeros([4, 3]);
      const q = nt.zeros([4, 2]);
      const r = nt.zeros([2, 3]);
      const e = errorOf(() => native.qr(a._storage, a._metaArray, q._storage, q._metaArray, r._storage, r._metaArray));
      expect(e.code).toBe('NT_SHAPE');
      expect(e.message).toMatch(/^\[linalg\.qr\] q must have shape \[4,3\] \(reduced\) or \[4,4\] \(complete\), got \[4,2\]/);
      disposeAll(a, q, r);
    });
  });
});

