// Server: HTTP/1.1 on Boost.Beast.
//
// Threading. One I/O thread accepts connections and waits on every connection that is
// not being served: idle keep-alive connections, and connections whose request line and
// headers are still arriving (read without blocking as bytes come, on the I/O thread; TLS
// handshake and header steps on a handler thread, one step at a time). A handler thread
// is taken only once a request's headers are complete: it reads the body with blocking
// reads under the limits below, runs the handler (which may block on disk) and writes the
// answer. Routes marked long-lived (event streams, waits for a job) run on a pool of their
// own, so they never hold the request pool.
//
// Limits, each with its own error and its own counter in /metrics
// (voxelgate_limit_refusals_total{listener="http",limit=...}):
//   header_timeout_s  request line + headers (and the TLS handshake) must arrive within
//                     this much of the connection or of the request's first byte -> 408
//   idle_timeout_s    keep-alive wait for the next request -> closed quietly
//   min_body_rate     bytes/s the client must keep up while its body is read, after
//                     body_grace_s of waiting (no grace while every handler thread is
//                     busy); the server's own time between reads does not count -> 408
//   request_timeout_s from the first byte until the body is read -> 408
//   write_timeout_s   a response write that makes no progress this long -> closed
//   max_header_bytes -> 431, max_body_bytes -> 413
//   max_connections, max_connections_per_address: past either, a new connection gets a
//                     503 (plain HTTP) or is closed (TLS) at once, before any parsing
//   long_lived_requests: concurrent long-lived requests; past it -> 503
// The accept loop backs off (100 ms up to 1 s) when the process is out of descriptors
// (EMFILE/ENFILE) instead of spinning.
//
// TLS (when a certificate and key are set): TLS 1.2 minimum. Plain connections do not go
// through the TLS code at all.
//
// Every response, the server's own errors included, carries the security headers (CSP,
// nosniff, no referrer, no framing) and, with TLS, HSTS; a handler may set its own value
// of one of them.
//
// Stop(): stops accepting, closes connections that wait, lets in-flight requests finish.
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
  int threads = 0;  // request handler threads; 0: 8 per core, at least 16 (handlers block on disk)
  std::uint64_t max_header_bytes = 16 * 1024;
  std::uint64_t max_body_bytes = 4ull << 30;
  int header_timeout_s = 5;
  int idle_timeout_s = 60;
  std::uint64_t min_body_rate = 4096;  // bytes per second; 0: no rate limit
  int body_grace_s = 10;
  int request_timeout_s = 300;
  int write_timeout_s = 60;
  std::size_t max_connections = 4096;  // lowered at Listen() to what the descriptor limit allows
  std::vector<std::string> trusted_proxies;  // see ApplyTrustedProxyHeaders (message.h)
  std::size_t max_connections_per_address = 256;
  int long_lived_requests = 64;
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
