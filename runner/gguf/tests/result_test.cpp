// dsk::Result / dsk::Error (runner/common/result.hpp).
#include <memory>
#include <string>

#include "catch.hpp"
#include "common/result.hpp"

namespace {

dsk::Result<int> parse_digit(char c) {
  if (c < '0' || c > '9') return dsk::Error::format("'%c' is not a digit", c);
  return c - '0';
}

dsk::Result<int> sum_digits(const std::string& s) {
  int sum = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    auto d = parse_digit(s[i]);
    if (!d) return std::move(d).error().context("position " + std::to_string(i));
    sum += *d;
  }
  return sum;
}

dsk::Result<int> twice(const std::string& s) {
  DSK_TRY_ASSIGN(const int n, sum_digits(s));
  return 2 * n;
}

dsk::Result<void> check_even(const std::string& s) {
  DSK_TRY_ASSIGN(const int n, sum_digits(s));
  if (n % 2) return dsk::Error("odd");
  return dsk::ok();
}

dsk::Result<void> check_all(const std::string& a, const std::string& b) {
  DSK_TRY(check_even(a));
  DSK_TRY(check_even(b).context("second"));
  return {};
}

}  // namespace

TEST_CASE("Result holds a value or an error", "[result]") {
  auto v = parse_digit('7');
  REQUIRE(v.ok());
  REQUIRE(static_cast<bool>(v));
  CHECK(*v == 7);
  CHECK(v.value_or(-1) == 7);

  auto e = parse_digit('x');
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().message() == "'x' is not a digit");
  CHECK(e.value_or(-1) == -1);
}

TEST_CASE("Errors chain context, outermost first", "[result]") {
  auto r = sum_digits("12a");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message() == "position 2: 'a' is not a digit");
  auto c = std::move(r).context("file.txt");
  CHECK(c.error().message() == "file.txt: position 2: 'a' is not a digit");
  CHECK(dsk::Error("x").context("").message() == "x");
  const dsk::Error base("cause");
  CHECK(base.context("a").context("b").message() == "b: a: cause");
  CHECK(base.message() == "cause");  // the const& overload copies
}

TEST_CASE("DSK_TRY and DSK_TRY_ASSIGN propagate errors", "[result]") {
  CHECK(*twice("123") == 12);
  CHECK(twice("1x").error().message() == "position 1: 'x' is not a digit");
  CHECK(check_all("11", "22").ok());
  CHECK(check_all("1", "22").error().message() == "odd");
  CHECK(check_all("11", "12").error().message() == "second: odd");
  CHECK(check_all("11", "q").error().message() == "second: position 0: 'q' is not a digit");
}

TEST_CASE("Result works with move-only values and converting constructors", "[result]") {
  dsk::Result<std::unique_ptr<int>> p = std::make_unique<int>(5);
  REQUIRE(p.ok());
  std::unique_ptr<int> owned = std::move(p).value();
  CHECK(*owned == 5);
  dsk::Result<std::string> s = "text";
  CHECK(*s == "text");
  CHECK(s->size() == 4);
  dsk::Result<void> ok = dsk::ok();
  CHECK(ok.ok());
  ok.value();  // no-op on success
  CHECK(dsk::Error::format("%d-%s", 3, "x").message() == "3-x");
}
