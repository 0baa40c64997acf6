#pragma once
// How the catalog lays out its records in RocksDB (storage/catalog.cpp's internals): column
// family names, numeric keys, the source/tag index's keys, and the JSON of items, paths and
// failures. Only the catalog's own files include this.
#include <rocksdb/slice.h>
#include <rocksdb/status.h>

#include <cstdint>
#include <set>
#include <string>

#include "storage/catalog.h"

namespace opsis::storage::records {

// The column families every catalog has, per collection ("images.items", ...).
inline constexpr const char* kFamilySuffixes[] = {"items", "vectors", "hashes", "log"};
std::string family(Collection c, const char* what);

// Ids and sequence numbers as 8 big-endian bytes, so RocksDB's byte order is numeric order.
std::string key_of(std::uint64_t v);
std::uint64_t number_of(const rocksdb::Slice& k);

// The source/tag index ("<collection>.facets"): one empty-valued key per source and tag of an
// item: kind ('s' or 't'), the value's length (4 bytes, big-endian), the value, the id. A
// filter then reads the ids of its value as one key range.
std::string facet_prefix(char kind, const std::string& value);
// Dates: kind 'd', the local time plus 2^63 (8 bytes, big-endian, so negative times sort
// first), the id; cameras are kind 'c' like sources.
std::string date_key(std::int64_t local);
std::set<std::string> facet_keys(const Item& item);

std::string item_value(const Item& item);
Item item_from(const std::string& bytes);
std::string path_value(const PathEntry& entry);
PathEntry path_from(const std::string& bytes);
std::string failure_value(const Failure& failure);
Failure failure_from(Collection c, const std::string& key, const std::string& bytes);

// Whether a failed write failed for want of disk space (RocksDB reports some such as I/O errors).
bool disk_full(const rocksdb::Status& s);
// Unix seconds now: an item's added_at when its writer gives none.
std::int64_t unix_now();

// Throws the catalog's error for a failed RocksDB call, with a kind: no space, corruption and
// I/O are the machine's; anything else the caller's.
void check(const rocksdb::Status& s, const std::string& folder, const char* doing);

}  // namespace opsis::storage::records
