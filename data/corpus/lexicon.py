"""A model's lexicon: the words it was trained on, and how a query's other words reach them.

Written beside a model's weights as lexicon.tsv (data/build-lexicon) and read by the search
side (encoder/lexicon.h, search/query_rewrite.h). One entry a line, tab-separated:

  known  WORD COUNT      a word of the training captions, seen COUNT times (COUNT >= min_count)
  stop   LANG WORD       a function word a query's meaning does not rest on ("the", "της")
  map    WORD TARGET WHY a word the model never learnt -> known words with its meaning (WHY:
                         "synonym" or "kind" from WordNet's most common sense of the word, or
                         from the sense the icon sets' search tags use it in), or an
                         irregular inflection -> its base, seen at least 3 times as often
                         ("inflection", from WordNet's exception lists: "leaves" -> "leaf")
  real   WORD            a dictionary word the model never learnt, close in spelling to one it
                         knows: never "corrected" to that one ("cart" is not a misspelt "cat")
  keep   WORD            a known English word that is a word of its own (a WordNet entry, not the
                         plural of one), whose ending only looks like an inflection: never
                         brought to the known word it would otherwise be taken to come from
                         ("forest" is not "for" + "est", "sweater" not "sweat" + "er")
  examples PHRASE NAME...  a kind of thing -> kinds of it that many training pictures are named,
                         most pictured first ("musical instrument" -> guitar, piano, trumpet,
                         ...): a search for the kind also searches them (search/searcher.h), as a
                         small model knows the names of things far better than their kinds

Regular inflections (cats -> cat, boxes -> box, running -> run) and accents and misspellings
are worked out at search time against the known words; only what needs a dictionary is here."""
import re

from corpus.splits import trained_texts
from corpus.words import ABSTRACT

FORMAT = "opsis-lexicon 1"

# Function words: articles, pronouns, prepositions, auxiliaries and the verbs of a request
# ("show me") that carry no content of their own. Not those that name what a picture shows:
# negation ("no smoking"), place and direction ("in", "on", "up", "off"), numbers ("one"); and
# not "of", which the captions keep between the words it joins: "flag of France" finds the flag,
# "flag France" a golf flag and a Canadian region ("of" dropped: queries P@5 0.590, kept 0.591).
STOP_EN = """a an the this that these those some any each every
i me my mine you your yours he him his she her hers it its we us our they them their
at to for from by with about into onto as than
and or but so if then when while where which who whom whose what how why
is are was were be been being am do does did has have had will would can could should may might must
there here very really just also too quite
show find give get see look search want need
something someone somebody thing things""".split()

STOP_EL = """ο η το οι τα του της των τον την τους τις
ένα ένας μια μία ενός μιας
και ή αλλά με σε στο στη στην στον στα στους στις στων από για προς χωρίς μέσα πάνω κάτω
που πως πώς τι ποιος ποια ποιο είναι ήταν θα να δεν μη μην
μου σου του μας σας τους αυτό αυτή αυτός αυτά αυτές αυτοί
πολύ πιο επίσης κάτι""".split()

LETTERS = re.compile(r"[^\W\d_]+")


def words_of(text):
    """A caption's words: runs of letters, lower-cased ("T-Rex: Tyrannosaurus" -> t, rex, tyrannosaurus)."""
    return LETTERS.findall(text.lower())


def count_caption_words(items, definitions, search_tags=False):
    """How often each word appears in what training read of the items: their captions, their
    definitions when `definitions`, their search tags when `search_tags`."""
    counts = {}
    for item in items:
        for captions in trained_texts(item, definitions, search_tags):
            for caption in captions:
                for w in words_of(caption):
                    counts[w] = counts.get(w, 0) + 1
    return counts


def fold(word):
    """A word without accents and with one sigma: how a query typed without them matches."""
    import unicodedata
    decomposed = unicodedata.normalize("NFD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).replace("ς", "σ")


def spelling_key(folded):
    """What a word sounds like to a speller: "ph" as "f", "ck" as "k", a doubled letter as one
    (encoder/lexicon.cpp's spelling_key, the same)."""
    out = []
    i = 0
    while i < len(folded):
        c = folded[i]
        if c in "pc" and i + 1 < len(folded) and folded[i + 1] == ("h" if c == "p" else "k"):
            c = "f" if c == "p" else "k"
            i += 1
        if not out or out[-1] != c:
            out.append(c)
        i += 1
    return "".join(out)


def max_typos(word):
    """Edits a misspelling of a word this long may have: as search/query_rewrite.cpp allows."""
    return 0 if len(word) <= 2 else 1 if len(word) <= 6 else 2


def edit_distance(a, b):
    """Optimal string alignment distance: insertions, deletions, substitutions, transpositions."""
    d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


def _deletions(word, depth):
    out, frontier = {word}, {word}
    for _ in range(depth):
        frontier = {w[:i] + w[i + 1:] for w in frontier for i in range(len(w))}
        out |= frontier
    return out


def near_known(candidates, known):
    """The candidates within max_typos of some known word (between spelling keys): the real words
    the search side would otherwise take for misspellings of it."""
    by_key = {}
    for w in known:
        key = spelling_key(fold(w))
        for d in _deletions(key, 2):
            by_key.setdefault(d, set()).add(key)
    near = set()
    for c in candidates:
        f = fold(c)
        key = spelling_key(f)
        close = set().union(*(by_key.get(d, ()) for d in _deletions(key, max_typos(f))))
        if any(edit_distance(key, k) <= max_typos(f) for k in close):
            near.add(c)
    return near


# The endings search/query_rewrite.cpp's english_bases takes off a word (-s, -es, -ies, -ves,
# -men, -ed, -ied, -est, -iest, -er, -ier) that a word of its own may merely end in. Not -ing:
# WordNet lists most gerunds as nouns ("driving", "sitting"), and a query means the verb by
# them ("a car driving" is a car that drives).
INFLECTED_ENDINGS = ("s", "men", "ed", "est", "er")


def words_of_their_own(known, wordnet):
    """The known English words that search must not shorten: WordNet entries ending like an
    inflection — of any part of speech ("sweater", "outer", "forest"), nouns alone for -ed ("seed",
    not "cooked") — but for regular plurals of a noun ("cards" -> "card" stays allowed; "news" is
    no plural of a noun)."""
    own = set()
    for w in known:
        if not (w.isascii() and w.isalpha() and w in wordnet.entries and w.endswith(INFLECTED_ENDINGS)):
            continue
        if w.endswith("ed") and w not in wordnet.index:
            continue
        if not any(s in wordnet.index for s in regular_singulars(w)):
            own.add(w)
    return own


def regular_singulars(word):
    """The nouns a word would be the regular plural of: "cards" -> card, "boxes" -> box,
    "berries" -> berry ("tubes" -> tube, not "tub"). The plural rules of search/query_rewrite.cpp's
    english_bases, which data/tests/regular_plurals.tsv holds both to: an ending counts when
    at least two letters stand before it."""
    out = []
    if word.endswith("ies") and len(word) > 4:
        out.append(word[:-3] + "y")
    if word.endswith("es") and word[:-2].endswith(("s", "x", "z", "ch", "sh", "o")) and len(word) > 3:
        out.append(word[:-2])
    if word.endswith("s") and not word.endswith("ss") and len(word) > 2:
        out.append(word[:-1])
    return out


def wordnet_targets(wordnet, lemma, well_known):
    """Well-known words for an unknown WordNet noun, from its first (most common) sense: the
    synonyms the model knows well, else the name of its kind, one level up ("puppy" -> "dog"),
    unless that kind is too abstract to picture. Only for nouns whose first sense is what they
    almost always mean ("kitty" is first a pool of money). (targets, why) or ([], None)."""
    key = lemma.replace(" ", "_")
    if not wordnet.names_a_thing(key):
        return [], None
    words, hypernyms = wordnet.synset(wordnet.index[key][0])
    synonyms = [w for w in words if w != lemma and w in well_known]
    if synonyms:
        return sorted(synonyms, key=lambda w: -well_known[w])[:1], "synonym"
    kinds = []
    for offset in hypernyms:
        names, _ = wordnet.synset(offset)
        if not any(n in ABSTRACT for n in names):
            kinds += [n for n in names if n in well_known and n not in kinds]
    if kinds:
        return sorted(kinds, key=lambda w: -well_known[w])[:1], "kind"
    return [], None


def english_name(item):
    """An item's English name: its first caption up to a colon, lower-cased ("cat face: animal"
    -> "cat face"); None when it has no English caption."""
    return item["captions"]["en"][0].split(":")[0].strip().lower() if item["captions"]["en"] else None


def tagged_names(items):
    """{one-word search tag: [the English names of the icons it tags]}, one name per icon set
    and name (an icon's variants count once): what the icon sets mean by a word."""
    icons = {}
    for item in items:
        name = english_name(item)
        if not item.get("search_tags") or name is None:
            continue
        for tag in item["search_tags"]:
            if re.fullmatch(r"[a-z]+", tag):
                icons.setdefault(tag, set()).add((item["style"], name))
    return {tag: sorted(name for _, name in found) for tag, found in icons.items()}


def tag_sense_targets(wordnet, word, names, well_known, min_share=0.5):
    """A well-known word for an unknown word that WordNet alone cannot map (its first sense is
    not what the icon sets mean: "kitty" is first a pool of money), from the icons it tags:
    a word that most of their names (`names`) share and that one of its WordNet noun senses
    names, as a synonym, its kind or its kind's kind ("kitty": kitty, pussycat -> domestic cat
    -> cat; tagged on cat icons). Never for words mostly used as verbs or adjectives.
    (targets, why) or ([], None)."""
    key = word.replace(" ", "_")
    if key not in wordnet.index or key in wordnet.mostly_not_noun or not names:
        return [], None
    shares = {}
    for name in names:
        for w in set(LETTERS.findall(name)):
            shares[w] = shares.get(w, 0) + 1
    candidates = sorted((w for w, n in shares.items() if n >= min_share * len(names) and w in well_known),
                        key=lambda w: (-shares[w], -well_known[w], w))
    senses = [wordnet.synset(offset) for offset in wordnet.index[key]]
    for target in candidates:
        for words, hypernyms in senses:
            if target in words:
                return [target], "synonym"
            for offset in hypernyms:
                kind_words, kind_hypernyms = wordnet.synset(offset)
                if target in kind_words or any(target in wordnet.synset(o)[0] for o in kind_hypernyms):
                    return [target], "kind"
    return [], None


def picture_names(items):
    """{English name (english_name()): how many of the items are named so}."""
    names = {}
    for item in items:
        name = english_name(item)
        if name is not None:
            names[name] = names.get(name, 0) + 1
    return names


# WordNet's lexicographer file of people: the icon sets name objects by words whose first sense
# is a person ("speaker", "ruler", "user", even "whale"), so no such name is an example.
PEOPLE = "18"
# Lexicographer files of things a picture shows: animals, artifacts, the body, food, places,
# natural objects, phenomena (weather), plants, possessions (money), shapes, substances; and of
# the acts (file 04), sports alone. A kind most of whose examples lie elsewhere is an
# abstraction ("idea": copyright, sort, schedule, strategy; "selection": vote, step,
# appointment) whose examples would answer nothing a person asked.
PICTURED = {"05", "06", "08", "13", "15", "17", "19", "20", "21", "25", "27"}
ACTS = "04"


def _pictured(wordnet, offset, sport, levels=8):
    """Whether a synset is of a thing a picture shows (PICTURED), or a sport (`sport`: the
    offset of WordNet's sport) up to `levels` kinds down."""
    lexfile = wordnet.lexicographer_file(offset)
    if lexfile in PICTURED:
        return True
    if lexfile != ACTS or sport is None:
        return False
    frontier = [offset]
    for _ in range(levels):
        if sport in frontier:
            return True
        frontier = [h for o in frontier for h in wordnet.synset(o)[1]]
    return sport in frontier


def category_examples(wordnet, names, min_pictures=5, min_examples=3, max_examples=8, levels=5):
    """{kind: [examples]}: for each noun whose most common sense is a kind of thing (not too
    abstract to picture), the names of its kinds, up to `levels` down WordNet's hierarchy, that
    at least `min_pictures` of the pictures are named (`names`: picture_names()) and whose most
    common sense is that kind ("guitar" under "musical instrument", never "key" under "fruit":
    a key is first a lock's), not a person first (PEOPLE), not one named place or thing (an
    instance) and not often an adjective (a "female" sign is no animal); one name for each. The
    most pictured first, at most `max_examples`; only kinds with `min_examples` or more, most of
    them of things a picture shows (PICTURED, sports)."""
    sport = wordnet.index["sport"][0] if "sport" in wordnet.index else None
    # synset offset of a kind -> {synset offset of an example: (pictures, level, name)}: one name
    # per example (its most pictured: "ice cream", not also "icecream" and "soft ice cream").
    found = {}
    for name, pictures in names.items():
        key = name.replace(" ", "_")
        if (pictures < min_pictures or not wordnet.names_a_thing(key) or key in wordnet.often_adjective
                or wordnet.lexicographer_file(wordnet.index[key][0]) == PEOPLE
                or wordnet.is_instance(wordnet.index[key][0])):  # "hot springs", "eiffel tower": places, not kinds
            continue
        sense = wordnet.index[key][0]
        frontier = [sense]
        for level in range(1, levels + 1):
            above = []
            for offset in frontier:
                for hypernym in wordnet.synset(offset)[1]:
                    best = found.setdefault(hypernym, {})
                    if sense not in best or (-best[sense][0], best[sense][1]) > (-pictures, level):
                        best[sense] = (pictures, level, name)
                    above.append(hypernym)
            frontier = above
    out = {}
    for lemma, offsets in wordnet.index.items():
        kind = lemma.replace("_", " ")
        examples = found.get(offsets[0], {})
        if len(examples) < min_examples or kind in ABSTRACT or not wordnet.names_a_thing(lemma):
            continue
        chosen = sorted(examples.items(), key=lambda e: (-e[1][0], e[1][1], e[1][2]))
        chosen = [(sense, e[2]) for sense, e in chosen if e[2] != kind][:max_examples]
        pictured = sum(_pictured(wordnet, sense, sport) for sense, _ in chosen)
        if len(chosen) >= min_examples and 2 * pictured > len(chosen):
            out[kind] = [name for _, name in chosen]
    return out


def phrase_counts(items, phrases, definitions, search_tags=False):
    """How many times each phrase ("musical instrument") appears, as whole words, in what
    training read of the items (count_caption_words' texts). Plurals are not counted: the icon
    sets' category words are plurals ("sports", "animals": 1,122 and 443 with them, 209 and 272
    without), and what their icons learnt under them did not teach the model the kind; the
    examples of "sport" find better pictures than "sports" does (queries benchmark: 0.6 -> 0.8)."""
    wanted = {tuple(words_of(p)): p for p in phrases if words_of(p)}
    longest = max((len(w) for w in wanted), default=0)
    counts = {}
    for item in items:
        for captions in trained_texts(item, definitions, search_tags):
            for caption in captions:
                w = words_of(caption)
                for n in range(1, longest + 1):
                    for i in range(len(w) - n + 1):
                        phrase = wanted.get(tuple(w[i:i + n]))
                        if phrase is not None:
                            counts[phrase] = counts.get(phrase, 0) + 1
    return counts


# A kind whose name training read this often is one the model knows by itself: its own matches
# are better than its examples' ("fruit", 370 captions; "vehicle", 359; "house", 523: a user
# asking for a house wants no castles). Under it, the examples win: "musical instrument" (16),
# "insect" (148), "bird" (266); `opsis bench queries`, README's figures.
FAMILIAR_KIND = 300


def kind_names(wordnet, kind):
    """The kind's name and its most common sense's first name, WordNet's headword for it
    ("automobile", "auto", "motorcar": car). Not the sense's other names: "instrument" is also a
    name of the musical instrument, and read often of other instruments."""
    return [kind, wordnet.synset(wordnet.index[kind.replace(" ", "_")][0])[0][0]]


def unfamiliar_kinds(examples, read, wordnet=None, familiar=FAMILIAR_KIND):
    """The kinds of category_examples() none of whose names (kind_names()) training read
    (`read`: phrase_counts()) `familiar` times or more: "automobile" is read rarely, but it is
    a car. Without `wordnet`, each kind's own name alone (Greek names)."""
    def names(kind):
        return kind_names(wordnet, kind) if wordnet is not None else [kind]
    return {kind: examples_of for kind, examples_of in examples.items()
            if max(read.get(name, 0) for name in names(kind)) < familiar}


def greek_kinds(examples, greek, wordnet):
    """{Greek name of a kind: the kind's examples}: the Greek name words.Greek gives a kind
    ("musical instrument" -> "μουσικό όργανο"), when the dictionary translates it back to the
    kind (FreeDict's first Greek for "bird" is a genitive of "comma"). The examples stay
    English, the language the model knows best."""
    out = {}
    for kind, names in examples.items():
        for name in greek.names(kind, wordnet):
            if greek.translates_back(name, kind) and name not in examples:
                out[name.lower()] = names
    return out


def build(counts, wordnet, exceptions, common, dictionary, min_count, well_known_count=20, tagged=None,
          examples=None):
    """The lexicon's lines (without the header). `exceptions`: (inflected, base) pairs from
    WordNet's *.exc files; `common`: everyday English words (wamerican, no names), which alone
    are mapped through WordNet; `dictionary`: every real word, English and Greek; `tagged`:
    tagged_names() of the training items, for the words WordNet's first sense cannot map;
    `examples`: {kind: [names]} (category_examples(), unfamiliar_kinds())."""
    known = {w: n for w, n in counts.items() if n >= min_count}
    well_known = {w: n for w, n in known.items() if n >= well_known_count}
    lines = [f"known\t{w}\t{n}" for w, n in sorted(known.items(), key=lambda kv: (-kv[1], kv[0]))]
    lines += [f"stop\ten\t{w}" for w in STOP_EN] + [f"stop\tel\t{w}" for w in STOP_EL]
    mapped = {}
    for inflected, base in exceptions:
        if base in known and inflected not in mapped and known.get(inflected, 0) * 3 <= known[base]:
            mapped[inflected] = ([base], "inflection")
    for lemma in sorted(wordnet.index):
        word = lemma.replace("_", " ")
        if " " in word or not word.isalpha() or word in known or word in mapped or word not in common:
            continue
        targets, why = wordnet_targets(wordnet, word, well_known)
        if targets:
            mapped[word] = (targets, why)
    for word, names in sorted((tagged or {}).items()):
        if word in known or word in mapped or word not in common:
            continue
        targets, why = tag_sense_targets(wordnet, word, names, well_known)
        if targets:
            mapped[word] = (targets, why)
    lines += [f"map\t{w}\t{' '.join(t)}\t{why}" for w, (t, why) in sorted(mapped.items())]
    unknown_real = {w for w in dictionary if w.isalpha() and w not in known and w not in mapped}
    lines += [f"real\t{w}" for w in sorted(near_known(unknown_real, known))]
    lines += [f"keep\t{w}" for w in sorted(words_of_their_own(known, wordnet))]
    # Keyed as a query's words come to the search side: letters only, one space between
    # ("even-toed ungulate" -> "even toed ungulate").
    lines += ["\t".join(["examples", " ".join(words_of(kind))] + names)
              for kind, names in sorted((examples or {}).items())]
    return lines
