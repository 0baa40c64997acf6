#pragma once
// Opsis reports every failure by throwing opsis::Error (one convention, used everywhere).
// The message always names the input that failed and the reason, e.g.
//   "image 'cat.png': truncated file (PNG stream ends early)".
#include <stdexcept>
#include <string>
#include <string_view>

namespace opsis {

class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Builds "<what> '<name>': <reason>" so that every message has the same shape.
inline Error input_error(std::string_view what, std::string_view name, std::string_view reason) {
    std::string msg;
    msg.reserve(what.size() + name.size() + reason.size() + 6);
    msg.append(what).append(" '").append(name).append("': ").append(reason);
    return Error(msg);
}

}  // namespace opsis
