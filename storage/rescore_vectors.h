#pragma once
// Every vector of a collection as float16, one slot per id, in a memory-mapped file beside the
// catalog (DIR/images.f16): what a compressed vector index's candidates are re-scored against,
// a page read each instead of a RocksDB read each, at a quarter of float32's memory. Like a
// vector index snapshot it is a cache of the catalog: kept in step through the change log (it
// records the log position it holds), rebuilt from the stored vectors when missing or damaged.
//
// Layout: a 4096-byte header ("OPSISF16", version, dim, slots, applied_seq), then slot `id` at
// 4096 + id * dim * 2 bytes; a slot never written, or cleared, is all zeros.
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>

namespace opsis::storage {

class RescoreVectors {
public:
    // A new, empty file (replacing one there).
    static std::unique_ptr<RescoreVectors> create(const std::string& path, int dim);
    // An existing file of this dimension; nullptr when it is missing or unusable (the caller
    // rebuilds it). Read-only maps it without writing.
    static std::unique_ptr<RescoreVectors> open(const std::string& path, int dim, bool read_only);
    ~RescoreVectors();
    RescoreVectors(const RescoreVectors&) = delete;
    RescoreVectors& operator=(const RescoreVectors&) = delete;

    int dim() const { return dim_; }
    std::uint64_t applied_seq() const { return applied_seq_; }
    void set_applied_seq(std::uint64_t seq) { applied_seq_ = seq; }

    void put(std::int64_t id, const float* vector);  // grows the file as ids grow
    void clear(std::int64_t id);
    // The vector of `id` as float32 into `out`; false for a slot that holds none.
    bool get(std::int64_t id, float* out) const;
    // out[i] = dot(query, vector of ids[i]) (0 for a slot that holds none).
    void dots(const float* query, const std::int64_t* ids, std::size_t n, float* out) const;
    // Data to disk, then the header with the log position: after a crash the file is at least
    // as current as its header says.
    void save();
    std::uint64_t file_bytes() const;

private:
    RescoreVectors() = default;
    void map(std::uint64_t slots);  // with the lock held exclusively
    const std::uint16_t* slot(std::int64_t id) const;

    std::string path_;
    int fd_ = -1;
    int dim_ = 0;
    bool read_only_ = false;
    std::uint64_t slots_ = 0;        // capacity
    std::uint64_t applied_seq_ = 0;  // in memory; written to the header by save()
    unsigned char* base_ = nullptr;
    std::size_t mapped_bytes_ = 0;
    mutable std::shared_mutex mutex_;  // searches read while commits write; growth remaps
};

// float32 <-> IEEE half, round to nearest even; F16C where the CPU has it.
void to_half(const float* in, std::uint16_t* out, std::size_t n);
void from_half(const std::uint16_t* in, float* out, std::size_t n);

}  // namespace opsis::storage
