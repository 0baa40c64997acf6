#include "search/background.h"

#include <algorithm>
#include <unordered_set>

#include "core/splitmix.h"

namespace opsis::search {

using storage::Collection;

Tensor draw_background_sample(const storage::Catalog& catalog, Collection c, std::size_t size, int dim) {
    const std::uint64_t count = catalog.item_count(c);
    const auto d = static_cast<std::size_t>(dim);
    std::vector<float> rows;
    std::size_t n = 0;
    auto take = [&](const float* v, std::size_t len) {
        if (len != d) return;
        rows.insert(rows.end(), v, v + d);
        ++n;
    };
    if (count > size) {
        // Ids are never reused, so a collection with few removals has most ids below its bound
        // in use; eight tries a vector find them unless most were removed.
        const std::int64_t bound = catalog.id_bound(c);
        std::unordered_set<std::int64_t> tried;
        std::uint64_t state = 0x6f707369735f6267ull;  // "opsis_bg"
        for (std::size_t attempt = 0; attempt < 8 * size && n < size && bound > 1; ++attempt) {
            state = splitmix64(state);
            const std::int64_t id = 1 + static_cast<std::int64_t>(state % static_cast<std::uint64_t>(bound - 1));
            if (!tried.insert(id).second) continue;
            const std::vector<float> v = catalog.vector(c, id);
            take(v.data(), v.size());
        }
        if (n < size / 2) {
            rows.clear();
            n = 0;
        }
    }
    if (n == 0) {
        // Every vector, or an even stride through them when there are more than `size`.
        const std::uint64_t stride = std::max<std::uint64_t>(1, (count + size - 1) / std::max<std::size_t>(size, 1));
        std::uint64_t seen = 0;
        catalog.for_each_vector(c, [&](std::int64_t, const float* v, std::size_t len) {
            if (seen++ % stride == 0) take(v, len);
            return n < size;
        });
    }
    return n == 0 ? Tensor{} : Tensor({static_cast<std::int64_t>(n), dim}, std::move(rows));
}

std::shared_ptr<const BackgroundSample> CollectionBackgrounds::sample(const storage::Catalog& catalog, Collection c,
                                                                      std::size_t size, int dim) const {
    const std::uint64_t count = catalog.item_count(c);
    std::lock_guard lock(mutex_);
    Entry& e = entries_[c];
    const bool stale = !e.sample || e.size != size || 5 * count > 6 * e.count || 5 * count < 4 * e.count ||
                       (e.count < size && count != e.count);
    if (stale) {
        e.sample = std::make_shared<const BackgroundSample>(draw_background_sample(catalog, c, size, dim));
        e.count = count;
        e.size = size;
    }
    return e.sample;
}

}  // namespace opsis::search
