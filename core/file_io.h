#pragma once
// Reading and writing whole files with size limits, crash-safe replacement, and read-only mmap.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace opsis {

// Reads a whole file; throws opsis::Error naming the path if it is missing, unreadable,
// not a regular file, or larger than max_bytes (checked before reading).
std::vector<unsigned char> read_file(const std::string& path, std::uint64_t max_bytes);
std::string read_text_file(const std::string& path, std::uint64_t max_bytes);
// The same, with the size and modification time of the very file read (one open, so the
// three describe the same file even if the path is swapped meanwhile).
struct FileSnapshot {
    std::vector<unsigned char> bytes;
    std::uint64_t size = 0;  // at open; bytes may be shorter if the file shrank
    std::int64_t mtime_ns = 0;
};
FileSnapshot read_file_snapshot(const std::string& path, std::uint64_t max_bytes);

// Writes to "<path>.tmp-<pid>-<n>", fsyncs, then renames over path, so readers never see a
// half-written file and a crash leaves the old version intact.
void write_file_atomic(const std::string& path, const void* data, std::size_t size);
void write_file_atomic(const std::string& path, const std::string& text);
// The same for content written as a stream: `write` fills the temporary file (an exception
// from it removes the file and is rethrown naming it); then fsync, rename, fsync the folder.
void write_file_atomic_with(const std::string& path, const std::function<void(std::FILE*)>& write);

// A read-only memory map of a whole file; unmapped on destruction.
class MappedFile {
public:
    explicit MappedFile(const std::string& path);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const unsigned char* data() const { return data_; }
    std::size_t size() const { return size_; }
    const std::string& path() const { return path_; }

private:
    std::string path_;
    const unsigned char* data_ = nullptr;
    std::size_t size_ = 0;
};

// The path made absolute (against the working directory) and lexically normalised, symlinks
// kept as named; the path itself when the working directory cannot be read.
std::string absolute_path(const std::string& path);

}  // namespace opsis
