// Arithmetic on sizes that come from outside (a header's dimensions, a length field):
// every product and sum is checked, so that a forged size is refused instead of wrapping
// around into a small allocation and a large write.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>

namespace vg {

inline std::optional<std::uint64_t> CheckedMul(std::uint64_t a, std::uint64_t b) {
  std::uint64_t out = 0;
  if (__builtin_mul_overflow(a, b, &out)) return std::nullopt;
  return out;
}

inline std::optional<std::uint64_t> CheckedAdd(std::uint64_t a, std::uint64_t b) {
  std::uint64_t out = 0;
  if (__builtin_add_overflow(a, b, &out)) return std::nullopt;
  return out;
}

// The product of `factors`, or nullopt when a factor is negative, the product overflows,
// or it passes `limit`.
inline std::optional<std::uint64_t> ProductWithin(std::initializer_list<std::int64_t> factors, std::uint64_t limit) {
  std::uint64_t product = 1;
  for (std::int64_t f : factors) {
    if (f < 0) return std::nullopt;
    auto next = CheckedMul(product, static_cast<std::uint64_t>(f));
    if (!next || *next > limit) return std::nullopt;
    product = *next;
  }
  return product;
}

}  // namespace vg
