// onnxruntime-node's com.microsoft GroupQueryAttention as a one-node model written in code (a
// minimal ONNX protobuf writer of its own: bench/peers/onnx_matmul.ts keeps its writer private).
//   inputs  query [B, S, hq*d], key/value [B, S, hkv*d] (BSNH), past_key/past_value [B, hkv, P, d],
//           seqlens_k int32 [B] (= P + S - 1), total_sequence_length int32 scalar (= P + S)
//   outputs output [B, S, hq*d], present_key/present_value [B, hkv, P, d] (shared-buffer mode:
//           the past buffer has room for the whole sequence) or [B, hkv, S, d] when P = 0
//   attributes num_heads, kv_num_heads, scale (1/√d); causal by definition of the op.
// Prefill: P = 0 (empty past), total = S. Decode: S = 1, past buffer of P = total tokens, the
// first total - 1 valid, the new key written at total - 1 (ORT's own decode layout).
// Protobuf wire format: key = field << 3 | wire type (0 varint, 2 length-delimited, 5 fixed32).

const FLOAT = 1; // TensorProto.DataType
const INT32 = 6;

class Writer {
  private bytes: number[] = [];

  varint(v: number): this {
    let x = v;
    while (x >= 0x80) {
      this.bytes.push((x % 0x80) | 0x80);
      x = Math.floor(x / 0x80);
    }
    this.bytes.push(x);
    return this;
  }

  intField(field: number, v: number): this {
    return this.varint((field << 3) | 0).varint(v);
  }

  floatField(field: number, v: number): this {
    this.varint((field << 3) | 5);
    const b = new Uint8Array(new Float32Array([v]).buffer);
    for (const x of b) this.bytes.push(x);
    return this;
  }

  bytesField(field: number, data: Uint8Array): this {
    this.varint((field << 3) | 2).varint(data.length);
    for (const b of data) this.bytes.push(b);
    return this;
  }

  stringField(field: number, s: string): this {
    return this.bytesField(field, new TextEncoder().encode(s));
  }

  messageField(field: number, w: Writer): this {
    return this.bytesField(field, w.finish());
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

function valueInfo(name: string, elemType: number, dims: readonly number[]): Writer {
  const shape = new Writer();
  for (const d of dims) shape.messageField(1, new Writer().intField(1, d));
  const tensorType = new Writer().intField(1, elemType).messageField(2, shape);
  const type = new Writer().messageField(1, tensorType);
  return new Writer().stringField(1, name).messageField(2, type);
}

// AttributeProto { name = 1, type = 20 (INT 2, FLOAT 1), i = 3, f = 2 }
function intAttr(name: string, v: number): Writer {
  return new Writer().stringField(1, name).intField(20, 2).intField(3, v);
}
function floatAttr(name: string, v: number): Writer {
  return new Writer().stringField(1, name).intField(20, 1).floatField(2, v);
}

export interface GqaShape {
  batch: number;
  heads: number;
  kvHeads: number;
  seq: number;
  /** Capacity of the past buffers (0: prefill). */
  past: number;
  dim: number;
  /** Tokens attended (default: past + seq when past = 0, else past). */
  total?: number;
}

const totalOf = (s: GqaShape) => s.total ?? (s.past > 0 ? s.past : s.seq);

/** ONNX model bytes of one GroupQueryAttention node (f32) for the given shape. */
export function gqaModel(s: GqaShape): Uint8Array {
  const node = new Writer();
  for (const i of ['query', 'key', 'value', 'past_key', 'past_value', 'seqlens_k', 'total_sequence_length']) node.stringField(1, i);
  for (const o of ['output', 'present_key', 'present_value']) node.stringField(2, o);
  node
    .stringField(3, 'gqa')
    .stringField(4, 'GroupQueryAttention')
    .stringField(7, 'com.microsoft')
    .messageField(5, intAttr('num_heads', s.heads))
    .messageField(5, intAttr('kv_num_heads', s.kvHeads))
    .messageField(5, floatAttr('scale', 1 / Math.sqrt(s.dim)));
  const present = s.past > 0 ? s.past : s.seq;
  const graph = new Writer()
    .messageField(1, node)
    .stringField(2, 'ntensor_bench_gqa')
    .messageField(11, valueInfo('query', FLOAT, [s.batch, s.seq, s.heads * s.dim]))
    .messageField(11, valueInfo('key', FLOAT, [s.batch, s.seq, s.kvHeads * s.dim]))
    .messageField(11, valueInfo('value', FLOAT, [s.batch, s.seq, s.kvHeads * s.dim]))
    .messageField(11, valueInfo('past_key', FLOAT, [s.batch, s.kvHeads, s.past, s.dim]))
    .messageField(11, valueInfo('past_value', FLOAT, [s.batch, s.kvHeads, s.past, s.dim]))
    .messageField(11, valueInfo('seqlens_k', INT32, [s.batch]))
    .messageField(11, valueInfo('total_sequence_length', INT32, []))
    .messageField(12, valueInfo('output', FLOAT, [s.batch, s.seq, s.heads * s.dim]))
    .messageField(12, valueInfo('present_key', FLOAT, [s.batch, s.kvHeads, present, s.dim]))
    .messageField(12, valueInfo('present_value', FLOAT, [s.batch, s.kvHeads, present, s.dim]));
  const opset = new Writer().stringField(1, '').intField(2, 17);
  const msOpset = new Writer().stringField(1, 'com.microsoft').intField(2, 1);
  return new Writer().intField(1, 8).stringField(2, 'ntensor-bench').messageField(7, graph).messageField(8, opset).messageField(8, msOpset).finish();
}

/** The feeds of gqaModel(s) from BSNH query/key/value and [B, hkv, P, d] past buffers. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function gqaFeeds(ort: any, s: GqaShape, q: Float32Array, k: Float32Array, v: Float32Array, pastK: Float32Array, pastV: Float32Array): Record<string, unknown> {
  const T = ort.Tensor;
  return {
    query: new T('float32', q, [s.batch, s.seq, s.heads * s.dim]),
    key: new T('float32', k, [s.batch, s.seq, s.kvHeads * s.dim]),
    value: new T('float32', v, [s.batch, s.seq, s.kvHeads * s.dim]),
    past_key: new T('float32', pastK, [s.batch, s.kvHeads, s.past, s.dim]),
    past_value: new T('float32', pastV, [s.batch, s.kvHeads, s.past, s.dim]),
    seqlens_k: new T('int32', new Int32Array(s.batch).fill(totalOf(s) - 1), [s.batch]),
    total_sequence_length: new T('int32', new Int32Array([totalOf(s)]), []),
  };
}
