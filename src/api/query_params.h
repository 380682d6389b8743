// Query strings of the JSON API: "a=1&b=x%20y" into a map (one value per key, a repeated
// key is an error), with a length limit per value.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "core/result.h"
#include "http/message.h"

namespace vg::api {

Result<std::map<std::string, std::string>> ParseQueryParams(std::string_view raw, size_t max_value_bytes = 1024);
// A record id from the path parameter `name`: digits only, within int64; anything else
// is kNotFound with `missing` (an id that cannot exist names no record).
Result<std::int64_t> PathId(const http::Request& request, const char* name, const std::string& missing);
// A non-negative integer parameter within [0, max], or `fallback` when absent.
Result<std::int64_t> IntParam(const std::map<std::string, std::string>& params, const std::string& name,
                              std::int64_t fallback, std::int64_t max);

// `from`/`to`: unix seconds or YYYY-MM-DD (UTC); with `end_of_day` a date means the end of
// its day (an exclusive `to` that includes the day).
Result<std::int64_t> TimeParam(const std::map<std::string, std::string>& params, const char* name, std::int64_t fallback,
                               bool end_of_day);

}  // namespace vg::api
