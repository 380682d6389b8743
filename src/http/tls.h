// TLS for the HTTP listener, on OpenSSL. Private to http/.
//
// TlsContext: the certificate chain and key, loaded and checked once at start; shared by
// every connection (thread-safe once loaded).
//
// TlsStream: one connection's TLS session over the server's non-blocking socket, with
// the same shape as TimedStream (Beast's SyncReadStream + SyncWriteStream, blocking, a
// deadline on reads and a per-operation timeout on writes), so the request code runs
// unchanged over either. Used by one thread at a time.
//
// Not Asio's ssl::stream: its synchronous path needs a blocking next layer (the server
// waits with poll under deadlines instead), copies every byte through memory BIOs, and
// hides the bytes it holds, which the idle wait must see (HasBuffered).
#pragma once

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>

#include "core/result.h"
#include "http/sync_stream.h"

struct ssl_st;
struct ssl_ctx_st;

namespace vg::http {

class TlsContext {
 public:
  // TLS 1.2 minimum; forward-secret AEAD suites only for TLS 1.2, OpenSSL's defaults for
  // 1.3. Fails, naming the file and the problem, when a file is unreadable, holds no PEM
  // certificate or key, the key is passphrase-protected, or the key does not match.
  static Result<std::unique_ptr<TlsContext>> Load(const std::string& cert_chain_file, const std::string& key_file);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  ssl_ctx_st* native() const { return ctx_; }

 private:
  explicit TlsContext(ssl_ctx_st* ctx) : ctx_(ctx) {}
  ssl_ctx_st* ctx_;
};

class TlsStream : public SyncStreamOps<TlsStream> {
 public:
  using SyncStreamOps::read_some;
  using SyncStreamOps::write_some;
  using Clock = std::chrono::steady_clock;
  // Does not own fd.
  TlsStream(const TlsContext& context, int fd, std::chrono::milliseconds write_timeout);
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  // Reads (and the handshake) fail with timed_out once this has passed.
  void SetReadDeadline(Clock::time_point deadline) { read_deadline_ = deadline; }
  void SetWriteTimeout(std::chrono::milliseconds timeout) { write_timeout_ = timeout; }
  // Non-blocking mode (the header phase): a read that would wait fails at once with
  // would_block, and wanted_events() says what the session waits for (POLLIN, or POLLOUT
  // when OpenSSL must send first).
  void SetNoWait(bool no_wait) { no_wait_ = no_wait; }
  short wanted_events() const { return wanted_events_; }
  // One step of the server side of the handshake, without waiting: true once
  // established, false when it must wait for wanted_events(); an error (with the reason
  // in its detail) when it failed.
  Result<bool> HandshakeStep();
  // The server side of the handshake, under the read deadline. The error's detail says
  // why (OpenSSL's reason, "timed out", "connection closed").
  Result<void> Handshake();
  bool established() const { return established_; }
  // True when OpenSSL holds received bytes not yet read: the socket will not become
  // readable for them, so an idle wait must not start.
  bool HasBuffered() const;
  // Sends close_notify if the session is healthy; never waits for the peer's.
  void Shutdown();

  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers, boost::system::error_code& ec) {
    ec = {};
    for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers); ++it) {
      boost::asio::mutable_buffer b = *it;
      if (b.size() > 0) return ReadSome(b.data(), b.size(), ec);
    }
    return 0;
  }

  // Beast hands a response header over as many small buffers: gathered, they go out as
  // one TLS record instead of one record (and one send) each.
  template <class ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers, boost::system::error_code& ec) {
    ec = {};
    char gathered[kGatherBytes];
    std::size_t size = 0;
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers) && size < kGatherBytes; ++it) {
      boost::asio::const_buffer b = *it;
      if (b.size() == 0) continue;
      if (size == 0 && b.size() >= kGatherBytes) return WriteSome(b.data(), b.size(), ec);
      std::size_t n = std::min(b.size(), kGatherBytes - size);
      std::memcpy(gathered + size, b.data(), n);
      size += n;
    }
    return size == 0 ? 0 : WriteSome(gathered, size, ec);
  }

 private:
  static constexpr std::size_t kGatherBytes = 16 * 1024;  // one full TLS record

  std::size_t ReadSome(void* data, std::size_t size, boost::system::error_code& ec);
  std::size_t WriteSome(const void* data, std::size_t size, boost::system::error_code& ec);
  // After an OpenSSL call returned `result`: waits until the socket is ready for what
  // OpenSSL wants (at most timeout_ms) and returns true to retry; false with ec set when
  // the session failed or the time ran out.
  bool WaitToRetry(int result, int timeout_ms, boost::system::error_code& ec);
  int ReadTimeLeftMs() const;

  ssl_st* ssl_ = nullptr;
  int fd_;
  std::chrono::milliseconds write_timeout_;
  Clock::time_point read_deadline_ = Clock::now();
  bool established_ = false;
  bool no_wait_ = false;
  short wanted_events_ = 0;
  bool broken_ = false;  // a fatal error: OpenSSL forbids even close_notify afterwards
  bool shut_down_ = false;
  std::string failure_;  // why the session broke, for the log
};

}  // namespace vg::http
