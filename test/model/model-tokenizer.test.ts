// model.tokenizer (read on first use from the folder, a GGUF file or the byte vocabulary) and
// generate's stopTokenIds.
import * as fs from 'fs';
import * as path from 'path';
import { load } from '../../lib/model';
import { PACKAGE_ROOT } from '../../lib/native/loader';
import { memory } from '../../lib/tensor';
import { errorOf } from './helpers';

const BPE = path.join(PACKAGE_ROOT, 'fixtures', 'tinyllama-fortunes-bpe');
const BYTES = path.join(PACKAGE_ROOT, 'fixtures', 'tinyllama-fortunes');
const GGUF = path.join(PACKAGE_ROOT, 'fixtures', 'gguf', 'tiny-llama-q8_0.gguf');
const chat = JSON.parse(fs.readFileSync(path.join(BPE, 'reference_chat.json'), 'utf8')) as { prompt: string; prompt_ids: number[]; greedy_ids: number[] };

test('the tokenizer of a tokenizer.json folder, a byte-vocabulary folder and a GGUF file', () => {
  const base = memory();
  const bpe = load(BPE);
  const t = bpe.tokenizer!;
  expect(bpe.tokenizer).toBe(t); // read once
  expect(Array.from(t.encode(chat.prompt, { addSpecialTokens: false }))).toEqual(chat.prompt_ids);
  expect(t.eosTokenIds).toEqual([4092, 4095]);
  bpe.dispose();
  expect(errorOf(() => bpe.tokenizer).code).toBe('NT_DISPOSED');

  const bytes = load(BYTES);
  expect(bytes.tokenizer!.kind).toBe('bytes');
  expect(Array.from(bytes.tokenizer!.encode('hé'))).toEqual([104, 195, 169]);
  bytes.dispose();

  const gguf = load(GGUF);
  const g = gguf.tokenizer!;
  expect(g).not.toBeNull();
  const ids = g.encode('hello world', { addSpecialTokens: false });
  expect(ids.length).toBeGreaterThan(0);
  expect(g.decode(ids)).toBe('hello world');
  gguf.dispose();
  expect(memory()).toEqual(base);
});

test('generate stops at stopTokenIds instead of config eos_token_id; bad lists are NT_VALUE', () => {
  const model = load(BPE);
  const stopAt = chat.greedy_ids.indexOf(chat.greedy_ids[5]);
  const full = model.generate(chat.prompt_ids, { maxNewTokens: 48 });
  expect(full).toEqual(chat.greedy_ids); // config eos [4092, 4095]: the reply ends at <|eot_id|>
  expect(model.generate(chat.prompt_ids, { maxNewTokens: 48, stopTokenIds: [chat.greedy_ids[5]] })).toEqual(chat.greedy_ids.slice(0, stopAt + 1));
  expect(model.generate(chat.prompt_ids, { maxNewTokens: 40, stopTokenIds: [] })).toHaveLength(40);
  expect(model.generateBatch([chat.prompt_ids, [4091, 40]], { maxNewTokens: 6, stopTokenIds: [chat.greedy_ids[2]] })[0]).toEqual(chat.greedy_ids.slice(0, chat.greedy_ids.indexOf(chat.greedy_ids[2]) + 1));
  for (const bad of [[4096], [-1], [1.5], 'x'])
    expect(errorOf(() => model.generate([4091], { maxNewTokens: 1, stopTokenIds: bad as never }))).toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/stopTokenIds must be an array of token ids of this vocabulary \(0\.\.4095\), got /) });
  model.dispose();
});
