#!/usr/bin/env python3
"""The PyTorch reference for loading CLIP checkpoints: a tiny CLIP with random weights, written
here following the published architecture (OpenAI's CLIP: a ViT image tower and a causal text
tower; Radford et al., 2021), saved in the two layouts Opsis reads, with the embeddings and
token ids it gives for texts and model-sized images:

  benchmarks/reference/clip_reference.py --out DIR [--merges bpe_simple_vocab_16e6.txt.gz]
                                          [--hidden-act quick_gelu|gelu] [--seed 1]

  DIR/hf/        config.json, model.safetensors (Hugging Face CLIPModel names), vocab.json,
                 merges.txt, preprocessor_config.json, tokenizer_config.json
  DIR/openclip/  open_clip_config.json, open_clip_model.safetensors (OpenAI names)
  DIR/images/    model-sized PNGs (image*.png) and larger or smaller ones (photo*.png)
  DIR/reference.json  per text: its token ids (77, padded with 0) and unit embedding; per
                      image: its unit embedding, its patch places (the heatmap's) and per block
                      the class token's attention and the MLP's hidden units; per photo: its unit embedding after CLIP's
                      preprocessing (short side resized with PIL's bicubic, centre crop); the
                      logit scale

Needs Debian's python3-torch, python3-regex (\\p{L} in the tokenizer's pattern) and python3-pil.
The tokenizer is CLIP's: text cleaned (HTML entities unescaped twice, whitespace collapsed,
lower-cased; ftfy's repair of broken Unicode is not applied, as Opsis does not), split by
CLIP's pattern, byte-level BPE with "</w>" over the first 48,894 merges of the merges file,
start and end tokens, truncated to 77 keeping the end token.
"""
import argparse
import gzip
import html
import json
import math
import os
import struct
import sys

import numpy as np
import regex
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe  # noqa: E402

DEFAULT_MERGES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "encoder", "clip",
                              "bpe_simple_vocab_16e6.txt.gz")
MEAN = [0.48145466, 0.4578275, 0.40821073]
STD = [0.26862954, 0.26130258, 0.27577711]

# What the tests embed: Greek with and without accents, emoji, punctuation, contractions, digits,
# HTML entities, odd whitespace, a text longer than the context.
TEXTS = [
    "a photo of a cat",
    "A Photo   of\ta DOG!!",
    "σημαία της Ελλάδας",
    "Καλημέρα, κόσμε: ένα μήλο",
    "🐱 + 🐶 = ❤️",
    "it's a dog's life, isn't it?",
    "3.14159 apples & 42 pears",
    "Tom &amp; Jerry &lt;3 caf\u00e9 na\u00efve",
    "",
    "x" * 5 + " " + " ".join(f"word{i}" for i in range(60)),
    ("The quick brown fox jumps over the lazy dog. " * 7)[:300],
]

SIZES = {
    "tiny": {"embed": 24, "vision": {"image_size": 32, "patch": 8, "width": 64, "layers": 2, "heads": 4},
             "text": {"context": 77, "vocab": 49408, "width": 32, "layers": 2, "heads": 4}},
    "b32": {"embed": 512, "vision": {"image_size": 224, "patch": 32, "width": 768, "layers": 12, "heads": 12},
            "text": {"context": 77, "vocab": 49408, "width": 512, "layers": 12, "heads": 8}},
}

# ---- tokenizer --------------------------------------------------------------------------------


def bytes_to_unicode():
    """GPT-2/CLIP's map of the 256 bytes to printable characters."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


class ClipTokenizer:
    PATTERN = regex.compile(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
                            regex.IGNORECASE)

    def __init__(self, merges_path):
        lines = gzip.open(merges_path).read().decode("utf-8").split("\n")
        self.merges = [tuple(m.split()) for m in lines[1:49152 - 256 - 2 + 1]]
        self.byte_encoder = bytes_to_unicode()
        vocab = list(self.byte_encoder.values())
        vocab = vocab + [v + "</w>" for v in vocab]
        vocab += ["".join(m) for m in self.merges]
        vocab += ["<|startoftext|>", "<|endoftext|>"]
        self.encoder = {v: i for i, v in enumerate(vocab)}
        self.ranks = {m: i for i, m in enumerate(self.merges)}

    def bpe(self, token):
        return bpe.merge(list(token[:-1]) + [token[-1] + "</w>"], self.ranks)

    @staticmethod
    def clean(text):
        text = html.unescape(html.unescape(text)).strip()
        return regex.sub(r"\s+", " ", text).strip().lower()

    def encode(self, text):
        ids = []
        for token in self.PATTERN.findall(self.clean(text)):
            token = "".join(self.byte_encoder[b] for b in token.encode("utf-8"))
            ids.extend(self.encoder[piece] for piece in self.bpe(token))
        return ids

    def for_model(self, text, context=77):
        ids = [self.encoder["<|startoftext|>"]] + self.encode(text)[:context - 2] + [self.encoder["<|endoftext|>"]]
        return ids + [0] * (context - len(ids))


# ---- model (OpenAI's CLIP, batch first) ---------------------------------------------------------


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width, heads, act):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential()
        self.mlp.add_module("c_fc", nn.Linear(width, width * 4))
        self.mlp.add_module("gelu", QuickGELU() if act == "quick_gelu" else nn.GELU())
        self.mlp.add_module("c_proj", nn.Linear(width * 4, width))
        self.ln_2 = nn.LayerNorm(width)

    def forward(self, x, mask=None):
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width, layers, heads, act):
        super().__init__()
        self.resblocks = nn.ModuleList([ResidualAttentionBlock(width, heads, act) for _ in range(layers)])

    def forward(self, x, mask=None):
        for block in self.resblocks:
            x = block(x, mask)
        return x


class VisionTransformer(nn.Module):
    def __init__(self, image_size, patch, width, layers, heads, embed, act):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, patch, patch, bias=False)
        scale = width ** -0.5
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn((image_size // patch) ** 2 + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = Transformer(width, layers, heads, act)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, embed))

    def forward(self, x):
        x = self.conv1(x).flatten(2).permute(0, 2, 1)
        x = torch.cat([self.class_embedding.expand(x.shape[0], 1, -1), x], dim=1) + self.positional_embedding
        x = self.transformer(self.ln_pre(x))
        return self.ln_post(x[:, 0, :]) @ self.proj


class Clip(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        v, t = cfg["vision"], cfg["text"]
        self.visual = VisionTransformer(v["image_size"], v["patch"], v["width"], v["layers"], v["heads"], cfg["embed"],
                                        cfg["act"])
        self.context = t["context"]
        self.token_embedding = nn.Embedding(t["vocab"], t["width"])
        self.positional_embedding = nn.Parameter(0.01 * torch.randn(t["context"], t["width"]))
        self.transformer = Transformer(t["width"], t["layers"], t["heads"], cfg["act"])
        self.ln_final = nn.LayerNorm(t["width"])
        self.text_projection = nn.Parameter(t["width"] ** -0.5 * torch.randn(t["width"], cfg["embed"]))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def encode_text(self, ids):
        x = self.token_embedding(ids) + self.positional_embedding
        mask = torch.full((self.context, self.context), float("-inf")).triu(1)
        x = self.ln_final(self.transformer(x, mask))
        return x[torch.arange(x.shape[0]), ids.argmax(dim=-1)] @ self.text_projection

    def encode_image(self, pixels):
        return self.visual(pixels)

    def look_inside(self, pixels):
        """What explain/ draws for a ViT tower, for one image: each patch token through ln_post
        and the projection (the heatmap's places, [G*G, embed]), and per block the class token's
        attention to each patch per head ([heads, G*G]) and the MLP's hidden units after the
        activation at each patch ([G*G, 4 * width])."""
        v = self.visual
        x = v.conv1(pixels).flatten(2).permute(0, 2, 1)
        x = torch.cat([v.class_embedding.expand(x.shape[0], 1, -1), x], dim=1) + v.positional_embedding
        x = v.ln_pre(x)
        blocks = []
        for block in v.transformer.resblocks:
            y = block.ln_1(x)
            mixed, probs = block.attn(y, y, y, need_weights=True, average_attn_weights=False)
            x = x + mixed
            hidden = block.mlp.gelu(block.mlp.c_fc(block.ln_2(x)))
            x = x + block.mlp.c_proj(hidden)
            blocks.append({"class_attention": probs[0, :, 0, 1:].tolist(), "mlp_hidden": hidden[0, 1:].tolist()})
        places = v.ln_post(x[0, 1:]) @ v.proj
        return {"places": places.tolist(), "blocks": blocks}


def randomise(model, generator):
    """Weights far from their initial values (LayerNorm gains and biases included), so that a
    loader mixing up any two tensors cannot pass."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == "logit_scale":
                continue
            if p.dim() == 1 and ("ln" in name or "weight" in name):
                p.copy_(1.0 + 0.3 * torch.randn(p.shape, generator=generator))
            elif p.dim() == 1:
                p.copy_(0.1 * torch.randn(p.shape, generator=generator))
            else:
                p.copy_(torch.randn(p.shape, generator=generator) * (p.shape[-1] ** -0.5))


# ---- layouts ------------------------------------------------------------------------------------


def write_safetensors(path, tensors, metadata=None):
    header, offset, blobs = {}, 0, []
    for name, t in tensors.items():
        a = t.detach().contiguous().cpu().numpy()
        dtype = {np.dtype("float32"): "F32", np.dtype("int64"): "I64"}[a.dtype]
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        blobs.append(a.tobytes())
        offset += a.nbytes
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def openai_state(model):
    return {k: v for k, v in model.state_dict().items()}


def hf_state(model, cfg):
    s = model.state_dict()
    out = {}

    def block(src, dst, layers):
        for i in range(layers):
            a, b = f"{src}.transformer.resblocks.{i}." if src else f"transformer.resblocks.{i}.", f"{dst}.encoder.layers.{i}."
            q, k, v = s[a + "attn.in_proj_weight"].chunk(3)
            qb, kb, vb = s[a + "attn.in_proj_bias"].chunk(3)
            for n, w, bias in (("q", q, qb), ("k", k, kb), ("v", v, vb)):
                out[b + f"self_attn.{n}_proj.weight"] = w
                out[b + f"self_attn.{n}_proj.bias"] = bias
            out[b + "self_attn.out_proj.weight"] = s[a + "attn.out_proj.weight"]
            out[b + "self_attn.out_proj.bias"] = s[a + "attn.out_proj.bias"]
            for n, m in (("layer_norm1", "ln_1"), ("layer_norm2", "ln_2")):
                out[b + n + ".weight"], out[b + n + ".bias"] = s[a + m + ".weight"], s[a + m + ".bias"]
            for n, m in (("fc1", "c_fc"), ("fc2", "c_proj")):
                out[b + f"mlp.{n}.weight"], out[b + f"mlp.{n}.bias"] = s[a + f"mlp.{m}.weight"], s[a + f"mlp.{m}.bias"]

    v, t = cfg["vision"], cfg["text"]
    out["vision_model.embeddings.class_embedding"] = s["visual.class_embedding"]
    out["vision_model.embeddings.patch_embedding.weight"] = s["visual.conv1.weight"]
    out["vision_model.embeddings.position_embedding.weight"] = s["visual.positional_embedding"]
    out["vision_model.embeddings.position_ids"] = torch.arange((v["image_size"] // v["patch"]) ** 2 + 1)[None]
    out["vision_model.pre_layrnorm.weight"], out["vision_model.pre_layrnorm.bias"] = s["visual.ln_pre.weight"], s["visual.ln_pre.bias"]
    block("visual", "vision_model", v["layers"])
    out["vision_model.post_layernorm.weight"] = s["visual.ln_post.weight"]
    out["vision_model.post_layernorm.bias"] = s["visual.ln_post.bias"]
    out["visual_projection.weight"] = s["visual.proj"].t()
    out["text_model.embeddings.token_embedding.weight"] = s["token_embedding.weight"]
    out["text_model.embeddings.position_embedding.weight"] = s["positional_embedding"]
    out["text_model.embeddings.position_ids"] = torch.arange(t["context"])[None]
    block("", "text_model", t["layers"])
    out["text_model.final_layer_norm.weight"], out["text_model.final_layer_norm.bias"] = s["ln_final.weight"], s["ln_final.bias"]
    out["text_projection.weight"] = s["text_projection"].t()
    out["logit_scale"] = s["logit_scale"]
    return out


def write_hf(folder, model, cfg, tokenizer):
    os.makedirs(folder, exist_ok=True)
    v, t = cfg["vision"], cfg["text"]
    config = {
        "architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": cfg["embed"],
        "logit_scale_init_value": 2.6592,
        "text_config": {"hidden_size": t["width"], "intermediate_size": 4 * t["width"],
                        "num_attention_heads": t["heads"], "num_hidden_layers": t["layers"],
                        "max_position_embeddings": t["context"], "vocab_size": t["vocab"], "hidden_act": cfg["act"],
                        "layer_norm_eps": 1e-5, "bos_token_id": 49406, "eos_token_id": 49407,
                        "projection_dim": cfg["embed"], "model_type": "clip_text_model"},
        "vision_config": {"hidden_size": v["width"], "intermediate_size": 4 * v["width"],
                          "num_attention_heads": v["heads"], "num_hidden_layers": v["layers"],
                          "image_size": v["image_size"], "patch_size": v["patch"], "hidden_act": cfg["act"],
                          "layer_norm_eps": 1e-5, "num_channels": 3, "projection_dim": cfg["embed"],
                          "model_type": "clip_vision_model"},
    }
    json.dump(config, open(os.path.join(folder, "config.json"), "w"), indent=2)
    write_safetensors(os.path.join(folder, "model.safetensors"), hf_state(model, cfg), {"format": "pt"})
    json.dump(tokenizer.encoder, open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8"), ensure_ascii=False)
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in tokenizer.merges))
    json.dump({"crop_size": {"height": v["image_size"], "width": v["image_size"]}, "do_center_crop": True,
               "do_normalize": True, "do_resize": True, "image_mean": MEAN, "image_std": STD, "resample": 3,
               "size": {"shortest_edge": v["image_size"]}},
              open(os.path.join(folder, "preprocessor_config.json"), "w"), indent=2)
    json.dump({"model_max_length": t["context"], "do_lower_case": True, "bos_token": "<|startoftext|>",
               "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>", "unk_token": "<|endoftext|>"},
              open(os.path.join(folder, "tokenizer_config.json"), "w"), indent=2)


def write_openclip(folder, model, cfg):
    os.makedirs(folder, exist_ok=True)
    v, t = cfg["vision"], cfg["text"]
    config = {"model_cfg": {"embed_dim": cfg["embed"], "quick_gelu": cfg["act"] == "quick_gelu",
                            "vision_cfg": {"image_size": v["image_size"], "layers": v["layers"], "width": v["width"],
                                           "patch_size": v["patch"], "head_width": v["width"] // v["heads"]},
                            "text_cfg": {"context_length": t["context"], "vocab_size": t["vocab"],
                                         "width": t["width"], "heads": t["heads"], "layers": t["layers"]}},
              "preprocess_cfg": {"mean": MEAN, "std": STD}}
    json.dump(config, open(os.path.join(folder, "open_clip_config.json"), "w"), indent=2)
    write_safetensors(os.path.join(folder, "open_clip_model.safetensors"), openai_state(model))


def test_images(size, generator):
    """Smooth colour fields with a few shapes: model-sized, so that preprocessing is the
    normalisation alone."""
    ys, xs = np.mgrid[0:size, 0:size] / (size - 1)
    images = []
    for k in range(3):
        c = torch.rand(9, generator=generator).numpy()
        rgb = np.stack([c[0] + c[1] * xs + c[2] * ys, c[3] + c[4] * xs * ys, c[5] + c[6] * np.sin(6 * xs + k)], -1)
        rgb[(xs - c[7]) ** 2 + (ys - c[8]) ** 2 < 0.05] = [1.0, 0.2 * k, 0.1]
        images.append((np.clip(rgb, 0, 1) * 255).round().astype(np.uint8))
    return images


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--merges", default=DEFAULT_MERGES)
    parser.add_argument("--hidden-act", default="quick_gelu", choices=["quick_gelu", "gelu"])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--size", default="tiny", choices=sorted(SIZES),
                        help="tiny (the tests'), or ViT-B/32's sizes (speed measurements: benchmarks/reference/clip_speed)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(args.seed)
    torch.manual_seed(args.seed)
    cfg = dict(SIZES[args.size], act=args.hidden_act)
    tokenizer = ClipTokenizer(args.merges)
    assert len(tokenizer.encoder) == cfg["text"]["vocab"]
    model = Clip(cfg).eval()
    randomise(model, generator)
    write_hf(os.path.join(args.out, "hf"), model, cfg, tokenizer)
    write_openclip(os.path.join(args.out, "openclip"), model, cfg)

    reference = {"logit_scale": float(model.logit_scale), "hidden_act": args.hidden_act, "texts": [], "images": [], "photos": []}
    with torch.no_grad():
        ids = torch.tensor([tokenizer.for_model(t) for t in TEXTS])
        text_vectors = F.normalize(model.encode_text(ids), dim=-1)
        for text, row, vector in zip(TEXTS, ids.tolist(), text_vectors.tolist()):
            reference["texts"].append({"text": text, "ids": row, "embedding": vector})
        os.makedirs(os.path.join(args.out, "images"), exist_ok=True)
        for k, pixels in enumerate(test_images(cfg["vision"]["image_size"], generator)):
            path = os.path.join(args.out, "images", f"image{k}.png")
            Image.fromarray(pixels, "RGB").save(path)
            x = (torch.tensor(pixels, dtype=torch.float32) / 255 - torch.tensor(MEAN)) / torch.tensor(STD)
            vector = F.normalize(model.encode_image(x.permute(2, 0, 1)[None]), dim=-1)[0]
            reference["images"].append({"file": f"images/image{k}.png", "embedding": vector.tolist(),
                                        **model.look_inside(x.permute(2, 0, 1)[None])})
        # Pictures of other sizes, as CLIP preprocesses them: the short side resized to the
        # model's size (PIL's bicubic), the centre cropped.
        side = cfg["vision"]["image_size"]
        for k, (w, h) in enumerate([(96, 72), (45, 80), (200, 150)]):
            ys, xs = np.mgrid[0:h, 0:w]
            c = torch.rand(6, generator=generator).numpy()
            rgb = np.stack([c[0] + 0.5 * np.sin(xs / (3 + 5 * c[1])), c[2] + 0.5 * np.cos(ys / (4 + 4 * c[3])),
                            c[4] + 0.3 * np.sin((xs + ys) / (2 + 6 * c[5]))], -1)
            picture = Image.fromarray((np.clip(rgb, 0, 1) * 255).round().astype(np.uint8), "RGB")
            path = os.path.join(args.out, "images", f"photo{k}.png")
            picture.save(path)
            # torchvision's Resize(side): the long side int(side * long / short).
            new = (side, int(side * h / w)) if w <= h else (int(side * w / h), side)
            resized = picture.resize(new, Image.BICUBIC)
            left = int(round((resized.width - side) / 2.0))
            top = int(round((resized.height - side) / 2.0))
            pixels = np.asarray(resized.crop((left, top, left + side, top + side)))
            x = (torch.tensor(pixels, dtype=torch.float32) / 255 - torch.tensor(MEAN)) / torch.tensor(STD)
            vector = F.normalize(model.encode_image(x.permute(2, 0, 1)[None]), dim=-1)[0]
            reference["photos"].append({"file": f"images/photo{k}.png", "size": [w, h], "embedding": vector.tolist()})
    json.dump(reference, open(os.path.join(args.out, "reference.json"), "w", encoding="utf-8"), ensure_ascii=False)
    v, t = cfg["vision"], cfg["text"]
    print(f"clip_reference: wrote {args.out}: a {args.hidden_act} CLIP (vision {v['image_size']} px / patch "
          f"{v['patch']}, width {v['width']} x {v['layers']}; text width {t['width']} x {t['layers']}), "
          f"{len(TEXTS)} texts, {len(reference['images'])} images, {len(reference['photos'])} photos")


if __name__ == "__main__":
    main()
