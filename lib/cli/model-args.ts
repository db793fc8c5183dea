// What the model commands (ppl, generate, compress, demo, gear, mnn, ...) share: the default
// model folder (the committed fixture, found from the package root, not the working
// directory), numeric option parsing, and reading a text or token-id file as token ids.
import * as fs from 'fs';
import * as path from 'path';
import type { Command } from 'commander';
import type { LlamaModel, LoadOptions } from '../model';
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

/** A text file as byte tokens, for models with a 256-token byte vocabulary. */
export function textTokens(file: string, vocabSize: number): Int32Array {
  if (vocabSize !== 256)
    throw Object.assign(new Error(`the model's vocabulary has ${vocabSize} tokens; text is tokenized as bytes (256): pass token ids (--ids FILE)`), {
      code: 'NT_VALUE',
    });
  return Int32Array.from(readFileOrFail(file));
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
