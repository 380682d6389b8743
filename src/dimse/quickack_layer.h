// Private to dimse/: a DCMTK transport layer that answers every incoming TCP segment
// with an immediate ACK (TCP_QUICKACK before each read) and disables Nagle, and that
// replays the bytes the listener already read off the socket (the A-ASSOCIATE-RQ) before
// reading the socket itself.
//
// Why QUICKACK: many DICOM peers (DCMTK's own storescu/storescp/getscu among them) leave
// Nagle on and write a PDU header and its body in two calls. The body then waits for the
// ACK of the header, which a default Linux receiver delays by up to 40 ms: ~20 instances
// per second on an otherwise idle link. Acknowledging at once on our side removes the
// stall whatever the peer does.
//
// Why replay: the listener reads each association request whole before DCMTK sees the
// socket (see association_listener.h), so that DCMTK, which takes sockets through one
// process-wide variable under a lock, never waits on a slow peer while holding it.
//
// Every connection also runs a PduWatcher over what it reads and writes: a read that
// brings a refused PDU fails (ECONNABORTED), DCMTK never sees its bytes and the
// association is aborted; the refusal is logged and counted under the listener's name.
#pragma once

#include <dcmtk/dcmnet/dcmlayer.h>

#include <string>

#include "dimse/pdu_watcher.h"

namespace vg::dimse {

class QuickAckTransportLayer final : public DcmTransportLayer {
 public:
  QuickAckTransportLayer(std::string listener, PduLimits limits) : listener_(std::move(listener)), limits_(limits) {}
  // The next connection this thread creates starts with `bytes` (then reads the socket).
  static void HandOver(std::string bytes);
  // Whether this thread created a connection since its last HandOver: DCMTK then owns the
  // socket (and closes it); otherwise the caller still does.
  static bool ConnectionCreated();
  DcmTransportConnection* createConnection(DcmNativeSocketType socket, OFBool use_secure_layer) override;

 private:
  std::string listener_;
  PduLimits limits_;
};

}  // namespace vg::dimse
