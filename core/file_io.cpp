#include "core/file_io.h"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

namespace opsis {
namespace {

struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

std::string errno_text() { return std::strerror(errno); }

// Opens path read-only and checks that it is a regular file; returns its status. O_NONBLOCK:
// opening a FIFO would otherwise wait for a writer (forever); regular files ignore it.
struct stat open_regular(const std::string& path, Fd& file) {
    file.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (file.fd < 0) throw input_error("file", path, "cannot open: " + errno_text());
    struct stat st {};
    if (::fstat(file.fd, &st) != 0) throw input_error("file", path, "cannot stat: " + errno_text());
    if (!S_ISREG(st.st_mode)) throw input_error("file", path, "not a regular file");
    return st;
}

}  // namespace

std::vector<unsigned char> read_file(const std::string& path, std::uint64_t max_bytes) {
    return read_file_snapshot(path, max_bytes).bytes;
}

FileSnapshot read_file_snapshot(const std::string& path, std::uint64_t max_bytes) {
    Fd file;
    const struct stat st = open_regular(path, file);
    const auto size = static_cast<std::uint64_t>(st.st_size);
    if (size > max_bytes)
        throw input_error("file", path,
                          "too large (" + std::to_string(size) + " bytes, limit " + std::to_string(max_bytes) + ")");
    std::vector<unsigned char> bytes(size);
    std::size_t done = 0;
    while (done < size) {
        const ssize_t n = ::read(file.fd, bytes.data() + done, size - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw input_error("file", path, "read failed: " + errno_text());
        }
        if (n == 0) break;  // file shrank while reading
        done += static_cast<std::size_t>(n);
    }
    bytes.resize(done);
    return {std::move(bytes), size, static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

std::string read_text_file(const std::string& path, std::uint64_t max_bytes) {
    const auto bytes = read_file(path, max_bytes);
    return std::string(bytes.begin(), bytes.end());
}

void write_file_atomic_with(const std::string& path, const std::function<void(std::FILE*)>& write) {
    // Unique per process and call, so two threads writing the same file never share a temp.
    static std::atomic<std::uint64_t> counter{0};
    const std::string tmp = path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    std::FILE* file = std::fopen(tmp.c_str(), "wbe");
    if (file == nullptr) throw input_error("file", tmp, "cannot create: " + errno_text(), storage_error_kind(errno));
    // Storage failures keep their kind (a full disk is not the caller's fault).
    auto fail = [&](const std::string& reason, Error::Kind kind) {
        if (file != nullptr) std::fclose(file);
        ::unlink(tmp.c_str());
        return input_error("file", tmp, reason, kind);
    };
    try {
        write(file);
    } catch (const Error& e) {
        throw fail(e.what(), e.kind());
    } catch (const std::exception& e) {
        throw fail(e.what(), Error::Kind::io);
    }
    if (std::fflush(file) != 0 || std::ferror(file))
        throw fail("write failed: " + errno_text(), storage_error_kind(errno));
    if (::fsync(::fileno(file)) != 0) throw fail("fsync failed: " + errno_text(), storage_error_kind(errno));
    if (std::fclose(file) != 0) {
        const int error_number = errno;
        file = nullptr;
        throw fail("close failed: " + errno_text(), storage_error_kind(error_number));
    }
    file = nullptr;
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        const int error_number = errno;
        const std::string reason = "cannot rename into place: " + errno_text();
        ::unlink(tmp.c_str());
        throw input_error("file", path, reason, storage_error_kind(error_number));
    }
    // The rename itself must reach the disk, or a power cut could bring back the old file.
    const std::string parent = std::filesystem::path(path).parent_path().string();
    Fd dir;
    dir.fd = ::open(parent.empty() ? "." : parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir.fd >= 0) ::fsync(dir.fd);
}

void write_file_atomic(const std::string& path, const void* data, std::size_t size) {
    write_file_atomic_with(path, [&](std::FILE* file) {
        if (size > 0 && std::fwrite(data, 1, size, file) != size)
            throw Error("write failed: " + errno_text(), storage_error_kind(errno));
    });
}

void write_file_atomic(const std::string& path, const std::string& text) {
    write_file_atomic(path, text.data(), text.size());
}

MappedFile::MappedFile(const std::string& path) : path_(path) {
    Fd file;
    size_ = static_cast<std::size_t>(open_regular(path, file).st_size);
    if (size_ == 0) return;  // mmap of zero bytes is invalid; callers see an empty span
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, file.fd, 0);
    if (p == MAP_FAILED) throw input_error("file", path, "cannot mmap: " + errno_text());
    data_ = static_cast<const unsigned char*>(p);
}

MappedFile::~MappedFile() {
    if (data_) ::munmap(const_cast<unsigned char*>(data_), size_);
}

std::string absolute_path(const std::string& path) {
    std::error_code ec;
    std::filesystem::path p = std::filesystem::absolute(path, ec);
    if (ec) p = path;
    return p.lexically_normal().string();
}

}  // namespace opsis
