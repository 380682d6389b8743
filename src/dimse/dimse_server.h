// DimseServer: the DICOM upper-layer listener (DCMTK) in the same process as HTTP.
//
// Connections and threads are AssociationListener's: each association request is read
// whole (ARTIM) before it costs a thread; caps on associations in total and per calling
// address, checked before negotiation, reject with "local limit exceeded"; every
// association runs on an owned thread inside an exception barrier. The called AE title picks the
// tenant; the calling AE title and address must be a registered node of it (see
// auth::DicomAccess). Services: C-ECHO, C-STORE (into services::IngestSession, the same
// path as STOW-RS), C-FIND (services::StudyQueries, the QIDO matching rules), C-MOVE to a
// registered node, C-GET. TCP_NODELAY is set on every socket. Associations (accepted or
// rejected) and every operation are written to the audit trail.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "auth/audit_trail.h"
#include "auth/dicom_access.h"
#include "core/result.h"
#include "services/archive.h"

namespace vg::dimse {

struct DimseOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 11112;
  int max_associations = 32;
  int max_associations_per_address = 8;
  int artim_timeout_s = 10;  // connection to a complete A-ASSOCIATE-RQ
  int max_pending = 512;     // connections still sending their request
  int max_pending_per_address = 64;
  unsigned max_pdu = 128 * 1024;
  int acse_timeout_s = 30;
  int dimse_timeout_s = 120;  // idle time between messages, and per message
};

class DimseServer {
 public:
  DimseServer(DimseOptions options, services::Archive& archive, auth::DicomAccess& access, auth::AuditTrail& audit);
  ~DimseServer();
  // Binds the listening socket and starts accepting; returns the bound port.
  Result<std::uint16_t> Start();
  // Stops accepting, lets running associations finish for a few seconds, then aborts them.
  void Stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace vg::dimse
