#!/usr/bin/env python3
"""numpy peers of the factor suite (QR, Cholesky, randomized and full SVD), timed in-process.

usage:
  factor_numpy.py gen DIR                 write the shared inputs as .npy (seeded; see below)
  factor_numpy.py qr FILE REPS            np.linalg.qr(a) (reduced Q and R: LAPACK geqrf + orgqr)
  factor_numpy.py cholesky FILE REPS      np.linalg.cholesky(a) (LAPACK potrf)
  factor_numpy.py rsvd FILE RANK OVERSAMPLE POWER_ITERS REPS
                                          the same randomized SVD as nt.linalg.rsvd, in numpy
  factor_numpy.py svd FILE REPS           np.linalg.svd(a, full_matrices=False) (LAPACK gesdd)
Set OPENBLAS_NUM_THREADS in the environment to pick the thread count. Prints JSON
{"samples": [seconds per call, ...], "numpy": version, ...}; rsvd and svd also print the
singular values ("s"). One warm-up call, then REPS timed calls.

gen writes: qr_{f32,f64}.npy (1024 x 1024 standard normal), spd_{f32,f64}.npy (G G^T / n + I,
n = 1024), rsvd_f32.npy (4096 x 4096 = Q1 diag(0.9^i) Q2^T, i < 512, Q1, Q2 orthonormal from
the QR of Gaussian matrices; formed in f64, rounded to f32) and rsvd_sigma.npy (the 0.9^i).
"""
import json
import os
import sys
import time

import numpy as np


def timed(run, reps):
    out = run()
    samples = []
    for _ in range(reps):
        t0 = time.perf_counter()
        out = run()
        samples.append(time.perf_counter() - t0)
    return samples, out


def gen(folder):
    rng = np.random.default_rng(2024)
    os.makedirs(folder, exist_ok=True)
    g = rng.standard_normal((1024, 1024))
    np.save(os.path.join(folder, "qr_f64.npy"), g)
    np.save(os.path.join(folder, "qr_f32.npy"), g.astype(np.float32))
    h = rng.standard_normal((1024, 1024))
    spd = h @ h.T / 1024 + np.eye(1024)
    spd = (spd + spd.T) / 2
    np.save(os.path.join(folder, "spd_f64.npy"), spd)
    np.save(os.path.join(folder, "spd_f32.npy"), spd.astype(np.float32))
    n, k = 4096, 512
    q1, _ = np.linalg.qr(rng.standard_normal((n, k)))
    q2, _ = np.linalg.qr(rng.standard_normal((n, k)))
    s = 0.9 ** np.arange(k)
    a = (q1 * s) @ q2.T
    np.save(os.path.join(folder, "rsvd_f32.npy"), a.astype(np.float32))
    np.save(os.path.join(folder, "rsvd_sigma.npy"), s)
    print(json.dumps({"ok": True, "numpy": np.__version__}))


def rsvd(a, rank, oversample, power_iters, seed=1):
    """Halko-Martinsson-Tropp with QR after every product, as nt.linalg.rsvd."""
    m, n = a.shape
    l = min(rank + oversample, m, n)
    omega = np.random.default_rng(seed).standard_normal((n, l)).astype(a.dtype)
    q, _ = np.linalg.qr(a @ omega)
    for _ in range(power_iters):
        p, _ = np.linalg.qr(a.T @ q)
        q, _ = np.linalg.qr(a @ p)
    b = q.T @ a
    ub, s, vt = np.linalg.svd(b, full_matrices=False)
    return q @ ub[:, :rank], s[:rank], vt[:rank]


def main():
    mode = sys.argv[1]
    if mode == "gen":
        gen(sys.argv[2])
        return
    a = np.load(sys.argv[2])
    info = {"numpy": np.__version__, "mode": mode, "shape": list(a.shape), "dtype": str(a.dtype)}
    if mode == "qr":
        samples, _ = timed(lambda: np.linalg.qr(a), int(sys.argv[3]))
    elif mode == "cholesky":
        samples, _ = timed(lambda: np.linalg.cholesky(a), int(sys.argv[3]))
    elif mode == "rsvd":
        rank, over, iters, reps = (int(x) for x in sys.argv[3:7])
        samples, out = timed(lambda: rsvd(a, rank, over, iters), reps)
        info["s"] = [float(x) for x in out[1]]
    elif mode == "svd":
        samples, out = timed(lambda: np.linalg.svd(a, full_matrices=False), int(sys.argv[3]))
        info["s"] = [float(x) for x in out[1][:256]]
    else:
        raise SystemExit(f"unknown mode {mode}")
    info["samples"] = samples
    print(json.dumps(info))


if __name__ == "__main__":
    main()
