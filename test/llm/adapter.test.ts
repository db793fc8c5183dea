// PEFT LoRA folders: what ntensor writes reloads exactly, foreign scales are folded into B,
// and malformed folders give coded errors.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as nt from '../../lib';
import { loadLoraAdapter, saveLoraAdapter, saveLoraAdapterAsync } from '../../lib/llm/adapter';
import { applyAdapter } from '../../lib/llm/export';
import { PACKAGE_ROOT } from '../../lib/native/loader';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'nt-adapter-'));

function expectCode(fn: () => unknown, code: string, message: RegExp): void {
  expect(fn).toThrow(message);
  expect(fn).toThrow(expect.objectContaining({ code }));
}

describe('PEFT LoRA adapters', () => {
  test('save then load gives the same factors, names and a PEFT config with scale 1', () => {
    const dir = tmp();
    const mods = {
      'model.layers.0.self_attn.q_proj': { A: nt.randn([4, 7], { seed: 1 }), B: nt.randn([5, 4], { seed: 2 }) },
      'model.layers.1.mlp.down_proj': { A: nt.randn([4, 9], { seed: 3 }), B: nt.randn([3, 4], { seed: 4 }) },
    };
    saveLoraAdapter(dir, mods, { baseModel: 'fixture', metadata: { method: 'eora' } });
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
    expect(config).toMatchObject({ peft_type: 'LORA', r: 4, lora_alpha: 4, target_modules: ['down_proj', 'q_proj'], base_model_name_or_path: 'fixture' });
    const info = nt.io.safetensorsInfo(path.join(dir, 'adapter_model.safetensors'));
    expect(info.tensors.map((t) => t.name).sort()).toEqual([
      'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight',
      'base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight',
      'base_model.model.model.layers.1.mlp.down_proj.lora_A.weight',
      'base_model.model.model.layers.1.mlp.down_proj.lora_B.weight',
    ]);
    expect(info.metadata).toEqual({ format: 'pt', method: 'eora' });
    const before = nt.memory().tensors;
    const loaded = loadLoraAdapter(dir);
    expect(loaded.rank).toBe(4);
    expect(loaded.scale).toBe(1);
    for (const [name, f] of Object.entries(mods)) {
      expect(Array.from(loaded.modules[name].A.data)).toEqual(Array.from(f.A.data));
      expect(Array.from(loaded.modules[name].B.data)).toEqual(Array.from(f.B.data));
    }
    loaded.dispose();
    expect(nt.memory().tensors).toBe(before);
  });

  test('saveLoraAdapterAsync writes the same files as saveLoraAdapter, off the event loop, and rejects bad input with its code', async () => {
    const [a, b] = [tmp(), tmp()];
    // 4 modules of rank 16 over 8192 features: 8 MiB of factors, written and fsynced on workers
    const mods: Record<string, { A: nt.Tensor; B: nt.Tensor }> = {};
    for (let l = 0; l < 4; ++l) mods[`model.layers.${l}.mlp.down_proj`] = { A: nt.randn([16, 8192], { seed: 10 + l }), B: nt.randn([8192, 16], { seed: 20 + l }) };
    saveLoraAdapter(a, mods, { baseModel: 'm', metadata: { method: 'eora' } });
    let turned = false;
    setImmediate(() => (turned = true));
    const pending = saveLoraAdapterAsync(b, mods, { baseModel: 'm', metadata: { method: 'eora' } });
    expect(turned).toBe(false); // nothing ran yet: the call itself returned at once
    await pending;
    expect(turned).toBe(true);
    for (const f of ['adapter_model.safetensors', 'adapter_config.json'])
      expect(fs.readFileSync(path.join(b, f)).equals(fs.readFileSync(path.join(a, f)))).toBe(true);
    expect(fs.readdirSync(b).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']); // no staging folder left
    const bad = { x: { A: nt.randn([2, 3], { seed: 1 }), B: nt.randn([3, 4], { seed: 2 }) } };
    await expect(saveLoraAdapterAsync(tmp(), bad)).rejects.toMatchObject({ code: 'NT_SHAPE' });
    await expect(saveLoraAdapterAsync(tmp(), {})).rejects.toMatchObject({ code: 'NT_VALUE' });
    for (const f of Object.values({ ...mods, ...bad })) (f.A.dispose(), f.B.dispose());
  });

  test('a foreign adapter with lora_alpha ≠ r has alpha / r folded into B', () => {
    const dir = tmp();
    const A = nt.randn([2, 3], { seed: 5 });
    const B = nt.randn([4, 2], { seed: 6 });
    saveLoraAdapter(dir, { 'model.layers.0.mlp.up_proj': { A, B } });
    const cfgPath = path.join(dir, 'adapter_config.json');
    const cfg = JSON.parse(fs.readFileSync(cfgPath, 'utf8'));
    fs.writeFileSync(cfgPath, JSON.stringify({ ...cfg, lora_alpha: 16 }));
    const loaded = loadLoraAdapter(dir);
    expect(loaded.scale).toBe(8);
    const got = loaded.modules['model.layers.0.mlp.up_proj'].B.data as Float32Array;
    (B.data as Float32Array).forEach((v, i) => expect(got[i]).toBeCloseTo(8 * v, 5));
    loaded.dispose();
  });

  test('errors: missing folder, bad JSON, wrong type, mismatched ranks, missing lora_B', () => {
    expectCode(() => loadLoraAdapter(path.join(tmp(), 'nope')), 'NT_IO', /adapter_config\.json not found/);
    const dir = tmp();
    saveLoraAdapter(dir, { m: { A: nt.zeros([2, 3]), B: nt.zeros([4, 2]) } });
    const cfgPath = path.join(dir, 'adapter_config.json');
    const good = fs.readFileSync(cfgPath, 'utf8');
    fs.writeFileSync(cfgPath, '{ not json');
    expectCode(() => loadLoraAdapter(dir), 'NT_IO', /is not valid JSON/);
    fs.writeFileSync(cfgPath, JSON.stringify({ ...JSON.parse(good), peft_type: 'IA3' }));
    expectCode(() => loadLoraAdapter(dir), 'NT_UNSUPPORTED', /peft_type must be LORA/);
    fs.writeFileSync(cfgPath, JSON.stringify({ ...JSON.parse(good), r: 3 }));
    expectCode(() => loadLoraAdapter(dir), 'NT_SHAPE', /expected lora_A \[3, d_in\]/);
    nt.io.saveSafetensors(path.join(dir, 'adapter_model.safetensors'), { 'base_model.model.m.lora_A.weight': nt.zeros([2, 3]) });
    fs.writeFileSync(cfgPath, good);
    expectCode(() => loadLoraAdapter(dir), 'NT_IO', /has no matching .*lora_B\.weight/);
    nt.io.saveSafetensors(path.join(dir, 'adapter_model.safetensors'), { 'base_model.model.m.lora_B.weight': nt.zeros([4, 2]) });
    expectCode(() => loadLoraAdapter(dir), 'NT_IO', /base_model\.model\.m\.lora_B\.weight has no matching lora_A/);
    expectCode(() => saveLoraAdapter(tmp(), {}), 'NT_VALUE', /no adapters to save/);
    // mixed ranks: r the most common, the others in rank_pattern (and alpha_pattern, scale 1), as PEFT reads them
    const mixed = tmp();
    const fac = (r: number, seed: number) => ({ A: nt.randn([r, 3], { seed }), B: nt.randn([4, r], { seed: seed + 1 }) });
    const mods = { 'x.a': fac(2, 1), 'x.b': fac(3, 3), 'x.c': fac(2, 5) };
    saveLoraAdapter(mixed, mods);
    expect(JSON.parse(fs.readFileSync(path.join(mixed, 'adapter_config.json'), 'utf8'))).toMatchObject({ r: 2, lora_alpha: 2, rank_pattern: { 'x\\.b': 3 }, alpha_pattern: { 'x\\.b': 3 } });
    const back = loadLoraAdapter(mixed);
    for (const [n, f] of Object.entries(mods)) {
      expect(Array.from(back.modules[n].A.data)).toEqual(Array.from(f.A.data));
      expect(Array.from(back.modules[n].B.data)).toEqual(Array.from(f.B.data));
      f.A.dispose();
      f.B.dispose();
    }
    back.dispose();
    expectCode(() => saveLoraAdapter(tmp(), { a: { A: nt.zeros([2, 3]), B: nt.zeros([4, 5]) } }), 'NT_SHAPE', /expected A \[r, d_in\] and B \[d_out, r\]/);
  });

  describe('adapters PEFT wrote, applied to the model they were trained on, give PeftModel\'s logits (scripts/fixtures/make_peft_fixtures.py)', () => {
    test.each([
      ['patterns', 'llama', 6, 'rank_pattern (every down_proj rank 4) and alpha_pattern (a full module name and a suffix)'],
      ['rslora', 'llama', 5, 'use_rslora: alpha / sqrt(r), lm_head among the targets'],
      ['phi3-fused', 'phi3', 6, "Phi-3's fused qkv_proj and gate_up_proj, split over the parts the model runs"],
    ] as const)('%s (%s, %i modules): %s', (name, arch, modules, _what) => {
      const ARCH = path.join(PACKAGE_ROOT, 'fixtures', 'arch', arch);
      const dir = path.join(PACKAGE_ROOT, 'fixtures', 'peft', name);
      const ids = nt.io.loadNpy(path.join(ARCH, 'ids.npy'));
      const want = nt.io.loadNpy(path.join(dir, 'logits.npy'));
      const model = nt.model.load(ARCH);
      try {
        const applied = applyAdapter(model, dir);
        expect(applied.modules).toBe(modules);
        if (name === 'phi3-fused') expect((model.getLinear('model.layers.0.self_attn.k_proj') as nt.model.LoraLinear).rank).toBe(3);
        if (name === 'rslora') expect(model.getLinear('lm_head')).toBeInstanceOf(nt.model.LoraLinear);
        const got = model.forward(ids.data as Int32Array);
        let err = 0;
        const a = got.data as Float32Array, b = want.data as Float32Array;
        for (let i = 0; i < a.length; ++i) err = Math.max(err, Math.abs(a[i] - b[i]));
        got.dispose();
        // the same 1e-4 as the arch fixtures' base logits (a different order of f32 roundings);
        // a module's scale missed (e.g. alpha_pattern ignored) moves them by ~1
        expect(err).toBeLessThan(1e-4);
      } finally {
        model.dispose();
        ids.dispose();
        want.dispose();
      }
    });

    test('a PEFT option that changes where the factors apply, a tensor that is not a LoRA pair, transposed factors, a bad pattern: NT_UNSUPPORTED / NT_IO, nothing applied', () => {
      const src = path.join(PACKAGE_ROOT, 'fixtures', 'peft', 'patterns');
      const dir = tmp();
      fs.copyFileSync(path.join(src, 'adapter_model.safetensors'), path.join(dir, 'adapter_model.safetensors'));
      const cfg = JSON.parse(fs.readFileSync(path.join(src, 'adapter_config.json'), 'utf8'));
      const withConfig = (patch: Record<string, unknown>) => fs.writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify({ ...cfg, ...patch }));
      for (const [patch, code, re] of [
        [{ alora_invocation_tokens: [5, 6] }, 'NT_UNSUPPORTED', /alora_invocation_tokens is set, and only plain LoRA factors on linears are applied/],
        [{ layer_replication: [[0, 2], [1, 2]], lora_bias: true }, 'NT_UNSUPPORTED', /layer_replication, lora_bias are set/],
        [{ fan_in_fan_out: true }, 'NT_UNSUPPORTED', /fan_in_fan_out adapters \(transposed factors\) are not supported/],
        [{ rank_pattern: { 'down_proj[': 4 } }, 'NT_IO', /rank_pattern key 'down_proj\[' is not a valid pattern/],
        [{ rank_pattern: { down_proj: 0 } }, 'NT_IO', /rank_pattern\['down_proj'\] must be a positive integer, got 0/],
        [{ alpha_pattern: [] }, 'NT_IO', /alpha_pattern must be an object/],
        [{ rank_pattern: {} }, 'NT_SHAPE', /mlp\.down_proj: expected lora_A \[2, d_in\] and lora_B \[d_out, 2\], got \[4,96\]/],
      ] as [Record<string, unknown>, string, RegExp][]) {
        withConfig(patch);
        expectCode(() => loadLoraAdapter(dir), code, re);
      }
      // a modules_to_save copy in the weights: refused by name, not skipped
      withConfig({});
      const w = nt.io.loadSafetensors(path.join(src, 'adapter_model.safetensors'));
      const head = nt.zeros([4, 64]);
      nt.io.saveSafetensors(path.join(dir, 'adapter_model.safetensors'), { ...w, 'base_model.model.lm_head.modules_to_save.default.weight': head });
      Object.values(w).forEach((t) => t.dispose());
      head.dispose();
      const before = nt.memory().tensors;
      expectCode(() => loadLoraAdapter(dir), 'NT_UNSUPPORTED', /1 tensor\(s\) are not lora_A\/lora_B factors of a linear \(base_model\.model\.lm_head\.modules_to_save\.default\.weight\)/);
      expect(nt.memory().tensors).toBe(before);
    });

    test("Phi-3 through saveCompressed: each fused module's parts' EoRA factors are written as one PEFT module (rank the sum, in rank_pattern) and split back to the parts' own ranks", () => {
      const ARCH = path.join(PACKAGE_ROOT, 'fixtures', 'arch', 'phi3');
      const ids = nt.io.loadNpy(path.join(ARCH, 'ids.npy'));
      const model = nt.model.load(ARCH, { dtype: 'f32' });
      const out = tmp();
      try {
        nt.llm.compressModel(model, { bits: 4, groupSize: 32, method: 'eora', rank: 2, calibration: Array.from(ids.data as Int32Array) });
        const want = model.forward(ids.data as Int32Array);
        nt.llm.saveCompressed(model, out);
        const cfg = JSON.parse(fs.readFileSync(path.join(out, 'adapter', 'adapter_config.json'), 'utf8'));
        expect(cfg).toMatchObject({ r: 2, target_modules: ['down_proj', 'gate_up_proj', 'o_proj', 'qkv_proj'] });
        expect(cfg.rank_pattern).toEqual({ 'model\\.layers\\.0\\.self_attn\\.qkv_proj': 6, 'model\\.layers\\.0\\.mlp\\.gate_up_proj': 4, 'model\\.layers\\.1\\.self_attn\\.qkv_proj': 6, 'model\\.layers\\.1\\.mlp\\.gate_up_proj': 4 });
        expect(cfg.alpha_pattern).toEqual(cfg.rank_pattern);
        const back = nt.model.load(out, { dtype: 'f32' });
        try {
          expect(applyAdapter(back, path.join(out, 'adapter')).modules).toBe(8);
          for (const n of back.linears()) expect([n, (back.getLinear(n) as nt.model.LoraLinear).rank]).toEqual([n, 2]);
          const got = back.forward(ids.data as Int32Array);
          const a = got.data as Float32Array, b = want.data as Float32Array;
          let err = 0;
          for (let i = 0; i < a.length; ++i) err = Math.max(err, Math.abs(a[i] - b[i]));
          expect(err).toBeLessThan(1e-4);
          got.dispose();
        } finally {
          back.dispose();
        }
        want.dispose();
      } finally {
        model.dispose();
        ids.dispose();
      }
      // a LoRA on one part only: its fused module's other rows of B are zero, and those parts get none back
      const one = nt.model.load(ARCH, { dtype: 'f32' });
      const out2 = tmp();
      try {
        nt.llm.compressModel(one, { bits: 4, groupSize: 32, method: 'none', calibration: [1, 2, 3, 4, 5, 6, 7, 8] });
        const q = 'model.layers.1.self_attn.q_proj';
        const lin = one.getLinear(q);
        one.setLinear(q, new nt.model.LoraLinear(lin, nt.randn([3, lin.inFeatures], { seed: 1 }), nt.randn([lin.outFeatures, 3], { seed: 2 })));
        nt.llm.saveCompressed(one, out2);
        const back = nt.model.load(out2, { dtype: 'f32' });
        try {
          expect(applyAdapter(back, path.join(out2, 'adapter')).modules).toBe(1);
          expect((back.getLinear(q) as nt.model.LoraLinear).rank).toBe(3);
          for (const n of ['k_proj', 'v_proj']) expect(back.getLinear(`model.layers.1.self_attn.${n}`)).toBeInstanceOf(nt.model.QuantLinear);
          const rows = (l: nt.model.LlamaModel) => {
            const y = l.forward([5, 9, 2]);
            const v = Array.from(y.data as Float32Array);
            y.dispose();
            return v;
          };
          const a = rows(one), b = rows(back);
          expect(Math.max(...a.map((x, i) => Math.abs(x - b[i])))).toBeLessThan(1e-4);
        } finally {
          back.dispose();
        }
      } finally {
        one.dispose();
      }
    });
  });
});
