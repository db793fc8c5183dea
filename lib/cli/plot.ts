// Line charts for the CLI's reports (perplexity vs rank, loss curves): a vega-lite spec,
// compiled by vega-lite and rendered headless to SVG by vega (renderer 'none': no canvas,
// no browser). Both are loaded on the first chart so `require('ntensor')` stays fast.
import type { TopLevelSpec } from 'vega-lite';
import { ntError } from '../errors';

export interface Series {
  name: string;
  points: readonly (readonly [number, number])[];
}

export interface LineChart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  logX?: boolean;
  logY?: boolean;
  width?: number;
  height?: number;
}

/** Above this many points in one series the line is drawn without a marker per point. */
const MAX_MARKED_POINTS = 40;

/** Throws NT_VALUE for a chart that cannot be drawn honestly: an empty or nameless series, a duplicate name, a non-finite or (on a log axis) non-positive value. */
function checkChart(chart: LineChart): void {
  const fail = (message: string) => {
    throw ntError('NT_VALUE', `[plot] ${message}`);
  };
  if (chart.series.length === 0) fail(`'${chart.title}' has no series`);
  for (const [key, v] of [['width', chart.width], ['height', chart.height]] as const) {
    if (v !== undefined && !(Number.isInteger(v) && v >= 50)) fail(`${key} must be an integer >= 50, got ${v}`);
  }
  const names = new Set<string>();
  for (const s of chart.series) {
    if (!s.name) fail(`a series of '${chart.title}' has no name`);
    if (names.has(s.name)) fail(`two series of '${chart.title}' are named '${s.name}'`);
    names.add(s.name);
    if (s.points.length === 0) fail(`series '${s.name}' has no points`);
    s.points.forEach(([x, y], i) => {
      for (const [axis, v, log] of [['x', x, chart.logX], ['y', y, chart.logY]] as const) {
        if (!Number.isFinite(v)) fail(`series '${s.name}' point ${i} has ${axis} = ${v}`);
        if (log && v <= 0) fail(`series '${s.name}' point ${i} has ${axis} = ${v}, not > 0 on a log axis`);
      }
    });
  }
}

/** The vega-lite spec: one line per series in the given order, the legend in that order, a log x axis labelled at the measured x values. */
function lineChartSpec(chart: LineChart): TopLevelSpec {
  checkChart(chart);
  const values = chart.series.flatMap((s) => s.points.map(([x, y], i) => ({ series: s.name, i, x, y })));
  const xs = [...new Set(values.map((v) => v.x))].sort((a, b) => a - b);
  const marked = Math.max(...chart.series.map((s) => s.points.length)) <= MAX_MARKED_POINTS;
  return {
    title: chart.title,
    width: chart.width ?? 560,
    height: chart.height ?? 360,
    background: 'white',
    data: { values },
    mark: { type: 'line', point: marked, strokeWidth: 2 },
    encoding: {
      x: {
        field: 'x',
        type: 'quantitative',
        title: chart.xLabel,
        // a log scale's own ticks are powers of ten: ranks 8..64 would get the single label "10"
        scale: chart.logX ? { type: 'log', domain: [xs[0], xs[xs.length - 1]], nice: false, padding: 12 } : { zero: false },
        axis: chart.logX ? { values: xs, format: '~r', labelOverlap: 'greedy' } : {},
      },
      y: {
        field: 'y',
        type: 'quantitative',
        title: chart.yLabel,
        scale: chart.logY ? { type: 'log', nice: true } : { zero: false, nice: true },
        axis: chart.logY ? { format: '~r' } : {},
      },
      color: { field: 'series', type: 'nominal', title: null, scale: { domain: chart.series.map((s) => s.name) } },
      // draw points in the caller's order (vega-lite would sort a line by x)
      order: { field: 'i', type: 'quantitative' },
    },
  };
}

/** A vega-lite spec as a standalone SVG document. A warning from vega-lite or vega (a channel dropped, a bad scale) is an NT_INTERNAL error, not a silently different chart. */
export async function vegaLiteSvg(spec: TopLevelSpec): Promise<string> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const vegaLite = require('vega-lite') as typeof import('vega-lite');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const vega = require('vega') as typeof import('vega');
  const warnings: string[] = [];
  const logger = vega.logger(vega.Warn, undefined, (_method, _level, input) => warnings.push(Array.from(input, String).join(' ')));
  const view = new vega.View(vega.parse(vegaLite.compile(spec, { logger }).spec), { renderer: 'none', logger });
  try {
    const svg = await view.toSVG();
    if (warnings.length > 0) throw ntError('NT_INTERNAL', `[plot] vega: ${warnings.join('; ')}`);
    return svg + '\n';
  } finally {
    view.finalize();
  }
}

/** The chart as a standalone SVG document; the same chart always gives the same bytes. */
export async function lineChartSvg(chart: LineChart): Promise<string> {
  return vegaLiteSvg(lineChartSpec(chart));
}
