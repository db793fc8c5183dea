// Block-sparse softmax attention and its top-k form.
//
// blockSparse: keys and query positions are cut into blocks of `blockSize`; query block a sees key
// block b iff blocks[batch, head, a, b] != 0 (u8 [b, hq, nb, nb], nb = ⌈sk / blockSize⌉; query i sits
// at position sk − sq + i), combined with the causal mask. Exact softmax over the kept keys; a row
// that keeps no key gives 0. Dropped key blocks are skipped natively (the work drops with them).
//
// topK: per query block and head, keeps the diagonal block and the k best other blocks (causal:
// earlier blocks only) ranked by mean-pooled query · mean-pooled key of the block (a Quest/MoBA
// style estimate), ties to the earlier block; then blockSparse with that mask. k ≥ nb − 1 keeps
// every block (= dense). topKBlocks returns the mask itself.
import { ntError } from '../errors';
import { native } from '../native/loader';
import { checkOptions, checkTensor, describe, runAsync, runSync } from '../ops/common';
import type { OutputPlan } from '../ops/common';
import { shapeString } from '../shape';
import { Tensor } from '../tensor';
import { AttentionOperands, boolOption, checkQkv, planAttentionOutput, positiveInt, scaleOption } from './common';

export interface BlockSparseOptions {
  /** u8 [b, hq, nb, nb] keep flags, nb = ⌈sk / blockSize⌉. */
  blocks: Tensor;
  /** Block size (integer ≥ 1). */
  blockSize: number;
  causal?: boolean;
  scale?: number;
  out?: Tensor;
}

export interface TopKOptions {
  /** Key blocks kept per query block besides the diagonal one (integer ≥ 0). */
  k: number;
  /** Block size (default 64). */
  blockSize?: number;
  causal?: boolean;
  scale?: number;
  out?: Tensor;
}

interface SparseCall {
  a: AttentionOperands;
  causal: boolean;
  scale: number;
  blocks: Tensor;
  blockSize: number;
  plan: OutputPlan;
  ownBlocks: boolean;
}

function checkBlocks(op: string, blocksIn: unknown, a: AttentionOperands, blockSize: number): Tensor {
  const blocks = checkTensor(op, blocksIn, 'blocks');
  const nb = Math.ceil(a.sk / blockSize);
  const want = [a.b, a.hq, nb, nb];
  if (blocks.dtype !== 'u8') throw ntError('NT_DTYPE', `[${op}] blocks must be u8, got ${blocks.dtype}`);
  if (blocks.ndim !== 4 || blocks.shape.some((x, i) => x !== want[i]))
    throw ntError('NT_SHAPE', `[${op}] blocks must have shape ${shapeString(want)} (nb = ceil(sk / blockSize)), got ${shapeString(blocks.shape)}`);
  return blocks;
}

function topkCount(op: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw ntError('NT_VALUE', `[${op}] k must be an integer >= 0, got ${describe(v)}`);
  return v;
}

function prepareSparse(q: Tensor, k: Tensor, v: Tensor, options: BlockSparseOptions): SparseCall {
  const op = 'attention.blockSparse';
  const opts = checkOptions<BlockSparseOptions>(op, options);
  const blockSize = positiveInt(op, opts.blockSize, 'blockSize');
  const causal = boolOption(op, opts.causal, 'causal', true);
  const a = checkQkv(op, q, k, v, causal);
  const blocks = checkBlocks(op, opts.blocks, a, blockSize);
  const scale = scaleOption(op, opts.scale, a.d);
  return { a, causal, scale, blocks, blockSize, plan: planAttentionOutput(op, opts.out, a), ownBlocks: false };
}

function mask(op: string, a: AttentionOperands, blockSize: number, topk: number, causal: boolean): Tensor {
  const nb = Math.ceil(a.sk / blockSize);
  const blocks = Tensor._empty(op, [a.b, a.hq, nb, nb], 'u8');
  try {
    native.attentionTopkBlocks(a.q._storage, a.q._metaArray, a.k._storage, a.k._metaArray, blocks._storage, blocks._metaArray, blockSize, topk, causal);
  } catch (e) {
    blocks.dispose();
    throw e;
  }
  return blocks;
}

function prepareTopK(q: Tensor, k: Tensor, v: Tensor, options: TopKOptions): SparseCall {
  const op = 'attention.topK';
  const opts = checkOptions<TopKOptions>(op, options);
  const topk = topkCount(op, opts.k);
  const blockSize = positiveInt(op, opts.blockSize, 'blockSize', 64);
  const causal = boolOption(op, opts.causal, 'causal', true);
  const a = checkQkv(op, q, k, v, causal);
  const scale = scaleOption(op, opts.scale, a.d);
  const plan = planAttentionOutput(op, opts.out, a);
  let blocks: Tensor;
  try {
    blocks = mask(op, a, blockSize, topk, causal);
  } catch (e) {
    plan.abort();
    throw e;
  }
  return { a, causal, scale, blocks, blockSize, plan, ownBlocks: true };
}

function runSparse(c: SparseCall): Tensor {
  const { a } = c;
  try {
    return runSync(c.plan, (t) =>
      native.attention(a.q._storage, a.q._metaArray, a.k._storage, a.k._metaArray, a.v._storage, a.v._metaArray, t._storage, t._metaArray, c.causal, c.scale, 0, c.blocks._storage, c.blocks._metaArray, c.blockSize),
    );
  } finally {
    if (c.ownBlocks) c.blocks.dispose();
  }
}

async function runSparseAsync(c: SparseCall): Promise<Tensor> {
  const { a } = c;
  try {
    return await runAsync(c.plan, [a.q, a.k, a.v, c.blocks], (t) =>
      native.attentionAsync(a.q._storage, a.q._metaArray, a.k._storage, a.k._metaArray, a.v._storage, a.v._metaArray, t._storage, t._metaArray, c.causal, c.scale, 0, c.blocks._storage, c.blocks._metaArray, c.blockSize),
    );
  } finally {
    if (c.ownBlocks) c.blocks.dispose();
  }
}

/** Block-sparse softmax attention with an explicit block mask (see the file header). */
export function blockSparse(q: Tensor, k: Tensor, v: Tensor, opts: BlockSparseOptions): Tensor {
  return runSparse(prepareSparse(q, k, v, opts));
}

export async function blockSparseAsync(q: Tensor, k: Tensor, v: Tensor, opts: BlockSparseOptions): Promise<Tensor> {
  return runSparseAsync(prepareSparse(q, k, v, opts));
}

/** Top-k block-sparse attention (see the file header). */
export function topK(q: Tensor, k: Tensor, v: Tensor, opts: TopKOptions): Tensor {
  return runSparse(prepareTopK(q, k, v, opts));
}

export async function topKAsync(q: Tensor, k: Tensor, v: Tensor, opts: TopKOptions): Promise<Tensor> {
  return runSparseAsync(prepareTopK(q, k, v, opts));
}

/** The u8 [b, hq, nb, nb] block mask topK would use. */
export function topKBlocks(q: Tensor, k: Tensor, opts: { k: number; blockSize?: number; causal?: boolean }): Tensor {
  const op = 'attention.topKBlocks';
  const o = checkOptions<{ k: number; blockSize?: number; causal?: boolean }>(op, opts);
  const topk = topkCount(op, o.k);
  const blockSize = positiveInt(op, o.blockSize, 'blockSize', 64);
  const causal = boolOption(op, o.causal, 'causal', true);
  const a = checkQkv(op, q, k, k, causal);
  return mask(op, a, blockSize, topk, causal);
}
