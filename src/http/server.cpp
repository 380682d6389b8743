#include "http/server.h"

#include <fmt/format.h>
#include <fcntl.h>
#include <sys/resource.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

#include "core/connection_limits.h"
#include "core/logging.h"
#include "core/metrics.h"
#include "core/strings.h"
#include "crypto/crypto.h"
#include "http/body_pace.h"
#include "http/timed_stream.h"
#include "http/tls.h"

namespace vg::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kReadBufferBytes = 256 * 1024;
constexpr std::size_t kHeaderReadBytes = 16 * 1024;
// Descriptors kept free for everything that is not an HTTP connection (DICOM, files,
// the catalog) when the connection cap is fitted to the process's descriptor limit.
constexpr std::size_t kReservedDescriptors = 512;

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

// The limits counted in /metrics, each named as its configuration key.
constexpr const char* kLimitNames[] = {"header_timeout_s",  "idle_timeout_s",   "min_body_rate",
                                       "request_timeout_s", "write_timeout_s",  "max_header_bytes",
                                       "max_body_bytes",    "max_connections",  "max_connections_per_address",
                                       "long_lived_requests", "accept_backoff"};

void CountLimit(const char* limit) { Metrics::Global().CountLimit("http", limit); }

using Parser = bhttp::request_parser<bhttp::buffer_body>;

// The request body as a ByteSource, pulled through Beast's parser (handles chunked
// encoding and the body limit), each wait paced by BodyPace. Stream: TimedStream or
// TlsStream.
template <class Stream>
class BodySource final : public ByteSource {
 public:
  // `saturated` tells whether every handler thread is busy (checked before each wait).
  BodySource(Stream& stream, beast::flat_buffer& buffer, Parser& parser, const ServerOptions& options,
             Clock::time_point request_deadline, std::function<bool()> saturated)
      : stream_(stream),
        buffer_(buffer),
        parser_(parser),
        options_(options),
        pace_(request_deadline, options.min_body_rate, std::chrono::seconds(options.body_grace_s)),
        saturated_(std::move(saturated)) {}

  Result<size_t> Read(std::span<std::uint8_t> out) override {
    if (parser_.is_done() || out.empty()) return 0;
    if (failed_) return std::unexpected(*failed_);
    parser_.get().body().data = out.data();
    parser_.get().body().size = out.size();
    const auto started = Clock::now();
    if (saturated_()) pace_.WithoutGrace();
    const auto [deadline, limit] = pace_.NextDeadline(started);
    stream_.SetReadDeadline(deadline);
    beast::error_code ec;
    bhttp::read(stream_, buffer_, parser_, ec);
    if (ec == bhttp::error::need_buffer) ec = {};
    const std::size_t n = out.size() - parser_.get().body().size;
    pace_.Record(n, Clock::now() - started);
    if (ec) {
      failed_ = Translate(ec, limit);
      return std::unexpected(*failed_);
    }
    return n;
  }
  bool failed() const { return failed_.has_value(); }

 private:
  Error Translate(const beast::error_code& ec, BodyPace::Limit limit) const {
    if (ec == bhttp::error::body_limit) {
      CountLimit("max_body_bytes");
      return Error{ErrorCode::kTooLarge,
                   "request body exceeds limits.max_body_bytes (" + std::to_string(options_.max_body_bytes) + " bytes)",
                   {}};
    }
    if (ec == asio::error::timed_out) {
      if (limit == BodyPace::Limit::kRate) {
        CountLimit("min_body_rate");
        return Error{ErrorCode::kTimeout,
                     fmt::format("request body arrived slower than limits.min_body_rate ({} bytes/s after {} s)",
                                 options_.min_body_rate, options_.body_grace_s),
                     {}};
      }
      CountLimit("request_timeout_s");
      return Error{ErrorCode::kTimeout,
                   "request exceeded limits.request_timeout_s (" + std::to_string(options_.request_timeout_s) + " s)",
                   {}};
    }
    return Error{ErrorCode::kInvalidArgument, "request body could not be read: " + ec.message(), {}};
  }
  Stream& stream_;
  beast::flat_buffer& buffer_;
  Parser& parser_;
  const ServerOptions& options_;
  BodyPace pace_;
  std::function<bool()> saturated_;
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

// The whole answer to a connection refused before any parsing, sent without waiting.
std::string RefusalBytes(const std::string& message) {
  const std::string body = R"({"error":{"code":"unavailable","message":")" + JsonEscape(message) + "\"}}";
  std::string out = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n";
  for (const auto& [name, value] : kSecurityHeaders) out += std::string(name) + ": " + std::string(value) + "\r\n";
  out += "Connection: close\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  return out;
}

}  // namespace

// Named, not anonymous: Server::Impl (external linkage) holds them.
namespace server_detail {

// At most one log line per second per event, with how many were folded into it: an
// attack must not turn into a flood of identical lines.
class QuietLog {
 public:
  void Warn(std::string_view event, const std::string& fields) {
    const auto now = Clock::now();
    std::lock_guard lock(mutex_);
    ++folded_;
    if (now - last_ < std::chrono::seconds(1)) return;
    LogWarn(event, fields + ",\"count\":" + std::to_string(folded_));
    folded_ = 0;
    last_ = now;
  }

 private:
  std::mutex mutex_;
  Clock::time_point last_{};
  std::uint64_t folded_ = 0;
};

}  // namespace server_detail

struct Connection;

struct Server::Impl {
  ServerOptions options;
  const Router& router;
  // Before ioc: connections still queued in ioc when it is destroyed use both.
  std::unique_ptr<TlsContext> tls;  // set by Listen() when TLS is configured
  std::unique_ptr<ConnectionLimits> limits;
  asio::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  asio::steady_timer accept_backoff{ioc};
  std::chrono::milliseconds backoff{0};
  std::unique_ptr<asio::thread_pool> pool;       // requests
  std::unique_ptr<asio::thread_pool> long_pool;  // long-lived requests
  std::atomic<int> long_active{0};
  std::atomic<int> busy{0};  // requests being handled on the request pool
  int pool_threads = 0;
  std::atomic<bool> stopping{false};
  std::mutex waiting_mutex;
  std::set<std::shared_ptr<Connection>> waiting;  // connections the I/O thread waits on
  server_detail::QuietLog refused_log, backoff_log;

  Impl(ServerOptions o, const Router& r) : options(std::move(o)), router(r) {}
  void Accept();
  void OnAccepted(tcp::socket socket);
  void StopOnIoThread();
};

// One client connection. Lives as long as a shared_ptr to it: held by the I/O thread's
// waits, or by the handler thread serving it. Exactly one thread touches it at a time.
struct Connection : std::enable_shared_from_this<Connection> {
  enum class Phase { kHandshake, kIdle, kHeader };

  Server::Impl& server;
  tcp::socket socket;
  ConnectionLimits::Slot slot;
  beast::flat_buffer buffer;
  asio::steady_timer timer;
  std::string remote;
  std::unique_ptr<TlsStream> tls;  // null on a plain HTTP listener
  std::optional<Parser> parser;
  Phase phase = Phase::kHeader;
  Clock::time_point phase_deadline;
  Clock::time_point request_started;  // the request's first byte (or the accept of a new connection)
  bool timer_fired = false;
  bool waiting_now = false;           // a Wait is pending (I/O thread only)
  std::uint64_t wait_generation = 0;  // which Wait a timer belongs to (I/O thread only)
  Request request;
  RouteMatch match;

  Connection(Server::Impl& s, tcp::socket sock, ConnectionLimits::Slot place, std::string address)
      : server(s), socket(std::move(sock)), slot(std::move(place)), timer(server.ioc), remote(std::move(address)) {
    beast::error_code ec;
    socket.set_option(tcp::no_delay(true), ec);
    socket.non_blocking(true, ec);
    if (server.tls) tls = std::make_unique<TlsStream>(*server.tls, socket.native_handle(), WriteTimeout());
    Metrics::Global().AddToGauge("voxelgate_http_connections_open", "Open HTTP connections.", 1);
  }
  ~Connection() { Metrics::Global().AddToGauge("voxelgate_http_connections_open", "Open HTTP connections.", -1); }

  std::chrono::milliseconds WriteTimeout() const { return std::chrono::seconds(server.options.write_timeout_s); }

  // On the I/O thread, for a new connection: the handshake (TLS) or the first request's
  // headers must arrive within header_timeout_s of now.
  void Start() {
    request_started = Clock::now();
    phase_deadline = request_started + std::chrono::seconds(server.options.header_timeout_s);
    NewParser();
    phase = tls ? Phase::kHandshake : Phase::kHeader;
    Wait();
  }

  // On any thread, after a response on a kept-alive connection.
  void Next() {
    auto self = shared_from_this();
    asio::post(server.ioc, [self] {
      if (self->server.stopping) return self->Close();
      self->NewParser();
      // An idle connection keeps no read buffer: thousands of them would hold 256 KiB each.
      if (self->buffer.size() == 0) self->buffer.shrink_to_fit();
      self->phase = Phase::kIdle;
      self->phase_deadline = Clock::now() + std::chrono::seconds(self->server.options.idle_timeout_s);
      // Pipelined bytes already here, in Beast's buffer or inside the TLS session.
      if (self->buffer.size() > 0 || (self->tls && self->tls->HasBuffered())) return self->Ready();
      self->Wait();
    });
  }

  void NewParser() {
    parser.emplace();
    parser->header_limit(static_cast<std::uint32_t>(std::min<std::uint64_t>(server.options.max_header_bytes, UINT32_MAX)));
    parser->body_limit(server.options.max_body_bytes);
  }

  // On the I/O thread: wait until the socket is ready for the next step, or the phase's
  // deadline.
  void Wait() {
    if (server.stopping) return Close();
    auto self = shared_from_this();
    {
      std::lock_guard lock(server.waiting_mutex);
      server.waiting.insert(self);
    }
    timer_fired = false;
    waiting_now = true;
    const std::uint64_t generation = ++wait_generation;
    timer.expires_at(phase_deadline);
    timer.async_wait([self, generation](beast::error_code ec) {
      // A timer that expired just as the socket became ready was already queued when the
      // socket's handler cancelled it: it must not cut the next wait short.
      if (ec || !self->waiting_now || generation != self->wait_generation) return;
      self->timer_fired = true;
      beast::error_code ignored;
      self->socket.cancel(ignored);
    });
    const bool want_write = tls && tls->wanted_events() == POLLOUT;
    socket.async_wait(want_write ? tcp::socket::wait_write : tcp::socket::wait_read, [self](beast::error_code ec) {
      self->waiting_now = false;
      self->timer.cancel();
      {
        std::lock_guard lock(self->server.waiting_mutex);
        self->server.waiting.erase(self);
      }
      if (self->server.stopping) return self->Close();
      if (self->timer_fired) return self->TimedOut();
      if (ec) return self->Close();
      self->Ready();
    });
  }

  // On the I/O thread: bytes (or TLS records) can be read. Plain connections take the
  // step here (a non-blocking read and a parse); TLS work goes to a handler thread.
  void Ready() {
    if (!tls) return Step();
    auto self = shared_from_this();
    asio::post(*server.pool, [self] { self->Step(); });
  }

  // One non-blocking step through the handshake and the headers. Runs on the I/O thread
  // (plain) or a handler thread (TLS); ends by waiting again, dispatching the request, or
  // answering an error.
  void Step() {
    if (phase == Phase::kHandshake) {
      auto done = tls->HandshakeStep();
      if (!done) {
        LogInfo("tls_handshake_failed", "\"remote\":\"" + JsonEscape(remote) + "\",\"detail\":\"" +
                                            JsonEscape(done.error().detail) + "\"");
        return Close();
      }
      if (!*done) return WaitFromAnyThread();
      phase = Phase::kHeader;
    }
    beast::error_code ec;
    bool header_done = false;
    if (!tls) {
      TimedStream stream(socket.native_handle(), TimedStream::kNoWait, WriteTimeout());
      header_done = ReadHeader(stream, ec);
    } else {
      tls->SetNoWait(true);
      header_done = ReadHeader(*tls, ec);
      tls->SetNoWait(false);
    }
    if (header_done) return Dispatch();
    if (ec == asio::error::would_block) return WaitFromAnyThread();
    if (ec == bhttp::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
        ec == bhttp::error::partial_message || !parser)
      return Close();
    if (ec == bhttp::error::header_limit) {
      CountLimit("max_header_bytes");
      return AnswerEarly(ErrorResponse(431, "too_large",
                                       "request header exceeds limits.max_header_bytes (" +
                                           std::to_string(server.options.max_header_bytes) + " bytes)"));
    }
    if (ec == bhttp::error::body_limit) {
      CountLimit("max_body_bytes");
      return AnswerEarly(ErrorResponse(413, "too_large",
                                       "request body exceeds limits.max_body_bytes (" +
                                           std::to_string(server.options.max_body_bytes) + " bytes)"));
    }
    AnswerEarly(ErrorResponse(400, "invalid_argument", "malformed HTTP request: " + ec.message()));
  }

  void WaitFromAnyThread() {
    if (!tls) return Wait();  // already on the I/O thread
    auto self = shared_from_this();
    asio::post(server.ioc, [self] { self->Wait(); });
  }

  // Reads what is there (never waits) and parses it. True once the headers are complete;
  // otherwise ec says why not (would_block: wait for more).
  template <class Stream>
  bool ReadHeader(Stream& stream, beast::error_code& ec) {
    while (true) {
      if (buffer.size() > 0) {
        if (phase == Phase::kIdle) {
          // The next request's first byte: its headers now have header_timeout_s.
          phase = Phase::kHeader;
          request_started = Clock::now();
          phase_deadline = request_started + std::chrono::seconds(server.options.header_timeout_s);
        }
        const std::size_t used = parser->put(buffer.data(), ec);
        buffer.consume(used);
        if (!ec && parser->is_header_done()) return true;
        if (ec && ec != bhttp::error::need_more) return false;
        ec = {};
      }
      if (buffer.capacity() - buffer.size() < kHeaderReadBytes) buffer.reserve(buffer.size() + kHeaderReadBytes);
      const std::size_t n = stream.read_some(buffer.prepare(buffer.capacity() - buffer.size()), ec);
      if (ec) return false;
      buffer.commit(n);
    }
  }

  // On the I/O thread: the phase's deadline passed with the socket silent.
  void TimedOut() {
    if (phase == Phase::kIdle) {
      CountLimit("idle_timeout_s");
      return Close();
    }
    CountLimit("header_timeout_s");
    if (phase == Phase::kHandshake) return Close();  // no TLS session to answer in
    AnswerEarly(ErrorResponse(408, "timeout",
                              "request line and headers did not arrive within limits.header_timeout_s (" +
                                  std::to_string(server.options.header_timeout_s) + " s)"));
  }

  // Runs `serve` with this connection's blocking stream, reads bounded by `read_deadline`.
  template <class Serve>
  auto WithStream(Clock::time_point read_deadline, Serve&& serve) {
    if (!tls) {
      TimedStream stream(socket.native_handle(), read_deadline, WriteTimeout());
      return serve(stream);
    }
    tls->SetNoWait(false);
    tls->SetReadDeadline(read_deadline);
    return serve(*tls);
  }

  // An answer before the request could be parsed: written by a handler thread (a write
  // may wait on a client that does not read), then the connection lingers and closes.
  void AnswerEarly(Response response) {
    auto self = shared_from_this();
    asio::post(*server.pool, [self, response = std::move(response)]() mutable {
      self->request = Request{};
      self->request.request_id = crypto::RandomHexId(8);
      self->request.remote_address = self->remote;
      self->request.method = "?";
      self->request.secure = self->tls != nullptr;
      self->WithStream(Clock::now(), [&](auto& stream) {
        self->Finish(stream, self->request, response, "-", self->request_started, false);
      });
      self->Linger();
    });
  }

  // Headers complete: the request goes to a handler thread of the right pool.
  void Dispatch() {
    const auto& header = parser->get();
    request = Request{};
    request.request_id = crypto::RandomHexId(8);
    request.remote_address = remote;
    request.secure = tls != nullptr;
    request.method = std::string(header.method_string());
    request.http_version = header.version();
    std::string target(header.target());
    auto q = target.find('?');
    request.path = target.substr(0, q);
    if (q != std::string::npos) request.query = target.substr(q + 1);
    for (const auto& field : header)
      request.headers.emplace_back(ToLower(std::string_view(field.name_string().data(), field.name_string().size())),
                                   std::string(field.value()));
    if (auto id = request.Header("x-request-id"); id && id->size() <= 64 && !id->empty()) {
      bool safe = true;
      for (char c : *id) safe &= std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
      if (safe) request.request_id = *id;
    }
    if (parser->content_length()) request.content_length = *parser->content_length();
    ApplyTrustedProxyHeaders(request, server.options.trusted_proxies);
    const bool preflight =
        request.method == "OPTIONS" && request.Header("origin") && request.Header("access-control-request-method");
    match = preflight ? RouteMatch{} : server.router.Match(request);
    auto self = shared_from_this();
    if (match.route && match.route->long_lived) {
      if (server.long_active.fetch_add(1) >= server.options.long_lived_requests) {
        server.long_active.fetch_sub(1);
        CountLimit("long_lived_requests");
        return AnswerEarly(ErrorResponse(503, "unavailable",
                                         "too many long-lived requests at once (limits.long_lived_requests = " +
                                             std::to_string(server.options.long_lived_requests) + ")"));
      }
      asio::post(*server.long_pool, [self] {
        self->Handle();
        self->server.long_active.fetch_sub(1);
      });
      return;
    }
    asio::post(*server.pool, [self] {
      self->server.busy.fetch_add(1);
      self->Handle();
      self->server.busy.fetch_sub(1);
    });
  }

  // On a handler thread: the request whose headers Dispatch() took.
  void Handle() {
    const auto deadline = request_started + std::chrono::seconds(server.options.request_timeout_s);
    const Outcome outcome = WithStream(deadline, [&](auto& stream) { return ServeRequest(stream, deadline); });
    if (outcome == Outcome::kKeepAlive) return Next();
    if (outcome == Outcome::kLinger) return Linger();
    if (tls) tls->Shutdown();
    Close();
  }

  void Close() {
    beast::error_code ec;
    timer.cancel();
    socket.shutdown(tcp::socket::shutdown_both, ec);
    socket.close(ec);
  }

  void AddCommonHeaders(const Request& req, Response& response) {
    response.Header("X-Request-Id", req.request_id);
    for (const auto& [name, value] : kSecurityHeaders) DefaultHeader(response, name, value);
    if (tls) DefaultHeader(response, "Strict-Transport-Security", kStrictTransportSecurity);
    auto origin = req.Header("origin");
    if (origin && OriginAllowed(server.options.cors_origins, *origin)) {
      response.Header("Access-Control-Allow-Origin", *origin);
      response.Header("Vary", "Origin");
      response.Header("Access-Control-Expose-Headers", "Content-Type, Content-Length, X-Request-Id, Warning");
    }
  }

  Response Preflight(const Request& req) {
    Response response;
    response.status = 204;
    auto origin = req.Header("origin");
    if (origin && OriginAllowed(server.options.cors_origins, *origin)) {
      response.Header("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, DELETE, OPTIONS");
      response.Header("Access-Control-Allow-Headers",
                      req.Header("access-control-request-headers").value_or("Authorization, Content-Type, Accept"));
      response.Header("Access-Control-Max-Age", "600");
    }
    return response;
  }

  enum class Outcome { kKeepAlive, kClose, kLinger };

  template <class Stream>
  Outcome ServeRequest(Stream& stream, Clock::time_point deadline) {
    Server::Impl& s = server;
    BodySource<Stream> body(stream, buffer, *parser, server.options, deadline,
                            [&s] { return s.busy.load() >= s.pool_threads; });
    request.body_source = &body;
    if (buffer.capacity() < kReadBufferBytes) buffer.reserve(kReadBufferBytes);

    if (auto expect = request.Header("expect"); expect && IEquals(*expect, "100-continue") && !parser->is_done()) {
      static constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
      stream.WriteAll(kContinue, sizeof kContinue - 1);
    }

    Response response;
    std::string route_name = "unmatched";
    if (request.method == "OPTIONS" && request.Header("origin") && request.Header("access-control-request-method")) {
      response = Preflight(request);
      route_name = "cors_preflight";
    } else if (match.route) {
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
    request.body_source = nullptr;
    // A body the handler did not read to the end would corrupt the next request. What has
    // arrived already is dropped; if more is due, the connection ends (lingering on the
    // I/O thread): waiting here for a body nobody wants (after a 401, say) would let an
    // unauthenticated client hold a handler thread.
    bool keep = parser->get().keep_alive() && !body.failed() && !server.stopping;
    if (keep && !parser->is_done()) {
      const auto deadline_now = Clock::now();
      stream.SetReadDeadline(deadline_now);  // no waiting: only what is buffered or in the socket
      std::uint8_t sink[64 * 1024];
      std::uint64_t drained = 0;
      while (!parser->is_done() && drained < (1u << 20)) {
        parser->get().body().data = sink;
        parser->get().body().size = sizeof sink;
        beast::error_code ec;
        bhttp::read(stream, buffer, *parser, ec);
        if (ec == bhttp::error::need_buffer) ec = {};
        if (ec) break;
        drained += sizeof sink - parser->get().body().size;
      }
      keep = parser->is_done();
    }
    const bool kept = Finish(stream, request, response, route_name, request_started, keep);
    if (kept) return Outcome::kKeepAlive;
    return parser->is_done() ? Outcome::kClose : Outcome::kLinger;
  }

  // After an answer sent before the body was read, the client may still be sending.
  // Closing at once would reset the connection and can destroy the answer in flight;
  // instead stop writing and let the I/O thread discard input for a short while.
  void Linger() {
    if (tls) tls->Shutdown();  // before the TCP half-close, or close_notify cannot go out
    beast::error_code ec;
    socket.shutdown(tcp::socket::shutdown_send, ec);
    auto self = shared_from_this();
    asio::post(server.ioc, [self] {
      self->phase_deadline = Clock::now() + std::chrono::seconds(2);
      self->DiscardInput(0);
    });
  }

  void DiscardInput(std::uint64_t discarded) {
    if (server.stopping || Clock::now() >= phase_deadline || discarded >= (64u << 20)) return Close();
    char sink[64 * 1024];
    while (true) {
      ssize_t n = ::recv(socket.native_handle(), sink, sizeof sink, MSG_DONTWAIT);
      if (n > 0) {
        discarded += static_cast<std::uint64_t>(n);
        if (discarded >= (64u << 20)) return Close();
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) break;
      return Close();  // end of stream or error
    }
    auto self = shared_from_this();
    timer.expires_at(phase_deadline);
    timer.async_wait([self](beast::error_code ec) {
      if (ec) return;
      beast::error_code ignored;
      self->socket.cancel(ignored);
    });
    socket.async_wait(tcp::socket::wait_read, [self, discarded](beast::error_code ec) {
      self->timer.cancel();
      if (ec) return self->Close();
      self->DiscardInput(discarded);
    });
  }

  template <class Stream>
  bool Finish(Stream& stream, const Request& req, Response& response, const std::string& route,
              Clock::time_point started, bool keep) {
    AddCommonHeaders(req, response);
    bhttp::response<bhttp::empty_body> head;
    // Answer in the client's version, so an HTTP/1.0 keep-alive client gets its
    // "Connection: keep-alive".
    head.version(req.http_version == 10 ? 10 : 11);
    head.result(static_cast<unsigned>(response.status));
    for (const auto& [name, value] : response.headers) head.insert(name, value);
    const bool head_only = req.method == "HEAD";
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
          LogError("response_stream_failed", "\"request_id\":\"" + req.request_id + "\",\"route\":\"" + route +
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
    if (!ok && ec == asio::error::timed_out) CountLimit("write_timeout_s");
    double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    Metrics::Global().ObserveRequest(route, req.method, response.status, seconds);
    LogInfo("http_request", fmt::format(R"("request_id":"{}","method":"{}","route":"{}","status":{},"ms":{:.2f},"bytes_out":{},"tenant":"{}","remote":"{}")",
                                        req.request_id, JsonEscape(req.method), route, response.status,
                                        seconds * 1000, bytes_out, JsonEscape(response.tenant), remote));
    return ok && keep;
  }
};

void Server::Impl::Accept() {
  acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (stopping) return;
    if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space || ec == asio::error::no_memory ||
        ec.value() == ENFILE) {
      // Out of descriptors or memory: accepting again at once would spin. Connections wait
      // in the kernel's backlog meanwhile.
      backoff = std::min<std::chrono::milliseconds>(std::max<std::chrono::milliseconds>(backoff * 2, std::chrono::milliseconds(100)),
                                                    std::chrono::seconds(1));
      CountLimit("accept_backoff");
      backoff_log.Warn("http_accept_backoff", "\"detail\":\"" + JsonEscape(ec.message()) + "\",\"ms\":" +
                                                  std::to_string(backoff.count()));
      accept_backoff.expires_after(backoff);
      accept_backoff.async_wait([this](beast::error_code timer_ec) {
        if (!timer_ec && !stopping) Accept();
      });
      return;
    }
    backoff = std::chrono::milliseconds(0);
    if (!ec) OnAccepted(std::move(socket));
    Accept();
  });
}

void Server::Impl::OnAccepted(tcp::socket socket) {
  // Asio accepts without SOCK_CLOEXEC: an algorithm process must not inherit clients.
  ::fcntl(socket.native_handle(), F_SETFD, FD_CLOEXEC);
  beast::error_code ec;
  auto endpoint = socket.remote_endpoint(ec);
  std::string address = ec ? std::string("?") : endpoint.address().to_string();
  auto slot = limits->TryOpen(address);
  if (!slot) {
    const bool total = slot.error() == ConnectionLimits::Refusal::kTotal;
    const char* limit = total ? "max_connections" : "max_connections_per_address";
    CountLimit(limit);
    refused_log.Warn("http_connection_refused", std::string("\"limit\":\"") + limit + "\"");
    // Refused before any parsing and without waiting: one send, whatever has arrived is
    // dropped, close. A TLS client gets no plain-text answer it could not read.
    if (!tls) {
      const std::string answer =
          RefusalBytes(total ? "the server has too many open connections (limits.max_connections = " +
                                   std::to_string(limits->max_total()) + ")"
                             : "too many open connections from this address (limits.max_connections_per_address = " +
                                   std::to_string(limits->max_per_address()) + ")");
      (void)!::send(socket.native_handle(), answer.data(), answer.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      char sink[4096];
      while (::recv(socket.native_handle(), sink, sizeof sink, MSG_DONTWAIT) > 0) {
      }
    }
    socket.shutdown(tcp::socket::shutdown_both, ec);
    socket.close(ec);
    return;
  }
  std::make_shared<Connection>(*this, std::move(socket), std::move(*slot), std::move(address))->Start();
}

void Server::Impl::StopOnIoThread() {
  beast::error_code ec;
  acceptor.close(ec);
  accept_backoff.cancel();
  std::set<std::shared_ptr<Connection>> idle;
  {
    std::lock_guard lock(waiting_mutex);
    idle.swap(waiting);
  }
  for (const auto& c : idle) c->Close();
}

Server::Server(ServerOptions options, const Router& router) : impl_(std::make_unique<Impl>(std::move(options), router)) {}
Server::~Server() = default;

Result<std::uint16_t> Server::Listen() {
  ServerOptions& options = impl_->options;
  if (!options.tls_cert_chain_file.empty() || !options.tls_key_file.empty()) {
    if (options.tls_cert_chain_file.empty() || options.tls_key_file.empty())
      return Fail(ErrorCode::kInvalidArgument, "TLS needs both a certificate chain file and a key file");
    auto tls = TlsContext::Load(options.tls_cert_chain_file, options.tls_key_file);
    if (!tls) return std::unexpected(tls.error());
    impl_->tls = std::move(*tls);
  }
  // Every connection is a descriptor: the cap must fit under the process's limit, raised
  // to its hard maximum first.
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0) {
    if (files.rlim_cur < files.rlim_max) {
      files.rlim_cur = files.rlim_max;
      (void)::setrlimit(RLIMIT_NOFILE, &files);
      (void)::getrlimit(RLIMIT_NOFILE, &files);
    }
    const std::size_t usable =
        files.rlim_cur > kReservedDescriptors * 2 ? files.rlim_cur - kReservedDescriptors : files.rlim_cur / 2;
    if (options.max_connections == 0 || options.max_connections > usable) {
      LogWarn("http_max_connections_lowered", "\"configured\":" + std::to_string(options.max_connections) +
                                                  ",\"allowed\":" + std::to_string(usable) +
                                                  ",\"descriptor_limit\":" + std::to_string(files.rlim_cur));
      options.max_connections = usable;
    }
  }
  impl_->limits = std::make_unique<ConnectionLimits>(options.max_connections, options.max_connections_per_address);
  for (const char* limit : kLimitNames) Metrics::Global().DeclareLimit("http", limit);
  Metrics::Global().AddToGauge("voxelgate_http_connections_open", "Open HTTP connections.", 0);
  beast::error_code ec;
  auto address = asio::ip::make_address(options.host, ec);
  if (ec) return Fail(ErrorCode::kInvalidArgument, "cannot listen on '" + options.host + "': not an IP address");
  tcp::endpoint endpoint(address, options.port);
  auto& acceptor = impl_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) ::fcntl(acceptor.native_handle(), F_SETFD, FD_CLOEXEC);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return Fail(ErrorCode::kUnavailable,
                "cannot listen on " + options.host + ":" + std::to_string(options.port) + ": " + ec.message());
  return acceptor.local_endpoint().port();
}

void Server::Run() {
  int threads = impl_->options.threads;
  // Handlers block on disk and on clients' bodies: 8 per core, at least 16.
  if (threads <= 0) threads = std::max(16, 8 * static_cast<int>(std::thread::hardware_concurrency()));
  impl_->pool_threads = threads;
  impl_->pool = std::make_unique<asio::thread_pool>(threads);
  impl_->long_pool = std::make_unique<asio::thread_pool>(std::max(1, impl_->options.long_lived_requests));
  asio::signal_set signals(impl_->ioc, SIGTERM, SIGINT);
  signals.async_wait([this](beast::error_code ec, int) {
    if (!ec) Stop();
  });
  impl_->Accept();
  impl_->ioc.run();
  impl_->pool->join();  // in-flight requests finish here
  impl_->long_pool->join();
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
