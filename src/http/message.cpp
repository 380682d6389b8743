#include "http/message.h"

#include "core/strings.h"

namespace vg::http {

std::string Request::BaseUrl() const {
  std::string host = Header("host").value_or("localhost");
  std::string scheme = secure || Header("x-forwarded-proto") == "https" ? "https" : "http";
  return scheme + "://" + host;
}

Response JsonResponse(int status, std::string json) {
  Response r;
  r.status = status;
  r.Header("Content-Type", "application/json");
  r.body = std::move(json);
  return r;
}

Response ErrorResponse(int status, std::string_view code, std::string_view message) {
  return JsonResponse(status, "{\"error\":{\"code\":\"" + JsonEscape(code) + "\",\"message\":\"" +
                                  JsonEscape(message) + "\"}}");
}

Response ErrorResponse(const Error& error) {
  const std::string code = error.reason.empty() ? ErrorCodeName(error.code) : error.reason;
  std::string body = "{\"error\":{\"code\":\"" + JsonEscape(code) + "\",\"message\":\"" + JsonEscape(error.public_message) + "\"";
  if (error.since != 0) body += ",\"since\":" + std::to_string(error.since);
  return JsonResponse(HttpStatusFor(error.code), body + "}}");
}

}  // namespace vg::http
