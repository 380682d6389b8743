#include "storage/s3_blob_store.h"

#include <chrono>

#include "core/metrics.h"

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <optional>
#include <thread>

#include "core/logging.h"

namespace vg::storage {
namespace {

constexpr int kPartsInFlightPerBlob = 2;

Error Cancelled() {
  return Error{ErrorCode::kInternal, "the upload was cancelled", "S3 upload cancelled (Discard or abandoned writer)"};
}

bool IsValidPrefix(const std::string& prefix) {
  if (prefix.size() > 256 || prefix.starts_with('/') || prefix.find("//") != std::string::npos) return false;
  for (char c : prefix)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
          c == '-' || c == '/'))
      return false;
  for (std::string_view rest = prefix; !rest.empty();) {  // no "." or ".." segment
    auto slash = rest.find('/');
    std::string_view segment = rest.substr(0, slash);
    if (segment == "." || segment == "..") return false;
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  }
  return true;
}

// "t<tenant>/<name>" (below the store's prefix) back into a key; nullopt for other objects.
std::optional<BlobKey> ParseRelativeKey(std::string_view relative) {
  if (!relative.starts_with('t')) return std::nullopt;
  auto slash = relative.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::string_view digits = relative.substr(1, slash - 1);
  std::int64_t tenant = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), tenant);
  if (ec != std::errc() || end != digits.data() + digits.size() || std::to_string(tenant) != digits)
    return std::nullopt;
  std::string name(relative.substr(slash + 1));
  if (!IsValidBlobName(name)) return std::nullopt;
  return BlobKey{tenant, std::move(name)};
}

// Reads an object one range at a time, as the consumer asks (see the header for why).
class S3Source final : public ByteSource {
 public:
  S3Source(std::shared_ptr<S3Client> client, std::string bucket, std::string key, S3Client::Range first, size_t chunk)
      : client_(std::move(client)), bucket_(std::move(bucket)), key_(std::move(key)), buffer_(std::move(first.data)),
        fetched_(buffer_.size()), size_(first.object_size), chunk_(chunk) {}

  Result<size_t> Read(std::span<std::uint8_t> out) override {
    if (pos_ == buffer_.size()) {
      if (fetched_ >= size_ || out.empty()) return 0;
      auto next = client_->GetObjectRange(bucket_, key_, fetched_, chunk_);
      if (!next) return std::unexpected(next.error());
      // Blob objects never change; one that does was replaced or damaged under us.
      if (next->object_size != size_ || next->data.empty())
        return Fail(ErrorCode::kInternal, "stored object is damaged", "S3 object changed while being read");
      buffer_ = std::move(next->data);
      pos_ = 0;
      fetched_ += buffer_.size();
    }
    size_t n = std::min(out.size(), buffer_.size() - pos_);
    std::memcpy(out.data(), buffer_.data() + pos_, n);
    pos_ += n;
    return n;
  }
  std::optional<std::span<const std::uint8_t>> Unread() const override {
    if (fetched_ < size_) return std::nullopt;  // not all in memory
    return std::span(reinterpret_cast<const std::uint8_t*>(buffer_.data()) + pos_, buffer_.size() - pos_);
  }
  void Skip(size_t n) override { pos_ += std::min(n, buffer_.size() - pos_); }

 private:
  std::shared_ptr<S3Client> client_;
  std::string bucket_;
  std::string key_;
  std::string buffer_;
  size_t pos_ = 0;             // read position in buffer_
  std::uint64_t fetched_ = 0;  // object bytes fetched so far (buffer_ ends there)
  std::uint64_t size_;
  size_t chunk_;
};

}  // namespace

// ---------------------------------------------------------------------------------------

struct S3BlobStore::Upload {
  Upload(BlobKey k, std::string object, bool s) : key(std::move(k)), object_key(std::move(object)), soon(s) {}
  const BlobKey key;
  const std::string object_key;
  const bool soon;

  std::mutex mu;
  std::condition_variable cv;
  std::string upload_id;  // multipart only
  std::vector<S3Client::Part> parts;
  int next_part = 1;
  int running = 0;         // part tasks submitted and not finished
  bool closed = false;     // every part submitted: the last part to finish finalizes
  bool cancelled = false;  // what has not started is skipped; a multipart upload is aborted
  std::optional<Error> failure;  // the first failed part
  bool done = false;
  std::optional<Error> result;   // set with done when it failed

  Result<void> Wait() {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return done; });
    if (result) return std::unexpected(*result);
    return {};
  }
};

class S3BlobStore::Staged final : public StagedBlobState {
 public:
  explicit Staged(std::shared_ptr<Upload> u) : upload(std::move(u)) {}
  std::shared_ptr<Upload> upload;
};

// Runs the uploads: kSoon tasks first, then kBatched ones, each in order. Drains the
// queue before its threads end.
class S3BlobStore::TaskPool {
 public:
  explicit TaskPool(size_t threads) {
    for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
  }
  ~TaskPool() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& thread : threads_) thread.join();
  }
  void Submit(std::move_only_function<void()> task, bool soon) {
    {
      std::lock_guard lock(mu_);
      (soon ? soon_ : batched_).push_back(std::move(task));
    }
    cv_.notify_one();
  }

 private:
  void Run() {
    while (true) {
      std::move_only_function<void()> task;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || !soon_.empty() || !batched_.empty(); });
        if (soon_.empty() && batched_.empty()) return;
        auto& queue = soon_.empty() ? batched_ : soon_;
        task = std::move(queue.front());
        queue.pop_front();
      }
      task();  // tasks catch their own exceptions
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::move_only_function<void()>> soon_, batched_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

// Buffers one part; a full part goes out (as a multipart upload) only when more data
// follows, so a blob of at most one part is one PUT.
class S3BlobStore::Writer final : public BlobWriter {
 public:
  Writer(S3BlobStore& store, std::shared_ptr<Upload> upload) : store_(store), upload_(std::move(upload)) {}
  ~Writer() override {
    if (closed_ || !multipart_) return;  // nothing sent yet: nothing to undo
    bool finalize;
    {
      std::lock_guard lock(upload_->mu);
      upload_->cancelled = upload_->closed = true;
      finalize = upload_->running == 0;
    }
    if (finalize) store_.SubmitFinalize(upload_);
  }

  Result<void> Append(std::span<const std::uint8_t> data) override {
    if (closed_) return Fail(ErrorCode::kInternal, "write after close");
    const size_t part = store_.options_.part_bytes;
    while (!data.empty()) {
      if (current_.size() == part)
        if (auto r = ShipPart(); !r) return r;
      size_t take = std::min(data.size(), part - current_.size());
      current_.insert(current_.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(take));
      data = data.subspan(take);
      total_ += take;
    }
    return {};
  }

  Result<StagedBlob> Close() override {
    if (closed_) return Fail(ErrorCode::kInternal, "close after close");
    closed_ = true;
    store_.Register(upload_);
    if (!multipart_) {
      store_.SubmitPut(upload_, std::move(current_));
    } else {
      int number = 0;
      bool finalize;
      {
        std::lock_guard lock(upload_->mu);
        if (!current_.empty()) {
          number = upload_->next_part++;
          ++upload_->running;
        }
        upload_->closed = true;
        finalize = upload_->running == 0;
      }
      if (number > 0) store_.SubmitPart(upload_, number, std::move(current_));
      if (finalize) store_.SubmitFinalize(upload_);
    }
    StagedBlob staged;
    staged.key = upload_->key;
    staged.stored_bytes = total_;
    staged.state = std::make_unique<Staged>(upload_);
    return staged;
  }

 private:
  Result<void> ShipPart() {
    if (!multipart_) {
      auto id = store_.client_->CreateMultipartUpload(store_.options_.bucket, upload_->object_key);
      if (!id) return std::unexpected(id.error());
      std::lock_guard lock(upload_->mu);
      upload_->upload_id = std::move(*id);
      multipart_ = true;
    }
    int number;
    {
      // Back-pressure: a sender faster than the store waits here, not in memory.
      std::unique_lock lock(upload_->mu);
      upload_->cv.wait(lock, [&] { return upload_->running < kPartsInFlightPerBlob || upload_->failure; });
      if (upload_->failure) return std::unexpected(*upload_->failure);
      if (upload_->next_part > 10000) return Fail(ErrorCode::kTooLarge, "the blob is too large for the object store");
      number = upload_->next_part++;
      ++upload_->running;
    }
    store_.SubmitPart(upload_, number, std::move(current_));
    current_ = {};
    return {};
  }

  S3BlobStore& store_;
  std::shared_ptr<Upload> upload_;
  std::vector<std::uint8_t> current_;
  std::uint64_t total_ = 0;
  bool multipart_ = false;
  bool closed_ = false;
};

// ---------------------------------------------------------------------------------------

S3BlobStore::S3BlobStore(std::shared_ptr<S3Client> client, S3BlobStoreOptions options)
    : client_(std::move(client)), options_(std::move(options)),
      root_(options_.prefix.empty() ? std::string() : options_.prefix + "/"),
      pool_(std::make_unique<TaskPool>(options_.upload_threads)) {}

S3BlobStore::~S3BlobStore() { pool_.reset(); }  // before the members the tasks use

Result<std::unique_ptr<S3BlobStore>> S3BlobStore::Open(std::shared_ptr<S3Client> client, S3BlobStoreOptions options) {
  while (options.prefix.ends_with('/')) options.prefix.pop_back();
  if (!client) return Fail(ErrorCode::kInvalidArgument, "no S3 client");
  if (!IsValidPrefix(options.prefix)) return Fail(ErrorCode::kInvalidArgument, "the S3 key prefix is not valid");
  if (options.part_bytes < (5u << 20) || options.part_bytes > (1u << 30))
    return Fail(ErrorCode::kInvalidArgument, "the S3 part size must be 5 MiB to 1 GiB");
  if (options.read_bytes < (64u << 10) || options.read_bytes > (1u << 30))
    return Fail(ErrorCode::kInvalidArgument, "the S3 read size must be 64 KiB to 1 GiB");
  options.upload_threads = std::clamp<size_t>(options.upload_threads, 1, 64);
  if (options.create_bucket)
    if (auto created = client->CreateBucket(options.bucket); !created) return std::unexpected(created.error());
  std::string root = options.prefix.empty() ? std::string() : options.prefix + "/";
  if (auto probe = client->ListObjectsV2(options.bucket, root, "", 1); !probe) return std::unexpected(probe.error());
  return std::unique_ptr<S3BlobStore>(new S3BlobStore(std::move(client), std::move(options)));
}

std::string S3BlobStore::TenantPrefix(std::int64_t tenant_id) const {
  return root_ + "t" + std::to_string(tenant_id) + "/";
}

std::string S3BlobStore::ObjectKey(const BlobKey& key) const { return TenantPrefix(key.tenant_id) + key.name; }

void S3BlobStore::Register(const std::shared_ptr<Upload>& upload) {
  std::lock_guard lock(in_flight_mu_);
  in_flight_[upload->object_key] = upload;
}

std::shared_ptr<S3BlobStore::Upload> S3BlobStore::InFlight(const BlobKey& key) const {
  std::lock_guard lock(in_flight_mu_);
  auto it = in_flight_.find(ObjectKey(key));
  return it == in_flight_.end() ? nullptr : it->second.lock();
}

void S3BlobStore::Finish(Upload& upload, Result<void> result) {
  {
    std::lock_guard lock(in_flight_mu_);
    auto it = in_flight_.find(upload.object_key);
    if (it != in_flight_.end()) {
      auto registered = it->second.lock();
      if (!registered || registered.get() == &upload) in_flight_.erase(it);
    }
  }
  {
    std::lock_guard lock(upload.mu);
    upload.done = true;
    if (!result) upload.result = result.error();
  }
  upload.cv.notify_all();
}

void S3BlobStore::SubmitPut(std::shared_ptr<Upload> upload, std::vector<std::uint8_t> data) {
  bool soon = upload->soon;
  pool_->Submit([this, upload = std::move(upload), data = std::move(data)]() mutable {
    Result<void> result;
    try {
      bool cancelled;
      {
        std::lock_guard lock(upload->mu);
        cancelled = upload->cancelled;
      }
      if (cancelled) {
        result = std::unexpected(Cancelled());
      } else {
        const auto started = std::chrono::steady_clock::now();
        result = client_->PutObject(options_.bucket, upload->object_key, data);
        Metrics::Global().ObserveStorage(
            "blob_put", std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
      }
    } catch (const std::exception& e) {
      result = Fail(ErrorCode::kInternal, "the upload failed", e.what());
    }
    data = {};  // before waking the waiters: memory is what back-pressure is about
    Finish(*upload, std::move(result));
  }, soon);
}

void S3BlobStore::SubmitPart(std::shared_ptr<Upload> upload, int number, std::vector<std::uint8_t> data) {
  bool soon = upload->soon;
  pool_->Submit([this, upload = std::move(upload), number, data = std::move(data)]() mutable {
    std::optional<Error> failure;
    std::string etag;
    try {
      std::string upload_id;
      bool skip;
      {
        std::lock_guard lock(upload->mu);
        skip = upload->cancelled || upload->failure;
        upload_id = upload->upload_id;
      }
      if (!skip) {
        auto sent = client_->UploadPart(options_.bucket, upload->object_key, upload_id, number, data);
        if (sent) etag = std::move(*sent);
        else failure = sent.error();
      }
    } catch (const std::exception& e) {
      failure = Error{ErrorCode::kInternal, "the upload failed", e.what()};
    }
    data = {};
    bool finalize;
    {
      std::lock_guard lock(upload->mu);
      if (failure && !upload->failure) upload->failure = std::move(failure);
      if (!etag.empty()) upload->parts.push_back({number, std::move(etag)});
      --upload->running;
      finalize = upload->closed && upload->running == 0;
    }
    upload->cv.notify_all();
    if (finalize) Finalize(*upload);
  }, soon);
}

void S3BlobStore::SubmitFinalize(std::shared_ptr<Upload> upload) {
  bool soon = upload->soon;
  pool_->Submit([this, upload = std::move(upload)] { Finalize(*upload); }, soon);
}

void S3BlobStore::Finalize(Upload& upload) {
  Result<void> result;
  try {
    std::optional<Error> failure;
    std::vector<S3Client::Part> parts;
    {
      std::lock_guard lock(upload.mu);
      if (upload.failure) failure = upload.failure;
      else if (upload.cancelled) failure = Cancelled();
      parts = upload.parts;
    }
    if (!failure) {
      std::sort(parts.begin(), parts.end(), [](const auto& a, const auto& b) { return a.number < b.number; });
      if (auto completed = client_->CompleteMultipartUpload(options_.bucket, upload.object_key, upload.upload_id, parts);
          !completed)
        failure = completed.error();
    }
    if (failure) {
      // Best effort: the garbage collector's AbortStaleUploads finds what this misses.
      auto aborted = client_->AbortMultipartUpload(options_.bucket, upload.object_key, upload.upload_id);
      if (!aborted && aborted.error().code != ErrorCode::kNotFound) WarnIfFailed(aborted, "s3_abort_upload_failed");
      result = std::unexpected(*failure);
    }
  } catch (const std::exception& e) {
    result = Fail(ErrorCode::kInternal, "the upload failed", e.what());
  }
  Finish(upload, std::move(result));
}

// ---------------------------------------------------------------------------------------

Result<std::unique_ptr<BlobWriter>> S3BlobStore::StageStream(const BlobKey& key, SyncWhen when) {
  if (!IsValidBlobName(key.name)) return Fail(ErrorCode::kInvalidArgument, "bad blob name", key.name);
  auto upload = std::make_shared<Upload>(key, ObjectKey(key), when == SyncWhen::kSoon);
  return std::unique_ptr<BlobWriter>(new Writer(*this, std::move(upload)));
}

Result<void> S3BlobStore::Sync(std::span<StagedBlob> blobs) {
  // Every upload is waited for, so none is still running when the caller Discards.
  Result<void> first;
  for (auto& blob : blobs) {
    auto* staged = dynamic_cast<Staged*>(blob.state.get());
    Result<void> done = staged ? staged->upload->Wait()
                               : Fail(ErrorCode::kInternal, "storage failed", "Sync of a blob not staged by this store");
    if (!done && first) first = done;
  }
  return first;
}

void S3BlobStore::Discard(std::span<StagedBlob> blobs) {
  for (auto& blob : blobs) {
    if (auto* staged = dynamic_cast<Staged*>(blob.state.get())) {
      {
        std::lock_guard lock(staged->upload->mu);
        staged->upload->cancelled = true;
      }
      (void)staged->upload->Wait();  // an upload still running could land after the delete
    }
    if (IsValidBlobName(blob.key.name))
      WarnIfFailed(client_->DeleteObject(options_.bucket, ObjectKey(blob.key)), "s3_discard_failed");
    blob.state.reset();
  }
}

Result<std::unique_ptr<ByteSource>> S3BlobStore::Get(const BlobKey& key) const {
  if (!IsValidBlobName(key.name)) return Fail(ErrorCode::kNotFound, "not found");
  if (auto upload = InFlight(key)) (void)upload->Wait();
  std::string object_key = ObjectKey(key);
  auto first = client_->GetObjectRange(options_.bucket, object_key, 0, options_.read_bytes);
  if (!first) return std::unexpected(first.error());
  return std::unique_ptr<ByteSource>(
      new S3Source(client_, options_.bucket, std::move(object_key), std::move(*first), options_.read_bytes));
}

Result<void> S3BlobStore::Remove(const BlobKey& key) {
  if (!IsValidBlobName(key.name)) return Fail(ErrorCode::kNotFound, "not found");
  if (auto upload = InFlight(key)) (void)upload->Wait();
  std::string object_key = ObjectKey(key);
  if (auto head = client_->HeadObject(options_.bucket, object_key); !head) return std::unexpected(head.error());
  return client_->DeleteObject(options_.bucket, object_key);
}

Result<void> S3BlobStore::RemoveTenant(std::int64_t tenant_id) {
  const std::string prefix = TenantPrefix(tenant_id);
  std::string token;
  do {
    auto page = client_->ListObjectsV2(options_.bucket, prefix, token);
    if (!page) return std::unexpected(page.error());
    for (const auto& object : page->objects)
      if (auto removed = client_->DeleteObject(options_.bucket, object.key); !removed) return removed;
    token = std::move(page->next_token);
  } while (!token.empty());
  return {};
}

Result<void> S3BlobStore::ForEachObjectOlderThan(TimePoint cutoff,
                                                 const std::function<bool(const StoredObject&)>& visit) const {
  std::string token;
  do {
    auto page = client_->ListObjectsV2(options_.bucket, root_, token);
    if (!page) return std::unexpected(page.error());
    for (const auto& object : page->objects) {
      if (object.last_modified >= cutoff) continue;
      auto key = ParseRelativeKey(std::string_view(object.key).substr(root_.size()));
      if (!key) continue;  // not a blob of ours
      if (!visit(StoredObject{std::move(*key), object.last_modified, object.size})) return {};
    }
    token = std::move(page->next_token);
  } while (!token.empty());
  return {};
}

Result<std::vector<S3BlobStore::StoredObject>> S3BlobStore::ListOlderThan(TimePoint cutoff) const {
  std::vector<StoredObject> out;
  auto visited = ForEachObjectOlderThan(cutoff, [&](const StoredObject& object) {
    out.push_back(object);
    return true;
  });
  if (!visited) return std::unexpected(visited.error());
  return out;
}

Result<std::vector<S3BlobStore::StaleUpload>> S3BlobStore::ListStaleUploads(TimePoint cutoff) const {
  std::vector<StaleUpload> out;
  std::string key_marker, id_marker;
  do {
    auto page = client_->ListMultipartUploads(options_.bucket, root_, key_marker, id_marker);
    if (!page) return std::unexpected(page.error());
    for (auto& upload : page->uploads)
      if (upload.initiated < cutoff) out.push_back({std::move(upload.key), std::move(upload.upload_id), upload.initiated});
    key_marker = std::move(page->next_key_marker);
    id_marker = std::move(page->next_upload_id_marker);
  } while (!key_marker.empty());
  return out;
}

Result<size_t> S3BlobStore::AbortStaleUploads(TimePoint cutoff) {
  auto stale = ListStaleUploads(cutoff);
  if (!stale) return std::unexpected(stale.error());
  size_t aborted = 0;
  std::optional<Error> first;
  for (const auto& upload : *stale) {
    auto done = client_->AbortMultipartUpload(options_.bucket, upload.object_key, upload.upload_id);
    if (done) ++aborted;
    else if (done.error().code != ErrorCode::kNotFound && !first) first = done.error();  // gone already: fine
  }
  if (first) return std::unexpected(*first);
  return aborted;
}

}  // namespace vg::storage
