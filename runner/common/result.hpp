// common/result.hpp — dsk::Error and dsk::Result<T>: the runner's error handling.
//
// The runner reports failures (bad files, bad arguments, missing keys) as values instead of
// exceptions: a Result<T> holds either a T or an Error, and every caller decides what to do with
// it. An Error is one line of text; callers add context while it travels up, so the final message
// reads from the outermost context to the cause:
//     "model.gguf: tensor 'blk.3.attn_kv_b.weight': dimension 1 is 0"
// Calling value() on a Result that holds an Error is a programming error: it prints the message
// and aborts (it never throws).
#pragma once

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace dsk {

class Error {
 public:
  explicit Error(std::string message) : message_(std::move(message)) {}

  // printf-style constructor (GCC 12 has no <format>).
  [[nodiscard]] static Error format(const char* fmt, ...) __attribute__((format(printf, 1, 2))) {
    va_list ap;
    va_start(ap, fmt);
    Error e(vformat(fmt, ap));
    va_end(ap);
    return e;
  }

  const std::string& message() const noexcept { return message_; }

  // Prepends "context: " to the message.
  void add_context(std::string_view ctx) {
    if (!ctx.empty()) message_.insert(0, std::string(ctx) + ": ");
  }
  Error&& context(std::string_view ctx) && {
    add_context(ctx);
    return std::move(*this);
  }
  Error context(std::string_view ctx) const& { return Error(*this).context(ctx); }

  friend bool operator==(const Error&, const Error&) = default;

 private:
  static std::string vformat(const char* fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    const int n = std::vsnprintf(nullptr, 0, fmt, ap2);
    va_end(ap2);
    if (n <= 0) return std::string();
    std::string s(static_cast<size_t>(n), '\0');
    std::vsnprintf(s.data(), s.size() + 1, fmt, ap);
    return s;
  }

  std::string message_;
};

namespace detail {
[[noreturn]] inline void result_misuse(const Error* e) {
  std::fprintf(stderr, "dsk: Result::value() called on an error: %s\n", e ? e->message().c_str() : "?");
  std::abort();
}
[[noreturn]] inline void result_misuse_no_error() {
  std::fprintf(stderr, "dsk: Result::error() called on a value\n");
  std::abort();
}
}  // namespace detail

template <class T>
class [[nodiscard]] Result {
  static_assert(!std::is_reference_v<T>, "use Result<T*> or Result<std::reference_wrapper<T>>");
  static_assert(!std::is_same_v<std::remove_cv_t<T>, Error>, "Result<Error> is ambiguous");

 public:
  using value_type = T;

  Result(const T& v) : v_(std::in_place_index<0>, v) {}
  Result(T&& v) : v_(std::in_place_index<0>, std::move(v)) {}
  Result(Error e) : v_(std::in_place_index<1>, std::move(e)) {}
  // Converts from a value of another type (e.g. Result<std::string> from a const char*).
  template <class U>
    requires(std::is_constructible_v<T, U &&> && !std::is_same_v<std::remove_cvref_t<U>, T> &&
             !std::is_same_v<std::remove_cvref_t<U>, Error> && !std::is_same_v<std::remove_cvref_t<U>, Result>)
  Result(U&& v) : v_(std::in_place_index<0>, std::forward<U>(v)) {}

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & {
    if (!ok()) detail::result_misuse(std::get_if<1>(&v_));
    return *std::get_if<0>(&v_);
  }
  const T& value() const& {
    if (!ok()) detail::result_misuse(std::get_if<1>(&v_));
    return *std::get_if<0>(&v_);
  }
  T&& value() && { return std::move(value()); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(value()); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  template <class U>
  T value_or(U&& fallback) const& {
    return ok() ? *std::get_if<0>(&v_) : static_cast<T>(std::forward<U>(fallback));
  }

  const Error& error() const& {
    if (ok()) detail::result_misuse_no_error();
    return *std::get_if<1>(&v_);
  }
  Error&& error() && {
    if (ok()) detail::result_misuse_no_error();
    return std::move(*std::get_if<1>(&v_));
  }

  // Adds context to an error; a value passes through.
  Result context(std::string_view ctx) && {
    if (!ok()) std::get_if<1>(&v_)->add_context(ctx);
    return std::move(*this);
  }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error e) : err_(std::move(e)), has_error_(true) {}

  bool ok() const noexcept { return !has_error_; }
  explicit operator bool() const noexcept { return ok(); }
  void value() const {
    if (has_error_) detail::result_misuse(&err_);
  }
  const Error& error() const& {
    if (!has_error_) detail::result_misuse_no_error();
    return err_;
  }
  Error&& error() && {
    if (!has_error_) detail::result_misuse_no_error();
    return std::move(err_);
  }
  Result context(std::string_view ctx) && {
    if (has_error_) err_.add_context(ctx);
    return std::move(*this);
  }

 private:
  Error err_{std::string()};
  bool has_error_ = false;
};

inline Result<void> ok() { return {}; }

}  // namespace dsk

#define DSK_RESULT_CAT2(a, b) a##b
#define DSK_RESULT_CAT(a, b) DSK_RESULT_CAT2(a, b)

// DSK_TRY(expr): evaluates a Result-valued expression; on error returns the error (with no added
// context) from the enclosing function, whose return type must be constructible from dsk::Error.
#define DSK_TRY(expr)                                                             \
  do {                                                                            \
    auto&& dsk_try_result_ = (expr);                                              \
    if (!dsk_try_result_.ok()) return std::move(dsk_try_result_).error();         \
  } while (0)

// DSK_TRY_ASSIGN(decl, expr): like DSK_TRY, and on success moves the value into `decl`, e.g.
//     DSK_TRY_ASSIGN(auto n, md.get_int<uint32_t>("deepseek2.block_count"));
// It expands to several statements (it declares `decl` in the enclosing scope): use it as a
// statement of its own in a block, not as the body of an unbraced if/for.
#define DSK_TRY_ASSIGN(decl, expr)                                                            \
  auto DSK_RESULT_CAT(dsk_try_r_, __LINE__) = (expr);                                        \
  if (!DSK_RESULT_CAT(dsk_try_r_, __LINE__).ok())                                            \
    return std::move(DSK_RESULT_CAT(dsk_try_r_, __LINE__)).error();                          \
  decl = std::move(DSK_RESULT_CAT(dsk_try_r_, __LINE__)).value()
