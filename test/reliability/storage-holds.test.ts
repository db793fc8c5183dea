// Async ops hold native storage until they settle, also when the tensor they read borrows a
// subarray that starts mid-block (nt.tensor(view.data)): before the fix (native/napi/op.cc
// looked the block up by the TypedArray's data pointer, not its ArrayBuffer's) the owner's
// dispose() freed the block under the worker (a segfault for an anonymous mapping, a
// heap-use-after-free under ASan).
import * as nt from '../../lib';

test('an async op on a borrowed mid-block subarray keeps the block alive through the owner\'s dispose', async () => {
  const before = nt.memory();
  const w = nt.randn([1024, 16], { seed: 2 });
  for (const rows of [2048, 96]) {
    // 2048 rows: 8 MiB (anonymous mapping, unmapped on free); 96 rows: 384 KiB (heap block)
    const owner = nt.randn([rows, 1024], { seed: rows });
    const view = owner.slice([rows / 2, rows]);
    const copy = view.contiguous();
    const expected = nt.matmul(copy, w);
    copy.dispose();
    const borrowed = nt.tensor(view.data, { shape: [rows / 2, 1024] });
    const pending = [nt.matmulAsync(borrowed, w), nt.matmulAsync(borrowed, w)];
    view.dispose();
    owner.dispose();
    for (const y of await Promise.all(pending)) {
      expect(Buffer.from(y.data.buffer, y.data.byteOffset, y.data.byteLength).equals(
        Buffer.from(expected.data.buffer, expected.data.byteOffset, expected.data.byteLength))).toBe(true);
      y.dispose();
    }
    expect(() => nt.sum(borrowed)).toThrow(expect.objectContaining({ code: 'NT_DISPOSED' }));
    borrowed.dispose();
    expected.dispose();
  }
  w.dispose();
  expect(nt.memory()).toEqual(before);
});
