// A minimal ONNX protobuf writer for one-node graphs, used to run onnxruntime-node's MatMul
// beside ours without shipping model files. Encodes only the fields ORT needs:
//   ModelProto { ir_version: 8, producer_name, graph, opset_import { domain: "", version: 17 } }
//   GraphProto { node { input: A, B; output: Y; op_type: MatMul }, name, input A/B, output Y }
//   ValueInfoProto { name, type { tensor_type { elem_type, shape { dim { dim_value } } } } }
// Protobuf wire format: key = field << 3 | wire type (0 varint, 2 length-delimited).

const FLOAT = 1; // TensorProto.DataType
const DOUBLE = 11;

class Writer {
  private bytes: number[] = [];

  varint(v: number): this {
    // non-negative integers below 2^53 (all the model needs)
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
  for (const d of dims) shape.messageField(1, new Writer().intField(1, d)); // dim { dim_value }
  const tensorType = new Writer().intField(1, elemType).messageField(2, shape);
  const type = new Writer().messageField(1, tensorType); // TypeProto.tensor_type
  return new Writer().stringField(1, name).messageField(2, type);
}

/** ONNX model bytes computing Y = A @ B for A [m, k], B [k, n] (float32 or float64). */
export function matmulModel(m: number, k: number, n: number, dtype: 'f32' | 'f64' = 'f32'): Uint8Array {
  const elem = dtype === 'f32' ? FLOAT : DOUBLE;
  const node = new Writer().stringField(1, 'A').stringField(1, 'B').stringField(2, 'Y').stringField(3, 'matmul').stringField(4, 'MatMul');
  const graph = new Writer()
    .messageField(1, node)
    .stringField(2, 'ntensor_bench_matmul')
    .messageField(11, valueInfo('A', elem, [m, k]))
    .messageField(11, valueInfo('B', elem, [k, n]))
    .messageField(12, valueInfo('Y', elem, [m, n]));
  const opset = new Writer().stringField(1, '').intField(2, 17);
  return new Writer().intField(1, 8).stringField(2, 'ntensor-bench').messageField(7, graph).messageField(8, opset).finish();
}
