// `ntensor lolcats`: LoLCATs stage 1 (attention transfer) on a model folder. Trains every
// layer's Hedgehog maps and γ on calibration text (--text, the model's tokenizer) or token ids
// (--ids), writes the maps (safetensors), the loss curves (SVG) and a summary
// (JSON), and prints the held-out attention-transfer loss before/after training and the
// held-out perplexity with softmax, untrained hybrid (initial maps) and trained hybrid attention.
import * as fs from 'fs';
import * as path from 'path';
import { Option, type Command } from 'commander';
import type { CliContext } from './context';
import { keyValues, table } from './format';
import { addTokenOptions, readTokens, takeDeprecated } from './model-args';
import { lineChartSvg } from './plot';

interface LolcatsFlags {
  model: string;
  text?: string;
  ids?: string;
  /** deprecated name of --text */
  calib?: string;
  out: string;
  steps: string;
  window: string;
  features: string;
  seqLen: string;
  lr: string;
  evalTokens: string;
  pplWindow?: string;
  json?: boolean;
}

function intFlag(name: string, text: string, min: number): number {
  const v = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || !Number.isSafeInteger(v) || v < min) throw Object.assign(new Error(`--${name} must be an integer >= ${min}, got '${text}'`), { code: 'NT_VALUE' });
  return v;
}

function numFlag(name: string, text: string): number {
  const v = Number(text);
  if (!Number.isFinite(v) || v <= 0) throw Object.assign(new Error(`--${name} must be a number > 0, got '${text}'`), { code: 'NT_VALUE' });
  return v;
}

const fmt = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(1) : x.toPrecision(4));

export function registerLolcats(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('lolcats')
    .description('LoLCATs attention transfer: train Hedgehog feature maps + window factor per layer, report MSE and perplexity')
    .requiredOption('--model <dir>', 'Hugging Face LLaMA-family model folder');
  addTokenOptions(cmd, 'calibration text (the held-out tokens follow the training sequences)')
    .addOption(new Option('--calib <file>', 'deprecated name of --text').hideHelp())
    .requiredOption('--out <dir>', 'output folder: lolcats_maps.safetensors, loss.svg, summary.json')
    .option('--steps <n>', 'Adam steps per layer', '100')
    .option('--window <n>', 'sliding-window length of the hybrid attention', '64')
    .option('--features <n>', 'Hedgehog columns per map (2x features)', '64')
    .option('--seq-len <n>', 'tokens per calibration sequence', '256')
    .option('--lr <x>', 'Adam learning rate', '0.01')
    .option('--eval-tokens <n>', 'held-out tokens for perplexity (taken after the training sequences)', '1024')
    .option('--ppl-window <n>', 'perplexity window (default: --seq-len)')
    .option('--json', 'print the summary as JSON')
    .action(async (flags: LolcatsFlags) => {
      const nt = ctx.library('lolcats');
      if (!nt) return;
      let layers: InstanceType<typeof nt.llm.lolcats.HybridLayer>[] = [];
      let initial: InstanceType<typeof nt.llm.lolcats.HybridLayer>[] = [];
      let model: ReturnType<typeof nt.model.load> | undefined;
      try {
        const steps = intFlag('steps', flags.steps, 0);
        const window = intFlag('window', flags.window, 1);
        const features = intFlag('features', flags.features, 1);
        const seqLen = intFlag('seq-len', flags.seqLen, 2);
        const lr = numFlag('lr', flags.lr);
        const evalTokens = intFlag('eval-tokens', flags.evalTokens, 2);
        const pplWindow = flags.pplWindow === undefined ? seqLen : intFlag('ppl-window', flags.pplWindow, 1);
        takeDeprecated(flags, { calib: 'text' }, (line) => ctx.output.err(`ntensor lolcats: ${line}\n`));
        if ((flags.text === undefined) === (flags.ids === undefined)) throw Object.assign(new Error('give exactly one of --text FILE or --ids FILE'), { code: 'NT_VALUE' });
        model = nt.model.load(flags.model);
        // the vocabulary check the command lacked: a 32k-vocabulary model got byte ids here
        const ids = readTokens(nt, flags, { dir: flags.model, vocabSize: model.config.vocabSize });
        const { numLayers, numHeads, headDim } = model.config;
        const bar = ctx.progress('attention transfer', steps * numLayers);
        const result = nt.llm.lolcats.transfer(model, ids, {
          steps,
          window,
          features,
          seqLen,
          lr,
          onStep: (l, s, loss) => bar.tick(1, `layer ${l} step ${s + 1} loss ${fmt(loss)}`),
        });
        bar.done();
        layers = result.layers;
        const trainedTokens = result.trainSequences * seqLen;
        const evalIds = ids.subarray(trainedTokens, Math.min(ids.length, trainedTokens + evalTokens));
        initial = Array.from({ length: numLayers }, () => nt.llm.lolcats.HybridLayer.init(numHeads, headDim, { window, features }));
        const runs: [string, ReturnType<typeof nt.llm.lolcats.hybridHooks> | undefined][] = [
          ['softmax', undefined],
          ['untrained hybrid', nt.llm.lolcats.hybridHooks(initial)],
          ['trained hybrid', nt.llm.lolcats.hybridHooks(layers)],
        ];
        const pplBar = ctx.progress('perplexity', runs.length);
        const ppl: Record<string, number> = {};
        for (const [name, hooks] of runs) {
          ppl[name] = evalIds.length >= 2 ? nt.llm.lolcats.perplexity(model, evalIds, { window: Math.min(pplWindow, model.config.maxPositionEmbeddings), hooks }).ppl : NaN;
          pplBar.tick(1, name);
        }

        fs.mkdirSync(flags.out, { recursive: true });
        const mapsFile = path.join(flags.out, 'lolcats_maps.safetensors');
        nt.llm.lolcats.saveMaps(mapsFile, layers);
        const svgFile = path.join(flags.out, 'loss.svg');
        const mean = (a: number[]) => a.reduce((s, x) => s + x, 0) / Math.max(1, a.length);
        const summary = {
          model: flags.model,
          calib: flags.text ?? flags.ids,
          steps,
          window,
          features,
          seqLen,
          lr,
          trainSequences: result.trainSequences,
          heldOutSequences: result.heldOutSequences,
          mse: { before: result.heldOut.before, after: result.heldOut.after, meanBefore: mean(result.heldOut.before), meanAfter: mean(result.heldOut.after) },
          gamma: layers.map((l) => l.gamma()),
          perplexity: { tokens: Math.max(0, evalIds.length - 1), window: pplWindow, softmax: ppl.softmax, untrainedHybrid: ppl['untrained hybrid'], trainedHybrid: ppl['trained hybrid'] },
          files: { maps: mapsFile, lossCurve: svgFile },
        };
        // the numbers first: a chart that cannot be drawn (a diverged, NaN loss) must not lose them
        fs.writeFileSync(path.join(flags.out, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
        fs.writeFileSync(
          svgFile,
          await lineChartSvg({
            title: 'LoLCATs attention transfer',
            xLabel: 'step',
            yLabel: '1000 x MSE (training)',
            logY: true,
            series: result.history.map((h, l) => ({ name: `layer ${l}`, points: h.map((y, x) => [x + 1, Math.max(y, 1e-12)] as [number, number]) })),
          }),
        );
        if (flags.json) {
          ctx.out(JSON.stringify(summary, null, 2) + '\n');
          return;
        }
        const st = ctx.st;
        ctx.out(
          table(
            [
              { header: 'layer', align: 'right' },
              { header: 'MSE before (x1000)', align: 'right' },
              { header: 'MSE after (x1000)', align: 'right' },
              { header: 'mean gamma', align: 'right' },
            ],
            layers.map((layer, l) => [
              String(l),
              fmt(result.heldOut.before[l]),
              fmt(result.heldOut.after[l]),
              (layer.gamma().reduce((s, g) => s + g, 0) / layer.heads).toFixed(3),
            ]),
            st,
          ),
        );
        ctx.out(
          keyValues(
            [
              ['attention-transfer MSE (held out, x1000)', `before ${fmt(summary.mse.meanBefore)}, after ${fmt(summary.mse.meanAfter)}`],
              [`perplexity (held out, ${summary.perplexity.tokens} tokens)`, `softmax ${fmt(ppl.softmax)}, untrained hybrid ${fmt(ppl['untrained hybrid'])}, trained hybrid ${fmt(ppl['trained hybrid'])}`],
              ['maps', mapsFile],
              ['loss curve', svgFile],
            ],
            st,
          ),
        );
      } catch (e) {
        ctx.failWith('lolcats', e);
      } finally {
        for (const l of [...layers, ...initial]) l.dispose();
        model?.dispose();
      }
    });
}
