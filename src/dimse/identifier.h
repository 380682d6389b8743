// Private to dimse/: C-FIND / C-MOVE / C-GET identifiers to and from the service layer.
#pragma once

#include <dcmtk/dcmdata/dctk.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/result.h"
#include "services/qido.h"
#include "services/retrieve.h"

namespace vg::dimse {

struct ParsedIdentifier {
  std::string level;  // PATIENT, STUDY, SERIES or IMAGE
  services::QidoQuery query;
};

// Every non-empty key becomes a match key (same rules as QIDO); every key is returned.
Result<ParsedIdentifier> ParseIdentifier(DcmDataset* identifier, const std::string& sop_class_uid);

// A response identifier with exactly the keys of `request`, filled from `result`.
DcmDataset* BuildResponseIdentifier(DcmDataset* request, const nlohmann::json& result, const std::string& level,
                                    const std::string& retrieve_ae);

// The instances a C-MOVE/C-GET identifier names, as UID lists per level.
struct RetrieveKeys {
  std::string level;
  std::vector<std::string> patient_ids, study_uids, series_uids, sop_uids;
};
Result<RetrieveKeys> ParseRetrieveIdentifier(DcmDataset* identifier);

}  // namespace vg::dimse
