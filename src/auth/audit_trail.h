// AuditTrail: where every access to clinic data, and every admin action, is recorded.
// Records go to the catalog's hash-chained audit_log. In the server they are buffered and
// written by a background thread in batches (every 200 ms, or 256 records), so auditing a
// request costs no fsync on its path; admin commands write synchronously. Thread-safe.
#pragma once

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "storage/catalog.h"

namespace vg::auth {

class AuditTrail {
 public:
  AuditTrail(storage::Catalog& catalog, bool synchronous);
  ~AuditTrail();  // writes what is still buffered
  AuditTrail(const AuditTrail&) = delete;
  AuditTrail& operator=(const AuditTrail&) = delete;

  void Record(storage::AuditEvent event);
  // Writes everything buffered so far (tests, shutdown).
  void Flush();

 private:
  void Run();
  void WriteBatch(std::vector<storage::AuditEvent>& batch);

  storage::Catalog& catalog_;
  bool synchronous_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<storage::AuditEvent> buffer_;
  bool stopping_ = false;
  std::thread writer_;
};

}  // namespace vg::auth
