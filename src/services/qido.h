// QIDO-RS queries (PS3.18 §8.3.4) as plain data, parsed from a query string. The same
// model serves DIMSE C-FIND, so both match the same way.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "dicom/dicom.h"

namespace vg::services {

enum class QueryLevel { kStudy, kSeries, kInstance };

struct MatchKey {
  dicom::TagInfo tag;
  std::string value;  // percent-decoded; empty = universal match (return only)
};

struct QidoQuery {
  QueryLevel level = QueryLevel::kStudy;
  std::string study_uid, series_uid;  // scope from the URL path (may be empty)
  // Set for a principal limited to some studies (a support grant of single studies): the
  // search runs within them, so limit and offset page over what may be seen.
  std::optional<std::vector<std::string>> within_studies;
  std::vector<MatchKey> matches;
  std::vector<dicom::TagInfo> include_fields;
  bool include_all = false;
  bool fuzzy = false;
  std::int64_t limit = -1, offset = 0;
};

inline constexpr std::int64_t kMaxQidoLimit = 10000;

// Parses "PatientName=DOE%5EJOHN&includefield=00081030&limit=10". Unknown attribute
// names, bad numbers and repeated match keys are kInvalidArgument with a reason.
Result<QidoQuery> ParseQidoQuery(QueryLevel level, std::string_view raw_query);

// DICOM attribute matching (PS3.4 C.2.2.2): single value, wildcards * and ?, UID lists
// (backslash-separated), date/time ranges "a-b", "a-", "-b". PN is case-insensitive and
// ignores trailing empty components. `value` may be multi-valued (backslash-separated).
bool MatchesValue(std::string_view vr, std::string_view key, std::string_view value);
bool HasWildcard(std::string_view key);

}  // namespace vg::services
