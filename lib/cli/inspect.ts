// `ntensor inspect <file|dir>`: the tensors of a .safetensors file, a Hugging Face folder
// (model.safetensors or a sharded model.safetensors.index.json), a GGUF file or a .npy file:
// names, dtypes, shapes, sizes, totals and metadata. Reads headers only for safetensors and GGUF.
import * as fs from 'fs';
import * as path from 'path';
import type { Command } from 'commander';
import type { CliContext } from './context';
import { formatBytes, formatCount, formatShortCount, keyValues, shapeText, table } from './format';

type Library = typeof import('../index');

export interface InspectedTensor {
  name: string;
  /** The stored dtype as the file spells it (safetensors 'F32', 'BF16', ...; ggml's 'Q4_0', 'Q6_K', ...; the ntensor dtype for .npy). */
  dtype: string;
  /** The ntensor dtype it loads as ('q4 QTensor' / 'q8 QTensor' for GGUF Q4_0 / Q8_0, 'f32 (dequantized)' for the other ggml quants); null when ntensor cannot hold it (F8, I64 wider than i32, an unknown ggml type...). */
  loadsAs: string | null;
  shape: number[];
  parameters: number;
  bytes: number;
  /** Shard file (relative to the folder) when the model is split over several files. */
  file?: string;
}

export interface Inspection {
  path: string;
  format: 'safetensors' | 'gguf' | 'npy';
  files: { path: string; bytes: number; headerBytes?: number }[];
  tensors: InspectedTensor[];
  totals: { tensors: number; parameters: number; bytes: number; fileBytes: number };
  metadata: Record<string, string>;
}

const numel = (shape: readonly number[]) => shape.reduce((p, d) => p * d, 1);

function ioError(nt: Library, message: string): Error {
  return nt.ntError('NT_IO', message);
}

/** The shard files of an index .json: its weight_map's values, with the index's metadata. */
function indexShards(nt: Library, index: string): { files: string[]; metadata: Record<string, string> } {
  let text: string;
  try {
    text = fs.readFileSync(index, 'utf8');
  } catch (e) {
    throw ioError(nt, `${path.basename(index)}: ${(e as Error).message}`);
  }
  let parsed: { metadata?: Record<string, unknown>; weight_map?: Record<string, unknown> };
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw ioError(nt, `${path.basename(index)} is not valid JSON: ${(e as Error).message}`);
  }
  const map = parsed?.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map))
    throw ioError(nt, `${path.basename(index)} has no weight_map object`);
  const files = [...new Set(Object.values(map).map(String))].sort();
  // shards live beside the index: a name that climbs out of the folder is a broken (or hostile) index
  const bad = files.find((f) => f === '' || path.isAbsolute(f) || f.split(/[\\/]/).includes('..'));
  if (bad !== undefined) throw ioError(nt, `${path.basename(index)} names shard '${bad}' outside its folder`);
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(parsed.metadata ?? {})) metadata[k] = typeof v === 'string' ? v : JSON.stringify(v);
  return { files, metadata };
}

/** The shard files of a folder: from its index, else model.safetensors, else every *.safetensors. */
function folderShards(nt: Library, dir: string): { files: string[]; metadata: Record<string, string> } {
  const index = path.join(dir, 'model.safetensors.index.json');
  if (fs.existsSync(index)) return indexShards(nt, index);
  if (fs.existsSync(path.join(dir, 'model.safetensors'))) return { files: ['model.safetensors'], metadata: {} };
  const all = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.safetensors'))
    .sort();
  if (all.length === 0) throw ioError(nt, 'folder has no model.safetensors, model.safetensors.index.json or *.safetensors file');
  return { files: all, metadata: {} };
}

function inspectSafetensors(nt: Library, target: string, kind: 'dir' | 'index' | 'file'): Inspection {
  const { files, metadata } =
    kind === 'dir' ? folderShards(nt, target) : kind === 'index' ? indexShards(nt, target) : { files: [path.basename(target)], metadata: {} };
  const base = kind === 'dir' ? target : path.dirname(target);
  const result: Inspection = {
    path: target,
    format: 'safetensors',
    files: [],
    tensors: [],
    totals: { tensors: 0, parameters: 0, bytes: 0, fileBytes: 0 },
    metadata: { ...metadata },
  };
  for (const file of files) {
    const full = path.join(base, file);
    if (!fs.existsSync(full)) throw ioError(nt, `shard ${file} listed in the index does not exist`);
    const header = nt.io.safetensorsInfo(full);
    result.files.push({ path: file, bytes: header.fileBytes, headerBytes: header.headerBytes });
    for (const [k, v] of Object.entries(header.metadata ?? {})) result.metadata[k] = String(v);
    for (const t of header.tensors) {
      const shape = Array.from(t.shape);
      result.tensors.push({
        name: t.name,
        dtype: t.fileDtype,
        loadsAs: t.dtype,
        shape,
        parameters: numel(shape),
        bytes: t.byteLength,
        ...(files.length > 1 ? { file } : {}),
      });
    }
  }
  return result;
}

/** A metadata value as one line; long arrays (a vocabulary) by type and length. */
function ggufValueText(v: unknown, type: string): string {
  if (Array.isArray(v)) return v.length <= 16 ? JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? x.toString() : x)) : `${type}[${v.length}]`;
  return typeof v === 'string' ? v : String(v);
}

function inspectGguf(nt: Library, target: string): Inspection {
  const g = nt.io.readGguf(target);
  try {
    const loadsAs = (type: string): string | null => {
      const how = nt.io.GGUF_TYPE_HANDLING[type];
      if (how === 'mapped') return type.toLowerCase();
      if (how === 'qtensor') return type === 'Q4_0' ? 'q4 QTensor' : 'q8 QTensor';
      return how === 'dequantized' ? 'f32 (dequantized)' : null;
    };
    const metadata: Record<string, string> = {};
    for (const [k, v] of Object.entries(g.metadata)) metadata[k] = ggufValueText(v, g.metadataTypes[k]);
    return {
      path: target,
      format: 'gguf',
      files: [{ path: path.basename(target), bytes: g.fileBytes, headerBytes: g.dataStart }],
      tensors: g.tensors.map((t) => ({ name: t.name, dtype: t.type, loadsAs: loadsAs(t.type), shape: [...t.shape], parameters: numel(t.shape), bytes: t.byteLength })),
      totals: { tensors: 0, parameters: 0, bytes: 0, fileBytes: 0 },
      metadata,
    };
  } finally {
    g.dispose();
  }
}

function inspectNpy(nt: Library, target: string): Inspection {
  const t = nt.io.loadNpy(target);
  try {
    const shape = Array.from(t.shape);
    const bytes = t._storage.BYTES_PER_ELEMENT * t.size;
    return {
      path: target,
      format: 'npy',
      files: [{ path: path.basename(target), bytes: fs.statSync(target).size }],
      tensors: [{ name: path.basename(target, '.npy'), dtype: t.dtype, loadsAs: t.dtype, shape, parameters: t.size, bytes }],
      totals: { tensors: 1, parameters: 0, bytes: 0, fileBytes: 0 },
      metadata: {},
    };
  } finally {
    t.dispose();
  }
}

/** Reads the tensor list of a file or folder; throws coded errors (NT_IO for anything unreadable). */
export function inspectPath(nt: Library, target: string): Inspection {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(target);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw ioError(nt, code === 'ENOENT' ? 'no such file or directory' : (e as Error).message);
  }
  let result: Inspection;
  const lower = target.toLowerCase();
  if (stat.isDirectory()) result = inspectSafetensors(nt, target, 'dir');
  else if (lower.endsWith('.npy')) result = inspectNpy(nt, target);
  else if (lower.endsWith('.gguf')) result = inspectGguf(nt, target);
  else if (lower.endsWith('.safetensors')) result = inspectSafetensors(nt, target, 'file');
  else if (lower.endsWith('.safetensors.index.json')) result = inspectSafetensors(nt, target, 'index');
  else throw ioError(nt, 'not a .safetensors file, a .safetensors.index.json, a .gguf file, a .npy file or a model folder');
  result.totals = {
    tensors: result.tensors.length,
    parameters: result.tensors.reduce((s, t) => s + t.parameters, 0),
    bytes: result.tensors.reduce((s, t) => s + t.bytes, 0),
    fileBytes: result.files.reduce((s, f) => s + f.bytes, 0),
  };
  return result;
}

const METADATA_WIDTH = 200;

export function renderInspection(r: Inspection, ctx: CliContext): string {
  const st = ctx.st;
  const sharded = r.files.length > 1;
  const columns = [
    { header: 'name' },
    { header: 'dtype' },
    { header: 'loads as' },
    { header: 'shape' },
    { header: 'params', align: 'right' as const },
    { header: 'bytes', align: 'right' as const },
    ...(sharded ? [{ header: 'file' }] : []),
  ];
  const rows = r.tensors.map((t) => [
    t.name,
    t.dtype,
    t.loadsAs ?? st.yellow('unsupported'),
    shapeText(t.shape),
    formatCount(t.parameters),
    formatBytes(t.bytes),
    ...(sharded ? [t.file ?? ''] : []),
  ]);
  let text = `${st.bold(r.path)} (${r.format}, ${r.files.length} file${r.files.length > 1 ? 's' : ''}, ${formatBytes(r.totals.fileBytes)})\n\n`;
  text += table(columns, rows, st);
  const byDtype = new Map<string, number>();
  for (const t of r.tensors) byDtype.set(t.dtype, (byDtype.get(t.dtype) ?? 0) + t.parameters);
  text +=
    '\n' +
    keyValues(
      [
        ['tensors', formatCount(r.totals.tensors)],
        ['parameters', `${formatCount(r.totals.parameters)} (${formatShortCount(r.totals.parameters)})`],
        ['bytes', `${formatCount(r.totals.bytes)} (${formatBytes(r.totals.bytes)})`],
        ['dtypes', [...byDtype].map(([d, n]) => `${d} ${formatShortCount(n)}`).join(', ')],
      ],
      st,
    );
  const meta = Object.entries(r.metadata);
  if (meta.length > 0) {
    text += '\n' + st.bold('metadata') + '\n';
    const clip = (v: string) => (v.length > METADATA_WIDTH ? `${v.slice(0, METADATA_WIDTH)}... (${v.length} chars)` : v);
    text += keyValues(
      meta.map(([k, v]) => [`  ${k}`, clip(v)] as const),
      st,
    );
  }
  return text;
}

/** The library's "[io.op] <path>: " prefix repeats what the CLI line already says: drop it. */
function withoutOpPrefix(e: unknown, target: string): unknown {
  const err = e as { message?: unknown; code?: unknown };
  if (typeof err?.message !== 'string') return e;
  let message = err.message.replace(/^\[[^\]]*\]\s*/, '');
  if (message.startsWith(`${target}: `)) message = message.slice(target.length + 2);
  return { message, code: err.code };
}

export function registerInspect(program: Command, ctx: CliContext): void {
  program
    .command('inspect')
    .description('list the tensors of a .safetensors file, a Hugging Face model folder, a GGUF file or a .npy file')
    .argument('<path>', 'a .safetensors file, a folder with model.safetensors(.index.json), a .gguf file or a .npy file')
    .option('--json', 'print the listing as JSON')
    .action((target: string, opts: { json?: boolean }) => {
      const nt = ctx.library('inspect');
      if (!nt) return;
      let result: Inspection;
      try {
        result = inspectPath(nt, target);
      } catch (e) {
        ctx.failWith('inspect', withoutOpPrefix(e, target), `${target}: `);
        return;
      }
      ctx.out(opts.json ? JSON.stringify(result, null, 2) + '\n' : renderInspection(result, ctx));
    });
}
