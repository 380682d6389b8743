// Clinic settings, tag vocabulary, study tags and status, and the worklist.
#include "api/annotations/annotation_routes.h"

#include <nlohmann/json.hpp>

#include "api/json_body.h"
#include "api/query_params.h"
#include "core/strings.h"
#include "dicom/deid.h"

namespace vg::api {
namespace {

using nlohmann::json;

json Opt(const std::optional<std::string>& v) { return v ? json(*v) : json(nullptr); }

json TagJson(const services::TagView& t) {
  return {{"id", t.id},       {"name", Opt(t.name)},         {"text", Opt(t.text)},
          {"colour", t.colour}, {"series_uid", Opt(t.series_uid)}, {"created_by", t.created_by},
          {"created_at", t.created_at}};
}

json AnnotationsJson(const services::StudyAnnotations& a) {
  json tags = json::array();
  for (const auto& t : a.tags) tags.push_back(TagJson(t));
  return {{"study_uid", a.study_uid}, {"status", a.status},         {"assignee", Opt(a.assignee)},
          {"updated_at", a.updated_at}, {"updated_by", a.updated_by}, {"tags", tags}};
}

json CommaListJson(const std::string& text) {
  json out = json::array();
  for (auto item : Split(text, ','))
    if (!Trim(item).empty()) out.push_back(std::string(Trim(item)));
  return out;
}

json SettingsJson(const storage::TenantSettings& s, const storage::TenantRecord& tenant) {
  return {{"physicians_edit_segmentations", s.physicians_edit_segmentations},
          {"share_cases_with_vendor", s.share_cases_with_vendor},
          {"algorithms_full_dicom_headers", s.algorithms_full_dicom_headers},
          {"results_as_rtstruct", s.results_as_rtstruct},
          {"results_as_overlay", s.results_as_overlay},
          {"require_acceptance", s.require_acceptance},
          {"deid_profile", tenant.deid_profile},
          {"deid_reject_modalities", CommaListJson(tenant.deid_reject_modalities)},
          {"deid_reject_descriptions", CommaListJson(tenant.deid_reject_descriptions)},
          {"deid_trusted_senders", CommaListJson(tenant.deid_trusted_senders)}};
}

// The privacy settings of a PATCH: a profile ("off" or basic+options) and the burned-in
// text rules (arrays of strings without commas). Fills `changed` for the audit trail.
Result<bool> ApplyPrivacy(const json& body, storage::TenantRecord& tenant, std::string& changed) {
  bool any = false;
  if (auto it = body.find("deid_profile"); it != body.end()) {
    if (!it->is_string()) return Fail(ErrorCode::kInvalidArgument, "deid_profile is \"off\" or a profile such as \"basic\"");
    std::string profile = it->get<std::string>();
    if (profile != "off") {
      auto parsed = dicom::ParseDeidProfile(profile);
      if (!parsed) return std::unexpected(parsed.error());
      profile = parsed->Name();
    }
    tenant.deid_profile = profile;
    changed += (changed.empty() ? "" : " ") + std::string("deid_profile=") + profile;
    any = true;
  }
  for (auto [key, field] : {std::pair{"deid_reject_modalities", &tenant.deid_reject_modalities},
                            std::pair{"deid_reject_descriptions", &tenant.deid_reject_descriptions},
                            std::pair{"deid_trusted_senders", &tenant.deid_trusted_senders}}) {
    auto it = body.find(key);
    if (it == body.end()) continue;
    if (!it->is_array()) return Fail(ErrorCode::kInvalidArgument, std::string(key) + " is a list of strings");
    std::string joined;
    for (const auto& v : *it) {
      if (!v.is_string() || v.get<std::string>().find(',') != std::string::npos || v.get<std::string>().size() > 64)
        return Fail(ErrorCode::kInvalidArgument, std::string(key) + " holds strings of at most 64 characters, without commas");
      joined += (joined.empty() ? "" : ",") + v.get<std::string>();
    }
    *field = joined;
    changed += (changed.empty() ? "" : " ") + std::string(key) + "=" + joined;
    any = true;
  }
  return any;
}

http::Response Json(int status, const json& body) { return http::JsonResponse(status, body.dump()); }

// ---- clinic ----

http::Response GetTenant(http::Request&, const auth::Principal& p, const ApiDeps& deps) {
  auto tenant = deps.catalog.FindTenantById(p.tenant_id);
  if (!tenant) return http::ErrorResponse(tenant.error());
  auto settings = deps.annotations->Settings(p.tenant_id);
  if (!settings) return http::ErrorResponse(settings.error());
  return Json(200, {{"slug", tenant->slug},
                    {"name", tenant->name},
                    {"ae_title", tenant->ae_title},
                    {"settings", SettingsJson(*settings, *tenant)}});
}

http::Response PatchSettings(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto body = ReadJsonObject(r);
  if (!body) return http::ErrorResponse(body.error());
  auto settings = deps.annotations->Settings(p.tenant_id);
  if (!settings) return http::ErrorResponse(settings.error());
  std::string changed;
  auto tenant = deps.catalog.FindTenantById(p.tenant_id);
  if (!tenant) return http::ErrorResponse(tenant.error());
  auto privacy = ApplyPrivacy(*body, *tenant, changed);
  if (!privacy) return http::ErrorResponse(privacy.error());
  if (body->contains("deid_trusted_senders"))
    for (auto name : Split(tenant->deid_trusted_senders, ',')) {
      auto user = deps.catalog.FindUser(std::string(Trim(name)));
      if (!user || user->tenant_id != p.tenant_id)
        return http::ErrorResponse(400, "invalid_argument",
                                   "deid_trusted_senders names users of this clinic; there is no user '" +
                                       std::string(Trim(name)) + "' here");
    }
  if (*privacy)
    if (auto ok = deps.catalog.SetTenantPrivacy(p.tenant_id, tenant->deid_profile, tenant->deid_reject_modalities,
                                                tenant->deid_reject_descriptions, tenant->deid_trusted_senders);
        !ok)
      return http::ErrorResponse(ok.error());
  for (auto& [key, value] : body->items()) {
    if (key.starts_with("deid_")) continue;
    bool* field = key == "physicians_edit_segmentations" ? &settings->physicians_edit_segmentations
                  : key == "share_cases_with_vendor"     ? &settings->share_cases_with_vendor
                  : key == "algorithms_full_dicom_headers" ? &settings->algorithms_full_dicom_headers
                  : key == "results_as_rtstruct"           ? &settings->results_as_rtstruct
                  : key == "results_as_overlay"            ? &settings->results_as_overlay
                  : key == "require_acceptance"            ? &settings->require_acceptance
                                                         : nullptr;
    if (!field) return http::ErrorResponse(400, "invalid_argument", "unknown setting: " + key);
    if (!value.is_boolean()) return http::ErrorResponse(400, "invalid_argument", key + " is true or false");
    *field = value.get<bool>();
    changed += (changed.empty() ? "" : " ") + key + "=" + (*field ? "on" : "off");
  }
  if (auto ok = deps.annotations->SetSettings(p.tenant_id, *settings); !ok) return http::ErrorResponse(ok.error());
  http::Response response = GetTenant(r, p, deps);
  response.audit_object = "settings " + changed;
  return response;
}

// ---- vocabulary ----

http::Response ListVocabulary(http::Request&, const auth::Principal& p, const ApiDeps& deps) {
  auto tags = deps.annotations->Vocabulary(p.tenant_id);
  if (!tags) return http::ErrorResponse(tags.error());
  json out = json::array();
  for (const auto& t : *tags) out.push_back({{"name", t.name}, {"colour", t.colour}, {"description", t.description}});
  return Json(200, out);
}

http::Response CreateVocabularyTag(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto body = ReadJsonObject(r);
  if (!body) return http::ErrorResponse(body.error());
  auto name = StringMember(*body, "name", true);
  auto colour = StringMember(*body, "colour");
  auto description = StringMember(*body, "description");
  for (auto* field : {&name, &colour, &description})
    if (!*field) return http::ErrorResponse(field->error());
  auto tag = deps.annotations->AddToVocabulary(p.tenant_id, *name, *colour, *description);
  if (!tag) return http::ErrorResponse(tag.error());
  http::Response response = Json(201, {{"name", tag->name}, {"colour", tag->colour}, {"description", tag->description}});
  response.audit_object = "tag=" + tag->name;
  return response;
}

http::Response DeleteVocabularyTag(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  if (auto ok = deps.annotations->RemoveFromVocabulary(p.tenant_id, r.Param("name")); !ok)
    return http::ErrorResponse(ok.error());
  http::Response response;
  response.status = 204;
  return response;
}

// ---- one study ----

http::Response GetAnnotations(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto annotations = deps.annotations->ForStudy(p.tenant_id, r.Param("study"));
  if (!annotations) return http::ErrorResponse(annotations.error());
  return Json(200, AnnotationsJson(*annotations));
}

Result<std::optional<std::string>> OptionalString(const json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return std::optional<std::string>{};
  if (!it->is_string()) return Fail(ErrorCode::kInvalidArgument, std::string(name) + " must be a string");
  return std::optional<std::string>(it->get<std::string>());
}

http::Response AddStudyTag(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto body = ReadJsonObject(r);
  if (!body) return http::ErrorResponse(body.error());
  auto name = OptionalString(*body, "name");
  auto text = OptionalString(*body, "text");
  auto series = OptionalString(*body, "series_uid");
  for (auto* field : {&name, &text, &series})
    if (!*field) return http::ErrorResponse(field->error());
  auto tagged = deps.annotations->Tag(p.tenant_id, r.Param("study"), *series, *name, *text, p.username);
  if (!tagged) return http::ErrorResponse(tagged.error());
  http::Response response = Json(tagged->second ? 201 : 200, TagJson(tagged->first));
  // The free text itself may name a patient: the audit trail records that it was added.
  response.audit_object = "study=" + r.Param("study") + " tag=" + (name->has_value() ? **name : "(free text)");
  return response;
}

http::Response RemoveStudyTag(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto id = PathId(r, "id", "no such tag on this study");
  if (!id) return http::ErrorResponse(id.error());
  if (auto ok = deps.annotations->Untag(p.tenant_id, r.Param("study"), *id); !ok)
    return http::ErrorResponse(ok.error());
  http::Response response;
  response.status = 204;
  return response;
}

http::Response PutStatus(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto body = ReadJsonObject(r);
  if (!body) return http::ErrorResponse(body.error());
  auto status = OptionalString(*body, "status");
  if (!status) return http::ErrorResponse(status.error());
  std::optional<std::optional<std::string>> assignee;  // absent: keep
  if (auto it = body->find("assignee"); it != body->end()) {
    if (it->is_null()) assignee = std::optional<std::string>{};
    else if (it->is_string()) assignee = std::optional<std::string>(it->get<std::string>());
    else return http::ErrorResponse(400, "invalid_argument", "assignee is a username or null");
  }
  if (!status->has_value() && !assignee)
    return http::ErrorResponse(400, "invalid_argument", "send status and/or assignee");
  auto updated = deps.annotations->SetStatus(p.tenant_id, r.Param("study"), *status, assignee, p.username);
  if (!updated) return http::ErrorResponse(updated.error());
  http::Response response = Json(200, AnnotationsJson(*updated));
  response.audit_object = "study=" + r.Param("study") + " status=" + updated->status +
                          " assignee=" + updated->assignee.value_or("none");
  return response;
}

// ---- worklist ----

Result<services::WorklistQuery> ParseWorklistQuery(const std::string& raw) {
  auto params = ParseQueryParams(raw);
  if (!params) return std::unexpected(params.error());
  services::WorklistQuery q;
  static const std::set<std::string> kKnown = {"patient", "date", "modality", "status", "tag",
                                               "assignee", "sort", "limit", "offset"};
  for (const auto& [key, value] : *params)
    if (!kKnown.contains(key)) return Fail(ErrorCode::kInvalidArgument, "unknown parameter: " + key);
  auto get = [&](const char* key) -> std::string {
    auto it = params->find(key);
    return it == params->end() ? std::string() : it->second;
  };
  q.patient = get("patient");
  if (auto date = get("date"); !date.empty()) {
    q.date = services::ParseDateRange(date);
    if (!q.date) return Fail(ErrorCode::kInvalidArgument, "date is YYYYMMDD or a range YYYYMMDD-YYYYMMDD");
  }
  if (auto modality = get("modality"); !modality.empty())
    for (auto m : Split(modality, ',')) q.modalities.emplace_back(Trim(m));
  if (auto statuses = get("status"); !statuses.empty())
    for (auto s : Split(statuses, ',')) {
      if (!services::IsValidStatus(Trim(s)))
        return Fail(ErrorCode::kInvalidArgument, "status is one of todo, in_progress, done, reviewed");
      q.statuses.emplace_back(Trim(s));
    }
  if (auto tag = get("tag"); !tag.empty())
    for (auto t : Split(tag, ',')) q.tags.emplace_back(Trim(t));
  if (auto assignee = get("assignee"); !assignee.empty()) q.assignee = assignee;
  if (auto sort = get("sort"); !sort.empty()) {
    static const std::set<std::string> kSorts = {"date", "-date", "status", "updated", "-updated"};
    if (!kSorts.contains(sort)) return Fail(ErrorCode::kInvalidArgument, "sort is date, -date, status, updated or -updated");
    q.sort = sort;
  }
  auto limit = IntParam(*params, "limit", 50, 500);
  auto offset = IntParam(*params, "offset", 0, 1'000'000'000);
  if (!limit) return std::unexpected(limit.error());
  if (!offset) return std::unexpected(offset.error());
  q.limit = *limit;
  q.offset = *offset;
  return q;
}

http::Response GetWorklist(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto query = ParseWorklistQuery(r.query);
  if (!query) return http::ErrorResponse(query.error());
  if (p.support_grant_id != 0) query->within_studies = p.granted_studies;
  auto result = deps.annotations->Worklist(p.tenant_id, *query);
  if (!result) return http::ErrorResponse(result.error());
  json studies = json::array();
  for (const auto& e : result->studies) {
    json tags = json::array();
    for (const auto& t : e.annotations.tags) tags.push_back(TagJson(t));
    studies.push_back({{"study_uid", e.study_uid},
                       {"patient_name", e.patient_name},
                       {"patient_id", e.patient_id},
                       {"study_date", e.study_date},
                       {"study_time", e.study_time},
                       {"description", e.description},
                       {"accession_number", e.accession_number},
                       {"modalities", e.modalities},
                       {"series_count", e.series_count},
                       {"instance_count", e.instance_count},
                       {"status", e.annotations.status},
                       {"assignee", Opt(e.annotations.assignee)},
                       {"updated_at", e.annotations.updated_at},
                       {"tags", tags},
                       {"segmentations", e.segmentations},
                       {"results", json::array()}});
  }
  http::Response response = Json(200, {{"total", result->total},
                                       {"offset", query->offset},
                                       {"limit", query->limit},
                                       {"studies", studies}});
  response.Header("Cache-Control", "no-store");
  response.audit_object = "worklist results=" + std::to_string(studies.size());
  return response;
}

}  // namespace

void AddAnnotationRoutes(http::Router& router, const ApiDeps& deps) {
  AddGuarded(router, deps, "GET", "/api/v1/tenant", "tenant_get", "tenant.read", WithDeps(deps, GetTenant));
  AddGuarded(router, deps, "PATCH", "/api/v1/tenant/settings", "tenant_settings", "tenant.settings", WithDeps(deps, PatchSettings));
  AddGuarded(router, deps, "GET", "/api/v1/tags", "tags_list", "annotations.read", WithDeps(deps, ListVocabulary));
  AddGuarded(router, deps, "POST", "/api/v1/tags", "tags_create", "tags.write", WithDeps(deps, CreateVocabularyTag));
  AddGuarded(router, deps, "DELETE", "/api/v1/tags/{name}", "tags_delete", "tags.write", WithDeps(deps, DeleteVocabularyTag));
  AddGuarded(router, deps, "GET", "/api/v1/studies/{study}/annotations", "study_annotations", "annotations.read",
             WithDeps(deps, GetAnnotations));
  AddGuarded(router, deps, "POST", "/api/v1/studies/{study}/tags", "study_tag_add", "annotations.write",
             WithDeps(deps, AddStudyTag));
  AddGuarded(router, deps, "DELETE", "/api/v1/studies/{study}/tags/{id}", "study_tag_remove", "annotations.write",
             WithDeps(deps, RemoveStudyTag));
  AddGuarded(router, deps, "PUT", "/api/v1/studies/{study}/status", "study_status", "annotations.write",
             WithDeps(deps, PutStatus));
  AddGuarded(router, deps, "GET", "/api/v1/worklist", "worklist", "annotations.read", WithDeps(deps, GetWorklist));
}

}  // namespace vg::api
