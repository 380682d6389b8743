// Request and Response as handlers see them: no Beast types. Request bodies are streamed
// (Request::body() is a ByteSource); response bodies are a string or a streaming writer.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/byte_source.h"
#include "core/result.h"

namespace vg::http {

// Sink for streamed response bodies.
class BodyWriter {
 public:
  virtual ~BodyWriter() = default;
  virtual Result<void> Write(std::span<const std::uint8_t> data) = 0;
  Result<void> Write(std::string_view text) {
    return Write(std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
  }
};

class Request {
 public:
  std::string method;
  std::string path;   // percent-encoded, as received, without the query
  std::string query;  // raw query string without '?'
  std::string request_id;
  std::string remote_address;
  unsigned http_version = 11;  // 10 or 11
  bool secure = false;         // arrived over TLS, or a trusted proxy says the client's request did
  std::map<std::string, std::string> params;  // path parameters, set by the router
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::optional<std::uint64_t> content_length;
  ByteSource* body_source = nullptr;  // owned by the server

  std::optional<std::string> Header(std::string_view lower_name) const {
    for (const auto& [name, value] : headers)
      if (name == lower_name) return value;
    return std::nullopt;
  }
  ByteSource& body() const { return *body_source; }
  const std::string& Param(const std::string& name) const { return params.at(name); }
  // Scheme + host + port as the client addressed us (Host header; https over TLS, or
  // when a reverse proxy says so in X-Forwarded-Proto).
  std::string BaseUrl() const;
};

class Response {
 public:
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // When set, called after the headers are sent; `body` is ignored.
  std::function<Result<void>(BodyWriter&)> stream;
  std::optional<std::uint64_t> stream_length;  // Content-Length of a streamed body, if known
  std::string tenant;  // for the access log only
  std::string audit_object;  // overrides what the audit trail names as the object
  std::string audit_detail;  // the audit record's detail (e.g. sealed search keys)

  Response& Header(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
};

Response JsonResponse(int status, std::string json);
// {"error":{"code":"...","message":"..."}} with the status mapped from the code.
Response ErrorResponse(const Error& error);
Response ErrorResponse(int status, std::string_view code, std::string_view message);

// Behind a TLS-terminating proxy: only when the connection comes from one of
// `trusted_proxies` (exact addresses), the client's address is taken from X-Forwarded-For
// (the right-most address that is not itself a trusted proxy) and `secure` from
// X-Forwarded-Proto ("https"). From anyone else both headers are ignored, so a client
// cannot choose the address the login throttle and the audit trail see.
void ApplyTrustedProxyHeaders(Request& request, const std::vector<std::string>& trusted_proxies);

}  // namespace vg::http
