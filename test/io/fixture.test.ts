// The repo's fixture model (fixtures/tinyllama-fortunes, the f16 copy): exactly the tensors
// a LLaMA config implies, sums within float16 rounding of checksums.json, and (when the
// shared float32 original is present) bit-exact agreement with rounding that original.
import * as fs from 'fs';
import * as path from 'path';
import * as nt from '../../lib';
import { PACKAGE_ROOT } from '../../lib/native/loader';
import { Tensor } from '../../lib/tensor';
import { bytesOf } from './helpers';

const FIXTURE = path.join(PACKAGE_ROOT, 'fixtures', 'tinyllama-fortunes');
const ORIGINAL = path.join(PACKAGE_ROOT, '..', 'shared', 'fixtures', 'tinyllama-fortunes');
const haveOriginal = fs.existsSync(path.join(ORIGINAL, 'model.safetensors'));

interface Checksum {
  shape: number[];
  sum: number;
}
const readJson = (f: string) => JSON.parse(fs.readFileSync(path.join(FIXTURE, f), 'utf8'));

/** name -> shape of a LLaMA-family checkpoint as config.json describes it. */
function expectedShapes(cfg: Record<string, number | boolean>): Record<string, number[]> {
  const H = cfg.hidden_size as number;
  const V = cfg.vocab_size as number;
  const I = cfg.intermediate_size as number;
  const hd = (cfg.head_dim as number) ?? H / (cfg.num_attention_heads as number);
  const q = (cfg.num_attention_heads as number) * hd;
  const kv = (cfg.num_key_value_heads as number) * hd;
  const shapes: Record<string, number[]> = { 'model.embed_tokens.weight': [V, H], 'model.norm.weight': [H] };
  if (!cfg.tie_word_embeddings) shapes['lm_head.weight'] = [V, H];
  for (let l = 0; l < (cfg.num_hidden_layers as number); ++l) {
    const p = `model.layers.${l}.`;
    Object.assign(shapes, {
      [`${p}self_attn.q_proj.weight`]: [q, H],
      [`${p}self_attn.k_proj.weight`]: [kv, H],
      [`${p}self_attn.v_proj.weight`]: [kv, H],
      [`${p}self_attn.o_proj.weight`]: [H, q],
      [`${p}mlp.gate_proj.weight`]: [I, H],
      [`${p}mlp.up_proj.weight`]: [I, H],
      [`${p}mlp.down_proj.weight`]: [H, I],
      [`${p}input_layernorm.weight`]: [H],
      [`${p}post_attention_layernorm.weight`]: [H],
    });
  }
  return shapes;
}

function sums(t: Tensor): { sum: number; abs: number } {
  const d = t.data;
  let sum = 0;
  let abs = 0;
  for (let i = 0; i < d.length; ++i) {
    sum += d[i];
    abs += Math.abs(d[i]);
  }
  return { sum, abs };
}

describe('fixtures/tinyllama-fortunes', () => {
  const cfg = readJson('config.json');
  const checksums: Record<string, Checksum> = readJson('checksums.json');

  it('holds exactly the tensors and shapes config.json implies, all F16', () => {
    const expected = expectedShapes(cfg);
    expect(expected['model.embed_tokens.weight']).toEqual([256, 256]);
    const info = nt.io.safetensorsInfo(path.join(FIXTURE, 'model.safetensors'));
    const got = Object.fromEntries(info.tensors.map((t) => [t.name, t.shape]));
    expect(got).toEqual(expected);
    expect(Object.keys(checksums).sort()).toEqual(Object.keys(expected).sort());
    for (const t of info.tensors) expect([t.name, t.fileDtype, t.dtype]).toEqual([t.name, 'F16', 'f16']);
    expect(info.metadata.format).toBe('pt');
    expect(info.fileBytes).toBe(8 + info.headerBytes + 2 * Object.values(expected).reduce((a, s) => a + s[0] * (s[1] ?? 1), 0));
  });

  it('loads from its folder with sums within float16 rounding of checksums.json', async () => {
    const w = await nt.io.loadSafetensorsAsync(FIXTURE, { dtype: 'f32' });
    for (const [name, c] of Object.entries(checksums)) {
      expect(w[name].shape).toEqual(c.shape);
      const { sum, abs } = sums(w[name]);
      // each element was rounded once to f16: |error| <= 2^-11 |x| (normal) or 2^-25 (subnormal)
      const bound = abs * 2 ** -11 * 1.001 + w[name].size * 2 ** -25;
      expect({ name, err: Math.abs(sum - c.sum) <= bound }).toEqual({ name, err: true });
    }
  });

  it('has the reference logits for the reference prompt', () => {
    const prompt = fs.readFileSync(path.join(FIXTURE, 'reference_prompt.txt'));
    const logits = nt.io.loadNpy(path.join(FIXTURE, 'reference_logits.npy'));
    expect(logits.dtype).toBe('f32');
    expect(logits.shape).toEqual([prompt.length, cfg.vocab_size]);
    expect(readJson('reference_ppl.json').ppl).toBeGreaterThan(1);
    expect(fs.readFileSync(path.join(FIXTURE, 'README.md'), 'utf8')).toMatch(/float16 copy[\s\S]*scripts\/make-fixture\.js/);
  });

  (haveOriginal ? it : it.skip)('the shared float32 original has the exact checksums, and rounds to this copy bit for bit', () => {
    const original = nt.io.loadSafetensors(ORIGINAL);
    const copy = nt.io.loadSafetensors(FIXTURE);
    for (const [name, c] of Object.entries(checksums)) {
      const t = original[name];
      expect(t.dtype).toBe('f32');
      const { sum, abs } = sums(t);
      // float64 sums of the same f32 values; only the summation order may differ
      expect(Math.abs(sum - c.sum)).toBeLessThanOrEqual(abs * t.size * 2 ** -53);
      const rounded = t.astype('f16');
      expect(Buffer.from(bytesOf(copy[name])).equals(Buffer.from(bytesOf(rounded)))).toBe(true);
    }
    for (const f of ['config.json', 'heldout.txt', 'reference_prompt.txt', 'reference_logits.npy', 'reference_ppl.json', 'training.json', 'checksums.json'])
      expect(fs.readFileSync(path.join(FIXTURE, f)).equals(fs.readFileSync(path.join(ORIGINAL, f)))).toBe(true);
  });
});
