// onnxruntime-node's com.microsoft MatMulNBits (4-bit, block-quantized along K) as a bench
// peer: Y = A · dequant(B)ᵀ with dequant = (code − zero_point) · scale per block, the same
// arithmetic as nt.quant.matmul. The graph is built in code (bench/peers/onnx_matmul.ts) with
// the weights as initializers (so ORT prepacks them at session creation, as in a real model):
// `copies` MatMulNBits nodes share the input A and each reads its own weight copy, so one
// session.run computes one product per copy over weights cycled through memory (per-product
// time = run time / copies; ORT's per-run overhead is amortised over the copies).
//   B           uint8 [N, K / block, block / 2]  = our codes [N, K / 2] (same nibble order)
//   scales      float [N · K / block]            = our f32 scales [N, groups]
//   zero_points uint8 [N · ceil(blocks / 2)]     our zeros, two per byte (low nibble first)
import { ONNX_TYPE, modelBytes, node, tensorProto, valueInfo } from './onnx_matmul';

export interface NBitsWeight {
  /** [N, K / 2] 4-bit codes, column c in byte c >> 1, low nibble for even c. */
  codes: Uint8Array;
  /** [N, K / blockSize] f32 scales. */
  scales: Float32Array;
  /** [N, K / blockSize] zero points 0..15. */
  zeros: Uint8Array;
}

/** Packs per-block zero points [n, blocks] (one per byte) into ORT's two-per-byte layout. */
export function packZeroPoints(zeros: Uint8Array, n: number, blocks: number): Uint8Array {
  const per = Math.ceil(blocks / 2);
  const out = new Uint8Array(n * per);
  for (let r = 0; r < n; ++r)
    for (let b = 0; b < blocks; ++b) out[r * per + (b >> 1)] |= (zeros[r * blocks + b] & 15) << (b & 1 ? 4 : 0);
  return out;
}

/**
 * Model bytes: input A float [m, k]; outputs Y0 … Y{copies−1} float [m, n], Yi = A · dequant(Wi)ᵀ.
 * k must be a multiple of blockSize.
 */
export function matmulNBitsModel(m: number, k: number, n: number, blockSize: number, accuracyLevel: number, weights: readonly NBitsWeight[]): Uint8Array {
  if (k % blockSize !== 0) throw new Error(`matmulNBitsModel: k = ${k} is not a multiple of the block size ${blockSize}`);
  const blocks = k / blockSize;
  const nodes = [];
  const initializers = [];
  const outputs = [];
  for (let i = 0; i < weights.length; ++i) {
    const w = weights[i];
    if (w.codes.length !== (n * k) / 2 || w.scales.length !== n * blocks || w.zeros.length !== n * blocks)
      throw new Error(`matmulNBitsModel: weight copy ${i} has the wrong size`);
    initializers.push(
      tensorProto(`B${i}`, ONNX_TYPE.UINT8, [n, blocks, blockSize / 2], w.codes),
      tensorProto(`S${i}`, ONNX_TYPE.FLOAT, [n * blocks], w.scales),
      tensorProto(`Z${i}`, ONNX_TYPE.UINT8, [n * Math.ceil(blocks / 2)], packZeroPoints(w.zeros, n, blocks)),
    );
    nodes.push(
      node({
        op: 'MatMulNBits',
        domain: 'com.microsoft',
        inputs: ['A', `B${i}`, `S${i}`, `Z${i}`],
        outputs: [`Y${i}`],
        ints: { K: k, N: n, bits: 4, block_size: blockSize, accuracy_level: accuracyLevel },
      }),
    );
    outputs.push(valueInfo(`Y${i}`, ONNX_TYPE.FLOAT, [m, n]));
  }
  return modelBytes({
    name: 'ntensor_bench_matmulnbits',
    nodes,
    initializers,
    inputs: [valueInfo('A', ONNX_TYPE.FLOAT, [m, k])],
    outputs,
    opsets: { 'com.microsoft': 1 },
  });
}
