// The `ntensor` command. main() takes argv and an output object and resolves to the exit
// code, so tests run it in-process; bin/ntensor.js passes process.argv and sets the code.
import { Command, CommanderError } from 'commander';
import { CliContext, packageVersion } from './context';
import { CliOutput, processOutput } from './format';
import { registerInfo } from './info';
import { registerInspect } from './inspect';
import { registerPpl } from './ppl';
import { registerCompress } from './compress';
import { registerDemo } from './demo';
import { registerGenerate } from './generate';
import { registerGear } from './gear';
import { registerLolcats } from './lolcats';
import { registerMnn } from './mnn';
import { registerTrainCompare } from './train-compare';
import { registerAttentionSweep } from './attention-sweep';
import { registerExport } from './export';
import { registerBench } from './bench';

export function buildProgram(ctx: CliContext): Command {
  const program = new Command('ntensor');
  program
    .description('ntensor: a native tensor engine for the math of compressed LLMs')
    .version(packageVersion(), '-V, --version', 'print the version')
    .configureOutput({
      writeOut: (s) => ctx.output.out(s),
      writeErr: (s) => ctx.output.err(s),
      outputError: (s, write) => write(ctx.st.red(s)),
    })
    // commander would call process.exit: throw instead, and main() turns it into the code
    .exitOverride()
    .showHelpAfterError('(run ntensor --help for usage)');
  registerDemo(program, ctx);
  registerInfo(program, ctx);
  registerInspect(program, ctx);
  registerPpl(program, ctx);
  registerCompress(program, ctx);
  registerGenerate(program, ctx);
  registerGear(program, ctx);
  registerLolcats(program, ctx);
  registerMnn(program, ctx);
  registerTrainCompare(program, ctx);
  registerAttentionSweep(program, ctx);
  registerExport(program, ctx);
  registerBench(program, ctx);
  return program;
}

/** Runs the CLI on a node-style argv (['node', 'ntensor', ...args]); resolves to the exit code. */
export async function main(argv: readonly string[] = process.argv, output: CliOutput = processOutput()): Promise<number> {
  const ctx = new CliContext(output);
  const program = buildProgram(ctx);
  try {
    await program.parseAsync(argv as string[], { from: 'node' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode; // already printed by commander (0 for --help/--version)
    ctx.failWith('', e);
  }
  return ctx.exitCode;
}
