// dsk/core/status.hpp: error values of launchers.
#include <stdexcept>
#include <string>

#include "catch.hpp"
#include "dsk/core/status.hpp"

TEST_CASE("Status carries code and message", "[core][status]") {
  CHECK(dsk::Status::Ok().ok());
  const dsk::Status s = dsk::Status::Unsupported("router: 48 experts is not a multiple of 32");
  CHECK_FALSE(s.ok());
  CHECK(dsk::to_string(s) == "unsupported: router: 48 experts is not a multiple of 32");
  CHECK(dsk::to_string(dsk::Status::Invalid("null output")) == "invalid argument: null output");
}

TEST_CASE("DSK_CHECK_STATUS throws with the failing expression", "[core][status]") {
  auto fails = [] { return dsk::Status::Workspace("need 4096 bytes"); };
  try {
    DSK_CHECK_STATUS(fails());
    FAIL("no exception");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find("workspace too small: need 4096 bytes") != std::string::npos);
  }
}
