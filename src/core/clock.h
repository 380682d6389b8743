// Wall-clock time as Unix seconds and milliseconds (what the catalog stores).
#pragma once

#include <chrono>
#include <cstdint>

namespace vg {

inline std::int64_t UnixSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

inline std::int64_t UnixMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace vg
