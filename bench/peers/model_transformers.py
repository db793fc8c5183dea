#!/usr/bin/env python3
# The PyTorch-eager (transformers) f32 peer of bench/model.bench.ts, run in its own process so
# its peak RSS is its own. Same protocol as the ntensor and llama.cpp children: load the bf16
# checkpoint as f32, a short warm-up, then `runs` times: prefill of the given token ids with a
# fresh KV cache (last position's logits only), then `decode` greedy steps, each feeding the
# argmax back. Prints one line "@@RESULT {json}" at the end. A bench tool only.
#
# usage: model_transformers.py '<json spec>'   (spec: modelDir, ids, decode, runs, threads,
#        warmupPrefill, warmupDecode)
import json
import os
import resource
import sys
import time


def vm_hwm_bytes():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main():
    spec = json.loads(sys.argv[1])
    threads = int(spec["threads"])
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import torch
    import transformers
    from transformers import AutoModelForCausalLM

    try:
        transformers.utils.logging.disable_progress_bar()
    except AttributeError:
        pass

    torch.set_num_threads(threads)
    notes = []
    t0 = time.perf_counter()
    try:
        model = AutoModelForCausalLM.from_pretrained(spec["modelDir"], dtype=torch.float32)
    except TypeError:  # transformers < 4.56 spells it torch_dtype
        model = AutoModelForCausalLM.from_pretrained(spec["modelDir"], torch_dtype=torch.float32)
    model.eval()
    load_s = time.perf_counter() - t0
    params = sum(p.numel() for p in model.parameters())
    dtypes = sorted({str(p.dtype) for p in model.parameters()})
    rss_after_load = vm_hwm_bytes()

    ids_all = spec["ids"]
    keep = {}
    try:
        with torch.inference_mode():
            model(input_ids=torch.tensor([ids_all[:2]]), logits_to_keep=1)
        keep = {"logits_to_keep": 1}
    except TypeError:
        notes.append("logits_to_keep unsupported: prefill computes logits at every position")

    top5 = []

    def run(ids, steps, probe=False):
        nonlocal top5
        with torch.inference_mode():
            x = torch.tensor([ids], dtype=torch.long)
            t0 = time.perf_counter()
            out = model(input_ids=x, use_cache=True, **keep)
            past = out.past_key_values
            tok = out.logits[0, -1].argmax()
            if probe:
                p, i = torch.softmax(out.logits[0, -1].double(), -1).topk(5)
                top5 = [[int(a), float(b)] for a, b in zip(i, p)]
            t1 = time.perf_counter()
            for _ in range(steps):
                out = model(input_ids=tok.view(1, 1), past_key_values=past, use_cache=True, **keep)
                past = out.past_key_values
                tok = out.logits[0, -1].argmax()
            t2 = time.perf_counter()
        return t1 - t0, t2 - t1, int(tok)

    run(ids_all[: spec["warmupPrefill"]], spec["warmupDecode"], probe=True)
    prefill_s, decode_s = [], []
    last = None
    for _ in range(spec["runs"]):
        p, d, last = run(ids_all, spec["decode"])
        prefill_s.append(p)
        decode_s.append(d)
    result = {
        "available": True,
        "loadS": load_s,
        "prefillS": prefill_s,
        "decodeS": decode_s,
        "peakRssBytes": vm_hwm_bytes(),
        "rssAfterLoadBytes": rss_after_load,
        "params": params,
        "residentWeightBytes": sum(p.numel() * p.element_size() for p in model.parameters()),
        "paramDtypes": dtypes,
        "lastToken": last,
        "top5": top5,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        "threads": torch.get_num_threads(),
        "notes": notes,
    }
    print("@@RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
