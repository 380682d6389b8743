#include "dimse/identifier.h"

#include <dcmtk/dcmdata/dcuid.h>

#include "core/strings.h"
#include "dicom/dicom.h"
#include "services/queries.h"

namespace vg::dimse {
namespace {

std::string ValueOf(DcmElement* element) {
  OFString value;
  element->getOFStringArray(value);
  return std::string(Trim(std::string_view(value.c_str(), value.length())));
}

std::vector<std::string> UidList(DcmDataset* identifier, const DcmTagKey& tag) {
  std::vector<std::string> out;
  OFString value;
  if (identifier->findAndGetOFStringArray(tag, value).good())
    for (auto uid : Split(std::string_view(value.c_str(), value.length()), '\\'))
      if (!Trim(uid).empty()) out.emplace_back(Trim(uid));
  return out;
}

}  // namespace

Result<ParsedIdentifier> ParseIdentifier(DcmDataset* identifier, const std::string& sop_class_uid) {
  if (!identifier) return Fail(ErrorCode::kInvalidArgument, "the request has no identifier");
  ParsedIdentifier parsed;
  OFString level;
  if (identifier->findAndGetOFString(DCM_QueryRetrieveLevel, level).bad() || level.empty())
    return Fail(ErrorCode::kInvalidArgument, "QueryRetrieveLevel (0008,0052) is missing");
  parsed.level = std::string(Trim(level.c_str()));
  const bool patient_root = sop_class_uid == UID_FINDPatientRootQueryRetrieveInformationModel;
  if (parsed.level == "PATIENT") {
    if (!patient_root) return Fail(ErrorCode::kInvalidArgument, "PATIENT level needs the Patient Root model");
    parsed.query.level = services::QueryLevel::kStudy;
  } else if (parsed.level == "STUDY") {
    parsed.query.level = services::QueryLevel::kStudy;
  } else if (parsed.level == "SERIES") {
    parsed.query.level = services::QueryLevel::kSeries;
  } else if (parsed.level == "IMAGE") {
    parsed.query.level = services::QueryLevel::kInstance;
  } else {
    return Fail(ErrorCode::kInvalidArgument, "unknown QueryRetrieveLevel '" + parsed.level + "'");
  }
  for (unsigned long i = 0; i < identifier->card(); ++i) {
    DcmElement* element = identifier->getElement(i);
    const DcmTag& tag = element->getTag();
    if (tag.getGroup() == 0x0000 || tag.getGroup() == 0x0002 || tag == DCM_QueryRetrieveLevel ||
        tag == DCM_SpecificCharacterSet || tag.getEVR() == EVR_SQ)
      continue;
    char hex[9];
    std::snprintf(hex, sizeof hex, "%04X%04X", tag.getGroup(), tag.getElement());
    auto info = dicom::LookupTag(hex);
    if (!info) continue;
    parsed.query.include_fields.push_back(*info);
    std::string value = ValueOf(element);
    if (!value.empty() && value != "*") parsed.query.matches.push_back(services::MatchKey{*info, value});
  }
  return parsed;
}

DcmDataset* BuildResponseIdentifier(DcmDataset* request, const nlohmann::json& result, const std::string& level,
                                    const std::string& retrieve_ae) {
  auto* response = new DcmDataset;
  response->putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 192");
  for (unsigned long i = 0; i < request->card(); ++i) {
    DcmElement* element = request->getElement(i);
    const DcmTag& tag = element->getTag();
    if (tag.getGroup() == 0x0000 || tag.getGroup() == 0x0002 || tag == DCM_SpecificCharacterSet) continue;
    if (tag.getEVR() == EVR_SQ) {
      response->insertEmptyElement(tag);
      continue;
    }
    char hex[9];
    std::snprintf(hex, sizeof hex, "%04X%04X", tag.getGroup(), tag.getElement());
    std::string joined;
    for (const auto& v : services::JsonValues(result, hex)) joined += (joined.empty() ? "" : "\\") + v;
    if (tag == DCM_RetrieveAETitle) joined = retrieve_ae;
    response->putAndInsertString(tag, joined.c_str());
  }
  response->putAndInsertString(DCM_QueryRetrieveLevel, level.c_str());
  return response;
}

Result<RetrieveKeys> ParseRetrieveIdentifier(DcmDataset* identifier) {
  if (!identifier) return Fail(ErrorCode::kInvalidArgument, "the request has no identifier");
  RetrieveKeys keys;
  OFString level;
  if (identifier->findAndGetOFString(DCM_QueryRetrieveLevel, level).bad() || level.empty())
    return Fail(ErrorCode::kInvalidArgument, "QueryRetrieveLevel (0008,0052) is missing");
  keys.level = std::string(Trim(level.c_str()));
  keys.patient_ids = UidList(identifier, DCM_PatientID);
  keys.study_uids = UidList(identifier, DCM_StudyInstanceUID);
  keys.series_uids = UidList(identifier, DCM_SeriesInstanceUID);
  keys.sop_uids = UidList(identifier, DCM_SOPInstanceUID);
  if (keys.level == "PATIENT" && keys.patient_ids.empty())
    return Fail(ErrorCode::kInvalidArgument, "a PATIENT level retrieve needs PatientID");
  if (keys.level == "STUDY" && keys.study_uids.empty())
    return Fail(ErrorCode::kInvalidArgument, "a STUDY level retrieve needs StudyInstanceUID");
  if (keys.level == "SERIES" && keys.series_uids.empty())
    return Fail(ErrorCode::kInvalidArgument, "a SERIES level retrieve needs SeriesInstanceUID");
  if (keys.level == "IMAGE" && keys.sop_uids.empty())
    return Fail(ErrorCode::kInvalidArgument, "an IMAGE level retrieve needs SOPInstanceUID");
  return keys;
}

}  // namespace vg::dimse
