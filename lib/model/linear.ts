// Linear layers of the model runner. Every projection of a decoder layer is a LinearLike, so
// compressed layers swap in through model.setLinear without the runner knowing about them:
//   DenseLinear  y = x Wᵀ (+ b), W f32, bf16 or f16 (16-bit weights are read as stored, 2 bytes
//                each, and accumulated in f32 by the mixed-precision matmul: no f32 copy of W)
//   QuantLinear  y = x · dequant(Q)ᵀ (+ b) through the fused int4 kernel (never a dense copy of W)
//   LoraLinear   y = base(x) + (x Aᵀ) Bᵀ: a low-rank correction (EoRA, or a PEFT adapter)
import { ntError } from '../errors';
import { matmul, matmulAsync } from '../linalg/matmul';
import { add, addAsync } from '../ops/binary';
import { matmul as quantMatmul, matmulAsync as quantMatmulAsync, matmulPath as quantMatmulPath } from '../quant/matmul';
import type { QuantMatmulPath } from '../quant/matmul';
import type { QTensor } from '../quant/qtensor';
import { shapeString } from '../shape';
import { Tensor } from '../tensor';

/** y = layer(x) for x [n, inFeatures] -> [n, outFeatures] (a fresh tensor the caller disposes). */
export interface LinearLike {
  readonly inFeatures: number;
  readonly outFeatures: number;
  forward(x: Tensor): Tensor;
  /** Optional worker-thread form, used by model.forwardAsync (else forward runs on the main thread). */
  forwardAsync?(x: Tensor): Promise<Tensor>;
  dispose(): void;
}

/** A bias must be f32 [out]: it is added to the f32 output rows. */
function checkBias(op: string, bias: Tensor | null | undefined, out: number): Tensor | null {
  if (bias === undefined || bias === null) return null;
  if (!(bias instanceof Tensor)) throw ntError('NT_VALUE', `[${op}] bias must be a Tensor or null, got ${typeof bias}`);
  bias._check(op, 'bias');
  if (bias.ndim !== 1 || bias.shape[0] !== out) throw ntError('NT_SHAPE', `[${op}] bias must be [${out}] (out features), got ${shapeString(bias.shape)}`);
  if (bias.dtype !== 'f32') throw ntError('NT_DTYPE', `[${op}] bias must be f32 (added to the f32 output), got ${bias.dtype}`);
  return bias;
}

/** y += bias, broadcast over the rows, in place; y is disposed if that fails. */
function addBias(y: Tensor, bias: Tensor | null): Tensor {
  if (bias === null) return y;
  try {
    return add(y, bias, { out: y });
  } catch (e) {
    y.dispose();
    throw e;
  }
}

async function addBiasAsync(y: Promise<Tensor>, bias: Tensor | null): Promise<Tensor> {
  const out = await y;
  if (bias === null) return out;
  try {
    return await addAsync(out, bias, { out });
  } catch (e) {
    out.dispose();
    throw e;
  }
}

/**
 * A dense linear layer: y = x Wᵀ (+ bias), W [out, in] as stored by Hugging Face, in f32,
 * bf16 or f16; x, y and the bias [out] are f32.
 */
export class DenseLinear implements LinearLike {
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** f32 [out], or null. */
  readonly bias: Tensor | null;

  /** Takes ownership of `weight` [out, in] and `bias` [out]: dispose() disposes them. */
  constructor(
    readonly weight: Tensor,
    bias?: Tensor | null,
  ) {
    weight._check('DenseLinear', 'weight');
    if (weight.ndim !== 2) throw ntError('NT_SHAPE', `[DenseLinear] weight must be 2-D [out, in], got ${shapeString(weight.shape)}`);
    if (weight.dtype !== 'f32' && weight.dtype !== 'bf16' && weight.dtype !== 'f16')
      throw ntError('NT_DTYPE', `[DenseLinear] weight must be f32, bf16 or f16 (the model computes in f32), got ${weight.dtype}`);
    this.outFeatures = weight.shape[0];
    this.inFeatures = weight.shape[1];
    this.bias = checkBias('DenseLinear', bias, this.outFeatures);
  }

  forward(x: Tensor): Tensor {
    return addBias(matmul(x, this.weight, { transB: true }), this.bias);
  }

  forwardAsync(x: Tensor): Promise<Tensor> {
    return addBiasAsync(matmulAsync(x, this.weight, { transB: true }), this.bias);
  }

  dispose(): void {
    this.weight.dispose();
    this.bias?.dispose();
  }
}

/** Options of QuantLinear. */
export interface QuantLinearOptions {
  /**
   * 'f32' (default) or 'int8': x quantized to int8 per row and weight group with integer dot
   * products (nt.quant.matmul's activations option). Where the int8 kernels cannot serve the
   * weight, the f32 ones run with a one-time process warning; `path` says which runs.
   */
  activations?: 'f32' | 'int8';
  /** f32 [out] added to every output row (a GPTQ checkpoint's stored bias); the layer takes ownership. */
  bias?: Tensor | null;
}

export class QuantLinear implements LinearLike {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly activations: 'f32' | 'int8';
  /** f32 [out], or null. */
  readonly bias: Tensor | null;

  /** Takes ownership of q [out, in] (and options.bias). */
  constructor(
    readonly q: QTensor,
    options?: QuantLinearOptions,
  ) {
    q._check('QuantLinear', 'q');
    if (options !== undefined && (options === null || typeof options !== 'object'))
      throw ntError('NT_VALUE', `[QuantLinear] options must be an object, got ${options === null ? 'null' : typeof options}`);
    const a = options?.activations ?? 'f32';
    if (a !== 'f32' && a !== 'int8') throw ntError('NT_VALUE', `[QuantLinear] activations must be 'f32' or 'int8', got ${String(a)}`);
    this.activations = a;
    this.outFeatures = q.shape[0];
    this.inFeatures = q.shape[1];
    this.bias = checkBias('QuantLinear', options?.bias, this.outFeatures);
  }

  /** The kernels forward runs on this CPU (and, for an int8 request that falls back, why). */
  get path(): QuantMatmulPath {
    return quantMatmulPath(this.q, { activations: this.activations });
  }

  forward(x: Tensor): Tensor {
    return addBias(quantMatmul(x, this.q, { activations: this.activations }), this.bias);
  }

  forwardAsync(x: Tensor): Promise<Tensor> {
    return addBiasAsync(quantMatmulAsync(x, this.q, { activations: this.activations }), this.bias);
  }

  dispose(): void {
    this.q.dispose();
    this.bias?.dispose();
  }
}

export class LoraLinear implements LinearLike {
  readonly inFeatures: number;
  readonly outFeatures: number;

  /** Takes ownership of base, A [r, in] and B [out, r]. */
  constructor(
    readonly base: LinearLike,
    readonly A: Tensor,
    readonly B: Tensor,
  ) {
    A._check('LoraLinear', 'A');
    B._check('LoraLinear', 'B');
    if (A.ndim !== 2 || B.ndim !== 2 || A.shape[1] !== base.inFeatures || B.shape[0] !== base.outFeatures || A.shape[0] !== B.shape[1])
      throw ntError(
        'NT_SHAPE',
        `[LoraLinear] expected A [r, ${base.inFeatures}] and B [${base.outFeatures}, r], got A ${shapeString(A.shape)}, B ${shapeString(B.shape)}`,
      );
    this.inFeatures = base.inFeatures;
    this.outFeatures = base.outFeatures;
  }

  get rank(): number {
    return this.A.shape[0];
  }

  forward(x: Tensor): Tensor {
    const y = this.base.forward(x);
    const down = matmul(x, this.A, { transB: true });
    const up = matmul(down, this.B, { transB: true });
    add(y, up, { out: y });
    down.dispose();
    up.dispose();
    return y;
  }

  async forwardAsync(x: Tensor): Promise<Tensor> {
    const y = this.base.forwardAsync ? await this.base.forwardAsync(x) : this.base.forward(x);
    const down = await matmulAsync(x, this.A, { transB: true });
    const up = await matmulAsync(down, this.B, { transB: true });
    add(y, up, { out: y });
    down.dispose();
    up.dispose();
    return y;
  }

  dispose(): void {
    this.base.dispose();
    this.A.dispose();
    this.B.dispose();
  }
}

/**
 * Stands in for a linear whose weights were written out and released (a checkpoint compressed
 * layer by layer keeps one layer in memory): same shape, and any use is NT_DISPOSED.
 */
export class ReleasedLinear implements LinearLike {
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    private readonly why: string,
  ) {}

  forward(): Tensor {
    throw ntError('NT_DISPOSED', `[linear.forward] this linear was released: ${this.why}`);
  }

  dispose(): void {}
}
