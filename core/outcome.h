#pragma once
// What one item of a batch came to: its value, or the exception it alone raised. Lets a
// batch of requests fail one by one instead of all together.
#include <exception>
#include <utility>
#include <variant>

namespace opsis {

template <typename T>
using Outcome = std::variant<T, std::exception_ptr>;

// The value, or the item's exception rethrown.
template <typename T>
T take(Outcome<T>&& outcome) {
    if (auto* error = std::get_if<std::exception_ptr>(&outcome)) std::rethrow_exception(*error);
    return std::move(std::get<T>(outcome));
}

}  // namespace opsis
