// Server: HTTP/1.1 on Boost.Beast.
//
// Threading: one I/O thread accepts connections and waits for idle keep-alive
// connections to become readable; a pool of handler threads (sized to the machine,
// configurable) then serves one request at a time per connection with blocking reads
// and writes under a per-request deadline. Handlers may block (disk, fsync) without
// stalling other connections, and idle connections hold no thread.
//
// Limits: header bytes (431), body bytes (413), whole-request time (408), idle time
// between keep-alive requests. Each error names the limit that was hit.
//
// TLS (when a certificate and key are set): TLS 1.2 minimum. The handshake runs on a
// handler thread under the request time limit, like a request; a client that connects
// and sends nothing waits on the I/O thread under the idle limit. Plain connections do
// not go through the TLS code at all.
//
// Every response, the server's own errors included, carries the security headers (CSP,
// nosniff, no referrer, no framing) and, with TLS, HSTS; a handler may set its own value
// of one of them.
//
// Stop(): stops accepting, closes idle connections, lets in-flight requests finish.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/result.h"
#include "http/router.h"

namespace vg::http {

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  int threads = 0;  // 0: 4 per core (handlers block on disk)
  std::uint64_t max_header_bytes = 16 * 1024;
  std::uint64_t max_body_bytes = 4ull << 30;
  int request_timeout_s = 300;
  int idle_timeout_s = 60;
  std::vector<std::string> cors_origins;  // "*" or exact origins
  // Both set: HTTPS. PEM files: the certificate chain (server certificate first) and
  // its private key (without passphrase). Loaded and checked by Listen().
  std::string tls_cert_chain_file;
  std::string tls_key_file;
};

class Server {
 public:
  Server(ServerOptions options, const Router& router);
  ~Server();
  // Loads the TLS certificate and key (if set), then binds the listening socket;
  // returns the bound port (useful with port 0).
  Result<std::uint16_t> Listen();
  // Serves until Stop(); returns after in-flight requests are done.
  void Run();
  void Stop();

  struct Impl;  // implementation detail, public only for the connection objects

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace vg::http
