"""Clip art with descriptions: Tux Paint's stamps (English and Greek descriptions) and the
Open Clip Art Library's SVGs (titles and keywords, English ones only). SVGs render at 384 px,
the whole page: drawings often fill only part of it (trimmed when loading)."""
import collections
import html
import os
import re

LICENCES = {"tuxpaint": "GPL-2", "openclipart": "Public domain (Open Clip Art Library)"}
RENDER_SIZE = 384

# Keywords the library's export added to many files ("hash" is what is left of "hash(0x...)").
JUNK_KEYWORDS = {"hash", "clip art", "clipart", "image", "media", "png", "svg", "public domain", "externalsource"}


def tuxpaint_items(raw, cache, rejects):
    root = os.path.join(raw, "tuxpaint-stamps-default/usr/share/tuxpaint/stamps")
    render_root = os.path.join(cache, "corpus", f"render-{RENDER_SIZE}", "tuxpaint")
    items, to_render = [], []
    for folder, _, files in os.walk(root):
        names = set(files)
        for f in sorted(files):
            if not f.endswith(".txt"):
                continue
            base = f[:-4]
            rel = os.path.relpath(os.path.join(folder, base), root)
            ident = "tuxpaint/" + rel
            lines = open(os.path.join(folder, f), encoding="utf-8", errors="replace").read().splitlines()
            english = lines[0].strip() if lines else ""
            greek = next((l.split("=", 1)[1].strip() for l in lines if l.startswith("el.utf8=")), "")
            if not english or "=" in english[:12]:
                rejects.append((ident, "no English description"))
                continue
            if base + ".png" in names:
                image = os.path.join(folder, base + ".png")
            elif base + ".svg" in names:
                image = os.path.join(render_root, rel + ".png")
                to_render.append((os.path.join(folder, base + ".svg"), image, ident))
            else:
                rejects.append((ident, "description without an image"))
                continue
            items.append({"id": ident, "image": image, "captions": {"en": [english], "el": [greek] if greek else []},
                          "concept": "tuxpaint:" + rel, "source": "tuxpaint", "style": "tuxpaint",
                          "licence": LICENCES["tuxpaint"]})
    return items, [("file", svg, png, RENDER_SIZE) for svg, png, _ in to_render]


def is_english(title, dictionary):
    common, names = dictionary
    words = [w for w in re.findall(r"[A-Za-z]+", title) if len(w) > 1]
    if not words:
        return False
    known = sum(1 for w in words if w.lower() in common or (w[0].isupper() and w.lower() in names))
    return known * 4 >= len(words) * 3


def clean_clipart_title(title, creator):
    title = html.unescape(title or "").strip()
    title = re.sub(r"^clipart by .*? - ", "", title, flags=re.I)
    title = re.sub(r"\([^)]*\)", " ", title)                 # "(correct)", "(1 scoop)"
    title = re.sub(r"([a-z])([A-Z])", r"\1 \2", title)      # camelCase
    title = re.sub(r"[_\-./]+", " ", title)
    title = re.sub(r"\d+", " ", title)
    title = re.sub(r"\s+", " ", title).strip()
    if creator and title.lower() == creator.strip().lower():
        return ""
    return title


def svg_metadata(path):
    text = open(path, encoding="utf-8", errors="replace").read(400000)
    title = re.search(r"<dc:title>([^<]*)</dc:title>", text)
    creator = re.search(r"<dc:creator>.*?<dc:title>([^<]*)</dc:title>", text, re.S)
    keywords = re.search(r"<dc:subject>(.*?)</dc:subject>", text, re.S)
    keyword_list = re.findall(r"<rdf:li>([^<]*)</rdf:li>", keywords.group(1)) if keywords else []
    return (title.group(1) if title else "", creator.group(1) if creator else "",
            [html.unescape(k).strip().lower() for k in keyword_list if k.strip()])


def name_words(cleaned):
    """The words of three letters or more of a cleaned title or file name (clean_clipart_title:
    "green_pear_01" -> "green pear" -> green, pear)."""
    return [w for w in re.findall(r"[a-z]+", cleaned.lower()) if len(w) > 2]


def related(a, b, wordnet):
    """Whether two words may name one thing: equal, one word's stem ("apple", "apples"), or one
    among the other's WordNet synonyms and kinds ("sapphire" -> "gem")."""
    if a == b or (len(a) > 3 and len(b) > 3 and a[:4] == b[:4]):
        return True
    for x, y in ((a, b), (b, a)):
        synonyms, kinds = wordnet.expand(x, levels=3)
        if any(y in w.split() for w in synonyms + kinds):
            return True
    return False


def title_contradicts_file_name(title, file_name, wordnet, common):
    """The thing the file name names when the title names another thing ("apple.svg" titled
    "pear", "umbrella.svg" titled "bee": the library's metadata copied from another drawing);
    None when the file name is not all everyday English words (`common`: "black_lab_ganson"
    holds an author and an abbreviation), when either names nothing WordNet knows, or when any
    of their words are related. Both come cleaned by clean_clipart_title."""
    file_words, title_words = name_words(file_name), name_words(title)
    if not all(w in common for w in file_words):
        return None
    file_things = [w for w in file_words if wordnet.names_a_thing(w)]
    if not file_things or not any(wordnet.names_a_thing(w) for w in title_words):
        return None
    if any(related(a, b, wordnet) for a in file_words for b in title_words):
        return None
    return " ".join(file_things)


def openclipart_items(raw, cache, dictionary, rejects, wordnet):
    root = os.path.join(raw, "openclipart-svg/usr/share/openclipart/svg")
    render_root = os.path.join(cache, "corpus", f"render-{RENDER_SIZE}", "openclipart")
    found = []
    for folder, _, files in os.walk(root):
        for f in sorted(files):
            if f.endswith(".svg"):
                found.append(os.path.join(folder, f))
    found.sort()
    meta = {p: svg_metadata(p) for p in found}
    # A title shared by many files is a collection's name ("gramastar", "Lemon SVG theme").
    title_counts = collections.Counter(m[0].strip() for m in meta.values())
    items, to_render = [], []
    for path in found:
        rel = os.path.relpath(path, root)[:-4]
        ident = "openclipart/" + rel
        raw_title, creator, keywords = meta[path]
        if re.search(r"(^|/)(patterns?|gradients?|backgrounds?)(/|$)", rel) or "gradient" in raw_title.lower():
            rejects.append((ident, "pattern or gradient"))
            continue
        if title_counts[raw_title.strip()] >= 12:
            rejects.append((ident, f"collection title (shared by {title_counts[raw_title.strip()]} files): {raw_title.strip()[:60]}"))
            continue
        cased_title = clean_clipart_title(raw_title, creator)
        if not any(len(w) > 2 for w in re.findall(r"[A-Za-z]+", cased_title)):
            rejects.append((ident, f"no usable title: {raw_title[:60]!r}"))
            continue
        if not is_english(cased_title, dictionary):
            rejects.append((ident, f"title not English: {cased_title[:60]!r}"))
            continue
        title = cased_title.lower()
        file_name = clean_clipart_title(os.path.basename(rel), "")
        contradicted = title_contradicts_file_name(title, file_name, wordnet, dictionary[0])
        if contradicted:
            rejects.append((ident, f"title {title[:40]!r} names another thing than the file name ({contradicted})"))
            continue
        captions = [title]
        good_keywords = [k for k in keywords if re.fullmatch(r"[a-z][a-z \-]*", k) and k not in JUNK_KEYWORDS
                         and is_english(k, dictionary) and k not in title]
        if good_keywords:
            captions.append(title + ": " + ", ".join(dict.fromkeys(good_keywords)))
        image = os.path.join(render_root, rel + ".png")
        to_render.append((path, image, ident))
        items.append({"id": ident, "image": image, "captions": {"en": captions, "el": []},
                      "concept": "openclipart:" + title, "source": "openclipart", "style": "openclipart",
                      "licence": LICENCES["openclipart"]})
    return items, [("file", svg, png, RENDER_SIZE) for svg, png, _ in to_render]
