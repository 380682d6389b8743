#include "services/ingest.h"

#include <cstring>
#include <tuple>

#include "core/logging.h"
#include "core/metrics.h"
#include <chrono>
#include "core/strings.h"
#include "crypto/crypto.h"
#include "dicom/dicom.h"
#include "storage/blob_store.h"

namespace vg::services {
namespace {

// True when the stored blob holds exactly `bytes`. Used only when a SOP UID comes again,
// so the common path needs no content hash at all.
Result<bool> StoredEquals(Archive& archive, std::int64_t tenant_id, const std::string& blob_name,
                          std::string_view bytes) {
  auto source = archive.blobs.Get({tenant_id, blob_name});
  if (!source) return std::unexpected(source.error());
  std::vector<std::uint8_t> buffer(256 * 1024);
  size_t offset = 0;
  while (true) {
    auto n = (*source)->Read(buffer);
    if (!n) return std::unexpected(n.error());
    if (*n == 0) return offset == bytes.size();
    if (offset + *n > bytes.size() || std::memcmp(buffer.data(), bytes.data() + offset, *n) != 0) return false;
    offset += *n;
  }
}

// Index rows wait in memory until the batch commits. Past this many bytes of them, a
// long request commits what it has so far, keeping memory bounded for any body size.
constexpr std::size_t kMaxPendingIndexBytes = 64u << 20;
}  // namespace

struct IngestSession::Pending {
  std::size_t outcome_index;
  storage::NewInstance row;
  storage::StagedBlob blob;
};

IngestSession::IngestSession(Archive& archive, std::int64_t tenant_id, std::string required_study_uid, bool pipelined)
    : archive_(archive), tenant_id_(tenant_id), required_study_uid_(std::move(required_study_uid)),
      pipelined_(pipelined) {}

IngestSession::~IngestSession() { Abandon(); }

void IngestSession::SetOutcome(size_t index, StoreOutcome outcome) {
  std::lock_guard lock(mutex_);
  outcomes_[index] = std::move(outcome);
}

void IngestSession::AddFailure(int reason, std::string message) {
  StoreOutcome outcome;
  outcome.failure_reason = reason;
  outcome.message = std::move(message);
  std::lock_guard lock(mutex_);
  outcomes_.push_back(std::move(outcome));
}

void IngestSession::Add(std::string bytes, std::string expected_sop_uid) {
  Enqueue(std::move(bytes), std::move(expected_sop_uid), std::nullopt);
}

void IngestSession::AddStaged(std::string bytes, std::string expected_sop_uid, storage::StagedBlob staged) {
  Enqueue(std::move(bytes), std::move(expected_sop_uid), std::move(staged));
}

bool IngestSession::StoresBytesAsReceived() {
  if (!apply_privacy_) return true;
  auto privacy = PrivacyPolicy();
  return privacy && !(*privacy)->profile;
}

void IngestSession::Enqueue(std::string bytes, std::string expected_sop_uid,
                            std::optional<storage::StagedBlob> staged) {
  if (!pipelined_) {
    size_t index;
    {
      std::lock_guard lock(mutex_);
      outcomes_.emplace_back();
      index = outcomes_.size() - 1;
    }
    SetOutcome(index, Process(index, bytes, expected_sop_uid, std::move(staged)));
    return;
  }
  std::unique_lock lock(mutex_);
  if (workers_.empty())
    for (int i = 0; i < kWorkers; ++i) workers_.emplace_back([this] { WorkerLoop(); });
  // Backpressure: wait while the worker has enough to do (one task always fits).
  queue_changed_.wait(lock, [&] { return queue_.empty() || queued_bytes_ + bytes.size() <= kMaxQueuedBytes; });
  outcomes_.emplace_back();
  queued_bytes_ += bytes.size();
  queue_.push_back(Task{outcomes_.size() - 1, std::move(bytes), std::move(expected_sop_uid), std::move(staged)});
  queue_changed_.notify_all();
}

void IngestSession::WorkerLoop() {
  while (true) {
    Task task;
    {
      std::unique_lock lock(mutex_);
      queue_changed_.wait(lock, [&] { return !queue_.empty() || closed_; });
      if (queue_.empty()) return;
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    StoreOutcome outcome = Process(task.index, task.bytes, task.expected_sop_uid, std::move(task.staged));
    SetOutcome(task.index, std::move(outcome));
    {
      std::lock_guard lock(mutex_);
      queued_bytes_ -= task.bytes.size();
    }
    queue_changed_.notify_all();
    bool flush;
    {
      std::lock_guard lock(pending_mutex_);
      flush = pending_bytes_ > kMaxPendingIndexBytes;
    }
    if (flush) {
      if (auto r = Flush(); !r) LogError("ingest_flush_failed", "\"detail\":\"" + JsonEscape(r.error().detail) + "\"");
    }
  }
}

void IngestSession::StopWorker() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  queue_changed_.notify_all();
  for (auto& worker : workers_) worker.join();
  workers_.clear();
}

Result<const IngestSession::Privacy*> IngestSession::PrivacyPolicy() {
  std::lock_guard lock(privacy_mutex_);
  if (privacy_.loaded) return &privacy_;
  auto tenant = archive_.catalog.FindTenantById(tenant_id_);
  if (!tenant) return std::unexpected(tenant.error());
  if (tenant->deid_profile != "off" && !tenant->deid_profile.empty()) {
    auto profile = dicom::ParseDeidProfile(tenant->deid_profile);
    // A profile the server cannot read must not let identified data through.
    if (!profile) return Fail(ErrorCode::kInternal, "the clinic's de-identification profile is unreadable");
    privacy_.profile = *profile;
    auto secret = archive_.tenants.DeidKey(tenant_id_);
    if (!secret) return std::unexpected(secret.error());
    privacy_.secret = *secret;
  }
  for (auto [list, text] : {std::pair{&privacy_.screen.reject_modalities, &tenant->deid_reject_modalities},
                            std::pair{&privacy_.screen.reject_descriptions, &tenant->deid_reject_descriptions}})
    for (auto item : Split(*text, ','))
      if (!Trim(item).empty()) list->emplace_back(Trim(item));
  privacy_.screen.refuse_burned_in_annotation = privacy_.profile.has_value();
  if (!sender_.empty())
    for (auto name : Split(tenant->deid_trusted_senders, ','))
      if (Trim(name) == sender_) privacy_.trusted_sender = true;
  privacy_.active = privacy_.profile || !privacy_.screen.reject_modalities.empty() ||
                    !privacy_.screen.reject_descriptions.empty();
  privacy_.loaded = true;
  return &privacy_;
}

StoreOutcome IngestSession::Process(size_t index, std::string_view bytes, const std::string& expected_sop_uid,
                                    std::optional<storage::StagedBlob> prestaged) {
  // Every way out but indexing discards the pre-staged copy.
  struct DiscardUnused {
    Archive& archive;
    std::optional<storage::StagedBlob>& blob;
    ~DiscardUnused() {
      if (blob) archive.blobs.Discard(std::span(&*blob, 1));
    }
  } discard_unused{archive_, prestaged};
  if (prestaged && prestaged->key.tenant_id != tenant_id_) {  // not this session's: store a copy of our own
    archive_.blobs.Discard(std::span(&*prestaged, 1));
    prestaged.reset();
  }
  StoreOutcome outcome;
  auto fail = [&](int reason, std::string message) {
    outcome.failure_reason = reason;
    outcome.message = std::move(message);
    return std::move(outcome);
  };
  if (bytes.size() > archive_.max_instance_bytes)
    return fail(kReasonOutOfResources, "instance exceeds limits.max_instance_bytes (" +
                                           std::to_string(archive_.max_instance_bytes) + " bytes)");
  // The clinic's privacy policy comes before anything is written: refused series never
  // reach the disk, and what is kept is the de-identified object only.
  std::string deidentified;
  bool checked_identity = false;
  if (apply_privacy_) {
    auto privacy = PrivacyPolicy();
    if (!privacy) return fail(kReasonProcessingFailure, privacy.error().public_message);
    const Privacy& policy = **privacy;
    if (policy.active) {  // a clinic without a policy pays nothing here
      auto applied = dicom::ApplyPrivacy(bytes, policy.profile, policy.secret, policy.screen, policy.trusted_sender);
      if (!applied || applied->refused) {
        std::tie(outcome.sop_class_uid, outcome.sop_uid) = dicom::PeekSopIdentity(bytes);
        if (!applied) return fail(kReasonCannotUnderstand, applied.error().public_message);
        return fail(kReasonProcessingFailure, *applied->refused);
      }
      if (auto& result = applied->deidentified) {
        // The request names the original instance and study.
        if (!required_study_uid_.empty() && result->original_study_uid != required_study_uid_)
          return fail(kReasonNotMatchingStudy, "StudyInstanceUID does not match the study in the request URL");
        if (!expected_sop_uid.empty() && result->original_sop_uid != expected_sop_uid)
          return fail(kReasonNotMatchingStudy, "SOPInstanceUID of the dataset differs from the one in the request");
        checked_identity = true;
        deidentified = std::move(result->part10);
        bytes = deidentified;
        if (prestaged) {  // what was staged as it arrived is not what is kept
          archive_.blobs.Discard(std::span(&*prestaged, 1));
          prestaged.reset();
        }
      }
    }
  }
  auto parsed = dicom::ParseInstance(bytes);
  if (!parsed) {
    std::tie(outcome.sop_class_uid, outcome.sop_uid) = dicom::PeekSopIdentity(bytes);
    return fail(kReasonCannotUnderstand, parsed.error().public_message);
  }
  outcome.sop_class_uid = parsed->sop_class_uid;
  outcome.sop_uid = parsed->sop_uid;
  outcome.study_uid = parsed->study_uid;
  outcome.series_uid = parsed->series_uid;
  if (!checked_identity && !required_study_uid_.empty() && parsed->study_uid != required_study_uid_)
    return fail(kReasonNotMatchingStudy, "StudyInstanceUID does not match the study in the request URL");
  if (!checked_identity && !expected_sop_uid.empty() && parsed->sop_uid != expected_sop_uid)
    return fail(kReasonNotMatchingStudy, "SOPInstanceUID of the dataset differs from the one in the request");

  auto existing = archive_.catalog.FindInstance(tenant_id_, parsed->sop_uid);
  if (!existing) return fail(kReasonProcessingFailure, existing.error().public_message);
  if (*existing) {
    bool same = false;
    if ((*existing)->size == static_cast<std::int64_t>(bytes.size())) {
      auto equal = StoredEquals(archive_, tenant_id_, (*existing)->blob_name, bytes);
      if (!equal) return fail(kReasonProcessingFailure, equal.error().public_message);
      same = *equal;
    }
    if (same) {
      outcome.stored = true;
      outcome.already_stored = true;
      return outcome;
    }
    if (archive_.on_conflict == ConflictPolicy::kReject)
      return fail(kReasonDuplicate, "a different object is already stored under this SOPInstanceUID");
  }

  auto search_key = archive_.tenants.SearchKey(tenant_id_);
  if (!search_key) return fail(kReasonProcessingFailure, search_key.error().public_message);
  storage::NewInstance row;
  row.study_uid = parsed->study_uid;
  row.study_date = parsed->study_date;
  row.study_time = parsed->study_time;
  if (!parsed->patient_name.empty()) row.patient_name_hash = SearchHash(*search_key, "PatientName", parsed->patient_name);
  if (!parsed->patient_id.empty()) row.patient_id_hash = SearchHash(*search_key, "PatientID", parsed->patient_id);
  if (!parsed->accession_number.empty())
    row.accession_hash = SearchHash(*search_key, "AccessionNumber", parsed->accession_number);
  row.series_uid = parsed->series_uid;
  row.modality = parsed->modality;
  row.series_number = parsed->series_number;
  row.sop_uid = parsed->sop_uid;
  row.sop_class_uid = parsed->sop_class_uid;
  row.instance_number = parsed->instance_number;
  row.transfer_syntax = parsed->transfer_syntax;
  row.rows = parsed->rows;
  row.columns = parsed->columns;
  row.bits_allocated = parsed->bits_allocated;
  row.frames = parsed->frames;
  row.size = static_cast<std::int64_t>(bytes.size());
  row.blob_name = prestaged ? prestaged->key.name : storage::NewBlobName();
  auto study_attrs = SealFor(archive_, tenant_id_, "study:" + row.study_uid, parsed->study_json);
  auto series_attrs = SealFor(archive_, tenant_id_, "series:" + row.series_uid, parsed->series_json);
  auto metadata = SealFor(archive_, tenant_id_, "instance:" + row.sop_uid, parsed->instance_json);
  if (!study_attrs || !series_attrs || !metadata) return fail(kReasonProcessingFailure, "cannot seal the index record");
  row.study_attrs = std::move(*study_attrs);
  row.series_attrs = std::move(*series_attrs);
  row.metadata = std::move(*metadata);

  MemorySource source(bytes);
  auto staged = prestaged ? Result<storage::StagedBlob>(std::move(*prestaged))
                          : archive_.blobs.Stage({tenant_id_, row.blob_name}, source);
  prestaged.reset();
  if (!staged) {
    if (staged.error().code == ErrorCode::kResourceExhausted) {
      outcome.out_of_storage = true;
      return fail(kReasonOutOfResources, staged.error().public_message);
    }
    return fail(kReasonProcessingFailure, staged.error().public_message);
  }
  std::lock_guard lock(pending_mutex_);
  pending_bytes_ += row.study_attrs.size() + row.series_attrs.size() + row.metadata.size() + 512;
  pending_.push_back(Pending{index, std::move(row), std::move(*staged)});
  return outcome;  // not stored yet: Flush() decides
}

Result<void> IngestSession::Flush() {
  std::vector<Pending> batch;
  {
    std::lock_guard lock(pending_mutex_);
    batch.swap(pending_);
    pending_bytes_ = 0;
  }
  if (batch.empty()) return {};
  std::lock_guard lock(mutex_);  // Flush writes outcomes_
  auto fail_all = [&](const Error& error) {
    std::vector<storage::StagedBlob> blobs;
    for (auto& p : batch) {
      outcomes_[p.outcome_index].failure_reason =
          error.code == ErrorCode::kResourceExhausted ? kReasonOutOfResources : kReasonProcessingFailure;
      outcomes_[p.outcome_index].out_of_storage = error.code == ErrorCode::kResourceExhausted;
      outcomes_[p.outcome_index].message = error.public_message;
      blobs.push_back(std::move(p.blob));
    }
    archive_.blobs.Discard(blobs);
    return std::unexpected(error);
  };

  // Durable first (one round of fsyncs for the batch), then indexed in one durable
  // transaction, then moved into place. A crash anywhere leaves either nothing indexed
  // (the staged blobs are discarded at the next start) or everything indexed and
  // readable (the staged blobs are settled at the next start).
  std::vector<storage::StagedBlob> blobs;
  std::vector<storage::NewInstance> rows;
  std::vector<storage::BlobKey> keys;
  for (auto& p : batch) {
    keys.push_back({tenant_id_, p.row.blob_name});
    blobs.push_back(std::move(p.blob));
    rows.push_back(std::move(p.row));
  }
  if (auto r = archive_.blobs.Sync(blobs); !r) {
    for (size_t i = 0; i < batch.size(); ++i) batch[i].blob = std::move(blobs[i]);
    return fail_all(r.error());
  }
  const auto commit_started = std::chrono::steady_clock::now();
  auto committed =
      archive_.catalog.CommitInstances(tenant_id_, rows, archive_.on_conflict == ConflictPolicy::kReplace);
  Metrics::Global().ObserveStorage(
      "catalog_commit", std::chrono::duration<double>(std::chrono::steady_clock::now() - commit_started).count());
  if (!committed) {
    for (size_t i = 0; i < batch.size(); ++i) batch[i].blob = std::move(blobs[i]);
    return fail_all(committed.error());
  }
  archive_.blobs.Settle(keys);
  std::int64_t stored = 0, bytes = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    StoreOutcome& outcome = outcomes_[batch[i].outcome_index];
    const storage::CommitResult& result = (*committed)[i];
    if (result.outcome == storage::CommitOutcome::kExists) {
      // A concurrent request indexed the same SOP UID first: ours is a duplicate or a conflict.
      bool same = false;
      if (result.existing_size == rows[i].size) {
        auto ours = archive_.blobs.Get({tenant_id_, rows[i].blob_name});
        auto ours_bytes = ours ? ReadAll(**ours) : Result<std::string>(std::unexpected(ours.error()));
        if (ours_bytes) same = StoredEquals(archive_, tenant_id_, result.existing_blob, *ours_bytes).value_or(false);
      }
      (void)archive_.blobs.Remove({tenant_id_, rows[i].blob_name});
      if (same) {
        outcome.stored = true;
        outcome.already_stored = true;
      } else {
        outcome.failure_reason = kReasonDuplicate;
        outcome.message = "a different object is already stored under this SOPInstanceUID";
      }
      continue;
    }
    if (result.outcome == storage::CommitOutcome::kReplaced && result.existing_blob != rows[i].blob_name)
      (void)archive_.blobs.Remove({tenant_id_, result.existing_blob});
    outcome.stored = true;
    ++stored;
    bytes += rows[i].size;
  }
  Metrics::Global().AddInstancesStored(stored, bytes);
  return {};
}

std::vector<StoreOutcome> IngestSession::Finish() {
  StopWorker();  // from here on this thread alone touches outcomes_
  if (auto flushed = Flush(); !flushed)
    LogError("ingest_commit_failed", "\"detail\":\"" + JsonEscape(flushed.error().detail) + "\"");
  std::int64_t failures = 0;
  for (const auto& o : outcomes_) failures += o.stored ? 0 : 1;
  Metrics::Global().AddIngestFailures(failures);
  return std::move(outcomes_);
}

void IngestSession::Abandon() {
  StopWorker();
  std::vector<storage::StagedBlob> blobs;
  std::lock_guard lock(pending_mutex_);
  for (auto& p : pending_) blobs.push_back(std::move(p.blob));
  pending_.clear();
  if (!blobs.empty()) archive_.blobs.Discard(blobs);
}

}  // namespace vg::services
