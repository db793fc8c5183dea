// Shared plumbing of lib/io: one loader body per format, run either synchronously or on
// libuv workers. A loader is a generator that yields the native io calls it needs; the
// sync driver makes them directly, the async driver awaits their Async twins. So the two
// forms cannot drift apart, and a failed native call is thrown back into the generator,
// whose finally blocks dispose what it had allocated.
// Also here: the symlink rule for files a checkpoint folder names (checkInsideFolder), the
// atomic writes made from TypeScript (writeFileAtomic, replaceFolderUnits) and their fault
// injection (NTENSOR_FAULT, as in native/io/file.h).
import * as fs from 'fs';
import * as nodePath from 'path';
import { DTYPES, DType, isPacked } from '../dtype';
import { ErrorCode, isNtError, ntError } from '../errors';
import type { IoOps } from '../native/contract-io';
import { Job, inline, runSync as runJobSync, step as jobStep } from '../job';
import { native } from '../native/loader';

export interface NativeCall<K extends keyof IoOps = keyof IoOps> {
  name: K;
  args: Parameters<IoOps[K]>;
}

export type IoJob<T> = Generator<NativeCall, T, unknown>;

/** Yields a native call and hands back its result, typed: `const h = yield* call('npyHeader', path)`. */
export function* call<K extends keyof IoOps>(name: K, ...args: Parameters<IoOps[K]>): Generator<NativeCall, ReturnType<IoOps[K]>, unknown> {
  return (yield { name, args } as NativeCall) as ReturnType<IoOps[K]>;
}

/** Native messages start with "[nativeOp] "; the caller sees its own op name instead. */
export function renamed(op: string, e: unknown): unknown {
  if (!isNtError(e)) return e;
  return ntError(e.code as ErrorCode, `[${op}] ${e.message.replace(/^\[[^\]]*\]\s*/, '')}`);
}

export function runSync<T>(op: string, job: IoJob<T>): T {
  let step = job.next();
  while (!step.done) {
    let result: unknown;
    try {
      const fn = native[step.value.name] as (...a: unknown[]) => unknown;
      result = fn(...step.value.args);
    } catch (e) {
      step = job.throw(renamed(op, e));
      continue;
    }
    step = job.next(result);
  }
  return step.value;
}

export async function runAsync<T>(op: string, job: IoJob<T>): Promise<T> {
  let step = job.next();
  while (!step.done) {
    let result: unknown;
    try {
      const fn = native[`${step.value.name}Async`] as (...a: unknown[]) => Promise<unknown>;
      result = await fn(...step.value.args);
    } catch (e) {
      step = job.throw(renamed(op, e));
      continue;
    }
    step = job.next(result);
  }
  return step.value;
}

export function checkPath(op: string, path: unknown, arg = 'path'): string {
  if (typeof path !== 'string' || path.length === 0)
    throw ntError('NT_VALUE', `[${op}] ${arg} must be a non-empty string, got ${typeof path === 'string' ? "''" : typeof path}`);
  if (path.includes('\0')) throw ntError('NT_VALUE', `[${op}] ${arg} contains a NUL character`);
  return path;
}

export function checkOptions(op: string, opts: unknown): Record<string, unknown> {
  if (opts === undefined) return {};
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts))
    throw ntError('NT_VALUE', `[${op}] options must be an object`);
  return opts as Record<string, unknown>;
}

/** An optional dtype option; `floatOnly` restricts it to f32/f64/f16/bf16. */
export function checkLoadDType(op: string, d: unknown, floatOnly: boolean): DType | undefined {
  if (d === undefined) return undefined;
  const allowed = DTYPES.filter((x) => !isPacked(x) && (!floatOnly || x === 'f32' || x === 'f64' || x === 'f16' || x === 'bf16'));
  if (typeof d !== 'string' || !(allowed as string[]).includes(d))
    throw ntError(
      isPacked(d as DType) ? 'NT_UNSUPPORTED' : 'NT_DTYPE',
      `[${op}] dtype must be one of ${allowed.join(', ')}, got ${String(d)}`,
    );
  return d as DType;
}

/** obj[key] = value as an own property, even for keys such as "__proto__" from a file. */
export function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

// ---------- files a checkpoint folder names: the symlink rule ----------

const HF_SNAPSHOT = /^(.*[\\/]models--[^\\/]+)[\\/]snapshots[\\/][^\\/]+$/;

function isInside(child: string, parent: string): boolean {
  const rel = nodePath.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !nodePath.isAbsolute(rel));
}

/**
 * Refuses (NT_IO) a file of a checkpoint folder that resolves outside it. Names read from a
 * file (an index's weight_map, a folder's fixed names such as config.json) are relative to
 * the folder, and whatever they resolve to after every symlink must lie inside the folder's
 * own real path: a symlink planted in a downloaded checkpoint must not make ntensor read
 * /etc/passwd or another user's files. The one exception is the Hugging Face hub cache,
 * whose snapshot folders hold nothing but symlinks into their repo's content store:
 *   <cache>/models--<org>--<name>/snapshots/<revision>/<file> -> ../../blobs/<hash>
 * When the folder's real path is such a snapshots/<revision> folder, a file may resolve into
 * <cache>/models--<org>--<name>/blobs/ of that same repo, and nowhere else (not another
 * repo's blobs, not refs/). The folder itself may be reached through a symlink: the caller
 * chose it. A file that does not exist passes; the caller reports it as missing.
 */
export function checkInsideFolder(op: string, folder: string, file: string): void {
  let realFile: string;
  let realFolder: string;
  try {
    realFolder = fs.realpathSync(folder);
  } catch {
    return;
  }
  try {
    realFile = fs.realpathSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      // a dangling symlink is refused only when it points outside; plain missing files pass
      let target: string;
      try {
        target = fs.readlinkSync(file);
      } catch {
        return;
      }
      realFile = nodePath.resolve(nodePath.dirname(file), target);
      if (isInside(realFile, nodePath.resolve(folder))) return;
    } else {
      throw ntError('NT_IO', `[${op}] ${file}: ${(e as Error).message}`);
    }
  }
  if (isInside(realFile, realFolder)) return;
  const hub = HF_SNAPSHOT.exec(realFolder);
  if (hub && isInside(realFile, nodePath.join(hub[1], 'blobs')) && realFile !== nodePath.join(hub[1], 'blobs')) return;
  throw ntError(
    'NT_IO',
    `[${op}] ${file}: resolves to ${realFile}, outside the checkpoint folder ${realFolder}; a file a checkpoint names may ` +
      'only resolve inside its folder (or, in a Hugging Face cache snapshot, into that repo\'s blobs/)',
  );
}

// ---------- fault injection for the writes made from TypeScript ----------

interface FaultRule {
  op: 'open' | 'write' | 'fsync' | 'rename';
  error: string;
  after: number;
  file: string;
}

const FAULT_ERRORS = new Set(['ENOSPC', 'EIO', 'EDQUOT', 'EFBIG', 'EROFS', 'EACCES', 'EPERM', 'EXDEV']);
const FAULT_TEXT: Record<string, string> = { ENOSPC: 'no space left on device', EIO: 'input/output error' };

/**
 * The rules of NTENSOR_FAULT (grammar in native/io/file.h), applied here to the files written
 * from TypeScript (JSON sidecars, folder commits) as the native file layer applies them to
 * tensor files. 'short' writes are native-only and ignored here. Read at each call: a test
 * changes the variable between saves.
 */
function faultRules(): FaultRule[] {
  const spec = process.env.NTENSOR_FAULT;
  if (!spec) return [];
  const out: FaultRule[] = [];
  for (const rule of spec.split(',')) {
    if (rule === '') continue;
    const [op, error, ...rest] = rule.split(':');
    const bad = (why: string) => ntError('NT_VALUE', `NTENSOR_FAULT rule '${rule}': ${why}`);
    if (op !== 'open' && op !== 'write' && op !== 'fsync' && op !== 'rename') throw bad(`unknown operation '${op}'`);
    if (error === 'short' && op === 'write') continue;
    if (!FAULT_ERRORS.has(error)) throw bad(`unknown error '${error}'`);
    const r: FaultRule = { op, error, after: 0, file: '' };
    for (const kv of rest) {
      if (/^after=\d{1,15}$/.test(kv) && op === 'write') r.after = Number(kv.slice(6));
      else if (kv.startsWith('file=')) r.file = kv.slice(5);
      else throw bad(`unknown field '${kv}'`);
    }
    out.push(r);
  }
  return out;
}

/** Throws the injected failure of `op` on `file` (the writeIndex-th write), if a rule says so. */
function injectFault(op: FaultRule['op'], file: string, writeIndex = 0): void {
  for (const r of faultRules()) {
    if (r.op !== op || (r.file !== '' && !file.includes(r.file)) || (op === 'write' && writeIndex < r.after)) continue;
    const e = new Error(`${FAULT_TEXT[r.error] ?? r.error} (injected)`) as NodeJS.ErrnoException;
    e.code = r.error;
    throw e;
  }
}

let tempCounter = 0;

/**
 * Writes `data` to `file` as the native writer does: a temporary file in the same folder,
 * written, fsynced and renamed over the target, so the target is always the old file or the
 * complete new one. NT_IO on failure, with the temporary file removed.
 */
export function writeFileAtomic(op: string, file: string, data: string | Buffer): void {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  writeFileAtomicParts(op, file, (emit) => emit(bytes));
}

/**
 * writeFileAtomic for a file produced in parts: `produce` calls `emit` with each consecutive
 * piece, so a large file (a GGUF model) never has to exist in memory at once. A throw from
 * `produce` leaves the target as it was (the temp file is removed) and is rethrown as is.
 */
export function writeFileAtomicParts(op: string, file: string, produce: (emit: (bytes: Buffer) => void) => void): void {
  const temp = `${file}.tmp-${process.pid}-js${tempCounter++}`;
  let fd = -1;
  try {
    injectFault('open', file);
    fd = fs.openSync(temp, 'wx');
    let k = 0;
    const emit = (bytes: Buffer) => {
      let done = 0;
      do {
        injectFault('write', file, k++);
        if (done < bytes.length) done += fs.writeSync(fd, bytes, done, bytes.length - done);
      } while (done < bytes.length);
    };
    produce(emit);
    if (k === 0) injectFault('write', file, k++); // an empty file still passes the write fault point
    injectFault('fsync', file);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = -1;
    injectFault('rename', file);
    fs.renameSync(temp, file);
  } catch (e) {
    if (fd >= 0) fs.closeSync(fd);
    fs.rmSync(temp, { force: true });
    if (isNtError(e)) throw e; // a rule of NTENSOR_FAULT that does not parse, or the producer's own error
    throw ntError('NT_IO', `[${op}] ${file}: writing failed: ${(e as Error).message}`);
  }
}

// ---------- folders of several files, replaced as a whole ----------

/**
 * A part of a checkpoint folder that a reader loads as a whole: `gate` is the file whose
 * presence makes it loadable (config.json for a model, adapter_config.json for an adapter),
 * `files` the rest (paths relative to the folder).
 */
export interface FolderUnit {
  gate: string;
  files: string[];
}

const STAGE_PREFIX = '.ntensor-stage-';

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function fsyncPath(p: string): void {
  let fd = -1;
  try {
    fd = fs.openSync(p, 'r');
    fs.fsyncSync(fd);
  } catch {
    // best effort: some filesystems refuse fsync on a folder
  } finally {
    if (fd >= 0) fs.closeSync(fd);
  }
}

/** fsyncPath on libuv's pool: a large staged file's flush does not hold the event loop. */
async function fsyncPathAsync(p: string): Promise<void> {
  let h: fs.promises.FileHandle | undefined;
  try {
    h = await fs.promises.open(p, 'r');
    await h.sync();
  } catch {
    // best effort, as fsyncPath
  } finally {
    await h?.close();
  }
}

/**
 * Writes several files into `dir` so that no reader ever sees a mix of old and new that
 * loads. `write(stage)` fills a private staging folder inside `dir` with the new files of
 * `units` (listed in commit order; the last unit is typically the model). Nothing in `dir`
 * changes until every staged file is written and fsynced: a failure or a kill before that
 * leaves the old folder intact (and a staging folder that the next save into `dir` removes).
 * The commit then (1) removes every old gate (`units` and `removeUnits`, last unit first), so
 * no old unit stays loadable, (2) removes `removeUnits`' files and `obsolete`, (3) per unit,
 * renames its files into place and its gate last, (4) fsyncs the folders. Killed during the
 * commit, the folder lacks the gate of each unit not yet complete, so loading it is NT_IO,
 * never a mix. Files of `dir` that no unit names are left alone.
 */
export function replaceFolderUnits<T>(op: string, dir: string, units: FolderUnit[], write: (stage: string) => T, opts: { removeUnits?: FolderUnit[]; obsolete?: string[] } = {}): T {
  return runJobSync(replaceFolderUnitsJob(op, dir, units, (stage) => inline(() => write(stage)), opts));
}

/**
 * replaceFolderUnits as a job: `write` is a job too, so under runAsync the staged files are
 * written and fsynced on libuv workers and the event loop stays free (the commit's renames
 * and removals are metadata operations and stay inline).
 */
export function* replaceFolderUnitsJob<T>(
  op: string,
  dir: string,
  units: FolderUnit[],
  write: (stage: string) => Job<T>,
  opts: { removeUnits?: FolderUnit[]; obsolete?: string[] } = {},
): Job<T> {
  fs.mkdirSync(dir, { recursive: true });
  // stale staging folders of processes that died (kill -9) during an earlier save
  for (const name of fs.readdirSync(dir)) {
    const m = new RegExp(`^${STAGE_PREFIX}(\\d+)-`).exec(name);
    if (m && Number(m[1]) !== process.pid && !processAlive(Number(m[1]))) fs.rmSync(nodePath.join(dir, name), { recursive: true, force: true });
  }
  const stage = nodePath.join(dir, `${STAGE_PREFIX}${process.pid}-${tempCounter++}`);
  fs.mkdirSync(stage);
  let result: T;
  try {
    result = yield* write(stage);
    for (const u of units)
      for (const f of [...u.files, u.gate]) {
        const staged = nodePath.join(stage, f);
        if (!fs.existsSync(staged)) throw ntError('NT_INTERNAL', `[${op}] staged file ${f} is missing`);
        yield* jobStep(() => fsyncPath(staged), () => fsyncPathAsync(staged));
      }
  } catch (e) {
    fs.rmSync(stage, { recursive: true, force: true });
    throw e;
  }
  const step = (what: string, f: () => void) => {
    try {
      f();
    } catch (e) {
      throw ntError('NT_IO', `[${op}] ${dir}: ${what} failed: ${(e as Error).message}; the folder is left without the config file of the part being replaced, so it does not load`);
    }
  };
  try {
    const ungate = [...units, ...(opts.removeUnits ?? [])].reverse();
    for (const u of ungate) step(`removing the old ${u.gate}`, () => fs.rmSync(nodePath.join(dir, u.gate), { force: true }));
    for (const u of opts.removeUnits ?? []) for (const f of u.files) step(`removing ${f}`, () => fs.rmSync(nodePath.join(dir, f), { force: true }));
    for (const f of opts.obsolete ?? []) step(`removing ${f}`, () => fs.rmSync(nodePath.join(dir, f), { force: true }));
    const touched = new Set<string>([dir]);
    for (const u of units) {
      for (const f of [...u.files, u.gate]) {
        const target = nodePath.join(dir, f);
        step(`renaming ${f} into place`, () => {
          fs.mkdirSync(nodePath.dirname(target), { recursive: true });
          injectFault('rename', target);
          fs.renameSync(nodePath.join(stage, f), target);
        });
        touched.add(nodePath.dirname(target));
      }
    }
    for (const d of touched) fsyncPath(d);
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
  return result;
}
