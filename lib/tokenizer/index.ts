// nt.tokenizer: text <-> token ids (tokenizer.json through @huggingface/tokenizers, the byte
// vocabulary of the fixture model), chat templates, token-id files.
export { Tokenizer } from './tokenizer';
export type { EncodeOptions, DecodeOptions, TokenizerSources } from './tokenizer';
export { ChatTemplate, RANGE_BUDGET } from './chat';
export type { ChatMessage, ChatTemplateOptions } from './chat';
export { loadTokenizer } from './load';
export { encodeBytes, decodeBytes } from './bytes';
export { loadTokenIds } from './ids';
