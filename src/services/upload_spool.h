// UploadSpool: the files of one upload (a MONAI Label form's image, label or study zip),
// written encrypted to the staging area under the clinic's key as they arrive, instead of
// held in memory, and read back as streams. Whatever a request sends, the server holds
// one read buffer of it, not the file.
//
// Spooled files are staged blobs no catalog row names: the spool discards them when it
// goes, and start-up recovery (RecoverInterruptedIngest) discards any a crash left.
// One request's spool; not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/byte_source.h"
#include "core/result.h"
#include "storage/blob_store.h"

namespace vg::services {

class SpooledFile {
 public:
  const std::string& filename() const { return filename_; }  // as the client named it
  std::uint64_t size() const { return size_; }
  // The bytes, decrypted as they are read.
  Result<std::unique_ptr<ByteSource>> Open() const { return blobs_->Get(staged_.key); }
  // The first bytes (at most `n`): enough to tell a zip, DICOM, NIfTI or NRRD apart.
  Result<std::string> Head(std::size_t n) const;
  // All of it in memory: kTooLarge over `limit` (nothing is read then).
  Result<std::string> ReadAll(std::uint64_t limit) const;

 private:
  friend class UploadSpool;
  const storage::BlobStore* blobs_ = nullptr;
  std::string filename_;
  std::uint64_t size_ = 0;
  storage::StagedBlob staged_;
};

class UploadSpool {
 public:
  UploadSpool(storage::BlobStore& blobs, std::int64_t tenant_id, std::uint64_t max_file_bytes)
      : blobs_(blobs), tenant_id_(tenant_id), max_file_bytes_(max_file_bytes) {}
  ~UploadSpool();
  UploadSpool(const UploadSpool&) = delete;
  UploadSpool& operator=(const UploadSpool&) = delete;

  // Spools `body` to its end. nullptr for an empty body (nothing is kept). kTooLarge past
  // max_file_bytes (what was written is removed) or past kMaxSpooledFiles files;
  // kResourceExhausted when the staging area cannot take it.
  Result<const SpooledFile*> Add(std::string filename, ByteSource& body);
  static constexpr std::size_t kMaxSpooledFiles = 1000;
  std::size_t size() const { return files_.size(); }

 private:
  storage::BlobStore& blobs_;
  std::int64_t tenant_id_;
  std::uint64_t max_file_bytes_;
  std::vector<std::unique_ptr<SpooledFile>> files_;
};

}  // namespace vg::services
