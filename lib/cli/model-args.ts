// What the model commands (ppl, generate, compress, demo, gear, mnn, ...) share: the default
// model folder (the committed fixture, found from the package root, not the working
// directory), numeric option parsing, and the one path from --text / --ids to token ids.
import * as fs from 'fs';
import * as path from 'path';
import type { Command } from 'commander';
import type { LlamaModel, LoadOptions } from '../model';
import type { Tokenizer } from '../tokenizer';
import { packageRoot } from './context';

/** fixtures/tinyllama-fortunes of this package. */
export function defaultModelDir(): string {
  return path.join(packageRoot(), 'fixtures', 'tinyllama-fortunes');
}

/** A bad command-line value: reported as one line with NT_VALUE. */
export class UsageError extends Error {
  readonly code = 'NT_VALUE';
}

export function intOption(name: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  if (!/^-?\d+$/.test(v.trim()) || Number(v) < min || !Number.isSafeInteger(Number(v)))
    throw new UsageError(`${name} must be an integer >= ${min}, got '${v}'`);
  return Number(v);
}

export function numberOption(name: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < min) throw new UsageError(`${name} must be a number >= ${min}, got '${v}'`);
  return n;
}

/** A comma-separated list of integers >= min ("8,16,32"). */
export function intListOption(name: string, v: string | undefined, min: number): number[] | undefined {
  if (v === undefined) return undefined;
  const parts = v.split(',').map((s) => s.trim());
  if (parts.length === 0 || parts.some((p) => !/^\d+$/.test(p) || Number(p) < min))
    throw new UsageError(`${name} must be a comma-separated list of integers >= ${min}, got '${v}'`);
  return parts.map(Number);
}

/** Reads a file, turning a missing or unreadable file into one coded line (NT_IO). */
export function readFileOrFail(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message;
    throw Object.assign(new Error(`${file}: ${why}`), { code: 'NT_IO' });
  }
}

/** Where a command's tokens come from: --text FILE (tokenized for the model) or --ids FILE (pre-tokenized). */
export interface TokenFlags {
  text?: string;
  ids?: string;
}

/** The model side of readTokens: its folder (for the tokenizer files) and embedding size. */
export interface TokenTarget {
  dir: string;
  vocabSize: number;
  /** An already loaded tokenizer (undefined: read from dir; null: the folder has none). */
  tokenizer?: Tokenizer | null;
}

/** --text FILE and --ids FILE with the same words in every command; `what` says what the tokens are for. */
export function addTokenOptions(cmd: Command, what = 'text'): Command {
  return cmd
    .option('--text <file>', `${what}: a UTF-8 text file, tokenized with the model's tokenizer.json (or as bytes for a 256-token byte vocabulary)`)
    .option('--ids <file>', `${what} as token ids instead: a .npy (int32/int64) or .json array`);
}

/**
 * Deprecated flag names (compress --calib / --calib-ids, lolcats --calib): moves their value to
 * the current flag with a warning on stderr; both given is a usage error.
 */
export function takeDeprecated<T extends object>(flags: T, renames: Partial<Record<keyof T, keyof T>>, warn: (line: string) => void): void {
  const f = flags as Record<string, unknown>;
  for (const [old, now] of Object.entries(renames) as [string, string][]) {
    if (f[old] === undefined) continue;
    const dash = (k: string) => '--' + k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
    if (f[now] !== undefined) throw new UsageError(`give ${dash(now)} only (${dash(old)} is its deprecated name)`);
    warn(`${dash(old)} is deprecated: use ${dash(now)}`);
    f[now] = f[old];
    delete f[old];
  }
}

/** A GGUF file's vocabulary as a tokenizer (null when the file has none). */
function ggufTokenizerOf(nt: typeof import('../index'), file: string): Tokenizer | null {
  const g = nt.io.readGguf(file);
  try {
    return nt.model.ggufTokenizer(g);
  } finally {
    g.dispose();
  }
}

/**
 * The one text-to-ids path of every command. --text: the model folder's tokenizer.json, or
 * UTF-8 bytes for a 256-token byte vocabulary without one (the file's bytes exactly); a folder
 * with neither refuses text. --ids: the file's ids. Either way every id must index the model's
 * embedding, and a tokenizer larger than the embedding is refused (NT_VALUE): a mismatch is
 * an error, never ids that mean something else. A tokenizer smaller than the embedding is
 * fine (Qwen2 pads its embedding past the tokenizer's 151,665 tokens).
 */
export function readTokens(nt: typeof import('../index'), flags: TokenFlags, target: TokenTarget): Int32Array {
  if ((flags.text === undefined) === (flags.ids === undefined)) throw new UsageError('give exactly one of --text FILE or --ids FILE');
  const V = target.vocabSize;
  if (flags.ids !== undefined) {
    const ids = nt.tokenizer.loadTokenIds(flags.ids);
    checkIdsInVocab(ids, V, flags.ids);
    return ids;
  }
  const file = flags.text!;
  const tokenizer =
    target.tokenizer !== undefined ? target.tokenizer : nt.model.isGgufPath(target.dir) ? ggufTokenizerOf(nt, target.dir) : nt.tokenizer.loadTokenizer(target.dir);
  if (tokenizer === null)
    throw Object.assign(new Error(`${target.dir} has no tokenizer.json and its vocabulary has ${V} tokens (not the 256-token byte vocabulary): pass token ids (--ids FILE)`), {
      code: 'NT_VALUE',
    });
  if (tokenizer.vocabSize > V)
    throw Object.assign(new Error(`the tokenizer of ${target.dir} has ${tokenizer.vocabSize} tokens but the model's embedding ${V}: its ids would index past the embedding`), {
      code: 'NT_VALUE',
    });
  const bytes = readFileOrFail(file);
  // the byte vocabulary takes the file's bytes as they are (a file need not be valid UTF-8)
  if (tokenizer.kind === 'bytes') return Int32Array.from(bytes);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw Object.assign(new Error(`${file} is not UTF-8 text: --text needs UTF-8 for a tokenizer.json`), { code: 'NT_VALUE' });
  }
  const ids = tokenizer.encode(text);
  checkIdsInVocab(ids, V, file);
  return ids;
}

/** Every id indexes the embedding (NT_VALUE naming the first that does not). */
export function checkIdsInVocab(ids: Int32Array, vocabSize: number, source: string): void {
  for (let i = 0; i < ids.length; ++i)
    if (ids[i] < 0 || ids[i] >= vocabSize)
      throw Object.assign(new Error(`${source}: token id ${ids[i]} at position ${i} is outside the model's vocabulary (0..${vocabSize - 1})`), { code: 'NT_VALUE' });
}

/** How a command loads its model: --dtype, --activations, --head-bits (see addModelLoadOptions). */
export interface ModelLoadFlags {
  dtype?: string;
  activations?: string;
  headBits?: string;
}

export interface ModelLoadChoice {
  load: LoadOptions;
  /** Quantize lm_head to this many bits after loading (model.quantizeHead). */
  headBits?: 4 | 8;
}

export function addModelLoadOptions(cmd: Command): Command {
  return cmd
    .option('--dtype <d>', "weights in memory: auto (the checkpoint's dtype, mapped; default), f32, bf16 or f16")
    .option('--activations <a>', 'activations of int4 linears (a GPTQ folder, --head-bits): f32 (default) or int8')
    .option('--head-bits <n>', 'quantize lm_head to 8 or 4 bits (RTN, groups of 128)');
}

export function modelLoadChoice(f: ModelLoadFlags): ModelLoadChoice {
  const dtypes = ['auto', 'f32', 'bf16', 'f16'];
  if (f.dtype !== undefined && !dtypes.includes(f.dtype)) throw new UsageError(`--dtype must be one of ${dtypes.join(', ')}, got '${f.dtype}'`);
  if (f.activations !== undefined && f.activations !== 'f32' && f.activations !== 'int8')
    throw new UsageError(`--activations must be f32 or int8, got '${f.activations}'`);
  if (f.headBits !== undefined && f.headBits !== '4' && f.headBits !== '8') throw new UsageError(`--head-bits must be 4 or 8, got '${f.headBits}'`);
  return {
    load: { dtype: f.dtype as LoadOptions['dtype'], activations: f.activations as LoadOptions['activations'] },
    headBits: f.headBits === undefined ? undefined : (Number(f.headBits) as 4 | 8),
  };
}

/** Loads per the flags; a quantized head's int8 request that falls back warns (NT_QMATMUL_INT8_FALLBACK). */
export function loadModelWith(nt: typeof import('../index'), dir: string, choice: ModelLoadChoice): LlamaModel {
  const model = nt.model.load(dir, choice.load);
  try {
    if (choice.headBits !== undefined) model.quantizeHead({ bits: choice.headBits, activations: choice.load.activations });
    return model;
  } catch (e) {
    model.dispose();
    throw e;
  }
}
