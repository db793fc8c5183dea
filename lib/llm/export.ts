// Writing a compressed model where other tools can read it, and reading adapters back:
//   <out>/config.json            the source config + quantization_config (quant_method "gptq")
//   <out>/model.safetensors      qweight / qzeros / scales / g_idx for every int4 linear (the
//                                AutoGPTQ layout, see lib/quant/gptq-format.ts), dense weights
//                                for the rest (embeddings, norms, lm_head, pruned-only linears)
//   <out>/adapter/               the low-rank corrections as a PEFT LoRA folder
// nt.model.load(<out>) reloads the int4 model and applyAdapter(model, <out>/adapter) its adapters.
// The folder is replaced as a whole (replaceFolderUnits): the files are staged and fsynced
// inside <out> first; then config.json and adapter/adapter_config.json, the files that make
// each part loadable, are removed before anything else changes and put back, new, last. A
// failed or killed save leaves either the old folder, or one whose model (and adapter) do
// not load (NT_IO, no config), or the new folder; never old weights with a new config.
import * as fs from 'fs';
import * as path from 'path';
import { ntError } from '../errors';
import { FolderUnit, checkInsideFolder, checkPath, replaceFolderUnits, writeFileAtomic } from '../io/common';
import { loadSafetensors, saveSafetensors } from '../io/safetensors';
import { DenseLinear, LinearLike, LoraLinear, QuantLinear } from '../model/linear';
import type { LlamaModel } from '../model/model';
import { toGptq } from '../quant/gptq-format';
import type { Tensor } from '../tensor';
import { tensor, zeros } from '../creation';
import { requireCheckpointFolder } from '../model/load-gguf';
import { fusedLinears } from '../model/weights';
import { LoraFactors, loadLoraAdapter, saveLoraAdapter } from './adapter';

export interface SaveCompressedOptions {
  /** Extra strings for the safetensors header (method, rank, calibration ...). */
  metadata?: Record<string, string>;
  /**
   * Largest weights file (default 5 GiB, transformers' max_shard_size): above it the weights
   * go to model-0000i-of-0000N.safetensors shards with a model.safetensors.index.json.
   */
  maxShardBytes?: number;
}

export interface SavedCompressed {
  weightsFile: string;
  adapterDir: string | null;
  quantizedLinears: number;
  adapters: number;
  /** How lm_head was written: tied to the embeddings (nothing stored), dense, or int4 GPTQ tensors (quantization_config.lm_head). */
  head: 'tied' | 'dense' | 'int4';
}

const OP = 'llm.saveCompressed';

export interface QuantFormat {
  bits: number;
  /** -1: one group per row (GPTQ's convention). */
  groupSize: number;
  symmetric: boolean;
  actOrder: boolean;
}

export const DEFAULT_MAX_SHARD_BYTES = 5 * 2 ** 30;
export const INDEX_FILE = 'model.safetensors.index.json';
const SHARD_NAME = /^model-\d{5}-of-\d{5}\.safetensors$/;

/** The tensors split, in order, into files of at most maxBytes (one file when they fit), named as transformers names them. */
function shardTensors(tensors: Record<string, Tensor>, maxBytes: number): { file: string; tensors: Record<string, Tensor>; bytes: number }[] {
  if (!Number.isFinite(maxBytes) || maxBytes < 1) throw ntError('NT_VALUE', `[${OP}] maxShardBytes must be a positive number of bytes, got ${String(maxBytes)}`);
  const groups: { tensors: Record<string, Tensor>; bytes: number }[] = [{ tensors: {}, bytes: 0 }];
  for (const [name, t] of Object.entries(tensors)) {
    const bytes = t.data.byteLength;
    let g = groups[groups.length - 1];
    if (g.bytes > 0 && g.bytes + bytes > maxBytes) groups.push((g = { tensors: {}, bytes: 0 }));
    g.tensors[name] = t;
    g.bytes += bytes;
  }
  const n = groups.length;
  const pad = (i: number) => String(i).padStart(5, '0');
  return groups.map((g, i) => ({ ...g, file: n === 1 ? 'model.safetensors' : `model-${pad(i + 1)}-of-${pad(n)}.safetensors` }));
}

/** Weights files of an older save that the new one does not write (a stale index or single file would shadow or pair with it). */
function obsoleteWeights(outDir: string, written: readonly string[]): string[] {
  const old = fs.existsSync(outDir) ? fs.readdirSync(outDir).filter((f) => SHARD_NAME.test(f) || f === 'model.safetensors' || f === INDEX_FILE) : [];
  const keep = new Set(written);
  if (written.length > 1) keep.add(INDEX_FILE);
  return [...new Set([...old, INDEX_FILE, 'model.safetensors'])].filter((f) => !keep.has(f));
}

/** Copies `parts` side by side along `axis` (0: rows, 1: columns) into one new tensor. */
function concat(parts: readonly Tensor[], axis: 0 | 1): Tensor {
  const shape = [...parts[0].shape];
  shape[axis] = parts.reduce((s, t) => s + t.shape[axis], 0);
  const out = zeros(shape, parts[0].dtype);
  let at = 0;
  for (const t of parts) {
    const range: [number, number] = [at, at + t.shape[axis]];
    const dst = axis === 0 ? out.slice(range) : out.slice(null, range);
    try {
      t.astype(t.dtype, { out: dst });
    } finally {
      dst.dispose();
    }
    at = range[1];
  }
  return out;
}

/**
 * Phi-3 checkpoints store q/k/v as one qkv_proj and gate/up as one gate_up_proj, and that is
 * what the loader reads: the compressed parts are fused back (dense weights row after row;
 * GPTQ qweight, scales and qzeros column after column, g_idx shared) under the stored name.
 */
function fuseStoredLinears(model: LlamaModel, tensors: Record<string, Tensor>, temps: Tensor[], among: ReadonlySet<string>): void {
  for (const f of fusedLinears(model.config)) {
    if (!f.parts.some((p) => among.has(p.name))) continue;
    const dense = f.parts.every((p) => tensors[`${p.name}.weight`] !== undefined);
    const gptq = f.parts.every((p) => tensors[`${p.name}.qweight`] !== undefined);
    if (!dense && !gptq)
      throw ntError('NT_UNSUPPORTED', `[${OP}] ${f.stored}: its parts (${f.parts.map((p) => p.name.split('.').pop()).join(', ')}) must all be int4 or all dense to be stored fused, as Phi-3 checkpoints are`);
    // qzeros pack 8 columns per int32: a part must fill whole words
    const split = f.parts.find((p) => (p.rows[1] - p.rows[0]) % 8 !== 0);
    if (gptq && split) throw ntError('NT_UNSUPPORTED', `[${OP}] ${split.name}: ${split.rows[1] - split.rows[0]} columns do not fill whole packed qzeros words of the fused ${f.stored}`);
    const kinds = dense ? ['weight'] : ['qweight', 'qzeros', 'scales'];
    for (const kind of kinds) {
      const fused = concat(f.parts.map((p) => tensors[`${p.name}.${kind}`]), kind === 'weight' ? 0 : 1);
      temps.push(fused);
      tensors[`${f.stored}.${kind}`] = fused;
    }
    if (gptq) {
      const gIdx = tensors[`${f.parts[0].name}.g_idx`];
      tensors[`${f.stored}.g_idx`] = gIdx;
      const same = (t: Tensor) => t.shape[0] === gIdx.shape[0] && (t.data as Int32Array).every((v, i) => v === (gIdx.data as Int32Array)[i]);
      if (!f.parts.every((p) => same(tensors[`${p.name}.g_idx`])))
        throw ntError('NT_UNSUPPORTED', `[${OP}] ${f.stored}: its parts have different column orders (g_idx) and cannot share one fused GPTQ tensor`);
    }
    for (const p of f.parts) for (const kind of [...kinds, 'g_idx']) delete tensors[`${p.name}.${kind}`];
  }
}

/** The stored tensors of some compressed linears (GPTQ layout or dense), their adapters and quantization formats. */
export interface StoredLinears {
  tensors: Record<string, Tensor>;
  adapters: Record<string, LoraFactors>;
  formats: QuantFormat[];
}

/**
 * The tensors that store `names` (decoder linears of `model`, compressed in place): GPTQ
 * qweight/qzeros/scales/g_idx for int4, the weight for dense ones, Phi-3's parts fused back.
 * New tensors are pushed to `temps` (the caller disposes them after writing).
 */
export function storedLinears(model: LlamaModel, names: readonly string[], temps: Tensor[], op = OP): StoredLinears {
  const tensors: Record<string, Tensor> = {};
  const adapters: Record<string, LoraFactors> = {};
  const formats: QuantFormat[] = [];
  for (const name of names) {
    let lin: LinearLike = model.getLinear(name);
    if (lin instanceof LoraLinear) {
      adapters[name] = { A: lin.A, B: lin.B };
      lin = lin.base;
    }
    if (lin instanceof QuantLinear) {
      const q = lin.q;
      const format = { bits: q.bits, groupSize: q.groupSize === q.shape[1] ? -1 : q.groupSize, symmetric: q.symmetric, actOrder: q.gIdx !== null };
      if (format.bits !== 4) throw ntError('NT_UNSUPPORTED', `[${op}] ${name}: the GPTQ folder format is written for 4-bit weights, got ${q.bits} bits`);
      if (formats.length > 0 && (formats[0].groupSize !== format.groupSize || formats[0].symmetric !== format.symmetric))
        throw ntError('NT_UNSUPPORTED', `[${op}] ${name}: every linear must share one group size and symmetry in a GPTQ folder`);
      formats.push(format);
      const g = toGptq(q);
      temps.push(g.qweight, g.qzeros, g.scales, g.g_idx);
      tensors[`${name}.qweight`] = g.qweight;
      tensors[`${name}.qzeros`] = g.qzeros;
      tensors[`${name}.scales`] = g.scales;
      tensors[`${name}.g_idx`] = g.g_idx;
    } else if (lin instanceof DenseLinear) {
      tensors[`${name}.weight`] = lin.weight;
    } else {
      throw ntError('NT_UNSUPPORTED', `[${op}] ${name}: cannot save a ${lin.constructor.name}`);
    }
  }
  fuseStoredLinears(model, tensors, temps, new Set(names));
  fuseAdapters(model, adapters, temps, new Set(names));
  return { tensors, adapters, formats };
}

/**
 * Phi-3's fused modules carry their parts' adapters as one LoRA, the module PEFT knows:
 * A = the parts' A stacked [Σ r_p, d_in], B [d_out, Σ r_p] = each part's B in its own rows and
 * columns, zero elsewhere. Exact (the rank is the sum); applyAdapter splits it back.
 */
function fuseAdapters(model: LlamaModel, adapters: Record<string, LoraFactors>, temps: Tensor[], among: ReadonlySet<string>): void {
  for (const f of fusedLinears(model.config)) {
    const parts = f.parts.filter((p) => among.has(p.name) && adapters[p.name] !== undefined);
    if (parts.length === 0) continue;
    const A = concat(parts.map((p) => adapters[p.name].A), 0);
    temps.push(A);
    const B = zeros([f.shape[0], A.shape[0]], 'f32');
    temps.push(B);
    let col = 0;
    for (const p of parts) {
      const b = adapters[p.name].B;
      const dst = B.slice([p.rows[0], p.rows[1]], [col, col + b.shape[1]]);
      try {
        b.astype('f32', { out: dst });
      } finally {
        dst.dispose();
      }
      col += b.shape[1];
      delete adapters[p.name];
    }
    adapters[f.stored] = { A, B };
  }
}

const baseOf = (lin: LinearLike): LinearLike => (lin instanceof LoraLinear ? lin.base : lin);

/** The tensors a linear named n may be stored as: dense, or GPTQ's four. */
const linearTensorNames = (n: string): string[] => ['weight', 'qweight', 'qzeros', 'scales', 'g_idx'].map((k) => `${n}.${k}`);

/**
 * Names of the stored (checkpoint) tensors that hold decoder linears, dense or GPTQ (a folder
 * saved before): the compressed output replaces them, so a source's stale form never rides along.
 */
export function storedLinearWeightNames(model: LlamaModel): Set<string> {
  return new Set([...model.linears(), ...fusedLinears(model.config).map((f) => f.stored)].flatMap(linearTensorNames));
}

/**
 * lm_head as the model runs it: nothing when tied (config.json ties it to the embeddings), the
 * dense weight, or GPTQ tensors (quantized: true) in the folder's one format. A head the folder
 * cannot hold (tied but replaced, int8, another grid) is refused, never
 * silently written as the source's.
 */
function storedHead(model: LlamaModel, formats: QuantFormat[], temps: Tensor[]): { tensors: Record<string, Tensor>; quantized: boolean; adapter: LoraFactors | null } {
  const outer = model.getLinear('lm_head');
  // a LoRA on the head (applyAdapter of a PEFT adapter that targets lm_head) goes to the adapter folder
  const adapter = outer instanceof LoraLinear ? { A: outer.A, B: outer.B } : null;
  const head = baseOf(outer);
  const hint = 'save before replacing the head (model.quantizeHead quantizes it again after loading)';
  if (model.config.tieWordEmbeddings) {
    if (head instanceof DenseLinear) return { tensors: {}, quantized: false, adapter };
    throw ntError('NT_UNSUPPORTED', `[${OP}] lm_head is tied to the embeddings (config.json), and a tied head cannot be stored as a ${head.constructor.name}: ${hint}`);
  }
  if (head instanceof DenseLinear) return { tensors: { 'lm_head.weight': head.weight }, quantized: false, adapter };
  if (!(head instanceof QuantLinear))
    throw ntError('NT_UNSUPPORTED', `[${OP}] lm_head is a ${head.constructor.name}: a GPTQ folder stores a dense (DenseLinear) or a 4-bit (QuantLinear) head`);
  if (formats.length === 0) throw ntError('NT_UNSUPPORTED', `[${OP}] lm_head is quantized but no decoder linear is: a GPTQ folder quantizes the decoder first; ${hint}`);
  if (head.q.bits !== 4) throw ntError('NT_UNSUPPORTED', `[${OP}] lm_head is quantized to ${head.q.bits} bits, and the GPTQ folder format holds 4-bit weights: ${hint}`);
  const q = head.q, groupSize = q.groupSize === q.shape[1] ? -1 : q.groupSize, ref = formats[0];
  const grid = (g: number, sym: boolean) => `group size ${g}${sym ? ', symmetric' : ''}`;
  if (groupSize !== ref.groupSize || q.symmetric !== ref.symmetric)
    throw ntError('NT_UNSUPPORTED', `[${OP}] lm_head is quantized with ${grid(groupSize, q.symmetric)}, the decoder with ${grid(ref.groupSize, ref.symmetric)}: a GPTQ folder has one quantization_config; ${hint}`);
  return { tensors: storedLinears(model, ['lm_head'], temps).tensors, quantized: true, adapter };
}

/** The source config.json with the GPTQ quantization_config of `formats` (none: dense or pruned only). */
export function compressedConfig(sourceDir: string, formats: readonly QuantFormat[], opts: { lmHead?: boolean } = {}): Record<string, unknown> {
  const config = JSON.parse(fs.readFileSync(path.join(sourceDir, 'config.json'), 'utf8'));
  delete config.quantization_config;
  if (formats.length > 0)
    config.quantization_config = {
      quant_method: 'gptq',
      bits: formats[0].bits,
      group_size: formats[0].groupSize,
      sym: formats[0].symmetric,
      desc_act: formats.some((f) => f.actOrder),
      checkpoint_format: 'gptq',
      // GPTQModel's key: lm_head is stored as GPTQ tensors too
      ...(opts.lmHead ? { lm_head: true } : {}),
    };
  return config;
}

/** A transformers shard index: every tensor name → its shard file, total_size = Σ tensor bytes. */
export function shardIndexJson(shards: readonly { file: string; names: readonly string[]; bytes: number }[]): string {
  const weightMap: Record<string, string> = {};
  for (const sh of shards) for (const name of sh.names) weightMap[name] = sh.file;
  const totalSize = shards.reduce((n, sh) => n + sh.bytes, 0);
  return JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2) + '\n';
}

/** Writes `model` (compressed in place by compressModel) as a GPTQ-format folder + PEFT adapter. */
export function saveCompressed(model: LlamaModel, outDir: string, opts: SaveCompressedOptions = {}): SavedCompressed {
  requireCheckpointFolder(OP, model.dir, "the folder is written with the source's embeddings, norms and config.json, which a model loaded from a file does not have");
  const temps: Tensor[] = [];
  try {
    const { tensors, adapters, formats } = storedLinears(model, model.linears(), temps);
    // the loader reads every decoder linear of a GPTQ folder as int4 (quantization_config)
    const dense = formats.length > 0 ? model.linears().find((n) => !(baseOf(model.getLinear(n)) instanceof QuantLinear)) : undefined;
    if (dense !== undefined)
      throw ntError('NT_UNSUPPORTED', `[${OP}] ${dense} is dense while ${formats.length} decoder linears are int4: a GPTQ folder stores every decoder linear as int4`);
    const head = storedHead(model, formats, temps);
    Object.assign(tensors, head.tensors);
    if (head.adapter) adapters['lm_head'] = head.adapter;
    // everything that is not a linear comes unchanged from the source checkpoint (Phi-3's fused
    // matrices were just written from their compressed parts, lm_head from the model's)
    const linearNames = storedLinearWeightNames(model);
    for (const n of linearTensorNames('lm_head')) linearNames.add(n);
    // mapped views in the checkpoint's own dtype: embeddings and lm_head keep it (a bf16 model's
    // stay bf16), and nothing is widened or read that is not written
    const source = loadSafetensors(model.dir);
    for (const [name, t] of Object.entries(source)) {
      if (linearNames.has(name)) t.dispose();
      else {
        tensors[name] = t;
        temps.push(t);
      }
    }
    const config = compressedConfig(model.dir, formats, { lmHead: head.quantized });
    const shards = shardTensors(tensors, opts.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES);
    const weightsFile = path.join(outDir, shards.length === 1 ? 'model.safetensors' : INDEX_FILE);
    const hasAdapter = Object.keys(adapters).length > 0;
    const files = shards.map((sh) => sh.file);
    const modelUnit: FolderUnit = { gate: 'config.json', files: shards.length === 1 ? files : [...files, INDEX_FILE] };
    const adapterUnit: FolderUnit = { gate: path.join('adapter', 'adapter_config.json'), files: [path.join('adapter', 'adapter_model.safetensors')] };
    // an older save's adapter would pair with the new weights, an index would shadow them
    replaceFolderUnits(OP, outDir, hasAdapter ? [adapterUnit, modelUnit] : [modelUnit], (stage) => {
      for (const sh of shards) saveSafetensors(path.join(stage, sh.file), sh.tensors, { format: 'pt', producer: 'ntensor', ...(opts.metadata ?? {}) });
      if (shards.length > 1) {
        writeFileAtomic(OP, path.join(stage, INDEX_FILE), shardIndexJson(shards.map((sh) => ({ file: sh.file, names: Object.keys(sh.tensors), bytes: sh.bytes }))));
      }
      writeFileAtomic(OP, path.join(stage, 'config.json'), JSON.stringify(config, null, 2) + '\n');
      if (hasAdapter) saveLoraAdapter(path.join(stage, 'adapter'), adapters, { baseModel: outDir, metadata: opts.metadata });
    }, { removeUnits: hasAdapter ? [] : [adapterUnit], obsolete: obsoleteWeights(outDir, files) });
    const adapterDir = hasAdapter ? path.join(outDir, 'adapter') : null;
    const headKind = head.quantized ? 'int4' : model.config.tieWordEmbeddings ? 'tied' : 'dense';
    return { weightsFile, adapterDir, quantizedLinears: formats.length, adapters: Object.keys(adapters).length, head: headKind };
  } finally {
    temps.forEach((t) => t.dispose());
  }
}

/** Wraps the model's linears named in a PEFT LoRA folder with their low-rank corrections. */
export function applyAdapter(model: LlamaModel, adapterDir: string): { modules: number; rank: number } {
  const op = 'llm.applyAdapter';
  checkPath(op, adapterDir, 'adapterDir');
  for (const f of ['adapter_config.json', 'adapter_model.safetensors']) checkInsideFolder(op, adapterDir, path.join(adapterDir, f));
  const adapter = loadLoraAdapter(adapterDir);
  // PEFT may target lm_head too (on a tied head the embedding table stays as it is, as in PEFT),
  // and Phi-3's fused qkv_proj / gate_up_proj, which the model runs as their parts
  const names = new Set([...model.linears(), 'lm_head']);
  const fused = new Map(fusedLinears(model.config).map((f) => [f.stored, f]));
  const missing = Object.keys(adapter.modules).filter((n) => !names.has(n) && !fused.has(n));
  if (missing.length > 0) {
    adapter.dispose();
    throw ntError('NT_SHAPE', `[${op}] the adapter targets modules the model does not have: ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', …' : ''}`);
  }
  // check every shape before replacing anything, so a bad adapter leaves the model untouched
  for (const [name, f] of Object.entries(adapter.modules)) {
    const fl = fused.get(name);
    const [inF, outF] = fl ? [fl.shape[1], fl.shape[0]] : [model.getLinear(name).inFeatures, model.getLinear(name).outFeatures];
    if (f.A.shape[1] !== inF || f.B.shape[0] !== outF) {
      adapter.dispose();
      throw ntError('NT_SHAPE', `[${op}] ${name}: the adapter maps ${f.A.shape[1]} -> ${f.B.shape[0]} features, the model's linear ${inF} -> ${outF}`);
    }
  }
  for (const [name, f] of Object.entries(adapter.modules)) {
    const fl = fused.get(name);
    // the model hands ownership of `base` to the LoraLinear that replaces it
    if (!fl) model.setLinear(name, new LoraLinear(model.getLinear(name), f.A, f.B));
    else {
      for (const p of fl.parts) {
        const part = splitFusedFactors(f, p.rows);
        if (part) model.setLinear(p.name, new LoraLinear(model.getLinear(p.name), part.A, part.B));
      }
      f.A.dispose();
      f.B.dispose();
    }
  }
  return { modules: Object.keys(adapter.modules).length, rank: adapter.rank };
}

/**
 * The factors of a fused module's part (its rows of B): B's columns that are zero over those rows
 * are dropped with their rows of A (exact), so a fuseAdapters block layout returns to each part's
 * own rank and a dense PEFT-trained one keeps the full rank. Null when the part has no columns.
 */
function splitFusedFactors(f: LoraFactors, rows: readonly [number, number]): LoraFactors | null {
  const bView = f.B.slice([rows[0], rows[1]]);
  const b = bView.astype('f32');
  bView.dispose();
  const a = f.A.astype('f32');
  try {
    const bd = b.data as Float32Array, ad = a.data as Float32Array;
    const n = rows[1] - rows[0], r = b.shape[1], d = a.shape[1];
    const keep: number[] = [];
    for (let c = 0; c < r; ++c) {
      let nz = false;
      for (let i = 0; i < n && !nz; ++i) nz = bd[i * r + c] !== 0;
      if (nz) keep.push(c);
    }
    if (keep.length === 0) return null;
    const A = new Float32Array(keep.length * d), B = new Float32Array(n * keep.length);
    keep.forEach((c, k) => {
      A.set(ad.subarray(c * d, (c + 1) * d), k * d);
      for (let i = 0; i < n; ++i) B[i * keep.length + k] = bd[i * r + c];
    });
    return { A: tensor(A, { shape: [keep.length, d] }), B: tensor(B, { shape: [n, keep.length] }) };
  } finally {
    a.dispose();
    b.dispose();
  }
}
