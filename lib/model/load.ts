// Loading a Hugging Face LLaMA-family folder (llama, mistral, qwen2, qwen3, phi3) into a
// LlamaModel: config.json checked against the weights before any are read, float matrices
// kept in their stored dtype (mapped) or converted, norms and biases f32, GPTQ tensors turned
// into QuantLinears, Phi-3's fused matrices split into views under the LLaMA linear names.
import { ntError } from '../errors';
import { loadSafetensors, loadSafetensorsAsync } from '../io';
import { Job, runAsync, runSync, step } from '../job';
import { fromGptq } from '../quant/gptq-format';
import { ropeInverseFrequencies } from '../ops';
import { Tensor } from '../tensor';
import { ModelConfig, readConfig, ropeFrequencies } from './config';
import { DenseLinear, LinearLike, QuantLinear } from './linear';
import { LlamaModel } from './model';
import { isGgufPath, loadGguf } from './load-gguf';
import { biasedLinearSuffixes, checkWeights, expectedTensors, fusedLinears, gptqLinearShapes, headQuantized, linearShapes, storedTensors } from './weights';

/** In-memory dtype of the weight matrices (linears, embeddings, lm_head). */
export type WeightDType = 'auto' | 'f32' | 'bf16' | 'f16';

export interface LoadOptions {
  /**
   * 'auto' (default): each matrix keeps the checkpoint's dtype (f32, bf16 or f16; f64 becomes
   * f32), as a zero-copy view of the mapped file; the linears run the 16-bit-weight kernels,
   * so decode reads 2 bytes per weight. 'f32' / 'bf16' / 'f16': converted on load. Norm
   * weights are always f32 and activations, the residual stream and logits always f32.
   */
  dtype?: WeightDType;
  /** Activations of the QuantLinears a GPTQ folder loads into (QuantLinearOptions.activations). */
  activations?: 'f32' | 'int8';
}

const WEIGHT_DTYPES: readonly WeightDType[] = ['auto', 'f32', 'bf16', 'f16'];

function checkLoadOptions(op: string, opts: unknown): { dtype: WeightDType; activations: 'f32' | 'int8' } {
  if (opts === undefined) return { dtype: 'auto', activations: 'f32' };
  if (opts === null || typeof opts !== 'object') throw ntError('NT_VALUE', `[${op}] options must be an object`);
  const { dtype = 'auto', activations = 'f32' } = opts as LoadOptions;
  if (!WEIGHT_DTYPES.includes(dtype)) throw ntError('NT_DTYPE', `[${op}] dtype must be one of ${WEIGHT_DTYPES.join(', ')}, got ${String(dtype)}`);
  if (activations !== 'f32' && activations !== 'int8') throw ntError('NT_VALUE', `[${op}] activations must be 'f32' or 'int8', got ${String(activations)}`);
  return { dtype, activations };
}

/** Names read in one dtype: undefined keeps the stored one (and maps the file). */
interface LoadGroup {
  dtype: 'f32' | 'bf16' | 'f16' | undefined;
  names: string[];
}

interface LoadPlan {
  dir: string;
  config: ModelConfig;
  /** Float tensors by target dtype. */
  groups: LoadGroup[];
  /** GPTQ tensors of quantized linears (qweight, qzeros, scales, g_idx), loaded as stored. */
  packedNames: string[];
  activations: 'f32' | 'int8';
}

function plan(op: string, dir: unknown, opts: unknown): LoadPlan {
  if (typeof dir !== 'string' || dir === '') throw ntError('NT_VALUE', `[${op}] dir must be a non-empty string (a Hugging Face model folder)`);
  const { dtype, activations } = checkLoadOptions(op, opts);
  const config = readConfig(op, dir);
  const stored = storedTensors(op, dir);
  checkWeights(op, dir, config, stored);
  const all = [...expectedTensors(config).keys()];
  if (config.quantization)
    for (const name of gptqLinearShapes(config).keys()) if (stored.has(`${name}.g_idx`)) all.push(`${name}.g_idx`);
  warnUnused(op, dir, config, stored.keys(), new Set(all));
  const packed = (n: string) => /\.(qweight|qzeros|scales|g_idx)$/.test(n);
  // norms and biases are tiny and the ops take them in x's dtype (f32); matrices follow `dtype`
  const norm = (n: string) => n.endsWith('norm.weight') || n.endsWith('.bias');
  const groups = new Map<LoadGroup['dtype'], string[]>();
  for (const n of all) {
    if (packed(n)) continue;
    let target: LoadGroup['dtype'];
    if (norm(n)) target = 'f32';
    else if (dtype !== 'auto') target = dtype;
    else target = stored.get(n)!.fileDtype === 'F64' ? 'f32' : undefined;
    if (!groups.has(target)) groups.set(target, []);
    groups.get(target)!.push(n);
  }
  return { dir, config, groups: [...groups].map(([d, names]) => ({ dtype: d, names })), packedNames: all.filter(packed), activations };
}

const warnedUnused = new Set<string>();

/**
 * Stored tensors the model will not read (layers past num_hidden_layers, names of another
 * architecture): one process warning (code NT_UNUSED_TENSORS) per folder and count, as
 * transformers warns of unused weights; a truncated model is never built silently. A stored
 * rotary_emb.inv_freq (recomputed from the config) and a stored lm_head under tied embeddings
 * (the embedding is used) are expected and not reported.
 */
function warnUnused(op: string, dir: string, c: ModelConfig, stored: Iterable<string>, used: Set<string>): void {
  const unused = [...stored].filter((n) => !used.has(n) && !n.endsWith('rotary_emb.inv_freq') && !(c.tieWordEmbeddings && n === 'lm_head.weight'));
  if (unused.length === 0) return;
  const key = `${dir}\0${unused.length}`;
  if (warnedUnused.has(key)) return;
  warnedUnused.add(key);
  const layers = new Set(unused.map((n) => /^model\.layers\.(\d+)\./.exec(n)?.[1]).filter((l) => l !== undefined).map(Number));
  const beyond = [...layers].filter((l) => l >= c.numLayers).sort((a, b) => a - b);
  const shown = unused.slice(0, 3).map((n) => `'${n}'`).join(', ');
  process.emitWarning(
    `[${op}] ${dir}: ${unused.length} stored tensor(s) are not used by the model (${shown}${unused.length > 3 ? ', ...' : ''})` +
      (beyond.length ? `; the weights hold layers up to ${beyond[beyond.length - 1]} but config.json has num_hidden_layers = ${c.numLayers}` : ''),
    { code: 'NT_UNUSED_TENSORS' },
  );
}

/** Takes w[name] out of the record (its ownership passes to the caller). */
function take(w: Record<string, Tensor>, name: string): Tensor | undefined {
  const t = w[name];
  delete w[name];
  return t;
}

/**
 * The linears the model cannot build from a plain '<name>.weight': QuantLinears from the
 * GPTQ tensors of a quantized folder, and DenseLinears with their biases. Fused matrices
 * (Phi-3) are first replaced in `w` by row-range views under the LLaMA names. Everything
 * used is taken out of `w` and `packed`; on failure what was built is disposed.
 */
function prebuiltLinears(c: ModelConfig, w: Record<string, Tensor>, packed: Record<string, Tensor>, activations: 'f32' | 'int8'): Map<string, LinearLike> {
  const out = new Map<string, LinearLike>();
  const q = c.quantization;
  const biased = biasedLinearSuffixes(c);
  // a tensor leaves `w` only once the linear owning it exists: on failure assemble disposes `w`
  const biasName = (name: string) => (biased.has(name.replace(/^model\.layers\.\d+\./, '')) ? `${name}.bias` : undefined);
  try {
    for (const f of fusedLinears(c)) {
      if (q) {
        // GPTQ tensors run along out features by column: qweight [K·bits/32, N], qzeros
        // [G, N·bits/32], scales [G, N]; g_idx [K] is shared (checkWeights checked that the
        // splits fall on qzeros word boundaries)
        const per = 32 / q.bits;
        for (const part of f.parts) {
          const [a, b] = part.rows;
          const cut = (name: string, range: [number, number]) => {
            const view = packed[`${f.stored}.${name}`].slice(null, range);
            try {
              packed[`${part.name}.${name}`] = view.clone();
            } finally {
              view.dispose();
            }
          };
          cut('qweight', [a, b]);
          cut('qzeros', [a / per, b / per]);
          cut('scales', [a, b]);
          const g = packed[`${f.stored}.g_idx`];
          if (g) packed[`${part.name}.g_idx`] = g.clone();
        }
        continue;
      }
      const fused = take(w, `${f.stored}.weight`)!;
      try {
        for (const part of f.parts) w[`${part.name}.weight`] = fused.slice(part.rows);
      } finally {
        fused.dispose(); // the views hold the storage
      }
    }
    const names = [...linearShapes(c).keys(), ...(headQuantized(c) ? ['lm_head'] : [])];
    for (const name of names) {
      const b = biasName(name);
      if (!q) {
        if (b) {
          out.set(name, new DenseLinear(w[`${name}.weight`], w[b]));
          take(w, `${name}.weight`);
          take(w, b);
        }
        continue;
      }
      const t = (part: string) => packed[`${name}.${part}`];
      const qt = fromGptq({
        qweight: t('qweight'),
        qzeros: t('qzeros'),
        scales: t('scales'),
        gIdx: t('g_idx') ?? null,
        bits: q.bits,
        groupSize: q.groupSize === -1 ? 'row' : q.groupSize,
        sym: q.sym,
        checkpointFormat: q.checkpointFormat,
      });
      try {
        out.set(name, new QuantLinear(qt, { activations, bias: b ? w[b] : null }));
      } catch (e) {
        qt.dispose();
        throw e;
      }
      if (b) take(w, b);
    }
    return out;
  } catch (e) {
    for (const lin of out.values()) lin.dispose();
    throw e;
  } finally {
    for (const t of Object.values(packed)) t.dispose();
  }
}

function assemble(op: string, p: LoadPlan, w: Record<string, Tensor>, packed: Record<string, Tensor>): LlamaModel {
  let inv: Tensor | undefined;
  let prebuilt = new Map<string, LinearLike>();
  let head: LinearLike | undefined;
  try {
    const c = p.config;
    prebuilt = prebuiltLinears(c, w, packed, p.activations);
    inv = Tensor._wrap(ropeFrequencies(c, ropeInverseFrequencies(c.headDim, c.ropeTheta)), 'f32', [c.headDim / 2]);
    const embed = w['model.embed_tokens.weight'];
    // a quantized head (quantization_config.lm_head) was built with the decoder's GPTQ linears
    head = prebuilt.get('lm_head');
    prebuilt.delete('lm_head');
    return new LlamaModel(c, p.dir, embed, w['model.norm.weight'], c.tieWordEmbeddings ? embed : (head ?? w['lm_head.weight']), inv, w, prebuilt);
  } catch (e) {
    for (const t of Object.values(w)) t.dispose();
    for (const lin of prebuilt.values()) lin.dispose();
    head?.dispose();
    inv?.dispose();
    throw ntError((e as { code?: never }).code ?? 'NT_INTERNAL', `[${op}] ${(e as Error).message.replace(/^\[[^\]]*\]\s*/, '')}`);
  }
}

function renamed(op: string, e: unknown): unknown {
  const err = e as { message?: unknown; code?: unknown };
  if (typeof err?.message !== 'string' || typeof err.code !== 'string' || !err.code.startsWith('NT_')) return e;
  return ntError(err.code as never, `[${op}] ${err.message.replace(/^\[[^\]]*\]\s*/, '')}`);
}

/** The plan's tensors: float groups (each in its dtype), then the packed GPTQ parts; all or nothing. */
function* readWeights(p: LoadPlan): Job<{ w: Record<string, Tensor>; packed: Record<string, Tensor> }> {
  const w: Record<string, Tensor> = {};
  let packed: Record<string, Tensor> = {};
  try {
    for (const g of p.groups) {
      const opts = { names: g.names, dtype: g.dtype };
      Object.assign(w, yield* step(() => loadSafetensors(p.dir, opts), () => loadSafetensorsAsync(p.dir, opts)));
    }
    if (p.packedNames.length > 0) {
      const opts = { names: p.packedNames };
      packed = yield* step(() => loadSafetensors(p.dir, opts), () => loadSafetensorsAsync(p.dir, opts));
    }
    return { w, packed };
  } catch (e) {
    for (const t of Object.values(w)) t.dispose();
    throw e;
  }
}

/**
 * Loads a Hugging Face LLaMA-family folder: config.json + model.safetensors (or a sharded
 * model.safetensors.index.json). Weight matrices keep the checkpoint's dtype by default,
 * mapped from the files (see LoadOptions.dtype). Batch 1.
 */
export function load(dir: string, opts?: LoadOptions): LlamaModel {
  if (isGgufPath(dir)) return loadGguf(dir, opts);
  const p = plan('model.load', dir, opts);
  let r;
  try {
    r = runSync(readWeights(p));
  } catch (e) {
    throw renamed('model.load', e);
  }
  return assemble('model.load', p, r.w, r.packed);
}

/** load with the weight reading on libuv workers. */
export async function loadAsync(dir: string, opts?: LoadOptions): Promise<LlamaModel> {
  if (isGgufPath(dir)) return loadGguf(dir, opts);
  const p = plan('model.loadAsync', dir, opts);
  let r;
  try {
    r = await runAsync(readWeights(p));
  } catch (e) {
    throw renamed('model.loadAsync', e);
  }
  return assemble('model.loadAsync', p, r.w, r.packed);
}

