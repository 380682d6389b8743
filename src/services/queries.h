// StudyQueries: QIDO-RS / C-FIND search over one tenant's index. SQL narrows by the
// indexed columns (UIDs, dates, modality, keyed hashes of patient name/ID and accession
// number); attributes kept only sealed (descriptions, wildcard names) are matched here
// after decryption. Results are DICOM JSON (PS3.18 F.2) objects.
#pragma once

#include <nlohmann/json.hpp>

#include "services/archive.h"
#include "services/qido.h"

namespace vg::services {

class StudyQueries {
 public:
  explicit StudyQueries(Archive& archive) : archive_(archive) {}
  // One DICOM JSON object per match. `base_url` ends with the DICOMweb root
  // ("http://host/dicomweb") and prefixes RetrieveURL values.
  Result<std::vector<nlohmann::json>> Search(std::int64_t tenant_id, const QidoQuery& query,
                                             const std::string& base_url);

 private:
  Archive& archive_;
};

// Values of one attribute in a DICOM JSON object, as strings (PN: the Alphabetic group).
std::vector<std::string> JsonValues(const nlohmann::json& object, const std::string& tag_hex);

}  // namespace vg::services
