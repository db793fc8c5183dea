// Compressing a checkpoint folder at real size: layer by layer from the mapped checkpoint to
// disk, resumable after a kill, and shardable over processes (ALGORITHMS.md §1-2 for the math;
// lib/llm/compress.ts for one layer's work).
//
//   OUT/model-00001-of-000NN.safetensors   embeddings, final norm, lm_head (source dtype, or
//                                          int4 GPTQ tensors with quantizeHead)
//   OUT/model-000kk-of-000NN.safetensors   decoder layer kk−2: its compressed linears + norms
//   OUT/model.safetensors.index.json       transformers' shard index
//   OUT/adapter/                           the PEFT LoRA folder (EoRA / svd / act-s factors)
//   OUT/config.json                        written last: from then on the folder loads
//   OUT/.ntensor-compress/                 the run's record while it runs (or in a shard):
//       run.json                           what is being computed (source, options, calibration)
//       layer-0000l.json                   layer l is finished: its reports and stored tensors
//       adapter-0000l.safetensors          layer l's adapter factors
//       stream.safetensors                 the calibration stream after the last finished layer
//
// Only one decoder layer is in memory at a time: the model is mapped, each layer's pages are
// read when it runs and released once it is written (they count in RSS while mapped), and the
// compressed layer is dropped after the stream has passed it. Every file is written to a
// temporary name, fsynced and renamed, layer record last; a run killed at any point restarts
// (resume) from the stream of the last finished layer and writes the same bytes.
//
// Sharding (parallel mode): each layer calibrates on the original model's activations, so a
// range of layers needs nothing from the others. `layers: [a, b)` writes a shard folder
// (OUT/shard.json + the layer files of a..b−1); mergeCompressedShards assembles shards that
// tile [0, L) into the folder a single parallel-mode run writes, byte for byte.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { ntError } from '../errors';
import { writeFileAtomic } from '../io/common';
import { loadSafetensors, safetensorsInfo, saveSafetensors, saveSafetensorsAsync } from '../io/safetensors';
import { load as loadModel } from '../model/load';
import { requireCheckpointFolder } from '../model/load-gguf';
import { ReleasedLinear } from '../model/linear';
import type { LlamaModel } from '../model/model';
import { describe } from '../ops/common';
import { toGptq, toGptqAsync } from '../quant/gptq-format';
import type { GroupSizeOption } from '../quant/options';
import { quantize, quantizeAsync } from '../quant/quantize';
import { Tensor, trimHeap } from '../tensor';
import { Job, inline, runAsync, runSync, step } from '../job';
import { saveLoraAdapterJob } from './adapter';
import type { LoraFactors } from './adapter';
import {
  Chunk,
  CompressMode,
  CompressOptions,
  CompressionReport,
  LayerClock,
  LayerReport,
  Plan,
  chunkWindows,
  StageSeconds,
  closeStages,
  compressLayer,
  embedChunks,
  emptyStages,
  plan,
  reportOptions,
  timed,
  usesCalibration,
} from './compress';
import { INDEX_FILE, QuantFormat, compressedConfig, shardIndexJson, storedLinearWeightNames, storedLinears } from './export';

export interface CompressCheckpointOptions extends CompressOptions {
  /** 'layer-sequential' (default; GPTQ's reference order), 'sequential' (GPTQ's true-sequential order) or 'parallel' (each layer calibrated on the original model: shardable; the default with `layers`). See CompressMode. */
  mode?: CompressMode;
  /**
   * Decoder layers [first, end) to compress into a shard folder (parallel mode), merged later
   * by mergeCompressedShards. Without it the whole model is compressed into a model folder.
   */
  layers?: readonly [number, number];
  /** Continue a run killed in the same folder with the same source, options and calibration (default false: start over). */
  resume?: boolean;
  /** Extra strings for the safetensors headers. */
  metadata?: Record<string, string>;
  /**
   * Store lm_head quantized too (default false: in the source dtype): round-to-nearest with the
   * run's bits, group size and symmetry (GPTQ's Hessian of the head would need the stream through
   * the final norm, which no layer uses), as GPTQ tensors under quantization_config.lm_head = true
   * (GPTQModel's key; nt.model.load reads it). Needs quantization (`bits`) and an untied head.
   */
  quantizeHead?: boolean;
}

export interface CompressCheckpointResult {
  /** Every layer of the range, including those a resumed run found finished (their `seconds` are from that run). */
  report: CompressionReport;
  outDir: string;
  /** 'model': a loadable folder; 'shard': layers for mergeCompressedShards. */
  kind: 'model' | 'shard';
  layers: [number, number];
  /** Layers found finished on disk and not recomputed. */
  resumedLayers: number;
  /** How lm_head was written (model folders; null for a shard): its stored bytes, and the source's. */
  head: { quantized: boolean; bytes: number; sourceBytes: number } | null;
}

const OP = 'llm.compressCheckpoint';
const MERGE_OP = 'llm.mergeCompressedShards';
const WORK = '.ntensor-compress';
const RUN_FILE = 'run.json';
const STREAM_FILE = 'stream.safetensors';
const SHARD_FILE = 'shard.json';
const RUN_FORMAT = 'ntensor-compress-run/1';
const pad5 = (i: number) => String(i).padStart(5, '0');
const layerRecord = (l: number) => `layer-${pad5(l)}.json`;
const adapterPart = (l: number) => `adapter-${pad5(l)}.safetensors`;
/** Shard 1 holds the embeddings, norm and head; layer l is shard l + 2 of L + 1. */
const shardFile = (k: number, L: number) => `model-${pad5(k)}-of-${pad5(L + 1)}.safetensors`;
const layerShard = (l: number, L: number) => shardFile(l + 2, L);

/** What a run computes: two runs with equal identities write the same bytes. */
interface RunIdentity {
  format: string;
  source: { dir: string; fingerprint: string };
  options: CompressionReport['options'] & { calibrationWindow: number; quantizeHead: boolean };
  calibration: { tokens: number; sha256: string };
  mode: CompressMode;
  numLayers: number;
  layers: [number, number];
}

/** What a finished layer leaves: enough to index, merge and report it without recomputing. */
interface LayerRecordJson {
  layer: number;
  file: string;
  /** Stored tensor names of the shard, and their data bytes (for the index's total_size). */
  tensors: string[];
  bytes: number;
  formats: QuantFormat[];
  adapter: boolean;
  /** NaN (unmeasured errors) is stored as null. */
  reports: LayerReport[];
}

/** What compression reads from the source folder beside the weights it compresses. */
const SOURCE_READS = "the output is built from its config.json and safetensors (a GGUF model runs as loaded; ntensor export --gguf writes GGUF)";

/** A checkpoint's identity: its config and the size and header of every weights file (not the whole 16 GB). */
function sourceFingerprint(dir: string): string {
  const h = crypto.createHash('sha256');
  h.update(fs.readFileSync(path.join(dir, 'config.json')));
  for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.safetensors') || n === INDEX_FILE).sort()) {
    const file = path.join(dir, f);
    const size = fs.statSync(file).size;
    h.update(`${f}\0${size}\0`);
    const fd = fs.openSync(file, 'r');
    try {
      const head = Buffer.alloc(Math.min(size, 1 << 16));
      fs.readSync(fd, head, 0, head.length, 0);
      h.update(head);
    } finally {
      fs.closeSync(fd);
    }
  }
  return h.digest('hex');
}

function identityOf(model: LlamaModel, p: Plan, mode: CompressMode, layers: [number, number], quantizeHead: boolean): RunIdentity {
  const ids = p.calibration;
  return {
    format: RUN_FORMAT,
    source: { dir: path.resolve(model.dir), fingerprint: sourceFingerprint(model.dir) },
    options: { ...reportOptions(p), calibrationWindow: p.window, quantizeHead },
    calibration: { tokens: ids.length, sha256: crypto.createHash('sha256').update(Buffer.from(ids.buffer, ids.byteOffset, ids.byteLength)).digest('hex') },
    mode,
    numLayers: model.config.numLayers,
    layers,
  };
}

/** The first field where two identities differ (ignoring `skip`), or null. */
function identityDiff(a: unknown, b: unknown, skip: readonly string[] = [], at = ''): string | null {
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
    const keys = [...new Set([...Object.keys(a as object), ...Object.keys(b as object)])].sort();
    for (const k of keys) {
      const where = at ? `${at}.${k}` : k;
      if (skip.includes(where)) continue;
      const d = identityDiff((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], skip, where);
      if (d) return d;
    }
    return null;
  }
  return a === b ? null : `${at} (${JSON.stringify(a)} vs ${JSON.stringify(b)})`;
}

function readJson(op: string, file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw ntError('NT_IO', `[${op}] ${file}: cannot read (${(e as Error).message})`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw ntError('NT_IO', `[${op}] ${file} is not valid JSON: ${(e as Error).message}`);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function checkIdentity(op: string, file: string, v: unknown): RunIdentity {
  const ok =
    isObject(v) &&
    v.format === RUN_FORMAT &&
    isObject(v.source) &&
    typeof v.source.dir === 'string' &&
    typeof v.source.fingerprint === 'string' &&
    isObject(v.options) &&
    isObject(v.calibration) &&
    (v.mode === 'sequential' || v.mode === 'layer-sequential' || v.mode === 'parallel') &&
    Number.isInteger(v.numLayers) &&
    Array.isArray(v.layers) &&
    v.layers.length === 2 &&
    v.layers.every((x) => Number.isInteger(x)) &&
    0 <= (v.layers[0] as number) &&
    (v.layers[0] as number) < (v.layers[1] as number) &&
    (v.layers[1] as number) <= (v.numLayers as number);
  if (!ok) throw ntError('NT_IO', `[${op}] ${file} is not an ntensor compression record (${RUN_FORMAT})`);
  return v as unknown as RunIdentity;
}

function checkLayerRecord(op: string, file: string, v: unknown, l: number, L: number): LayerRecordJson {
  const ok =
    isObject(v) &&
    v.layer === l &&
    v.file === layerShard(l, L) &&
    Array.isArray(v.tensors) &&
    v.tensors.every((t) => typeof t === 'string') &&
    Number.isSafeInteger(v.bytes) &&
    Array.isArray(v.formats) &&
    typeof v.adapter === 'boolean' &&
    Array.isArray(v.reports);
  if (!ok) throw ntError('NT_IO', `[${op}] ${file} is not the record of layer ${l}`);
  const reports = (v.reports as Record<string, unknown>[]).map((r) => {
    const o: Record<string, unknown> = { ...r };
    for (const k of ['errorCompressed', 'errorCompensated', 'relativeCompressed', 'relativeCompensated']) if (o[k] === null) o[k] = NaN;
    return o as unknown as LayerReport;
  });
  return { ...(v as unknown as LayerRecordJson), reports };
}

/** Files of an earlier save or run in `dir` that a new run replaces (never anything else). */
function ownedOutputs(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f) || f === 'model.safetensors' || f === INDEX_FILE);
}

/**
 * Makes `dir` ready for a fresh run: the gates of an older model, adapter or shard go first (the
 * folder stops loading as the old thing), then its weights and run record.
 */
function clearForFreshRun(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const gate of ['config.json', SHARD_FILE, path.join('adapter', 'adapter_config.json')]) fs.rmSync(path.join(dir, gate), { force: true });
  fs.rmSync(path.join(dir, WORK), { recursive: true, force: true });
  for (const f of ownedOutputs(dir)) fs.rmSync(path.join(dir, f), { force: true });
  fs.rmSync(path.join(dir, 'adapter', 'adapter_model.safetensors'), { force: true });
  // an adapter folder left empty would read as a broken adapter next to the new weights
  const adapterDir = path.join(dir, 'adapter');
  if (fs.existsSync(adapterDir) && fs.readdirSync(adapterDir).length === 0) fs.rmdirSync(adapterDir);
}

/** Temporary files and staging folders a killed writer left (ours only: the atomic writers' names). */
function removeStaleTemps(dir: string): void {
  for (const d of [dir, path.join(dir, WORK), path.join(dir, 'adapter')]) {
    if (!fs.existsSync(d)) continue;
    for (const f of fs.readdirSync(d))
      if (/\.tmp-\d+-(js)?\d+$/.test(f) || /^\.ntensor-stage-\d+-\d+$/.test(f)) fs.rmSync(path.join(d, f), { recursive: true, force: true });
  }
}

function checkLayers(op: string, layers: unknown, L: number): [number, number] {
  const ok = Array.isArray(layers) && layers.length === 2 && layers.every((x) => Number.isInteger(x)) && 0 <= layers[0] && layers[0] < layers[1] && layers[1] <= L;
  if (!ok) throw ntError('NT_VALUE', `[${op}] layers must be [first, end) with 0 <= first < end <= ${L} (the model's layers), got ${describe(layers)}`);
  return [layers[0], layers[1]];
}

/** The non-layer tensors of the source (embeddings, final norm, lm_head, anything else), as mapped views. */
function sourceNames(model: LlamaModel): { rest: string[]; perLayer: string[][] } {
  const info = (file: string) => safetensorsInfo(file).tensors.map((t) => t.name);
  const indexFile = path.join(model.dir, INDEX_FILE);
  let names: string[];
  if (fs.existsSync(indexFile)) {
    const index = readJson(OP, indexFile);
    if (!isObject(index) || !isObject(index.weight_map)) throw ntError('NT_IO', `[${OP}] ${indexFile}: no weight_map`);
    names = Object.keys(index.weight_map);
  } else names = info(path.join(model.dir, 'model.safetensors'));
  const linearWeights = storedLinearWeightNames(model);
  const L = model.config.numLayers;
  const perLayer: string[][] = Array.from({ length: L }, () => []);
  const rest: string[] = [];
  for (const n of names) {
    if (linearWeights.has(n)) continue;
    const m = /^model\.layers\.(\d+)\./.exec(n);
    const l = m ? Number(m[1]) : -1;
    if (l >= 0 && l < L) perLayer[l].push(n);
    else rest.push(n);
  }
  return { rest, perLayer };
}

const dataBytes = (tensors: Record<string, Tensor>) => Object.values(tensors).reduce((s, t) => s + t.data.byteLength, 0);

/** Writes layer l's shard, adapter part and record (record last: it marks the layer finished). */
function* writeLayer(model: LlamaModel, outDir: string, l: number, norms: readonly string[], reports: LayerReport[], meta: Record<string, string>, stages: StageSeconds): Job<void> {
  const L = model.config.numLayers;
  const temps: Tensor[] = [];
  try {
    const names = model.linears().filter((n) => n.startsWith(`model.layers.${l}.`));
    const stored = storedLinears(model, names, temps, OP);
    const source = norms.length > 0 ? loadSafetensors(model.dir, { names: norms }) : {};
    temps.push(...Object.values(source));
    const tensors = { ...stored.tensors, ...source };
    const file = layerShard(l, L);
    yield* timed(stages, 'write', step(() => saveSafetensors(path.join(outDir, file), tensors, meta), () => saveSafetensorsAsync(path.join(outDir, file), tensors, meta)));
    const adapterNames = Object.keys(stored.adapters);
    if (adapterNames.length > 0) {
      const parts: Record<string, Tensor> = {};
      for (const n of adapterNames) {
        parts[`${n}.lora_A`] = stored.adapters[n].A;
        parts[`${n}.lora_B`] = stored.adapters[n].B;
      }
      const f = path.join(outDir, WORK, adapterPart(l));
      yield* timed(stages, 'write', step(() => saveSafetensors(f, parts), () => saveSafetensorsAsync(f, parts)));
    }
    const record: LayerRecordJson = { layer: l, file, tensors: Object.keys(tensors), bytes: dataBytes(tensors), formats: stored.formats, adapter: adapterNames.length > 0, reports };
    writeFileAtomic(OP, path.join(outDir, WORK, layerRecord(l)), JSON.stringify(record) + '\n');
  } finally {
    temps.forEach((t) => t.dispose());
  }
}

/** Replaces layer l's linears by placeholders: its compressed weights are on disk and its pages go back. */
function releaseLayer(model: LlamaModel, l: number): void {
  for (const n of model.linears().filter((x) => x.startsWith(`model.layers.${l}.`))) {
    const lin = model.getLinear(n);
    model.setLinear(n, new ReleasedLinear(lin.inFeatures, lin.outFeatures, `layer ${l} was written to disk by ${OP}`)).dispose();
  }
  // the layer's scratch (eigh, GPTQ, SVD workspaces) would otherwise stay on glibc's thread
  // heaps and grow RSS by tens of MB per layer
  trimHeap();
}

function* saveStream(outDir: string, chunks: readonly Chunk[], afterLayer: number, stages: StageSeconds): Job<void> {
  const tensors: Record<string, Tensor> = {};
  chunks.forEach((c, i) => (tensors[`chunk.${i}`] = c.x));
  const meta = { after_layer: String(afterLayer), lengths: JSON.stringify(chunks.map((c) => c.lengths)) };
  const f = path.join(outDir, WORK, STREAM_FILE);
  yield* timed(stages, 'write', step(() => saveSafetensors(f, tensors, meta), () => saveSafetensorsAsync(f, tensors, meta)));
}

/** The stream saved after layer `afterLayer`, as chunks (owned by the caller), or null when there is none for that layer. */
function loadStream(outDir: string, expectLengths: number[][]): { afterLayer: number; chunks: Chunk[] } | null {
  const f = path.join(outDir, WORK, STREAM_FILE);
  if (!fs.existsSync(f)) return null;
  const info = safetensorsInfo(f);
  const afterLayer = Number(info.metadata.after_layer);
  if (!Number.isInteger(afterLayer) || info.metadata.lengths !== JSON.stringify(expectLengths)) throw ntError('NT_IO', `[${OP}] ${f} does not hold this run's calibration stream`);
  const loaded = loadSafetensors(f, { map: false });
  const chunks = expectLengths.map((lengths, i) => ({ x: loaded[`chunk.${i}`], lengths }));
  if (chunks.some((c) => c.x === undefined)) {
    Object.values(loaded).forEach((t) => t.dispose());
    throw ntError('NT_IO', `[${OP}] ${f} lacks a chunk of the calibration stream`);
  }
  return { afterLayer, chunks };
}

/** The calibration windows per chunk, as embedChunks groups them. */
const chunkLengths = (p: Plan) => chunkWindows(p).map((g) => g.map((w) => w.length));

function readRecords(op: string, dir: string, range: [number, number], L: number): LayerRecordJson[] {
  const out: LayerRecordJson[] = [];
  for (let l = range[0]; l < range[1]; ++l) {
    const f = path.join(dir, WORK, layerRecord(l));
    out.push(checkLayerRecord(op, f, readJson(op, f), l, L));
  }
  return out;
}

/** How lm_head is quantized (quantizeHead): the run's grid, round-to-nearest. */
interface HeadQuant {
  bits: number;
  groupSize: GroupSizeOption;
  symmetric: boolean;
}

const headQuantOf = (o: { bits: number | null; groupSize: GroupSizeOption; symmetric: boolean }): HeadQuant => ({ bits: o.bits!, groupSize: o.groupSize, symmetric: o.symmetric });

/** lm_head's GPTQ tensors (int4, round-to-nearest) from its stored weight w (owned by the caller). */
function* quantizedHead(w: Tensor, hq: HeadQuant, stages: StageSeconds): Job<Record<string, Tensor>> {
  // round-to-nearest reads the mapped 16-bit head as its f32 widening: no f32 copy
  const o = { bits: hq.bits as 4, groupSize: hq.groupSize, symmetric: hq.symmetric };
  const q = yield* timed(stages, 'quantize', step(() => quantize(w, o), () => quantizeAsync(w, o)));
  try {
    const g = yield* timed(stages, 'quantize', step(() => toGptq(q), () => toGptqAsync(q)));
    return { 'lm_head.qweight': g.qweight, 'lm_head.qzeros': g.qzeros, 'lm_head.scales': g.scales, 'lm_head.g_idx': g.g_idx };
  } finally {
    q.dispose();
  }
}

/**
 * Writes the model folder from finished layers: shard 1 (embeddings, norm, head from the
 * source's mapped views, in its dtype; lm_head as int4 GPTQ tensors with `headQuant`), the
 * index, the adapter, config.json last. Returns how the head was written.
 */
function* finalizeModel(
  model: LlamaModel,
  outDir: string,
  layers: { dir: string; record: LayerRecordJson }[],
  meta: Record<string, string>,
  stages: StageSeconds,
  headQuant: HeadQuant | null,
): Job<NonNullable<CompressCheckpointResult['head']>> {
  const L = model.config.numLayers;
  const formats = layers.flatMap((x) => x.record.formats);
  const f0 = formats[0];
  const odd = formats.find((f) => f.groupSize !== f0.groupSize || f.symmetric !== f0.symmetric);
  if (odd) throw ntError('NT_UNSUPPORTED', `[${OP}] every linear must share one group size and symmetry in a GPTQ folder`);
  const { rest } = sourceNames(model);
  // mapped views: the stored head's bytes come from its view, nothing is read
  const head = loadSafetensors(model.dir, { names: rest });
  const headFile = shardFile(1, L);
  const sourceHead = head['lm_head.weight']?.data.byteLength ?? 0;
  let headBytes = sourceHead;
  try {
    if (headQuant) {
      const w = head['lm_head.weight'];
      delete head['lm_head.weight'];
      try {
        Object.assign(head, yield* quantizedHead(w, headQuant, stages));
      } finally {
        w.dispose();
      }
      headBytes = ['qweight', 'qzeros', 'scales', 'g_idx'].reduce((s, k) => s + head[`lm_head.${k}`].data.byteLength, 0);
    }
    yield* timed(stages, 'write', step(() => saveSafetensors(path.join(outDir, headFile), head, meta), () => saveSafetensorsAsync(path.join(outDir, headFile), head, meta)));
    const shards = [{ file: headFile, names: Object.keys(head), bytes: dataBytes(head) }, ...layers.map((x) => ({ file: x.record.file, names: x.record.tensors, bytes: x.record.bytes }))];
    writeFileAtomic(OP, path.join(outDir, INDEX_FILE), shardIndexJson(shards));
  } finally {
    Object.values(head).forEach((t) => t.dispose());
  }
  const withAdapter = layers.filter((x) => x.record.adapter);
  if (withAdapter.length > 0) {
    const adapters: Record<string, LoraFactors> = {};
    const opened: Tensor[] = [];
    try {
      for (const x of withAdapter) {
        const parts = loadSafetensors(path.join(x.dir, WORK, adapterPart(x.record.layer)));
        opened.push(...Object.values(parts));
        for (const key of Object.keys(parts).filter((k) => k.endsWith('.lora_A'))) {
          const name = key.slice(0, -'.lora_A'.length);
          const B = parts[`${name}.lora_B`];
          if (!B) throw ntError('NT_IO', `[${OP}] ${x.dir}: the adapter part of layer ${x.record.layer} lacks ${name}.lora_B`);
          adapters[name] = { A: parts[key], B };
        }
      }
      yield* timed(stages, 'write', saveLoraAdapterJob(OP, path.join(outDir, 'adapter'), adapters, { baseModel: path.resolve(outDir), metadata: meta }));
    } finally {
      opened.forEach((t) => t.dispose());
    }
  }
  writeFileAtomic(OP, path.join(outDir, 'config.json'), JSON.stringify(compressedConfig(model.dir, formats, { lmHead: headQuant !== null }), null, 2) + '\n');
  return { quantized: headQuant !== null, bytes: headBytes, sourceBytes: sourceHead };
}

function* compressCheckpointSteps(srcDir: string, outDir: string, opts: CompressCheckpointOptions): Job<CompressCheckpointResult> {
  const started = Date.now();
  if (typeof outDir !== 'string' || outDir.length === 0) throw ntError('NT_VALUE', `[${OP}] outDir must be a folder path, got ${describe(outDir)}`);
  if (opts === null || typeof opts !== 'object') throw ntError('NT_VALUE', `[${OP}] options must be an object, got ${describe(opts)}`);
  const { mode: modeOpt, layers: layersOpt, resume: resumeOpt, metadata: metaOpt, quantizeHead: headOpt, ...compressOpts } = opts;
  const mode = modeOpt ?? (layersOpt !== undefined ? 'parallel' : 'layer-sequential');
  if (mode !== 'sequential' && mode !== 'layer-sequential' && mode !== 'parallel')
    throw ntError('NT_VALUE', `[${OP}] mode must be 'sequential', 'layer-sequential' or 'parallel', got ${describe(modeOpt)}`);
  if (resumeOpt !== undefined && typeof resumeOpt !== 'boolean') throw ntError('NT_VALUE', `[${OP}] resume must be a boolean, got ${describe(resumeOpt)}`);
  if (headOpt !== undefined && typeof headOpt !== 'boolean') throw ntError('NT_VALUE', `[${OP}] quantizeHead must be a boolean, got ${describe(headOpt)}`);
  const quantizeHead = headOpt === true;
  // before loading: nt.model.load reads a GGUF too
  requireCheckpointFolder(OP, srcDir, SOURCE_READS);
  const model = yield* inline(() => loadModel(srcDir, { dtype: 'auto' }));
  let chunks: Chunk[] = [];
  try {
    if (path.resolve(outDir) === path.resolve(model.dir)) throw ntError('NT_VALUE', `[${OP}] outDir must not be the source folder (${model.dir}): its weights are read while the output is written`);
    if (model.config.quantization)
      throw ntError('NT_UNSUPPORTED', `[${OP}] ${model.dir} is already quantized (quantization_config in config.json, ${model.config.quantization.bits}-bit GPTQ): compress the original checkpoint`);
    const L = model.config.numLayers;
    const range = layersOpt === undefined ? ([0, L] as [number, number]) : checkLayers(OP, layersOpt, L);
    if (layersOpt !== undefined && mode !== 'parallel')
      throw ntError('NT_VALUE', `[${OP}] a layer range needs mode 'parallel': in ${mode} mode each layer's inputs come from the compressed layers before it`);
    const p = plan(model, { ...compressOpts, mode });
    // before any layer runs (saveCompressed's own check would come after the first layer's work)
    if (p.bits !== null && p.bits !== 4)
      throw ntError('NT_UNSUPPORTED', `[${OP}] bits ${p.bits}: the GPTQ folder format is written for 4-bit weights (nt.llm.compressModel quantizes in memory at ${p.bits} bits)`);
    if (quantizeHead && p.bits === null) throw ntError('NT_VALUE', `[${OP}] quantizeHead quantizes lm_head with the run's bits: set bits (this run only prunes or adapts)`);
    if (quantizeHead && model.config.tieWordEmbeddings)
      throw ntError('NT_UNSUPPORTED', `[${OP}] quantizeHead: ${model.dir} ties lm_head to the embeddings (tie_word_embeddings), so its head is the embedding table; it stays in the source dtype`);
    const kind = layersOpt === undefined ? 'model' : 'shard';
    const identity = identityOf(model, p, mode, range, quantizeHead);
    const meta = { format: 'pt', producer: 'ntensor', method: String(p.method), rank: String(p.rank), calibration_tokens: String(p.calibration.length), ...(metaOpt ?? {}) };
    const stages = emptyStages();

    // where to start: after the layers a killed run finished, or from scratch
    let next = range[0];
    let resumedLayers = 0;
    const runFile = path.join(outDir, WORK, RUN_FILE);
    removeStaleTemps(outDir);
    if (resumeOpt === true && fs.existsSync(runFile)) {
      const stored = checkIdentity(OP, runFile, readJson(OP, runFile));
      const diff = identityDiff(stored, identity);
      if (diff) throw ntError('NT_VALUE', `[${OP}] cannot resume in ${outDir}: the run there differs in ${diff}; run without resume to start over`);
      let done = range[0];
      while (done < range[1] && fs.existsSync(path.join(outDir, WORK, layerRecord(done))) && fs.existsSync(path.join(outDir, layerShard(done, L)))) ++done;
      if (done === range[1]) next = range[1];
      else {
        const saved = usesCalibration(p) ? loadStream(outDir, chunkLengths(p)) : null;
        if (saved && saved.afterLayer + 1 <= done && saved.afterLayer >= range[0]) {
          chunks = saved.chunks;
          next = saved.afterLayer + 1;
        } else {
          saved?.chunks.forEach((c) => c.x.dispose());
          next = usesCalibration(p) ? range[0] : done;
        }
      }
      resumedLayers = next - range[0];
    } else {
      clearForFreshRun(outDir);
      fs.mkdirSync(path.join(outDir, WORK), { recursive: true });
      writeFileAtomic(OP, runFile, JSON.stringify(identity, null, 2) + '\n');
    }
    // a resumed finished run, or a fresh one, starts over the model/shard gates
    for (const gate of ['config.json', SHARD_FILE]) fs.rmSync(path.join(outDir, gate), { force: true });

    const { perLayer } = sourceNames(model);
    const total = (range[1] - range[0]) * model.linears().filter((n) => n.startsWith('model.layers.0.')).length;
    let doneLinears = resumedLayers * (total / (range[1] - range[0]));
    const clock = new LayerClock(range[1] - next);
    if (next < range[1] && usesCalibration(p) && chunks.length === 0) {
      chunks = yield* timed(stages, 'embed', inline(() => embedChunks(model, p)));
      // parallel mode: the layers before the range run as they are (their pages released after)
      for (let l = 0; l < range[0]; ++l) {
        for (const c of chunks) yield* timed(stages, 'forward', step(() => model.runLayer(l, c.x, c.lengths), () => model.runLayerAsync(l, c.x, c.lengths)));
        releaseLayer(model, l);
      }
    }
    for (let l = next; l < range[1]; ++l) {
      clock.startLayer();
      const reports: LayerReport[] = [];
      const advance = l + 1 < range[1];
      yield* compressLayer(model, p, l, chunks, {
        mode,
        advance,
        stages,
        spillDir: path.join(outDir, WORK),
        onLinear: (report) => {
          reports.push(report);
          p.onProgress?.(++doneLinears, total, report, { layer: l, layers: L, etaSeconds: clock.eta() });
        },
      });
      yield* writeLayer(model, outDir, l, perLayer[l], reports, meta, stages);
      releaseLayer(model, l);
      if (advance && usesCalibration(p)) yield* saveStream(outDir, chunks, l, stages);
      clock.endLayer();
    }
    chunks.forEach((c) => c.x.dispose());
    chunks = [];
    fs.rmSync(path.join(outDir, WORK, STREAM_FILE), { force: true });

    const records = readRecords(OP, outDir, range, L);
    let head: CompressCheckpointResult['head'] = null;
    if (kind === 'model') {
      head = yield* finalizeModel(model, outDir, records.map((record) => ({ dir: outDir, record })), meta, stages, quantizeHead ? headQuantOf(p) : null);
      fs.rmSync(path.join(outDir, WORK), { recursive: true, force: true });
    } else {
      writeFileAtomic(OP, path.join(outDir, SHARD_FILE), JSON.stringify({ format: RUN_FORMAT, layers: range, files: records.map((r) => r.file) }, null, 2) + '\n');
    }
    const layerReports = records.flatMap((r) => r.reports);
    const seconds = (Date.now() - started) / 1000;
    const report: CompressionReport = {
      layers: layerReports,
      bytesBefore: layerReports.reduce((s, r) => s + r.shape[0] * r.shape[1] * 4, 0),
      bytesAfter: layerReports.reduce((s, r) => s + r.weightBytes + r.adapterBytes, 0),
      calibrationTokens: p.calibration.length,
      seconds,
      stages: closeStages(stages, seconds),
      options: reportOptions(p),
    };
    return { report, outDir, kind, layers: range, resumedLayers, head };
  } finally {
    chunks.forEach((c) => c.x.dispose());
    model.dispose();
  }
}

/**
 * Compresses the checkpoint in `srcDir` (a Hugging Face folder, safetensors) into `outDir`
 * layer by layer: a GPTQ folder + PEFT adapter, or with `layers` a shard for
 * mergeCompressedShards. One layer in memory at a time; `resume` continues a killed run.
 */
export function compressCheckpoint(srcDir: string, outDir: string, opts: CompressCheckpointOptions): CompressCheckpointResult {
  return runSync(compressCheckpointSteps(srcDir, outDir, opts));
}

/** compressCheckpoint with the layer work, eigh, SVDs and file writes on worker threads. */
export function compressCheckpointAsync(srcDir: string, outDir: string, opts: CompressCheckpointOptions): Promise<CompressCheckpointResult> {
  return runAsync(compressCheckpointSteps(srcDir, outDir, opts));
}

export interface MergeOptions {
  /** The source checkpoint (default: the folder the shards were compressed from, as they record it). */
  model?: string;
}

/**
 * Assembles shard folders (compressCheckpoint with `layers`, parallel mode) whose ranges tile
 * the model's layers into one model folder: the bytes a single parallel-mode run writes.
 */
export function mergeCompressedShards(shardDirs: readonly string[], outDir: string, opts: MergeOptions = {}): CompressCheckpointResult {
  const started = Date.now();
  if (!Array.isArray(shardDirs) || shardDirs.length === 0 || shardDirs.some((d) => typeof d !== 'string'))
    throw ntError('NT_VALUE', `[${MERGE_OP}] shardDirs must be a non-empty array of folders, got ${describe(shardDirs)}`);
  if (typeof outDir !== 'string' || outDir.length === 0) throw ntError('NT_VALUE', `[${MERGE_OP}] outDir must be a folder path, got ${describe(outDir)}`);
  const shards = shardDirs.map((dir) => {
    const gate = path.join(dir, SHARD_FILE);
    if (!fs.existsSync(gate)) throw ntError('NT_IO', `[${MERGE_OP}] ${dir} is not a finished shard (no ${SHARD_FILE}: the run is unfinished or the folder is something else)`);
    const run = path.join(dir, WORK, RUN_FILE);
    return { dir, identity: checkIdentity(MERGE_OP, run, readJson(MERGE_OP, run)) };
  });
  const first = shards[0].identity;
  for (const s of shards.slice(1)) {
    const diff = identityDiff(first, s.identity, ['layers']);
    if (diff) throw ntError('NT_VALUE', `[${MERGE_OP}] ${s.dir} was compressed differently from ${shards[0].dir}: ${diff}`);
  }
  if (first.mode !== 'parallel') throw ntError('NT_VALUE', `[${MERGE_OP}] shards must be parallel-mode runs`);
  const L = first.numLayers;
  const sorted = [...shards].sort((a, b) => a.identity.layers[0] - b.identity.layers[0]);
  let at = 0;
  for (const s of sorted) {
    const [a, b] = s.identity.layers;
    if (a !== at) throw ntError('NT_VALUE', `[${MERGE_OP}] the shards do not tile layers 0..${L - 1}: ${a < at ? `layer ${a} is in two shards` : `layers ${at}..${a - 1} are in none`} (${s.dir} has ${a}..${b - 1})`);
    at = b;
  }
  if (at !== L) throw ntError('NT_VALUE', `[${MERGE_OP}] the shards do not tile layers 0..${L - 1}: layers ${at}..${L - 1} are in none`);
  const sourceDir = opts.model ?? first.source.dir;
  requireCheckpointFolder(MERGE_OP, sourceDir, SOURCE_READS);
  const model = loadModel(sourceDir, { dtype: 'auto' });
  try {
    if (sourceFingerprint(model.dir) !== first.source.fingerprint) throw ntError('NT_VALUE', `[${MERGE_OP}] ${sourceDir} is not the checkpoint the shards were compressed from (its config or weights files differ)`);
    for (const s of sorted) if (path.resolve(s.dir) === path.resolve(outDir)) throw ntError('NT_VALUE', `[${MERGE_OP}] outDir must not be one of the shards (${s.dir})`);
    const layers = sorted.flatMap((s) => readRecords(MERGE_OP, s.dir, s.identity.layers, L).map((record) => ({ dir: s.dir, record })));
    clearForFreshRun(outDir);
    removeStaleTemps(outDir);
    // each layer shard as written by its process: copied under a temporary name, then renamed
    for (const x of layers) {
      const target = path.join(outDir, x.record.file);
      const temp = `${target}.tmp-${process.pid}`;
      fs.copyFileSync(path.join(x.dir, x.record.file), temp);
      const fd = fs.openSync(temp, 'r+');
      try {
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(temp, target);
    }
    const stages = emptyStages();
    const o = first.options;
    const meta = { format: 'pt', producer: 'ntensor', method: String(o.method), rank: String(o.rank), calibration_tokens: String(first.calibration.tokens) };
    const head = runSync(finalizeModel(model, outDir, layers, meta, stages, o.quantizeHead ? headQuantOf(o) : null));
    fs.rmSync(path.join(outDir, WORK), { recursive: true, force: true });
    const reports = layers.flatMap((x) => x.record.reports);
    const seconds = (Date.now() - started) / 1000;
    return {
      report: {
        layers: reports,
        bytesBefore: reports.reduce((s, r) => s + r.shape[0] * r.shape[1] * 4, 0),
        bytesAfter: reports.reduce((s, r) => s + r.weightBytes + r.adapterBytes, 0),
        calibrationTokens: first.calibration.tokens,
        seconds,
        stages: closeStages(stages, seconds),
        options: (({ calibrationWindow: _w, ...rest }) => rest)(o),
      },
      outDir,
      kind: 'model',
      layers: [0, L],
      resumedLayers: 0,
      head,
    };
  } finally {
    model.dispose();
  }
}

/** Whether `dir` holds a run of compressCheckpoint that `resume` can continue. */
export function hasUnfinishedRun(dir: string): boolean {
  return fs.existsSync(path.join(dir, WORK, RUN_FILE));
}
