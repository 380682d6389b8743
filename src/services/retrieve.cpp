#include "services/retrieve.h"

#include "dicom/dicom.h"

namespace vg::services {

std::string ResolveBulkDataUris(std::string_view json, const std::string& base_url) {
  const std::string needle = "\"" + std::string(dicom::kBulkDataMarker);
  std::string out;
  out.reserve(json.size() + 256);
  size_t pos = 0;
  while (true) {
    size_t hit = json.find(needle, pos);
    if (hit == std::string_view::npos) break;
    out.append(json.substr(pos, hit - pos));
    out += "\"" + base_url + "/";
    pos = hit + needle.size();
  }
  out.append(json.substr(pos));
  return out;
}

Result<std::vector<storage::InstanceRow>> Retrieval::Locate(std::int64_t tenant_id, const RetrieveScope& scope,
                                                            bool with_metadata) {
  storage::InstanceFilter filter;
  filter.study_uids = {scope.study_uid};
  if (!scope.series_uid.empty()) filter.series_uids = {scope.series_uid};
  if (!scope.sop_uid.empty()) filter.sop_uids = {scope.sop_uid};
  filter.with_metadata = with_metadata;
  auto rows = archive_.catalog.SearchInstances(tenant_id, filter);
  if (!rows) return std::unexpected(rows.error());
  if (rows->empty()) return Fail(ErrorCode::kNotFound, "no such study, series or instance");
  return rows;
}

Result<std::unique_ptr<ByteSource>> Retrieval::Open(std::int64_t tenant_id, const storage::InstanceRow& row) {
  return archive_.blobs.Get({tenant_id, row.blob_name});
}

Result<std::string> Retrieval::ReadWhole(std::int64_t tenant_id, const storage::InstanceRow& row) {
  auto source = Open(tenant_id, row);
  if (!source) return std::unexpected(source.error());
  // Read straight into the result (whole chunks decrypt in place): no intermediate
  // buffer, no zero-filling.
  std::string out;
  Error failure;
  bool ok = true;
  const size_t expected = static_cast<size_t>(row.size);
  out.resize_and_overwrite(expected + 1, [&](char* data, size_t capacity) -> size_t {
    size_t filled = 0;
    while (filled < capacity) {
      auto n = (*source)->Read(std::span(reinterpret_cast<std::uint8_t*>(data) + filled, capacity - filled));
      if (!n) {
        failure = n.error();
        ok = false;
        return 0;
      }
      if (*n == 0) break;
      filled += *n;
    }
    return filled;
  });
  if (!ok) return std::unexpected(failure);
  if (out.size() != expected) return Fail(ErrorCode::kInternal, "stored object has the wrong size");
  return out;
}

Result<std::string> Retrieval::InstanceMetadata(std::int64_t tenant_id, const storage::InstanceRow& row,
                                                const std::string& base_url) {
  auto text = OpenFor(archive_, tenant_id, "instance:" + row.sop_uid, row.metadata);
  if (!text) return std::unexpected(text.error());
  return ResolveBulkDataUris(*text, base_url);
}


}  // namespace vg::services
