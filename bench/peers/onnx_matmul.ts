// A minimal ONNX protobuf writer for small graphs built in code, used to run onnxruntime-node
// beside ours without shipping model files. Encodes only the fields ORT needs:
//   ModelProto { ir_version: 8, producer_name, graph, opset_import { domain, version }... }
//   GraphProto { node..., name, initializer..., input..., output... }
//   NodeProto { input..., output..., name, op_type, attribute..., domain }
//   AttributeProto { name, i, type: INT }
//   TensorProto { dims..., data_type, name, raw_data }  (initializers, little-endian raw bytes)
//   ValueInfoProto { name, type { tensor_type { elem_type, shape { dim { dim_value } } } } }
// Protobuf wire format: key = field << 3 | wire type (0 varint, 2 length-delimited).
// matmulModel (one MatMul node, A and B fed as inputs) is what bench/gemm.bench.ts uses.

/** TensorProto.DataType values used by the benches. */
export const ONNX_TYPE = { FLOAT: 1, UINT8: 2, INT32: 6, FLOAT16: 10, DOUBLE: 11 } as const;

/**
 * Protobuf message writer. Bytes are kept as a list of chunks: large payloads (initializers of
 * tens of MB) are referenced, not copied byte by byte, until finish().
 */
export class Writer {
  private chunks: Uint8Array[] = [];
  private small: number[] = [];
  private length = 0;

  private flush(): void {
    if (this.small.length === 0) return;
    this.chunks.push(Uint8Array.from(this.small));
    this.small = [];
  }

  varint(v: number): this {
    // non-negative integers below 2^53 (all the models need)
    let x = v;
    while (x >= 0x80) {
      this.small.push((x % 0x80) | 0x80);
      x = Math.floor(x / 0x80);
      ++this.length;
    }
    this.small.push(x);
    ++this.length;
    return this;
  }

  intField(field: number, v: number): this {
    return this.varint((field << 3) | 0).varint(v);
  }

  bytesField(field: number, data: Uint8Array): this {
    this.varint((field << 3) | 2).varint(data.length);
    if (data.length < 256) {
      for (const b of data) this.small.push(b);
    } else {
      this.flush();
      this.chunks.push(data);
    }
    this.length += data.length;
    return this;
  }

  stringField(field: number, s: string): this {
    return this.bytesField(field, new TextEncoder().encode(s));
  }

  messageField(field: number, w: Writer): this {
    return this.bytesField(field, w.finish());
  }

  finish(): Uint8Array {
    this.flush();
    if (this.chunks.length === 1) return this.chunks[0];
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    this.chunks = [out];
    return out;
  }
}

export function valueInfo(name: string, elemType: number, dims: readonly number[]): Writer {
  const shape = new Writer();
  for (const d of dims) shape.messageField(1, new Writer().intField(1, d)); // dim { dim_value }
  const tensorType = new Writer().intField(1, elemType).messageField(2, shape);
  const type = new Writer().messageField(1, tensorType); // TypeProto.tensor_type
  return new Writer().stringField(1, name).messageField(2, type);
}

/** An initializer: TensorProto with raw little-endian data (the bytes of a TypedArray). */
export function tensorProto(name: string, elemType: number, dims: readonly number[], data: ArrayBufferView): Writer {
  const w = new Writer();
  for (const d of dims) w.intField(1, d);
  w.intField(2, elemType).stringField(8, name);
  return w.bytesField(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}

/** An INT attribute (AttributeProto.type INT = 2). */
export function intAttribute(name: string, v: number): Writer {
  return new Writer().stringField(1, name).intField(3, v).intField(20, 2);
}

export interface NodeSpec {
  op: string;
  inputs: readonly string[];
  outputs: readonly string[];
  name?: string;
  domain?: string;
  ints?: Record<string, number>;
}

export function node(spec: NodeSpec): Writer {
  const w = new Writer();
  for (const i of spec.inputs) w.stringField(1, i);
  for (const o of spec.outputs) w.stringField(2, o);
  w.stringField(3, spec.name ?? spec.outputs[0]).stringField(4, spec.op);
  for (const [k, v] of Object.entries(spec.ints ?? {})) w.messageField(5, intAttribute(k, v));
  if (spec.domain) w.stringField(7, spec.domain);
  return w;
}

export interface GraphSpec {
  name: string;
  nodes: Writer[];
  initializers?: Writer[];
  inputs: Writer[];
  outputs: Writer[];
  /** Operator sets beyond the default domain "" at version 17, e.g. { 'com.microsoft': 1 }. */
  opsets?: Record<string, number>;
}

/** ModelProto bytes of one graph. */
export function modelBytes(g: GraphSpec): Uint8Array {
  const graph = new Writer();
  for (const n of g.nodes) graph.messageField(1, n);
  graph.stringField(2, g.name);
  for (const t of g.initializers ?? []) graph.messageField(5, t);
  for (const i of g.inputs) graph.messageField(11, i);
  for (const o of g.outputs) graph.messageField(12, o);
  const model = new Writer().intField(1, 8).stringField(2, 'ntensor-bench').messageField(7, graph);
  for (const [domain, version] of Object.entries({ '': 17, ...(g.opsets ?? {}) }))
    model.messageField(8, new Writer().stringField(1, domain).intField(2, version));
  return model.finish();
}

/** ONNX model bytes computing Y = A @ B for A [m, k], B [k, n] (float32 or float64). */
export function matmulModel(m: number, k: number, n: number, dtype: 'f32' | 'f64' = 'f32'): Uint8Array {
  const elem = dtype === 'f32' ? ONNX_TYPE.FLOAT : ONNX_TYPE.DOUBLE;
  return modelBytes({
    name: 'ntensor_bench_matmul',
    nodes: [node({ op: 'MatMul', inputs: ['A', 'B'], outputs: ['Y'], name: 'matmul' })],
    inputs: [valueInfo('A', elem, [m, k]), valueInfo('B', elem, [k, n])],
    outputs: [valueInfo('Y', elem, [m, n])],
  });
}
