// The hand-written backward of the training head (RMSNorm, SwiGLU MLP, lm_head, cross-entropy)
// against central finite differences in float64, the captured residual states reproducing the
// fixture model's logits, and a short optimizer comparison on the fixture.
import * as path from 'path';
import * as nt from '../../lib';
import { HEAD_PARAM_NAMES, HeadParams, headForward, headLossAndGrads } from '../../lib/llm/train/head';
import { lastMlpResidual, loadHeadParams } from '../../lib/llm/train/capture';
import { trainCompare } from '../../lib/llm/train/compare';
import { uniform } from '../helpers/reference';

const FIXTURE = path.join(__dirname, '../../fixtures/tinyllama-fortunes');
const TOL = { fd: 1e-6, logits: 2e-4 };

function f64(shape: number[], seed: number, scale = 1): nt.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return nt.tensor(uniform(n, seed).map((x) => x * scale), { shape, dtype: 'f64' });
}

describe('training head backward', () => {
  test('every parameter gradient and dL/dh match central finite differences (float64)', () => {
    const [N, d, I, V] = [3, 4, 5, 6];
    const eps = 1e-5;
    const params: HeadParams = {
      postNorm: f64([d], 1, 1),
      gate: f64([I, d], 2, 0.8),
      up: f64([I, d], 3, 0.8),
      down: f64([d, I], 4, 0.8),
      finalNorm: f64([d], 5, 1),
      lmHead: f64([V, d], 6, 0.8),
    };
    const h = f64([N, d], 7, 2);
    const targets = Int32Array.from([1, 5, 0]);
    const { loss, grads } = headLossAndGrads(params, h, targets, eps);
    expect(Math.abs(loss - headForward(params, h, targets, eps).loss)).toBeLessThan(1e-12);
    const lossAt = () => {
      const f = headForward(params, h, targets, eps);
      f.logits.dispose();
      return f.loss;
    };
    const step = 1e-6;
    for (const name of [...HEAD_PARAM_NAMES, 'h'] as const) {
      const t = name === 'h' ? h : params[name];
      const data = t.data as Float64Array;
      const g = grads[name].data as Float64Array;
      for (let k = 0; k < data.length; ++k) {
        const x0 = data[k];
        data[k] = x0 + step;
        const lp = lossAt();
        data[k] = x0 - step;
        const lm = lossAt();
        data[k] = x0;
        const fd = (lp - lm) / (2 * step);
        if (Math.abs(g[k] - fd) > TOL.fd * (1 + Math.abs(fd))) throw new Error(`${name}[${k}]: analytic ${g[k]} vs finite difference ${fd}`);
      }
    }
    for (const t of [...Object.values(params), h, ...Object.values(grads)]) t.dispose();
  });

  test('shape and target errors are coded', () => {
    const p: HeadParams = { postNorm: f64([4], 1), gate: f64([5, 4], 2), up: f64([5, 4], 3), down: f64([4, 5], 4), finalNorm: f64([4], 5), lmHead: f64([6, 4], 6) };
    const h = f64([2, 4], 7);
    const hBad = f64([2, 3], 8);
    const err = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as nt.NtError).code;
      }
      return 'none';
    };
    expect(err(() => headLossAndGrads(p, hBad, Int32Array.from([0, 1]), 1e-5))).toBe('NT_SHAPE');
    expect(err(() => headLossAndGrads(p, h, Int32Array.from([0, 6]), 1e-5))).toBe('NT_VALUE');
    expect(err(() => headLossAndGrads(p, h, Int32Array.from([0]), 1e-5))).toBe('NT_VALUE');
    for (const t of [...Object.values(p), h, hBad]) t.dispose();
  });
});

describe('training on the fixture model', () => {
  test('the captured residual states + head reproduce the model logits, and every optimizer trains', () => {
    const model = nt.model.load(FIXTURE);
    const ids = nt.model.encodeBytes('The fortune you seek is in another cookie. ').subarray(0, 33);
    const input = ids.subarray(0, 32);
    const targets = Int32Array.from(ids.subarray(1, 33));
    const h = lastMlpResidual(model, input);
    const params = loadHeadParams(model);
    const logits = model.forward(input);
    const f = headForward(params, h, targets, model.config.rmsNormEps);
    const a = logits.data as Float32Array, b = f.logits.data as Float32Array;
    let err = 0, scale = 0;
    for (let i = 0; i < a.length; ++i) {
      err = Math.max(err, Math.abs(a[i] - b[i]));
      scale = Math.max(scale, Math.abs(a[i]));
    }
    expect(err).toBeLessThan(TOL.logits * (1 + scale));
    logits.dispose();
    f.logits.dispose();

    const runs = trainCompare(params, h, targets, { steps: 4, lr: 1e-3, rank: 16, updateGap: 2, blockSize: 256 });
    const by = Object.fromEntries(runs.map((r) => [r.method, r]));
    for (const r of runs) {
      expect(r.losses.length).toBe(5);
      expect(r.losses.every(Number.isFinite)).toBe(true);
      expect(r.losses[4]).toBeLessThan(r.losses[0]);
      expect(r.losses[0]).toBeCloseTo(runs[0].losses[0], 10); // same start
    }
    expect(by.Adam8bit.stateBytes).toBeLessThan(by.Adam.stateBytes);
    expect(by.GaLore.stateBytes).toBeLessThan(by.Adam.stateBytes);
    expect(by.GradNormLoRP8bit.stateBytes).toBeLessThan(by.GradNormLoRP.stateBytes);
    for (const t of [...Object.values(params), h]) t.dispose();
    model.dispose();
  });

  test('a GGUF-loaded model or a compressed (int4) last MLP: NT_UNSUPPORTED naming why, not a safetensors read error', () => {
    const gguf = nt.model.load(path.join(__dirname, '../../fixtures/gguf/tiny-llama-q4_0.gguf'));
    try {
      const ids = Int32Array.from({ length: 8 }, (_, i) => i + 1);
      for (const fn of [() => lastMlpResidual(gguf, ids), () => loadHeadParams(gguf)])
        expect(fn).toThrow(expect.objectContaining({ code: 'NT_UNSUPPORTED', message: expect.stringMatching(/tiny-llama-q4_0\.gguf is a file, not a safetensors checkpoint folder: training reads its dense parameters from the checkpoint's safetensors/) }));
    } finally {
      gguf.dispose();
    }
    const model = nt.model.load(FIXTURE);
    try {
      const name = `model.layers.${model.config.numLayers - 1}.mlp.up_proj`;
      const w = nt.randn([model.getLinear(name).outFeatures, model.getLinear(name).inFeatures], { seed: 3 });
      model.setLinear(name, new nt.model.QuantLinear(nt.quant.quantize(w, { bits: 4, groupSize: 32 }))).dispose();
      w.dispose();
      expect(() => loadHeadParams(model)).toThrow(expect.objectContaining({ code: 'NT_UNSUPPORTED', message: expect.stringMatching(/mlp\.up_proj is a QuantLinear \(a compressed folder\?\): training starts from the dense weights/) }));
    } finally {
      model.dispose();
    }
  });
});
