// DimseServer: the DICOM upper-layer listener (DCMTK) in the same process as HTTP.
//
// Each association runs on its own thread, up to max_associations at once (more are
// rejected with "local limit exceeded"); associations share no global lock beyond the
// short hand-off of a freshly accepted socket to DCMTK. The called AE title picks the
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
