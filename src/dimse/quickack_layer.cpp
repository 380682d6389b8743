#include "dimse/quickack_layer.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <dcmtk/dcmnet/dcmtrans.h>

namespace vg::dimse {
namespace {

class QuickAckConnection final : public DcmTCPConnection {
 public:
  explicit QuickAckConnection(DcmNativeSocketType socket) : DcmTCPConnection(socket), socket_(socket) {}
  ssize_t read(void* buf, size_t nbyte) override {
    // QUICKACK is not sticky: the kernel may fall back to delayed ACKs, so re-arm it
    // around every read.
    QuickAck();
    ssize_t n = DcmTCPConnection::read(buf, nbyte);
    QuickAck();
    return n;
  }
 private:
  void QuickAck() {
    int one = 1;
    ::setsockopt(socket_, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
  }
  DcmNativeSocketType socket_;
};

}  // namespace

DcmTransportConnection* QuickAckTransportLayer::createConnection(DcmNativeSocketType socket, OFBool use_secure_layer) {
  if (use_secure_layer) return nullptr;  // TLS would need its own layer
  int one = 1;
  ::setsockopt(socket, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return new QuickAckConnection(socket);
}

}  // namespace vg::dimse
