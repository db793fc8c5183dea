// The BPE fixture (fixtures/tinyllama-fortunes-bpe: byte-level BPE vocabulary of 4096, tied
// embeddings, rope_theta 500000 in transformers 5's rope_parameters, weights stored f16)
// against Hugging Face transformers run on the committed files (f16 weights loaded as f32):
// logits of reference_ids.json, the perplexity of heldout_ids.json and a greedy chat reply.
// Token ids come from the fixture's files, so this test does not need a tokenizer; the ids are
// checked against the texts by decoding them with tokenizer.json's vocabulary (byte-level BPE).
import * as fs from 'fs';
import * as path from 'path';
import * as nt from '../../lib';
import { loadNpy } from '../../lib/io';
import { LlamaModel, load } from '../../lib/model';
import { PACKAGE_ROOT } from '../../lib/native/loader';
import { maxAbsDiff, values } from './helpers';

const DIR = path.join(PACKAGE_ROOT, 'fixtures', 'tinyllama-fortunes-bpe');
const json = <T>(name: string): T => JSON.parse(fs.readFileSync(path.join(DIR, name), 'utf8')) as T;

interface RefPpl {
  tokens: number;
  window: number;
  nll_per_token: number;
  ppl: number;
}
interface RefChat {
  prompt_ids: number[];
  max_new_tokens: number;
  greedy_ids: number[];
  min_top2_margin: number;
}

/** Tolerances against transformers (float32 on both sides, the same f16-exact weights). */
const TOL = {
  /** Logits differ only by summation order: absolute (measured 1.2e-5 f32, 6.7e-6 f16 path; max |logit| 14.4). */
  logits: 1e-4,
  /** Perplexity, relative: the bound (measured 1.6e-8 on both paths). */
  pplRel: 1e-4,
  /** Smallest top-two logit margin along the greedy reply: > 2 · logits cannot flip; 10x for room. */
  greedyMargin: 1e-3,
} as const;

/** GPT-2's byte <-> printable-character table that byte-level BPE vocabularies are written in. */
function byteDecoder(): Map<string, number> {
  const keep = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  const m = new Map<string, number>();
  let n = 0;
  for (let b = 0; b < 256; ++b) m.set(String.fromCodePoint(keep(b) ? b : 256 + n++), b);
  return m;
}

/** Ids -> UTF-8 text through tokenizer.json's vocabulary; special tokens are returned as their names. */
function decode(ids: readonly number[]): string {
  const tj = json<{ model: { vocab: Record<string, number> }; added_tokens: { id: number; content: string }[] }>('tokenizer.json');
  const byId = new Map<number, string>();
  for (const [tok, id] of Object.entries(tj.model.vocab)) byId.set(id, tok);
  const special = new Map(tj.added_tokens.map((t) => [t.id, t.content]));
  const bd = byteDecoder();
  let out = '';
  let bytes: number[] = [];
  const flush = () => {
    out += Buffer.from(bytes).toString('utf8');
    bytes = [];
  };
  for (const id of ids) {
    if (special.has(id)) {
      flush();
      out += special.get(id)!;
      continue;
    }
    const tok = byId.get(id);
    if (tok === undefined) throw new Error(`id ${id} not in the vocabulary`);
    for (const ch of tok) bytes.push(bd.get(ch)!);
  }
  flush();
  return out;
}

describe('fixture files are consistent', () => {
  test('config, generation config and tokenizer agree on the Llama-3-style special tokens', () => {
    const cfg = json<Record<string, unknown>>('config.json');
    const gen = json<Record<string, unknown>>('generation_config.json');
    const tj = json<{ added_tokens: { id: number; content: string; special: boolean }[]; model: { vocab: Record<string, number> } }>('tokenizer.json');
    const ids = Object.fromEntries(tj.added_tokens.map((t) => [t.content, t.id]));
    expect(ids).toEqual({ '<|begin_of_text|>': 4091, '<|end_of_text|>': 4092, '<|start_header_id|>': 4093, '<|end_header_id|>': 4094, '<|eot_id|>': 4095 });
    expect(Object.keys(tj.model.vocab)).toHaveLength(4091);
    expect(cfg).toMatchObject({ bos_token_id: 4091, eos_token_id: [4092, 4095], vocab_size: 4096, tie_word_embeddings: true });
    expect(gen).toMatchObject({ bos_token_id: 4091, eos_token_id: [4092, 4095] });
    const tc = json<Record<string, unknown>>('tokenizer_config.json');
    expect(tc).toMatchObject({ bos_token: '<|begin_of_text|>', eos_token: '<|eot_id|>' });
    // transformers 5 writes the chat template beside tokenizer_config.json
    expect(fs.readFileSync(path.join(DIR, 'chat_template.jinja'), 'utf8')).toContain("'<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'");
  });

  test('reference_ids.json is BOS + the tokens of reference_prompt.txt', () => {
    const ids = json<number[]>('reference_ids.json');
    expect(ids[0]).toBe(4091);
    expect(decode(ids)).toBe('<|begin_of_text|>' + fs.readFileSync(path.join(DIR, 'reference_prompt.txt'), 'utf8'));
  });

  test('heldout_ids.json is BOS + the tokens of the start of heldout.txt', () => {
    const ids = json<number[]>('heldout_ids.json');
    const r = json<RefPpl>('reference_ppl.json');
    expect(ids).toHaveLength(r.tokens + 1);
    expect(ids[0]).toBe(4091);
    const text = decode(ids.slice(1));
    expect(text.length).toBeGreaterThan(8000);
    expect(fs.readFileSync(path.join(DIR, 'heldout.txt'), 'utf8').startsWith(text)).toBe(true);
  });

  test('the chat prompt is the Llama 3 template around the user message', () => {
    const c = json<RefChat & { messages: { content: string }[] }>('reference_chat.json');
    expect(decode(c.prompt_ids)).toBe(
      `<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n${c.messages[0].content}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n`,
    );
  });
});

describe.each([
  ['f32', { dtype: 'f32' as const }],
  ["'auto' (f16 weights as stored)", undefined],
])('fixtures/tinyllama-fortunes-bpe loaded %s vs transformers', (_name, opts) => {
  const base = nt.memory();
  let model: LlamaModel;
  beforeAll(() => {
    model = load(DIR, opts);
  });
  afterAll(() => {
    model.dispose();
    expect(nt.memory()).toEqual(base);
  });

  test('config: 4 layers, 8 heads / 4 kv heads, head_dim 32, vocab 4096, tied, rope_theta 500000, eos [4092, 4095]', () => {
    expect(model.config).toMatchObject({
      numLayers: 4,
      numHeads: 8,
      numKvHeads: 4,
      headDim: 32,
      vocabSize: 4096,
      hiddenSize: 256,
      intermediateSize: 512,
      tieWordEmbeddings: true,
      ropeTheta: 500000,
      rmsNormEps: 1e-5,
      eosTokenIds: [4092, 4095],
    });
  });

  test(`logits of reference_ids.json equal reference_logits.npy within ${TOL.logits}`, () => {
    const ids = json<number[]>('reference_ids.json');
    const ref = loadNpy(path.join(DIR, 'reference_logits.npy'));
    expect(ref.shape).toEqual([ids.length, 4096]);
    const logits = model.forward(ids);
    expect(logits.shape).toEqual(ref.shape);
    expect(maxAbsDiff(values(logits), values(ref))).toBeLessThanOrEqual(TOL.logits);
    logits.dispose();
    ref.dispose();
  });

  test(`perplexity of heldout_ids.json equals reference_ppl.json within ${TOL.pplRel} relative`, () => {
    const r = json<RefPpl>('reference_ppl.json');
    const p = model.perplexity(json<number[]>('heldout_ids.json'), { window: r.window });
    expect(p.tokens).toBe(r.tokens);
    expect(Math.abs(p.ppl / r.ppl - 1)).toBeLessThanOrEqual(TOL.pplRel);
    // a trained model: far below the uniform 4096
    expect(r.ppl).toBeLessThan(200);
  });

  test('greedy reply to the chat prompt equals transformers generate() and stops at <|eot_id|>', () => {
    const c = json<RefChat>('reference_chat.json');
    // no near-tie along the reference reply that float noise could flip
    expect(c.min_top2_margin).toBeGreaterThan(TOL.greedyMargin);
    expect(c.greedy_ids.length).toBeLessThan(c.max_new_tokens);
    expect(c.greedy_ids[c.greedy_ids.length - 1]).toBe(4095);
    const got = model.generate(c.prompt_ids, { maxNewTokens: c.max_new_tokens });
    expect(got).toEqual(c.greedy_ids);
  });

  test('an id past the 4096-token vocabulary is NT_VALUE naming the range', () => {
    expect(() => model.forward([4091, 4096])).toThrow(expect.objectContaining({ code: 'NT_VALUE', message: expect.stringContaining('0..4095') }));
    expect(() => model.perplexity([4091, 316, -1])).toThrow(expect.objectContaining({ code: 'NT_VALUE' }));
  });
});
