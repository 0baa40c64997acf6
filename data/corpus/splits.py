"""Honest splits of the corpus:

  zeroshot  concepts named by rare words, every picture of them; their words are taken out of
            all other captions, so no word of a zero-shot caption is in any training caption
  style     whole styles held out (pictures of training concepts drawn in a way training never
            shows): Apple and Facebook emoji (their licences allow evaluation only) and the
            Iconify sets in HELD_OUT_STYLES
  val       5% of the remaining concepts, every picture of them (for early stopping)
  train     the rest"""
import collections
import random
import re

SEED = 20261126
# Font Awesome's sets are one family drawn alike: all of them are held out together.
HELD_OUT_STYLES = ("emoji-apple", "emoji-facebook", "iconoir", "fa-solid", "fa-regular", "fa6-solid", "fa6-regular")

STOPWORDS = set("""a an the of with and in on at to for by from or as its it is this that
ο η το οι τα του της των τον την με και σε στο στη στην στον στα στις στους για από ένα μια ένας""".split())


# What training's caption rewording adds (train/text_augment.cpp: its templates, and the words
# english_sentence_words() lists, which a test compares with this set): never a zero-shot word.
FRAMING_WORDS = {"picture", "image", "photo", "icon", "drawing", "sketch", "clipart", "cartoon", "symbol", "simple",
                 "εικόνα", "εικονίδιο", "σχέδιο", "ζωγραφιά",
                 "show", "me", "am", "looking", "find", "search", "searching", "do", "you", "have", "need", "want",
                 "can", "give", "style", "my", "slide", "website", "school", "project", "please", "poster",
                 "presentation", "there", "are", "shows"}
# Colour words (each one train/image_augment.cpp's colour_word too, which a test checks): a
# definition names the real thing's colour ("lemon": "yellow oval fruit"), which a drawing of it
# may not have.
COLOUR_WORDS = {"red", "reddish", "orange", "yellow", "yellowish", "green", "greenish", "blue", "bluish", "purple",
                "purplish", "violet", "pink", "pinkish", "brown", "brownish", "black", "white", "grey", "gray",
                "greyish", "grayish", "gold", "golden", "silver", "silvery", "beige", "cyan", "magenta", "turquoise",
                "navy", "maroon", "crimson", "scarlet", "indigo", "teal", "khaki", "ivory", "amber", "bronze",
                "colour", "color", "colored", "coloured", "colorful", "colourful", "rainbow", "blond", "blonde"}
IRREGULAR_SINGULAR = {"men": "man", "women": "woman", "children": "child", "people": "person", "mice": "mouse",
                      "feet": "foot", "teeth": "tooth", "geese": "goose", "leaves": "leaf", "knives": "knife",
                      "wolves": "wolf", "shelves": "shelf", "halves": "half", "lives": "life", "dice": "die"}


def singular(word):
    """An English word's singular, as far as regular rules go ("calendars" -> "calendar",
    "boxes" -> "box", "babies" -> "baby"), so a word and its plural count as one word: training's
    rewording makes plurals of training captions."""
    if word in IRREGULAR_SINGULAR:
        return IRREGULAR_SINGULAR[word]
    if not word.isascii() or len(word) < 4:
        return word
    if word.endswith("men") and len(word) > 4:
        return word[:-3] + "man"
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if re.search(r"(ss|x|z|ch|sh|o)es$", word):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def words_of(text):
    return [singular(w) for w in re.findall(r"[^\W\d_]+", text.lower()) if w not in STOPWORDS and len(w) > 1]


def name_key(item):
    """The words of an item's English name, in any order and number: "sports car", "car sports"
    and "sports cars" are one name."""
    en = item["captions"]["en"]
    if not en:
        return ""
    return " ".join(sorted(set(words_of(en[0].split(":")[0]))))


def unify_concepts(items):
    """One concept per thing, whichever source drew it: an icon, a clip-art drawing or a stamp
    named like an emoji takes the emoji's concept, and same-named ones share one. Pictures of
    one concept are positives in training's loss, never negatives."""
    by_name = {}
    for item in items:
        key = name_key(item)
        if key and item["concept"].startswith("emoji:"):
            by_name.setdefault(key, item["concept"])
    for item in items:
        key = name_key(item)
        if key and not item["concept"].startswith("emoji:"):
            item["concept"] = by_name.get(key, "name:" + key)


def make_splits(items, zeroshot_share=0.04, val_share=0.05, held_out=HELD_OUT_STYLES, rare=4):
    """Zero-shot concepts are drawn among those all of whose caption words are rare (in at most
    `rare` concepts); their words are then taken out of every other item's captions (a keyword
    dropped from a keyword list, a plain caption dropped whole), so no training caption holds
    any of them. An item left without captions is left out (returned as rejects).
    Returns (splits, rejects)."""
    rng = random.Random(SEED)
    concept_words = collections.defaultdict(set)
    for item in items:
        for captions in item["captions"].values():
            for caption in captions:
                concept_words[item["concept"]].update(words_of(caption))
    concepts = sorted(concept_words)
    document_frequency = collections.Counter(w for c in concepts for w in concept_words[c])
    candidates = [c for c in concepts if concept_words[c] and max(document_frequency[w] for w in concept_words[c]) <= rare
                  and not concept_words[c] & FRAMING_WORDS]
    rng.shuffle(candidates)
    target = int(zeroshot_share * len(concepts))
    zeroshot, taken_words = set(), set()
    for c in candidates:
        if len(zeroshot) >= target:
            break
        zeroshot.add(c)
        taken_words |= concept_words[c]
    rejects = []
    for item in items:
        if item["concept"] in zeroshot:
            continue
        for language, captions in item["captions"].items():
            kept = []
            for caption in captions:
                if not set(words_of(caption)) & taken_words:
                    kept.append(caption)
                elif ": " in caption:
                    name, keywords = caption.split(": ", 1)
                    if set(words_of(name)) & taken_words:
                        continue
                    rest = [k for k in keywords.split(", ") if not set(words_of(k)) & taken_words]
                    if rest:
                        kept.append(name + ": " + ", ".join(rest))
            item["captions"][language] = kept
        if not item["captions"].get("en"):
            rejects.append((item["id"], "every English caption names a zero-shot concept's words"))

    left_out = {i for i, _ in rejects}
    train_concepts = sorted({i["concept"] for i in items if i["concept"] not in zeroshot and i["id"] not in left_out})
    val = set(rng.sample(train_concepts, int(val_share * len(train_concepts))))
    splits = {"train": [], "val": [], "zeroshot": [], "style": []}
    for item in items:
        if item["id"] in left_out:
            continue
        if item["concept"] in zeroshot:
            splits["zeroshot"].append(item["id"])
        elif item["style"] in held_out:
            splits["style"].append(item["id"])
        elif item["concept"] in val:
            splits["val"].append(item["id"])
        else:
            splits["train"].append(item["id"])
    return splits, rejects


def trained_texts(item, definitions=True, search_tags=True):
    """The lists of texts training reads of an item: its captions in each language, then its
    definitions (train/corpus.h) unless `definitions` is false (a model trained with
    --definition-weight 0 never reads them), then its search tags unless `search_tags` is false
    (likewise --search-tags-weight 0)."""
    return (list(item["captions"].values()) + ([item.get("definitions", [])] if definitions else [])
            + ([item.get("search_tags", [])] if search_tags else []))


def zeroshot_words(items, splits):
    """Every word of every zero-shot caption: no training text may hold one."""
    ids = set(splits["zeroshot"])
    return {w for item in items if item["id"] in ids
            for captions in item["captions"].values() for caption in captions for w in words_of(caption)}


def val_names(items, splits):
    """The English names of val concepts, lower-case ("car", "sports car"): text pairs leave
    them out, so val's concepts stay unseen in every form."""
    ids = set(splits["val"])
    return {caption.split(":")[0].strip().lower() for item in items if item["id"] in ids
            for caption in item["captions"]["en"]}


def add_definitions(items, splits, wordnet):
    """WordNet's definition of each item's name, as the item's "definitions" (English): training
    takes it as one more caption, so that what a thing is for or looks like finds it ("a place to
    sleep" -> bed), while judging and the index's captions keep to the names (a definition of a
    bookmark that says "book" does not make it a book). Added after the splits are
    drawn, so they are what they were without it; zero-shot items get none, and a definition
    holding a zero-shot concept's word, or naming a colour, is left out. Only the name is
    defined, in either word order ("car sports", "sports car"), never an alias or a synonym (a
    "star" icon's alias "class" would be "a body of students"). Returns how many items got one."""
    zeroshot_ids = set(splits["zeroshot"])
    excluded = zeroshot_words(items, splits)
    added = 0
    for item in items:
        english = item["captions"]["en"]
        if item["id"] in zeroshot_ids or not english or ":" in english[0]:
            continue
        name = sorted(words_of(english[0]))
        for caption in english[:3]:
            if ":" in caption or sorted(words_of(caption)) != name:
                continue
            definition = wordnet.definition(caption)
            if definition:
                kept = set(words_of(definition))
                if definition not in english and not kept & excluded and not kept & COLOUR_WORDS:
                    item["definitions"] = [definition]
                    added += 1
                break
    return added


def add_search_tags(items, splits, tags_of, max_tags=12):
    """An icon set's own search tags (corpus.icon_tags) as the item's "search_tags" (English): training
    may read them as one more caption, "name: tag, tag, ..." (train/corpus.h), so that the
    words people search an icon by ("kitty", "meow") find it, while judging and the index's
    captions keep to the names. Added after the splits are drawn, so they are what they were
    without it. Zero-shot items get none; a tag holding a zero-shot concept's word or naming a
    colour is left out, and so is one holding a val concept's whole name (val's concepts stay
    unseen by name, as in text pairs), and one the item's captions or an earlier tag already hold. Returns how
    many items got tags."""
    zeroshot_ids = set(splits["zeroshot"])
    excluded = zeroshot_words(items, splits)
    val_word_sets = [set(words_of(name)) for name in val_names(items, splits)]
    val_word_sets = [w for w in val_word_sets if w]
    tagged = 0
    for item in items:
        tags = tags_of.get(item["id"])
        if not tags or item["id"] in zeroshot_ids or not item["captions"]["en"]:
            continue
        held = {" ".join(words_of(c)) for caption in item["captions"]["en"] for c in re.split(r": |, ", caption)}
        kept = []
        for tag in tags:
            tag_words = words_of(tag)
            words, key = set(tag_words), " ".join(tag_words)
            if (not words or words & excluded or words & COLOUR_WORDS or key in held
                    or any(v <= words for v in val_word_sets)):
                continue
            held.add(key)  # "animal" and "animals" are one tag
            kept.append(tag)
        if kept:
            item["search_tags"] = kept[:max_tags]
            tagged += 1
    return tagged


def check_splits(items, splits, held_out=HELD_OUT_STYLES, text_pairs=()):
    """Raises SystemExit when a split leaks: a zero-shot word in training (captions,
    definitions or text pairs), a val concept or a held-out style in training, a val name in a
    text pair, an item in two splits."""
    by_id = {i["id"]: i for i in items}
    seen = {}
    for name, ids in splits.items():
        for ident in ids:
            if ident in seen:
                raise SystemExit(f"build-corpus: {ident} is in both {seen[ident]} and {name}")
            seen[ident] = name
    train_words, train_concepts = set(), set()
    for ident in splits["train"]:
        train_concepts.add(by_id[ident]["concept"])
        if by_id[ident]["style"] in held_out:
            raise SystemExit(f"build-corpus: {ident} of held-out style {by_id[ident]['style']} is in training")
    for ident in splits["train"] + splits["val"]:
        for captions in trained_texts(by_id[ident]):
            for caption in captions:
                train_words.update(words_of(caption))
    names = val_names(items, splits)
    for pair in text_pairs:
        train_words.update(words_of(pair["a"]) + words_of(pair["b"]))
        for side in (pair["a"], pair["b"]):
            if side in names:
                raise SystemExit(f"build-corpus: text pair {pair['a']!r} - {pair['b']!r} names val concept {side!r}")
    for ident in splits["val"]:
        if by_id[ident]["concept"] in train_concepts:
            raise SystemExit(f"build-corpus: val concept {by_id[ident]['concept']} is also in training")
    for ident in splits["zeroshot"]:
        if by_id[ident].get("definitions"):
            raise SystemExit(f"build-corpus: zero-shot item {ident} has a definition")
        for captions in by_id[ident]["captions"].values():
            for caption in captions:
                leaked = set(words_of(caption)) & train_words
                if leaked:
                    raise SystemExit(f"build-corpus: zero-shot caption {caption!r} shares {sorted(leaked)} with training")
