// Low-rank adapters in the PEFT LoRA folder format, so EoRA's output loads elsewhere:
//   adapter_model.safetensors  base_model.model.<module>.lora_A.weight  [r, d_in]  (= A)
//                              base_model.model.<module>.lora_B.weight  [d_out, r] (= B)
//   adapter_config.json        peft_type LORA, r, lora_alpha = r (scale alpha / r = 1), target_modules
// PEFT computes y = x Wᵀ + (alpha / r) · (x Aᵀ) Bᵀ; on load a scale other than 1 is folded into B.
import * as fs from 'fs';
import * as path from 'path';
import { ntError } from '../errors';
import { checkInsideFolder, replaceFolderUnitsJob, writeFileAtomic } from '../io/common';
import { loadSafetensors, saveSafetensors, saveSafetensorsAsync } from '../io/safetensors';
import { Job, runAsync, runSync, step } from '../job';
import { mul } from '../ops/binary';
import { shapeString } from '../shape';
import { Tensor } from '../tensor';

export interface LoraFactors {
  /** [r, d_in] */
  A: Tensor;
  /** [d_out, r] */
  B: Tensor;
}

export interface SaveAdapterOptions {
  /** Recorded as base_model_name_or_path. */
  baseModel?: string;
  /** Extra string metadata stored in the safetensors header (method, bits, calibration ...). */
  metadata?: Record<string, string>;
}

const PREFIX = 'base_model.model.';
const WEIGHTS = 'adapter_model.safetensors';
const CONFIG = 'adapter_config.json';

/** Writes a PEFT LoRA folder (created if missing); every module must share one rank. */
export function saveLoraAdapter(dir: string, adapters: Record<string, LoraFactors>, opts: SaveAdapterOptions = {}): void {
  runSync(saveLoraAdapterJob('llm.saveLoraAdapter', dir, adapters, opts));
}

/** saveLoraAdapter with the weights written and fsynced on libuv workers: the event loop stays free. */
export function saveLoraAdapterAsync(dir: string, adapters: Record<string, LoraFactors>, opts: SaveAdapterOptions = {}): Promise<void> {
  return runAsync(saveLoraAdapterJob('llm.saveLoraAdapterAsync', dir, adapters, opts));
}

/** saveLoraAdapter as one job body for both drivers (the compression pipeline yields it). */
export function* saveLoraAdapterJob(op: string, dir: string, adapters: Record<string, LoraFactors>, opts: SaveAdapterOptions = {}): Job<void> {
  const names = Object.keys(adapters);
  if (names.length === 0) throw ntError('NT_VALUE', `[${op}] no adapters to save`);
  const tensors: Record<string, Tensor> = {};
  const count = new Map<number, number>();
  for (const name of names) {
    const { A, B } = adapters[name];
    A._check(op, `${name}.A`);
    B._check(op, `${name}.B`);
    if (A.ndim !== 2 || B.ndim !== 2 || A.shape[0] !== B.shape[1])
      throw ntError('NT_SHAPE', `[${op}] ${name}: expected A [r, d_in] and B [d_out, r], got A ${shapeString(A.shape)}, B ${shapeString(B.shape)}`);
    count.set(A.shape[0], (count.get(A.shape[0]) ?? 0) + 1);
    tensors[`${PREFIX}${name}.lora_A.weight`] = A;
    tensors[`${PREFIX}${name}.lora_B.weight`] = B;
  }
  // r is the most common rank; every other module (Phi-3's fused ones: the sum of their parts')
  // is named in rank_pattern, with alpha = its rank in alpha_pattern, so each scale stays 1.
  // PEFT reads a key as a regex over the module name: the dots are escaped.
  const rank = [...count].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0][0];
  const rankPattern: Record<string, number> = {};
  for (const name of names) {
    const r = adapters[name].A.shape[0];
    if (r !== rank) rankPattern[name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')] = r;
  }
  const targetModules = [...new Set(names.map((n) => n.split('.').pop()!))].sort();
  const config = {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: opts.baseModel ?? null,
    r: rank,
    lora_alpha: rank,
    lora_dropout: 0.0,
    bias: 'none',
    fan_in_fan_out: false,
    target_modules: targetModules,
    use_rslora: false,
    use_dora: false,
    inference_mode: true,
    rank_pattern: rankPattern,
    alpha_pattern: rankPattern,
  };
  // staged and fsynced first, the config (which makes the folder loadable) renamed in last: a
  // failed or killed save never leaves new weights under an old config
  const meta = { format: 'pt', ...(opts.metadata ?? {}) };
  yield* replaceFolderUnitsJob(op, dir, [{ gate: CONFIG, files: [WEIGHTS] }], function* (stage) {
    const file = path.join(stage, WEIGHTS);
    yield* step(() => saveSafetensors(file, tensors, meta), () => saveSafetensorsAsync(file, tensors, meta));
    writeFileAtomic(op, path.join(stage, CONFIG), JSON.stringify(config, null, 2) + '\n');
  });
}

export interface LoadedAdapter {
  /** Module name (without the PEFT prefix) → factors, with the alpha / r scale folded into B. */
  modules: Record<string, LoraFactors>;
  rank: number;
  scale: number;
  dispose(): void;
}

/** A PEFT rank_pattern / alpha_pattern: module-name pattern → value (absent: {}). */
function patternOf(op: string, file: string, config: Record<string, unknown>, key: string, valid: (v: unknown) => boolean): [RegExp, number][] {
  const p = config[key];
  if (p === undefined || p === null) return [];
  if (typeof p !== 'object' || Array.isArray(p)) throw ntError('NT_IO', `[${op}] ${file}: ${key} must be an object`);
  return Object.entries(p as Record<string, unknown>).map(([k, v]) => {
    if (!valid(v)) throw ntError('NT_IO', `[${op}] ${file}: ${key}['${k}'] must be a ${key === 'rank_pattern' ? 'positive integer' : 'number'}, got ${JSON.stringify(v)}`);
    let re: RegExp;
    try {
      // PEFT's match: the key names the module or a dot-separated suffix of it, as a regex
      re = new RegExp(`^(?:.*\\.)?(?:${k})$`);
    } catch (e) {
      throw ntError('NT_IO', `[${op}] ${file}: ${key} key '${k}' is not a valid pattern: ${(e as Error).message}`);
    }
    return [re, v as number];
  });
}

/** The value of the first pattern matching module `name` (PEFT takes the first in key order). */
function matchPattern(pattern: readonly [RegExp, number][], name: string): number | undefined {
  return pattern.find(([re]) => re.test(name))?.[1];
}

/**
 * Reads a PEFT LoRA folder written by ntensor or PEFT (lora_A/lora_B, optional rslora,
 * per-module rank_pattern / alpha_pattern). Each module's alpha / r is folded into its B; the
 * result's rank and scale are the config's defaults.
 */
export function loadLoraAdapter(dir: string): LoadedAdapter {
  const op = 'llm.loadLoraAdapter';
  const configPath = path.join(dir, CONFIG);
  const weightsPath = path.join(dir, WEIGHTS);
  checkInsideFolder(op, dir, configPath);
  checkInsideFolder(op, dir, weightsPath);
  if (!fs.existsSync(configPath)) throw ntError('NT_IO', `[${op}] ${configPath} not found (not a PEFT adapter folder)`);
  if (!fs.existsSync(weightsPath)) throw ntError('NT_IO', `[${op}] ${weightsPath} not found`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(configPath, 'utf8'));
  } catch (e) {
    throw ntError('NT_IO', `[${op}] ${configPath} is not valid JSON: ${(e as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    throw ntError('NT_IO', `[${op}] ${configPath} must hold a JSON object, got ${parsed === null ? 'null' : Array.isArray(parsed) ? 'an array' : typeof parsed}`);
  const config = parsed as Record<string, unknown>;
  if (config.peft_type !== 'LORA') throw ntError('NT_UNSUPPORTED', `[${op}] peft_type must be LORA, got ${JSON.stringify(config.peft_type)}`);
  const r = config.r;
  const alpha = config.lora_alpha ?? r;
  if (typeof r !== 'number' || !Number.isInteger(r) || r < 1 || typeof alpha !== 'number' || !Number.isFinite(alpha))
    throw ntError('NT_IO', `[${op}] ${configPath}: r must be a positive integer and lora_alpha a number`);
  if (config.use_dora === true) throw ntError('NT_UNSUPPORTED', `[${op}] DoRA adapters are not supported`);
  // Conv1D-style [d_in, d_out] factors (GPT-2): the shapes would pass for square layers and apply transposed
  if (config.fan_in_fan_out === true) throw ntError('NT_UNSUPPORTED', `[${op}] ${configPath}: fan_in_fan_out adapters (transposed factors) are not supported`);
  // PEFT options that change where or how the factors apply, beyond x·Aᵀ·Bᵀ on each named linear
  const changes = ['alora_invocation_tokens', 'layer_replication', 'target_parameters', 'trainable_token_indices', 'lora_bias'].filter(
    (k) => config[k] !== undefined && config[k] !== null && config[k] !== false && !(Array.isArray(config[k]) && (config[k] as unknown[]).length === 0),
  );
  if (changes.length > 0) throw ntError('NT_UNSUPPORTED', `[${op}] ${configPath}: ${changes.join(', ')} ${changes.length > 1 ? 'are' : 'is'} set, and only plain LoRA factors on linears are applied`);
  const rankPattern = patternOf(op, configPath, config, 'rank_pattern', (v) => typeof v === 'number' && Number.isInteger(v) && v >= 1);
  const alphaPattern = patternOf(op, configPath, config, 'alpha_pattern', (v) => typeof v === 'number' && Number.isFinite(v));
  const scaleOf = (rm: number, am: number) => (config.use_rslora === true ? am / Math.sqrt(rm) : am / rm);
  const scale = scaleOf(r, alpha);
  const raw = loadSafetensors(weightsPath, { dtype: 'f32' });
  const modules: Record<string, LoraFactors> = {};
  const owned: Tensor[] = Object.values(raw);
  const fail = (code: 'NT_IO' | 'NT_SHAPE' | 'NT_UNSUPPORTED', message: string): never => {
    owned.forEach((t) => t.dispose());
    Object.values(modules).forEach((m) => m.B.dispose());
    throw ntError(code, `[${op}] ${message}`);
  };
  // tensors that are not a LoRA pair (modules_to_save copies, embedding LoRA, biases, DoRA
  // magnitudes) would change the model: refused by name, never skipped
  const pair = /^(?:base_model\.model\.)?(.+)\.lora_[AB](?:\.default)?\.weight$/;
  const other = Object.keys(raw).filter((k) => !pair.test(k));
  if (other.length === Object.keys(raw).length) fail('NT_IO', `${weightsPath} holds no lora_A/lora_B weights`);
  if (other.length > 0)
    fail('NT_UNSUPPORTED', `${weightsPath}: ${other.length} tensor(s) are not lora_A/lora_B factors of a linear (${other.slice(0, 3).join(', ')}${other.length > 3 ? ', …' : ''}): modules_to_save, embedding LoRA, bias or DoRA weights are not applied`);
  for (const key of Object.keys(raw)) {
    const m = /^(?:base_model\.model\.)?(.+)\.lora_A(?:\.default)?\.weight$/.exec(key);
    if (!m) continue;
    const name = m[1];
    const bKey = key.replace(/\.lora_A(\.default)?\.weight$/, '.lora_B$1.weight');
    const A = raw[key];
    const B = raw[bKey];
    if (!B) fail('NT_IO', `${weightsPath}: ${key} has no matching ${bKey}`);
    const rm = matchPattern(rankPattern, name) ?? r;
    const sm = scaleOf(rm, matchPattern(alphaPattern, name) ?? alpha);
    if (A.ndim !== 2 || B.ndim !== 2 || A.shape[0] !== rm || B.shape[1] !== rm)
      fail('NT_SHAPE', `${name}: expected lora_A [${rm}, d_in] and lora_B [d_out, ${rm}], got ${shapeString(A.shape)} and ${shapeString(B.shape)}`);
    modules[name] = { A, B: sm === 1 ? B : mul(B, sm) };
  }
  // every tensor is a lora_A or lora_B (checked above) and each lora_A found its B: a B left over has no A
  const lonelyB = Object.keys(raw).find((k) => /\.lora_B(?:\.default)?\.weight$/.test(k) && !raw[k.replace(/\.lora_B(\.default)?\.weight$/, '.lora_A$1.weight')]);
  if (lonelyB !== undefined) fail('NT_IO', `${weightsPath}: ${lonelyB} has no matching lora_A`);
  const kept = new Set<Tensor>(Object.values(modules).flatMap((f) => [f.A, f.B]));
  for (const t of owned) if (!kept.has(t)) t.dispose();
  return {
    modules,
    rank: r,
    scale,
    dispose() {
      for (const f of Object.values(modules)) {
        f.A.dispose();
        f.B.dispose();
      }
    },
  };
}
