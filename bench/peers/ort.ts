// onnxruntime-node, loaded once and only when a suite asks for it (it is a devDependency that
// may be missing or fail to load): ort() is null then, and ortError() says why.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Ort = any;
let ortModule: Ort | null | undefined;
let loadError = '';

export function ort(): Ort | null {
  if (ortModule === undefined) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-var-requires, @typescript-eslint/no-require-imports
      ortModule = require('onnxruntime-node');
    } catch (e) {
      loadError = String((e as Error).message ?? e);
      ortModule = null;
    }
  }
  return ortModule;
}

export function ortError(): string {
  return loadError;
}
