#!/usr/bin/env python3
"""PyTorch's speed on a CLIP checkpoint, as `opsis bench encoder` measures Opsis's: images/s and
texts/s per batch size, the texts being the same captions (encoder_bench.cpp's sample_texts),
tokenized and padded to 77 as CLIP's own code does; in float32, and also in bfloat16 where the
CPU has bf16 instructions (AVX-512 BF16 or AMX).

  benchmarks/reference/clip_speed.py --model CLIP_DIR [--seconds 5] [--threads 2] [--batches 1,32]
                                     [--json F]

CLIP_DIR: an OpenCLIP folder (open_clip_config.json, open_clip_model.safetensors) or a Hugging
Face CLIPModel folder (config.json, model.safetensors).

Run with Debian's OpenMP OpenBLAS (LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp),
its best setting on this machine; benchmarks/reference/clip_speed does, beside Opsis."""
import argparse
import copy
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
        raw = data[begin:end]
        if e["dtype"] == "BF16":  # the top half of a float32
            a = (np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            a = np.frombuffer(raw, dtype={"F32": np.float32, "F16": np.float16, "I64": np.int64}[e["dtype"]])
        a = a.reshape(e["shape"])
        out[name] = torch.from_numpy(a.astype(np.float32) if a.dtype == np.float16 else a.copy())
    return out


def openai_names(hf):
    """A Hugging Face CLIPModel state, in OpenAI's names (the inverse of clip_reference's hf_state)."""
    out = {}
    for side, dst in (("vision_model", "visual."), ("text_model", "")):
        layers = sorted({int(k.split(".")[3]) for k in hf if k.startswith(f"{side}.encoder.layers.")})
        for i in layers:
            a, b = f"{side}.encoder.layers.{i}.", f"{dst}transformer.resblocks.{i}."
            out[b + "attn.in_proj_weight"] = torch.cat([hf[a + f"self_attn.{n}_proj.weight"] for n in "qkv"])
            out[b + "attn.in_proj_bias"] = torch.cat([hf[a + f"self_attn.{n}_proj.bias"] for n in "qkv"])
            for n in ("weight", "bias"):
                out[b + f"attn.out_proj.{n}"] = hf[a + f"self_attn.out_proj.{n}"]
                out[b + f"ln_1.{n}"], out[b + f"ln_2.{n}"] = hf[a + f"layer_norm1.{n}"], hf[a + f"layer_norm2.{n}"]
                out[b + f"mlp.c_fc.{n}"], out[b + f"mlp.c_proj.{n}"] = hf[a + f"mlp.fc1.{n}"], hf[a + f"mlp.fc2.{n}"]
    out["visual.class_embedding"] = hf["vision_model.embeddings.class_embedding"]
    out["visual.conv1.weight"] = hf["vision_model.embeddings.patch_embedding.weight"]
    out["visual.positional_embedding"] = hf["vision_model.embeddings.position_embedding.weight"]
    for n in ("weight", "bias"):
        out[f"visual.ln_pre.{n}"] = hf[f"vision_model.pre_layrnorm.{n}"]
        out[f"visual.ln_post.{n}"] = hf[f"vision_model.post_layernorm.{n}"]
        out[f"ln_final.{n}"] = hf[f"text_model.final_layer_norm.{n}"]
    out["visual.proj"] = hf["visual_projection.weight"].t().contiguous()
    out["token_embedding.weight"] = hf["text_model.embeddings.token_embedding.weight"]
    out["positional_embedding"] = hf["text_model.embeddings.position_embedding.weight"]
    out["text_projection"] = hf["text_projection.weight"].t().contiguous()
    out["logit_scale"] = hf["logit_scale"].reshape(())
    return out


def load(folder):
    """The checkpoint as clip_reference's Clip, from either layout."""
    if os.path.exists(os.path.join(folder, "open_clip_config.json")):
        config = json.load(open(os.path.join(folder, "open_clip_config.json")))["model_cfg"]
        v, t = config["vision_cfg"], config["text_cfg"]
        cfg = {"embed": config["embed_dim"], "act": "quick_gelu" if config.get("quick_gelu") else "gelu",
               "vision": {"image_size": v["image_size"], "patch": v["patch_size"], "width": v["width"],
                          "layers": v["layers"], "heads": v["width"] // v.get("head_width", 64)},
               "text": {"context": t["context_length"], "vocab": t["vocab_size"], "width": t["width"],
                        "layers": t["layers"], "heads": t["heads"]}}
        state = read_safetensors(os.path.join(folder, "open_clip_model.safetensors"))
    elif os.path.exists(os.path.join(folder, "config.json")):
        config = json.load(open(os.path.join(folder, "config.json")))
        v, t = config["vision_config"], config["text_config"]
        cfg = {"embed": config["projection_dim"], "act": v.get("hidden_act", "quick_gelu"),
               "vision": {"image_size": v["image_size"], "patch": v["patch_size"], "width": v["hidden_size"],
                          "layers": v["num_hidden_layers"], "heads": v["num_attention_heads"]},
               "text": {"context": t["max_position_embeddings"], "vocab": t["vocab_size"], "width": t["hidden_size"],
                        "layers": t["num_hidden_layers"], "heads": t["num_attention_heads"]}}
        state = openai_names({k: v for k, v in read_safetensors(os.path.join(folder, "model.safetensors")).items()
                              if not k.endswith("position_ids")})
    else:
        sys.exit(f"clip_speed: {folder} holds neither an OpenCLIP nor a Hugging Face CLIP checkpoint")
    model = Clip(cfg).eval()
    model.load_state_dict(state)
    return model, cfg


def has_bf16():
    flags = open("/proc/cpuinfo").read()
    return any(f in flags.split() for f in ("avx512_bf16", "amx_bf16"))


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
    parser.add_argument("--batches", default="1,32")
    parser.add_argument("--json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    batches = [int(b) for b in args.batches.split(",")]
    model, cfg = load(args.model)
    tokenizer = ClipTokenizer(DEFAULT_MERGES)
    s = cfg["vision"]["image_size"]
    figures = []
    blas = next((part.split("=")[1] for part in torch.__config__.show().replace(",", " ").split() if part.startswith("BLAS_INFO=")), "?")
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} thread(s), BLAS_INFO={blas} (the system's BLAS: "
          f"{os.environ.get('LD_LIBRARY_PATH') or 'default'}), oneDNN {'on' if torch.backends.mkldnn.is_available() else 'off'}")
    precisions = ["fp32"] + (["bf16"] if has_bf16() else [])
    print(f"{'tower':8} {'batch':>6} {'precision':>9} {'items/s':>12} {'ms/batch':>10}")
    for precision in precisions:
        # bf16: the weights and activations in bfloat16 (torch 1.13's CPU autocast breaks its fused
        # attention); PyTorch's kernels pick the CPU's bf16 instructions at run time.
        dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        m = copy.deepcopy(model).to(dtype) if precision == "bf16" else model
        with torch.inference_mode():
            for tower in ("image", "text"):
                for batch in batches:
                    if tower == "image":
                        x = torch.randn(batch, 3, s, s, dtype=dtype)
                        fn = lambda: m.encode_image(x)  # noqa: E731
                    else:
                        x = torch.tensor([tokenizer.for_model(t) for t in sample_texts(batch)])
                        fn = lambda: m.encode_text(x)  # noqa: E731
                    r, ms = rate(args.seconds, batch, fn)
                    print(f"{tower:8} {batch:6d} {precision:>9} {r:12.1f} {ms:10.2f}")
                    figures.append({"tower": tower, "batch": batch, "precision": precision, "items_per_s": r,
                                    "ms_per_batch": ms})
    if args.json:
        json.dump({"figures": figures, "threads": args.threads, "torch": torch.__version__, "blas": blas,
                   "text_tokens": cfg["text"]["context"]}, open(args.json, "w"), indent=1)


if __name__ == "__main__":
    main()
