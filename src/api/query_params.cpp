#include "api/query_params.h"

#include "licensing/licence_file.h"

#include "core/strings.h"

namespace vg::api {

Result<std::map<std::string, std::string>> ParseQueryParams(std::string_view raw, size_t max_value_bytes) {
  std::map<std::string, std::string> out;
  if (raw.empty()) return out;
  for (auto pair : Split(raw, '&')) {
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    std::string key_raw(pair.substr(0, eq)), value_raw(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
    for (char& c : value_raw)
      if (c == '+') c = ' ';
    auto key = PercentDecode(key_raw);
    auto value = PercentDecode(value_raw);
    if (!key || !value) return Fail(ErrorCode::kInvalidArgument, "malformed query string");
    if (value->size() > max_value_bytes)
      return Fail(ErrorCode::kInvalidArgument, "query parameter " + *key + " is too long");
    if (!out.emplace(*key, *value).second)
      return Fail(ErrorCode::kInvalidArgument, "query parameter " + *key + " is repeated");
  }
  return out;
}

Result<std::int64_t> IntParam(const std::map<std::string, std::string>& params, const std::string& name,
                              std::int64_t fallback, std::int64_t max) {
  auto it = params.find(name);
  if (it == params.end()) return fallback;
  auto n = ParseUint(it->second);
  if (!n || *n > static_cast<std::uint64_t>(max))
    return Fail(ErrorCode::kInvalidArgument, name + " is a whole number from 0 to " + std::to_string(max));
  return static_cast<std::int64_t>(*n);
}

Result<std::int64_t> PathId(const http::Request& request, const char* name, const std::string& missing) {
  auto id = ParseUint(request.Param(name));
  if (!id || *id > static_cast<std::uint64_t>(INT64_MAX)) return Fail(ErrorCode::kNotFound, missing);
  return static_cast<std::int64_t>(*id);
}

Result<std::int64_t> TimeParam(const std::map<std::string, std::string>& params, const char* name, std::int64_t fallback,
                               bool end_of_day) {
  auto it = params.find(name);
  if (it == params.end() || it->second.empty()) return fallback;
  const std::string& text = it->second;
  if (text.find_first_not_of("0123456789") == std::string::npos && text.size() <= 12) return std::stoll(text);
  auto day = licensing::ParseDate(text);
  if (!day) return Fail(ErrorCode::kInvalidArgument, std::string(name) + " is a date (YYYY-MM-DD) or unix seconds");
  return *day + (end_of_day ? 86400 : 0);
}

}  // namespace vg::api
