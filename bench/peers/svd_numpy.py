#!/usr/bin/env python3
"""numpy.linalg.svd (LAPACK gesdd through numpy's OpenBLAS) timed in-process.

usage: svd_numpy.py DTYPE M N REPS [--values]
Set OPENBLAS_NUM_THREADS in the environment to pick the thread count. Prints JSON:
{"samples": [seconds per call, ...], "numpy": version, "dtype": ..., "shape": [m, n]}.
One warm-up call, then REPS timed calls on a fixed random matrix (seeded).
"""
import json
import sys
import time

import numpy as np


def main():
    dtype, m, n, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    values_only = "--values" in sys.argv[5:]
    a = np.random.default_rng(1).standard_normal((m, n)).astype(np.float32 if dtype == "f32" else np.float64)

    def run():
        if values_only:
            np.linalg.svd(a, full_matrices=False, compute_uv=False)
        else:
            np.linalg.svd(a, full_matrices=False)

    run()
    samples = []
    for _ in range(reps):
        t0 = time.perf_counter()
        run()
        samples.append(time.perf_counter() - t0)
    print(json.dumps({"samples": samples, "numpy": np.__version__, "dtype": dtype, "shape": [m, n]}))


if __name__ == "__main__":
    main()
