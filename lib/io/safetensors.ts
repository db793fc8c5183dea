// safetensors read/write. Headers are parsed and validated natively (native/io). A tensor
// loaded in its stored dtype is a zero-copy view of the file, mapped copy-on-write (writing
// to it never changes the file; its pages are read on first use and count in RSS once read);
// one that is converted (or misaligned, or `map: false`) is read into fresh memory. Only the
// requested tensors are touched. Sharded checkpoints are read through their
// model.safetensors.index.json. Saving is atomic: temp file in the same folder, then rename.
// A mapped file must not be truncated while its tensors live (the OS would fault the reader).
import * as fs from 'fs';
import * as nodePath from 'path';
import { DType, STORAGE_CTOR, isFloat, isPacked } from '../dtype';
import { ntError } from '../errors';
import type { SafetensorsEntryNative, SafetensorsHeaderNative } from '../native/contract-io';
import { MAX_DIMS, MAX_ELEMENTS, numel, shapeString } from '../shape';
import { native } from '../native/loader';
import { NATIVE_TO, Tensor, adoptMappedStorage } from '../tensor';
import { IoJob, call, checkInsideFolder, checkLoadDType, checkOptions, checkPath, runAsync, runSync, setOwn } from './common';

export interface SafetensorsLoadOptions {
  /** Load only these tensors (only their bytes are read). Default: all. */
  names?: readonly string[];
  /**
   * Convert floating-point tensors to this float dtype on load (e.g. 'f32' for a bf16
   * checkpoint). Integer and bool tensors keep their dtype, as torch's `model.to(dtype)` does.
   */
  dtype?: DType;
  /**
   * Map tensors that keep their stored dtype instead of reading them (default true): loading
   * is near-instant and memory is shared with the page cache. Files past 4 GiB work either way.
   */
  map?: boolean;
}

export interface SafetensorsTensorInfo {
  name: string;
  /** The ntensor dtype it loads as by default; null when ntensor cannot hold it (F8, C64...). */
  dtype: DType | null;
  /** The stored dtype as the format spells it ('F32', 'BF16', 'I64', ...). */
  fileDtype: string;
  shape: number[];
  /** Absolute byte offset of the tensor's data in the file. */
  byteOffset: number;
  byteLength: number;
}

export interface SafetensorsInfo {
  /** In file (offset) order. */
  tensors: SafetensorsTensorInfo[];
  metadata: Record<string, string>;
  /** Length of the JSON header (the 8-byte length field not included). */
  headerBytes: number;
  fileBytes: number;
}

const INDEX_NAME = 'model.safetensors.index.json';
const SINGLE_NAME = 'model.safetensors';

type Source = { kind: 'file'; file: string } | { kind: 'index'; index: string; dir: string };

function statOrThrow(op: string, p: string): fs.Stats {
  try {
    return fs.statSync(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw ntError('NT_IO', `[${op}] ${p}: ${code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`);
  }
}

/** A file, an index .json, or a folder holding model.safetensors.index.json or model.safetensors. */
function resolveSource(op: string, p: string): Source {
  const st = statOrThrow(op, p);
  if (st.isDirectory()) {
    // the folder is the caller's choice; the files it names must resolve inside it
    const index = nodePath.join(p, INDEX_NAME);
    checkInsideFolder(op, p, index);
    if (fs.existsSync(index)) return { kind: 'index', index, dir: p };
    const single = nodePath.join(p, SINGLE_NAME);
    checkInsideFolder(op, p, single);
    if (fs.existsSync(single)) return { kind: 'file', file: single };
    throw ntError('NT_IO', `[${op}] ${p}: the folder has neither ${SINGLE_NAME} nor ${INDEX_NAME}`);
  }
  if (p.endsWith('.json')) return { kind: 'index', index: p, dir: nodePath.dirname(p) };
  return { kind: 'file', file: p };
}

function checkNames(op: string, names: unknown): string[] | undefined {
  if (names === undefined) return undefined;
  if (!Array.isArray(names) || names.some((n) => typeof n !== 'string'))
    throw ntError('NT_VALUE', `[${op}] names must be an array of strings`);
  const seen = new Set<string>();
  for (const n of names as string[]) {
    if (seen.has(n)) throw ntError('NT_VALUE', `[${op}] names lists '${n}' twice`);
    seen.add(n);
  }
  return (names as string[]).slice();
}

interface Part {
  file: string;
  /** Absolute offset of the data section (tensor offsets are relative to it). */
  dataStart: number;
  entries: SafetensorsEntryNative[];
}

/** The dtype an entry loads as, or a coded error naming the file and tensor. */
function targetDType(op: string, file: string, e: SafetensorsEntryNative, dtype: DType | undefined): DType {
  if (e.loadAs === null)
    throw ntError('NT_UNSUPPORTED', `[${op}] ${file}: tensor '${e.name}' has dtype ${e.dtype}, which ntensor cannot load; pass \`names\` to load the others`);
  if (e.shape.length > MAX_DIMS)
    throw ntError('NT_UNSUPPORTED', `[${op}] ${file}: tensor '${e.name}' has rank ${e.shape.length}; ntensor tensors have at most ${MAX_DIMS} dimensions`);
  if (numel(e.shape) > MAX_ELEMENTS)
    throw ntError('NT_UNSUPPORTED', `[${op}] ${file}: tensor '${e.name}' ${shapeString(e.shape)} has ${numel(e.shape)} elements; at most ${MAX_ELEMENTS}`);
  const own = e.loadAs as DType;
  return dtype !== undefined && isFloat(own) ? dtype : own;
}

/** Kept in its stored dtype, non-empty, lendable by Node, and element-aligned in the file (TypedArray views need it). */
function mappable(e: SafetensorsEntryNative, target: DType, dataStart: number): boolean {
  const bytes = e.end - e.begin;
  const elem = STORAGE_CTOR[target].BYTES_PER_ELEMENT;
  return e.loadAs === target && bytes > 0 && bytes <= NATIVE_TO && bytes === numel(e.shape) * elem && (dataStart + e.begin) % elem === 0;
}

function entryMap(header: SafetensorsHeaderNative): Map<string, SafetensorsEntryNative> {
  return new Map(header.tensors.map((e) => [e.name, e]));
}

function* planParts(op: string, source: Source, names: string[] | undefined): IoJob<{ parts: Part[]; order: string[] }> {
  if (source.kind === 'file') {
    const header = yield* call('safetensorsHeader', source.file);
    const byName = entryMap(header);
    const order = names ?? header.tensors.map((e) => e.name);
    const entries = order.map((n) => {
      const e = byName.get(n);
      if (!e) throw ntError('NT_IO', `[${op}] ${source.file}: no tensor named '${n}'`);
      return e;
    });
    return { parts: [{ file: source.file, dataStart: header.dataStart, entries }], order };
  }
  const index = yield* call('safetensorsIndex', source.index);
  const shardOf = new Map<string, string>();
  index.names.forEach((n, i) => shardOf.set(n, index.files[i]));
  const order = names ?? index.names;
  const wanted = new Map<string, string[]>(); // shard file -> names, in first-use order
  for (const n of order) {
    const shard = shardOf.get(n);
    if (shard === undefined) throw ntError('NT_IO', `[${op}] ${source.index}: the index has no tensor '${n}'`);
    if (!wanted.has(shard)) wanted.set(shard, []);
    wanted.get(shard)!.push(n);
  }
  const parts: Part[] = [];
  for (const [shard, shardNames] of wanted) {
    const file = nodePath.join(source.dir, shard);
    checkInsideFolder(op, source.dir, file); // an index names its shards: never outside its folder
    const header = yield* call('safetensorsHeader', file);
    const byName = entryMap(header);
    parts.push({
      file,
      dataStart: header.dataStart,
      entries: shardNames.map((n) => {
        const e = byName.get(n);
        if (!e) throw ntError('NT_IO', `[${op}] ${file}: the index places tensor '${n}' in this shard, but it has no such tensor`);
        return e;
      }),
    });
  }
  return { parts, order };
}

function* loadJob(op: string, path: unknown, options: unknown): IoJob<Record<string, Tensor>> {
  const p = checkPath(op, path);
  const opts = checkOptions(op, options);
  const names = checkNames(op, opts.names);
  const dtype = checkLoadDType(op, opts.dtype, true);
  if (opts.map !== undefined && typeof opts.map !== 'boolean') throw ntError('NT_VALUE', `[${op}] map must be a boolean, got ${typeof opts.map}`);
  const map = opts.map !== false;
  const { parts, order } = yield* planParts(op, resolveSource(op, p), names);

  // Validate every requested tensor before allocating any.
  const targets = parts.map((part) => part.entries.map((e) => targetDType(op, part.file, e, dtype)));
  const loaded = new Map<string, Tensor>();
  let ok = false;
  try {
    for (let k = 0; k < parts.length; ++k) {
      const { file, dataStart, entries } = parts[k];
      const triples: (string | Tensor['_storage'] | Float64Array)[] = [];
      const mapped: number[] = [];
      entries.forEach((e, i) => {
        if (map && mappable(e, targets[k][i], dataStart)) mapped.push(i);
        else {
          const t = Tensor._empty(op, e.shape, targets[k][i]);
          loaded.set(e.name, t);
          triples.push(e.name, t._storage, t._metaArray);
        }
      });
      if (mapped.length > 0) {
        const views = native.storageMapFile(file, mapped.map((i) => dataStart + entries[i].begin), mapped.map((i) => entries[i].end - entries[i].begin));
        mapped.forEach((i, j) => {
          const d = targets[k][i];
          const storage = adoptMappedStorage(new STORAGE_CTOR[d](views[j], 0, views[j].byteLength / STORAGE_CTOR[d].BYTES_PER_ELEMENT));
          loaded.set(entries[i].name, Tensor._wrap(storage, d, entries[i].shape));
        });
      }
      if (triples.length > 0) yield* call('safetensorsRead', file, ...triples);
    }
    ok = true;
  } finally {
    if (!ok) for (const t of loaded.values()) t.dispose();
  }
  const out: Record<string, Tensor> = {};
  for (const n of order) setOwn(out, n, loaded.get(n)!);
  return out;
}

/**
 * Tensors of a safetensors file, of a sharded checkpoint (its model.safetensors.index.json),
 * or of a folder holding either. Only the tensors named in `names` are read.
 */
export function loadSafetensors(path: string, opts: SafetensorsLoadOptions = {}): Record<string, Tensor> {
  return runSync('io.loadSafetensors', loadJob('io.loadSafetensors', path, opts));
}

/** loadSafetensors with the file reading on libuv workers: the event loop stays free. */
export function loadSafetensorsAsync(path: string, opts: SafetensorsLoadOptions = {}): Promise<Record<string, Tensor>> {
  return runAsync('io.loadSafetensorsAsync', loadJob('io.loadSafetensorsAsync', path, opts));
}

function* infoJob(op: string, path: unknown): IoJob<SafetensorsInfo> {
  const p = checkPath(op, path);
  const source = resolveSource(op, p);
  if (source.kind !== 'file')
    throw ntError('NT_VALUE', `[${op}] ${p}: is a sharded checkpoint; ask for the info of one shard file`);
  const h = yield* call('safetensorsHeader', source.file);
  const metadata: Record<string, string> = {};
  for (const [k, v] of h.metadata) setOwn(metadata, k, v);
  return {
    tensors: h.tensors.map((e) => ({
      name: e.name,
      dtype: e.loadAs as DType | null,
      fileDtype: e.dtype,
      shape: e.shape,
      byteOffset: h.dataStart + e.begin,
      byteLength: e.end - e.begin,
    })),
    metadata,
    headerBytes: h.headerBytes,
    fileBytes: h.fileBytes,
  };
}

/** The header of a safetensors file (no tensor data is read). */
export function safetensorsInfo(path: string): SafetensorsInfo {
  return runSync('io.safetensorsInfo', infoJob('io.safetensorsInfo', path));
}

function* saveJob(op: string, path: unknown, tensors: unknown, metadata: unknown): IoJob<void> {
  const p = checkPath(op, path);
  if (tensors === null || typeof tensors !== 'object' || Array.isArray(tensors) || tensors instanceof Tensor)
    throw ntError('NT_VALUE', `[${op}] tensors must be an object mapping names to tensors`);
  const triples: (string | Tensor['_storage'] | Float64Array)[] = [];
  for (const [name, t] of Object.entries(tensors as Record<string, unknown>)) {
    if (!(t instanceof Tensor)) throw ntError('NT_VALUE', `[${op}] tensors['${name}'] is not a Tensor`);
    t._check(op, `tensors['${name}']`);
    if (name === '' || name === '__metadata__')
      throw ntError('NT_VALUE', `[${op}] '${name}' cannot name a tensor (empty or reserved)`);
    if (isPacked(t.dtype))
      throw ntError('NT_UNSUPPORTED', `[${op}] tensor '${name}' has dtype ${t.dtype}, which safetensors cannot store; astype('u8') or unpack first`);
    triples.push(name, t._storage, t._metaArray);
  }
  const flat: string[] = [];
  if (metadata !== undefined) {
    if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata))
      throw ntError('NT_VALUE', `[${op}] metadata must be an object of strings`);
    for (const [k, v] of Object.entries(metadata as Record<string, unknown>)) {
      if (typeof v !== 'string') throw ntError('NT_VALUE', `[${op}] metadata['${k}'] must be a string, got ${typeof v}`);
      flat.push(k, v);
    }
  }
  yield* call('safetensorsSave', p, flat, ...triples);
}

/**
 * Writes tensors (strided views are written contiguously) and string metadata. The file
 * appears complete or not at all: data goes to a temp file in the same folder, then renamed.
 */
export function saveSafetensors(path: string, tensors: Record<string, Tensor>, metadata?: Record<string, string>): void {
  runSync('io.saveSafetensors', saveJob('io.saveSafetensors', path, tensors, metadata));
}

export function saveSafetensorsAsync(path: string, tensors: Record<string, Tensor>, metadata?: Record<string, string>): Promise<void> {
  return runAsync('io.saveSafetensorsAsync', saveJob('io.saveSafetensorsAsync', path, tensors, metadata));
}
