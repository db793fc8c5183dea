// The tokenizer of a GGUF file: its tokenizer.ggml.* vocabulary rewritten as the tokenizer.json
// (+ tokenizer_config) that @huggingface/tokenizers runs (nt.tokenizer.Tokenizer.fromObject),
// with llama.cpp's semantics for each model kind:
//   "llama" (SentencePiece)  BPE whose merges come from the scores, as transformers'
//                            LlamaConverter derives them (a pair merges into the piece it forms;
//                            higher-scored pieces first): llama.cpp's SPM tokenizer merges the
//                            adjacent pair of highest score, which is the same order. Byte
//                            fallback to the <0xXX> tokens (type BYTE), "▁" for spaces with a
//                            prefix space unless tokenizer.ggml.add_space_prefix is false
//   "gpt2" (byte-level BPE)  tokens + tokenizer.ggml.merges, the pre-tokenizer regex of
//                            tokenizer.ggml.pre as llama.cpp's llama-vocab.cpp applies it
//                            ('gpt-2', 'llama-bpe'/'llama3', 'qwen2', 'smollm'); another pre is
//                            NT_UNSUPPORTED naming it
// CONTROL tokens (type 3) are special added tokens, USER_DEFINED (4) plain added tokens; BOS
// is prepended when tokenizer.ggml.add_bos_token says so (default: true for "llama", false
// for "gpt2", as llama.cpp), EOS appended likewise.
import { ntError } from '../errors';
import type { GgufFile } from '../io/gguf';
import { Tokenizer } from '../tokenizer';

const TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

const LLAMA3 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const byteLevel = (useRegex: boolean) => ({ type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: useRegex });
const split = (regex: string) => ({
  type: 'Sequence',
  pretokenizers: [{ type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false }, byteLevel(false)],
});
/** tokenizer.ggml.pre -> the pre-tokenizer llama.cpp applies for it. */
const PRE_TOKENIZERS: Readonly<Record<string, object>> = {
  'gpt-2': byteLevel(true),
  smollm: byteLevel(true), // llama.cpp: the GPT-2 regex
  'llama-bpe': split(LLAMA3),
  llama3: split(LLAMA3),
  'llama-v3': split(LLAMA3),
  qwen2: split(QWEN2),
};

export interface GgufTokenizerParts {
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
}

function fail(code: 'NT_IO' | 'NT_UNSUPPORTED', g: GgufFile, msg: string): never {
  throw ntError(code, `[model.ggufTokenizer] ${g.path}: ${msg}`);
}

function stringArray(g: GgufFile, key: string): string[] {
  const v = g.metadata[key];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) fail('NT_IO', g, `metadata ${key} must be an array of strings`);
  return v as string[];
}

function numberArray(g: GgufFile, key: string, n: number): number[] | undefined {
  const v = g.metadata[key];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length !== n || v.some((x) => typeof x !== 'number'))
    fail('NT_IO', g, `metadata ${key} must be an array of ${n} numbers (one per token)`);
  return v as number[];
}

function optionalId(g: GgufFile, key: string, n: number): number | undefined {
  const v = g.metadata[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= n) fail('NT_IO', g, `metadata ${key} = ${String(v)} is not a token id (0..${n - 1})`);
  return v;
}

function optionalBool(g: GgufFile, key: string, dflt: boolean): boolean {
  const v = g.metadata[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') fail('NT_IO', g, `metadata ${key} must be a bool`);
  return v;
}

function added(id: number, content: string, special: boolean) {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: !special, special };
}

function template(bos: string | undefined, eos: string | undefined, ids: Record<string, number>) {
  const single: object[] = [];
  const pair: object[] = [];
  const special: Record<string, object> = {};
  const tok = (t: string) => ({ SpecialToken: { id: t, type_id: 0 } });
  if (bos !== undefined) {
    single.push(tok(bos));
    pair.push(tok(bos));
    special[bos] = { id: bos, ids: [ids[bos]], tokens: [bos] };
  }
  single.push({ Sequence: { id: 'A', type_id: 0 } });
  pair.push({ Sequence: { id: 'A', type_id: 0 } });
  if (eos !== undefined) {
    single.push(tok(eos));
    pair.push(tok(eos));
    special[eos] = { id: eos, ids: [ids[eos]], tokens: [eos] };
  }
  if (bos !== undefined) pair.push(tok(bos));
  pair.push({ Sequence: { id: 'B', type_id: 1 } });
  if (eos !== undefined) pair.push(tok(eos));
  return { type: 'TemplateProcessing', single, pair, special_tokens: special };
}

/** SentencePiece merges from the scores: every split of a piece into two pieces, best-scored pieces first. */
function spmMerges(tokens: string[], scores: number[], types: number[], vocab: Record<string, number>): [string, string][] {
  const merges: { l: string; r: string; score: number; id: number; li: number; ri: number }[] = [];
  tokens.forEach((t, id) => {
    if (types[id] !== TYPE.NORMAL && types[id] !== TYPE.USER_DEFINED) return;
    const cps = Array.from(t);
    for (let k = 1; k < cps.length; ++k) {
      const l = cps.slice(0, k).join('');
      const r = cps.slice(k).join('');
      const li = vocab[l];
      const ri = vocab[r];
      if (li !== undefined && ri !== undefined) merges.push({ l, r, score: scores[id], id, li, ri });
    }
  });
  merges.sort((a, b) => b.score - a.score || a.id - b.id || a.li - b.li || a.ri - b.ri);
  return merges.map((m) => [m.l, m.r]);
}

/** The tokenizer.json and tokenizer_config objects of a GGUF's vocabulary (see the file comment). */
export function ggufTokenizerParts(g: GgufFile): GgufTokenizerParts {
  const kind = g.metadata['tokenizer.ggml.model'];
  if (kind === undefined) fail('NT_IO', g, 'the file has no vocabulary (tokenizer.ggml.model is missing)');
  if (kind !== 'llama' && kind !== 'gpt2') fail('NT_UNSUPPORTED', g, `tokenizer.ggml.model "${String(kind)}" is not supported (llama, gpt2)`);
  const tokens = stringArray(g, 'tokenizer.ggml.tokens');
  const n = tokens.length;
  const types = numberArray(g, 'tokenizer.ggml.token_type', n) ?? new Array<number>(n).fill(TYPE.NORMAL);
  const vocab: Record<string, number> = Object.create(null);
  tokens.forEach((t, i) => {
    if (!(t in vocab)) vocab[t] = i; // a repeated piece keeps its first id, as llama.cpp's token_to_id
  });
  const addedTokens = tokens
    .map((t, i) => ({ t, i }))
    .filter(({ i }) => types[i] === TYPE.CONTROL || types[i] === TYPE.USER_DEFINED || types[i] === TYPE.UNKNOWN)
    .map(({ t, i }) => added(i, t, types[i] !== TYPE.USER_DEFINED));
  // llama.cpp's defaults for a SentencePiece vocabulary without these keys: <unk> 0, <s> 1, </s> 2
  const spmDefault = (id: number) => (kind === 'llama' && id < n ? id : undefined);
  const bosId = optionalId(g, 'tokenizer.ggml.bos_token_id', n) ?? spmDefault(1);
  const eosId = optionalId(g, 'tokenizer.ggml.eos_token_id', n) ?? spmDefault(2);
  const unkId = optionalId(g, 'tokenizer.ggml.unknown_token_id', n) ?? spmDefault(0);
  const addBos = optionalBool(g, 'tokenizer.ggml.add_bos_token', kind === 'llama');
  const addEos = optionalBool(g, 'tokenizer.ggml.add_eos_token', false);
  if (addBos && bosId === undefined) fail('NT_IO', g, 'tokenizer.ggml.add_bos_token is true but there is no bos_token_id');
  if (addEos && eosId === undefined) fail('NT_IO', g, 'tokenizer.ggml.add_eos_token is true but there is no eos_token_id');
  const bos = bosId === undefined ? undefined : tokens[bosId];
  const eos = eosId === undefined ? undefined : tokens[eosId];
  const post = template(addBos ? bos : undefined, addEos ? eos : undefined, vocab);

  let json: Record<string, unknown>;
  if (kind === 'llama') {
    const scores = numberArray(g, 'tokenizer.ggml.scores', n);
    if (!scores) fail('NT_IO', g, 'a "llama" vocabulary needs tokenizer.ggml.scores');
    const prefix = optionalBool(g, 'tokenizer.ggml.add_space_prefix', true);
    const replace = { type: 'Replace', pattern: { String: ' ' }, content: '▁' };
    json = {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: addedTokens,
      normalizer: prefix ? { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, replace] } : replace,
      pre_tokenizer: null,
      post_processor: post,
      decoder: {
        type: 'Sequence',
        decoders: [
          { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
          { type: 'ByteFallback' },
          { type: 'Fuse' },
          ...(prefix ? [{ type: 'Strip', content: ' ', start: 1, stop: 0 }] : []),
        ],
      },
      model: {
        type: 'BPE',
        dropout: null,
        unk_token: unkId === undefined ? null : tokens[unkId],
        continuing_subword_prefix: null,
        end_of_word_suffix: null,
        fuse_unk: true,
        byte_fallback: types.some((t) => t === TYPE.BYTE),
        ignore_merges: false,
        vocab,
        merges: spmMerges(tokens, scores, types, vocab),
      },
    };
  } else {
    const pre = g.metadata['tokenizer.ggml.pre'] ?? 'gpt-2';
    const preTokenizer = typeof pre === 'string' ? PRE_TOKENIZERS[pre] : undefined;
    if (!preTokenizer) fail('NT_UNSUPPORTED', g, `tokenizer.ggml.pre "${String(pre)}" is not supported (${Object.keys(PRE_TOKENIZERS).join(', ')})`);
    const merges = g.metadata['tokenizer.ggml.merges'] === undefined ? [] : stringArray(g, 'tokenizer.ggml.merges');
    json = {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: addedTokens,
      // Qwen2's tokenizer.json composes (NFC) before splitting; llama.cpp does not, so its ids
      // differ on decomposed text: these follow the model's own tokenizer
      normalizer: pre === 'qwen2' ? { type: 'NFC' } : null,
      pre_tokenizer: preTokenizer,
      post_processor: post,
      decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: {
        type: 'BPE',
        dropout: null,
        unk_token: null,
        continuing_subword_prefix: null,
        end_of_word_suffix: null,
        fuse_unk: false,
        byte_fallback: false,
        // llama.cpp's LLAMA3 pre-tokenizer takes a whole word that is a token without merging
        ignore_merges: pre === 'llama-bpe' || pre === 'llama3' || pre === 'llama-v3',
        vocab,
        merges: merges.map((m) => {
          const at = m.indexOf(' ', 1);
          if (at < 0) fail('NT_IO', g, `tokenizer.ggml.merges entry ${JSON.stringify(m)} is not "left right"`);
          return [m.slice(0, at), m.slice(at + 1)];
        }),
      },
    };
  }
  const config: Record<string, unknown> = { add_bos_token: addBos, add_eos_token: addEos };
  if (bos !== undefined) config.bos_token = bos;
  if (eos !== undefined) config.eos_token = eos;
  if (unkId !== undefined) config.unk_token = tokens[unkId];
  const chat = g.metadata['tokenizer.chat_template'];
  if (typeof chat === 'string') config.chat_template = chat;
  return { tokenizerJson: json, tokenizerConfig: config };
}

/** nt.tokenizer.Tokenizer from a GGUF file's vocabulary (null when the file has none). */
export function ggufTokenizer(g: GgufFile): Tokenizer | null {
  if (g.metadata['tokenizer.ggml.model'] === undefined) return null;
  const { tokenizerJson, tokenizerConfig } = ggufTokenizerParts(g);
  return Tokenizer.fromObject(tokenizerJson, { tokenizerConfig, name: g.path });
}
