#!/usr/bin/env python3
# Writes a GGUF file (F16, Q8_0 or Q4_0) of the real-size benchmark checkpoint that
# bench/model.bench.ts generates (a sharded bf16 safetensors LLaMA folder), for the llama.cpp
# peer (node-llama-cpp). A bench tool only: Python is never a runtime dependency of ntensor.
#
# It does what llama.cpp's convert_hf_to_gguf.py does for a LlamaForCausalLM, without needing
# a tokenizer file: the same tensor names, the same q/k row permutation for llama.cpp's rope
# layout (LlamaModel.permute), the llama metadata keys, and a synthetic 32000-token
# SentencePiece-style vocabulary (tokenizer.ggml.model "llama": <unk>, <s>, </s>, the 256
# byte-fallback tokens <0x00>..<0xFF>, then unique pieces) that llama.cpp accepts. The
# benchmark feeds raw token ids, so the vocabulary only has to load.
#
# Types per file (norms are always F32, as in convert_hf_to_gguf and llama-quantize):
#   F16   every 2-D weight F16 (token_embd, output and all decoder linears)
#   Q8_0  every 2-D weight Q8_0 (what convert_hf_to_gguf --outtype q8_0 writes)
#   Q4_0  decoder linears and token_embd Q4_0, output.weight Q8_0. llama-quantize's standard
#         Q4_0 mix keeps output.weight at Q6_K; gguf-py has no Q6_K quantizer, so Q8_0
#         (8.5 bits) stands in: 69.6 MB instead of 53.8 MB, +2.5% of the bytes per token.
# bf16 -> f32 is exact; f32 -> f16 rounds (bf16 has 8 significant bits, f16 11: exact except
# for |w| < 6.1e-5, which become f16 subnormals). Quantization uses gguf.quants (numpy
# reimplementations of ggml's reference quantize_row_q8_0 / q4_0, bit-exact with them).
#
# Streams: tensor infos first, then one tensor at a time (peak memory ~ one f32 tensor and
# its quantized copy). Writes <out>.tmp and renames, then <out>.json: what the file holds and
# the bytes a decode step reads (every tensor but token_embd, plus one token_embd row).
#
# usage: model_gguf.py --model-dir DIR --out FILE.gguf --type F16|Q8_0|Q4_0 [--source-hash H]
import argparse
import json
import os
import struct
import sys
import time

import numpy as np

try:
    import gguf
    from gguf import GGMLQuantizationType as QT
except ImportError as e:  # the caller installs gguf first; say so plainly otherwise
    sys.stderr.write(f"model_gguf.py needs the gguf package (pip install gguf): {e}\n")
    sys.exit(3)

WRITER_VERSION = 1
QK = 32  # Q4_0 / Q8_0 block


class Checkpoint:
    """Tensors of a (sharded) safetensors folder, read as f32 numpy arrays without torch."""

    def __init__(self, folder):
        self.folder = folder
        index_path = os.path.join(folder, "model.safetensors.index.json")
        if os.path.exists(index_path):
            with open(index_path) as f:
                weight_map = json.load(f)["weight_map"]
        else:
            weight_map = None
        self.entries = {}
        files = sorted(set(weight_map.values())) if weight_map else ["model.safetensors"]
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                (n,) = struct.unpack("<Q", f.read(8))
                header = json.loads(f.read(n))
            header.pop("__metadata__", None)
            mm = np.memmap(path, dtype=np.uint8, mode="r")
            for tname, e in header.items():
                b, end = e["data_offsets"]
                self.entries[tname] = (mm, 8 + n + b, 8 + n + end, e["dtype"], e["shape"])

    def f32(self, name):
        mm, b, e, dtype, shape = self.entries[name]
        raw = np.asarray(mm[b:e])
        if dtype == "BF16":
            out = (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
        elif dtype == "F16":
            out = raw.view(np.float16).astype(np.float32)
        elif dtype == "F32":
            out = raw.view(np.float32).copy()
        else:
            raise ValueError(f"{name}: unsupported dtype {dtype}")
        return out.reshape(shape)


def permute(w, n_head, n_head_kv):
    # convert_hf_to_gguf.py LlamaModel.permute: HF's rotate-half q/k rows -> llama.cpp's
    # interleaved rope pairs
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def vocabulary(n_vocab):
    tokens, scores, types = [], [], []

    def add(piece, score, ttype):
        tokens.append(piece.encode("utf-8"))
        scores.append(score)
        types.append(ttype)

    add("<unk>", 0.0, gguf.TokenType.UNKNOWN)
    add("<s>", 0.0, gguf.TokenType.CONTROL)
    add("</s>", 0.0, gguf.TokenType.CONTROL)
    for b in range(256):
        add(f"<0x{b:02X}>", 0.0, gguf.TokenType.BYTE)
    # unique printable pieces: "▁" + a base-26 word, ranked by score like a SentencePiece model
    i = 0
    while len(tokens) < n_vocab:
        word, k = "", i
        while True:
            word = chr(ord("a") + k % 26) + word
            k = k // 26 - 1
            if k < 0:
                break
        add("\u2581" + word, -float(i), gguf.TokenType.NORMAL)
        i += 1
    return tokens, scores, types


def block_bytes(qtype, rows, cols):
    if qtype == QT.F32:
        return rows * cols * 4
    if qtype == QT.F16:
        return rows * cols * 2
    if qtype == QT.Q8_0:
        return rows * (cols // QK) * 34
    if qtype == QT.Q4_0:
        return rows * (cols // QK) * 18
    raise ValueError(qtype)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--type", required=True, choices=["F16", "Q8_0", "Q4_0"])
    ap.add_argument("--source-hash", default="")
    a = ap.parse_args()
    t0 = time.time()

    with open(os.path.join(a.model_dir, "config.json")) as f:
        cfg = json.load(f)
    H = cfg["hidden_size"]
    L = cfg["num_hidden_layers"]
    nh = cfg["num_attention_heads"]
    nkv = cfg.get("num_key_value_heads", nh)
    hd = cfg.get("head_dim", H // nh)
    V = cfg["vocab_size"]
    ck = Checkpoint(a.model_dir)

    linear_type = {"F16": QT.F16, "Q8_0": QT.Q8_0, "Q4_0": QT.Q4_0}[a.type]
    file_type = {"F16": gguf.LlamaFileType.MOSTLY_F16, "Q8_0": gguf.LlamaFileType.MOSTLY_Q8_0, "Q4_0": gguf.LlamaFileType.MOSTLY_Q4_0}[a.type]
    output_type = QT.Q8_0 if a.type == "Q4_0" else linear_type

    # (gguf name, hf name, qtype, transform)
    plan = [("token_embd.weight", "model.embed_tokens.weight", linear_type, None)]
    for l in range(L):
        p, g = f"model.layers.{l}.", f"blk.{l}."
        plan += [
            (g + "attn_norm.weight", p + "input_layernorm.weight", QT.F32, None),
            (g + "attn_q.weight", p + "self_attn.q_proj.weight", linear_type, lambda w: permute(w, nh, nh)),
            (g + "attn_k.weight", p + "self_attn.k_proj.weight", linear_type, lambda w: permute(w, nh, nkv)),
            (g + "attn_v.weight", p + "self_attn.v_proj.weight", linear_type, None),
            (g + "attn_output.weight", p + "self_attn.o_proj.weight", linear_type, None),
            (g + "ffn_norm.weight", p + "post_attention_layernorm.weight", QT.F32, None),
            (g + "ffn_gate.weight", p + "mlp.gate_proj.weight", linear_type, None),
            (g + "ffn_up.weight", p + "mlp.up_proj.weight", linear_type, None),
            (g + "ffn_down.weight", p + "mlp.down_proj.weight", linear_type, None),
        ]
    plan += [
        ("output_norm.weight", "model.norm.weight", QT.F32, None),
        ("output.weight", "lm_head.weight" if "lm_head.weight" in ck.entries else "model.embed_tokens.weight", output_type, None),
    ]

    tmp = a.out + ".tmp"
    w = gguf.GGUFWriter(tmp, "llama")
    w.add_name("ntensor bench TinyLlama-1.1B-shaped random")
    w.add_context_length(cfg.get("max_position_embeddings", 2048))
    w.add_embedding_length(H)
    w.add_block_count(L)
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_rope_dimension_count(hd)
    w.add_head_count(nh)
    w.add_head_count_kv(nkv)
    w.add_layer_norm_rms_eps(cfg.get("rms_norm_eps", 1e-5))
    w.add_rope_freq_base(cfg.get("rope_theta", 10000.0))
    w.add_vocab_size(V)
    w.add_file_type(file_type)
    tokens, scores, types = vocabulary(V)
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(cfg.get("bos_token_id", 1))
    w.add_eos_token_id(cfg.get("eos_token_id", 2))
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)

    infos = []
    for gname, hname, qt, _ in plan:
        shape = ck.entries[hname][4]
        rows, cols = (1, shape[0]) if len(shape) == 1 else shape
        nbytes = block_bytes(qt, rows, cols)
        infos.append((gname, qt, shape, nbytes))
        if qt in (QT.F32, QT.F16):
            w.add_tensor_info(gname, shape, np.float32 if qt == QT.F32 else np.float16, nbytes)
        else:
            w.add_tensor_info(gname, [rows, nbytes // rows], np.uint8, nbytes, raw_dtype=qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    for (gname, hname, qt, fn), (_, _, _, nbytes) in zip(plan, infos):
        t = ck.f32(hname)
        if fn is not None:
            t = fn(t)
        if qt == QT.F32:
            data = np.ascontiguousarray(t, dtype=np.float32)
        elif qt == QT.F16:
            data = np.ascontiguousarray(t.astype(np.float16))
        else:
            data = gguf.quants.quantize(np.ascontiguousarray(t), qt)
        assert data.nbytes == nbytes, (gname, data.nbytes, nbytes)
        w.write_tensor_data(data)
        del t, data
    w.close()
    os.replace(tmp, a.out)

    by_type = {}
    for gname, qt, shape, nbytes in infos:
        by_type.setdefault(qt.name, {"tensors": 0, "bytes": 0})
        by_type[qt.name]["tensors"] += 1
        by_type[qt.name]["bytes"] += nbytes
    embd = next(i for i in infos if i[0] == "token_embd.weight")
    tensor_bytes = sum(i[3] for i in infos)
    decode_bytes = tensor_bytes - embd[3] + embd[3] // V
    meta = {
        "writerVersion": WRITER_VERSION,
        "sourceHash": a.source_hash,
        "type": a.type,
        "fileBytes": os.path.getsize(a.out),
        "tensorBytes": tensor_bytes,
        "decodeBytesPerToken": decode_bytes,
        "tensorTypes": by_type,
        "outputWeight": output_type.name,
        "tokenEmbd": embd[1].name,
        "vocabulary": "synthetic SentencePiece-style (llama): <unk>, <s>, </s>, 256 byte tokens, unique pieces",
        "seconds": round(time.time() - t0, 1),
    }
    with open(a.out + ".json", "w") as f:
        json.dump(meta, f, indent=2)
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
