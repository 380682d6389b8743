// IngestSession: stores a batch of DICOM instances for one tenant, the same way for
// every entry point (STOW-RS, DIMSE C-STORE, browser upload).
//
// Per instance: size check -> parse and validate (DCMTK) -> duplicate check -> seal the
// index records -> encrypt and stage the blob. Finish(): record blob intents -> publish
// (fsync, rename) -> index everything in one transaction -> outcomes. Nothing is visible
// before Finish() returns, and an instance is acknowledged only after it is durable.
// A bad instance fails alone with a reason; the others are stored.
//
// Add() hands the instance to the session's worker threads (kWorkers), so reading the
// next instance off the network overlaps with parsing, encrypting and writing earlier
// ones on every core. The queue between them is bounded (kMaxQueuedBytes), so a fast
// sender waits instead of filling memory. Not thread-safe: one producer per session.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "dicom/deid.h"
#include "services/archive.h"

namespace vg::services {

// DICOM failure reasons (PS3.4 / PS3.18 FailureReason).
inline constexpr int kReasonProcessingFailure = 0x0110;
inline constexpr int kReasonDuplicate = 0x0111;
inline constexpr int kReasonOutOfResources = 0xA700;
inline constexpr int kReasonNotMatchingStudy = 0xA900;
inline constexpr int kReasonCannotUnderstand = 0xC000;

struct StoreOutcome {
  bool stored = false;           // durable and indexed (including "already stored")
  bool already_stored = false;   // an identical object was there before
  std::string sop_class_uid, sop_uid, study_uid, series_uid;  // empty when unparsable
  int failure_reason = 0;        // when !stored
  bool out_of_storage = false;   // when !stored: the store ran out of space (or failed): retry later
  std::string message;           // when !stored: the reason, safe to show
};

class IngestSession {
 public:
  // `pipelined`: process instances on a worker thread while the caller reads the next
  // one (STOW-RS); off for one instance at a time (DIMSE C-STORE), where a thread buys
  // nothing.
  IngestSession(Archive& archive, std::int64_t tenant_id, std::string required_study_uid = {}, bool pipelined = true);
  // Objects the server made from what it already holds (a SEG of a stored series) skip the
  // clinic's de-identification: their source was de-identified on the way in.
  void SkipPrivacyPolicy() { apply_privacy_ = false; }
  // Who sends the instances (a username; empty for a DICOM node): the clinic may trust
  // this user to de-identify (TenantRecord::deid_trusted_senders). Call before Add.
  void SetSender(std::string username) { sender_ = std::move(username); }
  ~IngestSession();

  // Takes one instance. `expected_sop_uid`, when given, must be the dataset's
  // SOPInstanceUID (a DIMSE C-STORE names the instance in its request).
  void Add(std::string bytes, std::string expected_sop_uid = {});
  // True when the instances are stored exactly as received (the clinic does not
  // de-identify at ingest): the caller may then stage the bytes while they arrive
  // (BlobStore::StageStream under this session's tenant) and hand the blob to AddStaged.
  bool StoresBytesAsReceived();
  // Add() of an instance whose exact bytes are already staged as `staged`. The session
  // owns the blob from here: it is indexed, or discarded if the instance fails.
  void AddStaged(std::string bytes, std::string expected_sop_uid, storage::StagedBlob staged);
  // Records an instance that failed before it could be read (e.g. over the size limit).
  void AddFailure(int reason, std::string message);
  // Makes the batch durable and visible; returns one outcome per Add/AddFailure, in
  // order. A batch that could not be made durable reports each of its instances failed.
  std::vector<StoreOutcome> Finish();
  // Drops everything staged (the request failed as a whole).
  void Abandon();

 private:
  struct Pending;
  struct Task {
    size_t index;
    std::string bytes;
    std::string expected_sop_uid;
    std::optional<storage::StagedBlob> staged;
  };
  static constexpr std::size_t kMaxQueuedBytes = 32u << 20;
  static constexpr int kWorkers = 2;

  void WorkerLoop();
  void StopWorker();
  void Enqueue(std::string bytes, std::string expected_sop_uid, std::optional<storage::StagedBlob> staged);
  // Parse, check, seal and stage one instance (worker thread). Returns its outcome; a
  // staged instance is also queued in pending_ and finalised by Flush(). `prestaged`
  // holds the instance's bytes already (AddStaged); it is used or discarded.
  StoreOutcome Process(size_t index, std::string_view bytes, const std::string& expected_sop_uid,
                       std::optional<storage::StagedBlob> prestaged);
  Result<void> Flush();
  void SetOutcome(size_t index, StoreOutcome outcome);

  // The clinic's de-identification at ingest (read once per session).
  struct Privacy {
    bool loaded = false;
    bool active = false;                         // a profile or a burned-in text rule
    std::optional<dicom::DeidOptions> profile;  // none: off
    dicom::DeidScreen screen;
    crypto::SecretKey secret;
    bool trusted_sender = false;  // the sender de-identifies for the clinic
  };
  Result<const Privacy*> PrivacyPolicy();

  Archive& archive_;
  std::int64_t tenant_id_;
  std::string required_study_uid_;
  bool pipelined_;
  bool apply_privacy_ = true;
  std::string sender_;
  std::mutex privacy_mutex_;
  Privacy privacy_;

  std::mutex mutex_;  // guards outcomes_, queue_, queued_bytes_, closed_
  std::condition_variable queue_changed_;
  std::vector<StoreOutcome> outcomes_;
  std::deque<Task> queue_;
  std::size_t queued_bytes_ = 0;
  bool closed_ = false;
  std::vector<std::thread> workers_;

  std::mutex pending_mutex_;  // guards pending_, pending_bytes_
  std::vector<Pending> pending_;
  std::size_t pending_bytes_ = 0;
};

}  // namespace vg::services
