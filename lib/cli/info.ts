// `ntensor info`: what was built and what this machine runs: flavor, addon, CPU features,
// the ISA chosen for each kernel slot, threads, CUDA devices.
import type { Command } from 'commander';
import type { CliContext } from './context';
import { formatBytes, keyValues, table } from './format';
import type { Info } from '../runtime';

const KERNEL_LINE_WIDTH = 100;

function wrapWords(words: readonly string[], width: number): string[] {
  const lines: string[] = [];
  let cur = '';
  for (const w of words) {
    if (cur && cur.length + 1 + w.length > width) {
      lines.push(cur);
      cur = w;
    } else cur = cur ? `${cur} ${w}` : w;
  }
  if (cur) lines.push(cur);
  return lines;
}

export function renderInfo(info: Info, ctx: CliContext): string {
  const st = ctx.st;
  const cuda =
    info.cuda.length > 0
      ? st.green(`${info.cuda.length} device${info.cuda.length > 1 ? 's' : ''}`)
      : st.yellow(info.cudaStatus || 'no CUDA device');
  let text = keyValues(
    [
      ['version', info.version],
      ['flavor', info.flavor === 'cuda' ? st.green('cuda') : 'cpu'],
      ['addon', info.addon],
      ['threads', String(info.threads)],
      ['CPU features', info.cpu.features.length > 0 ? info.cpu.features.join(' ') : st.dim('(none detected)')],
      ['ISAs', info.cpu.isas.join(', ') + (info.cpu.isaCap ? ` (capped at ${info.cpu.isaCap} by NTENSOR_ISA)` : '')],
      ['int4 matmul', `${info.qmatmul.kernel} of ${info.qmatmul.kernelSets.join(', ')}; int8 activations: ${info.qmatmul.int8Kernel ?? st.yellow('none (requests run f32, with a warning)')}`],
      ...Object.entries(info.cpu.tables).map(([family, isa]): [string, string] => [family, isa]),
      ['CUDA', cuda],
    ],
    st,
  );
  // slots grouped by the ISA chosen for them, wrapped: one line per slot would run to dozens
  const byIsa = new Map<string, string[]>(info.cpu.isas.map((isa) => [isa, []]));
  for (const slot of Object.keys(info.cpu.kernels).sort()) {
    const isa = info.cpu.kernels[slot];
    byIsa.set(isa, [...(byIsa.get(isa) ?? []), slot]);
  }
  if (Object.keys(info.cpu.kernels).length > 0) {
    text += '\n' + st.bold('kernels (chosen ISA: slots)') + '\n';
    const w = Math.max(...[...byIsa.keys()].map((k) => k.length));
    for (const [isa, slots] of byIsa) if (slots.length > 0) text += wrapWords(slots, KERNEL_LINE_WIDTH - w - 4).map((l, i) => `  ${(i === 0 ? isa : '').padEnd(w)}  ${l}\n`).join('');
  }
  if (info.cuda.length > 0) {
    text += '\n' + st.bold('CUDA devices') + '\n';
    text += table(
      [{ header: '#', align: 'right' }, { header: 'name' }, { header: 'sm' }, { header: 'memory', align: 'right' }, { header: 'SMs', align: 'right' }],
      info.cuda.map((d) => [String(d.index), d.name, d.computeCapability, formatBytes(d.totalMemory), String(d.multiprocessors)]),
      st,
    );
  }
  if (info.notes.length > 0) {
    text += '\n' + st.bold('loader notes') + '\n';
    text += info.notes.map((n) => `  - ${n}\n`).join('');
  }
  return text;
}

export function registerInfo(program: Command, ctx: CliContext): void {
  program
    .command('info')
    .description('build flavor, CPU features, chosen kernels, threads and CUDA devices')
    .option('--json', 'print the information as JSON')
    .action((opts: { json?: boolean }) => {
      const nt = ctx.library('info');
      if (!nt) return;
      let info: Info;
      try {
        info = nt.info();
      } catch (e) {
        ctx.failWith('info', e);
        return;
      }
      ctx.out(opts.json ? JSON.stringify(info, null, 2) + '\n' : renderInfo(info, ctx));
    });
}
