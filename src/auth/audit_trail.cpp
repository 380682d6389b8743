#include "auth/audit_trail.h"

#include <chrono>

#include "core/logging.h"
#include "core/strings.h"

namespace vg::auth {
namespace {
constexpr auto kFlushInterval = std::chrono::milliseconds(200);
constexpr size_t kFlushRecords = 256;
constexpr size_t kMaxBuffered = 100000;
}  // namespace

namespace {
constexpr std::string_view kSearchPrefix = "query:";
constexpr std::string_view kSearchContext = "voxelgate audit search keys";
}  // namespace

std::string SealSearchKeys(const crypto::SecretKey& tenant_key, std::string_view keys) {
  const auto sealed = crypto::Seal(tenant_key, keys.substr(0, 2048), kSearchContext);
  return std::string(kSearchPrefix) + crypto::Base64Encode(sealed);
}

std::optional<std::string> OpenSearchKeys(const crypto::SecretKey& tenant_key, std::string_view detail) {
  if (!detail.starts_with(kSearchPrefix)) return std::nullopt;
  auto sealed = crypto::Base64Decode(detail.substr(kSearchPrefix.size()));
  if (!sealed) return std::nullopt;
  auto text = crypto::Open(tenant_key, *sealed, kSearchContext);
  if (!text) return std::nullopt;
  return *text;
}

AuditTrail::AuditTrail(storage::Catalog& catalog, bool synchronous) : catalog_(catalog), synchronous_(synchronous) {
  if (!synchronous_) writer_ = std::thread([this] { Run(); });
}

AuditTrail::~AuditTrail() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (writer_.joinable()) writer_.join();
  Flush();
}

void AuditTrail::Record(storage::AuditEvent event) {
  if (synchronous_) {
    std::vector<storage::AuditEvent> one{std::move(event)};
    (void)WriteBatch(one, 0);
    return;
  }
  std::lock_guard lock(mutex_);
  buffer_.push_back(std::move(event));
  if (buffer_.size() >= kFlushRecords) wake_.notify_all();
}

Result<void> AuditTrail::RecordNow(storage::AuditEvent event) {
  std::vector<storage::AuditEvent> batch;
  {
    std::lock_guard lock(mutex_);
    batch.swap(buffer_);
  }
  batch.push_back(std::move(event));
  // On failure the event is the caller's to refuse; the buffered records before it are kept.
  if (auto r = WriteBatch(batch, batch.size() - 1); !r)
    return Fail(ErrorCode::kUnavailable, "the audit trail cannot be written just now; nothing was done unrecorded",
                r.error().detail);
  return {};
}

bool AuditTrail::Accepting() {
  std::lock_guard lock(mutex_);
  return buffer_.size() < kMaxBuffered;
}

void AuditTrail::Flush() {
  std::vector<storage::AuditEvent> batch;
  {
    std::lock_guard lock(mutex_);
    batch.swap(buffer_);
  }
  (void)WriteBatch(batch, synchronous_ ? 0 : batch.size());
}

Result<void> AuditTrail::WriteBatch(const std::vector<storage::AuditEvent>& batch, std::size_t requeue) {
  if (batch.empty()) return {};
  std::lock_guard write(write_mutex_);
  auto r = catalog_.AppendAudit(batch);
  if (r) return r;
  LogError("audit_write_failed", "\"records\":" + std::to_string(batch.size()) + ",\"detail\":\"" +
                                     JsonEscape(r.error().detail) + "\"");
  if (requeue == 0) return r;
  // Retried with the next batch rather than dropped, but never letting an unwritable
  // catalog grow memory without bound.
  std::lock_guard lock(mutex_);
  if (buffer_.size() + requeue <= kMaxBuffered) buffer_.insert(buffer_.begin(), batch.begin(), batch.begin() + requeue);
  else LogError("audit_records_dropped", "\"records\":" + std::to_string(requeue));
  return r;
}

void AuditTrail::Run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, kFlushInterval, [&] { return stopping_ || buffer_.size() >= kFlushRecords; });
    std::vector<storage::AuditEvent> batch;
    batch.swap(buffer_);
    lock.unlock();
    (void)WriteBatch(batch, batch.size());
    lock.lock();
  }
}

}  // namespace vg::auth
