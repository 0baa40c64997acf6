#pragma once
// Opsis reports every failure by throwing opsis::Error (one convention, used everywhere).
// The message always names the input that failed and the reason, e.g.
//   "image 'cat.png': truncated file (PNG stream ends early)".
#include <cerrno>
#include <stdexcept>
#include <string>
#include <string_view>

namespace opsis {

class Error : public std::runtime_error {
public:
    // What went wrong, for whoever must react to it (the server answers each with its own
    // HTTP status): most errors are the caller's input; storage failures are the machine's.
    enum class Kind {
        invalid_input,  // fix the input and try again
        not_found,      // what the input names does not exist
        busy,           // in use (another process holds the index, a job is running): try later
        no_space,       // the disk is full: nothing was written
        io,             // reading or writing storage failed
        corruption,     // stored data is damaged
    };
    explicit Error(const std::string& message, Kind kind = Kind::invalid_input)
        : std::runtime_error(message), kind_(kind) {}
    Kind kind() const { return kind_; }

private:
    Kind kind_;
};

// Builds "<what> '<name>': <reason>" so that every message has the same shape; the kind is
// the caller's input unless told otherwise.
inline Error input_error(std::string_view what, std::string_view name, std::string_view reason,
                         Error::Kind kind = Error::Kind::invalid_input) {
    std::string msg;
    msg.reserve(what.size() + name.size() + reason.size() + 6);
    msg.append(what).append(" '").append(name).append("': ").append(reason);
    return Error(msg, kind);
}

// "<what> '<name>': not found", of kind not_found.
inline Error not_found_error(std::string_view what, std::string_view name) {
    return input_error(what, name, "not found", Error::Kind::not_found);
}

// The kind of a failed system call's errno: a full disk (or quota) is told apart.
inline Error::Kind storage_error_kind(int error_number) {
    return error_number == ENOSPC || error_number == EDQUOT ? Error::Kind::no_space : Error::Kind::io;
}

}  // namespace opsis
