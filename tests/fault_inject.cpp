// A storage fault for tests, preloaded into a server (LD_PRELOAD): while the file named by
// $OPSIS_FAULT_FLAG exists, fsync and fdatasync fail with EIO, as a failing disk's would.
// RocksDB syncs its write-ahead log and Opsis its atomic file writes through them, so every
// durable write fails from that moment, and reads go on.
#include <dlfcn.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

namespace {

bool failing() {
    const char* flag = std::getenv("OPSIS_FAULT_FLAG");
    return flag != nullptr && ::access(flag, F_OK) == 0;
}

template <typename Fn>
Fn real(const char* name) {
    return reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, name));
}

}  // namespace

extern "C" int fsync(int fd) {
    static const auto next = real<int (*)(int)>("fsync");
    if (failing()) {
        errno = EIO;
        return -1;
    }
    return next(fd);
}

extern "C" int fdatasync(int fd) {
    static const auto next = real<int (*)(int)>("fdatasync");
    if (failing()) {
        errno = EIO;
        return -1;
    }
    return next(fd);
}
