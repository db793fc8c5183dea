// The CLI's line charts (lib/cli/plot.ts): vega-lite specs rendered headless to SVG by vega.
// The SVG is read back with a minimal XML parser, so a malformed document fails every test.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as nt from '../../lib';
import { LineChart, lineChartSvg, vegaLiteSvg } from '../../lib/cli/plot';
import { cli } from './run-cli';

interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decode(s: string, where: number): string {
  if (/[<]/.test(s)) throw new Error(`'<' in character data near ${where}`);
  return s.replace(/&([^;]*);?/g, (m, ref: string) => {
    if (!m.endsWith(';')) throw new Error(`unterminated entity near ${where}`);
    if (ref in ENTITIES) return ENTITIES[ref];
    const n = /^#x[0-9a-f]+$/i.test(ref) ? parseInt(ref.slice(2), 16) : /^#\d+$/.test(ref) ? Number(ref.slice(1)) : NaN;
    if (!Number.isFinite(n)) throw new Error(`unknown entity &${ref}; near ${where}`);
    return String.fromCodePoint(n);
  });
}

/** Well-formedness (one root, matched tags, quoted unique attributes, known entities) and the element tree. */
function parseXml(doc: string): XmlElement {
  const tag = /<(\/?)([A-Za-z_][\w:.-]*)((?:\s+[A-Za-z_][\w:.-]*\s*=\s*"[^"<]*")*)\s*(\/?)>/y;
  const attr = /([A-Za-z_][\w:.-]*)\s*=\s*"([^"<]*)"/g;
  const root: XmlElement = { name: '#document', attrs: {}, children: [], text: '' };
  const stack = [root];
  let pos = 0;
  while (pos < doc.length) {
    const lt = doc.indexOf('<', pos);
    const text = doc.slice(pos, lt < 0 ? doc.length : lt);
    if (stack.length === 1 && text.trim()) throw new Error(`text outside the root near ${pos}`);
    stack[stack.length - 1].text += decode(text, pos);
    if (lt < 0) break;
    if (doc.startsWith('<!--', lt)) {
      const end = doc.indexOf('-->', lt);
      if (end < 0) throw new Error('unterminated comment');
      pos = end + 3;
      continue;
    }
    if (doc.startsWith('<?xml', lt) && lt === 0) {
      pos = doc.indexOf('?>') + 2;
      continue;
    }
    tag.lastIndex = lt;
    const m = tag.exec(doc);
    if (!m) throw new Error(`malformed tag near ${lt}: ${doc.slice(lt, lt + 40)}`);
    pos = tag.lastIndex;
    const [, close, name, attrText, selfClose] = m;
    if (close) {
      if (attrText || selfClose) throw new Error(`malformed end tag </${name}>`);
      const open = stack.pop()!;
      if (open.name !== name) throw new Error(`</${name}> closes <${open.name}>`);
      continue;
    }
    const el: XmlElement = { name, attrs: {}, children: [], text: '' };
    for (const a of attrText.matchAll(attr)) {
      if (a[1] in el.attrs) throw new Error(`duplicate attribute ${a[1]} on <${name}>`);
      el.attrs[a[1]] = decode(a[2], lt);
    }
    const parent = stack[stack.length - 1];
    if (parent === root && root.children.length > 0) throw new Error('more than one root element');
    parent.children.push(el);
    if (!selfClose) stack.push(el);
  }
  if (stack.length !== 1) throw new Error(`<${stack[stack.length - 1].name}> is never closed`);
  if (root.children.length !== 1) throw new Error('no root element');
  return root.children[0];
}

function all(el: XmlElement, pred: (e: XmlElement) => boolean, out: XmlElement[] = []): XmlElement[] {
  if (pred(el)) out.push(el);
  for (const c of el.children) all(c, pred, out);
  return out;
}

const hasClass = (cls: string) => (e: XmlElement) => (e.attrs.class ?? '').split(/\s+/).includes(cls);
const texts = (el: XmlElement, cls: string) => all(el, hasClass(cls)).flatMap((g) => all(g, (e) => e.name === 'text').map((t) => t.text));

/** The axis group whose title is `title`: its tick labels and their positions along the axis. */
function axis(svg: XmlElement, title: string): { labels: string[]; at: number[] } {
  const axes = all(svg, hasClass('role-axis')).filter((g) => texts(g, 'role-axis-title').includes(title));
  expect(axes).toHaveLength(1);
  const labels = all(axes[0], hasClass('role-axis-label')).flatMap((g) => all(g, (e) => e.name === 'text'));
  const vertical = axes[0].attrs['aria-label']?.startsWith('Y');
  const at = labels.map((t) => {
    const m = /translate\(([-\d.]+),([-\d.]+)\)/.exec(t.attrs.transform ?? '');
    return Number(m![vertical ? 2 : 1]);
  });
  return { labels: labels.map((t) => t.text), at };
}

/** The line marks, one <g class="mark-line"> per series in vega's output. */
const lines = (svg: XmlElement) => all(svg, hasClass('mark-line'));
const vertices = (d: string) => (d.match(/[ML]/g) ?? []).length;

const RANKS = [8, 16, 32, 64];
const rankChart: LineChart = {
  title: 'Held-out perplexity <vs> rank & more',
  xLabel: 'adapter rank',
  yLabel: 'perplexity',
  logX: true,
  series: [
    { name: 'int4 + svd', points: RANKS.map((r, i) => [r, 7.9 - 0.5 * i] as [number, number]) },
    { name: 'int4 + EoRA', points: RANKS.map((r, i) => [r, 7.5 - 0.45 * i] as [number, number]) },
    { name: 'int4', points: [[8, 8.2], [64, 8.2]] },
    { name: 'f32', points: [[8, 5.9], [64, 5.9]] },
  ],
};

describe('parseXml (the well-formedness check these tests rely on)', () => {
  test('rejects what a broken SVG writer would produce', () => {
    expect(parseXml('<svg a="1"><g><text>x &amp; y</text></g><path d="M0,0"/></svg>').children).toHaveLength(2);
    for (const [doc, re] of [
      ['<svg><g></svg>', /<\/svg> closes <g>/],
      ['<svg><text>a & b</text></svg>', /unterminated entity/],
      ['<svg><text>&nbsp;</text></svg>', /unknown entity/],
      ['<svg a=1></svg>', /malformed tag/],
      ['<svg a="1" a="2"></svg>', /duplicate attribute/],
      ['<svg></svg><svg></svg>', /more than one root/],
      ['<svg>', /never closed/],
      ['NaN<svg></svg>', /text outside the root/],
    ] as [string, RegExp][]) {
      expect(() => parseXml(doc)).toThrow(re);
    }
  });
});

describe('lineChartSvg', () => {
  test('a log x axis is labelled exactly at the measured ranks, evenly spaced by ratio', async () => {
    const svg = parseXml(await lineChartSvg(rankChart));
    const x = axis(svg, 'adapter rank');
    expect(x.labels).toEqual(['8', '16', '32', '64']);
    // each doubling is the same distance on a log axis
    const gaps = x.at.slice(1).map((v, i) => v - x.at[i]);
    for (const g of gaps) expect(Math.abs(g - gaps[0])).toBeLessThanOrEqual(1);
    expect(gaps[0]).toBeGreaterThan(50);
    // uneven ranks are labelled as given too, not at powers of ten
    const odd = parseXml(await lineChartSvg({ ...rankChart, series: [{ name: 'a', points: [[3, 2], [5, 1.5], [12, 1.2], [40, 1.1]] }] }));
    expect(axis(odd, 'adapter rank').labels).toEqual(['3', '5', '12', '40']);
  });

  test('one path per series with a vertex per point, distinct colours, the legend in the given order', async () => {
    const svg = parseXml(await lineChartSvg(rankChart));
    expect(svg.name).toBe('svg');
    const marks = lines(svg);
    expect(marks).toHaveLength(rankChart.series.length);
    const paths = marks.map((g) => all(g, (e) => e.name === 'path'));
    for (const p of paths) expect(p).toHaveLength(1);
    expect(paths.map((p) => vertices(p[0].attrs.d)).sort()).toEqual(rankChart.series.map((s) => s.points.length).sort());
    expect(new Set(paths.map((p) => p[0].attrs.stroke)).size).toBe(rankChart.series.length);
    expect(texts(svg, 'role-legend-label')).toEqual(rankChart.series.map((s) => s.name));
    // a marker per point while series are short
    expect(all(svg, hasClass('role-mark')).filter(hasClass('mark-symbol')).flatMap((g) => g.children)).toHaveLength(12);
  });

  test('title and axis titles are present and escaped; the linear y axis is nice and covers the data', async () => {
    const raw = await lineChartSvg(rankChart);
    expect(raw).toContain('Held-out perplexity &lt;vs&gt; rank &amp; more');
    const svg = parseXml(raw);
    expect(texts(svg, 'role-title-text')).toEqual([rankChart.title]);
    const y = axis(svg, 'perplexity');
    const ticks = y.labels.map(Number);
    for (const t of ticks) expect(Number.isFinite(t)).toBe(true);
    // "nice": every tick a multiple of one round step
    const step = ticks[1] - ticks[0];
    expect([0.1, 0.2, 0.25, 0.5, 1, 2]).toContainEqual(Number(step.toPrecision(6)));
    for (const t of ticks) expect(Math.abs(t / step - Math.round(t / step))).toBeLessThan(1e-6);
    const ys = rankChart.series.flatMap((s) => s.points.map((p) => p[1]));
    expect(Math.min(...ticks)).toBeLessThanOrEqual(Math.min(...ys));
    expect(Math.max(...ticks)).toBeGreaterThanOrEqual(Math.max(...ys));
    // larger values are higher up (smaller SVG y)
    expect(y.at[ticks.indexOf(Math.max(...ticks))]).toBeLessThan(y.at[ticks.indexOf(Math.min(...ticks))]);
  });

  test('a long log-y loss curve: no point markers, decimal labels on the log axis, the caller\'s point order', async () => {
    const steps = 120;
    const series = [0, 1].map((l) => ({ name: `layer ${l}`, points: Array.from({ length: steps }, (_, i) => [steps - i, 0.5 * Math.exp(-i / (10 + l)) + 1e-3] as [number, number]) }));
    const svg = parseXml(await lineChartSvg({ title: 'loss', xLabel: 'step', yLabel: 'MSE', logY: true, series }));
    expect(all(svg, hasClass('mark-symbol')).filter(hasClass('role-mark'))).toHaveLength(0);
    const marks = lines(svg);
    expect(marks).toHaveLength(2);
    const d = all(marks[0], (e) => e.name === 'path')[0].attrs.d;
    expect(vertices(d)).toBe(steps);
    // points were given from the last step backwards: the path starts at the right edge
    const xsOf = [...d.matchAll(/[ML]([-\d.]+),/g)].map((m) => Number(m[1]));
    expect(xsOf[0]).toBeGreaterThan(xsOf[xsOf.length - 1]);
    // vega leaves the labels between 1-2-5 ticks of a log axis empty
    const labels = axis(svg, 'MSE').labels.filter((l) => l !== '');
    expect(labels).toContain('0.01');
    expect(labels).toContain('0.1');
    for (const l of labels) expect(l).toMatch(/^\d+(\.\d+)?$/);
    expect(await lineChartSvg({ title: 'loss', xLabel: 'step', yLabel: 'MSE', logY: true, series })).not.toMatch(/NaN|Infinity/);
  });

  test('the same chart gives the same bytes', async () => {
    const a = await lineChartSvg(rankChart);
    const b = await lineChartSvg(JSON.parse(JSON.stringify(rankChart)) as LineChart);
    expect(b).toBe(a);
    expect(a.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
  });

  test('a chart that cannot be drawn honestly is an NT_VALUE error naming the problem', async () => {
    const one = (points: [number, number][], extra: Partial<LineChart> = {}): LineChart => ({ ...rankChart, logX: false, series: [{ name: 's', points }], ...extra });
    for (const [chart, re] of [
      [{ ...rankChart, series: [] }, /has no series/],
      [one([]), /series 's' has no points/],
      [one([[1, 2], [2, NaN]]), /series 's' point 1 has y = NaN/],
      [one([[Infinity, 2]]), /point 0 has x = Infinity/],
      [one([[1, -Infinity]]), /point 0 has y = -Infinity/],
      [one([[0, 2]], { logX: true }), /point 0 has x = 0, not > 0 on a log axis/],
      [one([[1, -0.5]], { logY: true }), /point 0 has y = -0.5, not > 0 on a log axis/],
      [{ ...rankChart, series: [rankChart.series[0], { ...rankChart.series[1], name: 'int4 + svd' }] }, /two series .* are named 'int4 \+ svd'/],
      [one([[1, 2]], { series: [{ name: '', points: [[1, 2]] }] }), /has no name/],
      [one([[1, 2]], { width: 0 }), /width must be an integer >= 50, got 0/],
      [one([[1, 2]], { height: 99.5 }), /height must be an integer >= 50, got 99.5/],
    ] as [LineChart, RegExp][]) {
      await expect(lineChartSvg(chart)).rejects.toThrow(expect.objectContaining({ code: 'NT_VALUE', message: expect.stringMatching(re) }));
    }
  });

  test('a single point is a valid chart', async () => {
    const svg = parseXml(await lineChartSvg({ ...rankChart, series: [{ name: 'one', points: [[16, 5]] }] }));
    expect(axis(svg, 'adapter rank').labels).toEqual(['16']);
    expect(lines(svg)).toHaveLength(1);
  });
});

describe('vegaLiteSvg', () => {
  test('a vega-lite warning is an NT_INTERNAL error, not a silently different chart', async () => {
    // a line has no theta channel: vega-lite drops it with a warning
    const spec = { data: { values: [{ a: 1, b: 2 }] }, mark: 'line' as const, encoding: { x: { field: 'a', type: 'quantitative' as const }, theta: { field: 'b', type: 'quantitative' as const } } };
    await expect(vegaLiteSvg(spec)).rejects.toThrow(expect.objectContaining({ code: 'NT_INTERNAL', message: '[plot] vega: theta dropped as it is incompatible with "line".' }));
    const { theta: _dropped, ...encoding } = spec.encoding;
    expect(parseXml(await vegaLiteSvg({ ...spec, encoding })).name).toBe('svg');
  });
});

describe('ntensor demo plot', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ntensor-cli-plot-'));
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test('a small demo run writes a well-formed plot labelled at its ranks, with one line per method', async () => {
    const base = nt.memory();
    const out = path.join(tmp, 'demo');
    const r = await cli(['demo', '--ranks', '3,5', '--calib-tokens', '256', '--eval-tokens', '257', '--out', out]);
    expect(r.stderr).not.toMatch(/ntensor demo:/);
    expect(r.code).toBe(0);
    expect(nt.memory()).toEqual(base);
    const svg = parseXml(fs.readFileSync(path.join(out, 'ppl-vs-rank.svg'), 'utf8'));
    expect(axis(svg, 'adapter rank').labels).toEqual(['3', '5']);
    expect(lines(svg)).toHaveLength(4);
    expect(texts(svg, 'role-legend-label')).toEqual(['int4 + EoRA', 'int4 + svd', 'int4', 'f32']);
    expect(texts(svg, 'role-title-text')[0]).toMatch(/^Held-out perplexity vs adapter rank \(tinyllama-fortunes, int4 RTN g128\)$/);
  });
});
