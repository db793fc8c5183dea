// The files of a tokenizer in a model folder: tokenizer.json, tokenizer_config.json,
// generation_config.json, config.json and chat_template.jinja, each checked to resolve inside
// the folder (a checkpoint's file may not point elsewhere) and parsed with its name in errors.
import * as fs from 'fs';
import * as path from 'path';
import { ntError } from '../errors';
import { checkInsideFolder } from '../io/common';

/** A JSON object file of the folder, or undefined when it does not exist. */
export function readJsonObject(dir: string, name: string): Record<string, unknown> | undefined {
  const text = readText(dir, name);
  if (text === undefined) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw ntError('NT_IO', `[tokenizer] ${path.join(dir, name)}: not valid JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw ntError('NT_IO', `[tokenizer] ${path.join(dir, name)}: expected a JSON object`);
  return v as Record<string, unknown>;
}

export function readText(dir: string, name: string): string | undefined {
  const file = path.join(dir, name);
  checkInsideFolder('tokenizer', dir, file);
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw ntError('NT_IO', `[tokenizer] ${file}: ${(e as Error).message}`);
  }
  if (!st.isFile()) throw ntError('NT_IO', `[tokenizer] ${file}: not a regular file`);
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw ntError('NT_IO', `[tokenizer] ${file}: ${(e as Error).message}`);
  }
}

