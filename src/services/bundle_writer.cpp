#include "services/bundle_writer.h"

#include <archive.h>
#include <archive_entry.h>

#include <ctime>

namespace vg::services {

struct BundleWriter::State {
  archive* handle = nullptr;
  Sink sink;
  bool finished = false;
  ~State() {
    if (handle) archive_write_free(handle);
  }
};

namespace {

la_ssize_t WriteCallback(archive*, void* client, const void* buffer, size_t length) {
  auto* state = static_cast<BundleWriter::Sink*>(client);
  if (!(*state)(std::string_view(static_cast<const char*>(buffer), length))) return -1;
  return static_cast<la_ssize_t>(length);
}

Error ArchiveError(archive* a, const char* what) {
  const char* message = archive_error_string(a);
  return Error{ErrorCode::kInternal, std::string("cannot write the bundle (") + what + ")", message ? message : ""};
}

}  // namespace

Result<std::unique_ptr<BundleWriter>> BundleWriter::Open(BundleFormat format, Sink sink) {
  std::unique_ptr<BundleWriter> writer(new BundleWriter());
  writer->state_ = std::make_unique<State>();
  State& s = *writer->state_;
  s.sink = std::move(sink);
  s.handle = archive_write_new();
  if (!s.handle) return Fail(ErrorCode::kInternal, "cannot start a bundle");
  int rc = format == BundleFormat::kTar ? archive_write_set_format_pax_restricted(s.handle)
                                        : archive_write_set_format_zip(s.handle);
  if (rc == ARCHIVE_OK && format == BundleFormat::kZip) rc = archive_write_zip_set_compression_store(s.handle);
  // Whole blocks are not needed: the sink takes any size, and tar's last block is padded.
  if (rc == ARCHIVE_OK) rc = archive_write_set_bytes_in_last_block(s.handle, 1);
  if (rc == ARCHIVE_OK) rc = archive_write_open2(s.handle, &s.sink, nullptr, WriteCallback, nullptr, nullptr);
  if (rc != ARCHIVE_OK) return std::unexpected(ArchiveError(s.handle, "open"));
  return writer;
}

BundleWriter::~BundleWriter() = default;

Result<void> BundleWriter::Add(const std::string& path, std::string_view bytes) {
  State& s = *state_;
  std::unique_ptr<archive_entry, decltype(&archive_entry_free)> entry(archive_entry_new(), archive_entry_free);
  archive_entry_set_pathname(entry.get(), path.c_str());
  archive_entry_set_size(entry.get(), static_cast<la_int64_t>(bytes.size()));
  archive_entry_set_filetype(entry.get(), AE_IFREG);
  archive_entry_set_perm(entry.get(), 0644);
  archive_entry_set_mtime(entry.get(), std::time(nullptr), 0);
  if (archive_write_header(s.handle, entry.get()) != ARCHIVE_OK) return std::unexpected(ArchiveError(s.handle, "header"));
  size_t at = 0;
  while (at < bytes.size()) {
    const size_t n = std::min<size_t>(bytes.size() - at, 1u << 20);
    const la_ssize_t written = archive_write_data(s.handle, bytes.data() + at, n);
    if (written <= 0) return std::unexpected(ArchiveError(s.handle, "data"));
    at += static_cast<size_t>(written);
  }
  return {};
}

Result<void> BundleWriter::Finish() {
  State& s = *state_;
  if (s.finished) return {};
  s.finished = true;
  if (archive_write_close(s.handle) != ARCHIVE_OK) return std::unexpected(ArchiveError(s.handle, "close"));
  return {};
}

}  // namespace vg::services
