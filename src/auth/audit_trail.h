// AuditTrail: where every access to clinic data, and every admin action, is recorded.
// Records go to the catalog's hash-chained audit_log. In the server, reads are buffered
// and written by a background thread in batches (every 200 ms, or 256 records), so
// auditing a read costs no fsync on its path; security events (sign-in, tokens, users,
// grants, keys, exports, licences) are written with RecordNow before their request is
// answered (503 when they cannot be); admin commands write synchronously. Buffered
// records the catalog refuses stay buffered and are written once it takes them again (a
// full disk: reads go on, recorded when space returns); when the buffer is full the trail
// stops Accepting, and the API refuses what it would have to record (503) rather than
// serve it unrecorded. Thread-safe.
#pragma once

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "crypto/crypto.h"
#include "storage/catalog.h"

namespace vg::auth {

// Search keys in an audit record (QIDO, C-FIND): they can hold patient names and IDs, so
// the record keeps them sealed with the clinic's data key ("query:" and base64), which only
// that clinic's admin reads back (OpenSearchKeys); a purged clinic's become unreadable
// with its key. At most 2 KiB of keys are kept.
std::string SealSearchKeys(const crypto::SecretKey& tenant_key, std::string_view keys);
std::optional<std::string> OpenSearchKeys(const crypto::SecretKey& tenant_key, std::string_view detail);

class AuditTrail {
 public:
  AuditTrail(storage::Catalog& catalog, bool synchronous);
  ~AuditTrail();  // writes what is still buffered
  AuditTrail(const AuditTrail&) = delete;
  AuditTrail& operator=(const AuditTrail&) = delete;

  void Record(storage::AuditEvent event);
  // Writes what is buffered, then `event`, before returning: the error when the catalog
  // refused (the caller must not answer as if it had been recorded).
  Result<void> RecordNow(storage::AuditEvent event);
  // False while the buffer of records waiting for the catalog is full: a request that
  // needs a record must then be refused.
  bool Accepting();
  // Writes everything buffered so far (tests, shutdown).
  void Flush();

 private:
  void Run();
  // Writes `batch`; when the catalog refuses it, its first `requeue` records go back to the
  // head of the buffer (bounded) to be retried, and the error is returned.
  Result<void> WriteBatch(const std::vector<storage::AuditEvent>& batch, std::size_t requeue);

  storage::Catalog& catalog_;
  bool synchronous_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<storage::AuditEvent> buffer_;
  bool stopping_ = false;
  std::mutex write_mutex_;  // one write at a time keeps records in the order they were made
  std::thread writer_;
};

}  // namespace vg::auth
