// File I/O: safetensors, .npy, Hugging Face folders.
export {};
