"""Icon names into words a person would type, or a reason why no caption can describe the icon.

  clean_icon_name("car-sports-outline", "mdi")  -> Cleaned(words=["car", "sports"], style=["outline"])
  caption_phrases(cleaned, "mdi")              -> ["car sports", "sports car"]

Style and size tokens (outline, filled, 24, duotone, ...) say how an icon is drawn, not what it
shows: they are dropped from the words and kept as the item's style variant. Abbreviations are
spelt out. What is left must be mostly English words, or the icon is rejected."""
import re
from dataclasses import dataclass, field

# Tokens that only ever describe the drawing, not the thing drawn: dropped wherever they are.
STYLE_TOKENS = {
    "outline", "outlined", "filled", "solid", "regular", "duotone", "twotone", "baseline", "remix", "negative",
    "alt", "variant", "stroked", "glyph", "px", "minimalistic", "sm", "lg", "md", "xs", "xl", "v1", "v2",
}
# Tokens that name a drawing style in some sets but a thing in others ("heart-broken",
# "light-bulb", "round-table", "text-color"): dropped only at the end of a name of a set that
# uses them so.
TRAILING_STYLE_TOKENS = {"line", "linear", "fill", "light", "thin", "bold", "round", "rounded", "sharp", "mini",
                         "micro", "color", "colored", "stroke", "duo", "simple", "o"}
# Sets whose names end in such style tokens (checked by looking at their names); Solar also
# ends names in "broken" (a broken-line drawing), which elsewhere means broken.
SETS_WITH_TRAILING_STYLES = {
    "solar", "ph", "material-symbols", "material-symbols-light", "ic", "mingcute", "ri", "fluent", "tabler",
    "iconamoon", "basil", "majesticons", "mynaui", "streamline", "heroicons", "clarity", "lets-icons", "bi", "eva",
    "ion", "teenyicons", "mage", "flowbite", "tdesign", "jam", "la",
}
EXTRA_TRAILING_STYLES = {"solar": {"broken"}}
# Short words that never start the second reading of a two-word name ("log in" is not "in log").
NOT_A_MODIFIER_SWAP = {"in", "out", "on", "off", "up", "down", "plus", "minus", "add", "remove", "check", "x",
                       "open", "close", "left", "right", "top", "bottom", "back", "next", "all", "none", "new"}
# Whole prefixes some sets use for the style ("outline-smoke-free" in ic).
STYLE_PREFIXES = ("baseline-", "outline-", "round-", "sharp-", "twotone-")

ABBREVIATIONS = {
    "btn": "button", "img": "image", "pic": "picture", "msg": "message", "doc": "document", "docs": "documents",
    "info": "information", "calc": "calculator", "temp": "temperature", "tv": "television", "pc": "computer",
    "ac": "air conditioner", "id": "identity card", "db": "database", "bg": "background", "pdf": "pdf document",
    "sms": "text message", "gps": "location", "wifi": "wifi", "bt": "bluetooth", "fav": "favourite",
    "nav": "navigation", "ui": "interface", "hd": "high definition", "atm": "cash machine", "sos": "emergency",
    "wc": "toilet", "usb": "usb plug", "cd": "compact disc", "dvd": "disc", "cctv": "security camera",
}
# Words that are dictionary-valid although a small English word list may lack them.
EXTRA_WORDS = {"wifi", "emoji", "smiley", "bluetooth", "usb", "pdf", "online", "offline", "email", "website",
               "smartphone", "laptop", "checkbox", "hashtag", "playlist", "podcast", "login", "logout", "signup",
               "ok", "qr", "barcode", "webcam", "headphones", "headset", "selfie", "cellphone", "emoticon"}

SPINNER = re.compile(r"(^|-)(loading|loader|spinner|spinners|progress-activity)(-|$)")
LETTER_OR_DIGIT = re.compile(
    r"^(alpha|alphabet|alphabetical|letter|letters|numeric|number|numbers|roman-numeral|alpha-[a-z]|format-letter|"
    r"character|char|math-symbol|abjad|hiragana|katakana|abugida|input-latin)(-|$)")
# Sets that mark brand marks: a prefix or suffix in the name, or a metadata category.
BRAND_NAME = re.compile(r"(^brand-|-logo$|-logo-|^logo-|^ibm-|^social-)")
BRAND_CATEGORIES = {"brand / logo", "brands", "logos", "brand", "brand logos"}


@dataclass
class Cleaned:
    words: list = field(default_factory=list)   # what is drawn, in the set's order
    style: list = field(default_factory=list)   # how it is drawn ("outline", "filled")
    reject: str = ""                            # why no caption can describe it ("" if none)


def split_name(name):
    name = re.sub(r"([a-z])([A-Z])", r"\1-\2", name)
    return [t for t in re.split(r"[-_\s./]+", name.lower()) if t]


def clean_icon_name(name, prefix="", category="", dictionary=None):
    """dictionary: a set of known lower-case English words (the rejection of non-words needs it)."""
    if category and category.strip().lower() in BRAND_CATEGORIES:
        return Cleaned(reject="brand mark")
    lowered = name.lower()
    if BRAND_NAME.search(lowered):
        return Cleaned(reject="brand mark")
    if SPINNER.search(lowered):
        return Cleaned(reject="spinner or loading indicator")
    for p in STYLE_PREFIXES:
        if lowered.startswith(p) and prefix == "ic":
            lowered = lowered[len(p):]
            break
    if LETTER_OR_DIGIT.search(lowered):
        return Cleaned(reject="letter, digit or script sign")
    tokens = split_name(lowered)
    trailing = []
    while prefix in SETS_WITH_TRAILING_STYLES and len(tokens) > 1 and (
            tokens[-1] in TRAILING_STYLE_TOKENS or tokens[-1] in STYLE_TOKENS or tokens[-1].isdigit()
            or tokens[-1] in EXTRA_TRAILING_STYLES.get(prefix, ())):
        trailing.insert(0, tokens.pop())
    words, style = [], []
    for t in tokens:
        if t in STYLE_TOKENS or re.fullmatch(r"\d+(px|x\d+)?", t) or re.fullmatch(r"\d+x\d+", t):
            style.append(t)
        elif t in ABBREVIATIONS:
            words.extend(ABBREVIATIONS[t].split())
        else:
            words.append(t)
    style += trailing
    if not words:
        return Cleaned(style=style, reject="only style or size tokens")
    if all(len(w) == 1 or w.isdigit() for w in words):
        return Cleaned(words=words, style=style, reject="letter, digit or script sign")
    if dictionary is not None:
        known = [w for w in words if w in dictionary or w in EXTRA_WORDS or w.isdigit()]
        if not any(len(w) > 2 and not w.isdigit() for w in known):
            return Cleaned(words=words, style=style, reject="no English word in the name")
        if len(known) * 3 < len(words) * 2:
            return Cleaned(words=words, style=style, reject="name not mostly English words")
    words = [w for w in words if not w.isdigit() or len(words) == 1]
    return Cleaned(words=words, style=style)


def caption_phrases(cleaned, prefix=""):
    """Phrases for a cleaned name. Material Design Icons name the thing first and the kind after
    ("car-sports", "account-child"): both orders are given for its two-word names."""
    phrase = " ".join(cleaned.words)
    phrases = [phrase]
    if (prefix == "mdi" and len(cleaned.words) == 2 and cleaned.words[0] != cleaned.words[1]
            and not set(cleaned.words) & NOT_A_MODIFIER_SWAP):
        phrases.append(f"{cleaned.words[1]} {cleaned.words[0]}")
    return phrases


def concept_key(cleaned):
    """The same thing named in any order by any set is one concept ("car sports" = "sports car")."""
    return "icon:" + " ".join(sorted(set(cleaned.words)))


def category_keywords(category):
    """Iconify metadata categories as keywords: "Food / Drink" -> ["food", "drink"]; UI-only ones dropped."""
    if not category:
        return []
    parts = [p.strip().lower() for p in re.split(r"[/&,]| and ", category) if p.strip()]
    return [p for p in parts if re.fullmatch(r"[a-z][a-z ]{2,30}", p) and p not in
            {"other", "misc", "miscellaneous", "general", "editor", "system", "interface", "ui", "layout"}]
