#!/usr/bin/env python3
"""numpy matmul (OpenBLAS sgemm/dgemm/sgemv) timed in-process, for bench/gemm.bench.ts.

usage: gemm_numpy.py CASE [CASE ...]
  CASE = gemm:DTYPE:M:K:N:REPS         C = A @ B into a preallocated C
       | gemv:DTYPE:K:N:SETS:REPS      y = x @ W[i] over SETS rotating weight matrices
Set OPENBLAS_NUM_THREADS before starting this process (OpenBLAS reads it once, at import):
run one process per thread count. Prints JSON {"numpy", "openblas", "threads", "cases":
[{"case", "samples": [seconds per call, ...]}]}. Inputs are seeded random values, never zeros.
"""
import json
import os
import sys
import time

import numpy as np


def timed(fn, reps):
    for _ in range(2):
        fn()
    samples = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return samples


def main():
    rng = np.random.default_rng(7)
    out = []
    for spec in sys.argv[1:]:
        kind, dtype, *dims = spec.split(":")
        dt = np.float32 if dtype == "f32" else np.float64
        if kind == "gemm":
            m, k, n, reps = map(int, dims)
            a = rng.standard_normal((m, k)).astype(dt)
            b = rng.standard_normal((k, n)).astype(dt)
            c = np.empty((m, n), dt)
            samples = timed(lambda: np.matmul(a, b, out=c), reps)
        elif kind == "gemv":
            k, n, sets, reps = map(int, dims)
            x = rng.standard_normal((1, k)).astype(dt)
            ws = [rng.standard_normal((k, n)).astype(dt) for _ in range(sets)]
            y = np.empty((1, n), dt)
            state = {"i": 0}

            def run():
                np.matmul(x, ws[state["i"] % sets], out=y)
                state["i"] += 1

            samples = timed(run, reps)
            del ws
        else:
            raise SystemExit(f"unknown case {spec}")
        out.append({"case": spec, "samples": samples})
    config = np.show_config(mode="dicts") if hasattr(np, "show_config") else {}
    blas = config.get("Build Dependencies", {}).get("blas", {}) if isinstance(config, dict) else {}
    print(json.dumps({
        "numpy": np.__version__,
        "openblas": blas.get("version", "?"),
        "threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "cases": out,
    }))


if __name__ == "__main__":
    main()
