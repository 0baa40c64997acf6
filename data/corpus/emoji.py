"""Emoji and their names: CLDR's English and Greek names and keywords for every code point
sequence, the emoji-datasource packages' 64 px pictures (one vendor each), and the Iconify emoji
sets, whose icon names are CLDR's names spelt as slugs ("backhand-index-pointing-right-dark-skin-tone")."""
import json
import os
import re
import xml.etree.ElementTree as ET

SKIN_TONES = {"1F3FB", "1F3FC", "1F3FD", "1F3FE", "1F3FF"}


def join_list(items, conjunction):
    items = [i.strip() for i in items if i.strip()]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {conjunction} " + items[-1]


def natural_english(tts):
    """CLDR's 'base: qualifier, qualifier' names as phrases: 'flag of Germany',
    'woman with blond hair and dark skin tone', 'keycap 9'."""
    if ": " not in tts:
        return tts
    base, rest = tts.split(": ", 1)
    if base == "flag":
        return f"flag of {rest}"
    if base in ("keycap", "family", "kiss", "couple with heart"):
        return f"{base} {rest}" if base == "keycap" else f"{base}: {rest}"
    return f"{base} with {join_list(rest.split(', '), 'and')}"


def natural_greek(tts):
    return tts.replace(": ", ", ")


class Cldr:
    """cp -> (tts name, keywords) in English and Greek, from CLDR annotations (and derived)."""

    def __init__(self, raw):
        root = os.path.join(raw, "unicode-cldr-core/usr/share/unicode/cldr/common")
        self.en = self._load(root, "en")
        self.el = self._load(root, "el")
        self.slugs = {}  # "grinning-face" -> unified ("1F600")
        for text, name in self.en[0].items():
            unified = "-".join(f"{ord(c):X}" for c in text if ord(c) != 0xFE0F)
            self.slugs.setdefault(slug(name), unified)

    @staticmethod
    def _load(root, language):
        names, keywords = {}, {}
        for folder in ("annotations", "annotationsDerived"):
            path = os.path.join(root, folder, language + ".xml")
            for node in ET.parse(path).getroot().iter("annotation"):
                cp = node.get("cp")
                text = (node.text or "").strip()
                if node.get("type") == "tts":
                    names[cp] = text
                else:
                    keywords[cp] = [k.strip() for k in text.split("|") if k.strip()]
        return names, keywords

    def captions(self, unified, fallback_name=""):
        (en_names, en_keywords), (el_names, el_keywords) = self.en, self.el
        en, el = [], []
        name = lookup(en_names, unified)
        if name:
            en.append(natural_english(name))
        elif fallback_name:
            en.append(fallback_name.lower())
        keywords = lookup(en_keywords, unified) or []
        extra = [k for k in keywords if k.lower() not in " ".join(en).lower()]
        if extra:
            en.append((en[0] + ": " if en else "") + ", ".join(extra))
        greek = lookup(el_names, unified)
        if greek:
            el.append(natural_greek(greek))
        greek_extra = [k for k in lookup(el_keywords, unified) or [] if k.lower() not in " ".join(el).lower()]
        if greek_extra and el:
            el.append(el[0] + ": " + ", ".join(greek_extra))
        return [c for c in en if c], [c for c in el if c]

    def name(self, unified):
        return lookup(self.en[0], unified)


def slug(text):
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def unified_to_text(unified):
    return "".join(chr(int(part, 16)) for part in unified.split("-"))


def lookup(table, unified):
    text = unified_to_text(unified)
    return table.get(text) or table.get(text.replace("\ufe0f", ""))


def concept_of_emoji(unified):
    parts = [p for p in unified.upper().split("-") if p not in SKIN_TONES and p != "FE0F"]
    return "emoji:" + "-".join(parts).lower()


def flag_unified(country_code):
    """'gr' -> the regional-indicator pair of the Greek flag emoji, '1F1EC-1F1F7'."""
    return "-".join(f"{0x1F1E6 + ord(c) - ord('a'):X}" for c in country_code.lower())


def datasource_items(raw, version, vendors, licences, cldr, rejects):
    items = []
    for vendor in vendors:
        package = os.path.join(raw, f"emoji-datasource-{vendor}-{version}", "package")
        entries = json.load(open(os.path.join(package, "emoji.json"), encoding="utf-8"))
        image_dir = os.path.join(package, "img", vendor, "64")
        for entry in entries:
            variants = [(entry["unified"], entry)]
            variants += [(v["unified"], v) for v in (entry.get("skin_variations") or {}).values()]
            for unified, info in variants:
                image = os.path.join(image_dir, info["image"])
                ident = f"emoji/{vendor}/{unified.lower()}"
                if not info.get(f"has_img_{vendor}"):
                    continue  # the package would show another vendor's picture instead
                if not os.path.exists(image):
                    rejects.append((ident, "image file missing"))
                    continue
                en, el = cldr.captions(unified, entry.get("name"))
                if not en:
                    rejects.append((ident, "no English name"))
                    continue
                items.append({"id": ident, "image": image, "captions": {"en": en, "el": el},
                              "concept": concept_of_emoji(unified), "source": "emoji", "style": f"emoji-{vendor}",
                              "licence": licences[vendor]})
    return items
