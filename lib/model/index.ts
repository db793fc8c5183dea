// LLaMA-family models (nt.model): load a Hugging Face folder, forward, decode, perplexity.
export {};
