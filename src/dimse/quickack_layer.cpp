#include "dimse/quickack_layer.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <dcmtk/dcmnet/dcmtrans.h>

#include <algorithm>
#include <cstring>

namespace vg::dimse {
namespace {

// Set by HandOver and taken by the createConnection that follows on the same thread
// (inside ASC_receiveAssociation).
thread_local std::string t_handed_over;

class QuickAckConnection final : public DcmTCPConnection {
 public:
  QuickAckConnection(DcmNativeSocketType socket, std::string already_read)
      : DcmTCPConnection(socket), socket_(socket), replay_(std::move(already_read)) {}
  ssize_t read(void* buf, size_t nbyte) override {
    if (replayed_ < replay_.size()) {
      const size_t n = std::min(nbyte, replay_.size() - replayed_);
      std::memcpy(buf, replay_.data() + replayed_, n);
      replayed_ += n;
      return static_cast<ssize_t>(n);
    }
    // QUICKACK is not sticky: the kernel may fall back to delayed ACKs, so re-arm it
    // around every read.
    QuickAck();
    ssize_t n = DcmTCPConnection::read(buf, nbyte);
    QuickAck();
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
};

}  // namespace

void QuickAckTransportLayer::HandOver(std::string bytes) { t_handed_over = std::move(bytes); }

DcmTransportConnection* QuickAckTransportLayer::createConnection(DcmNativeSocketType socket, OFBool use_secure_layer) {
  std::string already_read;
  already_read.swap(t_handed_over);
  if (use_secure_layer) return nullptr;  // TLS would need its own layer
  int one = 1;
  ::setsockopt(socket, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return new QuickAckConnection(socket, std::move(already_read));
}

}  // namespace vg::dimse
