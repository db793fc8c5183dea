// Training data for the head (head.ts) from a loaded model: the residual-stream states entering
// the last decoder layer's MLP, and that layer's tail weights as trainable f32 copies.
//
// The model's hooks only see the normalised inputs of the linears, so the residual stream is
// rebuilt exactly: x = embed[ids] + Σ_{l < L−1} (o_l + d_l) + o_{L−1}, where o_l and d_l are the
// outputs of layer l's o_proj and down_proj (recorded by wrapping those linears for one
// forward), added in the model's own order in f32. Then headForward on these states gives the
// model's own logits (checked in test/llm/train.test.ts).
import { ntError } from '../../errors';
import { loadSafetensors } from '../../io';
import type { LlamaModel } from '../../model/model';
import { DenseLinear } from '../../model/linear';
import type { LinearLike } from '../../model/linear';
import { requireCheckpointFolder } from '../../model/load-gguf';
import { add } from '../../ops/binary';
import { gatherRows } from '../../ops/gather';
import type { Tensor } from '../../tensor';
import type { HeadParams } from './head';

/** Training reads dense tensors from the checkpoint's safetensors: a model loaded from a GGUF has none. */
const TRAIN_READS = 'training reads its dense parameters from the checkpoint\'s safetensors';

/** Residual-stream states [ids.length, hidden] entering the last layer's MLP. */
export function lastMlpResidual(model: LlamaModel, ids: Int32Array): Tensor {
  requireCheckpointFolder('llm.train.lastMlpResidual', model.dir, TRAIN_READS);
  const L = model.config.numLayers;
  const names: string[] = [];
  for (let l = 0; l < L; ++l) names.push(`model.layers.${l}.self_attn.o_proj`, ...(l < L - 1 ? [`model.layers.${l}.mlp.down_proj`] : []));
  const outputs = new Map<string, Tensor>();
  const originals = new Map<string, LinearLike>();
  for (const name of names) {
    const inner = model.getLinear(name);
    originals.set(name, inner);
    const recorder: LinearLike = {
      inFeatures: inner.inFeatures,
      outFeatures: inner.outFeatures,
      forward: (x: Tensor) => {
        const y = inner.forward(x);
        outputs.set(name, y.clone());
        return y;
      },
      dispose: () => {},
    };
    model.setLinear(name, recorder);
  }
  try {
    model.hidden(ids).dispose();
  } catch (e) {
    for (const t of outputs.values()) t.dispose();
    throw e;
  } finally {
    for (const [name, inner] of originals) model.setLinear(name, inner);
  }
  const embed = loadSafetensors(model.dir, { names: ['model.embed_tokens.weight'], dtype: 'f32' })['model.embed_tokens.weight'];
  try {
    const x = gatherRows(embed, ids);
    for (const name of names) {
      const y = outputs.get(name);
      if (!y) throw ntError('NT_INTERNAL', `[llm.train.lastMlpResidual] ${name} was not called by the forward pass`);
      add(x, y, { out: x });
    }
    return x;
  } finally {
    embed.dispose();
    for (const t of outputs.values()) t.dispose();
  }
}

/** f32 copies of the last layer's post-attention norm and MLP, the final norm and lm_head. */
export function loadHeadParams(model: LlamaModel): HeadParams {
  const op = 'llm.train.loadHeadParams';
  const L = model.config.numLayers;
  const p = `model.layers.${L - 1}.`;
  requireCheckpointFolder(op, model.dir, TRAIN_READS);
  for (const name of [`${p}mlp.gate_proj`, `${p}mlp.up_proj`, `${p}mlp.down_proj`, ...(model.config.tieWordEmbeddings ? [] : ['lm_head'])]) {
    const lin = model.getLinear(name);
    if (!(lin instanceof DenseLinear))
      throw ntError('NT_UNSUPPORTED', `[${op}] ${name} is a ${lin.constructor.name} (a compressed folder?): training starts from the dense weights of the source checkpoint`);
  }
  const lm = model.config.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight';
  const names = {
    postNorm: `${p}post_attention_layernorm.weight`,
    gate: `${p}mlp.gate_proj.weight`,
    up: `${p}mlp.up_proj.weight`,
    down: `${p}mlp.down_proj.weight`,
    finalNorm: 'model.norm.weight',
    lmHead: lm,
  };
  const w = loadSafetensors(model.dir, { names: Object.values(names), dtype: 'f32' });
  const out = {} as HeadParams;
  for (const [k, name] of Object.entries(names) as [keyof HeadParams, string][]) {
    const t = w[name];
    out[k] = t.clone();
  }
  for (const t of Object.values(w)) t.dispose();
  return out;
}
