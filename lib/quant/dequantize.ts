// nt.quant.dequantize: a QTensor back to an f32 [rows, cols] tensor, x̂ = scale · (q − zero),
// honouring gIdx (GPTQ act-order). Native, one row per thread.
import { ntError } from '../errors';
import { native } from '../native/loader';
import { OutOptions, checkOptions, describe, planOutput, runAsync, runSync, tensorOperand } from '../ops/common';
import { Tensor } from '../tensor';
import { QTensor } from './qtensor';

const OP = 'quant.dequantize';

/** Checks that q is a live QTensor whose parts are all live. */
export function checkQTensor(op: string, q: unknown, arg = 'q'): QTensor {
  if (!(q instanceof QTensor)) throw ntError('NT_VALUE', `[${op}] ${arg} must be a QTensor, got ${describe(q)}`);
  q._check(op, arg);
  q.codes._check(op, `${arg}.codes`);
  q.scales._check(op, `${arg}.scales`);
  q.zeros._check(op, `${arg}.zeros`);
  q.gIdx?._check(op, `${arg}.gIdx`);
  return q;
}

function prepare(q: QTensor, opts: OutOptions | undefined) {
  checkQTensor(OP, q);
  const o = checkOptions<OutOptions>(OP, opts);
  const plan = planOutput(OP, o.out, q.shape, 'f32', [tensorOperand(q.scales)], false);
  const call = (fn: typeof native.quantDequantize | typeof native.quantDequantizeAsync) => (t: Tensor) =>
    fn(
      q.codes._storage, q.codes._metaArray,
      q.scales._storage, q.scales._metaArray,
      q.zeros._storage, q.zeros._metaArray,
      q.gIdx ? q.gIdx._storage : null, q.gIdx ? q.gIdx._metaArray : null,
      t._storage, t._metaArray,
      q.bits, q.groupSize,
    );
  return { plan, call };
}

/** f32 [rows, cols] = dequantized q; { out } (f32, that shape, any strides) is written instead. */
export function dequantize(q: QTensor, opts?: OutOptions): Tensor {
  const { plan, call } = prepare(q, opts);
  return runSync(plan, call(native.quantDequantize) as (t: Tensor) => void);
}

export async function dequantizeAsync(q: QTensor, opts?: OutOptions): Promise<Tensor> {
  const { plan, call } = prepare(q, opts);
  return runAsync(plan, [q], call(native.quantDequantizeAsync) as (t: Tensor) => Promise<void>);
}
