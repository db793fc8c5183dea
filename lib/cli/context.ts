// What every command gets: the output object, an exit code to set, and the library,
// loaded lazily so that `--help` and `--version` work even when the addon cannot load.
import * as fs from 'fs';
import * as path from 'path';
import { CliOutput, Style, style } from './format';
import { Progress } from './progress';

type Library = typeof import('../index');

export class CliContext {
  exitCode = 0;
  readonly st: Style;

  constructor(readonly output: CliOutput) {
    this.st = style(output.color);
  }

  out(text: string): void {
    this.output.out(text);
  }

  /** A progress bar on stderr for `total` steps of work. */
  progress(label: string, total: number): Progress {
    return new Progress(this.output, label, total);
  }

  /** One line on stderr, "ntensor <command>: <message> (<code>)", and exit code 1. Never a stack. */
  fail(command: string, message: string, code?: string): void {
    const where = command ? `ntensor ${command}` : 'ntensor';
    this.output.err(`${this.st.red(where + ':')} ${message}${code ? ` (${code})` : ''}\n`);
    this.exitCode = 1;
  }

  /** Reports an error thrown by the library (or anything else) as one line. */
  failWith(command: string, e: unknown, prefix = ''): void {
    const err = e as { message?: unknown; code?: unknown };
    const message = typeof err?.message === 'string' ? err.message : String(e);
    const code = typeof err?.code === 'string' && err.code.startsWith('NT_') ? err.code : undefined;
    // the loader's message spans lines (one per failed flavor): keep its first line here
    const first = message.split('\n')[0];
    this.fail(command, prefix + first, code);
  }

  /** The ntensor library, or undefined after reporting why the native addon did not load. */
  library(command: string): Library | undefined {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      return require('../index') as Library;
    } catch (e) {
      // the loader explains itself over several lines; node's module-resolution trail does not help
      const message = String((e as Error)?.message ?? e).split('\nRequire stack:')[0];
      this.output.err(`${this.st.red(`ntensor ${command}:`)} ${message}\n`);
      this.exitCode = 1;
      return undefined;
    }
  }
}

/** This package's root and package.json (found upwards from this file: works from lib/ and dist/lib/). */
function findPackage(): { root: string; version: string } | undefined {
  let dir = __dirname;
  for (;;) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file)) {
      try {
        const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string; version?: string };
        if (pkg.name === 'ntensor') return { root: dir, version: typeof pkg.version === 'string' ? pkg.version : 'unknown' };
      } catch {
        // not ours or unreadable: keep walking up
      }
    }
    const up = path.dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

/** The package version ('unknown' when package.json cannot be found). */
export function packageVersion(): string {
  return findPackage()?.version ?? 'unknown';
}

/** The package root, without loading the native addon (so `--version` works without one). */
export function packageRoot(): string {
  return findPackage()?.root ?? path.resolve(__dirname, '..', '..');
}
