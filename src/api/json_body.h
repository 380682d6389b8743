// Small JSON request bodies (sign-in, account administration): one size limit and one
// set of clear 400s for every handler that reads them.
#pragma once

#include <nlohmann/json.hpp>

#include "http/message.h"

namespace vg::api {

inline constexpr std::size_t kMaxJsonBody = 16 * 1024;

// The body as a JSON object: kTooLarge over `max_bytes` (16 KiB unless a route carries
// more, e.g. a bug report's screenshot), kInvalidArgument when not an object.
Result<nlohmann::json> ReadJsonObject(http::Request& request, std::size_t max_bytes = kMaxJsonBody);
// A string member. Absent or null is "" unless `required`; another type is kInvalidArgument.
Result<std::string> StringMember(const nlohmann::json& object, const char* name, bool required = false);

}  // namespace vg::api
