#include "storage/folder_blob_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <set>
#include <utility>

#include "crypto/crypto.h"

namespace vg::storage {
namespace fs = std::filesystem;
namespace {

// The staging file of one blob: open until Sync or Discard. Dropped without either, the
// file stays staged: the caller Discards or Settles it, or a restart reports it.
struct StagingFile final : StagedBlobState {
  std::string path;
  int fd = -1;
  // The file's fdatasync, begun in the background when it was closed, and its creation
  // number in the staging folder (see StagingSyncer).
  std::shared_ptr<SyncTicket> data_sync;
  std::uint64_t created = 0;
  ~StagingFile() override { Idle(); }
  void Idle() override {
    if (fd >= 0) ::close(std::exchange(fd, -1));
  }
};

StagingFile& FileOf(StagedBlob& blob) { return static_cast<StagingFile&>(*blob.state); }

std::optional<std::uint64_t> ParseUintOpt(const std::string& text) {
  if (text.empty() || text.size() > 18) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return value;
}

// A failed write, create or sync: out of space (or quota) and the disk's own failure are
// the operator's to fix and the client's to retry later (507, DIMSE 0xA700); the rest is
// a bug or the environment.
Error StorageError(const char* what, int error) {
  if (error == ENOSPC || error == EDQUOT || error == EFBIG)
    return Error{ErrorCode::kResourceExhausted, "out of storage space", std::string(what) + ": " + std::strerror(error)};
  if (error == EIO)
    return Error{ErrorCode::kResourceExhausted, "the storage failed (I/O error)", std::string(what) + ": " + std::strerror(error)};
  return Error{ErrorCode::kInternal, std::string(what) + " failed", std::strerror(error)};
}

class FileSource final : public ByteSource {
 public:
  explicit FileSource(int fd) : fd_(fd) {}
  ~FileSource() override { ::close(fd_); }
  Result<size_t> Read(std::span<std::uint8_t> out) override {
    while (true) {
      ssize_t n = ::read(fd_, out.data(), out.size());
      if (n >= 0) return static_cast<size_t>(n);
      if (errno == EINTR) continue;
      return Fail(ErrorCode::kInternal, "storage read failed", std::strerror(errno));
    }
  }
 private:
  int fd_;
};

Result<void> WriteAll(int fd, const std::uint8_t* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::unexpected(StorageError("storage write", errno));
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return {};
}

}  // namespace

FolderBlobStore::FolderBlobStore(std::string root, bool sync) : root_(std::move(root)) {
  if (sync) syncer_ = std::make_unique<StagingSyncer>(root_ + "/.staged", /*threads=*/2);
}

Result<std::unique_ptr<FolderBlobStore>> FolderBlobStore::Open(const std::string& root, bool sync) {
  std::error_code ec;
  fs::create_directories(root + "/.staged", ec);
  if (ec) return Fail(ErrorCode::kInternal, "cannot create the blob folder " + root, ec.message());
  return std::unique_ptr<FolderBlobStore>(new FolderBlobStore(root, sync));
}

std::string FolderBlobStore::StagedPathOf(const BlobKey& key) const {
  return root_ + "/.staged/" + std::to_string(key.tenant_id) + "-" + key.name;
}

std::string FolderBlobStore::PathOf(const BlobKey& key) const {
  // Names made by NewBlobName start with an hour stamp, so a batch lands in one folder
  // and publishing it costs one directory fsync, not one per file.
  return root_ + "/t" + std::to_string(key.tenant_id) + "/" + key.name.substr(0, 8) + "/" + key.name;
}


namespace {

// Writes into the staging file and starts its writeback at Close, so the fsync in Sync
// mostly waits for I/O already under way. A blob to be synced soon (one DIMSE instance,
// still arriving) starts writeback every kWritebackStep bytes instead, overlapping the
// disk with the network; a batch does not, as fewer, larger writes cost less CPU.
class StagingFileWriter final : public BlobWriter {
 public:
  static constexpr std::uint64_t kWritebackStep = 256 * 1024;
  // `syncer`: null when sync is off. `sync_soon`: start the file's fdatasync at Close.
  StagingFileWriter(StagedBlob staged, StagingSyncer* syncer, bool sync_soon)
      : staged_(std::move(staged)), file_(FileOf(staged_)), syncer_(syncer), sync_soon_(sync_soon) {}
  ~StagingFileWriter() override {
    if (!closed_) {  // abandoned (the sender went away, or a write failed)
      ::close(file_.fd);
      file_.fd = -1;
      ::unlink(file_.path.c_str());
    }
  }
  Result<void> Append(std::span<const std::uint8_t> data) override {
    if (auto w = WriteAll(file_.fd, data.data(), data.size()); !w) return w;
    staged_.stored_bytes += data.size();
    if (syncer_ && sync_soon_ && staged_.stored_bytes - written_back_ >= kWritebackStep) StartWriteback();
    return {};
  }
  Result<StagedBlob> Close() override {
    if (syncer_) {
      StartWriteback();
      if (sync_soon_) file_.data_sync = syncer_->SyncFileSoon(file_.fd);
    }
    closed_ = true;
    return std::move(staged_);
  }

 private:
  void StartWriteback() {
    ::sync_file_range(file_.fd, static_cast<off_t>(written_back_),
                      static_cast<off_t>(staged_.stored_bytes - written_back_), SYNC_FILE_RANGE_WRITE);
    written_back_ = staged_.stored_bytes;
  }
  StagedBlob staged_;
  StagingFile& file_;  // staged_'s state
  StagingSyncer* syncer_;
  bool sync_soon_;
  bool closed_ = false;
  std::uint64_t written_back_ = 0;
};

}  // namespace

Result<std::unique_ptr<BlobWriter>> FolderBlobStore::StageStream(const BlobKey& key, SyncWhen when) {
  if (!IsValidBlobName(key.name)) return Fail(ErrorCode::kInvalidArgument, "bad blob name", key.name);
  auto file = std::make_unique<StagingFile>();
  file->path = StagedPathOf(key);
  file->fd = ::open(file->path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (file->fd < 0) {
    if (errno == EEXIST) return Fail(ErrorCode::kConflict, "blob name already staged", key.name);
    return std::unexpected(StorageError("creating a storage file", errno));
  }
  const bool soon = when == SyncWhen::kSoon;
  if (syncer_) file->created = syncer_->NoteCreated(/*sync_folder_soon=*/soon);
  StagedBlob staged;
  staged.key = key;
  staged.state = std::move(file);
  return std::unique_ptr<BlobWriter>(new StagingFileWriter(std::move(staged), syncer_.get(), soon));
}

Result<void> FolderBlobStore::Sync(std::span<StagedBlob> blobs) {
  std::uint64_t newest = 0;
  for (auto& blob : blobs) {
    auto& file = FileOf(blob);
    if (syncer_) {
      if (file.data_sync) {  // begun when the writer closed
        if (auto synced = StagingSyncer::Wait(*file.data_sync); !synced) return synced;
      } else if (::fdatasync(file.fd) != 0) {
        return std::unexpected(StorageError("storage sync", errno));
      }
      newest = std::max(newest, file.created);
    }
    file.data_sync.reset();
    ::close(file.fd);
    file.fd = -1;
  }
  // The new names in the staging folder must be durable too.
  if (syncer_ && !blobs.empty()) return syncer_->FolderCovers(newest);
  return {};
}

void FolderBlobStore::Settle(std::span<const BlobKey> keys) {
  std::string last_dir;
  for (const auto& key : keys) {
    std::string final_path = PathOf(key);
    std::string dir = final_path.substr(0, final_path.rfind('/'));
    if (dir != last_dir) {
      std::error_code ec;
      fs::create_directories(dir, ec);
      last_dir = dir;
    }
    // No fsync: until the rename reaches the disk, the staged copy is the blob.
    (void)::rename(StagedPathOf(key).c_str(), final_path.c_str());
  }
}

void FolderBlobStore::Discard(std::span<StagedBlob> blobs) {
  for (auto& blob : blobs) {
    if (!blob.state) continue;
    auto& file = FileOf(blob);
    if (file.fd >= 0) ::close(file.fd);
    file.fd = -1;
    if (!file.path.empty()) ::unlink(file.path.c_str());
    file.path.clear();
  }
}

Result<std::vector<BlobKey>> FolderBlobStore::ListStaged() const {
  std::vector<BlobKey> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root_ + "/.staged", ec)) {
    std::string name = entry.path().filename().string();
    auto dash = name.find('-');
    auto tenant = dash == std::string::npos ? std::nullopt : ParseUintOpt(name.substr(0, dash));
    std::string blob = dash == std::string::npos ? std::string() : name.substr(dash + 1);
    if (!tenant || !IsValidBlobName(blob)) {
      fs::remove(entry.path(), ec);  // not ours
      continue;
    }
    out.push_back(BlobKey{static_cast<std::int64_t>(*tenant), blob});
  }
  if (ec) return Fail(ErrorCode::kInternal, "cannot list staged blobs", ec.message());
  return out;
}

Result<std::unique_ptr<ByteSource>> FolderBlobStore::Get(const BlobKey& key) const {
  if (!IsValidBlobName(key.name)) return Fail(ErrorCode::kNotFound, "not found");
  // Final place first, then staged (indexed but not yet settled), then final again in
  // case a Settle moved it in between.
  int fd = ::open(PathOf(key).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) fd = ::open(StagedPathOf(key).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) fd = ::open(PathOf(key).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Fail(ErrorCode::kNotFound, "not found");
    return Fail(ErrorCode::kInternal, "storage read failed", std::strerror(errno));
  }
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  return std::unique_ptr<ByteSource>(new FileSource(fd));
}

Result<void> FolderBlobStore::RemoveTenant(std::int64_t tenant_id) {
  std::error_code ec;
  std::filesystem::remove_all(root_ + "/t" + std::to_string(tenant_id), ec);
  if (ec) return Fail(ErrorCode::kInternal, "cannot remove the tenant's blobs", ec.message());
  return {};
}

Result<void> FolderBlobStore::Remove(const BlobKey& key) {
  if (!IsValidBlobName(key.name)) return Fail(ErrorCode::kNotFound, "not found");
  bool removed = ::unlink(PathOf(key).c_str()) == 0;
  if (!removed && errno != ENOENT) return Fail(ErrorCode::kInternal, "storage remove failed", std::strerror(errno));
  removed |= ::unlink(StagedPathOf(key).c_str()) == 0;
  if (!removed) return Fail(ErrorCode::kNotFound, "not found");
  return {};
}

}  // namespace vg::storage
