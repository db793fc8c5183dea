// The CLI's report helpers: the progress bar (the SVG line chart is tested in plot.test.ts).
import { CliOutput } from '../../lib/cli/format';
import { Progress } from '../../lib/cli/progress';

function capture(interactive: boolean): { output: CliOutput; text: () => string } {
  let err = '';
  return { output: { out: () => undefined, err: (s) => (err += s), color: false, interactive }, text: () => err };
}

describe('Progress', () => {
  test('a non-terminal gets one line per 10% and a final 100% line, never more', () => {
    const { output, text } = capture(false);
    const p = new Progress(output, 'layers', 37);
    for (let i = 0; i < 37; ++i) p.tick(1, `layer ${i}`);
    p.done();
    const lines = text().trim().split('\n');
    expect(lines.length).toBeLessThanOrEqual(11);
    expect(lines[lines.length - 1]).toMatch(/^layers 100% 37\/37 \(\d+\.\ds\) layer 36$/);
    expect(lines.filter((l) => l.includes('100%'))).toHaveLength(1);
  });

  test('a terminal redraws one line in place and ends it exactly once', () => {
    const { output, text } = capture(true);
    const p = new Progress(output, 'calib', 4);
    p.tick(2);
    p.tick(2);
    p.done('ok');
    const s = text();
    expect(s.startsWith('\r\x1b[2Kcalib ')).toBe(true);
    expect(s.split('\n')).toHaveLength(2); // one newline, at the end
    expect(s).toContain('4/4');
  });

  test('zero total completes at once without dividing by zero', () => {
    const { output, text } = capture(false);
    new Progress(output, 'none', 0).done();
    expect(text()).toMatch(/none 100% 0\/0/);
  });
});
