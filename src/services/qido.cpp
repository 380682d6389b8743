#include "services/qido.h"

#include "core/strings.h"
#include "services/archive.h"

namespace vg::services {
namespace {

bool WildcardMatch(std::string_view pattern, std::string_view text) {
  // Iterative glob with backtracking on the last '*'.
  size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool IsRangeVr(std::string_view vr) { return vr == "DA" || vr == "TM" || vr == "DT"; }

bool MatchOne(std::string_view vr, std::string_view key, std::string_view value) {
  if (vr == "UI") {
    // PS3.18 lists UIDs with commas; DIMSE with backslashes. Accept both.
    for (auto group : Split(key, '\\'))
      for (auto uid : Split(group, ','))
        if (uid == value) return true;
    return false;
  }
  if (IsRangeVr(vr) && key.find('-') != std::string_view::npos) {
    auto dash = key.find('-');
    std::string_view low = key.substr(0, dash), high = key.substr(dash + 1);
    if (value.empty()) return false;
    if (!low.empty() && value < low) return false;
    // A time "10" covers "105959": compare only as many characters as the bound has.
    if (!high.empty() && value.substr(0, std::min(value.size(), high.size())) > high) return false;
    return true;
  }
  if (vr == "PN") {
    std::string k = NormalizeForSearch(key), v = NormalizeForSearch(value);
    // Only the alphabetic group takes part in matching.
    v = v.substr(0, v.find('='));
    return HasWildcard(k) ? WildcardMatch(k, v) : k == v;
  }
  if (HasWildcard(key)) return WildcardMatch(key, value);
  return Trim(key) == Trim(value);
}

}  // namespace

bool HasWildcard(std::string_view key) { return key.find_first_of("*?") != std::string_view::npos; }

bool MatchesValue(std::string_view vr, std::string_view key, std::string_view value) {
  if (key.empty()) return true;
  if (key == "*") return true;
  if (vr != "UI" && value.find('\\') != std::string_view::npos) {
    for (auto v : Split(value, '\\'))
      if (MatchOne(vr, key, v)) return true;
    return false;
  }
  return MatchOne(vr, key, value);
}

Result<QidoQuery> ParseQidoQuery(QueryLevel level, std::string_view raw_query) {
  QidoQuery query;
  query.level = level;
  if (raw_query.empty()) return query;
  if (raw_query.size() > 8192) return Fail(ErrorCode::kTooLarge, "query string is longer than 8192 bytes");
  for (auto pair : Split(raw_query, '&')) {
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    auto raw_key = pair.substr(0, eq);
    auto raw_value = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    auto key = PercentDecode(raw_key);
    auto value = PercentDecode(raw_value);
    if (!key || !value) return Fail(ErrorCode::kInvalidArgument, "bad percent-encoding in the query string");
    if (*key == "includefield") {
      for (auto field : Split(*value, ',')) {
        if (field == "all") {
          query.include_all = true;
          continue;
        }
        auto tag = dicom::LookupTag(field);
        if (!tag) return Fail(ErrorCode::kInvalidArgument, "includefield names an unknown attribute: " + std::string(field));
        query.include_fields.push_back(*tag);
      }
    } else if (*key == "limit" || *key == "offset") {
      auto number = ParseUint(*value);
      if (!number) return Fail(ErrorCode::kInvalidArgument, *key + " must be a non-negative integer");
      if (*key == "limit") query.limit = static_cast<std::int64_t>(std::min<std::uint64_t>(*number, kMaxQidoLimit));
      else query.offset = static_cast<std::int64_t>(std::min<std::uint64_t>(*number, 1ull << 40));
    } else if (*key == "fuzzymatching") {
      query.fuzzy = *value == "true";
    } else {
      if (key->find('.') != std::string::npos)
        return Fail(ErrorCode::kInvalidArgument, "matching on sequence attributes is not supported: " + *key);
      auto tag = dicom::LookupTag(*key);
      if (!tag) return Fail(ErrorCode::kInvalidArgument, "unknown attribute in query: " + *key);
      for (const auto& existing : query.matches)
        if (existing.tag.Hex() == tag->Hex())
          return Fail(ErrorCode::kInvalidArgument, "attribute given twice in query: " + *key);
      if (value->size() > 1024) return Fail(ErrorCode::kTooLarge, "query value too long for " + *key);
      query.matches.push_back(MatchKey{*tag, *value});
    }
  }
  return query;
}

}  // namespace vg::services
