// Tokenization for models: the byte functions and token-id files live in lib/tokenizer (one
// path for every model); kept here so nt.model.encodeBytes / decodeBytes / loadTokenIds stay.
export { encodeBytes, decodeBytes } from '../tokenizer/bytes';
export { loadTokenIds } from '../tokenizer/ids';
export { loadTokenizer } from '../tokenizer/load';
