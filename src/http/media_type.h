// Media types and Accept negotiation (RFC 9110 §8.3, §12.5.1).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace vg::http {

struct MediaType {
  std::string type;                           // "multipart/related", lower-case
  std::map<std::string, std::string> params;  // keys lower-case, values unquoted
  double q = 1.0;                             // from an Accept entry
  std::string Param(const std::string& key) const {
    auto it = params.find(key);
    return it == params.end() ? std::string() : it->second;
  }
};

MediaType ParseMediaType(std::string_view text);
// Entries of an Accept header, in order of preference (q descending, stable).
std::vector<MediaType> ParseAccept(std::string_view header);
// True when `accepted` admits `offered` (wildcards "*/*" and "type/*" allowed).
bool MediaRangeMatches(const MediaType& accepted, std::string_view offered);

}  // namespace vg::http
