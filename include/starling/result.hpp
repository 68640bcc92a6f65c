#pragma once
/// `starling::result<T>`: a value or a `starling::error`. The API returns errors, it does not
/// throw them (C++20 has no std::expected; this is the small part of it we need).

#include <cstdlib>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

#include "starling/error.hpp"

namespace starling {

/// A value of type T or an error. Test it (`if (r)`) before taking the value: value() on an
/// error is a bug in the caller and aborts the program.
template <class T>
class [[nodiscard]] result {
 public:
  /// A value.
  result(T value) : m_v(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit on purpose
  /// An error.
  result(starling::error e) : m_v(std::in_place_index<1>, std::move(e)) {}  // NOLINT

  /// True when it holds a value.
  bool has_value() const noexcept { return m_v.index() == 0; }
  /// True when it holds a value.
  explicit operator bool() const noexcept { return has_value(); }

  /// The value (aborts when there is none).
  T& value() & { return *check(std::get_if<0>(&m_v)); }
  /// The value (aborts when there is none).
  const T& value() const& { return *check(std::get_if<0>(&m_v)); }
  /// The value, moved out (aborts when there is none).
  T&& value() && { return std::move(*check(std::get_if<0>(&m_v))); }
  /// The value (aborts when there is none).
  T& operator*() & { return value(); }
  /// The value (aborts when there is none).
  const T& operator*() const& { return value(); }
  /// The value, moved out (aborts when there is none).
  T&& operator*() && { return std::move(*this).value(); }
  /// Member access to the value (aborts when there is none).
  T* operator->() { return &value(); }
  /// Member access to the value (aborts when there is none).
  const T* operator->() const { return &value(); }

  /// The error (aborts when there is a value).
  const starling::error& error() const { return *check(std::get_if<1>(&m_v)); }

 private:
  template <class P>
  static P* check(P* p) {
    if (!p) std::abort();
    return p;
  }
  std::variant<T, starling::error> m_v;
};

/// Success, or an error.
template <>
class [[nodiscard]] result<void> {
 public:
  /// Success.
  result() = default;
  /// An error.
  result(starling::error e) : m_error(std::move(e)) {}  // NOLINT: implicit on purpose

  /// True on success.
  bool has_value() const noexcept { return !m_error; }
  /// True on success.
  explicit operator bool() const noexcept { return has_value(); }
  /// Does nothing on success; aborts on an error (for symmetry with result<T>).
  void value() const {
    if (m_error) std::abort();
  }
  /// The error (aborts on success).
  const starling::error& error() const {
    if (!m_error) std::abort();
    return *m_error;
  }

 private:
  std::optional<starling::error> m_error;
};

}  // namespace starling
