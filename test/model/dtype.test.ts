// nt.model.load's dtype option on the fixture (stored f16): 'auto' keeps the checkpoint's
// dtype as zero-copy views of the mapped file, 'bf16' converts, 'f32' widens. The 16-bit paths
// run the mixed f32 x 16-bit kernels; their logits are compared with the f32 path's.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as nt from '../../lib';
import { DenseLinear, LlamaModel, encodeBytes, load, loadAsync } from '../../lib/model';
import { FIXTURE_F16, values } from './helpers';
import { referenceLogits, writeTiny } from './tiny';

const ids = encodeBytes(fs.readFileSync(path.join(FIXTURE_F16, 'reference_prompt.txt'), 'utf8'));

/** ‖a − b‖∞ / ‖b‖∞ */
function relMaxDiff(a: Float64Array, b: Float64Array): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < a.length; ++i) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return d / m;
}

function logitsOf(model: LlamaModel): Float64Array {
  const t = model.forward(ids);
  const v = values(t);
  t.dispose();
  return v;
}

describe('model weight dtype', () => {
  const base = nt.memory();
  let f32: LlamaModel;
  let ref: Float64Array;
  beforeAll(() => {
    f32 = load(FIXTURE_F16, { dtype: 'f32' });
    ref = logitsOf(f32);
  });
  afterAll(() => {
    f32.dispose();
    expect(nt.memory()).toEqual(base);
  });

  test("'auto' keeps the stored f16 as mapped views; norms are f32; logits equal the f32 path's", () => {
    const before = nt.memory();
    const m = load(FIXTURE_F16);
    const q = m.getLinear('model.layers.0.self_attn.q_proj') as DenseLinear;
    expect(q.weight.dtype).toBe('f16');
    expect((f32.getLinear('model.layers.0.self_attn.q_proj') as DenseLinear).weight.dtype).toBe('f32');
    // every linear, the embeddings and lm_head are views of the file: nothing was copied
    const stored = nt.io.safetensorsInfo(path.join(FIXTURE_F16, 'model.safetensors'));
    const matrices = stored.tensors.filter((t) => !t.name.endsWith('norm.weight')).reduce((s, t) => s + t.byteLength, 0);
    expect(nt.memory().mappedBytes - before.mappedBytes).toBe(matrices);
    // f16 values are exact in f32 and both paths accumulate in f32: only summation order differs
    expect(relMaxDiff(logitsOf(m), ref)).toBeLessThan(1e-5);
    m.dispose();
    expect(nt.memory()).toEqual(before);
  });

  test("'bf16' converts on load; its logits are within 1e-2 relative of the f32 path's", async () => {
    const m = await loadAsync(FIXTURE_F16, { dtype: 'bf16' });
    expect((m.getLinear('model.layers.3.mlp.down_proj') as DenseLinear).weight.dtype).toBe('bf16');
    const got = logitsOf(m);
    const rel = relMaxDiff(got, ref);
    expect(rel).toBeLessThan(1e-2);
    expect(rel).toBeGreaterThan(0); // bf16 rounding of f16 weights does change them
    const viaAsync = await m.forwardAsync(ids);
    expect(Array.from(values(viaAsync))).toEqual(Array.from(got));
    viaAsync.dispose();
    m.dispose();
  });

  test('decode with a KV cache matches the full forward on 16-bit weights', () => {
    const m = load(FIXTURE_F16, { dtype: 'bf16' });
    const fullT = m.forward(ids.subarray(0, 12));
    const full = values(fullT);
    fullT.dispose();
    const cache = m.newCache();
    const pre = m.forward(ids.subarray(0, 11), { cache });
    pre.dispose();
    const last = m.forward(ids.subarray(11, 12), { cache });
    const v = values(last);
    const V = m.config.vocabSize;
    let d = 0;
    for (let j = 0; j < V; ++j) d = Math.max(d, Math.abs(v[j] - full[11 * V + j]));
    expect(d).toBeLessThan(1e-4);
    last.dispose();
    cache.dispose();
    m.dispose();
  });

  test('an unknown dtype is NT_DTYPE naming the choices', () => {
    expect(() => load(FIXTURE_F16, { dtype: 'int4' as never })).toThrow(
      expect.objectContaining({ code: 'NT_DTYPE', message: expect.stringMatching(/\[model\.load\] dtype must be one of auto, f32, bf16, f16/) }),
    );
  });
});

describe('lm_head as a linear', () => {
  const base = nt.memory();
  afterAll(() => expect(nt.memory()).toEqual(base));

  test('getLinear/setLinear reach lm_head; quantizeHead swaps in an 8- or 4-bit head close to the dense one', () => {
    const m = load(FIXTURE_F16, { dtype: 'bf16' });
    const dense = logitsOf(m);
    const head = m.getLinear('lm_head') as DenseLinear;
    expect(head.weight.dtype).toBe('bf16');
    expect([head.inFeatures, head.outFeatures]).toEqual([m.config.hiddenSize, m.config.vocabSize]);
    const path8 = m.quantizeHead({ bits: 8 });
    expect(path8.activations).toBe('f32');
    const q8 = logitsOf(m);
    expect(relMaxDiff(q8, dense)).toBeLessThan(1e-2);
    expect(() => m.quantizeHead()).toThrow(expect.objectContaining({ code: 'NT_VALUE', message: expect.stringMatching(/already replaced \(QuantLinear: quantized before, or stored quantized in the model folder\); it quantizes a dense head/) }));
    m.dispose();
    const m4 = load(FIXTURE_F16, { dtype: 'bf16' });
    m4.quantizeHead({ bits: 4, groupSize: 32 });
    const q4 = logitsOf(m4);
    expect(relMaxDiff(q4, dense)).toBeLessThan(0.1);
    expect(relMaxDiff(q4, dense)).toBeGreaterThan(relMaxDiff(q8, dense));
    expect(() => m4.quantizeHead({ bits: 3 as never })).toThrow(expect.objectContaining({ code: 'NT_VALUE' }));
    m4.dispose();
  });

  test('a sharded bf16 checkpoint with tied embeddings runs mapped and equals the float64 reference; replacing its head leaves the table intact', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nt-dtype-'));
    try {
      const tiny = writeTiny(dir, { tie_word_embeddings: true }, { dtype: 'bf16', shards: 3 });
      const m = load(dir);
      expect((m.getLinear('model.layers.1.mlp.up_proj') as DenseLinear).weight.dtype).toBe('bf16');
      expect(nt.memory().mappedBytes).toBeGreaterThan(0);
      const ids = [3, 1, 4, 1, 5, 9, 2, 6];
      const want = referenceLogits(tiny, ids);
      const check = () => {
        const got = m.forward(ids);
        // bf16 weights are exact in f32: only f32 accumulation separates us from the reference
        expect(relMaxDiff(values(got), want)).toBeLessThan(1e-5);
        got.dispose();
      };
      check();
      const old = m.setLinear('lm_head', new DenseLinear(nt.io.loadSafetensors(dir, { names: ['model.embed_tokens.weight'] })['model.embed_tokens.weight']));
      old.dispose(); // the old head viewed the embedding table: the table must survive
      check();
      m.dispose();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
