// config.json -> ModelConfig: the transformers 4 and 5 spellings of every key, the defaults of
// each model type's transformers 5.18 config class, every NT_IO / NT_UNSUPPORTED path, and
// the rope frequency rules (dynamic, yarn) against a float64 re-derivation of
// transformers' modeling_rope_utils.
import { ModelConfig, parseConfig, ropeAttentionFactor, ropeFrequencies } from '../../lib/model/config';
import { ropeInverseFrequencies } from '../../lib/ops';
import { errorOf } from './helpers';

type Raw = Record<string, unknown>;
/** Tolerances: f32 frequencies vs a float64 formula. */
const TOL = { freqRelative: 4e-7 };

const BASE: Raw = {
  model_type: 'llama',
  hidden_size: 64,
  intermediate_size: 96,
  num_hidden_layers: 3,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  vocab_size: 50,
  max_position_embeddings: 64,
};

const parse = (over: Raw = {}, base: Raw = BASE): ModelConfig => parseConfig('t', 'config.json', withKeys(base, over));
/** base with over's keys set (undefined removes a key). */
function withKeys(base: Raw, over: Raw): Raw {
  const c: Raw = { ...base, ...over };
  for (const [k, v] of Object.entries(over)) if (v === undefined) delete c[k];
  return c;
}
function expectError(over: Raw, code: string, message: RegExp, base: Raw = BASE): void {
  const e = errorOf(() => parse(over, base));
  expect(e.code).toBe(code);
  expect(e.message).toMatch(message);
  expect(e.message).toMatch(/^\[t\] config\.json: /);
}

describe('rope keys: transformers 4 and 5 spellings parse to the same config', () => {
  const cases: [string, Raw, ModelConfig['ropeScaling'], number][] = [
    ['default', { rope_type: 'default', rope_theta: 500000 }, null, 500000],
    ['linear', { rope_type: 'linear', rope_theta: 10000, factor: 4 }, { type: 'linear', factor: 4 }, 10000],
    ['dynamic', { rope_type: 'dynamic', rope_theta: 10000, factor: 2 }, { type: 'dynamic', factor: 2, originalMaxPositionEmbeddings: 64 }, 10000],
    [
      'llama3',
      { rope_type: 'llama3', rope_theta: 500000, factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 16 },
      { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 16 },
      500000,
    ],
    [
      'yarn',
      { rope_type: 'yarn', rope_theta: 10000, factor: 4, original_max_position_embeddings: 16, beta_fast: 16, beta_slow: 2, mscale: 0.7, mscale_all_dim: 0.5, truncate: false },
      { type: 'yarn', factor: 4, originalMaxPositionEmbeddings: 16, betaFast: 16, betaSlow: 2, mscale: 0.7, mscaleAllDim: 0.5, truncate: false },
      10000,
    ],
  ];
  test.each(cases)('%s', (_type, v5, scaling, theta) => {
    const { rope_theta, ...rest } = v5;
    const v4scaling = rest.rope_type === 'default' ? null : { ...rest, type: rest.rope_type };
    const spellings: Raw[] = [
      { rope_parameters: v5 }, // transformers 5
      { rope_parameters: { full_attention: v5, sliding_attention: v5 } }, // transformers 5, per layer type
      { rope_theta, rope_scaling: v4scaling }, // transformers 4 (both type keys)
      { rope_theta, rope_scaling: rest.rope_type === 'default' ? null : { ...rest, rope_type: undefined, type: rest.rope_type } }, // older: 'type' only
      { rope_theta, rope_parameters: v5, rope_scaling: v4scaling }, // both, agreeing
    ];
    for (const over of spellings) {
      const c = parse(over);
      expect(c.ropeTheta).toBe(theta);
      expect(c.ropeScaling).toEqual(scaling);
    }
  });

  test('no rope keys at all: theta 10000, no scaling; an empty rope_parameters too', () => {
    for (const over of [{}, { rope_parameters: {} }, { rope_parameters: null, rope_scaling: null }]) {
      const c = parse(over);
      expect([c.ropeTheta, c.ropeScaling]).toEqual([10000, null]);
    }
  });

  test("llama3 and yarn default original_max_position_embeddings to max_position_embeddings; a top-level one (Phi-3's) takes priority", () => {
    expect(parse({ rope_parameters: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4 } }).ropeScaling).toMatchObject({ originalMaxPositionEmbeddings: 64 });
    expect(parse({ rope_parameters: { rope_type: 'yarn', factor: 2 } }).ropeScaling).toEqual({ type: 'yarn', factor: 2, originalMaxPositionEmbeddings: 64, betaFast: 32, betaSlow: 1 });
    expect(parse({ original_max_position_embeddings: 32, rope_parameters: { rope_type: 'yarn', factor: 2 } }).ropeScaling).toMatchObject({ originalMaxPositionEmbeddings: 32 });
    // yarn without factor: max_position_embeddings / original (transformers' DeepSeek-V3 rule)
    expect(parse({ rope_parameters: { rope_type: 'yarn', original_max_position_embeddings: 16 } }).ropeScaling).toMatchObject({ factor: 4 });
  });

  test('dynamic stretches the context it accepts by factor (max_position_embeddings stays the unscaled length)', () => {
    const c = parse({ rope_scaling: { type: 'dynamic', factor: 2.5 } });
    expect(c.maxPositionEmbeddings).toBe(160);
    expect(c.ropeScaling).toEqual({ type: 'dynamic', factor: 2.5, originalMaxPositionEmbeddings: 64 });
  });

  test('conflicting spellings are NT_IO naming both keys', () => {
    expectError({ rope_theta: 10000, rope_parameters: { rope_type: 'default', rope_theta: 500000 } }, 'NT_IO', /rope_parameters\.rope_theta = 500000 conflicts with rope_theta = 10000/);
    expectError({ rope_parameters: { rope_type: 'linear', factor: 2 }, rope_scaling: { type: 'linear', factor: 4 } }, 'NT_IO', /rope_parameters\.factor = 2 conflicts with rope_scaling\.factor = 4/);
    expectError({ rope_parameters: { rope_type: 'linear', factor: 2 }, rope_scaling: { type: 'dynamic', factor: 2 } }, 'NT_IO', /rope_parameters\.rope_type = "linear" conflicts with rope_scaling\.type = "dynamic"/);
    expectError({ rope_scaling: { type: 'linear', rope_type: 'dynamic', factor: 2 } }, 'NT_IO', /rope_scaling\.type = "linear" conflicts with rope_scaling\.rope_type = "dynamic"/);
    expectError({ partial_rotary_factor: 1, rope_parameters: { partial_rotary_factor: 0.5 } }, 'NT_IO', /rope_parameters\.partial_rotary_factor = 0\.5 conflicts with partial_rotary_factor = 1/);
    expectError(
      { original_max_position_embeddings: 32, rope_parameters: { rope_type: 'yarn', factor: 2, original_max_position_embeddings: 16 } },
      'NT_IO',
      /original_max_position_embeddings = 32 conflicts with rope_parameters\.original_max_position_embeddings = 16/,
    );
  });

  test('rope features that are not implemented are NT_UNSUPPORTED naming the key', () => {
    expectError({ rope_scaling: { type: 'longrope', long_factor: [1], short_factor: [1] } }, 'NT_UNSUPPORTED', /rope_scaling\.type "longrope" is not supported/);
    expectError({ rope_scaling: { type: 'su', factor: 2 } }, 'NT_UNSUPPORTED', /rope_scaling\.type "su" is not supported/);
    expectError({ rope_parameters: { rope_type: 'proportional' } }, 'NT_UNSUPPORTED', /rope_parameters\.rope_type "proportional" is not supported \(supported: default, linear, dynamic, llama3, yarn\)/);
    expectError({ rope_parameters: { rope_type: 7 } }, 'NT_UNSUPPORTED', /rope_parameters\.rope_type 7 is not supported/);
    expectError({ partial_rotary_factor: 0.5 }, 'NT_UNSUPPORTED', /partial_rotary_factor = 0\.5 is not supported/);
    expectError({ rope_parameters: { rope_type: 'default', partial_rotary_factor: 0.25 } }, 'NT_UNSUPPORTED', /rope_parameters\.partial_rotary_factor = 0\.25 is not supported/);
    expectError({ rope_scaling: { type: 'linear', factor: 2, low_freq_factor: 1 } }, 'NT_UNSUPPORTED', /rope_scaling\.low_freq_factor is not supported with rope type 'linear'/);
    expectError({ rope_parameters: { rope_type: 'default', factor: 2 } }, 'NT_UNSUPPORTED', /rope_parameters\.factor is not supported with rope type 'default'/);
    expectError(
      { rope_parameters: { full_attention: { rope_type: 'default', rope_theta: 1e6 }, sliding_attention: { rope_type: 'default', rope_theta: 1e4 } } },
      'NT_UNSUPPORTED',
      /rope_parameters\.sliding_attention differs from rope_parameters\.full_attention/,
    );
    expectError({ rope_parameters: { full_attention: { rope_type: 'default' }, sliding_attention: null } }, 'NT_UNSUPPORTED', /rope_parameters\.sliding_attention is null/);
  });

  test('bad rope values are NT_IO naming the key', () => {
    expectError({ rope_parameters: 'linear' }, 'NT_IO', /rope_parameters must be an object or null/);
    expectError({ rope_scaling: [1] }, 'NT_IO', /rope_scaling must be an object or null/);
    expectError({ rope_theta: -1 }, 'NT_IO', /rope_theta must be a finite number > 0, got -1/);
    expectError({ rope_parameters: { rope_type: 'default', rope_theta: 0 } }, 'NT_IO', /rope_parameters\.rope_theta must be a finite number > 0, got 0/);
    expectError({ rope_scaling: { type: 'linear' } }, 'NT_IO', /factor must be a finite number > 0, got undefined/);
    expectError({ rope_scaling: { type: 'dynamic', factor: -2 } }, 'NT_IO', /rope_scaling\.factor must be a finite number > 0, got -2/);
    expectError(
      { rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 4, high_freq_factor: 1, original_max_position_embeddings: 16 } },
      'NT_IO',
      /rope_scaling\.high_freq_factor \(1\) must exceed rope_scaling\.low_freq_factor \(4\)/,
    );
    expectError({ rope_parameters: { rope_type: 'yarn', factor: 2, mscale: -1 } }, 'NT_IO', /rope_parameters\.mscale must be a finite number >= 0, got -1/);
    expectError({ rope_parameters: { rope_type: 'yarn', factor: 2, beta_fast: 0 } }, 'NT_IO', /rope_parameters\.beta_fast must be a finite number > 0, got 0/);
    expectError({ rope_parameters: { rope_type: 'yarn', factor: 2, truncate: 'no' } }, 'NT_IO', /rope_parameters\.truncate must be a boolean, got "no"/);
    expectError({ original_max_position_embeddings: 0, rope_parameters: { rope_type: 'yarn', factor: 2 } }, 'NT_IO', /original_max_position_embeddings must be a positive integer, got 0/);
  });
});

describe('model types and their keys', () => {
  test('defaults of each config class where config.json omits a key', () => {
    const bare = withKeys(BASE, { max_position_embeddings: undefined });
    const got = (t: string) => {
      const c = parse({ model_type: t }, bare);
      return [c.maxPositionEmbeddings, c.rmsNormEps, c.headDim];
    };
    expect(got('llama')).toEqual([2048, 1e-6, 16]);
    expect(got('mistral')).toEqual([131072, 1e-6, 16]);
    expect(got('qwen2')).toEqual([32768, 1e-6, 16]);
    expect(got('qwen3')).toEqual([32768, 1e-6, 128]); // Qwen3Config.head_dim = 128, not hidden / heads
    expect(got('phi3')).toEqual([4096, 1e-5, 16]);
    expect(parse({ model_type: 'qwen3', head_dim: 32 }).headDim).toBe(32);
  });

  test('biases: llama attention_bias (q, k, v, o) and mlp_bias; qwen2 always q/k/v; qwen3 attention_bias; mistral and phi3 none', () => {
    const b = (over: Raw) => {
      const c = parse(over);
      return [c.attentionBias, c.mlpBias];
    };
    expect(b({})).toEqual([false, false]);
    expect(b({ attention_bias: true, mlp_bias: true })).toEqual([true, true]);
    expect(b({ model_type: 'qwen2' })).toEqual([true, false]);
    expect(b({ model_type: 'qwen3', attention_bias: true, mlp_bias: true })).toEqual([true, false]);
    // these classes build no biases, whatever the keys say (transformers ignores them too)
    expect(b({ model_type: 'mistral', attention_bias: true })).toEqual([false, false]);
    expect(b({ model_type: 'phi3', mlp_bias: true })).toEqual([false, false]);
    expectError({ attention_bias: 'yes' }, 'NT_IO', /attention_bias must be a boolean, got "yes"/);
  });

  test('q/k norm only for qwen3; qk_layernorm / use_qk_norm elsewhere are NT_UNSUPPORTED', () => {
    expect(parse({ model_type: 'qwen3' }).qkNorm).toBe(true);
    expect(parse({}).qkNorm).toBe(false);
    expectError({ qk_layernorm: true }, 'NT_UNSUPPORTED', /qk_layernorm = true is not supported/);
    expectError({ use_qk_norm: true }, 'NT_UNSUPPORTED', /use_qk_norm = true is not supported/);
    expect(parse({ qk_layernorm: false }).qkNorm).toBe(false);
  });

  test('sliding windows per layer, as each model class reads them', () => {
    const w = (over: Raw) => parse(over).slidingWindows;
    expect(w({ sliding_window: 8 })).toEqual([null, null, null]); // LlamaAttention has no window
    expect(w({ model_type: 'mistral', sliding_window: 8 })).toEqual([8, 8, 8]);
    expect(w({ model_type: 'mistral' })).toEqual([4096, 4096, 4096]); // MistralConfig default
    expect(w({ model_type: 'mistral', sliding_window: null })).toEqual([null, null, null]);
    expect(w({ model_type: 'mistral', sliding_window: 8, layer_types: ['full_attention', 'full_attention', 'full_attention'] })).toEqual([8, 8, 8]); // ignored, as transformers does
    expect(w({ model_type: 'phi3' })).toEqual([null, null, null]);
    expect(w({ model_type: 'phi3', sliding_window: 8 })).toEqual([8, 8, 8]);
    for (const t of ['qwen2', 'qwen3']) {
      expect(w({ model_type: t, sliding_window: 8 })).toEqual([null, null, null]); // use_sliding_window defaults to false
      expect(w({ model_type: t, use_sliding_window: true, sliding_window: 8, max_window_layers: 1 })).toEqual([null, 8, 8]);
      expect(w({ model_type: t, use_sliding_window: true, sliding_window: 8 })).toEqual([null, null, null]); // max_window_layers 28
      expect(w({ model_type: t, use_sliding_window: true, max_window_layers: 2 })).toEqual([null, null, 4096]);
      const types = ['sliding_attention', 'full_attention', 'sliding_attention'];
      expect(w({ model_type: t, use_sliding_window: true, sliding_window: 8, max_window_layers: 0, layer_types: types })).toEqual([8, null, 8]);
      expect(w({ model_type: t, use_sliding_window: false, sliding_window: 8, layer_types: types })).toEqual([null, null, null]);
    }
    expectError({ model_type: 'mistral', sliding_window: 0 }, 'NT_IO', /sliding_window must be a positive integer or null, got 0/);
    expectError({ model_type: 'qwen2', use_sliding_window: 'yes' }, 'NT_IO', /use_sliding_window must be a boolean/);
    expectError({ model_type: 'qwen2', max_window_layers: -1 }, 'NT_IO', /max_window_layers must be an integer >= 0, got -1/);
    expectError({ model_type: 'qwen2', layer_types: ['full_attention'] }, 'NT_IO', /layer_types must be an array of 3 layer types/);
    expectError({ model_type: 'qwen3', layer_types: ['full_attention', 'chunked_attention', 'full_attention'] }, 'NT_UNSUPPORTED', /layer_types\[1\] "chunked_attention" is not supported/);
  });

  test('dtype and torch_dtype', () => {
    expect(parse({}).dtype).toBeNull();
    expect(parse({ dtype: 'bfloat16' }).dtype).toBe('bf16');
    expect(parse({ torch_dtype: 'float16' }).dtype).toBe('f16');
    expect(parse({ torch_dtype: 'torch.float32', dtype: 'float32' }).dtype).toBe('f32');
    expect(parse({ dtype: 'float64' }).dtype).toBe('f64');
    expectError({ dtype: 'bfloat16', torch_dtype: 'float32' }, 'NT_IO', /dtype "bfloat16" conflicts with torch_dtype "float32"/);
    expectError({ torch_dtype: 'float8_e4m3fn' }, 'NT_UNSUPPORTED', /torch_dtype "float8_e4m3fn" is not supported/);
    expectError({ dtype: 3 }, 'NT_UNSUPPORTED', /dtype 3 is not supported/);
  });

  test('keys that change the math and are not implemented are NT_UNSUPPORTED naming the key', () => {
    const cases: [Raw, RegExp][] = [
      [{ model_type: 'gemma2' }, /model_type "gemma2" is not a LLaMA-family model; supported: llama, mistral, qwen2, qwen3, phi3/],
      [{ model_type: undefined }, /model_type undefined is not a LLaMA-family model/],
      [{ model_type: 'constructor' }, /model_type "constructor" is not a LLaMA-family model/],
      [{ hidden_act: 'gelu_pytorch_tanh' }, /hidden_act "gelu_pytorch_tanh" is not supported \(only 'silu'\)/],
      [{ attn_logit_softcapping: 50 }, /attn_logit_softcapping = 50 is not supported/],
      [{ final_logit_softcapping: 30 }, /final_logit_softcapping = 30 is not supported/],
      [{ embedding_multiplier: 12 }, /embedding_multiplier = 12 is not supported/],
      [{ logits_scaling: 8 }, /logits_scaling = 8 is not supported/],
      [{ residual_multiplier: 0.2 }, /residual_multiplier = 0.2 is not supported/],
      [{ attention_multiplier: 0.1 }, /attention_multiplier = 0.1 is not supported/],
      [{ no_rope_layers: [1, 0, 1] }, /no_rope_layers = \[1,0,1\] is not supported/],
    ];
    for (const [over, re] of cases) expectError(over, 'NT_UNSUPPORTED', re);
    // the same keys at their neutral values change nothing
    const c = parse({ attn_logit_softcapping: null, final_logit_softcapping: null, embedding_multiplier: 1, no_rope_layers: [1, 1, 1], qk_layernorm: false });
    expect(c).toEqual(parse());
  });

  test('other values: eos ids, tied embeddings, head_dim', () => {
    expect(parse({ eos_token_id: [2, 7] }).eosTokenIds).toEqual([2, 7]);
    expect(parse({ tie_word_embeddings: true }).tieWordEmbeddings).toBe(true);
    expectError({ tie_word_embeddings: 'x' }, 'NT_IO', /tie_word_embeddings must be a boolean, got "x"/);
    expectError({ head_dim: 3 }, 'NT_IO', /head_dim must be a positive integer|head_dim must be even/);
    expectError({ hidden_size: 66, head_dim: undefined }, 'NT_IO', /hidden_size \(66\) is not a multiple of num_attention_heads \(4\) and head_dim is not given/);
    expect(errorOf(() => parseConfig('t', 'config.json', [1])).message).toMatch(/is not a JSON object/);
    // per-layer lists are built from the config alone: an absurd layer count is refused first
    expectError({ num_hidden_layers: 1e308 }, 'NT_IO', /num_hidden_layers must be at most 65536, got 1e\+308/);
    expect(parse({ num_hidden_layers: 65536 }).slidingWindows.length).toBe(65536);
  });
});

/** transformers' default inverse frequencies in float64 (before its f32 rounding). */
const base64 = (theta: number, d: number) => Array.from({ length: d / 2 }, (_, i) => 1 / Math.pow(theta, (2 * i) / d));

function expectClose(got: Float32Array, want: number[]): void {
  expect(got.length).toBe(want.length);
  got.forEach((g, i) => expect(Math.abs(g - want[i])).toBeLessThanOrEqual(TOL.freqRelative * want[i]));
}

describe('rope frequencies and the attention factor', () => {
  const d = 32;
  const cfgOf = (rope: Raw) => parse({ hidden_size: 128, head_dim: d, rope_parameters: rope });

  test("dynamic: the base frequencies up to the original length, then theta·(f·L/L0 − (f − 1))^(d/(d−2))", () => {
    const cfg = cfgOf({ rope_type: 'dynamic', rope_theta: 10000, factor: 2 });
    const b = ropeInverseFrequencies(d, 10000);
    expect(ropeFrequencies(cfg, b)).toBe(b);
    expect(ropeFrequencies(cfg, b, 64)).toBe(b);
    for (const L of [65, 100, 128]) {
      const theta = 10000 * Math.pow((2 * L) / 64 - 1, d / (d - 2));
      expectClose(ropeFrequencies(cfg, b, L), base64(theta, d));
    }
    // longer calls stretch more: every frequency but the first (always 1) falls
    const a = ropeFrequencies(cfg, b, 80);
    const c = ropeFrequencies(cfg, b, 120);
    for (let i = 1; i < d / 2; ++i) expect(c[i]).toBeLessThan(a[i]);
    expect(ropeAttentionFactor(cfg)).toBe(1);
  });

  /** yarn as in the paper / transformers, float64. */
  function yarn64(theta: number, factor: number, L0: number, betaFast: number, betaSlow: number, truncate: boolean): number[] {
    const dimOf = (rot: number) => (d * Math.log(L0 / (rot * 2 * Math.PI))) / (2 * Math.log(theta));
    let low = dimOf(betaFast);
    let high = dimOf(betaSlow);
    if (truncate) [low, high] = [Math.floor(low), Math.ceil(high)];
    low = Math.max(low, 0);
    high = Math.min(high, d - 1);
    return base64(theta, d).map((f, i) => {
      const ramp = Math.min(Math.max((i - low) / (high - low), 0), 1);
      return (f / factor) * ramp + f * (1 - ramp);
    });
  }

  test.each([
    [{ rope_type: 'yarn', rope_theta: 10000, factor: 4, original_max_position_embeddings: 16 }, 10000, 4, 16, 32, 1, true],
    [{ rope_type: 'yarn', rope_theta: 500000, factor: 8, original_max_position_embeddings: 64, beta_fast: 16, beta_slow: 2, truncate: false }, 500000, 8, 64, 16, 2, false],
  ])('yarn %#: extrapolated high frequencies, interpolated low ones, a linear ramp between', (rope, theta, factor, L0, bf, bs, truncate) => {
    const cfg = cfgOf(rope);
    const got = ropeFrequencies(cfg, ropeInverseFrequencies(d, theta));
    expectClose(got, yarn64(theta, factor, L0, bf, bs, truncate));
    const b = base64(theta, d);
    expect(Math.abs(got[0] - b[0])).toBe(0); // the fastest rotation is kept
    expect(Math.abs(got[d / 2 - 1] - b[d / 2 - 1] / factor)).toBeLessThanOrEqual(TOL.freqRelative * b[d / 2 - 1]); // the slowest interpolated
  });

  test('yarn attention factor: attention_factor, else mscale ratio, else 0.1·ln(factor) + 1 (1 for factor <= 1)', () => {
    const f = (rope: Raw) => ropeAttentionFactor(cfgOf({ rope_type: 'yarn', rope_theta: 10000, original_max_position_embeddings: 16, ...rope }));
    expect(f({ factor: 4 })).toBeCloseTo(0.1 * Math.log(4) + 1, 15);
    expect(f({ factor: 4, attention_factor: 0.8 })).toBe(0.8);
    expect(f({ factor: 4, mscale: 0.707, mscale_all_dim: 0.5 })).toBeCloseTo((0.1 * 0.707 * Math.log(4) + 1) / (0.1 * 0.5 * Math.log(4) + 1), 15);
    expect(f({ factor: 4, mscale: 0.707, mscale_all_dim: 0 })).toBeCloseTo(0.1 * Math.log(4) + 1, 15); // transformers needs both non-zero
    expect(f({ factor: 1 })).toBe(1);
    expect(ropeAttentionFactor(cfgOf({ rope_type: 'linear', factor: 4 }))).toBe(1);
    expect(ropeAttentionFactor(parse())).toBe(1);
  });
});
