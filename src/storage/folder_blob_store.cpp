#include "storage/folder_blob_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>

#include "crypto/crypto.h"

namespace vg::storage {
namespace fs = std::filesystem;

StagedBlob& StagedBlob::operator=(StagedBlob&& other) noexcept {
  if (this != &other) {
    if (fd >= 0) ::close(fd);
    key = std::move(other.key);
    temp_path = std::move(other.temp_path);
    fd = other.fd;
    stored_bytes = other.stored_bytes;
    other.fd = -1;
    other.temp_path.clear();
  }
  return *this;
}

StagedBlob::~StagedBlob() {
  if (fd >= 0) ::close(fd);
  // An unpublished, undiscarded stage must not linger.
  if (!temp_path.empty()) ::unlink(temp_path.c_str());
}

bool IsValidBlobName(const std::string& name) {
  if (name.size() < 16 || name.size() > 64) return false;
  for (char c : name)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

namespace {

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
      if (errno == ENOSPC || errno == EDQUOT)
        return Fail(ErrorCode::kResourceExhausted, "out of storage space", std::strerror(errno));
      return Fail(ErrorCode::kInternal, "storage write failed", std::strerror(errno));
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return {};
}

Result<void> SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Fail(ErrorCode::kInternal, "storage sync failed", std::strerror(errno));
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Fail(ErrorCode::kInternal, "storage sync failed", std::strerror(errno));
  return {};
}

}  // namespace

Result<std::unique_ptr<FolderBlobStore>> FolderBlobStore::Open(const std::string& root, bool sync) {
  std::error_code ec;
  fs::create_directories(root + "/.tmp", ec);
  if (ec) return Fail(ErrorCode::kInternal, "cannot create the blob folder " + root, ec.message());
  // Staged files from a previous run were never acknowledged: drop them.
  for (const auto& entry : fs::directory_iterator(root + "/.tmp", ec)) fs::remove(entry.path(), ec);
  return std::unique_ptr<FolderBlobStore>(new FolderBlobStore(root, sync));
}

std::string FolderBlobStore::PathOf(const BlobKey& key) const {
  // Names made by NewBlobName start with an hour stamp, so a batch lands in one folder
  // and publishing it costs one directory fsync, not one per file.
  return root_ + "/t" + std::to_string(key.tenant_id) + "/" + key.name.substr(0, 8) + "/" + key.name;
}

std::string NewBlobName() {
  auto hours = std::chrono::duration_cast<std::chrono::hours>(std::chrono::system_clock::now().time_since_epoch());
  char stamp[9];
  std::snprintf(stamp, sizeof stamp, "%08llx", static_cast<unsigned long long>(hours.count()));
  return stamp + crypto::RandomHexId(12);
}

Result<StagedBlob> FolderBlobStore::Stage(const BlobKey& key, ByteSource& data) {
  if (!IsValidBlobName(key.name)) return Fail(ErrorCode::kInvalidArgument, "bad blob name", key.name);
  StagedBlob staged;
  staged.key = key;
  staged.temp_path = root_ + "/.tmp/" + crypto::RandomHexId(16);
  staged.fd = ::open(staged.temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (staged.fd < 0) {
    staged.temp_path.clear();
    return Fail(ErrorCode::kInternal, "cannot create a storage file", std::strerror(errno));
  }
  std::vector<std::uint8_t> buffer(512 * 1024);
  while (true) {
    auto n = data.Read(buffer);
    if (!n) return std::unexpected(n.error());
    if (*n == 0) break;
    if (auto w = WriteAll(staged.fd, buffer.data(), *n); !w) return std::unexpected(w.error());
    staged.stored_bytes += *n;
  }
  // Start writeback now, so the fsync in Publish mostly waits for I/O already under way.
  if (sync_) ::sync_file_range(staged.fd, 0, 0, SYNC_FILE_RANGE_WRITE);
  return staged;
}

Result<void> FolderBlobStore::Publish(std::span<StagedBlob> blobs) {
  // fsync every file first: the kernel can overlap their writeback.
  if (sync_) {
    for (auto& blob : blobs)
      if (::fdatasync(blob.fd) != 0) return Fail(ErrorCode::kInternal, "storage sync failed", std::strerror(errno));
  }
  std::set<std::string> dirs;
  for (auto& blob : blobs) {
    std::string final_path = PathOf(blob.key);
    std::string dir = final_path.substr(0, final_path.rfind('/'));
    if (dirs.insert(dir).second) {
      std::error_code ec;
      if (fs::create_directories(dir, ec) && sync_) {
        // New directories must themselves be durable in their parents.
        (void)SyncDir(dir.substr(0, dir.rfind('/')));
        (void)SyncDir(root_);
      }
    }
    if (::rename(blob.temp_path.c_str(), final_path.c_str()) != 0)
      return Fail(ErrorCode::kInternal, "storage rename failed", std::strerror(errno));
    blob.temp_path.clear();
    ::close(blob.fd);
    blob.fd = -1;
  }
  if (sync_) {
    for (const auto& dir : dirs)
      if (auto r = SyncDir(dir); !r) return r;
  }
  return {};
}

void FolderBlobStore::Discard(std::span<StagedBlob> blobs) {
  for (auto& blob : blobs) {
    if (blob.fd >= 0) ::close(blob.fd);
    blob.fd = -1;
    if (!blob.temp_path.empty()) ::unlink(blob.temp_path.c_str());
    blob.temp_path.clear();
  }
}

Result<std::unique_ptr<ByteSource>> FolderBlobStore::Get(const BlobKey& key) const {
  if (!IsValidBlobName(key.name)) return Fail(ErrorCode::kNotFound, "not found");
  int fd = ::open(PathOf(key).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Fail(ErrorCode::kNotFound, "not found");
    return Fail(ErrorCode::kInternal, "storage read failed", std::strerror(errno));
  }
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  return std::unique_ptr<ByteSource>(new FileSource(fd));
}

Result<void> FolderBlobStore::Remove(const BlobKey& key) {
  if (!IsValidBlobName(key.name)) return Fail(ErrorCode::kNotFound, "not found");
  if (::unlink(PathOf(key).c_str()) != 0) {
    if (errno == ENOENT) return Fail(ErrorCode::kNotFound, "not found");
    return Fail(ErrorCode::kInternal, "storage remove failed", std::strerror(errno));
  }
  return {};
}

}  // namespace vg::storage
