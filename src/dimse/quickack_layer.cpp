#include "dimse/quickack_layer.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <dcmtk/dcmnet/dcmtrans.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/logging.h"
#include "core/metrics.h"
#include "core/strings.h"

namespace vg::dimse {
namespace {

// Set by HandOver and taken by the createConnection that follows on the same thread
// (inside ASC_receiveAssociation).
thread_local std::string t_handed_over;
thread_local bool t_connection_created = false;

class QuickAckConnection final : public DcmTCPConnection {
 public:
  QuickAckConnection(DcmNativeSocketType socket, std::string already_read, const std::string& listener,
                     const PduLimits& limits)
      : DcmTCPConnection(socket), socket_(socket), replay_(std::move(already_read)), listener_(listener),
        watcher_(limits) {}
  ssize_t read(void* buf, size_t nbyte) override {
    ssize_t n = 0;
    if (replayed_ < replay_.size()) {
      n = static_cast<ssize_t>(std::min(nbyte, replay_.size() - replayed_));
      std::memcpy(buf, replay_.data() + replayed_, static_cast<size_t>(n));
      replayed_ += static_cast<size_t>(n);
    } else {
      // QUICKACK is not sticky: the kernel may fall back to delayed ACKs, so re-arm it
      // around every read.
      QuickAck();
      n = DcmTCPConnection::read(buf, nbyte);
      QuickAck();
    }
    if (n <= 0) return n;
    if (auto watched = watcher_.OnReceived(std::span(static_cast<const std::uint8_t*>(buf), static_cast<size_t>(n)));
        !watched) {
      if (!refusal_logged_) {
        refusal_logged_ = true;
        Metrics::Global().CountLimit(listener_, watcher_.refused_limit());
        LogWarn(listener_ + "_message_refused", "\"limit\":\"" + watcher_.refused_limit() + "\",\"detail\":\"" +
                                                    JsonEscape(watched.error().public_message) + "\"");
      }
      // An A-ABORT from the service provider (source 2), invalid PDU parameter value (6):
      // the peer learns the association ended on our side's limit, not by our user's wish.
      static constexpr unsigned char kAbort[] = {0x07, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x02, 0x06};
      (void)!::send(socket_, kAbort, sizeof kAbort, MSG_NOSIGNAL | MSG_DONTWAIT);
      errno = ECONNABORTED;
      return -1;
    }
    return n;
  }
  ssize_t write(void* buf, size_t nbyte) override {
    ssize_t n = DcmTCPConnection::write(buf, nbyte);
    if (n > 0) watcher_.OnSent(std::span(static_cast<const std::uint8_t*>(buf), static_cast<size_t>(n)));
    return n;
  }
  OFBool networkDataAvailable(int timeout) override {
    if (replayed_ < replay_.size()) return OFTrue;
    return DcmTCPConnection::networkDataAvailable(timeout);
  }

 private:
  void QuickAck() {
    int one = 1;
    ::setsockopt(socket_, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
  }
  DcmNativeSocketType socket_;
  std::string replay_;
  size_t replayed_ = 0;
  std::string listener_;
  PduWatcher watcher_;
  bool refusal_logged_ = false;
};

}  // namespace

void QuickAckTransportLayer::HandOver(std::string bytes) {
  t_handed_over = std::move(bytes);
  t_connection_created = false;
}

bool QuickAckTransportLayer::ConnectionCreated() { return t_connection_created; }

DcmTransportConnection* QuickAckTransportLayer::createConnection(DcmNativeSocketType socket, OFBool use_secure_layer) {
  std::string already_read;
  already_read.swap(t_handed_over);
  if (use_secure_layer) return nullptr;  // TLS would need its own layer
  t_connection_created = true;
  int one = 1;
  ::setsockopt(socket, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return new QuickAckConnection(socket, std::move(already_read), listener_, limits_);
}

}  // namespace vg::dimse
