// QTensor: a group-quantized weight W [rows = d_out, cols = d_in] (y = x · Wᵀ).
// Layout (the same as native/quant/group_quant.h, documented in README "Quantized weights"):
//   codes  u8 [rows, bits === 8 ? cols : ceil(cols / 2)]  two codes per byte for bits ≤ 4,
//          column c in byte c >> 1, low nibble for even c
//   scales f32 | f16 [rows, groups]   groups = ceil(cols / groupSize)
//   zeros  u8 [rows, groups]          integer zero points; x̂ = scale · (q − zero)
//   gIdx   i32 [cols] | null          group of each column (GPTQ act-order without static
//                                      groups); null means group(c) = floor(c / groupSize)
// The parts are ordinary tensors owned by the QTensor: dispose() releases them all.
import { ntError } from '../errors';
import type { Tensor } from '../tensor';

export type QuantBits = 2 | 3 | 4 | 8;

export interface QTensorParts {
  codes: Tensor;
  scales: Tensor;
  zeros: Tensor;
  gIdx?: Tensor | null;
  shape: readonly [number, number];
  bits: QuantBits;
  groupSize: number;
  symmetric: boolean;
}

export class QTensor {
  readonly codes: Tensor;
  readonly scales: Tensor;
  readonly zeros: Tensor;
  readonly gIdx: Tensor | null;
  readonly shape: readonly [number, number];
  readonly bits: QuantBits;
  /** Columns per group (equals cols for whole-row groups). */
  readonly groupSize: number;
  readonly symmetric: boolean;
  private disposed = false;

  /** Takes ownership of the parts after checking they describe one consistent layout. */
  constructor(parts: QTensorParts) {
    const [rows, cols] = parts.shape;
    const { bits, groupSize } = parts;
    const op = 'quant.QTensor';
    if (![2, 3, 4, 8].includes(bits)) throw ntError('NT_VALUE', `[${op}] bits must be 2, 3, 4 or 8, got ${bits}`);
    if (!Number.isInteger(groupSize) || groupSize < 1) {
      throw ntError('NT_VALUE', `[${op}] groupSize must be a positive integer, got ${groupSize}`);
    }
    const groups = Math.ceil(cols / groupSize);
    const expect = (t: Tensor, name: string, dtypes: string[], shape: number[]): void => {
      t._check(op, name);
      if (!dtypes.includes(t.dtype)) {
        throw ntError('NT_DTYPE', `[${op}] ${name} must be ${dtypes.join(' or ')}, got ${t.dtype}`);
      }
      if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]) || !t.isContiguous) {
        throw ntError('NT_SHAPE', `[${op}] ${name} must be a contiguous [${shape}], got [${t.shape}]`);
      }
    };
    expect(parts.codes, 'codes', ['u8'], [rows, QTensor.codeRowBytes(cols, bits)]);
    expect(parts.scales, 'scales', ['f32', 'f16'], [rows, groups]);
    expect(parts.zeros, 'zeros', ['u8'], [rows, groups]);
    if (parts.gIdx) expect(parts.gIdx, 'gIdx', ['i32'], [cols]);
    this.codes = parts.codes;
    this.scales = parts.scales;
    this.zeros = parts.zeros;
    this.gIdx = parts.gIdx ?? null;
    this.shape = Object.freeze([rows, cols]) as readonly [number, number];
    this.bits = bits;
    this.groupSize = groupSize;
    this.symmetric = parts.symmetric;
  }

  static codeRowBytes(cols: number, bits: number): number {
    return bits === 8 ? cols : Math.ceil(cols / 2);
  }

  get groups(): number {
    return Math.ceil(this.shape[1] / this.groupSize);
  }

  /** Bytes of codes + scales + zeros (+ gIdx): what the quantized weight costs in memory. */
  get bytes(): number {
    const parts = [this.codes, this.scales, this.zeros, ...(this.gIdx ? [this.gIdx] : [])];
    return parts.reduce((n, t) => n + t.data.byteLength, 0);
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** @internal Throws NT_DISPOSED naming the op and argument. */
  _check(op: string, arg = 'q'): this {
    if (this.disposed) throw ntError('NT_DISPOSED', `[${op}] ${arg} (QTensor) was disposed`);
    return this;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.codes.dispose();
    this.scales.dispose();
    this.zeros.dispose();
    this.gIdx?.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  toString(): string {
    return `QTensor(shape=[${this.shape}], bits=${this.bits}, groupSize=${this.groupSize}, scales=${this.scales.dtype}${this.gIdx ? ', gIdx' : ''})`;
  }
}
