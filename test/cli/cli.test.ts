// The `ntensor` command, run in-process through main() with a captured output object.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { main } from '../../lib/cli/main';
import { CliOutput, formatBytes, formatCount, formatShortCount, style, table, visibleLength } from '../../lib/cli/format';
import { PACKAGE_ROOT } from '../../lib/native/loader';
import * as nt from '../../lib';
import { cli } from './run-cli';



// The project's own copy of the fixture model (committed under fixtures/).
const FIXTURE = path.join(PACKAGE_ROOT, 'fixtures', 'tinyllama-fortunes', 'model.safetensors');

/** A minimal safetensors file: u64 little-endian header length, JSON header, raw data. */
function writeSafetensors(file: string, tensors: Record<string, { dtype: string; shape: number[]; data: Uint8Array }>, metadata?: Record<string, string>): void {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  const parts: Uint8Array[] = [];
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length] };
    offset += t.data.length;
    parts.push(t.data);
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  fs.writeFileSync(file, Buffer.concat([len, Buffer.from(json), ...parts]));
}

/** A minimal version-1.0 .npy file of little-endian float32 values. */
function writeNpyF32(file: string, shape: number[], values: Float32Array): void {
  let dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const total = 10 + dict.length + 1;
  dict += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(dict.length, 8);
  fs.writeFileSync(file, Buffer.concat([head, Buffer.from(dict, 'latin1'), Buffer.from(values.buffer, values.byteOffset, values.byteLength)]));
}

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ntensor-cli-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('ntensor (program)', () => {
  it('prints the package version with --version and exits 0', async () => {
    const r = await cli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(require('../../package.json').version);
  });

  it('lists the commands with --help and exits 0', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/info/);
    expect(r.stdout).toMatch(/inspect/);
  });

  it('rejects an unknown command with commander\'s error and exit code 1', async () => {
    const r = await cli(['frobnicate']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/unknown command 'frobnicate'/);
    expect(r.stdout).toBe('');
  });

  it('rejects an unknown option with exit code 1', async () => {
    const r = await cli(['info', '--bogus']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/unknown option '--bogus'/);
  });

  it('requires the path argument of inspect', async () => {
    const r = await cli(['inspect']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/missing required argument 'path'/);
  });
});

describe('ntensor without a loadable addon', () => {
  it('still prints --version, and info explains the load failure on stderr with exit code 1', async () => {
    const saved = process.env.NTENSOR_ADDON;
    process.env.NTENSOR_ADDON = path.join(tmp, 'no-such-addon.node');
    try {
      let stdout = '';
      let stderr = '';
      const output: CliOutput = { out: (s) => (stdout += s), err: (s) => (stderr += s), color: false };
      const codes: number[] = [];
      // a fresh module registry, so the CLI's lazy require of the library runs the loader again
      await jest.isolateModulesAsync(async () => {
        const isolated: typeof import('../../lib/cli/main') = require('../../lib/cli/main');
        codes.push(await isolated.main(['node', 'ntensor', '--version'], output));
        codes.push(await isolated.main(['node', 'ntensor', 'info'], output));
      });
      expect(codes).toEqual([0, 1]);
      expect(stdout.trim()).toBe(require('../../package.json').version);
      expect(stderr).toMatch(/^ntensor info: Cannot find module '.*no-such-addon\.node'/);
      expect(stderr).not.toMatch(/\n\s+at |Require stack/);
    } finally {
      if (saved === undefined) delete process.env.NTENSOR_ADDON;
      else process.env.NTENSOR_ADDON = saved;
    }
  });
});

describe('ntensor info', () => {
  it('prints the version, flavor, addon, CPU features, ISAs, kernels, threads and CUDA status', async () => {
    const info = nt.info();
    const r = await cli(['info']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(new RegExp(`^flavor\\s+${info.flavor}$`, 'm'));
    expect(r.stdout).toMatch(new RegExp(`^version\\s+${info.version.replace(/\./g, '\\.')}$`, 'm'));
    expect(r.stdout).toContain(info.addon);
    expect(r.stdout).toMatch(new RegExp(`^threads\\s+${info.threads}$`, 'm'));
    expect(r.stdout).toMatch(new RegExp(`^CPU features\\s+${info.cpu.features.join(' ')}$`, 'm'));
    // the kernels section: "  <isa>  slot slot ..." with continuation lines indented
    const section = r.stdout.split(/^kernels.*$/m)[1].split(/\n\n/)[0];
    const chosen: Record<string, string> = {};
    let isa = '';
    for (const line of section.split('\n').filter((l) => l.trim())) {
      const m = /^ {2}(\S*)\s+(.*)$/.exec(line)!;
      if (!line.startsWith('   ')) isa = m[1];
      for (const slot of (line.startsWith('   ') ? line.trim() : m[2]).split(' ')) chosen[slot] = isa;
    }
    expect(chosen).toEqual(info.cpu.kernels);
    if (info.cuda.length === 0) expect(r.stdout).toContain(info.cudaStatus);
    expect(r.stdout).not.toMatch(/\x1b\[/);
  });

  it('prints nt.info() as JSON with --json', async () => {
    const r = await cli(['info', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(JSON.parse(JSON.stringify(nt.info())));
  });

  it('colors only when the output says so', async () => {
    const r = await cli(['info'], true);
    expect(r.stdout).toMatch(/\x1b\[1m/);
  });
});

describe('ntensor inspect', () => {
  it('lists the tensors of the fixture model with dtypes, shapes and totals', async () => {
    const r = await cli(['inspect', FIXTURE]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const row = r.stdout.split('\n').find((l) => l.startsWith('model.embed_tokens.weight '));
    expect(row).toBeDefined();
    expect(row).toMatch(/\[256, 256\]/);
    expect(row).toMatch(/65,536/);
    const checksums = JSON.parse(fs.readFileSync(path.join(path.dirname(FIXTURE), 'checksums.json'), 'utf8'));
    const entries: { shape: number[] }[] = Object.values(checksums.tensors ?? checksums);
    const params = entries.reduce((s, t) => s + t.shape.reduce((p, d) => p * d, 1), 0);
    expect(r.stdout).toMatch(new RegExp(`^tensors\\s+${entries.length}$`, 'm'));
    expect(r.stdout).toMatch(new RegExp(`^parameters\\s+${formatCount(params)} `, 'm'));
  });

  it('gives the fixture listing as JSON with --json, one entry per tensor', async () => {
    const r = await cli(['inspect', '--json', FIXTURE]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    const emb = j.tensors.find((t: { name: string }) => t.name === 'model.embed_tokens.weight');
    expect(emb.shape).toEqual([256, 256]);
    const width: Record<string, number> = { F32: 4, F16: 2, BF16: 2 };
    expect(emb.bytes).toBe(256 * 256 * width[emb.dtype]);
    expect(j.totals.tensors).toBe(j.tensors.length);
    expect(j.totals.bytes).toBe(j.tensors.reduce((s: number, t: { bytes: number }) => s + t.bytes, 0));
    expect(j.totals.fileBytes).toBe(fs.statSync(FIXTURE).size);
  });

  it('lists a written safetensors file with its metadata', async () => {
    const file = path.join(tmp, 'small.safetensors');
    writeSafetensors(
      file,
      {
        'a.weight': { dtype: 'F32', shape: [3, 5], data: new Uint8Array(60).map((_, i) => i) },
        'b.bias': { dtype: 'F16', shape: [7], data: new Uint8Array(14).map((_, i) => 3 * i) },
      },
      { format: 'pt', note: 'hello' },
    );
    const r = await cli(['inspect', '--json', file]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.tensors.map((t: { name: string; shape: number[] }) => [t.name, t.shape])).toEqual([
      ['a.weight', [3, 5]],
      ['b.bias', [7]],
    ]);
    expect(j.tensors.map((t: { bytes: number }) => t.bytes)).toEqual([60, 14]);
    expect(j.totals).toEqual({ tensors: 2, parameters: 22, bytes: 74, fileBytes: fs.statSync(file).size });
    expect(j.metadata).toEqual({ format: 'pt', note: 'hello' });
    const text = await cli(['inspect', file]);
    expect(text.stdout).toMatch(/^\s+note\s+hello$/m);
    expect(text.stdout).toMatch(/^parameters\s+22 /m);
  });

  it('lists a sharded Hugging Face folder through its index, naming the shard of each tensor', async () => {
    const dir = path.join(tmp, 'sharded');
    fs.mkdirSync(dir);
    writeSafetensors(path.join(dir, 'model-00001-of-00002.safetensors'), {
      'x.weight': { dtype: 'F32', shape: [2, 2], data: new Uint8Array(16).fill(7) },
    });
    writeSafetensors(path.join(dir, 'model-00002-of-00002.safetensors'), {
      'y.weight': { dtype: 'F32', shape: [4], data: new Uint8Array(16).fill(9) },
      'z.weight': { dtype: 'F32', shape: [1, 1, 2], data: new Uint8Array(8).fill(1) },
    });
    fs.writeFileSync(
      path.join(dir, 'model.safetensors.index.json'),
      JSON.stringify({
        metadata: { total_size: 40 },
        weight_map: { 'x.weight': 'model-00001-of-00002.safetensors', 'y.weight': 'model-00002-of-00002.safetensors', 'z.weight': 'model-00002-of-00002.safetensors' },
      }),
    );
    const r = await cli(['inspect', '--json', dir]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.files.map((f: { path: string }) => f.path)).toEqual(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
    expect(j.tensors.map((t: { name: string; file: string }) => [t.name, t.file])).toEqual([
      ['x.weight', 'model-00001-of-00002.safetensors'],
      ['y.weight', 'model-00002-of-00002.safetensors'],
      ['z.weight', 'model-00002-of-00002.safetensors'],
    ]);
    expect(j.totals.parameters).toBe(10);
    expect(j.metadata.total_size).toBe('40');
  });

  it('lists a folder holding model.safetensors', async () => {
    const dir = path.join(tmp, 'single');
    fs.mkdirSync(dir);
    writeSafetensors(path.join(dir, 'model.safetensors'), { w: { dtype: 'F32', shape: [3], data: new Uint8Array(12).fill(2) } });
    const r = await cli(['inspect', dir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^w\s+F32\s+f32\s+\[3\]\s+3\s+12 B$/m);
  });

  it('lists a .npy file', async () => {
    const file = path.join(tmp, 'arr.npy');
    writeNpyF32(file, [2, 3], new Float32Array([1, 2, 3, 4, 5, 6]));
    const r = await cli(['inspect', '--json', file]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.format).toBe('npy');
    expect(j.tensors).toEqual([{ name: 'arr', dtype: 'f32', loadsAs: 'f32', shape: [2, 3], parameters: 6, bytes: 24 }]);
  });

  it('lists a GGUF file from its header: ggml types, what each loads as, the metadata with long arrays summarized; a garbage .gguf is NT_IO', async () => {
    const file = path.join(__dirname, '..', '..', 'fixtures', 'gguf', 'tiny-llama-q4_0.gguf');
    const r = await cli(['inspect', '--json', file]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    const g = nt.io.readGguf(file);
    try {
      expect(j.format).toBe('gguf');
      expect(j.files).toEqual([{ path: 'tiny-llama-q4_0.gguf', bytes: g.fileBytes, headerBytes: g.dataStart }]);
      expect(j.tensors.map((t: { name: string }) => t.name)).toEqual(g.tensors.map((t) => t.name));
      for (const t of j.tensors) {
        const info = g.info(t.name);
        expect(t).toEqual({ name: info.name, dtype: info.type, loadsAs: expect.any(String), shape: info.shape, parameters: info.shape.reduce((a, b) => a * b, 1), bytes: info.byteLength });
      }
      expect(j.tensors.find((t: { name: string }) => t.name === 'blk.0.ffn_up.weight')).toMatchObject({ dtype: 'Q4_0', loadsAs: 'q4 QTensor', shape: [160, 64] });
      expect(j.tensors.find((t: { name: string }) => t.name === 'output.weight')).toMatchObject({ dtype: 'Q8_0', loadsAs: 'q8 QTensor' });
      expect(j.tensors.find((t: { name: string }) => t.name === 'blk.0.attn_norm.weight')).toMatchObject({ dtype: 'F32', loadsAs: 'f32' });
      expect(j.totals).toEqual({ tensors: g.tensors.length, parameters: expect.any(Number), bytes: g.tensors.reduce((a, t) => a + t.byteLength, 0), fileBytes: g.fileBytes });
      expect(j.metadata).toMatchObject({ 'general.architecture': 'llama', 'llama.block_count': '2', 'tokenizer.ggml.tokens': 'array<string>[1200]' });
    } finally {
      g.dispose();
    }
    const bad = path.join(tmp, 'garbage.gguf');
    fs.writeFileSync(bad, Buffer.from('GGUF but not really'));
    const e = await cli(['inspect', bad]);
    expect(e.code).toBe(1);
    expect(e.stderr).toMatch(new RegExp(`^ntensor inspect: ${escape(bad)}: .+ \\(NT_IO\\)\\n$`));
  });

  it('reports a garbage file as one NT_IO line on stderr and exit code 1', async () => {
    const file = path.join(tmp, 'garbage.safetensors');
    fs.writeFileSync(file, Buffer.from('this is not a safetensors file at all, just some text'));
    const r = await cli(['inspect', file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(new RegExp(`^ntensor inspect: ${escape(file)}: .+ \\(NT_IO\\)\\n$`));
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('reports a missing file as one NT_IO line on stderr and exit code 1', async () => {
    const file = path.join(tmp, 'missing.safetensors');
    const r = await cli(['inspect', file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`ntensor inspect: ${file}: no such file or directory (NT_IO)\n`);
  });

  it('reports a garbage .npy file, an unknown file type and an empty folder as NT_IO', async () => {
    const npy = path.join(tmp, 'bad.npy');
    fs.writeFileSync(npy, Buffer.from('\x93NUMPY garbage'));
    const txt = path.join(tmp, 'notes.txt');
    fs.writeFileSync(txt, 'hello');
    const empty = path.join(tmp, 'empty');
    fs.mkdirSync(empty);
    for (const p of [npy, txt, empty]) {
      const r = await cli(['inspect', p]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^ntensor inspect: ${escape(p)}: .+ \\(NT_IO\\)\\n$`));
    }
  });

  it('reports a shard missing from a folder index and a broken index as NT_IO', async () => {
    const dir = path.join(tmp, 'broken');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { a: 'nope.safetensors' } }));
    let r = await cli(['inspect', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/nope\.safetensors.*does not exist \(NT_IO\)\n$/);
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), '{ not json');
    r = await cli(['inspect', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/not valid JSON.*\(NT_IO\)\n$/);
  });
});

describe('CLI formatting helpers', () => {
  it('aligns table columns, right-aligning numbers, ignoring color escapes', () => {
    const st = style(true);
    const text = table(
      [{ header: 'name' }, { header: 'n', align: 'right' }],
      [
        [st.red('ab'), '1'],
        ['abcdef', '1234'],
      ],
    );
    const lines = text.trimEnd().split('\n');
    expect(lines.map(visibleLength)).toEqual([12, 12, 12, 12]);
    expect(lines[0].replace(/\x1b\[[0-9;]*m/g, '')).toBe('name       n');
    expect(lines[3]).toBe('abcdef  1234');
    expect(lines[2].replace(/\x1b\[[0-9;]*m/g, '')).toBe('ab         1');
  });

  it('formats byte sizes and counts', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1536)).toBe('1.50 KiB');
    expect(formatBytes(12137528)).toBe('11.6 MiB');
    expect(formatBytes(3 * 2 ** 30)).toBe('3.00 GiB');
    expect(formatCount(3145728)).toBe('3,145,728');
    expect(formatCount(12)).toBe('12');
    expect(formatShortCount(3145728)).toBe('3.15M');
    expect(formatShortCount(999)).toBe('999');
  });

  it('adds no escapes when colors are off', () => {
    const st = style(false);
    expect(st.bold('x') + st.red('y')).toBe('xy');
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
