#!/usr/bin/env python3
"""numpy.linalg.eigh (LAPACK syevd through numpy's OpenBLAS) timed in-process.

usage: eigh_numpy.py DTYPE N REPS [--values]
Set OPENBLAS_NUM_THREADS in the environment to pick the thread count. Prints JSON:
{"samples": [seconds per call, ...], "numpy": version, "dtype": ..., "n": n}.
One warm-up call, then REPS timed calls on a fixed random symmetric matrix (seeded).
--values times numpy.linalg.eigvalsh (values only) instead.
"""
import json
import sys
import time

import numpy as np


def main():
    dtype, n, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    values_only = "--values" in sys.argv[4:]
    b = np.random.default_rng(1).standard_normal((n, n))
    a = ((b + b.T) / 2).astype(np.float32 if dtype == "f32" else np.float64)

    def run():
        if values_only:
            np.linalg.eigvalsh(a)
        else:
            np.linalg.eigh(a)

    run()
    samples = []
    for _ in range(reps):
        t0 = time.perf_counter()
        run()
        samples.append(time.perf_counter() - t0)
    print(json.dumps({"samples": samples, "numpy": np.__version__, "dtype": dtype, "n": n}))


if __name__ == "__main__":
    main()
