"""Words around a caption, from Debian's dictionaries:

  WordNet (wordnet-base): a noun phrase's synonyms and its kinds ("cat" -> "true cat";
  kinds "feline", "felid"), from its most common sense only, so "cat" never becomes "guy";
  and that sense's definition ("bed" -> "a piece of furniture that provides a place to sleep").
  FreeDict English<->Greek (dict-freedict-eng-ell, dict-freedict-ell-eng): a Greek name for
  an English word or phrase where CLDR gives none.
  wamerican + WordNet lemmas: which lower-case tokens are English words."""
import gzip
import os
import re

# Kinds too abstract to help a person searching ("entity", "whole", "artifact").
ABSTRACT = {
    "entity", "physical entity", "abstraction", "abstract entity", "object", "physical object", "whole", "unit",
    "artifact", "artefact", "matter", "thing", "organism", "being", "living thing", "animate thing", "causal agent",
    "cause", "causal agency", "instrumentality", "instrumentation", "part", "portion", "component", "attribute",
    "group", "grouping", "relation", "measure", "quantity", "amount", "psychological feature", "event",
    "act", "deed", "human action", "human activity", "communication", "content", "cognitive content",
    "mental object", "state", "material", "stuff", "substance", "commodity", "trade good", "good", "article",
    "structure", "construction", "device", "container", "covering", "creation", "representation", "shape", "form",
    "location", "region", "point", "signal", "signaling", "sign", "symbol", "natural object", "chordate",
    "vertebrate", "craniate", "placental", "placental mammal", "eutherian", "eutherian mammal", "person",
    "individual", "someone", "somebody", "mortal", "soul", "adult", "worker", "solid", "food", "nutrient",
    "foodstuff", "food product", "plant part", "plant structure", "vascular plant", "tracheophyte",
    "acquisition", "possession", "transferred property", "transferred possession", "action", "activity",
    "change", "property", "quality", "happening", "occurrence", "message", "written communication",
}


def _tagged_senses(folder, pos):
    """lemma -> how often its senses of this part of speech are tagged in WordNet's corpus."""
    counts = {}
    with open(os.path.join(folder, "index." + pos), encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith(" "):
                continue
            parts = line.split()
            n_pointers = int(parts[3])
            counts[parts[0]] = int(parts[5 + n_pointers])
    return counts


class WordNet:
    def __init__(self, folder):
        self.index = {}      # lemma -> [synset offsets], most common sense first
        self.folder = folder
        with open(os.path.join(folder, "index.noun"), encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(" "):
                    continue
                parts = line.split()
                n_synsets, n_pointers = int(parts[2]), int(parts[3])
                offsets = parts[6 + n_pointers:6 + n_pointers + n_synsets]
                self.index[parts[0]] = offsets
        with open(os.path.join(folder, "data.noun"), "rb") as f:
            self.data = f.read()
        self.lemmas = set(k for k in self.index if "_" not in k)
        noun_use = _tagged_senses(folder, "noun")
        verb_use, adjective_use = _tagged_senses(folder, "verb"), _tagged_senses(folder, "adj")
        # "save", "add", "reset" on a UI icon are verbs: their noun senses ("a save in hockey")
        # would caption the icon wrongly.
        self.mostly_not_noun = {w for w, n in noun_use.items()
                                if max(verb_use.get(w, 0), adjective_use.get(w, 0)) > n}
        self.lemmas |= set(verb_use) | set(adjective_use)
        # Nouns often used as adjectives ("female", "male": the icon sets' gender signs, no animals).
        self.often_adjective = {w for w, n in noun_use.items() if adjective_use.get(w, 0) > 0 and
                                2 * adjective_use[w] >= n}
        # Every one-word entry of any part of speech ("forest", "sweater", "outer", "boxing"): a
        # word of its own, whatever its ending looks like.
        self.entries = set()
        for pos in ("noun", "verb", "adj", "adv"):
            with open(os.path.join(folder, "index." + pos), encoding="utf-8", errors="replace") as f:
                self.entries.update(w for w in (line.split(" ", 1)[0] for line in f if not line.startswith(" "))
                                    if "_" not in w)
        # How often each noun sense was tagged in WordNet's corpus (cntlist.rev: "cat%1:05:00:: 1 18").
        self.sense_counts = {}
        with open(os.path.join(folder, "cntlist.rev"), encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.split()
                if len(parts) == 3 and "%1:" in parts[0]:
                    lemma = parts[0].split("%", 1)[0]
                    self.sense_counts.setdefault(lemma, {})[int(parts[1])] = int(parts[2])

    def synset(self, offset):
        """(lemmas, hypernym offsets) of a noun synset."""
        start = int(offset)
        end = self.data.index(b"\n", start)
        parts = self.data[start:end].decode("utf-8", "replace").split(" | ")[0].split()
        n_words = int(parts[3], 16)
        words = [parts[4 + 2 * i].replace("_", " ") for i in range(n_words)]
        words = [re.sub(r"\(.*\)$", "", w).lower() for w in words]
        i = 4 + 2 * n_words
        n_ptr = int(parts[i])
        hypernyms = []
        for k in range(n_ptr):
            symbol, target, pos = parts[i + 1 + 4 * k], parts[i + 2 + 4 * k], parts[i + 3 + 4 * k]
            if symbol in ("@", "@i") and pos == "n":
                hypernyms.append(target)
        return words, hypernyms

    def lexicographer_file(self, offset):
        """The two-digit lexicographer file of a noun synset ("05" animals, "06" artifacts, "18" people)."""
        start = int(offset)
        return self.data[start:start + 12].split()[1].decode()

    def is_instance(self, offset):
        """Whether a noun synset is one named thing ("Thomas Nast", "Paris": an instance of a
        kind), not a kind of thing."""
        start = int(offset)
        head = self.data[start:self.data.index(b"\n", start)].split(b" | ")[0]
        return b" @i " in head

    # Lexicographer files (data.noun's second field) of concrete things: artifact, animal, body,
    # food, location, plant. A plural lemma outside them is mostly an idiom ("peanuts": "an
    # insignificant sum of money", "eyes": "opinion or judgment", "hands": "guardianship").
    CONCRETE_FILES = {"05", "06", "08", "13", "15", "20"}

    def definition(self, phrase, max_words=16):
        """The definition of a phrase's most common noun sense as a caption, or None: WordNet's
        gloss without parentheses, examples or the list after a colon, at most two of its ';'
        parts and `max_words` words ("giraffe" -> "tallest living quadruped; having a spotted
        coat and small horns and very long neck and legs"). None for a plural that is mostly an
        idiom (CONCRETE_FILES) and for parts about usage ("used in the plural", `quoted')."""
        key = phrase.strip().lower().replace(" ", "_")
        if not self.names_a_thing(key):
            return None
        start = int(self.index[key][0])
        line = self.data[start:self.data.index(b"\n", start)].decode("utf-8", "replace")
        if " | " not in line:
            return None
        head, gloss = line.split(" | ", 1)
        if key.endswith("s") and key[:-1] in self.index and head.split()[1] not in self.CONCRETE_FILES:
            return None
        gloss = re.sub(r"\([^)]*\)", "", gloss)      # parentheses first: they may hold quotes
        gloss = re.split(r';?\s*"', gloss)[0]          # examples: '; "the cat sat on the mat"'
        gloss = gloss.split(":")[0]
        parts = [" ".join(p.split()) for p in gloss.split(";")]
        parts = [p for p in parts if p and "`" not in p and "used in the" not in p]
        kept = []
        for p in parts[:2]:
            if len(" ".join(kept + [p]).split()) > max_words:
                break
            kept.append(p)
        text = "; ".join(kept).lower().strip(" ,.")
        return text if len(text.split()) >= 2 else None

    def names_a_thing(self, key):
        """Whether a lemma ("sports_car") is a noun whose most common sense is what it means:
        WordNet's words for it, and a dictionary's Greek name for it, then fit a picture of it."""
        return key in self.index and key not in self.mostly_not_noun and self.dominant_first_sense(key)

    def dominant_first_sense(self, key):
        """Whether a lemma's first noun sense is what it almost always means: at least 60% of its
        tagged uses ("car", "cat", "tree"), or its only sense. "heart" (42 of 84), "club" and
        "family" are not, and their first sense's words would caption pictures wrongly."""
        counts = self.sense_counts.get(key, {})
        total = sum(counts.values())
        if total == 0:
            return len(self.index[key]) == 1
        return counts.get(1, 0) >= 0.6 * total

    def expand(self, phrase, levels=2):
        """(synonyms, kinds) of a phrase's most common noun sense; ([], []) when WordNet lacks it."""
        key = phrase.strip().lower().replace(" ", "_")
        if not self.names_a_thing(key):
            return [], []
        words, hypernyms = self.synset(self.index[key][0])
        synonyms = [w for w in words if w != phrase.lower() and len(w) > 2]
        kinds, frontier = [], hypernyms
        for _ in range(levels):
            following = []
            for offset in frontier:
                hw, hh = self.synset(offset)
                kinds.extend(w for w in hw[:2] if w not in ABSTRACT and w not in kinds)
                following.extend(hh)
            frontier = following
        return synonyms[:3], kinds[:4]


def _dictd(path_index, path_dict):
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

    def b64(s):
        n = 0
        for c in s:
            n = n * 64 + alphabet.index(c)
        return n

    data = gzip.open(path_dict).read()
    entries = {}
    for line in open(path_index, encoding="utf-8", errors="replace"):
        parts = line.rstrip("\n").split("\t")
        if len(parts) != 3 or parts[0].startswith("00database"):
            continue
        body = data[b64(parts[1]):b64(parts[1]) + b64(parts[2])].decode("utf-8", "replace")
        lines = [l.strip() for l in body.split("\n")[1:] if l.strip()]
        translations = []
        for l in lines[:1]:  # the first sense only: later lines are other meanings ("box": "πυγμαχώ")
            for t in re.split(r"[,;]", re.sub(r"\([^)]*\)", "", l)):
                t = t.strip().lower()
                if t and len(t.split()) <= 3:
                    translations.append(t)
        entries.setdefault(parts[0].lower(), translations)
    return entries


class Greek:
    """English word or phrase -> a Greek name, from FreeDict: the first translation of the first
    sense, never a verb; where English->Greek lacks the word, a Greek word with that one sense."""

    def __init__(self, eng_ell_folder, ell_eng_folder):
        eng = _dictd(os.path.join(eng_ell_folder, "freedict-eng-ell.index"),
                     os.path.join(eng_ell_folder, "freedict-eng-ell.dict.dz"))
        ell = _dictd(os.path.join(ell_eng_folder, "freedict-ell-eng.index"),
                     os.path.join(ell_eng_folder, "freedict-ell-eng.dict.dz"))
        greek_letters = re.compile(r"^[\u0370-\u03ff\u1f00-\u1fff ]+$")
        # Greek verbs end so in the dictionary's first person ("θολώνω", "ταχυδρομώ", "στέλνομαι"):
        # a picture's name is a noun.
        verb = re.compile(r"(ω|ώ|ομαι|ούμαι|άμαι|ιέμαι|είμαι)$")
        self.table, self.reverse = {}, {}
        for english, greek in eng.items():
            names = [g for g in greek if greek_letters.match(g) and not verb.search(g)]
            if names:
                self.table[english] = names[:1]
        # Where English->Greek lacks a word, a Greek word whose only English sense is exactly
        # that word names it ("save" is also a preposition: one-sense entries only).
        for greek, english in ell.items():
            if len(english) == 1 and greek_letters.match(greek) and not verb.search(greek) and english[0] not in self.table:
                self.reverse.setdefault(english[0], []).append(greek)
        for english, names in self.reverse.items():
            self.table[english] = names[:1]
        # Greek word -> its English translations, without the dictionary's sense numbers ("1. bird").
        self.english = {g: [re.sub(r"^\d+\.\s*", "", e) for e in english] for g, english in ell.items()}

    def names(self, english_phrase, wordnet=None):
        """Greek names of an English noun phrase ([] for words mostly used as verbs or adjectives)."""
        key = english_phrase.strip().lower()
        if wordnet is not None:
            lemma = key.replace(" ", "_")
            if not wordnet.names_a_thing(lemma):
                return []
        return self.table.get(key, [])

    def translates_back(self, greek_name, english_phrase):
        """Whether the dictionary gives `english_phrase` among the Greek name's translations."""
        return english_phrase.strip().lower() in self.english.get(greek_name, [])


def english_dictionary(wordnet=None):
    path = "/usr/share/dict/american-english"
    if not os.path.exists(path):
        raise SystemExit("build-corpus: /usr/share/dict/american-english is missing (apt-get install wamerican)")
    common, names = set(), set()
    for line in open(path, encoding="utf-8", errors="replace"):
        word = line.strip()
        if word.isalpha():
            (common if word.islower() else names).add(word.lower())
    if wordnet is not None:
        common |= wordnet.lemmas
    return common, names
