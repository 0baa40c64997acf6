#include "core/sha256.h"

#include <openssl/evp.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "core/error.h"

namespace opsis {
namespace {

struct DigestContext {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    DigestContext() {
        if (ctx == nullptr || EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) != 1)
            throw Error("sha256: OpenSSL could not start a digest");
    }
    ~DigestContext() { EVP_MD_CTX_free(ctx); }
    void update(const void* data, std::size_t size) { EVP_DigestUpdate(ctx, data, size); }
    std::string hex() {
        unsigned char digest[EVP_MAX_MD_SIZE];
        unsigned int length = 0;
        EVP_DigestFinal_ex(ctx, digest, &length);
        static const char* digits = "0123456789abcdef";
        std::string out(2 * length, '0');
        for (unsigned int i = 0; i < length; ++i) {
            out[2 * i] = digits[digest[i] >> 4];
            out[2 * i + 1] = digits[digest[i] & 15];
        }
        return out;
    }
};

}  // namespace

std::string sha256_hex(const void* data, std::size_t size) {
    DigestContext d;
    d.update(data, size);
    return d.hex();
}

std::string sha256_file_hex(const std::string& path) {
    std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
    if (!f) throw input_error("file", path, std::strerror(errno));
    DigestContext d;
    std::vector<unsigned char> chunk(1 << 20);
    while (true) {
        const std::size_t n = std::fread(chunk.data(), 1, chunk.size(), f.get());
        if (n > 0) d.update(chunk.data(), n);
        if (n < chunk.size()) {
            if (std::ferror(f.get())) throw input_error("file", path, "read error");
            break;
        }
    }
    return d.hex();
}

}  // namespace opsis
