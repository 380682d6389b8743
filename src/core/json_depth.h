// JSON from outside is checked for nesting before it is parsed: the parser copes, but
// printing or walking a parsed value recurses once per level, and 100,000 nested arrays
// fit in a few hundred kilobytes. Plain logic on text (std only).
#pragma once

#include <string_view>

namespace vg {

inline constexpr int kMaxJsonDepth = 64;

// True when no array or object in `text` nests deeper than `max_depth` (strings and
// their escapes are skipped; whether the text is valid JSON is the parser's to say).
inline bool JsonDepthWithin(std::string_view text, int max_depth = kMaxJsonDepth) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return false;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return true;
}

}  // namespace vg
