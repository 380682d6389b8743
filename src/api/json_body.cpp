#include "api/json_body.h"

#include "core/json_depth.h"

namespace vg::api {

Result<nlohmann::json> ReadJsonObject(http::Request& request, std::size_t max_bytes) {
  auto body = ReadAll(request.body(), max_bytes);
  if (!body) return Fail(ErrorCode::kTooLarge, "the body is limited to " + std::to_string(max_bytes / 1024) + " KiB");
  if (!JsonDepthWithin(*body))
    return Fail(ErrorCode::kUnprocessable, "the JSON body nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  auto parsed = nlohmann::json::parse(*body, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) return Fail(ErrorCode::kInvalidArgument, "send a JSON object");
  return parsed;
}

Result<std::string> StringMember(const nlohmann::json& object, const char* name, bool required) {
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) {
    if (required) return Fail(ErrorCode::kInvalidArgument, std::string(name) + " is required (a string)");
    return std::string();
  }
  if (!it->is_string()) return Fail(ErrorCode::kInvalidArgument, std::string(name) + " must be a string");
  return it->get<std::string>();
}

}  // namespace vg::api
