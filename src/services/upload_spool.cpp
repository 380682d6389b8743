#include "services/upload_spool.h"

#include <unistd.h>

#include <utility>

#include "storage/blob_store.h"

namespace vg::services {

Result<std::string> SpooledFile::Head(std::size_t n) const {
  auto source = Open();
  if (!source) return std::unexpected(source.error());
  std::string out(n, '\0');
  std::size_t got = 0;
  while (got < n) {
    auto read = (*source)->Read(std::span(reinterpret_cast<std::uint8_t*>(out.data()) + got, n - got));
    if (!read) return std::unexpected(read.error());
    if (*read == 0) break;
    got += *read;
  }
  out.resize(got);
  return out;
}

Result<std::string> SpooledFile::ReadAll(std::uint64_t limit) const {
  if (size_ > limit)
    return Fail(ErrorCode::kTooLarge, "the file '" + filename_.substr(0, 80) + "' is larger than " +
                                          std::to_string(limit >> 20) + " MiB, the most this use of it reads");
  auto source = Open();
  if (!source) return std::unexpected(source.error());
  return vg::ReadAll(**source, static_cast<std::size_t>(limit));
}

UploadSpool::~UploadSpool() {
  std::vector<storage::StagedBlob> staged;
  for (auto& file : files_) staged.push_back(std::move(file->staged_));
  if (!staged.empty()) blobs_.Discard(staged);
}

Result<const SpooledFile*> UploadSpool::Add(std::string filename, ByteSource& body) {
  if (files_.size() >= kMaxSpooledFiles)
    return Fail(ErrorCode::kTooLarge, "an upload holds more than " + std::to_string(kMaxSpooledFiles) + " files");
  auto writer = blobs_.StageStream({tenant_id_, storage::NewBlobName()}, storage::SyncWhen::kBatched);
  if (!writer) return std::unexpected(writer.error());
  std::uint64_t size = 0;
  std::vector<std::uint8_t> buffer(256 * 1024);
  while (true) {
    auto n = body.Read(buffer);
    if (!n) return std::unexpected(n.error());  // the writer, dropped, removes what it wrote
    if (*n == 0) break;
    size += *n;
    if (size > max_file_bytes_)
      return Fail(ErrorCode::kTooLarge,
                  "an uploaded file is larger than " + std::to_string(max_file_bytes_ >> 20) + " MiB");
    if (auto ok = (*writer)->Append(std::span(buffer.data(), *n)); !ok) return std::unexpected(ok.error());
  }
  auto staged = (*writer)->Close();
  if (!staged) return std::unexpected(staged.error());
  // Never committed, so never synced: a form of many files must not hold a descriptor
  // (or whatever the backend keeps) open for each.
  if (staged->state) staged->state->Idle();
  if (size == 0) {  // an empty file field (a browser sends one when nothing was chosen)
    std::vector<storage::StagedBlob> empty;
    empty.push_back(std::move(*staged));
    blobs_.Discard(empty);
    return nullptr;
  }
  auto file = std::make_unique<SpooledFile>();
  file->blobs_ = &blobs_;
  file->filename_ = std::move(filename);
  file->size_ = size;
  file->staged_ = std::move(*staged);
  files_.push_back(std::move(file));
  return files_.back().get();
}

}  // namespace vg::services
