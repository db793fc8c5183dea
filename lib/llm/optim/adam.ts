// Adam/AdamW and 8-bit Adam (block-wise dynamic quantization of both moments, Dettmers et al.
// 2022) over f32 parameters, each step one fused native pass per parameter.
import { ntError } from '../../errors';
import { checkOptions } from '../../ops/common';
import type { Tensor } from '../../tensor';
import { Moments, createMoments, disposeMoments, momentBytes, readMoments, stepMoments } from './moments';
import { AdamOptions, Optimizer, intOpt } from './optimizer';

/**
 * Adam with bias correction and decoupled (AdamW) weight decay, PyTorch's formula:
 * m = b1 m + (1-b1) g, v = b2 v + (1-b2) g², p = p (1 - lr wd) - lr (m/(1-b1^t)) / (sqrt(v/(1-b2^t)) + eps).
 * State: two f32 tensors per parameter (8 bytes per element).
 */
export class Adam extends Optimizer {
  private state: Moments[];

  constructor(params: Tensor[], options?: AdamOptions) {
    super('llm.optim.Adam', params, options, 1e-8);
    this.state = this.params.map((p) => createMoments(this.op, p.size, { eightBit: false, blockSize: 2048, minSize8bit: 0 }));
  }

  stateBytes(): number {
    return this.state.reduce((s, m) => s + momentBytes(m), 0);
  }

  /** Copies of the moments of params[i] as f32 [n] (for inspection and tests). */
  moments(i: number): { m: Tensor; v: Tensor } {
    this.alive('moments', i);
    return readMoments(this.state[i]);
  }

  protected updateParam(i: number, p: Tensor, g: Tensor, t: number): void {
    stepMoments(p, g, this.state[i], this.hyper, t, false);
  }

  protected releaseState(): void {
    this.state.forEach(disposeMoments);
    this.state = [];
  }
}

export interface Adam8bitOptions extends AdamOptions {
  /** Elements per quantization block: 2048 (default) or 256. */
  blockSize?: 2048 | 256;
  /** Parameters with fewer elements keep 32-bit moments (default 4096). */
  minSize8bit?: number;
}

export function blockSizeOption(op: string, v: unknown): number {
  if (v === undefined) return 2048;
  if (v !== 2048 && v !== 256) throw ntError('NT_VALUE', `[${op}] blockSize must be 2048 or 256, got ${String(v)}`);
  return v;
}

/**
 * Adam whose moments are stored in 8 bits: per block of blockSize elements, the first moment as
 * indices into the signed dynamic map and the second into the unsigned one, each with the
 * block's absmax in f32 (bitsandbytes' block-wise "dynamic" quantization). Every step
 * dequantizes a block, updates it in f32 as Adam does, and re-quantizes with the new absmax.
 * State: 2 bytes per element + 8 bytes per block (f32 state for parameters below minSize8bit).
 */
export class Adam8bit extends Optimizer {
  private state: Moments[];
  readonly blockSize: number;
  readonly minSize8bit: number;

  constructor(params: Tensor[], options?: Adam8bitOptions) {
    super('llm.optim.Adam8bit', params, options, 1e-8);
    const o = checkOptions<Adam8bitOptions>(this.op, options);
    this.blockSize = blockSizeOption(this.op, o.blockSize);
    this.minSize8bit = intOpt(this.op, 'minSize8bit', o.minSize8bit, 4096, 0);
    const policy = { eightBit: true, blockSize: this.blockSize, minSize8bit: this.minSize8bit };
    this.state = this.params.map((p) => createMoments(this.op, p.size, policy));
  }

  stateBytes(): number {
    return this.state.reduce((s, m) => s + momentBytes(m), 0);
  }

  /** Whether params[i] has 8-bit moments (false below minSize8bit). */
  isQuantized(i: number): boolean {
    this.alive('isQuantized', i);
    return this.state[i].kind === '8bit';
  }

  /** The moments of params[i] as f32 [n] (dequantized copies). */
  moments(i: number): { m: Tensor; v: Tensor } {
    this.alive('moments', i);
    return readMoments(this.state[i]);
  }

  protected updateParam(i: number, p: Tensor, g: Tensor, t: number): void {
    stepMoments(p, g, this.state[i], this.hyper, t, false);
  }

  protected releaseState(): void {
    this.state.forEach(disposeMoments);
    this.state = [];
  }
}
