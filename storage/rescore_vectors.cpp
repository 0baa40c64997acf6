#include "storage/rescore_vectors.h"

#include <fcntl.h>
#include <immintrin.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <vector>

#include "core/error.h"

namespace opsis::storage {
namespace {

constexpr char kMagic[8] = {'O', 'P', 'S', 'I', 'S', 'F', '1', '6'};
constexpr std::uint32_t kVersion = 1;
constexpr std::size_t kHeaderBytes = 4096;
constexpr std::uint64_t kFirstSlots = 1024;

struct Header {
    char magic[8];
    std::uint32_t version;
    std::uint32_t dim;
    std::uint64_t slots;
    std::uint64_t applied_seq;
};

std::uint16_t half_of(float f) {
    std::uint32_t x;
    std::memcpy(&x, &f, 4);
    const std::uint32_t sign = (x >> 16) & 0x8000;
    std::uint32_t mant = x & 0x7fffff;
    const int exp = static_cast<int>((x >> 23) & 0xff);
    if (exp == 255) return static_cast<std::uint16_t>(sign | 0x7c00 | (mant ? 0x200 : 0));
    const int e = exp - 127 + 15;
    if (e >= 31) return static_cast<std::uint16_t>(sign | 0x7c00);
    if (e <= 0) {  // a half subnormal, or zero
        if (e < -10) return static_cast<std::uint16_t>(sign);
        mant |= 0x800000;
        const int shift = 14 - e;
        std::uint32_t h = mant >> shift;
        const std::uint32_t rest = mant & ((1u << shift) - 1), halfway = 1u << (shift - 1);
        if (rest > halfway || (rest == halfway && (h & 1))) ++h;
        return static_cast<std::uint16_t>(sign | h);
    }
    std::uint32_t h = sign | (static_cast<std::uint32_t>(e) << 10) | (mant >> 13);
    const std::uint32_t rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) ++h;  // a carry into the exponent is right
    return static_cast<std::uint16_t>(h);
}

float float_of(std::uint16_t h) {
    const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000) << 16;
    int exp = (h >> 10) & 0x1f;
    std::uint32_t mant = h & 0x3ff, x;
    if (exp == 0) {
        if (mant == 0) {
            x = sign;
        } else {  // subnormal: normalise
            exp = 1;
            while (!(mant & 0x400)) mant <<= 1, --exp;
            x = sign | (static_cast<std::uint32_t>(exp + 127 - 15) << 23) | ((mant & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        x = sign | 0x7f800000 | (mant << 13);
    } else {
        x = sign | (static_cast<std::uint32_t>(exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    std::memcpy(&f, &x, 4);
    return f;
}

__attribute__((target("avx,f16c"))) void to_half_f16c(const float* in, std::uint16_t* out, std::size_t n) {
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; ++i) out[i] = half_of(in[i]);
}

__attribute__((target("avx,f16c"))) void from_half_f16c(const std::uint16_t* in, float* out, std::size_t n) {
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i))));
    for (; i < n; ++i) out[i] = float_of(in[i]);
}

bool has_f16c() {
    static const bool yes = __builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx");
    return yes;
}

Error io_error(const std::string& path, const char* what) {
    return Error("rescore vectors '" + path + "': " + what + ": " + std::strerror(errno), Error::Kind::io);
}

}  // namespace

void to_half(const float* in, std::uint16_t* out, std::size_t n) {
    if (has_f16c()) return to_half_f16c(in, out, n);
    for (std::size_t i = 0; i < n; ++i) out[i] = half_of(in[i]);
}

void from_half(const std::uint16_t* in, float* out, std::size_t n) {
    if (has_f16c()) return from_half_f16c(in, out, n);
    for (std::size_t i = 0; i < n; ++i) out[i] = float_of(in[i]);
}

std::unique_ptr<RescoreVectors> RescoreVectors::create(const std::string& path, int dim) {
    std::unique_ptr<RescoreVectors> r(new RescoreVectors());
    r->path_ = path;
    r->dim_ = dim;
    r->fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (r->fd_ < 0) throw io_error(path, "cannot create");
    std::unique_lock lock(r->mutex_);
    r->map(kFirstSlots);
    Header h{};
    std::memcpy(h.magic, kMagic, 8);
    h.version = kVersion;
    h.dim = static_cast<std::uint32_t>(dim);
    h.slots = r->slots_;  // a file that never grows past its first slots must still say how many it has
    std::memcpy(r->base_, &h, sizeof h);
    return r;
}

std::unique_ptr<RescoreVectors> RescoreVectors::open(const std::string& path, int dim, bool read_only) {
    const int fd = ::open(path.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0) return nullptr;
    Header h{};
    struct stat st {};
    const bool readable = ::pread(fd, &h, sizeof h, 0) == static_cast<ssize_t>(sizeof h) && ::fstat(fd, &st) == 0;
    if (!readable || std::memcmp(h.magic, kMagic, 8) != 0 || h.version != kVersion ||
        h.dim != static_cast<std::uint32_t>(dim) || h.slots == 0 ||
        static_cast<std::uint64_t>(st.st_size) < kHeaderBytes + h.slots * static_cast<std::uint64_t>(dim) * 2) {
        ::close(fd);
        return nullptr;
    }
    std::unique_ptr<RescoreVectors> r(new RescoreVectors());
    r->path_ = path;
    r->fd_ = fd;
    r->dim_ = dim;
    r->read_only_ = read_only;
    r->applied_seq_ = h.applied_seq;
    std::unique_lock lock(r->mutex_);
    r->map(h.slots);
    return r;
}

RescoreVectors::~RescoreVectors() {
    if (base_) ::munmap(base_, mapped_bytes_);
    if (fd_ >= 0) ::close(fd_);
}

void RescoreVectors::map(std::uint64_t slots) {
    const std::size_t bytes = kHeaderBytes + static_cast<std::size_t>(slots) * static_cast<std::size_t>(dim_) * 2;
    if (!read_only_ && ::ftruncate(fd_, static_cast<off_t>(bytes)) != 0) throw io_error(path_, "cannot grow");
    if (base_) ::munmap(base_, mapped_bytes_);
    void* p = ::mmap(nullptr, bytes, read_only_ ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    if (p == MAP_FAILED) {
        base_ = nullptr;  // no slot is readable then (slot() checks against slots_)
        mapped_bytes_ = 0;
        slots_ = 0;
        throw io_error(path_, "cannot map");
    }
    base_ = static_cast<unsigned char*>(p);
    mapped_bytes_ = bytes;
    slots_ = slots;
    if (!read_only_) {
        Header h;
        std::memcpy(&h, base_, sizeof h);
        h.slots = slots;
        std::memcpy(base_, &h, sizeof h);
    }
}

const std::uint16_t* RescoreVectors::slot(std::int64_t id) const {
    if (id < 0 || static_cast<std::uint64_t>(id) >= slots_) return nullptr;
    return reinterpret_cast<const std::uint16_t*>(base_ + kHeaderBytes) + static_cast<std::size_t>(id) * dim_;
}

void RescoreVectors::put(std::int64_t id, const float* vector) {
    if (read_only_) throw Error("rescore vectors '" + path_ + "': opened read-only");
    if (id < 0) throw Error("rescore vectors: negative id");
    if (static_cast<std::uint64_t>(id) >= slots_) {
        std::unique_lock lock(mutex_);
        map(std::max<std::uint64_t>(slots_ * 2, static_cast<std::uint64_t>(id) + 1));
    }
    std::shared_lock lock(mutex_);
    to_half(vector, const_cast<std::uint16_t*>(slot(id)), static_cast<std::size_t>(dim_));
}

void RescoreVectors::clear(std::int64_t id) {
    if (read_only_) throw Error("rescore vectors '" + path_ + "': opened read-only");
    std::shared_lock lock(mutex_);
    if (const std::uint16_t* s = slot(id))
        std::memset(const_cast<std::uint16_t*>(s), 0, static_cast<std::size_t>(dim_) * 2);
}

bool RescoreVectors::get(std::int64_t id, float* out) const {
    std::shared_lock lock(mutex_);
    const std::uint16_t* s = slot(id);
    if (!s || std::all_of(s, s + dim_, [](std::uint16_t v) { return v == 0; })) return false;
    from_half(s, out, static_cast<std::size_t>(dim_));
    return true;
}

void RescoreVectors::dots(const float* query, const std::int64_t* ids, std::size_t n, float* out) const {
    std::vector<float> v(static_cast<std::size_t>(dim_));
    std::shared_lock lock(mutex_);
    for (std::size_t i = 0; i < n; ++i) {
        const std::uint16_t* s = slot(ids[i]);
        if (!s) {
            out[i] = 0;
            continue;
        }
        from_half(s, v.data(), v.size());
        float sum = 0;
        for (std::size_t k = 0; k < v.size(); ++k) sum += query[k] * v[k];
        out[i] = sum;
    }
}

void RescoreVectors::save() {
    if (read_only_) return;
    std::unique_lock lock(mutex_);
    if (::msync(base_, mapped_bytes_, MS_SYNC) != 0) throw io_error(path_, "cannot write to disk");
    Header h;
    std::memcpy(&h, base_, sizeof h);
    h.applied_seq = applied_seq_;
    std::memcpy(base_, &h, sizeof h);
    if (::msync(base_, kHeaderBytes, MS_SYNC) != 0) throw io_error(path_, "cannot write to disk");
}

std::uint64_t RescoreVectors::file_bytes() const { return mapped_bytes_; }

}  // namespace opsis::storage
