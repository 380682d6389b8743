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

// `text` as valid UTF-8 of at most `max_bytes`, without NULs: well-formed UTF-8 sequences
// are kept, any other byte is taken as ISO 8859-1 (the commonest other DICOM character set) and
// converted; never cut inside a character. (Text from a DICOM object whose character set
// was not converted, on its way into JSON.)
std::string Utf8Text(std::string_view text, std::size_t max_bytes);

}  // namespace vg
