#pragma once
// The training corpus as data/build-corpus writes it: manifest.jsonl (one image a line) and
// split files (one id a line). A malformed line is reported with its number and skipped.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace opsis::train {

struct CorpusItem {
    std::size_t line = 0;  // in the manifest, from 1
    std::string id, image, concept_name, source, style;
    std::vector<std::string> english, greek;
    // English definitions of the name ("a piece of furniture that provides a place to sleep"):
    // trained on as more English captions, never judged or shown as the item's names.
    std::vector<std::string> definitions;
    // The icon set's own search tags ("kitten", "kitty", "pet", "meow"): trained on as one more
    // English caption, "name: tag, tag, ..." (search_tags_caption), never judged or shown. (Not
    // "tags": the indexer reads a manifest's "tags" as the items' filter tags.)
    std::vector<std::string> search_tags;
    bool mirrorable = true;  // false: a mirror image would show another thing (UI icons, flags)
};

struct Manifest {
    std::vector<CorpusItem> items;
    std::vector<std::string> problems;  // "manifest.jsonl line 12: <reason>"
};

Manifest read_manifest(const std::string& path);
// Ids listed in a split file; a blank line is skipped.
std::vector<std::string> read_split(const std::string& path);

// The items whose ids a split lists, in the split's order; ids missing from the manifest are
// reported in problems.
std::vector<CorpusItem> select(const Manifest& manifest, const std::vector<std::string>& ids,
                               std::vector<std::string>& problems);

// An item's search tags as one English caption: its name (the first English caption's phrase) and the
// tags as keywords, "cat: kitten, kitty, pet", which training's keyword subsets then draw from.
// "" when the item has no tags or no English caption.
std::string search_tags_caption(const CorpusItem& item);

// Dense integer ids for concepts, in order of first appearance.
std::vector<std::int32_t> concept_ids(const std::vector<CorpusItem>& items);

}  // namespace opsis::train
