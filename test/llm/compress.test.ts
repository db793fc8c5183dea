// The whole-model pipeline on the committed fixture: calibration capture, int4 / 2:4 compression
// with low-rank corrections, the GPTQ + PEFT folders it writes, and reloading them.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as nt from '../../lib';
import { DenseLinear, LoraLinear, QuantLinear } from '../../lib/model/linear';
import { FIXTURE_F16, errorOf, maxAbsDiff } from '../model/helpers';

const text = fs.readFileSync(path.join(FIXTURE_F16, 'heldout.txt'));
const calibration = Int32Array.from(text.subarray(60000, 60000 + 768));
const probe = Int32Array.from(text.subarray(0, 96));
let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nt-compress-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function logits(model: nt.model.LlamaModel): Float32Array {
  const t = model.forward(probe);
  const out = Float32Array.from(t.data as Float32Array);
  t.dispose();
  return out;
}

describe('llm.calibrate', () => {
  test('streams one covariance per distinct input; q/k/v and gate/up share theirs', () => {
    const model = nt.model.load(FIXTURE_F16);
    const names = model.linears().filter((n) => n.startsWith('model.layers.1.'));
    const calib = nt.llm.calibrate(model, calibration.subarray(0, 300), { window: 128, modules: names });
    const p = 'model.layers.1.';
    const get = (s: string) => calib.inputs.get(p + s)!;
    expect(get('self_attn.q_proj')).toBe(get('self_attn.k_proj'));
    expect(get('self_attn.q_proj')).toBe(get('self_attn.v_proj'));
    expect(get('mlp.gate_proj')).toBe(get('mlp.up_proj'));
    expect(get('self_attn.o_proj')).not.toBe(get('self_attn.q_proj'));
    expect(new Set(calib.inputs.values()).size).toBe(4);
    for (const acc of calib.inputs.values()) expect(acc.count).toBe(300); // 128 + 128 + 44 tokens, each once
    // the covariance equals XᵀX / n of the inputs the hook saw
    const seen: nt.Tensor[] = [];
    model.hidden(calibration.subarray(0, 128), {
      layers: 2,
      hooks: { onLinearInput: (name, x) => void (name === p + 'mlp.down_proj' && seen.push(x.clone())) },
    }).dispose();
    const x = seen[0].astype('f64');
    const ref = nt.div(nt.matmul(x, x, { transA: true }), 128);
    const one = nt.llm.calibrate(model, calibration.subarray(0, 128), { window: 128, modules: [p + 'mlp.down_proj'] });
    const got = one.inputs.get(p + 'mlp.down_proj')!.mean();
    expect(maxAbsDiff(got.data as Float64Array, ref.data as Float64Array)).toBeLessThan(1e-5 * (ref.data as Float64Array).reduce((m, v) => Math.max(m, Math.abs(v)), 0));
    [x, ref, got, seen[0]].forEach((t) => t.dispose());
    one.dispose();
    calib.dispose();
    model.dispose();
  });

  test('errors: unknown module, bad window, no tokens', () => {
    const model = nt.model.load(FIXTURE_F16);
    expect(errorOf(() => nt.llm.calibrate(model, calibration, { modules: ['nope'] }))).toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/no linear named 'nope'/) });
    expect(errorOf(() => nt.llm.calibrate(model, calibration, { window: 0 }))).toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/window must be an integer/) });
    expect(errorOf(() => nt.llm.calibrate(model, []))).toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/no calibration tokens/) });
    model.dispose();
  });
});

describe('llm.compressModel', () => {
  test('int4 + EoRA: every linear becomes a corrected int4 layer whose calibration error dropped; saved and reloaded it gives the same logits', () => {
    const model = nt.model.load(FIXTURE_F16);
    const progress: number[] = [];
    const report = nt.llm.compressModel(model, { bits: 4, groupSize: 128, method: 'eora', rank: 8, calibration, onProgress: (d) => progress.push(d) });
    expect(progress).toEqual(Array.from({ length: 28 }, (_, i) => i + 1));
    expect(report.layers).toHaveLength(28);
    for (const l of report.layers) {
      expect(l.errorCompressed).toBeGreaterThan(0);
      expect(l.errorCompensated).toBeLessThan(l.errorCompressed);
      expect(l.relativeCompressed).toBeLessThan(0.2); // int4 g128 on trained weights: a few percent
    }
    for (const name of model.linears()) {
      const lin = model.getLinear(name) as LoraLinear;
      expect(lin).toBeInstanceOf(LoraLinear);
      expect(lin.base).toBeInstanceOf(QuantLinear);
      expect(lin.rank).toBe(8);
    }
    expect(report.bytesAfter).toBeLessThan(report.bytesBefore / 3);
    const inMemory = logits(model);
    const out = path.join(tmp, 'int4-eora');
    const saved = nt.llm.saveCompressed(model, out);
    expect(saved).toMatchObject({ quantizedLinears: 28, adapters: 28 });
    const cfg = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
    expect(cfg.quantization_config).toMatchObject({ quant_method: 'gptq', bits: 4, group_size: 128, checkpoint_format: 'gptq' });
    const reloaded = nt.model.load(out);
    expect(reloaded.getLinear(model.linears()[0])).toBeInstanceOf(QuantLinear);
    nt.llm.applyAdapter(reloaded, path.join(out, 'adapter'));
    expect(maxAbsDiff(logits(reloaded), inMemory)).toBeLessThan(1e-4);
    reloaded.dispose();
    model.dispose();
  });

  test('EoRA beats the plain SVD correction layer by layer on the calibration data (same rank, one pass)', () => {
    const errors = (method: 'eora' | 'svd') => {
      const model = nt.model.load(FIXTURE_F16);
      // calibration is sequential: layer 0 sees the original model's inputs in both runs
      const r = nt.llm.compressModel(model, { bits: 3, method, rank: 4, calibration: calibration.subarray(0, 256) });
      model.dispose();
      return r.layers.filter((l) => l.name.startsWith('model.layers.0.')).map((l) => l.errorCompensated);
    };
    const e = errors('eora');
    const s = errors('svd');
    e.forEach((v, i) => expect(v).toBeLessThanOrEqual(s[i] * (1 + 1e-5)));
  });

  test('2:4 + int4 keeps the 2:4 pattern in the packed codes; pruning alone keeps dense pruned weights', () => {
    const model = nt.model.load(FIXTURE_F16);
    nt.llm.compressModel(model, { bits: 4, sparsity: '2:4', pruneMethod: 'wanda', method: 'none', calibration: calibration.subarray(0, 256) });
    const q = (model.getLinear('model.layers.2.mlp.up_proj') as QuantLinear).q;
    const w = nt.quant.dequantize(q);
    const d = w.data as Float32Array;
    const cols = w.shape[1];
    for (let r = 0; r < w.shape[0]; ++r)
      for (let g = 0; g < cols; g += 4) expect([0, 1, 2, 3].filter((j) => d[r * cols + g + j] === 0).length).toBeGreaterThanOrEqual(2);
    w.dispose();
    model.dispose();
    const dense = nt.model.load(FIXTURE_F16);
    nt.llm.compressModel(dense, { bits: null, sparsity: '2:4', pruneMethod: 'magnitude', method: 'svd', rank: 2, calibration: calibration.subarray(0, 256) });
    const lin = dense.getLinear('model.layers.0.self_attn.o_proj') as LoraLinear;
    expect(lin.base).toBeInstanceOf(DenseLinear);
    dense.dispose();
  });

  test('errors: missing calibration, GPTQ with 2:4, nothing to do, bad options, an already compressed model', () => {
    const model = nt.model.load(FIXTURE_F16);
    const cases: [object, string, RegExp][] = [
      [{ bits: 4 }, 'NT_VALUE', /calibration token ids are required/],
      [{ bits: 4, sparsity: '2:4', quantizer: 'gptq', calibration }, 'NT_UNSUPPORTED', /2:4 sparsity with the GPTQ quantizer/],
      [{ bits: null, calibration }, 'NT_VALUE', /nothing to do/],
      [{ bits: 5, calibration }, 'NT_VALUE', /bits must be one of 2, 3, 4, 8, null, got number 5/],
      [{ method: 'lora', calibration }, 'NT_VALUE', /method must be one of/],
      [{ rank: 0, calibration }, 'NT_VALUE', /rank must be a positive integer/],
    ];
    for (const [opts, code, message] of cases) expect(errorOf(() => nt.llm.compressModel(model, opts as never))).toMatchObject({ code, message: expect.stringMatching(message) });
    nt.llm.compressModel(model, { bits: 4, method: 'none', calibration: calibration.subarray(0, 128) });
    expect(errorOf(() => nt.llm.compressModel(model, { bits: 4, calibration }))).toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/already replaced \(QuantLinear\)/) });
    model.dispose();
  });

  test('saveCompressed refuses what a GPTQ folder cannot hold; a bad quantization_config is refused on load', () => {
    const model = nt.model.load(FIXTURE_F16);
    nt.llm.compressModel(model, { bits: 3, method: 'none', calibration: calibration.subarray(0, 128) });
    expect(errorOf(() => nt.llm.saveCompressed(model, path.join(tmp, 'three-bit')))).toMatchObject({
      code: 'NT_UNSUPPORTED',
      message: expect.stringMatching(/model\.layers\.0\.self_attn\.q_proj: the GPTQ folder format is written for 4-bit weights, got 3 bits/),
    });
    model.dispose();

    const mixed = nt.model.load(FIXTURE_F16);
    nt.llm.compressModel(mixed, { bits: 4, groupSize: 128, method: 'none', calibration: calibration.subarray(0, 128) });
    const name = 'model.layers.3.mlp.down_proj';
    const w = nt.randn([256, 688], { seed: 9 });
    mixed.setLinear(name, new QuantLinear(nt.quant.quantize(w, { bits: 4, groupSize: 64 }))).dispose();
    w.dispose();
    expect(errorOf(() => nt.llm.saveCompressed(mixed, path.join(tmp, 'mixed')))).toMatchObject({
      code: 'NT_UNSUPPORTED',
      message: expect.stringMatching(/model\.layers\.3\.mlp\.down_proj: every linear must share one group size and symmetry/),
    });
    mixed.dispose();

    const good = nt.model.load(FIXTURE_F16);
    nt.llm.compressModel(good, { bits: 4, method: 'none', calibration: calibration.subarray(0, 128) });
    const out = path.join(tmp, 'config-checks');
    nt.llm.saveCompressed(good, out);
    good.dispose();
    const cfgPath = path.join(out, 'config.json');
    const cfg = JSON.parse(fs.readFileSync(cfgPath, 'utf8'));
    const cases: [object, string, RegExp][] = [
      [{ quant_method: 'awq' }, 'NT_UNSUPPORTED', /quantization_config\.quant_method "awq" is not supported \(only 'gptq'\)/],
      [{ bits: 5 }, 'NT_IO', /quantization_config\.bits must be 2, 3, 4 or 8, got 5/],
      [{ group_size: 0 }, 'NT_IO', /quantization_config\.group_size must be a positive integer or -1, got 0/],
      [{ checkpoint_format: 'marlin' }, 'NT_UNSUPPORTED', /checkpoint_format "marlin" is not supported/],
      [{ group_size: 64 }, 'NT_SHAPE', /qzeros' has shape \[2, 32\], config\.json implies \[4, 32\]/],
    ];
    for (const [patch, code, message] of cases) {
      fs.writeFileSync(cfgPath, JSON.stringify({ ...cfg, quantization_config: { ...cfg.quantization_config, ...patch } }));
      expect(errorOf(() => nt.model.load(out))).toMatchObject({ code, message: expect.stringMatching(message) });
    }
  });

  test('applyAdapter refuses an adapter for another model without touching the model', () => {
    const model = nt.model.load(FIXTURE_F16);
    const dir = path.join(tmp, 'bad-adapter');
    nt.llm.saveLoraAdapter(dir, { 'model.layers.0.self_attn.q_proj': { A: nt.zeros([2, 7]), B: nt.zeros([256, 2]) } });
    const before = logits(model);
    expect(errorOf(() => nt.llm.applyAdapter(model, dir))).toMatchObject({ code: 'NT_SHAPE', message: expect.stringMatching(/adapter maps 7 -> 256 features, the model's linear 256 -> 256/) });
    const other = path.join(tmp, 'other-adapter');
    nt.llm.saveLoraAdapter(other, { 'model.layers.9.self_attn.q_proj': { A: nt.zeros([2, 256]), B: nt.zeros([256, 2]) } });
    expect(errorOf(() => nt.llm.applyAdapter(model, other))).toMatchObject({ code: 'NT_SHAPE', message: expect.stringMatching(/modules the model does not have: model\.layers\.9/) });
    expect(logits(model)).toEqual(before);
    expect(model.getLinear('model.layers.0.self_attn.q_proj')).toBeInstanceOf(DenseLinear);
    model.dispose();
  });
});
