// Tokenizer: text <-> token ids for a model, from a Hugging Face tokenizer.json (+ its
// tokenizer_config.json) through @huggingface/tokenizers, or the 256-token byte vocabulary
// of the committed fixture model. The library does the BPE / normalizer / pre-tokenizer work;
// this file checks what it is given (a malformed file is a coded NT_IO naming the file, not a
// TypeError from deep inside the library), resolves BOS/EOS and the chat template, and
// checks ids on the way back.
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import * as fs from 'fs';
import * as path from 'path';
import { ntError } from '../errors';
import { encodeBytes, decodeBytes } from './bytes';
import { ChatMessage, ChatTemplate, ChatTemplateOptions } from './chat';
import { readJsonObject, readText } from './files';
import { cutLongWords } from './long-words';

export interface EncodeOptions {
  /** Add the special tokens of the post-processor (BOS for Llama 2/3; default true, as transformers). */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Leave out special tokens (BOS, EOS, chat markers); default false. */
  skipSpecialTokens?: boolean;
}

/** Everything a tokenizer is built from; fromFolder reads these files, fromObject takes them given. */
export interface TokenizerSources {
  /** tokenizer_config.json: bos/eos/unk/pad token strings, chat_template, clean-up flags. */
  tokenizerConfig?: Record<string, unknown>;
  /** generation_config.json: bos_token_id, eos_token_id (an id or a list). */
  generationConfig?: Record<string, unknown>;
  /** config.json of the model: bos_token_id, eos_token_id. */
  modelConfig?: Record<string, unknown>;
  /** A chat template that replaces tokenizer_config's (chat_template.jinja of newer checkpoints). */
  chatTemplate?: string;
  /** Names the origin in error messages: file names are `${name}/tokenizer.json` etc. */
  name?: string;
}

const PROBE_TEXT = "Hello, wörld! It's 1234 \u65e5\u672c \ud83d\ude00  \n\tend";

interface Backend {
  encode(text: string, addSpecialTokens: boolean): number[] | Int32Array;
  decode(ids: number[], skipSpecialTokens: boolean): string;
  tokenToId(token: string): number | undefined;
}

export class Tokenizer {
  /** One more than the largest token id (vocabulary and added tokens): ids are 0..vocabSize-1. */
  readonly vocabSize: number;
  readonly bosTokenId: number | null;
  /** Generation stops at any of these (generation_config.json lists several for Llama 3 / Qwen2). */
  readonly eosTokenIds: readonly number[];
  /** Settings read but not applied, one line each (e.g. clean_up_tokenization_spaces on a BPE model). */
  readonly warnings: readonly string[];
  /** 'bytes' (UTF-8 bytes, 256 ids) or 'tokenizer.json'. */
  readonly kind: 'bytes' | 'tokenizer.json';
  private readonly chat: ChatTemplate | null;
  private readonly specials: Record<string, string | undefined>;

  private constructor(
    private readonly backend: Backend,
    init: {
      kind: 'bytes' | 'tokenizer.json';
      vocabSize: number;
      bosTokenId: number | null;
      eosTokenIds: number[];
      chat: ChatTemplate | null;
      specials: Record<string, string | undefined>;
      warnings: string[];
    },
  ) {
    this.kind = init.kind;
    this.vocabSize = init.vocabSize;
    this.bosTokenId = init.bosTokenId;
    this.eosTokenIds = Object.freeze(init.eosTokenIds);
    this.chat = init.chat;
    this.specials = init.specials;
    this.warnings = Object.freeze(init.warnings);
  }

  /** The byte vocabulary of the fixture model: encode = UTF-8 bytes, exact round trips, no special tokens. */
  static bytes(): Tokenizer {
    return new Tokenizer(
      {
        encode: (text) => encodeBytes(text),
        decode: (ids) => decodeBytes(ids),
        tokenToId: () => undefined,
      },
      { kind: 'bytes', vocabSize: 256, bosTokenId: null, eosTokenIds: [], chat: null, specials: {}, warnings: [] },
    );
  }

  /**
   * A tokenizer from a parsed tokenizer.json and the other sources (the GGUF loader builds its
   * tokenizer.json in memory and comes through here). Malformed input throws NT_IO naming the file.
   */
  static fromObject(tokenizerJson: unknown, sources: TokenizerSources = {}): Tokenizer {
    const name = sources.name ?? '<object>';
    const tjName = `${name}/tokenizer.json`;
    const tcName = `${name}/tokenizer_config.json`;
    const vocabSize = checkTokenizerJson(tokenizerJson, tjName);
    const config = sources.tokenizerConfig ?? {};
    if (!isPlainObject(config)) throw ntError('NT_IO', `[tokenizer] ${tcName}: expected a JSON object`);
    const specials: Record<string, string | undefined> = {};
    for (const key of ['bos_token', 'eos_token', 'unk_token', 'pad_token']) specials[key] = specialTokenString(config[key], `${tcName}: ${key}`);

    const warnings: string[] = [];
    const modelType = (tokenizerJson as { model: { type?: string } }).model.type ?? 'BPE';
    const libConfig: Record<string, unknown> = { ...config };
    // transformers 5 ignores clean_up_tokenization_spaces for BPE (it would strip spaces before
    // punctuation that the text had); the library defaults it to true, so it is set explicitly
    if (modelType === 'BPE') {
      if (config.clean_up_tokenization_spaces === true) warnings.push(`${tcName}: clean_up_tokenization_spaces ignored for a BPE model, as transformers does`);
      libConfig.clean_up_tokenization_spaces = false;
    } else libConfig.clean_up_tokenization_spaces = config.clean_up_tokenization_spaces === true;

    let lib: HfTokenizer;
    try {
      lib = new HfTokenizer(tokenizerJson as object, libConfig);
      cutLongWords(lib, tokenizerJson as { model: { type?: string; merges?: unknown[] } });
      // some parts are only checked when first used (a Split pattern compiles lazily): one encode
      // and decode here makes a broken file fail at load, naming the file, not at the first prompt
      lib.decode(lib.encode(PROBE_TEXT).ids.concat(0));
    } catch (e) {
      throw ntError('NT_IO', `[tokenizer] ${tjName}: @huggingface/tokenizers cannot build it: ${(e as Error).message}`);
    }
    // the library's own errors after a load that passed the probe are its bugs: coded, not raw
    const guard = <T>(op: string, f: () => T): T => {
      try {
        return f();
      } catch (e) {
        throw ntError('NT_INTERNAL', `[tokenizer.${op}] @huggingface/tokenizers failed on ${tjName}: ${(e as Error).message}`);
      }
    };
    const backend: Backend = {
      encode: (text, addSpecialTokens) => guard('encode', () => lib.encode(text, { add_special_tokens: addSpecialTokens }).ids),
      // the library refuses an empty list; the empty text is what every tokenizer decodes it to
      decode: (ids, skip) => (ids.length === 0 ? '' : guard('decode', () => lib.decode(ids, { skip_special_tokens: skip }))),
      tokenToId: (t) => lib.token_to_id(t),
    };

    const tokenId = (token: string | undefined, what: string): number | null => {
      if (token === undefined) return null;
      const id = backend.tokenToId(token);
      if (id === undefined) throw ntError('NT_IO', `[tokenizer] ${tcName}: ${what} ${JSON.stringify(token)} is not a token of ${tjName}`);
      return id;
    };
    // ids: generation_config.json first (what generation uses), then config.json, then the token strings
    const gen = sourceObject(sources.generationConfig, `${name}/generation_config.json`);
    const cfg = sourceObject(sources.modelConfig, `${name}/config.json`);
    // every source is checked, also those a higher one overrides
    const genBos = idList(gen.bos_token_id, `${name}/generation_config.json: bos_token_id`, vocabSize);
    const cfgBos = idList(cfg.bos_token_id, `${name}/config.json: bos_token_id`, vocabSize);
    const genEos = idList(gen.eos_token_id, `${name}/generation_config.json: eos_token_id`, vocabSize);
    const cfgEos = idList(cfg.eos_token_id, `${name}/config.json: eos_token_id`, vocabSize);
    const bosIds = genBos ?? cfgBos;
    const eosIds = genEos ?? cfgEos;
    const bosFromConfig = tokenId(specials.bos_token, 'bos_token');
    const eosFromConfig = tokenId(specials.eos_token, 'eos_token');
    const bosTokenId = bosIds?.[0] ?? bosFromConfig;
    const eosTokenIds = eosIds ?? (eosFromConfig === null ? [] : [eosFromConfig]);
    tokenId(specials.unk_token, 'unk_token');
    tokenId(specials.pad_token, 'pad_token');

    let chat: ChatTemplate | null = null;
    if (sources.chatTemplate !== undefined) chat = new ChatTemplate(sources.chatTemplate, `${name}/chat_template.jinja`);
    else if (config.chat_template !== undefined && config.chat_template !== null)
      chat = new ChatTemplate(pickChatTemplate(config.chat_template, tcName), `${tcName} (chat_template)`);
    return new Tokenizer(backend, { kind: 'tokenizer.json', vocabSize, bosTokenId, eosTokenIds, chat, specials, warnings });
  }

  /**
   * The tokenizer of a Hugging Face folder: tokenizer.json (required), tokenizer_config.json,
   * generation_config.json, config.json, chat_template.jinja, each checked to resolve inside the
   * folder. A folder with only a SentencePiece tokenizer.model is refused (NT_UNSUPPORTED):
   * @huggingface/tokenizers reads tokenizer.json only.
   */
  static fromFolder(dir: string): Tokenizer {
    if (typeof dir !== 'string' || dir === '') throw ntError('NT_VALUE', '[tokenizer] the folder must be a non-empty string');
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw ntError('NT_IO', `[tokenizer] ${dir}: not a folder`);
    const tokenizerJson = readJsonObject(dir, 'tokenizer.json');
    if (tokenizerJson === undefined) {
      if (fs.existsSync(path.join(dir, 'tokenizer.model')))
        throw ntError(
          'NT_UNSUPPORTED',
          `[tokenizer] ${dir} has a SentencePiece tokenizer.model but no tokenizer.json; @huggingface/tokenizers cannot read SentencePiece ` +
            'protobufs: write tokenizer.json once with Python (AutoTokenizer.from_pretrained(dir).save_pretrained(dir))',
        );
      throw ntError('NT_IO', `[tokenizer] ${dir}: no tokenizer.json`);
    }
    return Tokenizer.fromObject(tokenizerJson, {
      name: dir,
      tokenizerConfig: readJsonObject(dir, 'tokenizer_config.json'),
      generationConfig: readJsonObject(dir, 'generation_config.json'),
      modelConfig: readJsonObject(dir, 'config.json'),
      chatTemplate: readText(dir, 'chat_template.jinja'),
    });
  }

  /** Token ids of text, as Python's tokenizer.encode(text, add_special_tokens=...) gives them. */
  encode(text: string, opts: EncodeOptions = {}): Int32Array {
    if (typeof text !== 'string') throw ntError('NT_VALUE', `[tokenizer.encode] text must be a string, got ${typeof text}`);
    const add = opts.addSpecialTokens ?? true;
    if (typeof add !== 'boolean') throw ntError('NT_VALUE', '[tokenizer.encode] addSpecialTokens must be a boolean');
    return Int32Array.from(this.backend.encode(text, add));
  }

  /** Text of token ids; ids outside 0..vocabSize-1 are refused (NT_VALUE), never decoded as something else. */
  decode(ids: ArrayLike<number>, opts: DecodeOptions = {}): string {
    const skip = opts.skipSpecialTokens ?? false;
    if (typeof skip !== 'boolean') throw ntError('NT_VALUE', '[tokenizer.decode] skipSpecialTokens must be a boolean');
    if (ids === null || typeof ids !== 'object' || typeof ids.length !== 'number') throw ntError('NT_VALUE', '[tokenizer.decode] ids must be an array of token ids');
    const list = new Array<number>(ids.length);
    for (let i = 0; i < ids.length; ++i) {
      const v = ids[i];
      if (!Number.isInteger(v) || v < 0 || v >= this.vocabSize)
        throw ntError('NT_VALUE', `[tokenizer.decode] ids[${i}] = ${String(v)} is not a token id of this vocabulary (0..${this.vocabSize - 1})`);
      list[i] = v;
    }
    return this.backend.decode(list, skip);
  }

  /** Whether a chat template came with the tokenizer (generate --chat needs one). */
  get hasChatTemplate(): boolean {
    return this.chat !== null;
  }

  /** The conversation as the model's chat template writes it (transformers' apply_chat_template(tokenize=False)). */
  applyChatTemplate(messages: ChatMessage[], opts: ChatTemplateOptions = {}): string {
    if (this.chat === null) throw ntError('NT_UNSUPPORTED', '[applyChatTemplate] this tokenizer has no chat template (tokenizer_config.json has no chat_template)');
    return this.chat.render(messages, this.specials, opts);
  }

  /** The rendered conversation as ids: the template writes the special tokens itself, so none are added. */
  encodeChat(messages: ChatMessage[], opts: ChatTemplateOptions = {}): Int32Array {
    return this.encode(this.applyChatTemplate(messages, opts), { addSpecialTokens: false });
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function sourceObject(v: unknown, file: string): Record<string, unknown> {
  if (v === undefined) return {};
  if (!isPlainObject(v)) throw ntError('NT_IO', `[tokenizer] ${file}: expected a JSON object`);
  return v;
}

/** Checks what the library would otherwise trip over deep inside; returns the vocabulary size. */
function checkTokenizerJson(tj: unknown, file: string): number {
  if (!isPlainObject(tj)) throw ntError('NT_IO', `[tokenizer] ${file}: expected a JSON object`);
  const model = tj.model;
  if (!isPlainObject(model)) throw ntError('NT_IO', `[tokenizer] ${file}: "model" must be an object`);
  const type = model.type ?? 'BPE';
  const known = ['BPE', 'WordPiece', 'Unigram', 'WordLevel'];
  if (typeof type !== 'string' || !known.includes(type))
    throw ntError('NT_IO', `[tokenizer] ${file}: model.type ${JSON.stringify(type)} is not one of ${known.join(', ')}`);
  let maxId = -1;
  const addId = (id: unknown, where: string) => {
    if (!Number.isInteger(id) || (id as number) < 0 || (id as number) > 0x7ffffffe) throw ntError('NT_IO', `[tokenizer] ${file}: ${where} has id ${JSON.stringify(id)}, not a token id`);
    maxId = Math.max(maxId, id as number);
  };
  if (type === 'Unigram') {
    if (!Array.isArray(model.vocab)) throw ntError('NT_IO', `[tokenizer] ${file}: model.vocab of a Unigram model must be an array of [piece, score]`);
    model.vocab.forEach((e, i) => {
      if (!Array.isArray(e) || typeof e[0] !== 'string' || typeof e[1] !== 'number') throw ntError('NT_IO', `[tokenizer] ${file}: model.vocab[${i}] is not [piece, score]`);
      addId(i, `model.vocab[${i}]`);
    });
  } else {
    if (!isPlainObject(model.vocab)) throw ntError('NT_IO', `[tokenizer] ${file}: model.vocab must be an object of token -> id`);
    for (const [tok, id] of Object.entries(model.vocab)) addId(id, `model.vocab[${JSON.stringify(tok)}]`);
  }
  if (type === 'BPE') {
    if (!Array.isArray(model.merges)) throw ntError('NT_IO', `[tokenizer] ${file}: model.merges of a BPE model must be an array`);
    model.merges.forEach((m, i) => {
      const ok = (typeof m === 'string' && m.split(' ').length === 2) || (Array.isArray(m) && m.length === 2 && m.every((s) => typeof s === 'string'));
      if (!ok) throw ntError('NT_IO', `[tokenizer] ${file}: model.merges[${i}] is not a pair ("a b" or ["a", "b"])`);
    });
  }
  const added = tj.added_tokens ?? [];
  if (!Array.isArray(added)) throw ntError('NT_IO', `[tokenizer] ${file}: added_tokens must be an array`);
  added.forEach((t, i) => {
    if (!isPlainObject(t) || typeof t.content !== 'string' || t.content === '') throw ntError('NT_IO', `[tokenizer] ${file}: added_tokens[${i}] needs a non-empty "content" string`);
    addId(t.id, `added_tokens[${i}]`);
  });
  for (const key of ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder'])
    if (tj[key] !== undefined && tj[key] !== null && !(isPlainObject(tj[key]) && typeof (tj[key] as { type?: unknown }).type === 'string'))
      throw ntError('NT_IO', `[tokenizer] ${file}: "${key}" must be null or an object with a "type"`);
  if (maxId < 0) throw ntError('NT_IO', `[tokenizer] ${file}: the vocabulary is empty`);
  return maxId + 1;
}

/** A special token in tokenizer_config.json: a string, {content: string} (AddedToken), or null/absent. */
function specialTokenString(v: unknown, where: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (isPlainObject(v) && typeof v.content === 'string') return v.content;
  throw ntError('NT_IO', `[tokenizer] ${where} must be a string or {"content": string}, got ${JSON.stringify(v)}`);
}

/** An id or a list of ids (eos_token_id of Llama 3 / Qwen2 is a list); null/absent gives undefined. */
function idList(v: unknown, where: string, vocabSize: number): number[] | undefined {
  if (v === undefined || v === null) return undefined;
  const list = Array.isArray(v) ? v : [v];
  for (const id of list)
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) throw ntError('NT_IO', `[tokenizer] ${where}: ${JSON.stringify(id)} is not a token id (0..${vocabSize - 1})`);
  return list.length === 0 ? undefined : (list as number[]);
}

/** chat_template: a string, or (older checkpoints) a list of {name, template} whose "default" is used. */
function pickChatTemplate(v: unknown, file: string): string {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) {
    const named = v.filter((t) => isPlainObject(t) && typeof t.name === 'string' && typeof t.template === 'string') as { name: string; template: string }[];
    if (named.length !== v.length) throw ntError('NT_IO', `[tokenizer] ${file}: chat_template list entries must be {name, template} strings`);
    const def = named.find((t) => t.name === 'default');
    if (def === undefined) throw ntError('NT_IO', `[tokenizer] ${file}: chat_template lists ${named.map((t) => t.name).join(', ') || 'nothing'} but no "default"`);
    return def.template;
  }
  throw ntError('NT_IO', `[tokenizer] ${file}: chat_template must be a string or a list of {name, template}, got ${typeof v}`);
}
