"""Icon sets' own search tags, as words that training may read beside an icon's name.

Tabler (@tabler/icons icons.json), Lucide (lucide-static tags.json) and Phosphor
(@phosphor-icons/core dist/index.mjs) tag each icon with the words their users search it by:
Tabler's "cat" with kitten, kitty, pet, animal, feline, meow. The Iconify sets of the same
names draw the same icons, so an item of those sets takes its icon's tags (a style suffix such
as "-filled" or "-bold" names the same icon). Tags are training-only text, like definitions
(corpus.splits.add_search_tags): the index and judging keep to the names."""
import json
import os
import re

from corpus import packages


def read_tabler(package_dir):
    icons = json.load(open(os.path.join(package_dir, "icons.json"), encoding="utf-8"))
    return {name: list(icon.get("tags") or []) for name, icon in icons.items()}


def read_lucide(package_dir):
    return {name: list(tags) for name, tags in
            json.load(open(os.path.join(package_dir, "tags.json"), encoding="utf-8")).items()}


def read_phosphor(package_dir):
    """The catalogue is a JavaScript module, not JSON: each icon is an object literal
    `{ name: "acorn", ..., tags: ["*new*", "savings", "nut", ...], ... }`."""
    with open(os.path.join(package_dir, "dist", "index.mjs"), encoding="utf-8") as f:
        text = f.read()
    tags = {}
    for name, body in re.findall(r'\{\s*name: "([^"]+)",(.*?)\n  \}', text, re.S):
        found = re.search(r"tags: \[(.*?)\]", body, re.S)
        tags[name] = re.findall(r'"([^"]*)"', found.group(1)) if found else []
    if not tags:
        raise SystemExit(f"build-corpus: no icons found in {package_dir}/dist/index.mjs (has its format changed?)")
    return tags


# Iconify prefix (its package pinned in packages.TAG_PACKAGES) -> (how to read its tags, the style
# suffixes of the Iconify set's names).
READERS = {
    "tabler": (read_tabler, ("-filled",)),
    "lucide": (read_lucide, ()),
    "ph": (read_phosphor, ("-bold", "-duotone", "-fill", "-light", "-thin")),
}


def clean_tag(tag):
    """A tag as words ("kitty-cat" -> "kitty cat"), or "" for what is no description: the
    catalogue's own markers ("*new*", "*updated*"), numbers, single letters."""
    tag = str(tag)
    if "*" in tag:
        return ""
    words = re.sub(r"[-_/]+", " ", tag.lower()).split()
    text = " ".join(words)
    return text if re.search(r"[^\W\d_]{2}", text) else ""


def icon_tags(prefix, name, catalogue):
    """The cleaned tags of Iconify icon `name` of set `prefix`, from its package's catalogue."""
    suffixes = READERS[prefix][1]
    base = name
    if base not in catalogue:
        for suffix in suffixes:
            if base.endswith(suffix):
                base = base[: -len(suffix)]
                break
    tags = [clean_tag(t) for t in catalogue.get(base, [])]
    return list(dict.fromkeys(t for t in tags if t))


def tags_by_item(raw, items):
    """{item id: [tags]} for the items of the sets in READERS (packages already fetched into
    raw)."""
    styles = {item["style"] for item in items if item["source"] == "iconify"}
    catalogues = {prefix: read(os.path.join(raw, packages.tag_folder(prefix), "package"))
                  for prefix, (read, _) in READERS.items() if prefix in styles}
    found = {}
    for item in items:
        if item["source"] != "iconify" or item["style"] not in catalogues:
            continue
        name = item["id"].rsplit("/", 1)[1]
        tags = icon_tags(item["style"], name, catalogues[item["style"]])
        if tags:
            found[item["id"]] = tags
    return found
