// The package's own benchmark (`ntensor bench`): timing and statistics, the machine's
// ceilings, the roofline, and the suites. Shipped in dist/lib (no devDependency needed).
export { median, summarize, measure, rates, formatSeconds } from './stats';
export type { SampleStats, MeasureOptions } from './stats';
export { rooflinePoint } from './roofline';
export type { Ceilings, RoofPoint, RoofWork, RoofDtype } from './roofline';
export { probeCeilings, bestCeilings, mergeProbeReports, lastLevelCacheBytes, DEFAULT_LLC_BYTES } from './probes';
export type { ProbeReport, ProbePass } from './probes';
export { numpyStatus } from './peers';
export { SUITES, runBench, resolveOptions } from './run';
export type { BenchOptions, BenchReport, BenchRow, SuiteReport } from './run';
export type { BenchSuite, RowSpec } from './suite';
