// Small string helpers shared by every layer (std only).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vg {

std::vector<std::string_view> Split(std::string_view text, char separator);
std::string_view Trim(std::string_view text);
std::string ToLower(std::string_view text);
bool IEquals(std::string_view a, std::string_view b);
std::string HexEncode(std::span<const std::uint8_t> bytes);
std::optional<std::uint64_t> ParseUint(std::string_view text);
// A decimal number, all of `text` (no sign '+', no spaces); NaN and infinities are refused.
std::optional<double> ParseFiniteDouble(std::string_view text);
// Percent-decodes a URL component; '+' stays '+' (RFC 3986, not forms).
std::optional<std::string> PercentDecode(std::string_view text);
std::string JsonEscape(std::string_view text);

}  // namespace vg
