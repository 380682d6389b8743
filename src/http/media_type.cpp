#include "http/media_type.h"

#include <algorithm>
#include <cstdlib>

#include "core/strings.h"

namespace vg::http {
namespace {

// Splits on `separator` outside double quotes.
std::vector<std::string_view> SplitOutsideQuotes(std::string_view text, char separator) {
  std::vector<std::string_view> out;
  bool quoted = false;
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '"') quoted = !quoted;
    else if (text[i] == '\\' && quoted) ++i;
    else if (text[i] == separator && !quoted) {
      out.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  out.push_back(text.substr(start));
  return out;
}

std::string Unquote(std::string_view value) {
  value = Trim(value);
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
    std::string out;
    for (size_t i = 1; i + 1 < value.size(); ++i) {
      if (value[i] == '\\' && i + 2 < value.size()) ++i;
      out.push_back(value[i]);
    }
    return out;
  }
  return std::string(value);
}

}  // namespace

MediaType ParseMediaType(std::string_view text) {
  MediaType media;
  auto parts = SplitOutsideQuotes(text, ';');
  media.type = ToLower(Trim(parts[0]));
  for (size_t i = 1; i < parts.size(); ++i) {
    auto eq = parts[i].find('=');
    if (eq == std::string_view::npos) continue;
    std::string key = ToLower(Trim(parts[i].substr(0, eq)));
    std::string value = Unquote(parts[i].substr(eq + 1));
    if (key == "q") {
      media.q = std::strtod(value.c_str(), nullptr);
    } else {
      media.params[key] = value;
    }
  }
  return media;
}

std::vector<MediaType> ParseAccept(std::string_view header) {
  std::vector<MediaType> out;
  for (auto entry : SplitOutsideQuotes(header, ',')) {
    if (Trim(entry).empty()) continue;
    out.push_back(ParseMediaType(entry));
  }
  std::stable_sort(out.begin(), out.end(), [](const MediaType& a, const MediaType& b) { return a.q > b.q; });
  return out;
}

bool MediaRangeMatches(const MediaType& accepted, std::string_view offered) {
  if (accepted.q <= 0) return false;
  if (accepted.type == "*/*" || accepted.type == "*") return true;
  std::string lower = ToLower(offered);
  if (accepted.type.size() > 2 && accepted.type.ends_with("/*"))
    return lower.starts_with(accepted.type.substr(0, accepted.type.size() - 1));
  return accepted.type == lower;
}

}  // namespace vg::http
