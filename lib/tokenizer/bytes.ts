// Byte-level tokenization (vocabulary of 256: token id = UTF-8 byte), as the committed fixture
// model was trained.
import { ntError } from '../errors';

const encoder = new TextEncoder();
// keep a leading U+FEFF: round trips are exact
const decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

/** The UTF-8 bytes of text as token ids. */
export function encodeBytes(text: string): Int32Array {
  if (typeof text !== 'string') throw ntError('NT_VALUE', `[encodeBytes] text must be a string, got ${typeof text}`);
  return Int32Array.from(encoder.encode(text));
}

/**
 * Token ids (each a byte 0..255) back to text. Byte sequences that are not valid UTF-8 (e.g.
 * a generation cut mid-character) decode to U+FFFD, as TextDecoder does.
 */
export function decodeBytes(ids: ArrayLike<number>): string {
  const bytes = new Uint8Array(ids.length);
  for (let i = 0; i < ids.length; ++i) {
    const v = ids[i];
    if (!Number.isInteger(v) || v < 0 || v > 255) throw ntError('NT_VALUE', `[decodeBytes] ids[${i}] = ${String(v)} is not a byte (0..255)`);
    bytes[i] = v;
  }
  return decoder.decode(bytes);
}
