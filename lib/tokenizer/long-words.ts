// SentencePiece-style BPE (Llama 2, TinyLlama, Mistral) has no pre-tokenizer: a whole text is
// one "word", and @huggingface/tokenizers 0.2.0 runs its BPE over it at ~0.03 MB/s (no cache for
// long words, a JSON.stringify per candidate pair), 10-20x below the Rust crate. This cuts long
// words before each run of '▁' that follows another character and runs the library's own BPE on
// the pieces. That is exact when no merge joins a symbol ending in another character to one
// starting with '▁' (checked on the merges here): no merge can then cross a cut, and BPE on
// either side proceeds as it would in the whole word (merges are between adjacent symbols;
// ties break leftmost-first on both). tests: the families test compares every id with Python,
// the tokenizer bench checks whole 127 kB / 509 kB files against the Rust crate.
import type { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';

const SPACE = '\u2581';
/** Words shorter than this go to the library whole (it caches words up to 256 characters). */
const LONG = 256;

interface BpeModel {
  bpe(token: string): string[];
  ignore_merges?: boolean;
  end_of_word_suffix?: string | null;
  continuing_subword_suffix?: string | null;
}

/** Installs the cut on the library's BPE model when it is exact; returns whether it did. */
export function cutLongWords(lib: HfTokenizer, tokenizerJson: { model: { type?: string; merges?: unknown[] } }): boolean {
  const model = lib.model as unknown as BpeModel | null;
  if (model === null || typeof model.bpe !== 'function' || (tokenizerJson.model.type ?? 'BPE') !== 'BPE') return false;
  // whole-word semantics: a vocabulary lookup of the whole word, or suffixes per word
  if (model.ignore_merges || model.end_of_word_suffix || model.continuing_subword_suffix) return false;
  for (const m of tokenizerJson.model.merges ?? []) {
    const [a, b] = typeof m === 'string' ? m.split(' ') : (m as string[]);
    if (b.startsWith(SPACE) && !a.endsWith(SPACE)) return false;
  }
  const whole = model.bpe.bind(model);
  model.bpe = (token: string): string[] => {
    if (token.length < LONG) return whole(token);
    const out: string[] = [];
    let start = 0;
    for (let i = 1; i < token.length; ++i)
      if (token[i] === SPACE && token[i - 1] !== SPACE) {
        out.push(...whole(token.slice(start, i)));
        start = i;
      }
    out.push(...whole(token.slice(start)));
    return out;
  };
  return true;
}
