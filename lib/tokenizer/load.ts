// The tokenizer a model folder implies: tokenizer.json, the byte vocabulary, or none.
import * as fs from 'fs';
import * as path from 'path';
import { ntError } from '../errors';
import { checkInsideFolder } from '../io/common';
import { readJsonObject } from './files';
import { Tokenizer } from './tokenizer';

/**
 * The tokenizer of a model folder: tokenizer.json when there is one, else the byte vocabulary
 * when config.json says vocab_size 256 (the committed fixture), else null (ids only: --ids).
 */
export function loadTokenizer(dir: string): Tokenizer | null {
  if (typeof dir !== 'string' || dir === '') throw ntError('NT_VALUE', '[loadTokenizer] the folder must be a non-empty string');
  const has = (name: string) => {
    checkInsideFolder('tokenizer', dir, path.join(dir, name));
    return fs.existsSync(path.join(dir, name));
  };
  if (has('tokenizer.json') || has('tokenizer.model')) return Tokenizer.fromFolder(dir);
  const config = readJsonObject(dir, 'config.json');
  if (config?.vocab_size === 256) return Tokenizer.bytes();
  return null;
}
