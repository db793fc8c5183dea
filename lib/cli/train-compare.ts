// `ntensor train-compare`: trains the last decoder layer's MLP, the final norm and lm_head of a
// model on a text with Adam, 8-bit Adam, GaLore, GradNormLoRP and 8-bit GradNormLoRP for the
// same number of steps from the same weights; writes loss.svg and results.json to --out and
// prints final/held-out losses and optimizer-state bytes.
import * as fs from 'fs';
import * as path from 'path';
import type { Command } from 'commander';
import type { CliContext } from './context';
import { formatBytes, table } from './format';
import { lineChartSvg } from './plot';
import { UsageError, addTokenOptions, defaultModelDir, intOption, numberOption, readTokens } from './model-args';

interface TrainCompareCliOptions {
  model?: string;
  text?: string;
  ids?: string;
  steps: string;
  out: string;
  tokens?: string;
  lr?: string;
  rank?: string;
  updateGap?: string;
  json?: boolean;
}

export function registerTrainCompare(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('train-compare')
    .description("train a model's last MLP + final norm + lm_head with Adam, 8-bit Adam, GaLore and GradNormLoRP (+8-bit): loss curves and optimizer-state bytes")
    .option('--model <dir>', 'Hugging Face model folder (default: the bundled fixtures/tinyllama-fortunes)');
  addTokenOptions(cmd, 'training text (the tokens after the training window are the held-out set)')
    .requiredOption('--steps <n>', 'optimizer steps per method')
    .requiredOption('--out <dir>', 'folder for loss.svg and results.json (created)')
    .option('--tokens <n>', 'training tokens per step (default 256, at most max_position_embeddings - 1)')
    .option('--lr <x>', 'learning rate of every method (default 1e-3)')
    .option('--rank <r>', 'GaLore/GradNormLoRP rank (default 64)')
    .option('--update-gap <T>', 'steps between projector refreshes (default 50)')
    .option('--json', 'print the results as JSON')
    .action(async (opts: TrainCompareCliOptions) => {
      try {
        if ((opts.text === undefined) === (opts.ids === undefined)) throw new UsageError('give exactly one of --text FILE or --ids FILE');
        const steps = intOption('--steps', opts.steps, 1)!;
        const tokens = intOption('--tokens', opts.tokens, 2) ?? 256;
        const lr = numberOption('--lr', opts.lr, 0) ?? 1e-3;
        const rank = intOption('--rank', opts.rank, 1) ?? 64;
        const updateGap = intOption('--update-gap', opts.updateGap, 1) ?? 50;
        const nt = ctx.library('train-compare');
        if (!nt) return;
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const train = require('../llm/train') as typeof import('../llm/train');
        const dir = opts.model ?? defaultModelDir();
        const model = nt.model.load(dir);
        const owned: { dispose(): void }[] = [];
        try {
          const n = Math.min(tokens, model.config.maxPositionEmbeddings - 1);
          const ids = readTokens(nt, opts, { dir, vocabSize: model.config.vocabSize });
          if (ids.length < n + 2) throw new UsageError(`${opts.text ?? opts.ids} has ${ids.length} tokens; --tokens ${n} needs at least ${n + 2}`);
          const evalN = Math.min(n, ids.length - n - 2);
          const h = train.lastMlpResidual(model, ids.subarray(0, n));
          owned.push(h);
          const targets = Int32Array.from(ids.subarray(1, n + 1));
          let evalH: import('../tensor').Tensor | undefined;
          let evalTargets: Int32Array | undefined;
          if (evalN >= 1) {
            evalH = train.lastMlpResidual(model, ids.subarray(n + 1, n + 1 + evalN));
            owned.push(evalH);
            evalTargets = Int32Array.from(ids.subarray(n + 2, n + 2 + evalN));
          }
          const params = train.loadHeadParams(model);
          owned.push(...Object.values(params));
          const bar = ctx.progress('training', steps * train.TRAIN_METHODS.length);
          const runs = train.trainCompare(params, h, targets, { steps, lr, rank, updateGap, onStep: (m) => bar.tick(1, m) }, evalH, evalTargets);
          bar.done();
          fs.mkdirSync(opts.out, { recursive: true });
          const adam = runs.find((r) => r.method === 'Adam')?.stateBytes ?? NaN;
          const results = {
            model: dir,
            text: opts.text ?? opts.ids,
            tokens: n,
            evalTokens: evalN,
            steps,
            lr,
            rank,
            updateGap,
            runs: runs.map((r) => ({ ...r, vsAdam: r.stateBytes / adam - 1 })),
          };
          // the numbers first: a chart that cannot be drawn (a diverged, NaN loss) must not lose them
          fs.writeFileSync(path.join(opts.out, 'results.json'), JSON.stringify(results, null, 2) + '\n');
          const svg = await lineChartSvg({
            title: `Training loss (last MLP + lm_head, ${n} tokens, lr ${lr}, rank ${rank})`,
            xLabel: 'step',
            yLabel: 'cross-entropy',
            series: runs.map((r) => ({ name: r.method, points: r.losses.map((l, i) => [i, l] as [number, number]) })),
          });
          fs.writeFileSync(path.join(opts.out, 'loss.svg'), svg);
          if (opts.json) ctx.out(JSON.stringify(results, null, 2) + '\n');
          else {
            ctx.out(
              table(
                [
                  { header: 'method' },
                  { header: 'loss start', align: 'right' },
                  { header: `loss after ${steps}`, align: 'right' },
                  { header: 'held-out start', align: 'right' },
                  { header: 'held-out after', align: 'right' },
                  { header: 'state', align: 'right' },
                  { header: 'vs Adam', align: 'right' },
                  { header: 'time', align: 'right' },
                ],
                runs.map((r) => [
                  r.method,
                  r.losses[0].toFixed(4),
                  r.losses[r.losses.length - 1].toFixed(4),
                  Number.isFinite(r.evalLossStart) ? r.evalLossStart.toFixed(4) : '-',
                  Number.isFinite(r.evalLoss) ? r.evalLoss.toFixed(4) : '-',
                  formatBytes(r.stateBytes),
                  `${((r.stateBytes / adam - 1) * 100).toFixed(1)}%`,
                  `${r.seconds.toFixed(2)} s`,
                ]),
                ctx.st,
              ),
            );
            ctx.out(`wrote ${path.join(opts.out, 'loss.svg')} and results.json\n`);
          }
        } finally {
          for (const t of owned) t.dispose();
          model.dispose();
        }
      } catch (e) {
        ctx.failWith('train-compare', e);
      }
    });
}
