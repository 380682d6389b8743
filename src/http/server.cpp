#include "http/server.h"

#include <fmt/format.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "core/logging.h"
#include "core/metrics.h"
#include "core/strings.h"
#include "crypto/crypto.h"
#include "http/timed_stream.h"
#include "http/tls.h"

namespace vg::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::chrono::milliseconds kWriteTimeout{60'000};
constexpr std::size_t kReadBufferBytes = 256 * 1024;

// Sent with every response, errors included. The page may load only its own scripts,
// workers and connections (images also from data:/blob:, as a viewer draws frames; the
// viewer's image codecs are WebAssembly, hence 'wasm-unsafe-eval', which allows compiling
// wasm but not JavaScript eval) and may not be framed; no URL, which may hold study UIDs,
// leaks as a referrer.
constexpr std::pair<std::string_view, std::string_view> kSecurityHeaders[] = {
    {"Content-Security-Policy",
     "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; "
     "img-src 'self' data: blob:; connect-src 'self'; worker-src 'self' blob:; font-src 'self' data:; "
     "object-src 'none'; base-uri 'self'; frame-ancestors 'none'"},
    {"X-Content-Type-Options", "nosniff"},
    {"Referrer-Policy", "no-referrer"},
    {"X-Frame-Options", "DENY"},
};
// With TLS only: over plain HTTP a browser ignores it, and it must not be sent by a
// server that could not keep the promise.
constexpr std::string_view kStrictTransportSecurity = "max-age=31536000; includeSubDomains";

// The request body as a ByteSource, pulled through Beast's parser (handles chunked
// encoding and the body limit). Stream: TimedStream or TlsStream.
template <class Stream>
class BodySource final : public ByteSource {
 public:
  BodySource(Stream& stream, beast::flat_buffer& buffer, bhttp::request_parser<bhttp::buffer_body>& parser,
             const ServerOptions& options)
      : stream_(stream), buffer_(buffer), parser_(parser), options_(options) {}

  Result<size_t> Read(std::span<std::uint8_t> out) override {
    if (parser_.is_done() || out.empty()) return 0;
    if (failed_) return std::unexpected(*failed_);
    parser_.get().body().data = out.data();
    parser_.get().body().size = out.size();
    beast::error_code ec;
    bhttp::read(stream_, buffer_, parser_, ec);
    if (ec == bhttp::error::need_buffer) ec = {};
    if (ec) {
      failed_ = Translate(ec);
      return std::unexpected(*failed_);
    }
    return out.size() - parser_.get().body().size;
  }
  bool failed() const { return failed_.has_value(); }

 private:
  Error Translate(const beast::error_code& ec) const {
    if (ec == bhttp::error::body_limit)
      return Error{ErrorCode::kTooLarge,
                   "request body exceeds limits.max_body_bytes (" + std::to_string(options_.max_body_bytes) + " bytes)",
                   {}};
    if (ec == asio::error::timed_out)
      return Error{ErrorCode::kTimeout,
                   "request exceeded limits.request_timeout_s (" + std::to_string(options_.request_timeout_s) + " s)",
                   {}};
    return Error{ErrorCode::kInvalidArgument, "request body could not be read: " + ec.message(), {}};
  }
  Stream& stream_;
  beast::flat_buffer& buffer_;
  bhttp::request_parser<bhttp::buffer_body>& parser_;
  const ServerOptions& options_;
  std::optional<Error> failed_;
};

template <class Stream>
class RawWriter final : public BodyWriter {
 public:
  RawWriter(Stream& stream, bool chunked) : stream_(stream), chunked_(chunked) {}
  Result<void> Write(std::span<const std::uint8_t> data) override {
    if (data.empty()) return {};
    if (chunked_) {
      char head[32];
      int n = std::snprintf(head, sizeof head, "%zx\r\n", data.size());
      if (!stream_.WriteAll(head, static_cast<size_t>(n))) return Broken();
    }
    if (!stream_.WriteAll(data.data(), data.size())) return Broken();
    if (chunked_ && !stream_.WriteAll("\r\n", 2)) return Broken();
    written_ += data.size();
    return {};
  }
  Result<void> Finish() {
    if (chunked_ && !stream_.WriteAll("0\r\n\r\n", 5)) return Broken();
    return {};
  }
  std::uint64_t written() const { return written_; }
 private:
  static Result<void> Broken() { return Fail(ErrorCode::kUnavailable, "client connection lost"); }
  Stream& stream_;
  bool chunked_;
  std::uint64_t written_ = 0;
};

bool OriginAllowed(const std::vector<std::string>& allowed, const std::string& origin) {
  for (const auto& a : allowed)
    if (a == "*" || a == origin) return true;
  return false;
}

// A handler's own value wins over the server's default.
void DefaultHeader(Response& response, std::string_view name, std::string_view value) {
  for (const auto& header : response.headers)
    if (IEquals(header.first, name)) return;
  response.Header(std::string(name), std::string(value));
}

}  // namespace

struct Server::Impl {
  ServerOptions options;
  const Router& router;
  asio::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  std::unique_ptr<asio::thread_pool> pool;
  std::unique_ptr<TlsContext> tls;  // set by Listen() when TLS is configured
  std::atomic<bool> stopping{false};
  std::mutex idle_mutex;
  std::set<std::shared_ptr<struct Connection>> idle;

  Impl(ServerOptions o, const Router& r) : options(std::move(o)), router(r) {}
  void Accept();
  void StopOnIoThread();
};

struct Connection : std::enable_shared_from_this<Connection> {
  Server::Impl& server;
  tcp::socket socket;
  beast::flat_buffer buffer;
  asio::steady_timer idle_timer;
  std::string remote;
  std::unique_ptr<TlsStream> tls;  // null on a plain HTTP listener

  Connection(Server::Impl& s, tcp::socket sock)
      : server(s), socket(std::move(sock)), idle_timer(server.ioc) {
    beast::error_code ec;
    socket.set_option(tcp::no_delay(true), ec);
    socket.non_blocking(true, ec);
    auto endpoint = socket.remote_endpoint(ec);
    if (!ec) remote = endpoint.address().to_string();
    if (server.tls) tls = std::make_unique<TlsStream>(*server.tls, socket.native_handle(), kWriteTimeout);
  }

  // On the I/O thread: wait until the next request starts arriving.
  void WaitReadable() {
    if (server.stopping) return Close();
    // Pipelined bytes already here, in Beast's buffer or inside the TLS session.
    if (buffer.size() > 0 || (tls && tls->HasBuffered())) return Dispatch();
    auto self = shared_from_this();
    {
      std::lock_guard lock(server.idle_mutex);
      server.idle.insert(self);
    }
    idle_timer.expires_after(std::chrono::seconds(server.options.idle_timeout_s));
    idle_timer.async_wait([self](beast::error_code ec) {
      if (!ec) {
        beast::error_code ignored;
        self->socket.cancel(ignored);
      }
    });
    socket.async_wait(tcp::socket::wait_read, [self](beast::error_code ec) {
      self->idle_timer.cancel();
      {
        std::lock_guard lock(self->server.idle_mutex);
        self->server.idle.erase(self);
      }
      if (ec || self->server.stopping) return self->Close();
      self->Dispatch();
    });
  }

  void Dispatch() {
    auto self = shared_from_this();
    asio::post(*server.pool, [self] {
      bool keep = self->ServeOne();
      if (!keep || self->server.stopping) return self->Close();
      asio::post(self->server.ioc, [self] { self->WaitReadable(); });
    });
  }

  void Close() {
    beast::error_code ec;
    socket.shutdown(tcp::socket::shutdown_both, ec);
    socket.close(ec);
  }

  void AddCommonHeaders(const Request& request, Response& response) {
    response.Header("X-Request-Id", request.request_id);
    for (const auto& [name, value] : kSecurityHeaders) DefaultHeader(response, name, value);
    if (tls) DefaultHeader(response, "Strict-Transport-Security", kStrictTransportSecurity);
    auto origin = request.Header("origin");
    if (origin && OriginAllowed(server.options.cors_origins, *origin)) {
      response.Header("Access-Control-Allow-Origin", *origin);
      response.Header("Vary", "Origin");
      response.Header("Access-Control-Expose-Headers", "Content-Type, Content-Length, X-Request-Id, Warning");
    }
  }

  Response Preflight(const Request& request) {
    Response response;
    response.status = 204;
    auto origin = request.Header("origin");
    if (origin && OriginAllowed(server.options.cors_origins, *origin)) {
      response.Header("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, DELETE, OPTIONS");
      response.Header("Access-Control-Allow-Headers",
                      request.Header("access-control-request-headers").value_or("Authorization, Content-Type, Accept"));
      response.Header("Access-Control-Max-Age", "600");
    }
    return response;
  }

  // On a handler thread: the next step of this connection with blocking I/O. Returns
  // whether the connection stays open.
  bool ServeOne() {
    const auto started = Clock::now();
    const auto deadline = started + std::chrono::seconds(server.options.request_timeout_s);
    if (!tls) {
      TimedStream stream(socket.native_handle(), deadline, kWriteTimeout);
      return ServeRequest(stream, started);
    }
    tls->SetReadDeadline(deadline);
    if (!tls->established()) return Handshake();
    bool kept = ServeRequest(*tls, started);
    if (!kept) tls->Shutdown();
    return kept;
  }

  // A step of its own, so that the connection then waits for its first request on the
  // I/O thread like any idle one (unless the request came with the handshake).
  bool Handshake() {
    auto done = tls->Handshake();
    if (!done)
      LogInfo("tls_handshake_failed", "\"remote\":\"" + JsonEscape(remote) + "\",\"detail\":\"" +
                                          JsonEscape(done.error().detail) + "\"");
    return done.has_value();
  }

  // Serves one request. Returns keep-alive.
  template <class Stream>
  bool ServeRequest(Stream& stream, Clock::time_point started) {
    const ServerOptions& opt = server.options;
    // Beast sizes each read by the buffer's free capacity: without room, a body arrives
    // in 512-byte reads.
    if (buffer.capacity() < kReadBufferBytes) buffer.reserve(kReadBufferBytes);
    bhttp::request_parser<bhttp::buffer_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(std::min<std::uint64_t>(opt.max_header_bytes, UINT32_MAX)));
    parser.body_limit(opt.max_body_bytes);
    beast::error_code ec;
    bhttp::read_header(stream, buffer, parser, ec);

    Request request;
    request.request_id = crypto::RandomHexId(8);
    request.remote_address = remote;
    request.secure = tls != nullptr;
    if (ec) {
      if (ec == bhttp::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset)
        return false;
      Response error;
      if (ec == bhttp::error::header_limit)
        error = ErrorResponse(431, "too_large",
                              "request header exceeds limits.max_header_bytes (" +
                                  std::to_string(opt.max_header_bytes) + " bytes)");
      else if (ec == bhttp::error::body_limit)
        error = ErrorResponse(413, "too_large",
                              "request body exceeds limits.max_body_bytes (" + std::to_string(opt.max_body_bytes) +
                                  " bytes)");
      else if (ec == asio::error::timed_out)
        error = ErrorResponse(408, "timeout",
                              "request exceeded limits.request_timeout_s (" + std::to_string(opt.request_timeout_s) +
                                  " s)");
      else
        error = ErrorResponse(400, "invalid_argument", "malformed HTTP request: " + ec.message());
      request.method = "?";
      Finish(stream, request, error, "-", started, false);
      LingeringClose();
      return false;
    }

    auto& header = parser.get();
    request.method = std::string(header.method_string());
    request.http_version = header.version();
    std::string target(header.target());
    auto q = target.find('?');
    request.path = target.substr(0, q);
    if (q != std::string::npos) request.query = target.substr(q + 1);
    for (const auto& field : header) request.headers.emplace_back(ToLower(std::string_view(field.name_string().data(), field.name_string().size())),
                                   std::string(field.value()));
    if (auto id = request.Header("x-request-id"); id && id->size() <= 64 && !id->empty()) {
      bool safe = true;
      for (char c : *id) safe &= std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
      if (safe) request.request_id = *id;
    }
    if (parser.content_length()) request.content_length = *parser.content_length();
    BodySource<Stream> body(stream, buffer, parser, opt);
    request.body_source = &body;

    if (auto expect = request.Header("expect"); expect && IEquals(*expect, "100-continue") && !parser.is_done()) {
      static constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
      stream.WriteAll(kContinue, sizeof kContinue - 1);
    }

    Response response;
    std::string route_name = "unmatched";
    if (request.method == "OPTIONS" && request.Header("origin") && request.Header("access-control-request-method")) {
      response = Preflight(request);
      route_name = "cors_preflight";
    } else {
      RouteMatch match = server.router.Match(request);
      if (match.route) {
        route_name = match.route->name;
        try {
          response = match.route->handler(request);
        } catch (const std::exception& e) {
          LogError("handler_exception", "\"request_id\":\"" + request.request_id + "\",\"route\":\"" + route_name +
                                            "\",\"what\":\"" + JsonEscape(e.what()) + "\"");
          response = ErrorResponse(500, "internal", "internal error; request id " + request.request_id);
        }
      } else if (match.path_matched) {
        response = ErrorResponse(405, "method_not_allowed", "method not allowed on this path");
      } else {
        response = ErrorResponse(404, "not_found", "no such endpoint");
      }
    }
    // A body the handler did not read to the end would corrupt the next request.
    bool keep = header.keep_alive() && !body.failed() && !server.stopping;
    if (keep && !parser.is_done()) {
      std::uint8_t sink[64 * 1024];
      std::uint64_t drained = 0;
      while (!parser.is_done() && drained < (1u << 20)) {
        auto n = body.Read(sink);
        if (!n || *n == 0) break;
        drained += *n;
      }
      keep = parser.is_done();
    }
    bool kept = Finish(stream, request, response, route_name, started, keep);
    if (!kept && !parser.is_done()) LingeringClose();
    return kept;
  }

  // After an early answer (an error before the body was read), the client may still be
  // sending. Closing at once would reset the connection and can destroy the response in
  // flight; instead stop writing and discard input for a short while.
  void LingeringClose() {
    if (tls) tls->Shutdown();  // before the TCP half-close, or close_notify cannot go out
    int fd = socket.native_handle();
    ::shutdown(fd, SHUT_WR);
    const auto until = Clock::now() + std::chrono::seconds(2);
    std::uint64_t discarded = 0;
    char sink[64 * 1024];
    while (discarded < (64u << 20)) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
      if (left <= 0) break;
      pollfd pfd{fd, POLLIN, 0};
      if (::poll(&pfd, 1, static_cast<int>(left)) <= 0) break;
      ssize_t n = ::recv(fd, sink, sizeof sink, 0);
      if (n <= 0) break;
      discarded += static_cast<std::uint64_t>(n);
    }
  }

  template <class Stream>
  bool Finish(Stream& stream, const Request& request, Response& response, const std::string& route,
              Clock::time_point started, bool keep) {
    AddCommonHeaders(request, response);
    bhttp::response<bhttp::empty_body> head;
    // Answer in the client's version, so an HTTP/1.0 keep-alive client gets its
    // "Connection: keep-alive".
    head.version(request.http_version == 10 ? 10 : 11);
    head.result(static_cast<unsigned>(response.status));
    for (const auto& [name, value] : response.headers) head.insert(name, value);
    const bool head_only = request.method == "HEAD";
    const bool chunked = response.stream && !response.stream_length;
    if (response.stream) {
      if (response.stream_length) head.content_length(*response.stream_length);
      else head.chunked(true);
    } else if (response.status != 204 && response.status != 304) {
      head.content_length(response.body.size());
    }
    head.keep_alive(keep);
    bhttp::response_serializer<bhttp::empty_body> serializer(head);
    beast::error_code ec;
    bhttp::write_header(stream, serializer, ec);
    std::uint64_t bytes_out = 0;
    bool ok = !ec;
    if (ok && !head_only) {
      if (response.stream) {
        RawWriter<Stream> writer(stream, chunked);
        auto result = response.stream(writer);
        if (!result) {
          // Headers are gone already: the only honest signal left is a broken connection.
          LogError("response_stream_failed", "\"request_id\":\"" + request.request_id + "\",\"route\":\"" + route +
                                                 "\",\"detail\":\"" + JsonEscape(result.error().detail.empty()
                                                                                      ? result.error().public_message
                                                                                      : result.error().detail) +
                                                 "\"");
          ok = false;
        } else {
          ok = static_cast<bool>(writer.Finish());
        }
        bytes_out = writer.written();
      } else {
        ok = stream.WriteAll(response.body.data(), response.body.size());
        bytes_out = response.body.size();
      }
    }
    double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    Metrics::Global().ObserveRequest(route, request.method, response.status, seconds);
    LogInfo("http_request", fmt::format(R"("request_id":"{}","method":"{}","route":"{}","status":{},"ms":{:.2f},"bytes_out":{},"tenant":"{}","remote":"{}")",
                                        request.request_id, JsonEscape(request.method), route, response.status,
                                        seconds * 1000, bytes_out, JsonEscape(response.tenant), remote));
    return ok && keep;
  }
};

void Server::Impl::Accept() {
  acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (stopping) return;
    if (!ec) std::make_shared<Connection>(*this, std::move(socket))->WaitReadable();
    Accept();
  });
}

void Server::Impl::StopOnIoThread() {
  beast::error_code ec;
  acceptor.close(ec);
  std::set<std::shared_ptr<Connection>> waiting;
  {
    std::lock_guard lock(idle_mutex);
    waiting.swap(idle);
  }
  for (const auto& c : waiting) {
    c->idle_timer.cancel();
    c->Close();
  }
}

Server::Server(ServerOptions options, const Router& router) : impl_(std::make_unique<Impl>(std::move(options), router)) {}
Server::~Server() = default;

Result<std::uint16_t> Server::Listen() {
  const ServerOptions& options = impl_->options;
  if (!options.tls_cert_chain_file.empty() || !options.tls_key_file.empty()) {
    if (options.tls_cert_chain_file.empty() || options.tls_key_file.empty())
      return Fail(ErrorCode::kInvalidArgument, "TLS needs both a certificate chain file and a key file");
    auto tls = TlsContext::Load(options.tls_cert_chain_file, options.tls_key_file);
    if (!tls) return std::unexpected(tls.error());
    impl_->tls = std::move(*tls);
  }
  beast::error_code ec;
  auto address = asio::ip::make_address(impl_->options.host, ec);
  if (ec) return Fail(ErrorCode::kInvalidArgument, "cannot listen on '" + impl_->options.host + "': not an IP address");
  tcp::endpoint endpoint(address, impl_->options.port);
  auto& acceptor = impl_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return Fail(ErrorCode::kUnavailable, "cannot listen on " + impl_->options.host + ":" +
                                             std::to_string(impl_->options.port) + ": " + ec.message());
  return acceptor.local_endpoint().port();
}

void Server::Run() {
  int threads = impl_->options.threads;
  if (threads <= 0) threads = std::max(4, 4 * static_cast<int>(std::thread::hardware_concurrency()));
  impl_->pool = std::make_unique<asio::thread_pool>(threads);
  asio::signal_set signals(impl_->ioc, SIGTERM, SIGINT);
  signals.async_wait([this](beast::error_code ec, int) {
    if (!ec) Stop();
  });
  impl_->Accept();
  impl_->ioc.run();
  impl_->pool->join();  // in-flight requests finish here
  impl_->ioc.restart();
}

void Server::Stop() {
  if (impl_->stopping.exchange(true)) return;
  LogInfo("server_stopping");
  asio::post(impl_->ioc, [this] {
    impl_->StopOnIoThread();
    impl_->ioc.stop();
  });
}

}  // namespace vg::http
