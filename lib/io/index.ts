// File I/O: safetensors (single files and sharded checkpoints) and NumPy .npy.
export { loadSafetensors, loadSafetensorsAsync, safetensorsInfo, saveSafetensors, saveSafetensorsAsync } from './safetensors';
export type { SafetensorsLoadOptions, SafetensorsInfo, SafetensorsTensorInfo } from './safetensors';
export { loadNpy, loadNpyAsync, saveNpy, saveNpyAsync } from './npy';
export type { NpyLoadOptions } from './npy';
export { readGguf, GgufFile, GGUF_TYPE_HANDLING } from './gguf';
export type { GgufValue, GgufTensorInfo, GgufTensorOptions } from './gguf';
export { saveGguf } from './gguf-write';
export type { GgufValue as GgufWriteValue, GgufTensorEntry, GgufTensorType, GgufWriteReport } from './gguf-write';
