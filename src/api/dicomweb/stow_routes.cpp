// STOW-RS: POST /dicomweb/studies[/{study}] with multipart/related; type="application/dicom".
#include <nlohmann/json.hpp>

#include <algorithm>

#include "api/dicomweb/dicomweb_routes.h"
#include "core/strings.h"
#include "http/media_type.h"
#include "http/multipart.h"
#include "services/ingest.h"

namespace vg::api {
namespace {

using nlohmann::json;

json Attr(const std::string& vr, json value) { return json{{"vr", vr}, {"Value", json::array({std::move(value)})}}; }

// PS3.18 §10.5.3: ReferencedSOPSequence, FailedSOPSequence, RetrieveURL.
json StowResponseJson(const std::vector<services::StoreOutcome>& outcomes, const std::string& base) {
  json referenced = json::array(), failed = json::array();
  std::string single_study;
  bool one_study = true;
  for (const auto& o : outcomes) {
    json item;
    if (!o.sop_class_uid.empty()) item["00081150"] = Attr("UI", o.sop_class_uid);
    if (!o.sop_uid.empty()) item["00081155"] = Attr("UI", o.sop_uid);
    if (o.stored) {
      item["00081190"] = Attr("UR", base + "/studies/" + o.study_uid + "/series/" + o.series_uid + "/instances/" +
                                        o.sop_uid);
      if (single_study.empty()) single_study = o.study_uid;
      one_study &= single_study == o.study_uid;
      referenced.push_back(std::move(item));
    } else {
      item["00081197"] = Attr("US", o.failure_reason);
      item["00000902"] = Attr("LO", o.message);  // ErrorComment: the readable reason
      failed.push_back(std::move(item));
    }
  }
  json body = json::object();
  if (!referenced.empty()) body["00081199"] = json{{"vr", "SQ"}, {"Value", referenced}};
  if (!failed.empty()) body["00081198"] = json{{"vr", "SQ"}, {"Value", failed}};
  if (!single_study.empty() && one_study) body["00081190"] = Attr("UR", base + "/studies/" + single_study);
  return body;
}

http::Response Stow(http::Request& request, const auth::Principal& principal, const ApiDeps& deps) {
  auto content_type = request.Header("content-type");
  if (!content_type) return http::ErrorResponse(415, "unsupported", "Content-Type is required: multipart/related; type=\"application/dicom\"");
  http::MediaType media = http::ParseMediaType(*content_type);
  if (media.type != "multipart/related")
    return http::ErrorResponse(415, "unsupported", "STOW-RS takes multipart/related; type=\"application/dicom\"");
  std::string part_type = ToLower(media.Param("type"));
  if (!part_type.empty() && part_type != "application/dicom")
    return http::ErrorResponse(415, "unsupported",
                               "only application/dicom parts are supported (got type=\"" + part_type + "\")");
  std::string boundary = media.Param("boundary");
  if (boundary.empty() || boundary.size() > 200)
    return http::ErrorResponse(400, "invalid_argument", "multipart Content-Type needs a boundary parameter (1-200 characters)");

  std::string study = request.params.count("study") ? request.Param("study") : std::string();
  services::IngestSession session(deps.archive, principal.tenant_id, study);
  if (principal.support_grant_id == 0) session.SetSender(principal.username);
  http::MultipartReader reader(request.body(), boundary, deps.archive.max_instance_bytes);
  size_t parts = 0;
  while (true) {
    auto part = reader.Next();
    if (!part) {
      session.Abandon();
      return http::ErrorResponse(part.error());
    }
    if (!*part) break;
    ++parts;
    std::string type = ToLower(http::ParseMediaType((*part)->Header("content-type")).type);
    if (!type.empty() && type != "application/dicom") {
      session.AddFailure(services::kReasonCannotUnderstand, "part has Content-Type " + type + ", expected application/dicom");
    } else if ((*part)->too_large) {
      session.AddFailure(services::kReasonOutOfResources,
                         "instance exceeds limits.max_instance_bytes (" +
                             std::to_string(deps.archive.max_instance_bytes) + " bytes)");
    } else {
      session.Add(std::move((*part)->body));
    }
  }
  if (parts == 0) return http::ErrorResponse(400, "invalid_argument", "the multipart body holds no parts");
  const std::vector<services::StoreOutcome> outcomes = session.Finish();
  size_t stored = 0;
  for (const auto& o : outcomes) stored += o.stored ? 1 : 0;
  int status = stored == outcomes.size() ? 200 : stored == 0 ? 409 : 202;
  // Nothing stored because the store is full (or failing): the client should retry later.
  const bool out_of_storage = stored == 0 && std::all_of(outcomes.begin(), outcomes.end(), [](const auto& o) {
                                return o.out_of_storage;
                              });
  if (out_of_storage) status = 507;
  // The audit names what was stored: study UIDs and counts, never patient data.
  std::string audited;
  for (const auto& o : outcomes)
    if (o.stored && audited.find(o.study_uid) == std::string::npos)
      audited += (audited.empty() ? "study=" : ",") + o.study_uid;
  http::Response response;
  response.status = status;
  response.Header("Content-Type", "application/dicom+json");
  if (out_of_storage) response.Header("Retry-After", "60");
  response.body = StowResponseJson(outcomes, request.BaseUrl() + "/dicomweb").dump();
  response.audit_object = audited + " stored=" + std::to_string(stored) + " failed=" + std::to_string(outcomes.size() - stored);
  return response;
}

}  // namespace

void AddStowRoutes(http::Router& router, const ApiDeps& deps) {
  auto stow = [deps](http::Request& r, const auth::Principal& p) { return Stow(r, p, deps); };
  AddGuarded(router, deps, "POST", "/dicomweb/studies", "stow", "dicomweb.stow", stow);
  AddGuarded(router, deps, "POST", "/dicomweb/studies/{study}", "stow_study", "dicomweb.stow", stow);
}

}  // namespace vg::api
