// GatewayStore: what a hospital-side gateway keeps, in its own SQLite file inside the
// hospital: the pseudonym table (remapped UIDs, pseudonyms and studies, each original
// sealed with the gateway's key by the caller), the durable outbox of de-identified
// instances still to forward, and the results already brought back.
//
// Contract: thread-safe; a received instance is recorded in one transaction (its
// mappings and its outbox entry together) and survives a crash once RecordReceived
// returns.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "storage/catalog.h"

namespace vg::storage {

struct ReceivedInstance {
  std::string sop_uid, study_uid, pseudonym;            // the de-identified ones
  std::string file;                                     // the outbox file, already durable
  std::int64_t size = 0;
  std::vector<std::pair<std::string, SealedBytes>> uids;  // new UID -> sealed original
  SealedBytes patient_sealed, study_sealed;
  std::int64_t now = 0;
};

struct OutboxItem {
  std::string sop_uid, study_uid, file;
  std::int64_t size = 0, attempts = 0, next_attempt_at = 0, created_at = 0;
  std::string last_error;
};

struct GatewayStudy {
  std::string study_uid, pseudonym;
  SealedBytes original_sealed;
  std::optional<std::int64_t> forwarded_at;
};

struct GatewayCounts {
  std::int64_t queued = 0, dead = 0, studies = 0, results_delivered = 0, results_failed = 0;
};

class GatewayStore {
 public:
  static Result<std::unique_ptr<GatewayStore>> Open(const std::string& path);
  virtual ~GatewayStore() = default;

  virtual Result<void> RecordReceived(const ReceivedInstance& instance) = 0;
  // Entries due by `now`, oldest first.
  virtual Result<std::vector<OutboxItem>> DueOutbox(std::int64_t now, std::int64_t limit) = 0;
  // Stored by the server: the entries go, their studies are marked forwarded.
  virtual Result<void> Forwarded(const std::vector<std::string>& sop_uids, std::int64_t now) = 0;
  // Try again at `next_attempt_at`.
  virtual Result<void> Retry(const std::vector<std::string>& sop_uids, const std::string& error,
                             std::int64_t next_attempt_at) = 0;
  // Refused for good by the server: kept out of the queue, counted, with the reason.
  virtual Result<void> Dead(const std::string& sop_uid, const std::string& error) = 0;

  virtual Result<std::optional<SealedBytes>> OriginalUid(const std::string& new_uid) = 0;
  virtual Result<SealedBytes> Patient(const std::string& pseudonym) = 0;
  virtual Result<GatewayStudy> Study(const std::string& study_uid) = 0;
  // Forwarded studies whose results may still come (forwarded after `since`).
  virtual Result<std::vector<GatewayStudy>> StudiesToPoll(std::int64_t since) = 0;

  virtual Result<bool> ResultHandled(const std::string& sop_uid) = 0;
  virtual Result<void> RecordResult(const std::string& sop_uid, const std::string& study_uid, bool delivered,
                                    const std::string& error, std::int64_t now) = 0;

  virtual Result<GatewayCounts> Counts() = 0;
  virtual Result<void> SetState(const std::string& key, const std::string& value) = 0;
  virtual Result<std::map<std::string, std::string>> States() = 0;
};

}  // namespace vg::storage
