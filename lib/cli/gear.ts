// `ntensor gear`: GEAR KV-cache compression on a model's real K/V. For an f32 cache, KIVI
// (quantization only), GEAR-L (+ low-rank) and GEAR (+ outliers): cache bytes vs f16,
// ‖X − X̂‖/‖X‖ of K and V (captured with hooks.onAttentionInputs on the first --limit tokens),
// attention-output error against the exact cache, held-out perplexity decoding through the
// cache in blocks of n_b tokens, and single-token decode speed. --preset picks the last method
// (default 'gear'); slices whose outlier budget floors to 0 or whose rank is clamped are warned
// about on stderr and listed in the report's `warnings`.
import type { Command } from 'commander';
import type { CliContext } from './context';
import { formatBytes, table } from './format';
import { sumNll } from '../model/nll';
import { UsageError, addTokenOptions, defaultModelDir, intOption, numberOption, readTokens } from './model-args';

type Library = typeof import('../index');
type Model = ReturnType<Library['model']['load']>;
type Tensor = import('../tensor').Tensor;
type KVCacheLike = import('../model/cache').KVCacheLike;
type GearBudget = import('../llm/gear').GearBudget;
type GearPreset = import('../llm/gear').GearPreset;

/** Zero-budget counts (GearBudget) of a variant's K and V slices. */
export interface GearVariantBudget {
  /** compress of the captured K/V (all --limit tokens per slice) */
  compress: { key: GearBudget; value: GearBudget };
  /** the streaming cache's chunks of n_b tokens after appending the captured K/V */
  cache: { key: GearBudget; value: GearBudget };
}

export interface GearVariantReport {
  name: string;
  bits: number | null;
  rank: number;
  outlierRatio: number;
  /** Compressed bytes of the captured K and V (all layers) and the same in f16. */
  bytes: number;
  f16Bytes: number;
  keyError: number;
  valueError: number;
  /** ‖A − A_exact‖/‖A‖ of the attention outputs over the cache (all layers, all positions). */
  attentionError: number;
  ppl: number;
  /** Decode tokens per second (one token per forward, after a prefill). */
  tokensPerSecond: number;
  /** Slices whose outlier budget or rank came out zero (absent for the f32 cache). */
  budget?: GearVariantBudget;
}

export interface GearReport {
  model: string;
  tokens: number;
  pplTokens: number;
  window: number;
  block: number;
  bufferTokens: number;
  /** The preset that ran (its row is the last) and the options it ran with. */
  preset: GearPreset;
  options: { bits: 2 | 4; rank: number; outlierRatio: number; group: number };
  variants: GearVariantReport[];
  /** One line per variant and place where an outlier budget or rank rounded to zero. */
  warnings: string[];
}

export interface GearEvalOptions {
  /** The last variant: 'kivi' runs f32 + KIVI, 'gear-l' adds GEAR-L, 'gear' adds GEAR. */
  preset: GearPreset;
  bits: 2 | 4;
  rank: number;
  outlierRatio: number;
  group: number;
  /** Tokens whose K/V are captured for the error columns. */
  limit: number;
  /** Tokens of held-out text for perplexity. */
  pplTokens: number;
  /** Perplexity window (tokens predicted per fresh cache). */
  window: number;
  /** Tokens per forward when decoding a window through the cache. */
  block: number;
  bufferTokens: number;
  decodeTokens: number;
  onProgress?: (label: string) => void;
}

interface Captured {
  q: Tensor[];
  k: Tensor[];
  v: Tensor[];
}

function capture(model: Model, ids: Int32Array): Captured {
  const c: Captured = { q: [], k: [], v: [] };
  const logits = model.forward(ids, {
    hooks: {
      onAttentionInputs: (l, q, k, v) => {
        c.q[l] = q.clone();
        c.k[l] = k.clone();
        c.v[l] = v.clone();
      },
    },
    lastOnly: true,
  });
  logits.dispose();
  return c;
}

function sumSq(nt: Library, a: Tensor, b?: Tensor): number {
  const diff = b ? nt.sub(a, b) : a;
  const n = nt.norm(diff);
  const v = n.get();
  n.dispose();
  if (diff !== a) diff.dispose();
  return v * v;
}

/**
 * Perplexity over non-overlapping windows of `window` predicted tokens (as model.perplexity: window
 * w predicts ids[s + 1 .. s + w] from ids[s .. s + w - 1]), each decoded through a fresh cache in
 * blocks of `block` tokens, so every block attends to the compressed chunks before it. NLL in float64.
 */
function cachedPerplexity(model: Model, ids: Int32Array, makeCache: () => KVCacheLike, window: number, block: number): number {
  let nll = 0;
  let count = 0;
  for (let w0 = 0; w0 < ids.length - 1; w0 += window) {
    const w1 = Math.min(w0 + window, ids.length - 1);
    const cache = makeCache();
    try {
      for (let s = w0; s < w1; s += block) {
        const e = Math.min(s + block, w1);
        const logits = model.forward(ids.subarray(s, e), { cache });
        try {
          nll += sumNll(logits, ids.subarray(s + 1, e + 1));
          count += e - s;
        } finally {
          logits.dispose();
        }
      }
    } finally {
      cache.dispose();
    }
  }
  return Math.exp(nll / count);
}

/** Tokens/s of single-token forwards through the cache after a prefill of `prefill` tokens. */
function decodeSpeed(model: Model, ids: Int32Array, cache: KVCacheLike, prefill: number, steps: number): number {
  const first = model.forward(ids.subarray(0, prefill), { cache, lastOnly: true });
  first.dispose();
  const start = process.hrtime.bigint();
  for (let i = 0; i < steps; ++i) {
    const logits = model.forward(ids.subarray(prefill + i, prefill + i + 1), { cache, lastOnly: true });
    logits.dispose();
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return steps / seconds;
}

export function evaluateGear(nt: Library, model: Model, ids: Int32Array, o: GearEvalOptions): GearReport {
  const cfg = model.config;
  const n = Math.min(o.limit, ids.length, cfg.maxPositionEmbeddings);
  const pplIds = ids.subarray(0, Math.min(o.pplTokens, ids.length));
  if (o.window + 1 > cfg.maxPositionEmbeddings) throw new UsageError(`--window must be < max_position_embeddings ${cfg.maxPositionEmbeddings}`);
  const decodeSteps = Math.max(1, Math.min(o.decodeTokens, cfg.maxPositionEmbeddings - n, ids.length - n));
  if (n < 2) throw new UsageError(`need at least 2 tokens, got ${n}`);
  const ladder = [
    { name: 'f32 cache', bits: null, rank: 0, outlierRatio: 0 },
    { name: 'KIVI', bits: o.bits, rank: 0, outlierRatio: 0 },
    { name: 'GEAR-L', bits: o.bits, rank: o.rank, outlierRatio: 0 },
    { name: 'GEAR', bits: o.bits, rank: o.rank, outlierRatio: o.outlierRatio },
  ];
  const variants = ladder.slice(0, { kivi: 2, 'gear-l': 3, gear: 4 }[o.preset]);
  o.onProgress?.('capturing K/V');
  const cap = capture(model, ids.subarray(0, n));
  const reports: GearVariantReport[] = [];
  try {
    // exact attention outputs (the f32 cache) per layer
    const exact: Tensor[] = [];
    const dense = model.newCache();
    try {
      for (let l = 0; l < cfg.numLayers; ++l) {
        dense.append(l, cap.k[l], cap.v[l]);
        exact.push(dense.attend(l, cap.q[l]));
      }
    } finally {
      dense.dispose();
    }
    const exactSq = exact.reduce((s, t) => s + sumSq(nt, t), 0);
    const kSq = cap.k.reduce((s, t) => s + sumSq(nt, t), 0);
    const vSq = cap.v.reduce((s, t) => s + sumSq(nt, t), 0);
    const f16Bytes = cap.k.reduce((s, t) => s + 2 * t.size * 2, 0);
    try {
      for (const v of variants) {
        o.onProgress?.(v.name);
        const opts = { bits: (v.bits ?? 4) as 2 | 4, rank: v.rank, outlierRatio: v.outlierRatio, group: o.group, bufferTokens: o.bufferTokens };
        const mk = (): KVCacheLike => (v.bits === null ? model.newCache() : new nt.llm.gear.Cache(cfg, opts));
        let bytes = f16Bytes * 2; // f32
        let kErr = 0;
        let vErr = 0;
        let aErr = 0;
        let budget: GearVariantBudget | undefined;
        if (v.bits !== null) {
          const zero = (): GearBudget => ({ slices: 0, slicesWithoutOutliers: 0, slicesRankClamped: 0 });
          budget = { compress: { key: zero(), value: zero() }, cache: { key: zero(), value: zero() } };
          bytes = 0;
          for (let l = 0; l < cfg.numLayers; ++l)
            for (const [x, kind] of [
              [cap.k[l], 'key'],
              [cap.v[l], 'value'],
            ] as const) {
              const g = nt.llm.gear.compress(x, { kind, bits: opts.bits, rank: v.rank, outlierRatio: v.outlierRatio, group: o.group, seed: l });
              const d = g.decompress();
              const e = sumSq(nt, d, x);
              if (kind === 'key') kErr += e;
              else vErr += e;
              bytes += g.bytes;
              const b = g.bytesBreakdown;
              for (const f of ['slices', 'slicesWithoutOutliers', 'slicesRankClamped'] as const) budget.compress[kind][f] += b[f];
              d.dispose();
              g.dispose();
            }
          const cache = mk() as InstanceType<Library['llm']['gear']['Cache']>;
          try {
            for (let l = 0; l < cfg.numLayers; ++l) {
              cache.append(l, cap.k[l], cap.v[l]);
              const out = cache.attend(l, cap.q[l]);
              aErr += sumSq(nt, out, exact[l]);
              out.dispose();
            }
            budget.cache = cache.bytes.budget;
          } finally {
            cache.dispose();
          }
        }
        const ppl = cachedPerplexity(model, pplIds, mk, o.window, o.block);
        const dc = mk();
        let tps: number;
        try {
          tps = decodeSpeed(model, ids, dc, n, decodeSteps);
        } finally {
          dc.dispose();
        }
        reports.push({
          name: v.name,
          bits: v.bits,
          rank: v.rank,
          outlierRatio: v.outlierRatio,
          bytes,
          f16Bytes,
          keyError: Math.sqrt(kErr / kSq),
          valueError: Math.sqrt(vErr / vSq),
          attentionError: Math.sqrt(aErr / exactSq),
          ppl,
          tokensPerSecond: tps,
          ...(budget ? { budget } : {}),
        });
      }
    } finally {
      for (const t of exact) t.dispose();
    }
  } finally {
    for (const t of [...cap.q, ...cap.k, ...cap.v]) t?.dispose();
  }
  return {
    model: '',
    tokens: n,
    pplTokens: pplIds.length,
    window: o.window,
    block: o.block,
    bufferTokens: o.bufferTokens,
    preset: o.preset,
    options: { bits: o.bits, rank: o.rank, outlierRatio: o.outlierRatio, group: o.group },
    variants: reports,
    warnings: budgetWarnings(reports, n, cfg.headDim, o.bufferTokens),
  };
}

/**
 * The zero budgets of a report, one line each: which variant and option, in how many slices, and
 * why (the vector length the floor(s·len/2) budget or the rank clamp met).
 */
export function budgetWarnings(variants: GearVariantReport[], tokens: number, headDim: number, bufferTokens: number): string[] {
  const lines: string[] = [];
  for (const v of variants) {
    if (!v.budget) continue;
    for (const where of ['compress', 'cache'] as const)
      for (const kind of ['key', 'value'] as const) {
        const b = v.budget[where][kind];
        const place = where === 'compress' ? `of compress over ${tokens} tokens` : `of the streaming cache's ${bufferTokens}-token chunks (--buffer)`;
        const len = kind === 'value' ? headDim : where === 'compress' ? tokens : bufferTokens;
        const vec = kind === 'key' ? `a key channel of ${len} tokens` : `a value token of ${len} channels (head_dim)`;
        if (b.slicesWithoutOutliers > 0)
          lines.push(
            `${v.name}: --outliers ${v.outlierRatio} keeps no outliers in ${b.slicesWithoutOutliers} of ${b.slices} ${kind} slices ${place}: ` +
              `floor(${v.outlierRatio}·${len}/2) = 0 per side for ${vec}`,
          );
        if (b.slicesRankClamped > 0)
          lines.push(`${v.name}: --rank ${v.rank} is clamped to min(rank, tokens, head_dim) in ${b.slicesRankClamped} of ${b.slices} ${kind} slices ${place}`);
      }
  }
  return lines;
}

interface GearCliOptions {
  model?: string;
  text?: string;
  ids?: string;
  preset?: string;
  bits?: string;
  rank?: string;
  outliers?: string;
  limit?: string;
  buffer?: string;
  decode?: string;
  window?: string;
  block?: string;
  pplTokens?: string;
  group?: string;
  json?: boolean;
}

export function registerGear(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('gear')
    .description('GEAR KV-cache compression on a model: bytes, K/V and attention error, perplexity and decode speed for f32 / KIVI / GEAR-L / GEAR caches')
    .option('--model <dir>', 'Hugging Face model folder (default: the bundled fixtures/tinyllama-fortunes)');
  addTokenOptions(cmd, 'held-out text')
    .option('--preset <p>', "the method compared with the simpler ones: 'kivi' (quantization only), 'gear-l' (+ low rank) or 'gear' (+ outliers; default)")
    .option('--bits <b>', 'code width 2 or 4 (default 4)')
    .option('--rank <r>', "low-rank residual rank of GEAR-L and GEAR (default: the preset's, 4)")
    .option('--outliers <s>', "outlier ratio s of GEAR (default: the preset's, 0.02)")
    .option('--limit <n>', 'tokens whose K/V are captured for the error columns (default 256)')
    .option('--buffer <n>', 'streaming buffer n_b in tokens (default 64)')
    .option('--decode <n>', 'tokens decoded one at a time for the speed column (default 32)')
    .option('--group <g>', 'KIVI group size (default 64)')
    .option('--window <n>', 'perplexity window: tokens predicted per fresh cache (default 256, the fixture\'s training context)')
    .option('--block <n>', 'tokens per forward when decoding a window through the cache (default: the buffer size)')
    .option('--ppl-tokens <n>', 'held-out tokens for perplexity (default 4096)')
    .option('--json', 'print the report as JSON')
    .action((opts: GearCliOptions) => {
      try {
        if ((opts.text === undefined) === (opts.ids === undefined)) {
          ctx.fail('gear', 'give exactly one of --text FILE or --ids FILE (held-out text)', 'NT_VALUE');
          return;
        }
        const bits = intOption('--bits', opts.bits, 2) ?? 4;
        if (bits !== 2 && bits !== 4) throw new UsageError(`--bits must be 2 or 4, got '${opts.bits}'`);
        const preset = (opts.preset ?? 'gear') as GearPreset;
        if (preset !== 'gear' && preset !== 'gear-l' && preset !== 'kivi')
          throw new UsageError(`--preset must be gear, gear-l or kivi, got '${opts.preset}'`);
        // an option the preset's rows do not use is refused, not ignored
        if (preset === 'kivi' && (opts.rank !== undefined || opts.outliers !== undefined))
          throw new UsageError(`--${opts.rank !== undefined ? 'rank' : 'outliers'} has no effect with --preset kivi (quantization only)`);
        if (preset === 'gear-l' && opts.outliers !== undefined) throw new UsageError('--outliers has no effect with --preset gear-l (no outliers)');
        const rankOpt = intOption('--rank', opts.rank, 0);
        const outliersOpt = numberOption('--outliers', opts.outliers, 0);
        if (outliersOpt !== undefined && outliersOpt >= 1) throw new UsageError(`--outliers must be a number in [0, 1), got '${opts.outliers}'`);
        const limit = intOption('--limit', opts.limit, 2) ?? 256;
        const group = intOption('--group', opts.group, 1) ?? 64;
        const window = intOption('--window', opts.window, 1) ?? 256;
        const pplTokens = intOption('--ppl-tokens', opts.pplTokens, 2) ?? 4096;
        const bufferTokens = intOption('--buffer', opts.buffer, 1) ?? 64;
        const decodeTokens = intOption('--decode', opts.decode, 1) ?? 32;
        const block = intOption('--block', opts.block, 1) ?? bufferTokens;
        const nt = ctx.library('gear');
        if (!nt) return;
        // the library's presets give the defaults, as for gear.compress and gear.Cache
        const rank = rankOpt ?? nt.llm.gear.GEAR_PRESETS[preset].rank;
        const outlierRatio = outliersOpt ?? nt.llm.gear.GEAR_PRESETS[preset].outlierRatio;
        const dir = opts.model ?? defaultModelDir();
        const model = nt.model.load(dir);
        try {
          const ids = readTokens(nt, opts, { dir, vocabSize: model.config.vocabSize });
          const steps = { kivi: 3, 'gear-l': 4, gear: 5 }[preset]; // capture + one per variant
          const bar = opts.json ? undefined : ctx.progress('gear', steps);
          const report = evaluateGear(nt, model, ids, {
            preset,
            bits,
            rank,
            outlierRatio,
            limit,
            group,
            pplTokens,
            window,
            block,
            bufferTokens,
            decodeTokens,
            onProgress: (label) => bar?.tick(1, label),
          });
          bar?.done();
          report.model = dir;
          // on stderr in both modes, so that --json output stays parseable
          for (const w of report.warnings) ctx.output.err(`${ctx.st.yellow('ntensor gear: warning:')} ${w}\n`);
          if (opts.json) {
            ctx.out(JSON.stringify(report, null, 2) + '\n');
            return;
          }
          const base = report.variants[0];
          const rows = report.variants.map((v) => [
            v.name,
            v.bits === null ? '32' : String(v.bits),
            String(v.rank),
            v.outlierRatio ? `${(v.outlierRatio * 100).toFixed(1)}%` : '0',
            formatBytes(v.bytes),
            `${(v.bytes / v.f16Bytes).toFixed(3)}x`,
            v.bits === null ? '0' : v.keyError.toExponential(2),
            v.bits === null ? '0' : v.valueError.toExponential(2),
            v.bits === null ? '0' : v.attentionError.toExponential(2),
            v.ppl.toFixed(4),
            `${(((v.ppl - base.ppl) / base.ppl) * 100).toFixed(2)}%`,
            v.tokensPerSecond.toFixed(1),
          ]);
          ctx.out(
            `GEAR on ${dir}, preset ${preset} (bits ${bits}` +
              (preset === 'kivi' ? '' : `, rank ${rank}`) +
              (preset === 'gear' ? `, s ${outlierRatio}` : '') +
              `): errors on the K/V of ${report.tokens} tokens; perplexity over ${report.pplTokens} tokens in windows of ${window}, ` +
              `each decoded through a fresh cache in blocks of ${block} (buffer n_b = ${bufferTokens}, group ${group})\n` +
              table(
                [
                  { header: 'cache' },
                  { header: 'bits', align: 'right' },
                  { header: 'rank', align: 'right' },
                  { header: 's', align: 'right' },
                  { header: 'bytes', align: 'right' },
                  { header: 'vs f16', align: 'right' },
                  { header: '|K-K^|/|K|', align: 'right' },
                  { header: '|V-V^|/|V|', align: 'right' },
                  { header: 'attn err', align: 'right' },
                  { header: 'ppl', align: 'right' },
                  { header: 'dppl', align: 'right' },
                  { header: 'tok/s', align: 'right' },
                ],
                rows,
                ctx.st,
              ) +
              'bytes: codes + f16 scales/mins + f16 factors + f16 outlier values + int32 indices of the captured K/V (f32 cache: 4 bytes per element)\n' +
              (preset !== 'gear'
                ? ''
                : `outliers per side, k = floor(s·len/2): compress of ${report.tokens} tokens keeps ${Math.floor((outlierRatio * report.tokens) / 2)} per key channel and ` +
              `${Math.floor((outlierRatio * model.config.headDim) / 2)} per value token; a streaming chunk of ${bufferTokens} tokens keeps ` +
              `${Math.floor((outlierRatio * bufferTokens) / 2)} per key channel\n`),
          );
        } finally {
          model.dispose();
        }
      } catch (e) {
        ctx.failWith('gear', e);
      }
    });
}
