"""Iconify icon sets (@iconify-json/*) as captioned pictures.

An emoji set's icon names are CLDR names as slugs: those take CLDR's English and Greek captions
and the emoji's concept, so one concept is seen drawn by many vendors. A flag set's names are
country codes: those become the flag emoji's concept. Every other icon's name is cleaned into
words (corpus.icon_names), widened with WordNet synonyms and kinds, named in Greek through
FreeDict where it can be, and rejected with a reason where no caption can describe it."""
import json
import os
import re
import shutil

from corpus import icon_names
from corpus.emoji import concept_of_emoji, flag_unified, slug

# Licences that allow training (SPDX); anything else is recorded and left out.
TRAINABLE_LICENCES = {"MIT", "Apache-2.0", "ISC", "CC0-1.0", "CC-BY-3.0", "CC-BY-4.0", "CC-BY-SA-4.0", "OFL-1.1",
                      "GPL-2.0", "GPL-3.0", "GPL-2.0-only", "GPL-2.0-or-later", "BSD-3-Clause", "BSD-2-Clause",
                      "Unlicense"}
FLAG_SETS = {"flag", "circle-flags", "flagpack"}
EMOJI_CATEGORY = "Emoji"
RENDER_SIZE = 128
# Bumped whenever svg_document changes: a set's rendered pictures are kept only while its
# folder's stamp names the same set version, size and document version.
SVG_DOCUMENT_VERSION = 1
# Sets of real-world things drawn (not UI symbols): WordNet's senses of their names are the
# right ones. A UI "battery", "server" or "layer" is not WordNet's artillery unit, waiter or bed.
WORDNET_CATEGORIES = {"Thematic", "Emoji", "Flags / Maps"}


def prepare_render_folder(folder, stamp):
    """Empties a set's render folder when the stamp of what made it differs; returns nothing."""
    stamp_path = os.path.join(folder, ".stamp")
    if os.path.exists(stamp_path) and open(stamp_path, encoding="utf-8").read() == stamp:
        return
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    os.makedirs(folder)
    with open(stamp_path, "w", encoding="utf-8") as f:
        f.write(stamp)


def svg_document(icon, width, height):
    left, top = icon.get("left", 0), icon.get("top", 0)
    w, h = icon.get("width", width), icon.get("height", height)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
            f'viewBox="{left} {top} {w} {h}" width="{RENDER_SIZE}" height="{RENDER_SIZE}" color="#000000">'
            f'{icon["body"]}</svg>')


def load_set(folder):
    package = os.path.join(folder, "package")
    icons = json.load(open(os.path.join(package, "icons.json"), encoding="utf-8"))
    info = json.load(open(os.path.join(package, "info.json"), encoding="utf-8"))
    meta_path = os.path.join(package, "metadata.json")
    meta = json.load(open(meta_path, encoding="utf-8")) if os.path.exists(meta_path) else {}
    category_of = {}
    for category, names in (meta.get("categories") or {}).items():
        for n in names:
            category_of.setdefault(n, category)
    return icons, info, category_of


def size_preference(name):
    """Among the same icon at several sizes, prefer 24 px, then none named, then the largest."""
    sizes = [int(t) for t in re.findall(r"(?:^|-)(\d+)(?=-|$)", name)]
    if 24 in sizes:
        return 0
    return 1 if not sizes else 2


def emoji_unified(name, cldr):
    """The code point sequence an emoji set's icon name stands for, or None."""
    key = slug(name)
    key = re.sub(r"^flag-for-(flag-)?", "flag-", key)
    return cldr.slugs.get(key)


def set_items(prefix, folder, cldr, wordnet, greek, dictionary, render_root, rejects, version=""):
    """Items of one Iconify set, and the SVG render tasks they need."""
    icons, info, category_of = load_set(folder)
    prepare_render_folder(os.path.join(render_root, prefix),
                          f"{prefix}@{version} size {RENDER_SIZE} document {SVG_DOCUMENT_VERSION}\n")
    use_wordnet = info.get("category") in WORDNET_CATEGORIES
    licence = (info.get("license") or {}).get("spdx", "")
    licence_text = f"{licence} ({info.get('name', prefix)}, {(info.get('author') or {}).get('name', '')})"
    if licence not in TRAINABLE_LICENCES:
        rejects.append((f"iconify/{prefix}", f"licence does not allow training: {licence or 'none given'}"))
        return [], []
    width, height = icons.get("width", 16), icons.get("height", 16)
    is_emoji = info.get("category") == EMOJI_CATEGORY or prefix.startswith(("fluent-emoji", "noto", "twemoji"))
    # Aliases without a transformation are other names of the same picture.
    alias_names = {}
    for alias, target in (icons.get("aliases") or {}).items():
        if set(target) == {"parent"}:
            alias_names.setdefault(target["parent"], []).append(alias)

    items, tasks, seen = [], [], set()
    names = sorted(icons["icons"], key=lambda n: (size_preference(n), n))
    for name in names:
        icon = icons["icons"][name]
        ident = f"iconify/{prefix}/{name}"
        if icon.get("hidden"):
            continue
        image = os.path.join(render_root, prefix, name + ".png")
        item = {"id": ident, "image": image, "source": "iconify", "style": prefix, "licence": licence_text}
        unified = None
        if prefix in FLAG_SETS:
            code, _, rest = name.partition("-")
            # "gr", "gr-4x3": Greece; "au-aboriginal", "gb-eng", "cn-xz" are other flags, not the country's.
            if re.fullmatch(r"[a-z]{2}", code) and re.fullmatch(r"(\d+x\d+)?", rest) and cldr.name(flag_unified(code)):
                unified = flag_unified(code)
            else:
                rejects.append((ident, "flag of no country CLDR names (a region, a language, an organisation)"))
                continue
        elif is_emoji:
            unified = emoji_unified(name, cldr)
        if unified:
            en, el = cldr.captions(unified)
            if not en:
                rejects.append((ident, "emoji without an English name"))
                continue
            key = (unified, tuple(name.split("-")[-1:]) if prefix in FLAG_SETS else ())
            if key in seen:
                continue
            seen.add(key)
            item.update(captions={"en": en, "el": el}, concept=concept_of_emoji(unified))
        else:
            cleaned = icon_names.clean_icon_name(name, prefix, category_of.get(name, ""), dictionary)
            if cleaned.reject:
                rejects.append((ident, cleaned.reject))
                continue
            key = (tuple(cleaned.words), tuple(sorted(t for t in cleaned.style if not t[0].isdigit())))
            if key in seen:
                rejects.append((ident, "same icon at another size"))
                continue
            seen.add(key)
            phrases = icon_names.caption_phrases(cleaned, prefix)
            for alias in alias_names.get(name, []):
                other = icon_names.clean_icon_name(alias, prefix, "", dictionary)
                if not other.reject:
                    phrases += [p for p in icon_names.caption_phrases(other, prefix) if p not in phrases]
            synonyms, kinds = wordnet.expand(phrases[0]) if use_wordnet else ([], [])
            keywords = [k for k in kinds + icon_names.category_keywords(category_of.get(name, ""))
                        if k not in phrases[0]]
            en = phrases + [s for s in synonyms if s not in phrases]
            if keywords:
                en.append(phrases[0] + ": " + ", ".join(dict.fromkeys(keywords)))
            el = greek.names(phrases[0], wordnet)
            item.update(captions={"en": en, "el": el}, concept=icon_names.concept_key(cleaned))
            if cleaned.style:
                item["variant"] = "-".join(cleaned.style)
        if not is_emoji:
            item["mirrorable"] = False  # a mirrored UI symbol or flag is another symbol
        items.append(item)
        tasks.append(("text", svg_document(icon, width, height), image, RENDER_SIZE))
    return items, tasks
