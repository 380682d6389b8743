// A small HTTP/1.1 client for what the server sends out (alert webhooks): one request
// per call, http:// or https:// (the peer's certificate is checked against the system's
// CAs and the host name), under one deadline for the whole exchange (resolve, connect,
// handshake, write, read). Blocking; safe to call from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"

namespace vg::http {

struct ClientResponse {
  int status = 0;
  std::string body;  // at most the limit passed in
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string Header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct ClientRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds timeout{30000};
  std::uint64_t max_response_bytes = 1 << 20;
  std::string ca_file;  // a PEM certificate (or CA) to trust besides the system's
};

struct ParsedUrl {
  bool https = false;
  std::string host, port, target;  // target: path and query, "/" at least
};
// http(s)://host[:port][/path]; IPv6 hosts in brackets. kInvalidArgument otherwise.
Result<ParsedUrl> ParseUrl(const std::string& url);

// kUnavailable when the peer cannot be reached, the deadline passes, or TLS fails (the
// message says which); any HTTP status is a success of the call. A response over
// max_response_bytes is kTooLarge.
Result<ClientResponse> Send(const ClientRequest& request);

Result<ClientResponse> Post(const std::string& url, const std::string& content_type, const std::string& body,
                            std::chrono::milliseconds timeout, std::uint64_t max_response_bytes = 1 << 20);

}  // namespace vg::http
