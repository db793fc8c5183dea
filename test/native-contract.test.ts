// The typed contract (lib/native/contract*.ts) and the addon's real exports agree exactly.
import { NATIVE_FUNCTION_NAMES, NATIVE_OP_NAMES } from '../lib/native/contract';
import { native } from '../lib/native/loader';

describe('native contract', () => {
  it('declares every export of the addon and nothing it lacks', () => {
    const declared = [...NATIVE_FUNCTION_NAMES, ...NATIVE_OP_NAMES.flatMap((n) => [n, `${n}Async`])].sort();
    const actual = Object.keys(native).sort();
    expect(actual).toEqual(declared);
  });
});
