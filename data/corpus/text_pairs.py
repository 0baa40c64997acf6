"""Word knowledge for the text tower: pairs of texts that mean the same thing, from WordNet and
FreeDict, far beyond the names the pictures carry ("kitty" - "cat", "giraffe" - "tallest living
quadruped; ...", "insect" - "ant", "cat" - "γάτα"). Training can pull each pair's embeddings
together against the other pairs of its batch (`opsis train --text-pairs-weight`), so words no
picture is named by still land near the pictures they mean.

One pair a line in CACHE/corpus/text_pairs.jsonl:

  {"a": "kitty", "b": "cat", "group": "wn:02121620", "kind": "synonym"}

`group` says which pairs mean one thing (in one batch they are positives, not negatives):
a WordNet sense, or a kind for the pairs that name one ("kind:02159955" for "ant" - "insect",
"bee" - "insect"). Kinds: synonym, definition, kind, greek.

Only a noun's most common sense speaks for it (WordNet.names_a_thing): "cat" is never "guy".
Named things ("Thomas Nast", "Paris") and taxonomic names ("genus Poa") are left out: nobody
searches pictures by them, and a small text tower has better uses for its width.
Splits stay honest: no pair holds a zero-shot word (their words are in no training text), and
no pair names a val concept (its pictures stay unseen in every form)."""
import re

from corpus.splits import words_of
from corpus.words import ABSTRACT

KINDS = ("synonym", "definition", "kind", "greek")
# "genus Poa", and definitions that only place a taxon ("type genus of the Felidae", "a genus of
# the family Dugongidae ...").
TAXONOMIC = re.compile(r"^(an? |the )?(type )?(genus|family|subfamily|superfamily|order|suborder|class|subclass|"
                       r"phylum|division|tribe|subgenus) ")


def build(wordnet, greek, everyday_words, excluded_words=frozenset(), excluded_names=frozenset()):
    """Pairs as dicts (a, b, group, kind), sorted. Only nouns made of `everyday_words` (the
    lower-case words of an ordinary dictionary: "sausage dog" yes, "zyrian" no) are paired: what
    people type, not the half of WordNet nobody searches pictures by. `excluded_words`: no pair
    holds one of them (zero-shot words, as splits.words_of counts words); `excluded_names`: no
    pair has one as a whole side (val concepts' names, lower-case)."""
    pairs = set()

    def add(a, b, group, kind):
        a, b = a.strip(), b.strip()
        if not a or not b or a == b or a in excluded_names or b in excluded_names:
            return
        if TAXONOMIC.match(a) or TAXONOMIC.match(b):
            return
        if set(words_of(a)) & excluded_words or set(words_of(b)) & excluded_words:
            return
        pairs.add((a, b, group, kind))

    def everyday(lemma):
        return all(w in everyday_words for w in lemma.split())

    def first_sense(lemma):
        key = lemma.replace(" ", "_")
        return wordnet.index[key][0] if wordnet.names_a_thing(key) else None

    for key in sorted(wordnet.index):
        if not wordnet.names_a_thing(key):
            continue
        offset = wordnet.index[key][0]
        if wordnet.is_instance(offset):
            continue
        lemma = key.replace("_", " ")
        if not everyday(lemma):
            continue
        words, hypernyms = wordnet.synset(offset)
        for other in words:
            # Each synonym pair once (from the everyday word's side, or the first in order where
            # both are), and only where the sense is the other word's first too.
            if first_sense(other) == offset and (lemma < other or not everyday(other)):
                add(lemma, other, "wn:" + offset, "synonym")
        definition = wordnet.definition(lemma)
        if definition:
            add(lemma, definition, "wn:" + offset, "definition")
        for hypernym in hypernyms[:1]:
            kind_words, _ = wordnet.synset(hypernym)
            kind = next((w for w in kind_words if w not in ABSTRACT), None)
            if kind:
                add(lemma, kind, "kind:" + hypernym, "kind")
        if greek is not None:
            for name in greek.names(lemma, wordnet)[:1]:
                add(lemma, name, "wn:" + offset, "greek")
    return [{"a": a, "b": b, "group": g, "kind": k} for a, b, g, k in sorted(pairs)]
