// Attention kernels (nt.attention): q, k, v are [batch, heads, seq, dim]; kv heads may divide heads.
export {};
