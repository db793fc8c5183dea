// compressCheckpoint: a checkpoint compressed layer by layer to disk. The folder reloads to the
// in-memory compressModel's logits; the files are transformers' shards + index and PEFT's
// adapter layout; a run killed (SIGKILL) at random points resumes to the same bytes; four shard
// processes merge to the bytes of one parallel-mode run; every refusal is coded.
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadSafetensors, safetensorsInfo } from '../../lib/io';
import { compressModel } from '../../lib/llm/compress';
import { compressCheckpoint, compressCheckpointAsync, mergeCompressedShards } from '../../lib/llm/compress-checkpoint';
import { applyAdapter } from '../../lib/llm/export';
import { load } from '../../lib/model';
import { QuantLinear } from '../../lib/model/linear';
import { quantize } from '../../lib/quant/quantize';
import { PACKAGE_ROOT } from '../../lib/native/loader';
import { memory } from '../../lib/tensor';
import { errorOf, values } from '../model/helpers';
import { writeTiny } from '../model/tiny';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nt-compress-checkpoint-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const FIXTURE = path.join(PACKAGE_ROOT, 'fixtures', 'tinyllama-fortunes');
const CLI = path.join(PACKAGE_ROOT, 'bin', 'ntensor.js');
const HELDOUT = path.join(FIXTURE, 'heldout.txt');
const ids = Array.from({ length: 70 }, (_, i) => (i * 7 + 3) % 19);
const probe = Array.from({ length: 33 }, (_, i) => (i * 5 + 1) % 19);

function logits(dir: string, adapter = true): Float64Array {
  const m = load(dir);
  try {
    if (adapter) applyAdapter(m, path.join(dir, 'adapter'));
    const l = m.forward(probe);
    try {
      return values(l);
    } finally {
      l.dispose();
    }
  } finally {
    m.dispose();
  }
}

/** path relative to dir → sha-free byte content, for every file under dir. */
function tree(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.set(path.relative(dir, p), fs.readFileSync(p));
    }
  };
  walk(dir);
  return out;
}

function expectSameTree(a: string, b: string): void {
  const ta = tree(a);
  const tb = tree(b);
  expect([...tb.keys()].sort()).toEqual([...ta.keys()].sort());
  for (const [k, v] of ta) expect({ file: k, equal: v.equals(tb.get(k)!) }).toEqual({ file: k, equal: true });
}

describe('compressCheckpoint', () => {
  // sequential mode also spills the projections' inputs to the work folder (in memory in compressModel)
  test.each(['layer-sequential', 'sequential'] as const)('a bf16 checkpoint (%s): shards as layers finish + index, embeddings/head/norms in bf16, PEFT layout, and the in-memory logits', (mode) => {
    const base = memory().bytes;
    const src = writeTiny(path.join(tmp, `bf16-${mode}`), { max_position_embeddings: 64 }, { dtype: 'bf16', seed: 7 }).dir;
    const opts = { bits: 4 as const, groupSize: 32 as const, quantizer: 'gptq' as const, method: 'eora' as const, rank: 3, calibration: ids, calibrationWindow: 32, mode };
    const inMemory = load(src);
    compressModel(inMemory, opts);
    const l = inMemory.forward(probe);
    const expected = values(l);
    l.dispose();
    inMemory.dispose();

    const out = path.join(tmp, `bf16-out-${mode}`);
    const r = compressCheckpoint(src, out, opts);
    expect(r.kind).toBe('model');
    expect(r.resumedLayers).toBe(0);
    const L = JSON.parse(fs.readFileSync(path.join(src, 'config.json'), 'utf8')).num_hidden_layers;
    expect(r.report.layers).toHaveLength(7 * L);
    // the same numbers as the in-memory pipeline, bit for bit
    expect(logits(out)).toEqual(expected);
    // transformers' shard layout: shard 1 = embeddings, norm, head; shard l+2 = layer l
    const index = JSON.parse(fs.readFileSync(path.join(out, 'model.safetensors.index.json'), 'utf8'));
    const files = [...new Set(Object.values(index.weight_map) as string[])].sort();
    expect(files).toEqual(Array.from({ length: L + 1 }, (_, i) => `model-${String(i + 1).padStart(5, '0')}-of-${String(L + 1).padStart(5, '0')}.safetensors`));
    let total = 0;
    for (const f of files) {
      const info = safetensorsInfo(path.join(out, f));
      for (const t of info.tensors) {
        expect(index.weight_map[t.name]).toBe(f);
        total += t.byteLength;
        if (!/_proj\.(qweight|qzeros|scales|g_idx)$/.test(t.name)) expect({ name: t.name, dtype: t.dtype }).toEqual({ name: t.name, dtype: 'bf16' });
      }
      const layer = /model\.layers\.(\d+)\./.exec(info.tensors[0].name);
      expect(layer ? Number(layer[1]) + 2 : 1).toBe(files.indexOf(f) + 1);
    }
    expect(index.metadata.total_size).toBe(total);
    expect(Object.keys(index.weight_map)).toContain('lm_head.weight');
    expect(Object.keys(index.weight_map)).toContain('model.layers.1.post_attention_layernorm.weight');
    // PEFT's layout: target_modules, lora_A [r, d_in] / lora_B [d_out, r] names, alpha = r
    const ac = JSON.parse(fs.readFileSync(path.join(out, 'adapter', 'adapter_config.json'), 'utf8'));
    expect(ac.peft_type).toBe('LORA');
    expect(ac.target_modules).toEqual(['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj']);
    expect(ac.r).toBe(3);
    expect(ac.lora_alpha).toBe(ac.r);
    const ad = safetensorsInfo(path.join(out, 'adapter', 'adapter_model.safetensors'));
    expect(ad.tensors).toHaveLength(2 * 7 * L);
    const cfg = JSON.parse(fs.readFileSync(path.join(src, 'config.json'), 'utf8'));
    const a = ad.tensors.find((t) => t.name === 'base_model.model.model.layers.0.mlp.down_proj.lora_A.weight')!;
    const b = ad.tensors.find((t) => t.name === 'base_model.model.model.layers.0.mlp.down_proj.lora_B.weight')!;
    expect(a.shape).toEqual([3, cfg.intermediate_size]);
    expect(b.shape).toEqual([cfg.hidden_size, 3]);
    // no run record or stream is left in a finished folder
    expect(fs.existsSync(path.join(out, '.ntensor-compress'))).toBe(false);
    const q = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).quantization_config;
    expect(q).toMatchObject({ quant_method: 'gptq', bits: 4, group_size: 32, sym: false });
    expect(memory().bytes).toBe(base);
  });

  test('the report splits the wall time by stage, and each stage the options use took time', () => {
    const src = writeTiny(path.join(tmp, 'stages-src'), { max_position_embeddings: 64 }, { seed: 3 }).dir;
    const r = compressCheckpoint(src, path.join(tmp, 'stages'), { quantizer: 'gptq', groupSize: 32, rank: 2, calibration: ids, calibrationWindow: 32 });
    const s = r.report.stages;
    const sum = Object.values(s).reduce((a, b) => a + b, 0);
    expect(sum).toBeCloseTo(r.report.seconds, 2);
    for (const k of ['embed', 'forward', 'covariance', 'eigh', 'quantize', 'svd', 'write'] as const) expect({ k, positive: s[k] > 0 }).toEqual({ k, positive: true });
    expect(s.prune).toBe(0);
    expect(s.measure).toBe(0);
  });

  test.each(['layer-sequential', 'sequential'] as const)('async equals sync byte for byte (%s) and the event loop keeps turning', async (mode) => {
    const src = writeTiny(path.join(tmp, `async-src-${mode}`), { max_position_embeddings: 64 }, { seed: 5 }).dir;
    const opts = { quantizer: 'gptq' as const, groupSize: 32 as const, rank: 2, calibration: ids, calibrationWindow: 32, mode };
    const [syncOut, asyncOut] = [path.join(tmp, `sync-${mode}`), path.join(tmp, `async-${mode}`)];
    compressCheckpoint(src, syncOut, opts);
    let ticks = 0;
    const timer = setInterval(() => ++ticks, 0);
    try {
      await compressCheckpointAsync(src, asyncOut, opts);
    } finally {
      clearInterval(timer);
    }
    expect(ticks).toBeGreaterThan(3);
    // the adapter config names its own folder; everything else is the same bytes
    fs.rmSync(path.join(syncOut, 'adapter', 'adapter_config.json'));
    fs.rmSync(path.join(asyncOut, 'adapter', 'adapter_config.json'));
    expectSameTree(syncOut, asyncOut);
  });

  test('parallel mode calibrates every layer on the original model: a layer range equals the same layers of a full parallel run', () => {
    const src = writeTiny(path.join(tmp, 'par-src'), { max_position_embeddings: 64, num_hidden_layers: 3 }, { seed: 9 }).dir;
    const opts = { quantizer: 'gptq' as const, groupSize: 32 as const, rank: 2, calibration: ids, calibrationWindow: 32 };
    const full = compressCheckpoint(src, path.join(tmp, 'par-full'), { ...opts, mode: 'parallel' });
    const part = compressCheckpoint(src, path.join(tmp, 'par-12'), { ...opts, layers: [1, 3] });
    expect(part.kind).toBe('shard');
    expect(part.layers).toEqual([1, 3]);
    for (const f of ['model-00003-of-00004.safetensors', 'model-00004-of-00004.safetensors'])
      expect(fs.readFileSync(path.join(tmp, 'par-12', f)).equals(fs.readFileSync(path.join(tmp, 'par-full', f)))).toBe(true);
    expect(fs.existsSync(path.join(tmp, 'par-12', 'config.json'))).toBe(false);
    expect(fs.existsSync(path.join(tmp, 'par-12', 'shard.json'))).toBe(true);
    // sequential (true-sequential) and parallel agree on what sees the original embeddings only:
    // layer 0's q/k/v; o_proj already sees the compressed q/k/v, later layers compressed layers.
    // layer-sequential captures all of layer 0 on the original embeddings: its whole shard is parallel's
    compressCheckpoint(src, path.join(tmp, 'par-seq'), { ...opts, mode: 'sequential' });
    compressCheckpoint(src, path.join(tmp, 'par-lseq'), { ...opts, mode: 'layer-sequential' });
    const shardBytes = (dir: string, i: number) => fs.readFileSync(path.join(tmp, dir, `model-0000${i}-of-00004.safetensors`));
    expect(shardBytes('par-lseq', 2).equals(shardBytes('par-full', 2))).toBe(true);
    expect(shardBytes('par-lseq', 3).equals(shardBytes('par-full', 3))).toBe(false);
    const shard0 = (dir: string) => loadSafetensors(path.join(tmp, dir, 'model-00002-of-00004.safetensors'));
    const [seq0, par0] = [shard0('par-seq'), shard0('par-full')];
    const same = (name: string) => Buffer.from(seq0[name].data.buffer, seq0[name].data.byteOffset, seq0[name].data.byteLength).equals(Buffer.from(par0[name].data.buffer, par0[name].data.byteOffset, par0[name].data.byteLength));
    for (const n of ['q_proj', 'k_proj', 'v_proj']) expect(same(`model.layers.0.self_attn.${n}.qweight`)).toBe(true);
    expect(same('model.layers.0.self_attn.o_proj.qweight') && same('model.layers.0.self_attn.o_proj.scales')).toBe(false);
    expect(same('model.layers.0.mlp.down_proj.qweight') && same('model.layers.0.mlp.down_proj.scales')).toBe(false);
    [...Object.values(seq0), ...Object.values(par0)].forEach((t) => t.dispose());
    expect(full.report.stages.forward).toBeGreaterThan(0);
  });

  test('refusals are coded and leave the output folder as it was', () => {
    const src = writeTiny(path.join(tmp, 'bad-src'), { max_position_embeddings: 64 }, { seed: 2 }).dir;
    const opts = { groupSize: 32 as const, rank: 2, calibration: ids };
    const out = path.join(tmp, 'bad-out');
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'keep.txt'), 'mine');
    const cases: [() => unknown, string, RegExp][] = [
      [() => compressCheckpoint(src, out, { ...opts, layers: [1, 1] }), 'NT_VALUE', /layers must be \[first, end\)/],
      [() => compressCheckpoint(src, out, { ...opts, layers: [0, 9] }), 'NT_VALUE', /0 <= first < end <= 2/],
      [() => compressCheckpoint(src, out, { ...opts, layers: [0, 1], mode: 'sequential' }), 'NT_VALUE', /needs mode 'parallel'/],
      [() => compressCheckpoint(src, out, { ...opts, layers: [0, 1], mode: 'layer-sequential' }), 'NT_VALUE', /needs mode 'parallel': in layer-sequential mode/],
      [() => compressCheckpoint(src, out, { ...opts, mode: 'both' as never }), 'NT_VALUE', /mode must be/],
      [() => compressCheckpoint(src, out, { ...opts, resume: 'yes' as never }), 'NT_VALUE', /resume must be a boolean/],
      [() => compressCheckpoint(src, src, opts), 'NT_VALUE', /must not be the source folder/],
      [() => compressCheckpoint(src, out, { ...opts, rank: 0 }), 'NT_VALUE', /rank must be a positive integer/],
      [() => compressCheckpoint(path.join(tmp, 'missing'), out, opts), 'NT_IO', /missing/],
      [() => compressCheckpoint(src, '', opts), 'NT_VALUE', /outDir must be a folder path/],
    ];
    for (const [fn, code, re] of cases) {
      const e = errorOf(fn);
      expect({ code: e.code, message: e.message }).toEqual({ code, message: expect.stringMatching(re) });
    }
    expect(fs.readdirSync(out)).toEqual(['keep.txt']);
  });

  test('quantizeHead: lm_head as int4 GPTQ tensors under quantization_config.lm_head; the folder reloads to the in-memory model with the same head quantization, bit for bit; shards merge to the same bytes', () => {
    const src = writeTiny(path.join(tmp, 'head-src'), { max_position_embeddings: 64, vocab_size: 80 }, { dtype: 'bf16', seed: 13 }).dir;
    const opts = { bits: 4 as const, groupSize: 32 as const, quantizer: 'gptq' as const, method: 'eora' as const, rank: 2, calibration: ids, calibrationWindow: 32, mode: 'parallel' as const };
    // reference: the in-memory pipeline, then lm_head replaced by the RTN quantization of the stored head
    const inMemory = load(src);
    compressModel(inMemory, opts);
    const stored = loadSafetensors(src, { names: ['lm_head.weight'] })['lm_head.weight'];
    inMemory.setLinear('lm_head', new QuantLinear(quantize(stored, { bits: 4, groupSize: 32, symmetric: false }))).dispose();
    stored.dispose();
    const l = inMemory.forward(probe);
    const expected = values(l);
    l.dispose();
    inMemory.dispose();

    const out = path.join(tmp, 'head-out');
    const r = compressCheckpoint(src, out, { ...opts, quantizeHead: true });
    const [V, H, G] = [80, 16, 1]; // one group: the 32-column group spans the 16 columns
    expect(r.head).toEqual({ quantized: true, sourceBytes: V * H * 2, bytes: expect.any(Number) });
    // qweight [H/8, V] + qzeros [G, V/8] i32, scales [G, V] f16, g_idx [H] i32
    expect(r.head!.bytes).toBe(((H / 8) * V + G * (V / 8)) * 4 + G * V * 2 + H * 4);
    expect(logits(out)).toEqual(expected);
    const cfg = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
    expect(cfg.quantization_config).toMatchObject({ quant_method: 'gptq', bits: 4, group_size: 32, lm_head: true });
    const index = JSON.parse(fs.readFileSync(path.join(out, 'model.safetensors.index.json'), 'utf8'));
    expect(Object.keys(index.weight_map).filter((n) => n.startsWith('lm_head.')).sort()).toEqual(['lm_head.g_idx', 'lm_head.qweight', 'lm_head.qzeros', 'lm_head.scales']);
    // two shards merged into the same folder path (the adapter config names it): the single run's bytes
    const shards = [[0, 1], [1, 2]].map(([a, b]) => {
      const dir = path.join(tmp, `head-shard-${a}`);
      compressCheckpoint(src, dir, { ...opts, quantizeHead: true, layers: [a, b] as [number, number] });
      return dir;
    });
    fs.renameSync(out, path.join(tmp, 'head-single'));
    const merged = mergeCompressedShards(shards, out);
    expect(merged.head).toEqual(r.head);
    expectSameTree(path.join(tmp, 'head-single'), out);
    // without the option the head stays in the source dtype; resuming a shard run with it is refused
    const plain = compressCheckpoint(src, path.join(tmp, 'head-plain'), opts);
    expect(plain.head).toEqual({ quantized: false, bytes: V * H * 2, sourceBytes: V * H * 2 });
    compressCheckpoint(src, path.join(tmp, 'head-plain-shard'), { ...opts, layers: [0, 2] });
    const e = errorOf(() => compressCheckpoint(src, path.join(tmp, 'head-plain-shard'), { ...opts, layers: [0, 2], quantizeHead: true, resume: true }));
    expect({ code: e.code, message: e.message }).toEqual({ code: 'NT_VALUE', message: expect.stringMatching(/differs in options\.quantizeHead \(false vs true\)/) });
  });

  test('an already compressed folder as the source, or bits other than 4: NT_UNSUPPORTED before anything is written', () => {
    const src = writeTiny(path.join(tmp, 'requant-src'), { max_position_embeddings: 64 }, { seed: 31 }).dir;
    const first = path.join(tmp, 'requant-first');
    compressCheckpoint(src, first, { bits: 4, groupSize: 32, calibration: ids, calibrationWindow: 32, method: 'none' });
    const out = path.join(tmp, 'requant-second');
    const e = errorOf(() => compressCheckpoint(first, out, { bits: 4, groupSize: 32, calibration: ids, calibrationWindow: 32 }));
    expect({ code: e.code, message: e.message }).toEqual({ code: 'NT_UNSUPPORTED', message: expect.stringMatching(/requant-first is already quantized \(quantization_config in config\.json, 4-bit GPTQ\): compress the original checkpoint/) });
    expect(fs.existsSync(out)).toBe(false);
    // bits the folder format cannot hold: refused before the first layer runs, nothing written
    const e8 = errorOf(() => compressCheckpoint(src, out, { bits: 8, groupSize: 32, calibration: ids, calibrationWindow: 32 }));
    expect({ code: e8.code, message: e8.message }).toEqual({ code: 'NT_UNSUPPORTED', message: expect.stringMatching(/bits 8: the GPTQ folder format is written for 4-bit weights/) });
    expect(fs.existsSync(out)).toBe(false);
  });

  test('quantizeHead refusals: not a boolean, nothing quantized, tied embeddings; a folder claiming a quantized tied head is refused on load', () => {
    const untied = writeTiny(path.join(tmp, 'head-bad-src'), { max_position_embeddings: 64 }, { seed: 14 }).dir;
    const tied = writeTiny(path.join(tmp, 'head-tied-src'), { max_position_embeddings: 64, tie_word_embeddings: true }, { seed: 15 }).dir;
    const opts = { groupSize: 32 as const, rank: 2, calibration: ids };
    const out = path.join(tmp, 'head-bad-out');
    const cases: [() => unknown, string, RegExp][] = [
      [() => compressCheckpoint(untied, out, { ...opts, quantizeHead: 1 as never }), 'NT_VALUE', /quantizeHead must be a boolean/],
      [() => compressCheckpoint(untied, out, { ...opts, bits: null, sparsity: '2:4', quantizeHead: true }), 'NT_VALUE', /quantizeHead quantizes lm_head with the run's bits/],
      [() => compressCheckpoint(tied, out, { ...opts, quantizeHead: true }), 'NT_UNSUPPORTED', /ties lm_head to the embeddings/],
    ];
    for (const [fn, code, re] of cases) {
      const e = errorOf(fn);
      expect({ code: e.code, message: e.message }).toEqual({ code, message: expect.stringMatching(re) });
    }
    expect(fs.existsSync(out)).toBe(false);
    // a GPTQ folder of the tied model that claims lm_head quantized
    const folder = path.join(tmp, 'head-tied-out');
    compressCheckpoint(tied, folder, { ...opts, method: 'none' });
    const cfgFile = path.join(folder, 'config.json');
    const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
    fs.writeFileSync(cfgFile, JSON.stringify({ ...cfg, quantization_config: { ...cfg.quantization_config, lm_head: true } }));
    const e = errorOf(() => load(folder));
    expect({ code: e.code, message: e.message }).toEqual({ code: 'NT_UNSUPPORTED', message: expect.stringMatching(/lm_head is set but the embeddings are tied/) });
    fs.writeFileSync(cfgFile, JSON.stringify({ ...cfg, quantization_config: { ...cfg.quantization_config, lm_head: 'yes' } }));
    expect(errorOf(() => load(folder)).code).toBe('NT_IO');
  });

  test('resume refuses a run with other options, and a resumed finished run rewrites the same folder', () => {
    const src = writeTiny(path.join(tmp, 'res-src'), { max_position_embeddings: 64 }, { seed: 4 }).dir;
    const opts = { quantizer: 'gptq' as const, groupSize: 32 as const, rank: 2, calibration: ids, calibrationWindow: 32 };
    const out = path.join(tmp, 'res');
    compressCheckpoint(src, out, { ...opts, layers: [0, 2] });
    const before = tree(out);
    const again = compressCheckpoint(src, out, { ...opts, layers: [0, 2], resume: true });
    expect(again.resumedLayers).toBe(2);
    expect(again.report.layers).toHaveLength(14);
    const after = tree(out);
    for (const [k, v] of before) expect(v.equals(after.get(k)!)).toBe(true);
    const e = errorOf(() => compressCheckpoint(src, out, { ...opts, rank: 3, layers: [0, 2], resume: true }));
    expect(e.code).toBe('NT_VALUE');
    expect(e.message).toMatch(/cannot resume in .*: the run there differs in options\.rank \(2 vs 3\)/);
    const e2 = errorOf(() => compressCheckpoint(src, out, { ...opts, calibration: ids.slice(1), layers: [0, 2], resume: true }));
    expect(e2.message).toMatch(/differs in calibration\./);
  });
});

describe('mergeCompressedShards', () => {
  const src = () => FIXTURE;
  const calib = () => {
    const f = path.join(tmp, 'calib.txt');
    if (!fs.existsSync(f)) fs.writeFileSync(f, fs.readFileSync(HELDOUT).subarray(0, 1024));
    return f;
  };
  const common = ['--quantizer', 'gptq', '--rank', '8', '--calib-tokens', '1024'];

  test('4 shard processes (job-array indices from JOB_COMPLETION_INDEX / SLURM_ARRAY_TASK_ID) merge to the bytes of one parallel run', async () => {
    const shardsDir = path.join(tmp, 'shards');
    const runs = [0, 1, 2, 3].map(
      (i) =>
        new Promise<{ code: number | null; stderr: string }>((resolve) => {
          const env = { ...process.env, ...(i % 2 === 0 ? { JOB_COMPLETION_INDEX: String(i) } : { SLURM_ARRAY_TASK_ID: String(i) }) };
          const child = spawn(process.execPath, [CLI, 'compress', '--model', src(), '--text', calib(), ...common, '--shards', '4', '--out', shardsDir], { env, stdio: ['ignore', 'ignore', 'pipe'] });
          let stderr = '';
          child.stderr.on('data', (d) => (stderr += d));
          child.on('close', (code) => resolve({ code, stderr }));
        }),
    );
    const results = await Promise.all(runs);
    results.forEach((r, i) => {
      expect({ i, code: r.code, stderr: r.code === 0 ? '' : r.stderr }).toEqual({ i, code: 0, stderr: '' });
      expect(r.stderr).toMatch(new RegExp(`shard ${i} of 4 \\(from ${i % 2 === 0 ? 'JOB_COMPLETION_INDEX' : 'SLURM_ARRAY_TASK_ID'}\\): layers ${i}\\.\\.${i}`));
    });
    const merged = path.join(tmp, 'merged');
    // the single-process run writes the same folder path first (the adapter config names it)
    const single = spawnSync(process.execPath, [CLI, 'compress', '--model', src(), '--text', calib(), ...common, '--mode', 'parallel', '--out', merged], { encoding: 'utf8' });
    expect(single.status).toBe(0);
    fs.renameSync(merged, path.join(tmp, 'single'));
    const shardFolders = [3, 1, 0, 2].map((i) => path.join(shardsDir, `shard-${i}-of-4`));
    const m = spawnSync(process.execPath, [CLI, 'merge', '--out', merged, ...shardFolders], { encoding: 'utf8' });
    expect(m.stderr).toBe('');
    expect(m.status).toBe(0);
    expectSameTree(path.join(tmp, 'single'), merged);
  }, 120000);

  test('refusals: unfinished, overlapping, missing or differently compressed shards, a hostile record', () => {
    const shardsDir = path.join(tmp, 'shards');
    const s = (i: number) => path.join(shardsDir, `shard-${i}-of-4`);
    const out = path.join(tmp, 'merge-bad');
    const cases: [() => unknown, string, RegExp][] = [
      [() => mergeCompressedShards([], out), 'NT_VALUE', /non-empty array/],
      [() => mergeCompressedShards([s(0), s(1), s(2)], out), 'NT_VALUE', /layers 3\.\.3 are in none/],
      [() => mergeCompressedShards([s(0), s(2), s(3)], out), 'NT_VALUE', /layers 1\.\.1 are in none/],
      [() => mergeCompressedShards([s(0), s(0), s(1), s(2), s(3)], out), 'NT_VALUE', /layer 0 is in two shards/],
      [() => mergeCompressedShards([s(0), s(1), s(2), s(3)], s(1)), 'NT_VALUE', /must not be one of the shards/],
      [() => mergeCompressedShards([path.join(tmp, 'single'), s(1)], out), 'NT_IO', /is not a finished shard/],
      [() => mergeCompressedShards([s(0), s(1), s(2), s(3)], out, { model: path.join(PACKAGE_ROOT, 'fixtures', 'gguf', 'tiny-llama-q4_0.gguf') }), 'NT_UNSUPPORTED', /tiny-llama-q4_0\.gguf is a file, not a safetensors checkpoint folder: the output is built from its config\.json and safetensors/],
    ];
    // a shard compressed with another rank
    const odd = path.join(tmp, 'odd-shard');
    compressCheckpoint(FIXTURE, odd, { quantizer: 'gptq', rank: 4, calibration: Int32Array.from(fs.readFileSync(HELDOUT).subarray(0, 1024)), layers: [3, 4] });
    cases.push([() => mergeCompressedShards([s(0), s(1), s(2), odd], out), 'NT_VALUE', /compressed differently .*options\.rank \(8 vs 4\)/]);
    // a record that is not one
    const hostile = path.join(tmp, 'hostile');
    fs.cpSync(s(3), hostile, { recursive: true });
    fs.writeFileSync(path.join(hostile, '.ntensor-compress', 'run.json'), JSON.stringify({ format: 'ntensor-compress-run/1', layers: [3, 99] }));
    cases.push([() => mergeCompressedShards([s(0), s(1), s(2), hostile], out), 'NT_IO', /is not an ntensor compression record/]);
    const hostile2 = path.join(tmp, 'hostile2');
    fs.cpSync(s(3), hostile2, { recursive: true });
    fs.writeFileSync(path.join(hostile2, '.ntensor-compress', 'layer-00003.json'), JSON.stringify({ layer: 3, file: '../../etc/passwd', tensors: [], bytes: 0, formats: [], adapter: false, reports: [] }));
    cases.push([() => mergeCompressedShards([s(0), s(1), s(2), hostile2], out), 'NT_IO', /is not the record of layer 3/]);
    for (const [fn, code, re] of cases) {
      const e = errorOf(fn);
      expect({ code: e.code, message: e.message }).toEqual({ code, message: expect.stringMatching(re) });
    }
    expect(fs.existsSync(path.join(out, 'config.json'))).toBe(false);
  });
});

describe('a run killed with SIGKILL resumes to the same bytes', () => {
  test('kills at seeded random points, each resumed with --resume; no file is ever half-written under its final name', async () => {
    const calibFile = path.join(tmp, 'kill-calib.txt');
    fs.writeFileSync(calibFile, fs.readFileSync(HELDOUT).subarray(0, 1536));
    const args = (out: string, resume: boolean) => [CLI, 'compress', '--model', FIXTURE, '--text', calibFile, '--quantizer', 'gptq', '--rank', '8', '--out', out, ...(resume ? ['--resume'] : [])];
    const reference = path.join(tmp, 'kill-ref');
    expect(spawnSync(process.execPath, args(reference, false), { encoding: 'utf8' }).status).toBe(0);

    const out = path.join(tmp, 'kill-out');
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    let kills = 0;
    for (let attempt = 0; attempt < 12; ++attempt) {
      // the k-th progress tick (one per linear, 28 in all), then a random delay: lands anywhere in a layer's work or its writes
      const killAtTick = 1 + Math.floor(rand() * 26);
      const delayMs = Math.floor(rand() * 40);
      const outcome = await new Promise<'killed' | 'finished'>((resolve, reject) => {
        const child = spawn(process.execPath, args(out, attempt > 0), { stdio: ['ignore', 'ignore', 'pipe'] });
        let ticks = 0;
        let killed = false;
        // on a pipe the bar prints a line per 10%: "compress  32% 9/28 ..."
        child.stderr.on('data', (d: Buffer) => {
          for (const m of d.toString().matchAll(/compress +\d+% +(\d+)\/28/g)) ticks = Math.max(ticks, Number(m[1]));
          if (!killed && ticks >= killAtTick) {
            killed = true;
            setTimeout(() => child.kill('SIGKILL'), delayMs);
          }
        });
        child.on('error', reject);
        child.on('close', (code, signal) => {
          if (signal === 'SIGKILL') resolve('killed');
          else if (code === 0) resolve('finished');
          else reject(new Error(`compress exited with ${code}`));
        });
      });
      if (outcome === 'finished') break;
      ++kills;
      // what a killed run leaves: complete files only; no config.json (the folder does not load yet)
      expect(fs.existsSync(path.join(out, 'config.json'))).toBe(false);
      for (const f of fs.readdirSync(out).filter((n) => n.endsWith('.safetensors'))) {
        const info = safetensorsInfo(path.join(out, f));
        expect(info.fileBytes).toBe(Math.max(8 + info.headerBytes, ...info.tensors.map((t) => t.byteOffset + t.byteLength)));
      }
    }
    expect(kills).toBeGreaterThanOrEqual(3);
    if (!fs.existsSync(path.join(out, 'config.json'))) expect(spawnSync(process.execPath, args(out, true), { encoding: 'utf8' }).status).toBe(0);
    // the adapter config names its folder: compare it apart
    const cfg = (d: string) => ({ ...JSON.parse(fs.readFileSync(path.join(d, 'adapter', 'adapter_config.json'), 'utf8')), base_model_name_or_path: null });
    expect(cfg(out)).toEqual(cfg(reference));
    fs.rmSync(path.join(out, 'adapter', 'adapter_config.json'));
    fs.rmSync(path.join(reference, 'adapter', 'adapter_config.json'));
    expectSameTree(reference, out);
    // leftovers of killed writers (temporary files) are not part of the output
    expect(fs.readdirSync(out).filter((f) => f.includes('.tmp'))).toEqual([]);
  }, 240000);
});
