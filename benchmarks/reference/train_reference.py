#!/usr/bin/env python3
"""The PyTorch reference for `opsis train`: the same architecture, loss and recipe, written
plainly with Debian's python3-torch, so our C++ trainer's speed and validation recall have
something to be measured against.

  benchmarks/reference/train_reference.py --corpus ~/.cache/opsis/corpus \
      --config configs/default.json --tokenizer RUN/tokenizer --out /tmp/reference \
      --steps 400 --batch 128 [--threads 2]

It reads the manifest and split files data/build-corpus writes, tokenizes with the tokenizer
files opsis trained (vocab.json + merges.txt, CLIP's byte-level BPE scheme), prints the same
progress and validation lines as opsis, and writes OUT/model (model.safetensors with Opsis's
tensor names, and the tokenizer) so `opsis bench recall` scores both models alike.
"""
import argparse
import json
import math
import os
import random
import shutil
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe  # noqa: E402

# ---- tokenizer (CLIP's scheme, as encoder/tokenizer.cpp) --------------------------------------


def byte_symbols():
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    symbol, extra = {}, 0
    for b in range(256):
        if b in printable:
            symbol[b] = chr(b)
        else:
            symbol[b] = chr(256 + extra)
            extra += 1
    return symbol


CONTRACTIONS = ("'s", "'t", "'re", "'ve", "'m", "'ll", "'d")


def is_number(ch):
    return "0" <= ch <= "9" or "\u0660" <= ch <= "\u0669"


def is_letter(ch):
    return ch.isalpha() and not is_number(ch)


def split_words(text):
    """CLIP's pattern, as split_words in encoder/tokenizer.cpp: contractions, letter runs,
    single digits, runs of other symbols."""
    words, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        contraction = next((c for c in CONTRACTIONS if text.startswith(c, i)), None) if ch == "'" else None
        if contraction:
            words.append(contraction)
            i += len(contraction)
            continue
        j = i + 1
        if is_letter(ch):
            while j < len(text) and is_letter(text[j]):
                j += 1
        elif not is_number(ch):
            while j < len(text) and not (text[j].isspace() or is_letter(text[j]) or is_number(text[j])):
                j += 1
        words.append(text[i:j])
        i = j
    return words


class Tokenizer:
    def __init__(self, folder):
        self.vocab = json.load(open(os.path.join(folder, "vocab.json"), encoding="utf-8"))
        merges = [l.rstrip("\n") for l in open(os.path.join(folder, "merges.txt"), encoding="utf-8")]
        merges = [m.split(" ") for m in merges[1:] if m]
        self.ranks = {(a, b): r for r, (a, b) in enumerate(merges)}
        self.symbols = byte_symbols()
        self.start, self.end = self.vocab["<|startoftext|>"], self.vocab["<|endoftext|>"]
        self.cache = {}

    def bpe(self, word):
        if word in self.cache:
            return self.cache[word]
        data = word.encode("utf-8")
        parts = [self.symbols[b] for b in data]
        parts[-1] += "</w>"
        parts = bpe.merge(parts, self.ranks)
        ids = [self.vocab[p] for p in parts]
        self.cache[word] = ids
        return ids

    def encode_for_model(self, text, context):
        cleaned = " ".join(text.split()).lower()
        ids = []
        for w in split_words(cleaned):
            ids += self.bpe(w)
        return [self.start] + ids[: context - 2] + [self.end]


# ---- the model (encoder/image_tower.cpp, encoder/text_tower.cpp) -------------------------------


class ConvBn(nn.Module):
    def __init__(self, cin, cout, k, stride):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1)
        nn.init.normal_(self.conv.weight, 0.0, math.sqrt(2.0 / (cin * k * k)))

    def forward(self, x):
        return self.bn(self.conv(x))


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1, self.conv2 = ConvBn(cin, cout, 3, stride), ConvBn(cout, cout, 3, 1)
        self.downsample = ConvBn(cin, cout, 1, stride) if stride != 1 or cin != cout else None

    def forward(self, x):
        h = self.conv2(F.relu(self.conv1(x)))
        return F.relu(h + (self.downsample(x) if self.downsample is not None else x))


class ResNet(nn.Module):
    def __init__(self, c, embed):
        super().__init__()
        self.stem = ConvBn(3, c["stem_channels"], 3, c["stem_stride"])
        self.pool = c["stem_pool"]
        blocks, cin = [], c["stem_channels"]
        self.names = []
        for s, (cout, n) in enumerate(zip(c["stage_channels"], c["stage_blocks"])):
            for b in range(n):
                blocks.append(Block(cin, cout, 2 if b == 0 and s > 0 else 1))
                self.names.append(f"{s}.{b}")
                cin = cout
        self.blocks = nn.ModuleList(blocks)
        self.proj = nn.Parameter(torch.randn(cin, embed) / math.sqrt(cin))

    def forward(self, x):
        x = F.relu(self.stem(x))
        if self.pool:
            x = F.max_pool2d(x, 3, 2, 1)
        for b in self.blocks:
            x = b(x)
        return x.mean(dim=(2, 3)) @ self.proj


class Attention(nn.Module):
    def __init__(self, w, heads, layers):
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.randn(3 * w, w) / math.sqrt(w))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * w))
        self.out_proj = nn.Linear(w, w)
        nn.init.normal_(self.out_proj.weight, 0.0, 1 / math.sqrt(w) / math.sqrt(2 * layers))
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, x, mask):
        n, l, w = x.shape
        q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
        split = lambda t: t.view(n, l, self.heads, w // self.heads).transpose(1, 2)
        o = F.scaled_dot_product_attention(split(q), split(k), split(v), attn_mask=mask) \
            if hasattr(F, "scaled_dot_product_attention") else \
            torch.softmax(split(q) @ split(k).transpose(-1, -2) / math.sqrt(w // self.heads) + mask, -1) @ split(v)
        return self.out_proj(o.transpose(1, 2).reshape(n, l, w))


class Resblock(nn.Module):
    def __init__(self, w, heads, ratio, layers, act):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(w), nn.LayerNorm(w)
        self.attn = Attention(w, heads, layers)
        self.c_fc, self.c_proj = nn.Linear(w, w * ratio), nn.Linear(w * ratio, w)
        nn.init.normal_(self.c_fc.weight, 0.0, 1 / math.sqrt(2 * w))
        nn.init.normal_(self.c_proj.weight, 0.0, 1 / math.sqrt(w) / math.sqrt(2 * layers))
        nn.init.zeros_(self.c_fc.bias)
        nn.init.zeros_(self.c_proj.bias)
        self.act = act

    def forward(self, x, mask):
        x = x + self.attn(self.ln_1(x), mask)
        h = self.c_fc(self.ln_2(x))
        h = F.gelu(h) if self.act == "gelu" else (h * torch.sigmoid(1.702 * h) if self.act == "quick_gelu" else F.relu(h))
        return x + self.c_proj(h)


class TextTower(nn.Module):
    def __init__(self, c, embed):
        super().__init__()
        w = c["width"]
        self.token_embedding = nn.Embedding(c["vocab_size"], w)
        nn.init.normal_(self.token_embedding.weight, 0.0, 0.02)
        self.positional_embedding = nn.Parameter(torch.randn(c["context_length"], w) * 0.01)
        self.resblocks = nn.ModuleList(Resblock(w, c["heads"], c["mlp_ratio"], c["layers"], c["activation"])
                                       for _ in range(c["layers"]))
        self.ln_final = nn.LayerNorm(w)
        self.text_projection = nn.Parameter(torch.randn(w, embed) / math.sqrt(w))

    def forward(self, ids, ends):
        l = ids.shape[1]
        x = self.token_embedding(ids) + self.positional_embedding[:l]
        mask = torch.full((l, l), float("-inf")).triu(1)
        for b in self.resblocks:
            x = b(x, mask)
        return self.ln_final(x[torch.arange(x.shape[0]), ends]) @ self.text_projection


class DualEncoder(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.visual = ResNet(config["image"], config["embed_dim"])
        self.text = TextTower(config["text"], config["embed_dim"])
        self.logit_scale = nn.Parameter(torch.tensor(float(config["logit_scale"])))


def contrastive_loss(img, txt, concepts, logit_scale):
    scale = logit_scale.exp().clamp(max=100.0)
    logits = scale * img @ txt.t()
    positive = concepts[:, None] == concepts[None, :]
    def one_side(l):
        return (torch.logsumexp(l, 1) - torch.logsumexp(l.masked_fill(~positive, float("-inf")), 1)).mean()
    return 0.5 * (one_side(logits) + one_side(logits.t())), 1.0 / scale.item()


def opsis_state(model):
    """Our parameter names (CLIP's for the text tower)."""
    out = {}
    v = model.visual
    def conv_bn(prefix, m):
        out[prefix + ".conv.weight"] = m.conv.weight
        out[prefix + ".bn.weight"], out[prefix + ".bn.bias"] = m.bn.weight, m.bn.bias
        out[prefix + ".bn.running_mean"], out[prefix + ".bn.running_var"] = m.bn.running_mean, m.bn.running_var
    conv_bn("visual.stem", v.stem)
    for name, b in zip(v.names, v.blocks):
        p = "visual.layers." + name
        conv_bn(p + ".conv1", b.conv1)
        conv_bn(p + ".conv2", b.conv2)
        if b.downsample is not None:
            conv_bn(p + ".downsample", b.downsample)
    out["visual.proj"] = v.proj
    t = model.text
    out["token_embedding.weight"] = t.token_embedding.weight
    out["positional_embedding"] = t.positional_embedding
    for i, b in enumerate(t.resblocks):
        p = f"transformer.resblocks.{i}"
        out[p + ".ln_1.weight"], out[p + ".ln_1.bias"] = b.ln_1.weight, b.ln_1.bias
        out[p + ".attn.in_proj_weight"], out[p + ".attn.in_proj_bias"] = b.attn.in_proj_weight, b.attn.in_proj_bias
        out[p + ".attn.out_proj.weight"], out[p + ".attn.out_proj.bias"] = b.attn.out_proj.weight, b.attn.out_proj.bias
        out[p + ".ln_2.weight"], out[p + ".ln_2.bias"] = b.ln_2.weight, b.ln_2.bias
        out[p + ".mlp.c_fc.weight"], out[p + ".mlp.c_fc.bias"] = b.c_fc.weight, b.c_fc.bias
        out[p + ".mlp.c_proj.weight"], out[p + ".mlp.c_proj.bias"] = b.c_proj.weight, b.c_proj.bias
    out["ln_final.weight"], out["ln_final.bias"] = t.ln_final.weight, t.ln_final.bias
    out["text_projection"] = t.text_projection
    out["logit_scale"] = model.logit_scale
    return {k: v.detach().float().contiguous().numpy() for k, v in out.items()}


def write_safetensors(path, tensors, metadata):
    header, offset, blobs = {"__metadata__": metadata}, 0, []
    for name in sorted(tensors):
        data = np.ascontiguousarray(tensors[name], dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    head = json.dumps(header).encode()
    head += b" " * ((8 - len(head) % 8) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head + b"".join(blobs))
    os.replace(path + ".tmp", path)


def with_defaults(config):
    """The defaults encoder/model_config.h applies to keys a config leaves out."""
    image = {"image_size": 64, "mean": [0.5] * 3, "std": [0.5] * 3, "background": [255, 255, 255], "trim_transparent": True,
             "stem_channels": 32, "stem_stride": 2, "stem_pool": False, "stage_channels": [32, 64, 128, 256],
             "stage_blocks": [1, 1, 1, 1], **config["image"]}
    if image.get("arch", "resnet") != "resnet":
        raise SystemExit("reference: only the ResNet image tower trains")
    text = {"context_length": 32, "width": 256, "layers": 4, "heads": 4, "mlp_ratio": 4, "activation": "gelu", **config["text"]}
    return {"name": "opsis", "embed_dim": 256, "logit_scale": math.log(1 / 0.07), **config, "image": image, "text": text}


# ---- data (train/batches.cpp) ------------------------------------------------------------------


def load_square(path, side):
    img = Image.open(path).convert("RGBA")
    alpha = np.asarray(img)[:, :, 3]
    ys, xs = np.nonzero(alpha >= 8)
    if len(xs) and (xs.min() > 0 or ys.min() > 0 or xs.max() < img.width - 1 or ys.max() < img.height - 1):
        img = img.crop((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1))
        s = max(img.size) + max(img.size) // 16
        canvas = Image.new("RGBA", (s, s), (0, 0, 0, 0))
        canvas.paste(img, ((s - img.width) // 2, (s - img.height) // 2))
        img = canvas
    elif img.width != img.height:
        s = min(img.size)
        img = img.crop(((img.width - s) // 2, (img.height - s) // 2, (img.width - s) // 2 + s, (img.height - s) // 2 + s))
    return np.asarray(img.resize((side, side), Image.BICUBIC), dtype=np.uint8)


def to_input(rgba, size, background, mean, std):
    img = Image.fromarray(rgba, "RGBA").resize((size, size), Image.BICUBIC)
    a = np.asarray(img, dtype=np.float32)
    alpha = a[:, :, 3:4] / 255.0
    rgb = a[:, :, :3] * alpha + np.asarray(background, np.float32) * (1 - alpha)
    return ((rgb / 255.0 - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)).transpose(2, 0, 1)


def recall(queries, qc, gallery, gc):
    sims = queries @ gallery.t()
    hits = {1: 0, 10: 0}
    for i in range(sims.shape[0]):
        row = sims[i]
        best = row[gc == qc[i]].max()
        above = int((row > best).sum())
        for k in hits:
            hits[k] += above < k
    return {k: 100.0 * v / sims.shape[0] for k, v in hits.items()}


def group_rows_by_length(rows, cost_per_group):
    """As train/trainable_model.cpp: rows sorted by length and cut, by a small dynamic
    programme, to minimise padded tokens plus a fixed cost per group; lists of row indices."""
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    best, cut = [0] + [None] * len(rows), [0] * (len(rows) + 1)
    for i in range(1, len(rows) + 1):
        longest = len(rows[order[i - 1]])
        for j in range(i):
            cost = best[j] + (i - j) * longest + cost_per_group
            if best[i] is None or cost < best[i]:
                best[i], cut[i] = cost, j
    groups, i = [], len(rows)
    while i > 0:
        groups.append(order[cut[i]:i])
        i = cut[i]
    return groups[::-1]


def encode_text_grouped(model, rows, cost_per_group):
    """The text tower over groups of rows of similar length (same features as padding the
    whole batch: each row is independent), scattered back into batch order."""
    out = [None] * len(rows)
    for group in group_rows_by_length(rows, cost_per_group):
        l = max(len(rows[i]) for i in group)
        ids = torch.tensor([rows[i] + [rows[i][-1]] * (l - len(rows[i])) for i in group])
        ends = torch.tensor([len(rows[i]) - 1 for i in group])
        features = model.text(ids, ends)
        for k, i in enumerate(group):
            out[i] = features[k]
    return torch.stack(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--validate-every", type=int, default=0)
    ap.add_argument("--text-group-cost", type=int, default=256,
                    help="as opsis train's: padded tokens one more text group is worth (1e9 pads to the longest)")
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    random.seed(a.seed)
    torch.set_num_threads(a.threads)

    tok = Tokenizer(a.tokenizer)
    config = with_defaults(json.load(open(a.config)))
    config["text"]["vocab_size"] = len(tok.vocab)
    image_cfg = config["image"]
    size = image_cfg["image_size"]
    side = size + size // 8
    mean, std = image_cfg["mean"], image_cfg["std"]
    context = config["text"]["context_length"]

    items = {}
    for n, line in enumerate(open(os.path.join(a.corpus, "manifest.jsonl"), encoding="utf-8"), 1):
        try:
            d = json.loads(line)
            items[d["id"]] = d
        except (ValueError, KeyError) as e:
            print(f"reference: manifest line {n}: {e}", file=sys.stderr)
    def split(name):
        return [items[i] for i in open(os.path.join(a.corpus, name + ".txt")).read().split() if i in items]
    train, val = split("train"), split("val")
    t0 = time.time()
    def cache(rows):
        out, keep = [], []
        for r in rows:
            try:
                out.append(load_square(r["image"], side))
                keep.append(r)
            except Exception as e:  # unreadable images are skipped, as opsis does
                print(f"reference: skipped {r['id']}: {e}", file=sys.stderr)
        return np.stack(out), keep
    train_px, train = cache(train)
    val_px, val = cache(val)
    concept_index = {}
    train_concepts = np.array([concept_index.setdefault(r["concept"], len(concept_index)) for r in train])
    print(f"reference: decoded {len(train)} training and {len(val)} validation images in {time.time() - t0:.1f} s", file=sys.stderr)

    model = DualEncoder(config)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.ndim >= 2 and "embedding" not in name else no_decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.98), eps=1e-6)
    def lr_at(step):
        if step < a.warmup:
            return a.lr * (step + 1) / a.warmup
        progress = min(1.0, (step - a.warmup) / max(1, a.steps - a.warmup))
        return a.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress)))

    per_epoch = len(train) // a.batch
    validate_every = a.validate_every or per_epoch
    rng = np.random.default_rng(a.seed)
    order, best, start = None, -1.0, time.time()
    def validate(step):
        nonlocal best
        model.eval()
        with torch.no_grad():
            imgs = torch.tensor(np.stack([to_input(p, size, (255, 255, 255), mean, std) for p in val_px]))
            ie = F.normalize(model.visual(imgs), dim=-1)
            captions, cc, seen = [], [], set()
            vconcepts = [r["concept"] for r in val]
            for r in val:
                if r["captions"]["en"] and (r["concept"], r["captions"]["en"][0]) not in seen:
                    seen.add((r["concept"], r["captions"]["en"][0]))
                    captions.append(r["captions"]["en"][0])
                    cc.append(r["concept"])
            rows = [tok.encode_for_model(c, context) for c in captions]
            l = max(map(len, rows))
            ids = torch.tensor([r + [r[-1]] * (l - len(r)) for r in rows])
            te = F.normalize(model.text(ids, torch.tensor([len(r) - 1 for r in rows])), dim=-1)
            names = {c: i for i, c in enumerate(sorted(set(vconcepts)))}
            ic = torch.tensor([names[c] for c in vconcepts])
            tc = torch.tensor([names[c] for c in cc])
            t2i, i2t = recall(te, tc, ie, ic), recall(ie, ic, te, tc)
        model.train()
        score = 0.25 * (t2i[1] + t2i[10] + i2t[1] + i2t[10])
        mark = " (best so far)" if score > best else ""
        print(f"\nreference: validation after step {step}: text->image R@1 {t2i[1]:.1f} R@10 {t2i[10]:.1f}, "
              f"image->text R@1 {i2t[1]:.1f} R@10 {i2t[10]:.1f}{mark}", file=sys.stderr, flush=True)
        if score > best:
            best = score
            save(os.path.join(a.out, "best"), step)

    def save(folder, step):
        os.makedirs(folder, exist_ok=True)
        cfg = dict(config)
        write_safetensors(os.path.join(folder, "model.safetensors"), opsis_state(model),
                          {"opsis.config": json.dumps(cfg), "format": "pt", "trained_by": "reference", "step": str(step)})
        for f in ("vocab.json", "merges.txt"):
            shutil.copy(os.path.join(a.tokenizer, f), folder)

    os.makedirs(a.out, exist_ok=True)
    for step in range(a.steps):
        epoch, pos = divmod(step, per_epoch)
        if pos == 0:
            order = rng.permutation(len(train))
        idx = order[pos * a.batch:(pos + 1) * a.batch]
        images, rows = [], []
        for i in idx:
            px = train_px[i]
            crop = max(1, int(side * (0.8 + 0.2 * rng.random())))
            x0, y0 = rng.integers(0, side - crop + 1), rng.integers(0, side - crop + 1)
            bg = (255, 255, 255) if rng.random() < 0.5 else tuple(int(c) for c in rng.integers(0, 256, 3))
            images.append(to_input(px[y0:y0 + crop, x0:x0 + crop], size, bg, mean, std))
            caps = train[i]["captions"]
            pool = caps["el"] if caps["el"] and (not caps["en"] or rng.random() < 0.25) else caps["en"]
            rows.append(tok.encode_for_model(pool[rng.integers(len(pool))], context))
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        img = F.normalize(model.visual(torch.tensor(np.stack(images))), dim=-1)
        txt = F.normalize(encode_text_grouped(model, rows, a.text_group_cost), dim=-1)
        loss, temp = contrastive_loss(img, txt, torch.tensor(train_concepts[idx]), model.logit_scale)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if a.clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip)
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        done = step + 1
        rate = done * a.batch / (time.time() - start)
        if done % 20 == 0 or done == a.steps:
            print(f"reference step {done}/{a.steps}  loss {loss.item():.4f}  lr {lr_at(step):.2e}  temp {temp:.4f}  "
                  f"{rate:.1f} pairs/s", file=sys.stderr, flush=True)
        if done % validate_every == 0 or done == a.steps:
            validate(done)
    save(os.path.join(a.out, "final"), a.steps)
    print(json.dumps({"pairs_per_s": rate, "steps": a.steps, "batch": a.batch, "threads": a.threads}))


if __name__ == "__main__":
    main()
