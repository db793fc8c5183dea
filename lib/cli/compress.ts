// `ntensor compress`: int4 (RTN or GPTQ) and/or 2:4 compression of every decoder linear with a
// low-rank correction (EoRA, svd or act-s), written as a GPTQ-format folder plus a PEFT LoRA
// adapter (see nt.llm.saveCompressed). Progress per linear; a table of each layer's error.
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

export function registerCompress(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('compress')
    .description('compress a model to int4 and/or 2:4 with an EoRA (or svd / act-s) low-rank correction; writes a GPTQ folder + PEFT adapter')
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
    .option('--out <dir>', 'output folder (config.json + model.safetensors + adapter/)')
    .option('--json', 'print the report as JSON')
    .action((o: CompressCliOptions) => {
      try {
        takeDeprecated(o, { calib: 'text', calibIds: 'ids' }, (line) => ctx.output.err(`ntensor compress: ${line}\n`));
        if ((o.text === undefined) === (o.ids === undefined)) throw new UsageError('give exactly one of --text FILE or --ids FILE');
        if (o.out === undefined) throw new UsageError('--out DIR is required');
        const opts = compressOptionsFrom(o);
        const calibTokens = intOption('--calib-tokens', o.calibTokens, 1) ?? 8192;
        const nt = ctx.library('compress');
        if (!nt) return;
        const dir = o.model ?? defaultModelDir();
        const model = nt.model.load(dir);
        try {
          const all = readTokens(nt, o, { dir, vocabSize: model.config.vocabSize });
          const calibration = all.subarray(0, calibTokens);
          const bar = ctx.progress('compress', model.linears().length);
          // the table and the JSON report print every linear's activation error: measure them
          const report = nt.llm.compressModel(model, {
            ...opts,
            calibration,
            measureErrors: true,
            onProgress: (_d, _t, l, p) =>
              bar.tick(1, `${l.name.replace(/^model\./, '')} (layer ${p.layer + 1}/${p.layers}${Number.isFinite(p.etaSeconds) ? `, ~${p.etaSeconds.toFixed(0)}s left by layer time` : ''})`),
          });
          bar.done();
          const saved = nt.llm.saveCompressed(model, o.out, {
            metadata: { method: String(report.options.method), rank: String(report.options.rank), calibration_tokens: String(calibration.length) },
          });
          if (o.json) {
            ctx.out(JSON.stringify({ model: dir, out: o.out, ...report, files: saved }, null, 2) + '\n');
            return;
          }
          ctx.out(layerTable(report, ctx));
          const mean = (f: (l: CompressionReport['layers'][number]) => number) => report.layers.reduce((a, l) => a + f(l), 0) / report.layers.length;
          ctx.out(
            '\n' +
              keyValues(
                [
                  ['model', dir],
                  ['compression', `${opts.sparsity ? '2:4 + ' : ''}${opts.bits === null ? 'dense' : `int${opts.bits} ${opts.quantizer} g${opts.groupSize}`}, ${opts.method === 'none' ? 'no adapter' : `${opts.method} rank ${report.options.rank}`}`],
                  ['calibration', `${calibration.length} tokens`],
                  ['mean activation error', `${(100 * mean((l) => l.relativeCompressed)).toFixed(2)}% → ${(100 * mean((l) => l.relativeCompensated)).toFixed(2)}%`],
                  ['linear bytes', `${formatBytes(report.bytesBefore)} f32 → ${formatBytes(report.bytesAfter)} (${((100 * report.bytesAfter) / report.bytesBefore).toFixed(1)}%)`],
                  ['time', `${report.seconds.toFixed(1)} s`],
                  ['wrote', `${saved.weightsFile}${saved.adapterDir ? `, ${saved.adapterDir}` : ''}`],
                ],
                ctx.st,
              ),
          );
        } finally {
          model.dispose();
        }
      } catch (e) {
        ctx.failWith('compress', e);
      }
    });
}
