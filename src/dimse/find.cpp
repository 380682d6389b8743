// C-FIND SCP: the request identifier becomes a services::QidoQuery, so DIMSE and QIDO-RS
// match the same way; results come back as DICOM JSON and are turned into identifiers
// holding exactly the requested keys.
#include <dcmtk/dcmdata/dcuid.h>

#include <map>
#include <set>

#include "core/logging.h"
#include "core/strings.h"
#include "dicom/dicom.h"
#include "dimse/association.h"
#include "dimse/identifier.h"
#include "services/queries.h"

namespace vg::dimse {
namespace {

struct FindState {
  AssociationContext* ctx = nullptr;
  bool searched = false;
  std::vector<DcmDataset*> responses;  // owned until handed to DCMTK
  size_t next = 0;
  Uint16 failure = 0;
  std::string failure_message;
  ~FindState() {
    for (size_t i = next; i < responses.size(); ++i) delete responses[i];
  }
};

// PATIENT level: one answer per patient, from the study-level results.
std::vector<nlohmann::json> GroupByPatient(const std::vector<nlohmann::json>& studies) {
  std::map<std::string, nlohmann::json> patients;
  std::map<std::string, std::int64_t> study_count, series_count, instance_count;
  for (const auto& study : studies) {
    auto ids = services::JsonValues(study, "00100020");
    auto names = services::JsonValues(study, "00100010");
    std::string key = (ids.empty() ? "" : ids[0]) + "\x1f" + (names.empty() ? "" : names[0]);
    nlohmann::json& patient = patients[key];
    for (const char* tag : {"00100010", "00100020", "00100021", "00100030", "00100040", "00080005"})
      if (study.contains(tag) && !patient.contains(tag)) patient[tag] = study[tag];
    ++study_count[key];
    auto series = services::JsonValues(study, "00201206");
    auto instances = services::JsonValues(study, "00201208");
    series_count[key] += series.empty() ? 0 : std::stoll(series[0]);
    instance_count[key] += instances.empty() ? 0 : std::stoll(instances[0]);
  }
  std::vector<nlohmann::json> out;
  for (auto& [key, patient] : patients) {
    patient["00201200"] = {{"vr", "IS"}, {"Value", {study_count[key]}}};
    patient["00201202"] = {{"vr", "IS"}, {"Value", {series_count[key]}}};
    patient["00201204"] = {{"vr", "IS"}, {"Value", {instance_count[key]}}};
    out.push_back(std::move(patient));
  }
  return out;
}

// The identifier's matching keys ("PatientName=DOE^J*&StudyDate=2023"), sealed for the
// clinic (auth::SealSearchKeys); "" when there are none.
std::string SearchKeysOf(const AssociationContext& ctx, DcmDataset* identifier) {
  std::string keys;
  for (unsigned long i = 0; identifier && i < identifier->card() && keys.size() < 2048; ++i) {
    DcmElement* element = identifier->getElement(i);
    if (element->ident() == EVR_SQ || element->getLength() == 0) continue;
    OFString value;
    if (element->getOFStringArray(value).bad() || value.empty()) continue;
    DcmTag tag(element->getTag());
    keys += (keys.empty() ? "" : "&") + std::string(tag.getTagName()) + "=" + value.c_str();
  }
  if (keys.empty()) return {};
  auto key = ctx.archive.tenants.DataKey(ctx.principal.tenant_id);
  return key ? auth::SealSearchKeys(*key, keys) : std::string();
}

void Search(FindState& state, T_DIMSE_C_FindRQ* request, DcmDataset* identifier) {
  AssociationContext& ctx = *state.ctx;
  if (ctx.Refused("dimse.find", "", state.failure, state.failure_message)) return;
  auto parsed = ParseIdentifier(identifier, request->AffectedSOPClassUID);
  if (!parsed) {
    state.failure = STATUS_FIND_Failed_IdentifierDoesNotMatchSOPClass;
    state.failure_message = parsed.error().public_message;
    return;
  }
  // PATIENT level searches studies (ParseIdentifier made it so) and groups them after.
  services::StudyQueries queries(ctx.archive);
  auto found = queries.Search(ctx.principal.tenant_id, parsed->query, "");
  if (!found) {
    state.failure = STATUS_FIND_Refused_OutOfResources;
    state.failure_message = found.error().public_message;
    return;
  }
  std::vector<nlohmann::json> results = parsed->level == "PATIENT" ? GroupByPatient(*found) : std::move(*found);
  for (const auto& result : results)
    state.responses.push_back(BuildResponseIdentifier(identifier, result, parsed->level, ctx.called_ae));
  LogInfo("dimse_find", "\"tenant\":\"" + ctx.principal.tenant_slug + "\",\"level\":\"" + parsed->level +
                            "\",\"matches\":" + std::to_string(results.size()));
  ctx.Audit("dimse.find", "level=" + parsed->level, "ok matches=" + std::to_string(results.size()),
            SearchKeysOf(ctx, identifier));
}

void FindCallback(void* data, OFBool cancelled, T_DIMSE_C_FindRQ* request, DcmDataset* identifier, int,
                  T_DIMSE_C_FindRSP* response, DcmDataset** response_identifier, DcmDataset** status_detail) {
  auto& state = *static_cast<FindState*>(data);
  *response_identifier = nullptr;
  *status_detail = nullptr;
  if (!state.searched) {
    state.searched = true;
    Search(state, request, identifier);
  }
  if (state.failure) {
    response->DimseStatus = state.failure;
    *status_detail = ErrorComment(state.failure_message);
    return;
  }
  if (cancelled) {
    response->DimseStatus = STATUS_FIND_Cancel_MatchingTerminatedDueToCancelRequest;
    return;
  }
  if (state.next < state.responses.size()) {
    response->DimseStatus = STATUS_Pending;
    *response_identifier = state.responses[state.next++];
    return;
  }
  response->DimseStatus = STATUS_Success;
}

}  // namespace

OFCondition HandleFind(AssociationContext& ctx, T_DIMSE_Message& msg, T_ASC_PresentationContextID pid) {
  FindState state;
  state.ctx = &ctx;
  return DIMSE_findProvider(ctx.assoc, pid, &msg.msg.CFindRQ, FindCallback, &state, DIMSE_BLOCKING,
                            ctx.options.dimse_timeout_s);
}

}  // namespace vg::dimse
