// Tensors parked on disk between two passes over a layer. The sequential pipeline needs each
// block's projection input twice (once for its covariance, once after the projection is
// compressed); at real size that is rows × intermediate f32 (738 MiB per layer for 32k tokens of
// a 1.1B model), which would otherwise sit in RSS next to the eigh workspace. The file is
// unlinked as soon as it is open: it lives in the page cache, never counts in RSS and cannot
// outlive the process, whatever kills it.
import * as fs from 'fs';
import * as path from 'path';
import { ntError } from '../errors';
import { Job, step } from '../job';
import { Tensor } from '../tensor';

let files = 0;

export class SpillFile {
  private fd: number | null;
  private readonly entries: { offset: number; shape: readonly number[] }[] = [];
  private end = 0;

  constructor(dir: string) {
    const file = path.join(dir, `.spill.tmp-${process.pid}-${files++}`);
    this.fd = fs.openSync(file, 'w+', 0o600);
    fs.unlinkSync(file);
  }

  get length(): number {
    return this.entries.length;
  }

  /** Appends a contiguous f32 tensor's elements; the caller may dispose it once this is done. */
  *put(t: Tensor): Job<void> {
    const fd = this.open();
    const bytes = asBytes(t.data as Float32Array);
    const offset = this.end;
    yield* step(
      () => writeAllSync(fd, bytes, offset),
      () => writeAll(fd, bytes, offset),
    );
    this.entries.push({ offset, shape: t.shape.slice() });
    this.end += bytes.byteLength;
  }

  /** A new tensor holding the i-th tensor put. */
  *get(i: number): Job<Tensor> {
    const fd = this.open();
    const { offset, shape } = this.entries[i];
    const t = Tensor._empty('spill', shape, 'f32');
    try {
      const bytes = asBytes(t.data as Float32Array);
      yield* step(
        () => readAllSync(fd, bytes, offset),
        () => readAll(fd, bytes, offset),
      );
      return t;
    } catch (e) {
      t.dispose();
      throw e;
    }
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }

  private open(): number {
    if (this.fd === null) throw ntError('NT_VALUE', '[spill] the spill file is closed');
    return this.fd;
  }
}

const asBytes = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

// positional reads and writes may move fewer bytes than asked (a full disk reports ENOSPC on the next call)
function writeAllSync(fd: number, bytes: Uint8Array, offset: number): void {
  for (let done = 0; done < bytes.byteLength; ) done += fs.writeSync(fd, bytes, done, bytes.byteLength - done, offset + done);
}

function readAllSync(fd: number, bytes: Uint8Array, offset: number): void {
  for (let done = 0; done < bytes.byteLength; ) {
    const n = fs.readSync(fd, bytes, done, bytes.byteLength - done, offset + done);
    if (n === 0) throw ntError('NT_IO', `[spill] the spill file ended at byte ${offset + done}, expected ${offset + bytes.byteLength}`);
    done += n;
  }
}

function writeAll(fd: number, bytes: Uint8Array, offset: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const next = (done: number) => {
      if (done === bytes.byteLength) return resolve();
      fs.write(fd, bytes, done, bytes.byteLength - done, offset + done, (err, n) => (err ? reject(err) : next(done + n)));
    };
    next(0);
  });
}

function readAll(fd: number, bytes: Uint8Array, offset: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const next = (done: number) => {
      if (done === bytes.byteLength) return resolve();
      fs.read(fd, bytes, done, bytes.byteLength - done, offset + done, (err, n) => {
        if (err) return reject(err);
        if (n === 0) return reject(ntError('NT_IO', `[spill] the spill file ended at byte ${offset + done}, expected ${offset + bytes.byteLength}`));
        next(done + n);
      });
    };
    next(0);
  });
}
