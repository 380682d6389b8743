#include "services/volumes.h"

#include <atomic>
#include <mutex>
#include <thread>

#include "services/retrieve.h"

namespace vg::services {

Result<SeriesVolume> Volumes::Assemble(std::int64_t tenant_id, const std::string& series_uid, bool headers_only) {
  storage::InstanceFilter filter;
  filter.series_uids = {series_uid};
  auto rows = archive_.catalog.SearchInstances(tenant_id, filter);
  if (!rows) return std::unexpected(rows.error());
  if (rows->empty()) return Fail(ErrorCode::kNotFound, "no such series");
  std::vector<storage::InstanceRow> images;
  for (auto& row : *rows)
    if (dicom::IsVolumeImageClass(row.sop_class_uid)) images.push_back(std::move(row));
  if (images.empty()) return Fail(ErrorCode::kUnprocessable, "the series holds no images that can form a volume");

  SeriesVolume out;
  out.study_uid = images.front().study_uid;
  out.series_uid = series_uid;
  out.instances = static_cast<std::int64_t>(images.size());
  dicom::VolumeOptions options;
  options.headers_only = headers_only;
  dicom::VolumeAssembler assembler(options);
  Retrieval retrieval(archive_);
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex first_mutex;
  std::optional<Error> read_error;
  auto work = [&] {
    for (size_t i = next++; i < images.size() && !failed; i = next++) {
      auto bytes = retrieval.ReadWhole(tenant_id, images[i]);
      if (!bytes) {
        std::lock_guard lock(first_mutex);
        read_error = bytes.error();
        failed = true;
        return;
      }
      if (!assembler.Add(*bytes)) {
        failed = true;
        return;
      }
      if (i == 0) {
        std::lock_guard lock(first_mutex);
        out.any_image = std::move(*bytes);
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < std::max(1, threads_); ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (read_error) return std::unexpected(*read_error);
  auto volume = assembler.Build();
  if (!volume) {
    Error e = volume.error();
    // The request was fine; the series is what cannot be a volume.
    if (e.code == ErrorCode::kInvalidArgument || e.code == ErrorCode::kUnsupported) e.code = ErrorCode::kUnprocessable;
    return std::unexpected(std::move(e));
  }
  out.modality = volume->modality;
  out.volume = std::move(*volume);
  return out;
}

Result<void> Volumes::WriteNifti(std::int64_t tenant_id, const std::string& series_uid, const dicom::ByteSink& sink) {
  auto assembled = Assemble(tenant_id, series_uid);
  if (!assembled) return std::unexpected(assembled.error());
  return dicom::WriteNiftiGz(assembled->volume, sink);
}

}  // namespace vg::services
