// The CLI's report helpers: the progress bar and the SVG line chart.
import { CliOutput } from '../../lib/cli/format';
import { Progress } from '../../lib/cli/progress';
import { lineChartSvg } from '../../lib/cli/plot';

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

describe('lineChartSvg', () => {
  const chart = {
    title: 'Perplexity <vs> rank & more',
    xLabel: 'rank',
    yLabel: 'perplexity',
    series: [
      { name: 'svd', points: [[8, 7.5], [16, 6.9], [32, 6.4]] as [number, number][] },
      { name: 'eora', points: [[8, 6.8], [16, 6.3], [32, 6.0]] as [number, number][] },
    ],
  };

  test('draws one path per series with every point inside the plot area', () => {
    const svg = lineChartSvg(chart);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect(svg.match(/<path /g)).toHaveLength(2);
    const circles = [...svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)"/g)].map((m) => [Number(m[1]), Number(m[2])]);
    expect(circles).toHaveLength(6);
    for (const [x, y] of circles) {
      expect(x).toBeGreaterThanOrEqual(70 - 1e-9);
      expect(x).toBeLessThanOrEqual(720 - 170 + 1e-9);
      expect(y).toBeGreaterThanOrEqual(40 - 1e-9);
      expect(y).toBeLessThanOrEqual(420 - 50 + 1e-9);
    }
  });

  test('escapes text and keeps the legend', () => {
    const svg = lineChartSvg(chart);
    expect(svg).toContain('Perplexity &lt;vs&gt; rank &amp; more');
    expect(svg).toContain('>svd</text>');
    expect(svg).toContain('>eora</text>');
  });

  test('a log axis drops non-positive and non-finite points instead of drawing NaN', () => {
    const svg = lineChartSvg({ ...chart, logY: true, series: [{ name: 'loss', points: [[0, 0], [1, 10], [2, NaN], [3, 0.1]] }] });
    expect(svg).not.toMatch(/NaN|Infinity/);
    expect(svg.match(/<circle /g)).toHaveLength(2);
    expect(svg).toContain('>1</text>'); // a power-of-ten tick between 0.1 and 10
  });

  test('a single point or an empty series still gives a valid chart', () => {
    expect(lineChartSvg({ ...chart, series: [{ name: 'one', points: [[5, 5]] }] })).not.toMatch(/NaN/);
    expect(lineChartSvg({ ...chart, series: [] })).toContain('</svg>');
  });
});
