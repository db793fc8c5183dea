// Runs the `ntensor` CLI in-process through main() with a captured output object.
import { CliOutput } from '../../lib/cli/format';
import { main } from '../../lib/cli/main';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export async function cli(args: string[], color = false): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const output: CliOutput = { out: (s) => (stdout += s), err: (s) => (stderr += s), color };
  const code = await main(['node', 'ntensor', ...args], output);
  return { code, stdout, stderr };
}
