// LoLCATs stage 1: attention transfer of Hedgehog maps + γ (nt.llm.lolcats).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as nt from '../../lib';
import { errorOf } from '../helpers/reference';

const FIXTURE = path.join(__dirname, '..', '..', 'fixtures', 'tinyllama-fortunes');

/** Synthetic attention inputs with peaked, local attention (like a trained model's). */
function sample(seed: number, hq = 4, hkv = 2, n = 96, d = 16): nt.llm.lolcats.AttentionSample {
  const q = nt.randn([1, hq, n, d], { seed });
  const k = nt.randn([1, hkv, n, d], { seed: seed + 1 });
  const v = nt.randn([1, hkv, n, d], { seed: seed + 2 });
  return { q, k, v };
}
const dispose = (ss: nt.llm.lolcats.AttentionSample[]) => ss.forEach((s) => [s.q, s.k, s.v].forEach((t) => t.dispose()));

describe('llm.lolcats.HybridLayer', () => {
  it('starts with φ_k a copy of φ_q and γ = 0.1 (p₀ = logit(0.1))', () => {
    const layer = nt.llm.lolcats.HybridLayer.init(4, 8, { window: 16, features: 8 });
    expect(layer.weightQ.shape).toEqual([4, 8, 8]);
    expect(Array.from(layer.weightK.data as Float32Array)).toEqual(Array.from(layer.weightQ.data as Float32Array));
    expect(layer.weightK.data).not.toBe(layer.weightQ.data);
    for (const g of layer.gamma()) expect(g).toBeCloseTo(0.1, 6);
    layer.dispose();
  });

  it('softmaxAttention (window = sequence) equals the attention of the definition', () => {
    const s = sample(3, 2, 1, 9, 4);
    const y = nt.llm.lolcats.softmaxAttention(s);
    const q = s.q.data as Float32Array;
    const k = s.k.data as Float32Array;
    const v = s.v.data as Float32Array;
    // head 1, query 5 by hand
    const h = 1;
    const i = 5;
    const logits = [];
    for (let j = 0; j <= i; ++j) {
      let dot = 0;
      for (let c = 0; c < 4; ++c) dot += q[(h * 9 + i) * 4 + c] * k[j * 4 + c];
      logits.push(dot / 2);
    }
    const m = Math.max(...logits);
    const e = logits.map((x) => Math.exp(x - m));
    const z = e.reduce((a, b) => a + b, 0);
    for (let c = 0; c < 4; ++c) {
      const want = e.reduce((acc, w, j) => acc + (w / z) * v[j * 4 + c], 0);
      expect((y.data as Float32Array)[(h * 9 + i) * 4 + c]).toBeCloseTo(want, 5);
    }
    y.dispose();
    dispose([s]);
  });
});

describe('llm.lolcats.trainLayer', () => {
  it('reduces the held-out transfer loss on synthetic q/k/v', () => {
    const before = nt.memory().tensors;
    const train = [sample(10), sample(20), sample(30)];
    const held = [sample(40)];
    const layer = nt.llm.lolcats.HybridLayer.init(4, 16, { window: 16, features: 16 });
    const l0 = nt.llm.lolcats.transferLoss(layer, held);
    const steps: number[] = [];
    const history = nt.llm.lolcats.trainLayer(layer, train, { steps: 60, onStep: (s) => steps.push(s) });
    const l1 = nt.llm.lolcats.transferLoss(layer, held);
    expect(history).toHaveLength(60);
    expect(steps).toEqual(Array.from({ length: 60 }, (_, i) => i));
    expect(history.every(Number.isFinite)).toBe(true);
    expect(l1).toBeLessThan(0.9 * l0); // observed ≈ 0.83 · l0 after 60 steps on unstructured data
    // γ moved: it is trained too
    expect(layer.gamma().some((g) => Math.abs(g - 0.1) > 1e-3)).toBe(true);
    layer.dispose();
    dispose([...train, ...held]);
    expect(nt.memory().tensors).toBe(before);
  });

  it('rejects bad steps and empty samples with codes', () => {
    const layer = nt.llm.lolcats.HybridLayer.init(2, 4);
    expect(errorOf(() => nt.llm.lolcats.trainLayer(layer, [], { steps: 1 }))).toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/at least one training sample/) });
    expect(errorOf(() => nt.llm.lolcats.trainLayer(layer, [], { steps: -1 }))).toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/steps must be an integer >= 0/) });
    expect(errorOf(() => nt.llm.lolcats.transferLoss(layer, []))).toMatchObject({ code: 'NT_VALUE' });
    expect(errorOf(() => nt.llm.lolcats.HybridLayer.init(2, 4, { gamma: 1 }))).toMatchObject({ code: 'NT_VALUE' });
    layer.dispose();
  });
});

describe('llm.lolcats.transfer on the fixture model', () => {
  let model: nt.model.LlamaModel;
  let ids: Int32Array;
  beforeAll(() => {
    model = nt.model.load(FIXTURE);
    ids = nt.model.encodeBytes(fs.readFileSync(path.join(FIXTURE, 'heldout.txt'), 'utf8').slice(0, 5 * 64));
  });
  afterAll(() => model.dispose());

  it('captures every layer, trains, lowers the held-out MSE of every layer, and runs the model with hybrid attention', () => {
    const events: number[] = [];
    const r = nt.llm.lolcats.transfer(model, ids, { seqLen: 64, window: 16, features: 16, steps: 24, onStep: (l) => events.push(l) });
    const { numLayers } = model.config;
    expect(r.layers).toHaveLength(numLayers);
    expect(r.history.map((h) => h.length)).toEqual(new Array(numLayers).fill(24));
    expect(events).toHaveLength(24 * numLayers);
    expect(r.trainSequences).toBe(4);
    expect(r.heldOutSequences).toBe(1);
    for (let l = 0; l < numLayers; ++l) expect(r.heldOut.after[l]).toBeLessThan(r.heldOut.before[l]);

    const evalIds = ids.subarray(0, 129);
    const soft = nt.llm.lolcats.perplexity(model, evalIds, { window: 64 });
    const ref = model.perplexity(evalIds, { window: 64 });
    expect(soft.ppl).toBeCloseTo(ref.ppl, 4);
    const hyb = nt.llm.lolcats.perplexity(model, evalIds, { window: 64, hooks: nt.llm.lolcats.hybridHooks(r.layers) });
    expect(Number.isFinite(hyb.ppl)).toBe(true);
    expect(hyb.tokens).toBe(128);

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lolcats-'));
    const file = path.join(dir, 'maps.safetensors');
    nt.llm.lolcats.saveMaps(file, r.layers);
    const back = nt.llm.lolcats.loadMaps(file);
    expect(back).toHaveLength(numLayers);
    expect(back[0].window).toBe(16);
    expect(Array.from(back[2].weightK.data as Float32Array)).toEqual(Array.from(r.layers[2].weightK.data as Float32Array));
    expect(back[3].gamma()).toEqual(r.layers[3].gamma());
    back.forEach((b) => b.dispose());
    fs.writeFileSync(path.join(dir, 'other.safetensors'), fs.readFileSync(path.join(FIXTURE, 'model.safetensors')));
    expect(errorOf(() => nt.llm.lolcats.loadMaps(path.join(dir, 'other.safetensors')))).toMatchObject({ code: 'NT_IO', message: expect.stringMatching(/not a LoLCATs maps file/) });
    fs.rmSync(dir, { recursive: true, force: true });
    r.dispose();
  });

  /**
   * The implementation before streaming, kept as the reference: one softmax forward per
   * sequence capturing every layer's q/k/v at once, then the same per-layer training.
   */
  function captureEverythingTransfer(seqs: Int32Array[], nHeld: number, o: { window: number; features: number; steps: number }) {
    const all: nt.llm.lolcats.AttentionSample[][] = Array.from({ length: model.config.numLayers }, () => []);
    for (const seq of seqs)
      model
        .forward(seq, { hooks: { onAttentionInputs: (l, q, k, v) => all[l].push({ q: q.clone(), k: k.clone(), v: v.clone() }) } })
        .dispose();
    const out = all.map((samples) => {
      const layer = nt.llm.lolcats.HybridLayer.init(model.config.numHeads, model.config.headDim, o);
      const held = samples.slice(samples.length - nHeld);
      const beforeLoss = nt.llm.lolcats.transferLoss(layer, held);
      const history = nt.llm.lolcats.trainLayer(layer, samples.slice(0, samples.length - nHeld), { steps: o.steps });
      return { layer, history, before: beforeLoss, after: nt.llm.lolcats.transferLoss(layer, held) };
    });
    all.forEach(dispose);
    return out;
  }
  const bits = (t: nt.Tensor) => Array.from(new Uint32Array((t.data as Float32Array).slice().buffer));

  it('streams layer by layer and trains exactly the maps of capturing every layer in one softmax forward per sequence', () => {
    const base = nt.memory().tensors;
    const o = { window: 8, features: 8, steps: 7 };
    const calib = ids.subarray(0, 7 * 37 + 5); // 7 sequences of 37 tokens, a tail of 5 dropped
    const ref = captureEverythingTransfer(nt.llm.lolcats.splitSequences(calib, 37), 2, o);
    // one runLayer call over all 7 sequences, and groups of at most 80 tokens (2, 2, 2, 1 sequences)
    for (const batchTokens of [undefined, 80]) {
      const r = nt.llm.lolcats.transfer(model, calib, { ...o, seqLen: 37, heldOutFraction: 0.25, batchTokens });
      expect([r.trainSequences, r.heldOutSequences]).toEqual([5, 2]);
      r.layers.forEach((layer, l) => {
        for (const k of ['weightQ', 'weightK', 'p'] as const) expect(bits(layer[k])).toEqual(bits(ref[l].layer[k]));
        expect(r.history[l]).toEqual(ref[l].history);
        expect([r.heldOut.before[l], r.heldOut.after[l]]).toEqual([ref[l].before, ref[l].after]);
      });
      r.dispose();
    }
    ref.forEach((x) => x.layer.dispose());
    expect(nt.memory().tensors).toBe(base);
  });

  it('holds one layer of q/k/v samples at a time: the stream plus one layer, not every layer', () => {
    const { numLayers: L, numHeads: hq, numKvHeads: hkv, headDim: d, hiddenSize: H } = model.config;
    const n = 64;
    const S = 5;
    const calib = ids.subarray(0, S * n);
    const f32 = 4;
    const streamBytes = S * n * H * f32;
    const layerQkvBytes = S * (hq + 2 * hkv) * n * d * f32; // what one layer's samples hold
    const features = 16;
    const mapBytes = (2 * hq * d * features + hq) * f32; // one trained HybridLayer
    const base = nt.memory().bytes;
    const afterCapture: number[] = [];
    let trainingPeak = 0;
    // instrumented model: live bytes after each runLayer call; the last call of layer l completes its samples
    const probe: nt.llm.lolcats.TransferModel = {
      config: model.config,
      embedSequences: (s) => model.embedSequences(s),
      runLayer: (l, x, lengths, opts) => {
        model.runLayer(l, x, lengths, opts);
        afterCapture[l] = nt.memory().bytes - base;
      },
    };
    const r = nt.llm.lolcats.transfer(probe, calib, {
      seqLen: n,
      window: 16,
      features,
      steps: 3,
      batchTokens: 2 * n, // groups of 2, 2 and 1 sequences
      onStep: () => (trainingPeak = Math.max(trainingPeak, nt.memory().bytes - base)),
    });
    expect(afterCapture).toHaveLength(L);
    // exactly the stream, layer l's q/k/v and the l layers trained so far: layer l-1's samples are gone
    afterCapture.forEach((bytes, l) => expect(bytes).toBe(streamBytes + layerQkvBytes + l * mapBytes));
    // training layer l adds its softmax targets, Adam state and temporaries, far below a second layer of q/k/v
    expect(trainingPeak).toBeGreaterThan(streamBytes + layerQkvBytes);
    expect(trainingPeak).toBeLessThan(streamBytes + 2 * layerQkvBytes);
    expect(L * layerQkvBytes).toBeGreaterThan(streamBytes + 2 * layerQkvBytes); // what capturing every layer held
    r.dispose();
    expect(nt.memory().bytes).toBe(base);
  });

  it('HybridCache decodes token by token with exactly the prefill hybrid attention (decode == prefill)', () => {
    const layers = Array.from({ length: model.config.numLayers }, (_, l) => {
      const layer = nt.llm.lolcats.HybridLayer.init(model.config.numHeads, model.config.headDim, { window: 8, features: 16, gamma: 0.2 + 0.1 * l });
      // perturb the maps so q and k features differ
      const w = layer.weightK.data as Float32Array;
      for (let i = 0; i < w.length; ++i) w[i] += 0.05 * Math.sin(i + l);
      return layer;
    });
    const seq = ids.subarray(0, 30);
    const prefill = model.forward(seq, { hooks: nt.llm.lolcats.hybridHooks(layers) });
    const cache = new nt.llm.lolcats.HybridCache(layers);
    const V = prefill.shape[1];
    const pieces = [[0, 1], [1, 12], [12, 13], [13, 30]];
    for (const [s, e] of pieces) {
      const logits = model.forward(seq.subarray(s, e), { cache });
      expect(cache.length).toBe(e);
      const want = (prefill.data as Float32Array).subarray(s * V, e * V);
      const got = logits.data as Float32Array;
      let err = 0;
      for (let i = 0; i < want.length; ++i) err = Math.max(err, Math.abs(got[i] - want[i]));
      expect(err).toBeLessThan(2e-4); // f32 model arithmetic on different row blockings
      logits.dispose();
    }
    expect(errorOf(() => cache.attend(0, prefill)).message).toMatch(/append the new tokens' k and v first/);
    cache.dispose();
    prefill.dispose();
    layers.forEach((l) => l.dispose());
  });

  it('needs at least two calibration sequences', () => {
    expect(errorOf(() => nt.llm.lolcats.transfer(model, ids.subarray(0, 70), { seqLen: 64 }))).toMatchObject({
      code: 'NT_VALUE',
      message: expect.stringMatching(/gives 1 sequence\(s\) of 64 tokens; at least 2 are needed/),
    });
    expect(errorOf(() => nt.llm.lolcats.transfer(model, ids, { seqLen: 1 })).code).toBe('NT_VALUE');
    expect(errorOf(() => nt.llm.lolcats.transfer(model, ids, { seqLen: 64, batchTokens: 0 }))).toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/batchTokens must be an integer >= 1, got 0/) });
  });

  it('refuses a model whose runLayer does not report one q/k/v per sequence, freeing everything', () => {
    const base = nt.memory();
    const silentAfter = (layer: number): nt.llm.lolcats.TransferModel => ({
      config: model.config,
      embedSequences: (s) => model.embedSequences(s),
      // layers from `layer` on run without the hook
      runLayer: (l, x, lengths, opts) => model.runLayer(l, x, lengths, l < layer ? opts : {}),
    });
    for (const layer of [0, 2])
      expect(errorOf(() => nt.llm.lolcats.transfer(silentAfter(layer), ids, { seqLen: 64, steps: 2, batchTokens: 128 }))).toMatchObject({
        code: 'NT_VALUE',
        message: expect.stringMatching(new RegExp(`model.runLayer\\(${layer}\\) gave the q/k/v of 0 sequence\\(s\\) to hooks.onAttentionInputs, expected 5`)),
      });
    expect(nt.memory().tensors).toBe(base.tensors);
    expect(nt.memory().bytes).toBe(base.bytes);
  });
});
