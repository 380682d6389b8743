#include "http/tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <boost/asio/error.hpp>
#include <cerrno>
#include <climits>
#include <cstdio>

#include "http/timed_stream.h"

namespace vg::http {

namespace {

// Mozilla's "intermediate" TLS 1.2 suites without DHE (which would need parameters
// configured): forward secrecy and AEAD only. TLS 1.3 keeps OpenSSL's suites.
constexpr char kTls12Ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// OpenSSL's reasons for the last failure, oldest first; empties the thread's error queue.
std::string TakeOpenSslReasons() {
  std::string reasons;
  while (unsigned long e = ERR_get_error()) {
    const char* reason = ERR_reason_error_string(e);
    std::string text = reason ? reason : "error " + std::to_string(ERR_GET_REASON(e));
    if (reasons.find(text) != std::string::npos) continue;
    if (!reasons.empty()) reasons += "; ";
    reasons += text;
  }
  return reasons.empty() ? "unknown OpenSSL error" : reasons;
}

// SSL_get_error reads both the thread's OpenSSL error queue and errno: leftovers from
// another connection served on this thread must not count.
void ClearErrors() {
  ERR_clear_error();
  errno = 0;
}

// A key protected by a passphrase fails to load instead of OpenSSL prompting on the
// terminal of a server that has none.
int NoPassphrase(char*, int, int, void*) { return 0; }

using FilePtr = std::unique_ptr<std::FILE, decltype(&std::fclose)>;
using KeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

Result<FilePtr> OpenReadable(const char* what, const std::string& path) {
  FilePtr file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file)
    return Fail(ErrorCode::kInvalidArgument,
                std::string("cannot read TLS ") + what + " file '" + path + "': " + std::strerror(errno));
  return file;
}

// Read apart from the certificate, so that "not a key" and "not this certificate's key"
// get different messages.
Result<KeyPtr> ReadPrivateKey(const std::string& path) {
  auto file = OpenReadable("key", path);
  if (!file) return std::unexpected(file.error());
  KeyPtr key(PEM_read_PrivateKey(file->get(), nullptr, NoPassphrase, nullptr), &EVP_PKEY_free);
  if (!key)
    return Fail(ErrorCode::kInvalidArgument, "TLS key file '" + path + "' holds no usable PEM private key (" +
                                                 TakeOpenSslReasons() + "); keys with a passphrase are not supported");
  return key;
}

// OpenSSL's socket BIO writes with write(2), which raises SIGPIPE (and so kills the
// server) when the peer has gone. The same BIO, but sending with MSG_NOSIGNAL.
int SendWithoutSigpipe(BIO* bio, const char* data, int size) {
  int fd = -1;
  BIO_get_fd(bio, &fd);
  BIO_clear_retry_flags(bio);
  ssize_t n = ::send(fd, data, static_cast<std::size_t>(size), MSG_NOSIGNAL);
  if (n < 0 && BIO_sock_should_retry(-1)) BIO_set_retry_write(bio);
  return static_cast<int>(n);
}

const BIO_METHOD* SocketWithoutSigpipe() {
  static const BIO_METHOD* method = [] {
    const BIO_METHOD* socket = BIO_s_socket();
    BIO_METHOD* m = BIO_meth_new(BIO_TYPE_SOCKET, "voxelgate socket");
    if (!m) return static_cast<BIO_METHOD*>(nullptr);
    BIO_meth_set_write(m, SendWithoutSigpipe);
    BIO_meth_set_read(m, BIO_meth_get_read(socket));
    BIO_meth_set_puts(m, BIO_meth_get_puts(socket));
    BIO_meth_set_ctrl(m, BIO_meth_get_ctrl(socket));
    BIO_meth_set_create(m, BIO_meth_get_create(socket));
    BIO_meth_set_destroy(m, BIO_meth_get_destroy(socket));
    return m;
  }();
  return method;
}

void ConfigureServerContext(SSL_CTX* ctx) {
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_cipher_list(ctx, kTls12Ciphers);
  // No renegotiation: a client could make the server redo expensive handshakes at will.
  // An EOF without close_notify is a plain close, as with HTTP: requests are framed.
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
  // Partial writes give write_some its usual meaning; released buffers keep idle
  // keep-alive connections small; read-ahead saves a recv per record.
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_read_ahead(ctx, 1);
}

}  // namespace

Result<std::unique_ptr<TlsContext>> TlsContext::Load(const std::string& cert_chain_file, const std::string& key_file) {
  ERR_clear_error();
  if (auto readable = OpenReadable("certificate", cert_chain_file); !readable) return std::unexpected(readable.error());
  auto key = ReadPrivateKey(key_file);
  if (!key) return std::unexpected(key.error());
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) return Fail(ErrorCode::kInternal, "TLS could not be initialised: " + TakeOpenSslReasons());
  std::unique_ptr<TlsContext> context(new TlsContext(ctx));
  ConfigureServerContext(ctx);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_chain_file.c_str()) != 1)
    return Fail(ErrorCode::kInvalidArgument, "TLS certificate file '" + cert_chain_file +
                                                 "' holds no usable PEM certificate chain (" + TakeOpenSslReasons() + ")");
  if (SSL_CTX_use_PrivateKey(ctx, key->get()) != 1 || SSL_CTX_check_private_key(ctx) != 1)
    return Fail(ErrorCode::kInvalidArgument,
                "TLS key file '" + key_file + "' does not match the certificate in '" + cert_chain_file + "'");
  ERR_clear_error();
  return context;
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

TlsStream::TlsStream(const TlsContext& context, int fd, std::chrono::milliseconds write_timeout)
    : fd_(fd), write_timeout_(write_timeout) {
  const BIO_METHOD* method = SocketWithoutSigpipe();
  BIO* bio = method ? BIO_new(method) : nullptr;
  ssl_ = bio ? SSL_new(context.native()) : nullptr;
  if (!ssl_) {
    BIO_free(bio);  // Handshake reports the failure
    return;
  }
  BIO_set_fd(bio, fd, BIO_NOCLOSE);
  SSL_set_bio(ssl_, bio, bio);
}

TlsStream::~TlsStream() { SSL_free(ssl_); }

Result<void> TlsStream::Handshake() {
  if (!ssl_) return Fail(ErrorCode::kInternal, "TLS handshake failed", "no TLS session: out of memory");
  while (true) {
    ClearErrors();
    int rc = SSL_accept(ssl_);
    if (rc == 1) {
      established_ = true;
      return {};
    }
    boost::system::error_code ec;
    if (!WaitToRetry(rc, ReadTimeLeftMs(), ec)) {
      if (ec == boost::asio::error::timed_out) return Fail(ErrorCode::kTimeout, "TLS handshake failed", "timed out");
      return Fail(ErrorCode::kInvalidArgument, "TLS handshake failed", failure_.empty() ? ec.message() : failure_);
    }
  }
}

Result<bool> TlsStream::HandshakeStep() {
  if (!ssl_) return Fail(ErrorCode::kInternal, "TLS handshake failed", "no TLS session: out of memory");
  ClearErrors();
  int rc = SSL_accept(ssl_);
  if (rc == 1) {
    established_ = true;
    return true;
  }
  const bool saved_no_wait = no_wait_;
  no_wait_ = true;
  boost::system::error_code ec;
  WaitToRetry(rc, 0, ec);
  no_wait_ = saved_no_wait;
  if (ec == boost::asio::error::would_block) return false;
  return Fail(ErrorCode::kInvalidArgument, "TLS handshake failed", failure_.empty() ? ec.message() : failure_);
}

bool TlsStream::HasBuffered() const { return ssl_ && SSL_has_pending(ssl_) == 1; }

void TlsStream::Shutdown() {
  if (!ssl_ || !established_ || broken_ || shut_down_) return;
  shut_down_ = true;
  ERR_clear_error();
  SSL_shutdown(ssl_);  // non-blocking socket: sends close_notify, does not wait for the reply
  ERR_clear_error();
}

std::size_t TlsStream::ReadSome(void* data, std::size_t size, boost::system::error_code& ec) {
  const int want = static_cast<int>(std::min<std::size_t>(size, INT_MAX));
  while (true) {
    ClearErrors();
    int n = SSL_read(ssl_, data, want);
    if (n > 0) return static_cast<std::size_t>(n);
    if (!WaitToRetry(n, ReadTimeLeftMs(), ec)) return 0;
  }
}

std::size_t TlsStream::WriteSome(const void* data, std::size_t size, boost::system::error_code& ec) {
  const int want = static_cast<int>(std::min<std::size_t>(size, INT_MAX));
  while (true) {
    ClearErrors();
    int n = SSL_write(ssl_, data, want);
    if (n > 0) return static_cast<std::size_t>(n);
    if (!WaitToRetry(n, static_cast<int>(write_timeout_.count()), ec)) return 0;
  }
}

bool TlsStream::WaitToRetry(int result, int timeout_ms, boost::system::error_code& ec) {
  const int saved_errno = errno;
  const int error = SSL_get_error(ssl_, result);
  short events = 0;
  if (error == SSL_ERROR_WANT_READ) {
    events = POLLIN;
  } else if (error == SSL_ERROR_WANT_WRITE) {
    events = POLLOUT;
  } else if (error == SSL_ERROR_ZERO_RETURN) {
    ec = boost::asio::error::eof;
    return false;
  } else {
    // The session is unusable: to the request code it is a connection the peer reset.
    broken_ = true;
    if (error == SSL_ERROR_SYSCALL && saved_errno != 0) {
      ec = boost::system::error_code(saved_errno, boost::system::system_category());
      failure_ = std::strerror(saved_errno);
    } else {
      ec = boost::asio::error::connection_reset;
      failure_ = error == SSL_ERROR_SSL ? TakeOpenSslReasons() : "connection closed";
    }
    ERR_clear_error();
    return false;
  }
  wanted_events_ = events;
  if (no_wait_) {
    ec = boost::asio::error::would_block;
    return false;
  }
  if (timeout_ms <= 0 || !WaitForSocket(fd_, events, timeout_ms)) {
    ec = boost::asio::error::timed_out;
    return false;
  }
  return true;
}

int TlsStream::ReadTimeLeftMs() const {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(read_deadline_ - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, INT_MAX));
}

}  // namespace vg::http
