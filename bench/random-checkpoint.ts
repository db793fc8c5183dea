// Random LLaMA-shaped checkpoints for the real-size benches (model.bench.ts, model-8b.bench.ts):
// bf16 safetensors shards written by our own writer one shard at a time (peak memory: one
// shard), with model.safetensors.index.json, config.json and generation_config.json as
// transformers' save_pretrained lays them out. Weights: nt.randn seeded per tensor (seed + its
// index in state_dict order) times std, for linears and embeddings; ones for norms. A manifest
// holding a hash of the generation parameters and the file sizes marks a folder complete, so a
// cache is reused only when it is exactly what these parameters write.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as nt from '../lib';

/** config.json keys the generator reads (transformers' 4.x layout; the rest is written as given). */
export interface LlamaShape {
  hidden_size: number;
  intermediate_size: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  num_hidden_layers: number;
  head_dim: number;
  vocab_size: number;
  transformers_version: string;
  bos_token_id: number;
  eos_token_id: number;
  [key: string]: unknown;
}

export interface GenerationParams {
  generator: string;
  seed: number;
  maxShardBytes: number;
  config: LlamaShape;
  expectedParams: number;
}

interface TensorSpec {
  name: string;
  shape: number[];
  init: 'normal' | 'ones';
  seed: number;
}

export interface Manifest {
  hash: string;
  generation: unknown;
  params: number;
  files: { name: string; bytes: number }[];
  seconds: number;
  created: string;
}

const STD = 0.02;
const MANIFEST = 'ntensor-bench-manifest.json';
const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
const sha = (x: unknown) => crypto.createHash('sha256').update(JSON.stringify(x)).digest('hex').slice(0, 16);

/** The checkpoint's tensors in Hugging Face state_dict order; tensor i is seeded seed + i. */
function tensorSpecs(c: LlamaShape, seed: number): TensorSpec[] {
  const H = c.hidden_size;
  const I = c.intermediate_size;
  const kv = c.num_key_value_heads * c.head_dim;
  const q = c.num_attention_heads * c.head_dim;
  const list: Omit<TensorSpec, 'seed'>[] = [{ name: 'model.embed_tokens.weight', shape: [c.vocab_size, H], init: 'normal' }];
  for (let l = 0; l < c.num_hidden_layers; ++l) {
    const p = `model.layers.${l}.`;
    list.push(
      { name: `${p}self_attn.q_proj.weight`, shape: [q, H], init: 'normal' },
      { name: `${p}self_attn.k_proj.weight`, shape: [kv, H], init: 'normal' },
      { name: `${p}self_attn.v_proj.weight`, shape: [kv, H], init: 'normal' },
      { name: `${p}self_attn.o_proj.weight`, shape: [H, q], init: 'normal' },
      { name: `${p}mlp.gate_proj.weight`, shape: [I, H], init: 'normal' },
      { name: `${p}mlp.up_proj.weight`, shape: [I, H], init: 'normal' },
      { name: `${p}mlp.down_proj.weight`, shape: [H, I], init: 'normal' },
      { name: `${p}input_layernorm.weight`, shape: [H], init: 'ones' },
      { name: `${p}post_attention_layernorm.weight`, shape: [H], init: 'ones' },
    );
  }
  list.push({ name: 'model.norm.weight', shape: [H], init: 'ones' }, { name: 'lm_head.weight', shape: [c.vocab_size, H], init: 'normal' });
  return list.map((t, i) => ({ ...t, seed: seed + i }));
}

/** Tensors grouped into shards of at most maxShardBytes (bf16), in order. */
function shardPlan(specs: TensorSpec[], maxShardBytes: number): TensorSpec[][] {
  const shards: TensorSpec[][] = [[]];
  let bytes = 0;
  for (const t of specs) {
    const b = numel(t.shape) * 2;
    if (bytes + b > maxShardBytes && shards[shards.length - 1].length > 0) {
      shards.push([]);
      bytes = 0;
    }
    shards[shards.length - 1].push(t);
    bytes += b;
  }
  return shards;
}

/** A generator for one set of parameters: its hash, and ensure(dir) that reuses or writes the folder. */
export function randomCheckpoint(p: GenerationParams): { hash: string; ensure(dir: string, log: (s: string) => void): Manifest } {
  // key order and content as the first version of model.bench.ts hashed them: existing caches stay valid
  const generation = { generator: p.generator, seed: p.seed, std: STD, dtype: 'bf16', maxShardBytes: p.maxShardBytes, config: p.config };
  const hash = sha(generation);

  const readManifest = (dir: string): Manifest | null => {
    try {
      const m = JSON.parse(fs.readFileSync(path.join(dir, MANIFEST), 'utf8')) as Manifest;
      if (m.hash !== hash) return null;
      for (const f of m.files) if (fs.statSync(path.join(dir, f.name)).size !== f.bytes) return null;
      return m;
    } catch {
      return null;
    }
  };

  const ensure = (dir: string, log: (s: string) => void): Manifest => {
    const have = readManifest(dir);
    if (have) {
      log(`checkpoint: ${dir} (cached, hash ${have.hash})\n`);
      return have;
    }
    const t0 = Date.now();
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    const specs = tensorSpecs(p.config, p.seed);
    const params = specs.reduce((s, t) => s + numel(t.shape), 0);
    if (params !== p.expectedParams) throw new Error(`model plan has ${params} parameters, expected ${p.expectedParams}`);
    const shards = shardPlan(specs, p.maxShardBytes);
    const shardName = (i: number) => `model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`;
    const weightMap: Record<string, string> = {};
    let total = 0;
    log(`checkpoint: writing ${dir} (${params.toLocaleString('en-US')} parameters, bf16, ${shards.length} shards)\n`);
    shards.forEach((shard, i) => {
      const tensors: Record<string, nt.Tensor> = {};
      try {
        for (const t of shard) {
          if (t.init === 'ones') {
            tensors[t.name] = nt.ones(t.shape, 'bf16');
          } else {
            const f = nt.randn(t.shape, { seed: t.seed });
            try {
              nt.mul(f, STD, { out: f });
              tensors[t.name] = f.astype('bf16');
            } finally {
              f.dispose();
            }
          }
          weightMap[t.name] = shardName(i);
          total += numel(t.shape) * 2;
        }
        nt.io.saveSafetensors(path.join(dir, shardName(i)), tensors, { format: 'pt' });
      } finally {
        for (const t of Object.values(tensors)) t.dispose();
      }
      log(`  ${shardName(i)}: ${shard.length} tensors, ${(fs.statSync(path.join(dir, shardName(i))).size / 1e9).toFixed(3)} GB\n`);
    });
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2) + '\n');
    // json.dumps(indent=2, sort_keys=True) as transformers' save_pretrained writes it (floats keep their ".0")
    const sorted = Object.fromEntries(Object.entries(p.config).sort(([a], [b]) => (a < b ? -1 : 1)));
    const configText = JSON.stringify(sorted, null, 2).replace(/"(attention_dropout|rope_theta)": (\d+)(,?)$/gm, '"$1": $2.0$3');
    fs.writeFileSync(path.join(dir, 'config.json'), configText + '\n');
    fs.writeFileSync(
      path.join(dir, 'generation_config.json'),
      JSON.stringify({ _from_model_config: true, bos_token_id: p.config.bos_token_id, eos_token_id: p.config.eos_token_id, transformers_version: p.config.transformers_version }, null, 2) + '\n',
    );
    const files = [...shards.map((_, i) => shardName(i)), 'model.safetensors.index.json', 'config.json', 'generation_config.json'].map((name) => ({
      name,
      bytes: fs.statSync(path.join(dir, name)).size,
    }));
    const manifest: Manifest = { hash, generation, params, files, seconds: (Date.now() - t0) / 1000, created: new Date().toISOString() };
    fs.writeFileSync(path.join(dir, MANIFEST), JSON.stringify(manifest, null, 2) + '\n');
    log(`checkpoint written in ${manifest.seconds.toFixed(1)} s\n`);
    return manifest;
  };

  return { hash, ensure };
}
