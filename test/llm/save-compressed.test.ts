// saveCompressed at real size: non-linear tensors keep the checkpoint's dtype (no f32
// widening of a bf16 model's embeddings and head), and large outputs are sharded with an index
// as transformers writes them; a later save replaces every stale weights file.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { safetensorsInfo } from '../../lib/io';
import { compressModel } from '../../lib/llm/compress';
import { applyAdapter, saveCompressed } from '../../lib/llm/export';
import { load } from '../../lib/model';
import { memory } from '../../lib/tensor';
import { errorOf, maxAbsDiff, values } from '../model/helpers';
import { writeTiny } from '../model/tiny';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nt-save-compressed-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const ids = Array.from({ length: 40 }, (_, i) => (i * 5 + 1) % 19);

function logits(dir: string): Float64Array {
  const m = load(dir);
  try {
    applyAdapter(m, path.join(dir, 'adapter'));
    const l = m.forward(ids);
    try {
      return values(l);
    } finally {
      l.dispose();
    }
  } finally {
    m.dispose();
  }
}

test('a bf16 model: embeddings, head and norms stay bf16; sharded and single saves reload to the in-memory logits; stale files go', () => {
  const base = memory().bytes;
  const src = writeTiny(path.join(tmp, 'src'), { max_position_embeddings: 64 }, { dtype: 'bf16', seed: 4 }).dir;
  const model = load(src);
  compressModel(model, { bits: 4, groupSize: 32, method: 'svd', rank: 2, calibration: ids });
  const l = model.forward(ids);
  const inMemory = values(l);
  l.dispose();

  const out = path.join(tmp, 'out');
  const sharded = saveCompressed(model, out, { maxShardBytes: 2048 });
  expect(path.basename(sharded.weightsFile)).toBe('model.safetensors.index.json');
  const index = JSON.parse(fs.readFileSync(sharded.weightsFile, 'utf8'));
  const shardFiles = [...new Set(Object.values(index.weight_map) as string[])].sort();
  expect(shardFiles.length).toBeGreaterThan(2);
  shardFiles.forEach((f, i) => expect(f).toBe(`model-${String(i + 1).padStart(5, '0')}-of-${String(shardFiles.length).padStart(5, '0')}.safetensors`));
  const dtypes = new Map<string, string>();
  let total = 0;
  for (const f of shardFiles) {
    const info = safetensorsInfo(path.join(out, f));
    for (const t of info.tensors) dtypes.set(t.name, t.fileDtype);
    total += info.fileBytes - 8 - info.headerBytes;
  }
  expect(index.metadata.total_size).toBe(total);
  expect(dtypes.get('model.embed_tokens.weight')).toBe('BF16');
  expect(dtypes.get('lm_head.weight')).toBe('BF16');
  expect(dtypes.get('model.norm.weight')).toBe('BF16');
  expect(dtypes.get('model.layers.0.self_attn.q_proj.qweight')).toBe('I32');
  expect(fs.existsSync(path.join(out, 'model.safetensors'))).toBe(false);
  expect(maxAbsDiff(logits(out), inMemory)).toBeLessThanOrEqual(1e-5);

  // a single-file save over it removes the index and every shard
  const single = saveCompressed(model, out);
  expect(path.basename(single.weightsFile)).toBe('model.safetensors');
  expect(fs.readdirSync(out).filter((f) => f.startsWith('model')).sort()).toEqual(['model.safetensors']);
  expect(maxAbsDiff(logits(out), inMemory)).toBeLessThanOrEqual(1e-5);

  for (const bad of [0, -1, NaN]) expect(errorOf(() => saveCompressed(model, out, { maxShardBytes: bad }))).toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/maxShardBytes must be a positive number/) });
  model.dispose();
  expect(memory().bytes).toBe(base);
});
