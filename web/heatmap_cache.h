#pragma once
// The last heatmaps drawn (PNG bytes by item and text), so that toggling one on and off, or a
// second viewer of the same result, does not run the model again. Bounded; thread-safe.
#include <cstddef>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace opsis::web {

struct CachedHeatmap {
    std::string png;
    float cosine = 0;
};

class HeatmapCache {
public:
    explicit HeatmapCache(std::size_t capacity) : capacity_(capacity) {}

    std::optional<CachedHeatmap> find(const std::string& key) {
        std::lock_guard lock(mutex_);
        const auto it = where_.find(key);
        if (it == where_.end()) return std::nullopt;
        order_.splice(order_.begin(), order_, it->second);  // most recently used first
        return it->second->second;
    }

    void put(const std::string& key, CachedHeatmap drawn) {
        std::lock_guard lock(mutex_);
        if (const auto it = where_.find(key); it != where_.end()) {
            order_.erase(it->second);
            where_.erase(it);
        }
        order_.emplace_front(key, std::move(drawn));
        where_[key] = order_.begin();
        while (order_.size() > capacity_) {
            where_.erase(order_.back().first);
            order_.pop_back();
        }
    }

private:
    std::size_t capacity_;
    std::mutex mutex_;
    std::list<std::pair<std::string, CachedHeatmap>> order_;
    std::unordered_map<std::string, std::list<std::pair<std::string, CachedHeatmap>>::iterator> where_;
};

}  // namespace opsis::web
