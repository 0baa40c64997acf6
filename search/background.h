#pragma once
// The samples of a collection's stored vectors that text queries' backgrounds are measured
// against (encoder/relevance.h): drawn on first use and drawn again once the collection has
// grown or shrunk by a fifth, shared by every search thread.
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>

#include "encoder/relevance.h"
#include "storage/catalog.h"

namespace opsis::search {

// Up to `size` of the collection's vectors, each item at most once: all of them when it holds
// no more; else items drawn at random (a fixed seed: the same catalog gives the same sample)
// by point reads of ids below id_bound, or, when removals left too few ids in use to find
// them that way, by one pass over the vectors.
Tensor draw_background_sample(const storage::Catalog& catalog, storage::Collection c, std::size_t size, int dim);

class CollectionBackgrounds {
public:
    std::shared_ptr<const BackgroundSample> sample(const storage::Catalog& catalog, storage::Collection c,
                                                   std::size_t size, int dim) const;

private:
    struct Entry {
        std::shared_ptr<const BackgroundSample> sample;
        std::uint64_t count = 0;  // the collection's items when it was drawn
        std::size_t size = 0;
    };
    mutable std::mutex mutex_;
    mutable std::map<storage::Collection, Entry> entries_;
};

}  // namespace opsis::search
