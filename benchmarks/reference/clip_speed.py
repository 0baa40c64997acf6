#!/usr/bin/env python3
"""PyTorch's speed on a CLIP checkpoint, as `opsis bench encoder` measures Opsis's: images/s and
texts/s at batch 1 and 64, the texts being the same captions (encoder_bench.cpp's
sample_texts), tokenized and padded to 77 as CLIP's own code does.

  benchmarks/reference/clip_speed.py --model OPENCLIP_DIR [--seconds 5] [--threads 2] [--json F]

Run with Debian's OpenMP OpenBLAS (LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp),
its best setting on this machine; benchmarks/reference/clip_speed does, beside Opsis."""
import argparse
import json
import os
import struct
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clip_reference import Clip, ClipTokenizer, DEFAULT_MERGES  # noqa: E402


def sample_texts(n):
    adjectives = ["red", "smiling", "tiny", "green", "sleepy", "striped", "golden", "broken"]
    nouns = ["apple", "cat", "flag of Germany", "rocket", "teapot", "woman with blond hair", "bicycle", "owl"]
    places = ["on a table", "in the snow", "at night", "under a tree"]
    return [f"a {adjectives[i % 8]} {nouns[(i // 8) % 8]} {places[(i // 64) % 4]}" for i in range(n)]


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        begin, end = e["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[begin:end], dtype=np.float32).reshape(e["shape"]).copy())
    return out


def rate(seconds, batch, fn):
    fn()  # warm up
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return batch * calls / elapsed, 1000 * elapsed / calls


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = json.load(open(os.path.join(args.model, "open_clip_config.json")))["model_cfg"]
    v, t = config["vision_cfg"], config["text_cfg"]
    cfg = {"embed": config["embed_dim"], "act": "quick_gelu" if config.get("quick_gelu") else "gelu",
           "vision": {"image_size": v["image_size"], "patch": v["patch_size"], "width": v["width"],
                      "layers": v["layers"], "heads": v["width"] // v.get("head_width", 64)},
           "text": {"context": t["context_length"], "vocab": t["vocab_size"], "width": t["width"],
                    "layers": t["layers"], "heads": t["heads"]}}
    model = Clip(cfg).eval()
    model.load_state_dict(read_safetensors(os.path.join(args.model, "open_clip_model.safetensors")))
    tokenizer = ClipTokenizer(DEFAULT_MERGES)
    s = cfg["vision"]["image_size"]
    figures = []
    blas = next((part.split("=")[1] for part in torch.__config__.show().replace(",", " ").split() if part.startswith("BLAS_INFO=")), "?")
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} thread(s), BLAS_INFO={blas} (the system's BLAS: "
          f"{os.environ.get('LD_LIBRARY_PATH') or 'default'}), oneDNN {'on' if torch.backends.mkldnn.is_available() else 'off'}")
    print(f"{'tower':8} {'batch':>6} {'items/s':>12} {'ms/batch':>10}")
    with torch.inference_mode():
        for batch in (1, 64):
            images = torch.randn(batch, 3, s, s)
            r, ms = rate(args.seconds, batch, lambda: model.encode_image(images))
            print(f"{'image':8} {batch:6d} {r:12.1f} {ms:10.2f}")
            figures.append({"tower": "image", "batch": batch, "items_per_s": r, "ms_per_batch": ms})
        for batch in (1, 64):
            ids = torch.tensor([tokenizer.for_model(x) for x in sample_texts(batch)])
            r, ms = rate(args.seconds, batch, lambda: model.encode_text(ids))
            print(f"{'text':8} {batch:6d} {r:12.1f} {ms:10.2f}")
            figures.append({"tower": "text", "batch": batch, "items_per_s": r, "ms_per_batch": ms})
    if args.json:
        json.dump({"figures": figures, "threads": args.threads}, open(args.json, "w"), indent=1)


if __name__ == "__main__":
    main()
