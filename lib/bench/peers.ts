// Peers measured beside our kernels when the machine has them: numpy (OpenBLAS / LAPACK) via
// `python3 -c`, one process per thread count (OpenBLAS reads OPENBLAS_NUM_THREADS at import).
// Each case is timed inside that process with the same rule as ours (warm-up, then samples
// until the budget is spent). A missing python3 or numpy is reported, never a failure.
import { spawnSync } from 'child_process';

export interface NumpyCase {
  /** What to run: matmul a[n,k] @ b[k,n'], a sum over `n` elements, eigh / svd of an n x n matrix. */
  kind: 'matmul' | 'sum' | 'eigh' | 'svd';
  dtype: 'f32' | 'f64';
  dims: number[];
}

export interface NumpyStatus {
  available: boolean;
  /** "numpy 2.1.3" or why not: "python3 not found", "numpy not importable". */
  detail: string;
}

/** The interpreter: NTENSOR_BENCH_PYTHON, else python3 from PATH. */
const python = () => process.env.NTENSOR_BENCH_PYTHON || 'python3';

// Reads [{kind, dtype, dims}], budget from argv; prints {"samples": [[s, ...], ...]}.
const SCRIPT = String.raw`
import json, sys, time
import numpy as np
cases = json.loads(sys.stdin.read())
budget = float(sys.argv[1])
rng = np.random.default_rng(7)
def timed(fn):
    fn(); fn()
    out = []
    start = time.perf_counter()
    while len(out) < 5 or (time.perf_counter() - start < budget and len(out) < 1000):
        t0 = time.perf_counter(); fn(); out.append(time.perf_counter() - t0)
    return out
res = []
for c in cases:
    dt = np.float32 if c["dtype"] == "f32" else np.float64
    d = c["dims"]
    if c["kind"] == "matmul":
        a = rng.standard_normal((d[0], d[1])).astype(dt); b = rng.standard_normal((d[1], d[2])).astype(dt)
        o = np.empty((d[0], d[2]), dt)
        res.append(timed(lambda: np.matmul(a, b, out=o)))
    elif c["kind"] == "sum":
        x = rng.random(d[0], dtype=np.float32) if c["dtype"] == "f32" else rng.random(d[0])
        res.append(timed(lambda: x.sum()))
    elif c["kind"] == "eigh":
        g = rng.standard_normal((d[0], d[0])).astype(dt); a = (g + g.T) / 2
        res.append(timed(lambda: np.linalg.eigh(a)))
    elif c["kind"] == "svd":
        a = rng.standard_normal((d[0], d[0])).astype(dt)
        res.append(timed(lambda: np.linalg.svd(a, full_matrices=False)))
    else:
        raise SystemExit("unknown case " + c["kind"])
print(json.dumps({"samples": res}))
`;

const statusByPython = new Map<string, NumpyStatus>();

export function numpyStatus(): NumpyStatus {
  const py = python();
  let status = statusByPython.get(py);
  if (status) return status;
  const r = spawnSync(py, ['-c', 'import numpy; print(numpy.__version__)'], { encoding: 'utf8', timeout: 30000 });
  if (r.error) status = { available: false, detail: `${py} not found` };
  else if (r.status !== 0) status = { available: false, detail: `numpy not importable by ${py}` };
  else status = { available: true, detail: `numpy ${r.stdout.trim()}` };
  statusByPython.set(py, status);
  return status;
}

/** Samples (seconds per call) of each case at `threads` BLAS threads; throws with python's stderr on failure. */
export function runNumpy(cases: readonly NumpyCase[], threads: number, budget: number): number[][] {
  if (cases.length === 0) return [];
  const t = String(threads);
  const env = { ...process.env, OPENBLAS_NUM_THREADS: t, OMP_NUM_THREADS: t, MKL_NUM_THREADS: t };
  const r = spawnSync(python(), ['-c', SCRIPT, String(budget)], { env, input: JSON.stringify(cases), encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error || r.status !== 0) throw new Error(`numpy peer failed: ${(r.stderr || String(r.error)).trim().split('\n').pop()}`);
  const parsed = JSON.parse(r.stdout) as { samples: number[][] };
  if (!Array.isArray(parsed.samples) || parsed.samples.length !== cases.length) throw new Error('numpy peer returned a malformed result');
  return parsed.samples;
}
