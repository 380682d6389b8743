// Retrieval: WADO-RS / C-MOVE / C-GET reads of one tenant's instances. Instances stream
// out decrypted, chunk by chunk; nothing larger than a chunk is held in memory.
#pragma once

#include <memory>

#include "services/archive.h"

namespace vg::services {

struct RetrieveScope {
  std::string study_uid;   // required
  std::string series_uid;  // optional
  std::string sop_uid;     // optional
};

class Retrieval {
 public:
  explicit Retrieval(Archive& archive) : archive_(archive) {}

  // Instances in scope, ordered by series and instance number. kNotFound when none:
  // another tenant's UIDs are indistinguishable from absent ones.
  Result<std::vector<storage::InstanceRow>> Locate(std::int64_t tenant_id, const RetrieveScope& scope,
                                                   bool with_metadata = false);
  Result<std::unique_ptr<ByteSource>> Open(std::int64_t tenant_id, const storage::InstanceRow& row);
  Result<std::string> ReadWhole(std::int64_t tenant_id, const storage::InstanceRow& row);
  // One instance's metadata as a DICOM JSON object, bulk data URIs starting with
  // `base_url`. `row` must come from Locate(..., with_metadata = true).
  Result<std::string> InstanceMetadata(std::int64_t tenant_id, const storage::InstanceRow& row,
                                       const std::string& base_url);

 private:
  Archive& archive_;
};

// Replaces dicom::kBulkDataMarker in stored JSON with "<base_url>/".
std::string ResolveBulkDataUris(std::string_view json, const std::string& base_url);

}  // namespace vg::services
