// Private to dimse/: a DCMTK transport layer that answers every incoming TCP segment
// with an immediate ACK (TCP_QUICKACK before each read) and disables Nagle.
//
// Why: many DICOM peers (DCMTK's own storescu/storescp/getscu among them) leave Nagle on
// and write a PDU header and its body in two calls. The body then waits for the ACK of
// the header, which a default Linux receiver delays by up to 40 ms: ~20 instances per
// second on an otherwise idle link. Acknowledging at once on our side removes the stall
// whatever the peer does.
#pragma once

#include <dcmtk/dcmnet/dcmlayer.h>

namespace vg::dimse {

class QuickAckTransportLayer final : public DcmTransportLayer {
 public:
  DcmTransportConnection* createConnection(DcmNativeSocketType socket, OFBool use_secure_layer) override;
};

}  // namespace vg::dimse
