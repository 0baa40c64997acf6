"""Tests of data/build-corpus's pieces on small fixtures (no packages fetched):
python3 -m unittest discover -s data/tests -t data  (ctest runs it as corpus_builder)."""
import os
import subprocess
import sys
import tempfile
import unittest

DATA = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, DATA)

from corpus import clipart, icon_names, icon_tags, lexicon, packages, splits, text_pairs, words  # noqa: E402

DICTIONARY = {"car", "sports", "home", "smoke", "free", "button", "cat", "face", "bell", "off", "account", "child",
              "tree", "apple", "red", "arrow", "left", "box"}


class IconNames(unittest.TestCase):
    def clean(self, name, prefix="", category=""):
        return icon_names.clean_icon_name(name, prefix, category, DICTIONARY)

    def test_style_and_size_tokens_are_dropped(self):
        c = self.clean("car-sports-outline", "mdi")
        self.assertEqual(c.words, ["car", "sports"])
        self.assertEqual(c.style, ["outline"])
        self.assertEqual(icon_names.caption_phrases(c, "mdi"), ["car sports", "sports car"])
        self.assertEqual(self.clean("home-24-filled", "fluent").words, ["home"])
        self.assertEqual(self.clean("tree-duotone", "ph").words, ["tree"])
        self.assertEqual(self.clean("bell-off-bold", "solar").words, ["bell", "off"])

    def test_only_mdi_gets_both_word_orders(self):
        self.assertEqual(icon_names.caption_phrases(self.clean("car-sports", "tabler"), "tabler"), ["car sports"])

    def test_style_prefix_of_material_icons(self):
        self.assertEqual(self.clean("outline-smoke-free", "ic").words, ["smoke", "free"])

    def test_abbreviations_are_spelt_out(self):
        self.assertEqual(self.clean("btn-home").words, ["button", "home"])

    def test_camel_case_names_split(self):
        self.assertEqual(icon_names.split_name("RedApple"), ["red", "apple"])

    def test_concept_ignores_word_order(self):
        a, b = self.clean("car-sports", "mdi"), self.clean("sports-car", "tabler")
        self.assertEqual(icon_names.concept_key(a), icon_names.concept_key(b))

    def test_rejections_say_why(self):
        cases = {
            ("brand-github", "", ""): "brand mark",
            ("github-logo", "", ""): "brand mark",
            ("ibm-cloud", "", ""): "brand mark",
            ("apple", "mdi", "Brand / Logo"): "brand mark",
            ("loading", "", ""): "spinner or loading indicator",
            ("bars-rotate-spinner", "", ""): "spinner or loading indicator",
            ("alpha-a-box", "", ""): "letter, digit or script sign",
            ("numeric-1-circle", "", ""): "letter, digit or script sign",
            ("letter-q", "", ""): "letter, digit or script sign",
            ("x", "", ""): "letter, digit or script sign",
            ("24-filled", "", ""): "only style or size tokens",
            ("xqzt-plorb", "", ""): "no English word in the name",
            ("cat-xqzt-plorb-wugg", "", ""): "name not mostly English words",
        }
        for (name, prefix, category), reason in cases.items():
            with self.subTest(name=name):
                self.assertEqual(self.clean(name, prefix, category).reject, reason)

    def test_kept_names_have_no_reason(self):
        for name in ("cat-face", "arrow-left-box", "account-child-outline", "apple"):
            with self.subTest(name=name):
                self.assertEqual(self.clean(name, "mdi").reject, "")

    def test_style_words_that_name_things_stay(self):
        self.assertEqual(self.clean("heart-broken-line", "clarity").words, ["heart", "broken"])
        self.assertEqual(self.clean("bag-5-broken", "solar").words, ["bag"])
        self.assertEqual(self.clean("light-bulb", "akar-icons").words, ["light", "bulb"])
        self.assertEqual(self.clean("round-table", "game-icons").words, ["round", "table"])
        self.assertEqual(self.clean("candle-fill", "mingcute").words, ["candle"])
        self.assertEqual(icon_names.caption_phrases(self.clean("log-in", "mdi"), "mdi"), ["log in"])

    def test_category_keywords(self):
        self.assertEqual(icon_names.category_keywords("Food / Drink"), ["food", "drink"])
        self.assertEqual(icon_names.category_keywords("Editor"), [])


class OpenMojiExclusion(unittest.TestCase):
    def test_no_openmoji_among_the_sets(self):
        for name in packages.ICONIFY_SETS:
            self.assertNotIn("openmoji", name.lower())
        for name in packages.DEBIAN:
            self.assertNotIn("openmoji", name.lower())

    def test_refused_in_any_packaging(self):
        for name in ("openmoji", "@iconify-json/openmoji", "OpenMoji", "iconify/openmoji/cat"):
            with self.subTest(name=name), self.assertRaises(SystemExit) as raised:
                packages.refuse_reserved(name)
            self.assertIn("reserved for independent evaluation", str(raised.exception))

    def test_fetch_refuses_before_downloading(self):
        with tempfile.TemporaryDirectory() as tmp:
            with self.assertRaises(SystemExit):
                packages.fetch_npm(tmp, tmp, [("openmoji", "15.1.0", "openmoji-15.1.0")])
            self.assertEqual(os.listdir(tmp), [])

    def test_the_builder_refuses_the_set(self):
        with tempfile.TemporaryDirectory() as tmp:
            result = subprocess.run([sys.executable, os.path.join(DATA, "build-corpus"), "--cache", tmp,
                                     "--iconify-sets", "mdi,openmoji"], capture_output=True, text=True, timeout=120)
            self.assertNotEqual(result.returncode, 0)
            self.assertIn("reserved for independent evaluation", result.stderr)
            self.assertFalse(os.path.exists(os.path.join(tmp, "downloads")))


def item(ident, concept, style, *captions):
    return {"id": ident, "concept": concept, "style": style, "captions": {"en": list(captions), "el": []}}


class ClipartTitles(unittest.TestCase):
    """An Open Clip Art title that names another thing than its file ("apple.svg" titled "pear")
    is the library's metadata copied from another drawing: the item is rejected, with the reason."""
    class WordNet:
        things = {"apple": ([], ["edible fruit", "fruit"]), "pear": ([], ["edible fruit", "fruit"]),
                  "sapphire": ([], ["gem", "transparent gem"]), "gem": ([], ["jewelry"]), "lab": ([], ["room"]),
                  "labrador": ([], ["dog"]), "retriever": ([], ["dog"])}

        def names_a_thing(self, key):
            return key in self.things

        def expand(self, phrase, levels=2):
            return self.things.get(phrase, ([], []))

    common = {"apple", "pear", "green", "sapphire", "gem", "black", "lab", "labrador", "retriever"}

    def test_which_titles_contradict_their_file_name(self):
        wn, common = self.WordNet(), self.common
        self.assertEqual(clipart.title_contradicts_file_name("pear", "apple", wn, common), "apple")
        self.assertIsNone(clipart.title_contradicts_file_name("pear", "green pear", wn, common))     # the same word
        self.assertIsNone(clipart.title_contradicts_file_name("pears", "pear", wn, common))          # its stem
        self.assertIsNone(clipart.title_contradicts_file_name("gem", "sapphire", wn, common))        # its kind
        self.assertIsNone(clipart.title_contradicts_file_name("sapphire", "gem", wn, common))        # either way
        # A file name that is not all everyday words (an author, an abbreviation) says nothing.
        self.assertIsNone(clipart.title_contradicts_file_name("labrador retriever", "black lab ganson", wn, common))
        self.assertIsNone(clipart.title_contradicts_file_name("labrador retriever", "ppl", wn, common))

    def test_openclipart_items_rejects_a_contradicting_title_with_its_reason(self):
        with tempfile.TemporaryDirectory() as raw:
            folder = os.path.join(raw, "openclipart-svg/usr/share/openclipart/svg/food")
            os.makedirs(folder)
            for name, title in (("apple", "Clipart by Nicu Buculei - pear"), ("pear", "pear"), ("green_pear_01", "green pear")):
                with open(os.path.join(folder, name + ".svg"), "w", encoding="utf-8") as f:
                    f.write(f'<svg><metadata><dc:title>{title}</dc:title></metadata></svg>')
            rejects = []
            items, tasks = clipart.openclipart_items(raw, raw, (self.common, set()), rejects, self.WordNet())
            self.assertEqual([i["id"] for i in items], ["openclipart/food/green_pear_01", "openclipart/food/pear"])
            self.assertEqual([i["captions"]["en"][0] for i in items], ["green pear", "pear"])
            self.assertEqual(len(tasks), 2)
            self.assertEqual(rejects, [("openclipart/food/apple",
                                        "title 'pear' names another thing than the file name (apple)")])


class Splits(unittest.TestCase):
    def corpus(self):
        items = []
        # 60 common concepts sharing words, each drawn in three styles
        for k in range(60):
            for style in ("mdi", "tabler", "iconoir"):
                items.append(item(f"{style}/c{k}", f"icon:c{k}", style, f"thing {k} face", f"thing {k}: animal, pet"))
        # 40 concepts with rare words, one of which is also a keyword of a common concept
        for k in range(40):
            word = "".join(chr(ord("a") + int(d)) for d in f"{k:03d}") + "zq"
            items.append(item(f"mdi/r{k}", f"icon:r{k}", "mdi", word))
            items.append(item(f"tabler/r{k}", f"icon:r{k}", "tabler", word))
        items.append(item("mdi/mixed", "icon:mixed", "mdi", "mixed thing", "mixed thing: aaazq, animal"))
        return items

    def test_splits_are_disjoint_and_honest(self):
        items = self.corpus()
        result, rejects = splits.make_splits(items, zeroshot_share=0.1, val_share=0.1, held_out=("iconoir",))
        splits.check_splits([i for i in items if i["id"] not in {r for r, _ in rejects}], result, held_out=("iconoir",))
        every = [i for ids in result.values() for i in ids]
        self.assertEqual(len(every), len(set(every)))
        self.assertTrue(result["zeroshot"] and result["val"] and result["style"] and result["train"])
        by_id = {i["id"]: i for i in items}
        train_words = {w for i in result["train"] + result["val"] for c in by_id[i]["captions"]["en"]
                       for w in splits.words_of(c)}
        for ident in result["zeroshot"]:
            for caption in by_id[ident]["captions"]["en"]:
                self.assertFalse(set(splits.words_of(caption)) & train_words, caption)
        self.assertTrue(all(by_id[i]["style"] == "iconoir" for i in result["style"]))
        self.assertFalse({by_id[i]["concept"] for i in result["val"]} & {by_id[i]["concept"] for i in result["train"]})

    def test_a_zero_shot_word_is_taken_out_of_other_captions(self):
        items = self.corpus()
        result, _ = splits.make_splits(items, zeroshot_share=1.0, val_share=0.1, held_out=("iconoir",))
        mixed = next(i for i in items if i["id"] == "mdi/mixed")
        if "mdi/mixed" not in result["zeroshot"]:
            self.assertNotIn("aaazq", " ".join(mixed["captions"]["en"]))
            self.assertIn("mixed thing: animal", mixed["captions"]["en"])

    def test_plurals_count_as_their_word(self):
        self.assertEqual([splits.singular(w) for w in ("calendars", "boxes", "babies", "men", "glass", "bus", "γάτες")],
                         ["calendar", "box", "baby", "man", "glass", "bus", "γάτες"])
        items = [item("a", "icon:a", "mdi", "calendars"), item("b", "icon:b", "mdi", "calendar")]
        with self.assertRaises(SystemExit):
            splits.check_splits(items, {"train": ["b"], "val": [], "zeroshot": ["a"], "style": []})

    def test_framing_words_are_never_zero_shot(self):
        items = [item(f"s/{k}", f"icon:{k}", "mdi", f"word{chr(97 + k)}q") for k in range(20)]
        items.append(item("s/icon", "icon:icon", "mdi", "icon"))
        result, _ = splits.make_splits(items, zeroshot_share=1.0, val_share=0.0, held_out=())
        self.assertNotIn("s/icon", result["zeroshot"])

    def test_one_concept_per_name_across_sources(self):
        items = [item("emoji/google/1f3b8", "emoji:1f3b8", "emoji-google", "guitar", "guitar: instrument"),
                 item("iconify/mdi/guitar", "icon:guitar", "mdi", "guitar"),
                 item("openclipart/guitars", "openclipart:guitars", "openclipart", "guitars"),
                 item("iconify/mdi/car-sports", "icon:car sports", "mdi", "car sports"),
                 item("iconify/ph/sports-car", "icon:car sports", "ph", "sports car")]
        splits.unify_concepts(items)
        self.assertEqual([i["concept"] for i in items],
                         ["emoji:1f3b8", "emoji:1f3b8", "emoji:1f3b8", "name:car sport", "name:car sport"])

    def test_check_splits_finds_leaks(self):
        items = [item("a", "icon:a", "mdi", "zebra"), item("b", "icon:b", "mdi", "zebra crossing"),
                 item("c", "icon:c", "iconoir", "cat")]
        with self.assertRaises(SystemExit):
            splits.check_splits(items, {"train": ["b"], "val": [], "zeroshot": ["a"], "style": []})
        with self.assertRaises(SystemExit):
            splits.check_splits(items, {"train": ["c"], "val": [], "zeroshot": [], "style": []}, held_out=("iconoir",))
        with self.assertRaises(SystemExit):
            splits.check_splits(items, {"train": ["a"], "val": ["a"], "zeroshot": [], "style": []})



class FakeWordNet:
    """Just what lexicon.build reads: first senses as (words, hypernym offsets)."""
    def __init__(self):
        self.synsets = {"1": (["puppy"], ["2"]), "2": (["dog", "domestic dog"], ["3"]), "3": (["entity"], []),
                        "4": (["physician", "doctor", "doc"], ["3"]), "5": (["gizmo"], ["3"]),
                        "6": (["kitty", "pool"], ["3"]), "7": (["kitty", "pussycat"], ["8"]),
                        "8": (["domestic cat", "house cat"], ["9"]), "9": (["cat", "true cat"], ["3"]),
                        "10": (["divorce", "split up"], ["3"]), "11": (["hog", "pig"], ["3"])}
        self.index = {"puppy": ["1"], "dog": ["2"], "physician": ["4"], "gizmo": ["5"], "kitty": ["6", "7"],
                      "card": ["3"], "tube": ["3"], "divorce": ["10"], "hog": ["11"]}
        self.mostly_not_noun = {"hog"}  # "to hog"
        self.entries = set(self.index) | {"forest", "sweater", "outer", "driving", "cards", "news", "tubes", "cooked"}

    def names_a_thing(self, key):
        return key in self.index and key != "kitty" and key not in self.mostly_not_noun  # kitty: first a pool of money

    def synset(self, offset):
        return self.synsets[offset]


class Lexicon(unittest.TestCase):
    def build(self, counts, exceptions=(), common=(), dictionary=()):
        lines = lexicon.build(counts, FakeWordNet(), list(exceptions), set(common), set(dictionary), min_count=5)
        return [tuple(line.split("\t")) for line in lines]

    def test_known_words_need_the_minimum_count(self):
        rows = self.build({"cat": 365, "cats": 2, "dog": 271})
        self.assertIn(("known", "cat", "365"), rows)
        self.assertIn(("known", "dog", "271"), rows)
        self.assertFalse([r for r in rows if r[:2] == ("known", "cats")])

    def test_function_words_in_both_languages(self):
        rows = self.build({})
        self.assertIn(("stop", "en", "the"), rows)
        self.assertIn(("stop", "el", "της"), rows)
        for meaningful in ("no", "on", "in", "up", "off", "one"):  # "no smoking", "zoom in"
            self.assertNotIn(("stop", "en", meaningful), rows)

    def test_irregular_inflections_only_to_a_base_seen_far_more(self):
        rows = self.build({"leaf": 318, "leaves": 30, "mouse": 40, "mice": 30},
                          exceptions=[("leaves", "leaf"), ("mice", "mouse"), ("geese", "goose")])
        self.assertIn(("map", "leaves", "leaf", "inflection"), rows)
        self.assertFalse([r for r in rows if r[:2] in (("map", "mice"), ("map", "geese"))])

    def test_unknown_words_map_to_a_well_known_synonym_or_kind(self):
        rows = self.build({"dog": 271, "doctor": 178, "doc": 30}, common={"puppy", "physician", "gizmo", "kitty"})
        self.assertIn(("map", "physician", "doctor", "synonym"), rows)  # the more frequent synonym
        self.assertIn(("map", "puppy", "dog", "kind"), rows)
        self.assertFalse([r for r in rows if r[:2] == ("map", "gizmo")])  # its kind is too abstract
        self.assertFalse([r for r in rows if r[:2] == ("map", "kitty")])  # its first sense is not the animal

    def test_the_icon_sets_tags_choose_the_sense_of_a_word(self):
        def maps(tagged):
            lines = lexicon.build({"cat": 365, "dog": 271, "heart": 200, "pig": 40}, FakeWordNet(), [],
                                  {"kitty", "divorce", "hog"}, set(), min_count=5, tagged=tagged)
            return {tuple(line.split("\t")[1:]) for line in lines if line.startswith("map\t")}
        # "kitty" tags cat icons, and a sense of it is a domestic cat, a kind of cat: mapped.
        self.assertIn(("kitty", "cat", "kind"), maps({"kitty": ["cat", "cat face", "cat"]}))
        # Not when most icons it tags share no word its senses name, nor when none of its senses
        # names theirs (a "divorce" tag on hearts), nor for a word mostly used as a verb.
        self.assertEqual(maps({"kitty": ["dog", "dog", "cat"]}), set())
        self.assertEqual(maps({"divorce": ["heart", "broken heart"]}), set())
        self.assertEqual(maps({"hog": ["pig", "pig face"]}), set())
        self.assertEqual(maps({}), set())

    def test_tagged_names_count_each_icon_once(self):
        items = [{"style": "ph", "captions": {"en": ["cat"]}, "search_tags": ["kitty", "kitty cat"]},
                 {"style": "ph", "captions": {"en": ["cat"]}, "search_tags": ["kitty"]},  # a variant
                 {"style": "tabler", "captions": {"en": ["cat face: animal"]}, "search_tags": ["kitty", "pet"]},
                 {"style": "tabler", "captions": {"en": ["dog"]}}]
        self.assertEqual(lexicon.tagged_names(items), {"kitty": ["cat", "cat face"], "pet": ["cat face"]})

    def test_kinds_get_the_most_pictured_names_of_their_kinds_as_examples(self):
        class KindsWordNet:
            # instrument (1) <- stringed (2) <- guitar (3), violin (4); instrument <- drum (5);
            # fruit (6) <- apple (7); key (8): first a lock's, then a fruit; ruler (9): a person
            # first; female (10): an animal as often as an adjective.
            synsets = {"1": (["musical instrument", "instrument"], ["0"]), "2": (["stringed instrument"], ["1"]),
                       "3": (["guitar"], ["2"]), "4": (["violin", "fiddle"], ["2"]), "5": (["drum"], ["1"]),
                       "6": (["fruit"], ["0"]), "7": (["apple"], ["6"]), "8": (["key"], ["0"]),
                       "9": (["ruler", "swayer"], ["1"]), "10": (["female"], ["6"]), "11": (["key"], ["6"]),
                       "0": (["entity"], []), "12": (["idea"], ["0"]), "13": (["copyright"], ["12"]),
                       "14": (["schedule"], ["12"]), "15": (["strategy"], ["12"]),
                       "16": (["stradivarius"], ["4"]), "18": (["sport"], ["0"]), "19": (["tennis"], ["18"]),
                       "20": (["golf"], ["18"]), "21": (["selection"], ["0"]), "22": (["vote"], ["21"]),
                       "23": (["step"], ["21"])}
            index = {"musical_instrument": ["1"], "instrument": ["1"], "stringed_instrument": ["2"],
                     "guitar": ["3"], "violin": ["4"], "drum": ["5"], "fruit": ["6"], "apple": ["7"],
                     "key": ["8", "11"], "ruler": ["9"], "female": ["10"], "entity": ["0"], "idea": ["12"],
                     "copyright": ["13"], "schedule": ["14"], "strategy": ["15"], "fiddle": ["4"],
                     "stradivarius": ["16"], "sport": ["18"], "tennis": ["19"], "golf": ["20"],
                     "selection": ["21"], "vote": ["22"], "step": ["23"]}
            often_adjective = {"female"}

            def names_a_thing(self, key):
                return key in self.index

            def synset(self, offset):
                return self.synsets[offset]

            def lexicographer_file(self, offset):
                if offset == "9":
                    return lexicon.PEOPLE
                return "09" if offset in ("13", "14", "15") else lexicon.ACTS if int(offset) >= 18 else "06"

            def is_instance(self, offset):
                return offset == "16"  # one named violin

        pictures = {"guitar": 30, "violin": 18, "drum": 20, "apple": 40, "key": 50, "ruler": 12, "female": 9,
                    "fiddle": 6, "copyright": 20, "schedule": 20, "strategy": 20, "stradivarius": 90,
                    "tennis": 10, "golf": 9, "vote": 30, "step": 30}
        examples = lexicon.category_examples(KindsWordNet(), pictures, min_pictures=5, min_examples=2)
        # Two levels down, the most pictured first; not a key (its first sense), a ruler or a female.
        self.assertEqual(examples["musical instrument"], ["guitar", "drum", "violin"])
        self.assertEqual(examples["instrument"], ["guitar", "drum", "violin"])
        self.assertEqual(examples["stringed instrument"], ["guitar", "violin"])
        self.assertNotIn("fruit", examples)  # one example only
        self.assertNotIn("entity", examples)  # too abstract to picture
        self.assertNotIn("idea", examples)  # its examples are ideas, not things a picture shows
        self.assertEqual(examples["sport"], ["tennis", "golf"])  # of the acts, sports alone
        self.assertNotIn("selection", examples)
        items = [{"captions": {"en": ["guitar: musical instrument", "a guitar"], "el": []}},
                 {"captions": {"en": ["Musical  instruments"], "el": []}}]
        read = lexicon.phrase_counts(items, ["musical instrument", "guitar", "drum"], definitions=False)
        self.assertEqual(read, {"musical instrument": 1, "guitar": 2})  # not "instruments"
        self.assertEqual(lexicon.unfamiliar_kinds(examples, {"instrument": 300, "musical instrument": 299,
                                                             "sport": 900}),
                         {"musical instrument": examples["musical instrument"],
                          "stringed instrument": examples["stringed instrument"]})
        # With WordNet, a kind is familiar when its sense's headword is too ("instrument" ->
        # musical instrument), not through the sense's other names.
        wordnet = KindsWordNet()
        self.assertNotIn("instrument", lexicon.unfamiliar_kinds(examples, {"musical instrument": 300}, wordnet))
        self.assertIn("musical instrument", lexicon.unfamiliar_kinds(examples, {"instrument": 300}, wordnet))

        class FakeGreek:
            def names(self, english, wordnet=None):
                return {"musical instrument": ["Μουσικό όργανο"], "drum": ["τύμπανο"],
                        "stringed instrument": ["κόμματος"]}.get(english, [])

            def translates_back(self, greek, english):
                return (greek, english) in {("Μουσικό όργανο", "musical instrument"), ("τύμπανο", "drum")}
        # The Greek name of a kind, when it translates back; the examples stay English.
        self.assertEqual(lexicon.greek_kinds(examples, FakeGreek(), wordnet),
                         {"μουσικό όργανο": examples["musical instrument"]})
        lines = lexicon.build({}, FakeWordNet(), [], set(), set(), min_count=5,
                              examples={"musical instrument": ["guitar", "drum"], "even-toed ungulate": ["pig", "cow"]})
        self.assertIn("examples\tmusical instrument\tguitar\tdrum", lines)
        self.assertIn("examples\teven toed ungulate\tpig\tcow", lines)  # as a query's words reach search

    def test_words_of_their_own_are_kept_from_shortening(self):
        rows = self.build({w: 30 for w in ("forest", "sweater", "outer", "driving", "cards", "news", "tubes", "dog",
                                           "bigger", "cats", "cooked")})
        keep = {r[1] for r in rows if r[0] == "keep"}
        # WordNet entries ending like an inflection; not regular plurals of a noun ("cards",
        # "tubes"), not gerunds ("driving"), not -ed words but nouns ("cooked"), not words WordNet
        # lacks ("bigger", "cats"), not words with no such ending ("dog").
        self.assertEqual(keep, {"forest", "sweater", "outer", "news"})

    def test_regular_singulars_follow_the_shared_plural_rules(self):
        # The same file holds search/query_rewrite.cpp's english_bases to these rules.
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "regular_plurals.tsv")
        with open(path, encoding="utf-8") as lines:
            rows = [line.rstrip("\n").split("\t") for line in lines if not line.startswith("#")]
        self.assertGreater(len(rows), 10)
        for word, singulars in rows:
            self.assertEqual(lexicon.regular_singulars(word), singulars.split(), word)

    def test_real_words_close_to_known_ones_are_listed(self):
        rows = self.build({"cat": 365, "elephant": 36}, dictionary={"cart", "cot", "zebra", "elegant", "cats"})
        real = {r[1] for r in rows if r[0] == "real"}
        self.assertEqual(real, {"cart", "cot", "cats", "elegant"})  # not zebra: nothing known is near

    def test_edit_distance_as_the_search_side_counts(self):
        self.assertEqual(lexicon.edit_distance("elefant", "elephant"), 2)
        self.assertEqual(lexicon.edit_distance("hte", "the"), 1)
        self.assertEqual(lexicon.fold("Ελλάδας"), "Ελλαδασ")
        self.assertEqual(lexicon.max_typos("piza"), 1)
        self.assertEqual(lexicon.spelling_key("elephant"), "elefant")
        self.assertEqual(lexicon.spelling_key("scissors"), "scisors")
        self.assertEqual(lexicon.spelling_key("backpack"), "bakpak")
        self.assertEqual(lexicon.max_typos("elefant"), 2)


def write_wordnet(folder, synsets):
    """A WordNet folder as words.WordNet reads it: {lemma: [sense, ...]}, most common sense
    first, a sense being a gloss or (lexicographer file, gloss); every sense tagged once (so the
    first is not dominant when there are two) and pointing at the file's first synset."""
    data, index, counts = "  1 header line\n", [], []
    for lemma, senses in sorted(synsets.items()):
        offsets = []
        for sense in senses:
            lexfile, gloss = sense if isinstance(sense, tuple) else ("06", sense)
            offsets.append(f"{len(data.encode()):08d}")
            data += f"{offsets[-1]} {lexfile} n 01 {lemma} 0 001 @ 00000016 n 0000 | {gloss}  \n"
        index.append(f"{lemma} n {len(offsets)} 1 @ {len(offsets)} {len(offsets) if len(offsets) == 1 else 0} "
                     + " ".join(offsets))
        counts += [f"{lemma}%1:05:00:: {k + 1} 1" for k in range(len(offsets))]
    for name, text in (("data.noun", data), ("index.noun", "\n".join(index) + "\n"), ("index.verb", ""),
                       ("index.adj", ""), ("index.adv", ""), ("cntlist.rev", "\n".join(counts) + "\n")):
        with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
            f.write(text)


class Definitions(unittest.TestCase):
    def test_a_gloss_becomes_a_caption_without_examples_or_parentheses(self):
        with tempfile.TemporaryDirectory() as folder:
            write_wordnet(folder, {
                "bed": ['a piece of furniture that provides a place to sleep; "he sat on the edge of the bed"'],
                "giraffe": ["tallest living quadruped; having a spotted coat and small horns and very long neck and legs;"
                            " of savannahs of tropical Africa"],
                "cat": ["feline mammal usually having thick soft fur (and whiskers) and no ability to roar: domestic cats"],
                "club": ["a team of people", "a stout stick"],
                "sports_car": ["a small low car with a high-powered engine"],
                "bat": ["a long one; a sentence that keeps on going for far more words than any caption should ever hold"],
                **self.extra})
            wordnet = words.WordNet(folder)
            self.assertEqual(wordnet.definition("bed"), "a piece of furniture that provides a place to sleep")
            self.assertEqual(wordnet.definition("giraffe"),
                             "tallest living quadruped; having a spotted coat and small horns and very long neck and legs")
            self.assertEqual(wordnet.definition("cat"), "feline mammal usually having thick soft fur and no ability to roar")
            self.assertEqual(wordnet.definition("Sports car"), "a small low car with a high-powered engine")
            self.assertEqual(wordnet.definition("bat"), "a long one")  # the second part would pass 16 words
            self.assertIsNone(wordnet.definition("club"))  # two senses, neither dominant
            self.assertIsNone(wordnet.definition("unicorn"))  # WordNet lacks it
            self.assertEqual(wordnet.definition("progress"), "gradual improvement")  # a quote inside parentheses
            self.assertEqual(wordnet.definition("sir"), "a title of honor")  # a part about usage is dropped
            self.assertIsNone(wordnet.definition("peanuts"))  # a plural that is an idiom (not a thing's file)
            self.assertEqual(wordnet.definition("pliers"), "a gripping hand tool")  # a plural thing

    def setUp(self):
        self.extra = {"progress": ['gradual improvement (especially in the phrase "make progress")'],
                      "sir": ["a title of honor; used in the phrase `sir'"],
                      "peanut": [("13", "pod of the peanut vine")], "peanuts": [("21", "an insignificant sum of money")],
                      "plier": ["a tool"], "pliers": [("06", "a gripping hand tool")]}

    def test_definitions_keep_the_splits_honest(self):
        class Glosses:
            table = {"bed": "a piece of furniture that provides a place to sleep",
                     "sofa": "an upholstered seat for more than one person, like a settee",
                     "settee": "a long wooden bench", "car sports": None, "sports car": "a small low car",
                     "class": "a body of students", "lemon": "yellow oval fruit with juicy acidic flesh"}

            def definition(self, phrase):
                return self.table.get(phrase)

        items = [{"id": "a", "concept": "bed", "captions": {"en": ["bed"], "el": []}},
                 {"id": "b", "concept": "sofa", "captions": {"en": ["sofa"], "el": []}},
                 {"id": "c", "concept": "settee", "captions": {"en": ["settee"], "el": []}},
                 {"id": "d", "concept": "sports car", "captions": {"en": ["car sports", "sports car"], "el": []}},
                 {"id": "e", "concept": "bed", "captions": {"en": ["bed: furniture"], "el": []}},
                 {"id": "f", "concept": "star", "captions": {"en": ["star", "class"], "el": []}},
                 {"id": "g", "concept": "lemon", "captions": {"en": ["lemon"], "el": []}}]
        for item in items:
            item["style"] = "color"
        split_ids = {"train": ["a", "b", "d", "e", "f", "g"], "val": [], "zeroshot": ["c"], "style": []}
        self.assertEqual(splits.add_definitions(items, split_ids, Glosses()), 2)
        definitions = [i.get("definitions") for i in items]
        self.assertEqual(definitions, [["a piece of furniture that provides a place to sleep"],
                                       None,  # "settee" is a zero-shot word
                                       None,  # zero-shot items get none
                                       ["a small low car"],  # the name in its other word order
                                       None,  # a keyword list is no name
                                       None,  # an alias is not defined
                                       None])  # a colour the drawing may not have
        self.assertEqual(items[0]["captions"]["en"], ["bed"])  # the captions stay the names
        splits.check_splits(items, split_ids)
        items[1]["definitions"] = ["a seat like a settee"]  # a zero-shot word in a definition: found
        with self.assertRaises(SystemExit):
            splits.check_splits(items, split_ids)
        del items[1]["definitions"]
        items[2]["definitions"] = ["a long wooden bench"]  # a zero-shot item with one: found
        with self.assertRaises(SystemExit):
            splits.check_splits(items, split_ids)


class IconTags(unittest.TestCase):
    def test_tags_are_cleaned_into_words(self):
        self.assertEqual(icon_tags.clean_tag("kitty-cat"), "kitty cat")
        self.assertEqual(icon_tags.clean_tag("Text_Align"), "text align")
        for marker in ("*new*", "*updated*", "9", 9, "x", ""):
            self.assertEqual(icon_tags.clean_tag(marker), "", marker)

    def test_a_style_suffix_names_the_same_icon(self):
        catalogue = {"cat": ["pets", "kitty", "*new*", "kitty"], "arrow-fat-left": ["direction"]}
        self.assertEqual(icon_tags.icon_tags("ph", "cat-bold", catalogue), ["pets", "kitty"])
        self.assertEqual(icon_tags.icon_tags("ph", "cat", catalogue), ["pets", "kitty"])
        self.assertEqual(icon_tags.icon_tags("tabler", "cat-filled", {"cat": ["meow"]}), ["meow"])
        self.assertEqual(icon_tags.icon_tags("lucide", "cat-bold", catalogue), [])  # Lucide has no such suffix

    def test_phosphor_catalogue_is_read_from_its_module(self):
        with tempfile.TemporaryDirectory() as folder:
            os.makedirs(os.path.join(folder, "dist"))
            with open(os.path.join(folder, "dist", "index.mjs"), "w", encoding="utf-8") as f:
                f.write('const n = [\n  {\n    name: "acorn",\n    pascal_name: "Acorn",\n    tags: [\n'
                        '      "*new*",\n      "nut"\n    ],\n    codepoint: 1\n  },\n  {\n    name: "cat",\n'
                        '    pascal_name: "Cat",\n    tags: ["pets", "kitty"]\n  }\n];\n')
            self.assertEqual(icon_tags.read_phosphor(folder), {"acorn": ["*new*", "nut"], "cat": ["pets", "kitty"]})
            with open(os.path.join(folder, "dist", "index.mjs"), "w", encoding="utf-8") as f:
                f.write("export {};\n")
            with self.assertRaises(SystemExit):  # a changed format is an error, not a corpus without tags
                icon_tags.read_phosphor(folder)

    def test_tags_keep_the_splits_honest(self):
        items = [{"id": "a", "concept": "cat", "captions": {"en": ["cat"], "el": []}},
                 {"id": "b", "concept": "settee", "captions": {"en": ["settee"], "el": []}},
                 {"id": "c", "concept": "kitten", "captions": {"en": ["kitten"], "el": []}},
                 {"id": "d", "concept": "heart", "captions": {"en": ["heart: love"], "el": []}}]
        for item in items:
            item["style"] = "tabler"
        split_ids = {"train": ["a", "d"], "val": ["c"], "zeroshot": ["b"], "style": []}
        tags = {"a": ["kitty", "settee pet", "small kittens", "cats", "meow", "orange", "kitties"],
                "b": ["couch"], "d": ["love", "red", "romance"]}
        self.assertEqual(splits.add_search_tags(items, split_ids, tags), 2)
        self.assertEqual(items[0]["search_tags"], ["kitty", "meow"])  # zero-shot word, val name, own name, colour out
        self.assertNotIn("search_tags", items[1])  # zero-shot items get none
        self.assertEqual(items[3]["search_tags"], ["romance"])  # what the captions hold already is no tag
        self.assertEqual(items[0]["captions"]["en"], ["cat"])  # the captions stay the names
        splits.check_splits(items, split_ids)
        items[3]["search_tags"] = ["a settee"]  # a zero-shot word in a tag: found
        with self.assertRaises(SystemExit):
            splits.check_splits(items, split_ids)


class TextPairs(unittest.TestCase):
    class WordNet:
        """Synsets by offset: (words, hypernym offsets, definition, instance)."""
        synsets = {"1": (["cat", "true cat"], ["2"], "feline mammal usually having thick soft fur", False),
                   "2": (["feline", "felid"], ["9"], "any of various lithe-bodied roundheaded fissiped mammals", False),
                   "3": (["paris", "city of light"], ["4"], "the capital of france", True),
                   "4": (["city"], ["9"], "a large town", False),
                   "5": (["genus felis", "felis"], ["9"], "type genus of the felidae", False),
                   "6": (["settee"], ["7"], "a long wooden bench", False),
                   "7": (["seat", "bench"], ["9"], "furniture for sitting", False),
                   "8": (["car", "automobile"], ["9"], "a motor vehicle with four wheels", False),
                   "9": (["entity"], [], "that which is perceived", False),
                   "10": (["kitty"], ["2"], "a young cat", False)}
        index = {"cat": ["1"], "true_cat": ["1"], "feline": ["2"], "felid": ["2"], "paris": ["3"], "city": ["4"],
                 "genus_felis": ["5"], "felis": ["5"], "settee": ["6"], "seat": ["7"], "bench": ["7", "11"],
                 "car": ["8"], "automobile": ["8"], "entity": ["9"], "kitty": ["12", "10"]}

        def names_a_thing(self, key):
            return key in self.index and key not in ("kitty", "bench")  # neither's first sense dominates

        def synset(self, offset):
            return self.synsets[offset][0], self.synsets[offset][1]

        def is_instance(self, offset):
            return self.synsets[offset][3]

        def definition(self, phrase):
            return self.synsets[self.index[phrase.replace(" ", "_")][0]][2]

    class Greek:
        def names(self, english, wordnet=None):
            return {"cat": ["γάτα"], "car": ["αυτοκίνητο"]}.get(english, [])

    def test_pairs_of_first_senses_without_names_taxa_zero_shot_words_or_val_names(self):
        everyday = {"cat", "true", "feline", "felid", "paris", "city", "genus", "felis", "settee", "seat", "bench",
                    "car", "automobile", "entity", "kitty"}
        pairs = text_pairs.build(self.WordNet(), self.Greek(), everyday, {"settee"}, {"car"})
        got = {(p["a"], p["b"], p["group"], p["kind"]) for p in pairs}
        self.assertIn(("cat", "true cat", "wn:1", "synonym"), got)
        self.assertIn(("cat", "feline mammal usually having thick soft fur", "wn:1", "definition"), got)
        self.assertIn(("cat", "feline", "kind:2", "kind"), got)
        self.assertIn(("true cat", "feline", "kind:2", "kind"), got)
        self.assertIn(("cat", "γάτα", "wn:1", "greek"), got)
        self.assertIn(("felid", "feline", "wn:2", "synonym"), got)  # each synonym pair once
        self.assertIn(("seat", "furniture for sitting", "wn:7", "definition"), got)
        self.assertNotIn("entity", {p["b"] for p in pairs})  # too abstract a kind
        sides = {p["a"] for p in pairs} | {p["b"] for p in pairs}
        for absent in ("kitty",  # its first sense does not dominate
                       "paris", "city of light",  # a named thing
                       "genus felis", "type genus of the felidae",  # taxonomic names
                       "settee", "a long wooden bench",  # a zero-shot word
                       "car", "αυτοκίνητο"):  # a val concept's name
            self.assertNotIn(absent, sides)
        self.assertIn(("automobile", "a motor vehicle with four wheels", "wn:8", "definition"), got)
        self.assertNotIn(("seat", "bench", "wn:7", "synonym"), got)  # "bench" has another first sense
        self.assertEqual(pairs, sorted(pairs, key=lambda p: (p["a"], p["b"], p["group"], p["kind"])))
        self.assertTrue({p["kind"] for p in pairs} <= set(text_pairs.KINDS))
        # A noun with a word outside everyday English is not paired ("felid": a zoologist's word).
        rarer = text_pairs.build(self.WordNet(), self.Greek(), everyday - {"felid"}, {"settee"}, {"car"})
        self.assertNotIn("felid", {p["a"] for p in rarer})
        # Its synonym pair stays, once, from the everyday word's side.
        synonyms = [(p["a"], p["b"]) for p in rarer if p["kind"] == "synonym" and "felid" in (p["a"], p["b"])]
        self.assertEqual(synonyms, [("feline", "felid")])

    def test_check_splits_finds_a_leak_through_text_pairs(self):
        items = [{"id": "a", "concept": "bed", "style": "color", "captions": {"en": ["bed"], "el": []}},
                 {"id": "b", "concept": "car", "style": "color", "captions": {"en": ["car"], "el": []}},
                 {"id": "c", "concept": "settee", "style": "color", "captions": {"en": ["settee"], "el": []}}]
        split_ids = {"train": ["a"], "val": ["b"], "zeroshot": ["c"], "style": []}
        splits.check_splits(items, split_ids, text_pairs=[{"a": "bed", "b": "a place to sleep"}])
        with self.assertRaises(SystemExit):  # a zero-shot word
            splits.check_splits(items, split_ids, text_pairs=[{"a": "bench", "b": "a long settee"}])
        with self.assertRaises(SystemExit):  # a val concept's name
            splits.check_splits(items, split_ids, text_pairs=[{"a": "automobile", "b": "car"}])


if __name__ == "__main__":
    unittest.main()
