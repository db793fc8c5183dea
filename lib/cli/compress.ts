// `ntensor compress`: int4 (RTN or GPTQ) and/or 2:4 compression of every decoder linear with a
// low-rank correction (EoRA, svd or act-s), streamed layer by layer into a GPTQ-format folder
// plus a PEFT LoRA adapter (nt.llm.compressCheckpoint): resumable (--resume), shardable over a
// job array (--layers / --shards, then `ntensor merge`). Progress per linear; a table per layer.
import * as path from 'path';
import { Option, type Command } from 'commander';
import type { CompressOptions, CompressionReport } from '../llm/compress';
import type { CliContext } from './context';
import { formatBytes, keyValues, table } from './format';
import { UsageError, addTokenOptions, defaultModelDir, intOption, readTokens, takeDeprecated } from './model-args';

interface CompressCliOptions {
  model?: string;
  bits: string;
  group: string;
  sparsity?: string;
  quantizer: string;
  symmetric?: boolean;
  prune: string;
  method: string;
  rank: string;
  text?: string;
  ids?: string;
  /** deprecated names of --text / --ids */
  calib?: string;
  calibIds?: string;
  calibTokens?: string;
  window?: string;
  out?: string;
  mode?: string;
  layers?: string;
  shards?: string;
  shardIndex?: string;
  resume?: boolean;
  errors?: boolean;
  quantizeHead?: boolean;
  json?: boolean;
}

function choice<const T extends string>(name: string, v: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(v)) throw new UsageError(`${name} must be one of ${allowed.join(', ')}, got '${v}'`);
  return v as T;
}

/** The library options from the command line (everything validated before the model loads). */
export function compressOptionsFrom(o: CompressCliOptions): Omit<CompressOptions, 'calibration'> {
  const bits = o.bits === 'none' ? null : (Number(choice('--bits', o.bits, ['2', '3', '4', '8', 'none'])) as 2 | 3 | 4 | 8);
  const group = choice('--group', o.group, ['32', '64', '128', 'row']);
  if (o.sparsity !== undefined) choice('--sparsity', o.sparsity, ['2:4']);
  return {
    bits,
    groupSize: group === 'row' ? 'row' : (Number(group) as 32 | 64 | 128),
    sparsity: o.sparsity === '2:4' ? '2:4' : null,
    quantizer: choice('--quantizer', o.quantizer, ['rtn', 'gptq']),
    symmetric: o.symmetric === true,
    pruneMethod: choice('--prune', o.prune, ['magnitude', 'wanda', 'sparsegpt']),
    method: choice('--method', o.method, ['eora', 'svd', 'act-s', 'none']),
    rank: intOption('--rank', o.rank, 1),
    calibrationWindow: intOption('--window', o.window, 1),
  };
}

export function layerTable(report: CompressionReport, ctx: CliContext): string {
  const pct = (v: number) => (Number.isFinite(v) ? `${(100 * v).toFixed(2)}%` : '-');
  return table(
    [
      { header: 'linear' },
      { header: 'shape', align: 'right' },
      { header: 'error compressed', align: 'right' },
      { header: 'error compensated', align: 'right' },
      { header: 'dropped λ', align: 'right' },
      { header: 'bytes', align: 'right' },
      { header: 'time', align: 'right' },
    ],
    report.layers.map((l) => [
      l.name.replace(/^model\./, ''),
      `${l.shape[0]}×${l.shape[1]}`,
      pct(l.relativeCompressed),
      pct(l.relativeCompensated),
      l.droppedDirections === 0 ? '0' : `${l.droppedDirections} (${(100 * l.droppedEnergy).toPrecision(2)}% energy)`,
      formatBytes(l.weightBytes + l.adapterBytes),
      `${l.seconds.toFixed(2)} s`,
    ]),
    ctx.st,
  );
}

/** `--layers a:b` (end exclusive, as Python slices) → [a, b]. */
export function parseLayers(v: string): [number, number] {
  const m = /^(\d+):(\d+)$/.exec(v.trim());
  if (!m || Number(m[1]) >= Number(m[2])) throw new UsageError(`--layers must be FIRST:END with FIRST < END (END exclusive, e.g. 0:8), got '${v}'`);
  return [Number(m[1]), Number(m[2])];
}

/** Environment variables that carry a job-array index, in the order they are read. */
export const SHARD_INDEX_VARIABLES = ['JOB_COMPLETION_INDEX', 'SLURM_ARRAY_TASK_ID'] as const;

/** This process's shard of `shards`: --shard-index, else the Kubernetes Indexed Job or Slurm array index. */
export function shardIndexFrom(flag: string | undefined, shards: number, env: NodeJS.ProcessEnv): { index: number; from: string } {
  let raw = flag;
  let from = '--shard-index';
  if (raw === undefined)
    for (const name of SHARD_INDEX_VARIABLES)
      if (env[name] !== undefined && env[name] !== '') {
        raw = env[name];
        from = name;
        break;
      }
  if (raw === undefined) throw new UsageError(`--shards needs this process's index: --shard-index I, or ${SHARD_INDEX_VARIABLES.join(' or ')} set by the job array`);
  if (!/^\d+$/.test(raw.trim()) || Number(raw) >= shards) throw new UsageError(`${from} must be an integer in 0..${shards - 1} (--shards ${shards}), got '${raw}'`);
  return { index: Number(raw), from };
}

/** Shard `index` of `shards` contiguous layer ranges of L layers (the first L mod shards one layer longer). */
export function shardRange(index: number, shards: number, L: number): [number, number] {
  const base = Math.floor(L / shards);
  const extra = L % shards;
  const first = index * base + Math.min(index, extra);
  return [first, first + base + (index < extra ? 1 : 0)];
}

export function registerCompress(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('compress')
    .description('compress a checkpoint layer by layer to int4 and/or 2:4 with an EoRA (or svd / act-s) low-rank correction; writes a GPTQ folder + PEFT adapter, resumable, shardable')
    .option('--model <dir>', 'Hugging Face model folder (default: the bundled fixtures/tinyllama-fortunes)')
    .option('--bits <n>', 'quantization bits: 2, 3, 4, 8 or none (pruning only)', '4')
    .option('--group <n>', 'quantization group size: 32, 64, 128 or row', '128')
    .option('--sparsity <pattern>', '2:4 structured sparsity (pruned before quantizing)')
    .option('--quantizer <q>', 'rtn or gptq', 'rtn')
    .option('--symmetric', "symmetric grid (zero 2^(bits-1)): what llama.cpp's Q4_0/Q8_0 need (ntensor export --gguf)")
    .option('--prune <criterion>', 'magnitude, wanda or sparsegpt', 'sparsegpt')
    .option('--method <m>', 'eora, svd, act-s or none', 'eora')
    .option('--rank <r>', 'adapter rank', '64');
  addTokenOptions(cmd, 'calibration text')
    .addOption(new Option('--calib <file>', 'deprecated name of --text').hideHelp())
    .addOption(new Option('--calib-ids <file>', 'deprecated name of --ids').hideHelp())
    .option('--calib-tokens <n>', 'use the first n calibration tokens (default 8192)')
    .option('--window <n>', 'tokens per calibration forward (default 256)')
    .option('--out <dir>', 'output folder (config.json + model-*-of-*.safetensors + index + adapter/); with --shards, the parent of the shard folders')
    .option('--mode <m>', "layer-sequential (default; GPTQ's reference order: each layer's inputs captured once with its original weights, after the compressed layers before it), sequential (GPTQ's true-sequential order: each linear after the linears before it are compressed, one pass; spills the projections' inputs to OUT) or parallel (calibrated on the original model: shardable; the default with --layers / --shards)")
    .option('--layers <a:b>', 'compress only layers a..b-1 into a shard folder (parallel mode) for `ntensor merge`')
    .option('--shards <n>', 'split the layers into n shards; this process does one (--shard-index, or JOB_COMPLETION_INDEX / SLURM_ARRAY_TASK_ID) into OUT/shard-i-of-n')
    .option('--shard-index <i>', 'which of --shards this process compresses (default: from the job array)')
    .option('--resume', 'continue a run killed in --out (same model, options and calibration) from its last finished layer')
    .option('--errors', "measure each linear's activation error (two f64 products per linear: slow at real size)")
    .option('--quantize-head', "store lm_head quantized too (round-to-nearest with --bits/--group; default: the source dtype); with --shards, give it to every shard")
    .option('--json', 'print the report as JSON')
    .action((o: CompressCliOptions) => {
      try {
        takeDeprecated(o, { calib: 'text', calibIds: 'ids' }, (line) => ctx.output.err(`ntensor compress: ${line}\n`));
        if ((o.text === undefined) === (o.ids === undefined)) throw new UsageError('give exactly one of --text FILE or --ids FILE');
        if (o.out === undefined) throw new UsageError('--out DIR is required');
        const opts = compressOptionsFrom(o);
        const mode = o.mode === undefined ? undefined : choice('--mode', o.mode, ['sequential', 'layer-sequential', 'parallel']);
        const calibTokens = intOption('--calib-tokens', o.calibTokens, 1) ?? 8192;
        const shards = intOption('--shards', o.shards, 1);
        if (o.shardIndex !== undefined && shards === undefined) throw new UsageError('--shard-index needs --shards N');
        if (shards !== undefined && o.layers !== undefined) throw new UsageError('give --layers or --shards, not both');
        if ((shards !== undefined || o.layers !== undefined) && mode !== undefined && mode !== 'parallel')
          throw new UsageError('--layers and --shards need --mode parallel (sequential layers depend on the compressed layers before them)');
        const nt = ctx.library('compress');
        if (!nt) return;
        const dir = o.model ?? defaultModelDir();
        const probe = nt.model.load(dir);
        let calibration: Int32Array;
        let L: number;
        let perLayer: number;
        try {
          perLayer = probe.linears().filter((n) => n.startsWith('model.layers.0.')).length;
          calibration = readTokens(nt, o, { dir, vocabSize: probe.config.vocabSize }).subarray(0, calibTokens);
          L = probe.config.numLayers;
        } finally {
          probe.dispose();
        }
        let layers: [number, number] | undefined;
        let out = o.out;
        if (o.layers !== undefined) layers = parseLayers(o.layers);
        if (shards !== undefined) {
          if (shards > L) throw new UsageError(`--shards ${shards} is more than the model's ${L} layers`);
          const { index, from } = shardIndexFrom(o.shardIndex, shards, process.env);
          layers = shardRange(index, shards, L);
          out = path.join(o.out, `shard-${index}-of-${shards}`);
          ctx.output.err(`ntensor compress: shard ${index} of ${shards} (from ${from}): layers ${layers[0]}..${layers[1] - 1} into ${out}\n`);
        }
        if (o.resume && !nt.llm.hasUnfinishedRun(out)) ctx.output.err(`ntensor compress: --resume: no unfinished run in ${out}, starting at the first layer\n`);
        const bar = ctx.progress('compress', perLayer * (layers ? layers[1] - layers[0] : L));
        let ticked = 0; // a resumed run starts past the layers already finished
        const result = nt.llm.compressCheckpoint(dir, out, {
          ...opts,
          calibration,
          mode: layers ? 'parallel' : (mode ?? 'layer-sequential'),
          ...(layers ? { layers } : {}),
          resume: o.resume === true,
          measureErrors: o.errors === true,
          quantizeHead: o.quantizeHead === true,
          onProgress: (done, _t, l, p) => {
            bar.tick(done - ticked, `${l.name.replace(/^model\./, '')} (layer ${p.layer + 1}/${p.layers}${Number.isFinite(p.etaSeconds) ? `, ~${p.etaSeconds.toFixed(0)}s left by layer time` : ''})`);
            ticked = done;
          },
        });
        bar.done();
        const report = result.report;
        if (o.json) {
          ctx.out(JSON.stringify({ model: dir, out, kind: result.kind, layerRange: result.layers, resumedLayers: result.resumedLayers, head: result.head, ...report }, null, 2) + '\n');
          return;
        }
        ctx.out(layerTable(report, ctx));
        const mean = (f: (l: CompressionReport['layers'][number]) => number) => report.layers.reduce((a, l) => a + f(l), 0) / report.layers.length;
        const dropped = report.layers.reduce((a, l) => a + l.droppedDirections, 0);
        const maxDroppedEnergy = report.layers.reduce((a, l) => Math.max(a, l.droppedEnergy), 0);
        const st = report.stages;
        // every stage that ran: on a fast machine the fixture's forward takes milliseconds
        const stageLine = (Object.keys(st) as (keyof typeof st)[]).filter((k) => st[k] > 0).map((k) => `${k} ${st[k] < 0.1 ? st[k].toFixed(3) : st[k].toFixed(1)}`).join(', ');
        ctx.out(
          '\n' +
            keyValues(
              [
                ['model', dir],
                ['compression', `${opts.sparsity ? '2:4 + ' : ''}${opts.bits === null ? 'dense' : `int${opts.bits} ${opts.quantizer} g${opts.groupSize}`}, ${opts.method === 'none' ? 'no adapter' : `${opts.method} rank ${report.options.rank}`}`],
                ['mode', `${result.kind === 'shard' ? 'parallel, shard' : (mode ?? 'layer-sequential')}, layers ${result.layers[0]}..${result.layers[1] - 1} of ${L}${result.resumedLayers > 0 ? ` (${result.resumedLayers} finished by an earlier run)` : ''}`],
                ['calibration', `${calibration.length} tokens`],
                [
                  'mean activation error',
                  report.options.measureErrors ? `${(100 * mean((l) => l.relativeCompressed)).toFixed(2)}% → ${(100 * mean((l) => l.relativeCompensated)).toFixed(2)}%` : 'not measured (--errors)',
                ],
                ...(opts.method === 'eora' ? [['EoRA dropped directions', `${dropped} in all, at most ${(100 * maxDroppedEnergy).toPrecision(2)}% of a layer's activation energy`] as [string, string]] : []),
                ['linear bytes', `${formatBytes(report.bytesBefore)} f32 → ${formatBytes(report.bytesAfter)} (${((100 * report.bytesAfter) / report.bytesBefore).toFixed(1)}%)`],
                ...(result.head && result.head.sourceBytes > 0
                  ? [['lm_head', result.head.quantized ? `int${opts.bits} rtn g${opts.groupSize}: ${formatBytes(result.head.sourceBytes)} → ${formatBytes(result.head.bytes)}` : `source dtype, ${formatBytes(result.head.bytes)} (--quantize-head to quantize it)`] as [string, string]]
                  : []),
                ['time', `${report.seconds.toFixed(1)} s (${stageLine})`],
                ['wrote', result.kind === 'shard' ? `${out} (shard: merge with \`ntensor merge --out DIR SHARD_DIR...\`)` : `${out}${report.layers.some((l) => l.adapterBytes > 0) ? `, ${path.join(out, 'adapter')}` : ''}`],
              ],
              ctx.st,
            ),
        );
      } catch (e) {
        ctx.failWith('compress', e);
      }
    });

  program
    .command('merge')
    .description('assemble the shard folders of `ntensor compress --layers/--shards` (parallel mode) into one model folder')
    .argument('<shards...>', 'shard folders, in any order; their layer ranges must tile the model')
    .option('--out <dir>', 'output model folder')
    .option('--model <dir>', 'the source checkpoint (default: the folder the shards recorded)')
    .option('--json', 'print the report as JSON')
    .action((shardDirs: string[], o: { out?: string; model?: string; json?: boolean }) => {
      try {
        if (o.out === undefined) throw new UsageError('--out DIR is required');
        const nt = ctx.library('merge');
        if (!nt) return;
        const r = nt.llm.mergeCompressedShards(shardDirs, o.out, o.model !== undefined ? { model: o.model } : {});
        if (o.json) {
          ctx.out(JSON.stringify({ out: o.out, shards: shardDirs, ...r.report }, null, 2) + '\n');
          return;
        }
        ctx.out(keyValues([['merged', `${shardDirs.length} shards, ${r.report.layers.length} linears`], ['wrote', o.out], ['time', `${r.report.seconds.toFixed(1)} s`]], ctx.st));
      } catch (e) {
        ctx.failWith('merge', e);
      }
    });
}
