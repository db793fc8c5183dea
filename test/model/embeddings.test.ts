// LlamaModel.quantizeEmbeddings: the forward gathers token rows from an int8/int4 QTensor
// (nt.quant.gatherRows) instead of the dense table. On the fixture (tinyllama-fortunes) the
// logits stay near the unquantized model's; a tied tiny model keeps its head on the original
// table (memory saved only once quantizeHead runs too); bytes are reported and the memory
// counters return to their baseline.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { tensor } from '../../lib/creation';
import { LlamaModel, QuantLinear, encodeBytes, load } from '../../lib/model';
import { dequantize } from '../../lib/quant/dequantize';
import { quantize } from '../../lib/quant/quantize';
import { memory } from '../../lib/tensor';
import { FIXTURE_F16, errorOf, maxAbs, maxAbsDiff, values } from './helpers';
import { TinyModel, referenceLogits, writeTiny } from './tiny';

/** Max |Δlogit| over max |logit| of the unquantized model, per embedding grid. */
const TOL = {
  int8g128: 1e-2,
  int4g32: 0.1,
  /** the tiny model's f32 forward vs its float64 reference (as test/model/tiny.test.ts) */
  tinyF32: 2e-4,
};

const promptIds = () => encodeBytes(fs.readFileSync(path.join(FIXTURE_F16, 'reference_prompt.txt'), 'utf8')).slice(0, 96);

function logitsOf(model: LlamaModel, ids: Int32Array | number[]): Float64Array {
  const t = model.forward(ids);
  try {
    return values(t);
  } finally {
    t.dispose();
  }
}

describe('LlamaModel.quantizeEmbeddings', () => {
  const base = memory();
  let tmp: string;
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ntensor-qembed-'));
  });
  afterAll(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
    expect(memory()).toEqual(base);
  });

  describe('on the fixture (untied, mapped f16 table)', () => {
    let ref: Float64Array;
    beforeAll(() => {
      const m = load(FIXTURE_F16);
      ref = logitsOf(m, promptIds());
      m.dispose();
    });

    test.each([
      ['int8, groups of 128', 8, 128, TOL.int8g128],
      ['int4, groups of 32', 4, 32, TOL.int4g32],
    ] as const)('%s: logits stay within the relative tolerance of the unquantized model', (_, bits, groupSize, tol) => {
      const m = load(FIXTURE_F16);
      const [vocab, hidden] = [m.config.vocabSize, m.config.hiddenSize];
      expect(m.embeddingBytes).toBe(vocab * hidden * 2);
      const mapped = memory().mappedBytes;
      const r = m.quantizeEmbeddings({ bits, groupSize });
      expect(mapped - memory().mappedBytes).toBe(vocab * hidden * 2); // the mapped view was released
      const quantized = vocab * (bits === 8 ? hidden : hidden / 2) + vocab * (hidden / groupSize) * 3; // codes + f16 scales + u8 zeros
      expect(r).toEqual({
        tableBytes: vocab * hidden * 2,
        quantizedBytes: quantized,
        releasedBytes: vocab * hidden * 2,
        bytesSaved: vocab * hidden * 2 - quantized,
        tableKept: false,
      });
      expect(m.embeddingBytes).toBe(quantized);
      const got = logitsOf(m, promptIds());
      const rel = maxAbsDiff(got, ref) / maxAbs(ref);
      expect(rel).toBeLessThanOrEqual(tol);
      expect(rel).toBeGreaterThan(0); // the table really is quantized
      m.dispose();
    });

    test('the async forward equals the sync one, and f32/bf16 tables quantize like the f16 one', async () => {
      const ids = promptIds().slice(0, 40);
      const grids: Float64Array[] = [];
      for (const dtype of ['auto', 'f32', 'bf16'] as const) {
        const m = load(FIXTURE_F16, { dtype });
        m.quantizeEmbeddings({ bits: 4, groupSize: 32 });
        const sync = logitsOf(m, ids);
        const a = await m.forwardAsync(ids);
        expect(maxAbsDiff(values(a), sync)).toBe(0);
        a.dispose();
        grids.push(sync);
        m.dispose();
      }
      // f16 -> f32 is exact, so the f32 table quantizes to the same grid as the f16 one
      expect(maxAbsDiff(grids[1], grids[0])).toBeLessThanOrEqual(1e-4 * maxAbs(grids[0]));
    });

    test('refuses bad options, a second call and a disposed model with coded errors', () => {
      const m = load(FIXTURE_F16);
      expect(errorOf(() => m.quantizeEmbeddings({ bits: 3 as never }))).toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/\[model\.quantizeEmbeddings\] bits must be 4 or 8, got 3/) });
      expect(errorOf(() => m.quantizeEmbeddings({ groupSize: 100 as never }))).toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/groupSize/) });
      expect(errorOf(() => m.quantizeEmbeddings(null as never)).code).toBe('NT_VALUE');
      m.quantizeEmbeddings();
      expect(errorOf(() => m.quantizeEmbeddings())).toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/already quantized/) });
      expect(errorOf(() => m.forward([0, 300])).code).toBe('NT_VALUE');
      m.dispose();
      expect(errorOf(() => m.quantizeEmbeddings()).code).toBe('NT_DISPOSED');
      expect(errorOf(() => m.embeddingBytes).code).toBe('NT_DISPOSED');
    });
  });

  describe('on a tied tiny model', () => {
    const IDS = [3, 0, 18, 7, 7, 11, 2, 5];

    /** The reference with the dequantized table as embeddings and the original table as head. */
    function referenceWithQuantizedEmbeddings(m: TinyModel, bits: 4 | 8, groupSize: 32 | 128): Float64Array {
      const H = m.config.hidden_size;
      const table = m.weights['model.embed_tokens.weight'];
      const w = tensor(Float32Array.from(table), { shape: [m.config.vocab_size, H] });
      const q = quantize(w, { bits, groupSize, symmetric: true });
      const d = dequantize(q);
      const deq = values(d);
      [w, d].forEach((x) => x.dispose());
      q.dispose();
      const untied: TinyModel = {
        ...m,
        config: { ...m.config, tie_word_embeddings: false },
        weights: { ...m.weights, 'model.embed_tokens.weight': deq, 'lm_head.weight': table },
      };
      return referenceLogits(untied, IDS);
    }

    test('the head keeps the original table: logits match the reference, nothing is saved until quantizeHead', () => {
      const tiny = writeTiny(path.join(tmp, 'tied-a'), { tie_word_embeddings: true });
      const want = referenceWithQuantizedEmbeddings(tiny, 8, 128);
      const m = load(tiny.dir, { dtype: 'f32' });
      const tableBytes = m.embeddingBytes;
      const r = m.quantizeEmbeddings();
      expect(r).toMatchObject({ tableBytes, releasedBytes: 0, tableKept: true, bytesSaved: -r.quantizedBytes });
      expect(maxAbsDiff(logitsOf(m, IDS), want)).toBeLessThanOrEqual(TOL.tinyF32 * Math.max(1, maxAbs(want)));
      // quantizeHead releases the head's view, the table's last reference
      const before = memory().bytes;
      m.quantizeHead();
      const head = m.getLinear('lm_head') as QuantLinear;
      expect(memory().bytes - before).toBe(head.q.bytes - tableBytes);
      expect(logitsOf(m, IDS).every(Number.isFinite)).toBe(true);
      m.dispose();
    });

    test('after quantizeHead, quantizeEmbeddings releases the table itself', () => {
      const tiny = writeTiny(path.join(tmp, 'tied-b'), { tie_word_embeddings: true });
      const m = load(tiny.dir);
      const tableBytes = m.embeddingBytes;
      m.quantizeHead({ bits: 8 });
      const r = m.quantizeEmbeddings({ bits: 4, groupSize: 32 });
      expect(r).toMatchObject({ tableBytes, releasedBytes: tableBytes, tableKept: false, bytesSaved: tableBytes - r.quantizedBytes });
      expect(logitsOf(m, IDS).every(Number.isFinite)).toBe(true);
      m.dispose();
    });
  });
});
