#include "http/message.h"

#include <algorithm>

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

void ApplyTrustedProxyHeaders(Request& request, const std::vector<std::string>& trusted_proxies) {
  const auto trusted = [&](std::string_view address) {
    return std::find(trusted_proxies.begin(), trusted_proxies.end(), address) != trusted_proxies.end();
  };
  if (trusted_proxies.empty() || !trusted(request.remote_address)) return;
  // Every X-Forwarded-For line, in order, as one list: proxies append on the right.
  std::vector<std::string> hops;
  for (const auto& [name, value] : request.headers)
    if (name == "x-forwarded-for")
      for (auto hop : Split(value, ','))
        if (!Trim(hop).empty() && Trim(hop).size() <= 64) hops.emplace_back(Trim(hop));
  for (auto it = hops.rbegin(); it != hops.rend(); ++it)
    if (!trusted(*it)) {
      request.remote_address = *it;
      break;
    }
  if (auto proto = request.Header("x-forwarded-proto")) request.secure = request.secure || Trim(*proto) == "https";
}

}  // namespace vg::http
