// Pre-tokenized token-id files: what `--ids FILE` reads for any model.
import * as fs from 'fs';
import { ntError } from '../errors';
import { loadNpy } from '../io';

/**
 * Token ids from a file: a .npy array of integers (int32 or int64, any shape, read in C
 * order) or a .json array of integers.
 */
export function loadTokenIds(path: string): Int32Array {
  if (typeof path !== 'string' || path === '') throw ntError('NT_VALUE', '[loadTokenIds] path must be a non-empty string');
  if (path.toLowerCase().endsWith('.npy')) {
    const t = loadNpy(path);
    try {
      if (t.dtype !== 'i32' && t.dtype !== 'u8' && t.dtype !== 'i8')
        throw ntError('NT_DTYPE', `[loadTokenIds] ${path}: token ids must be integers, got ${t.dtype}`);
      const c = t.astype('i32');
      try {
        return Int32Array.from(c.data as Int32Array);
      } finally {
        c.dispose();
      }
    } finally {
      t.dispose();
    }
  }
  if (path.toLowerCase().endsWith('.json')) {
    let raw: unknown;
    try {
      raw = JSON.parse(fs.readFileSync(path, 'utf8'));
    } catch (e) {
      throw ntError('NT_IO', `[loadTokenIds] ${path}: ${(e as Error).message}`);
    }
    if (!Array.isArray(raw)) throw ntError('NT_IO', `[loadTokenIds] ${path}: expected a JSON array of integers`);
    raw.forEach((v, i) => {
      if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) throw ntError('NT_IO', `[loadTokenIds] ${path}: element ${i} (${JSON.stringify(v)}) is not a token id`);
    });
    return Int32Array.from(raw as number[]);
  }
  throw ntError('NT_VALUE', `[loadTokenIds] ${path}: expected a .npy or .json file of token ids`);
}
