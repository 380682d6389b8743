// Reference cases and acceptance runs (services/acceptance.h): the clinic's (and the
// vendor's under a support grant) and the vendor's view across clinics.
#include <nlohmann/json.hpp>

#include "api/deployments/deployment_routes.h"
#include "api/json_body.h"
#include "api/query_params.h"
#include "core/clock.h"

namespace vg::api {
namespace {

using nlohmann::json;

json ReferenceJson(const storage::ReferenceCaseRecord& r) {
  return {{"series_uid", r.series_uid}, {"study_uid", r.study_uid}, {"segmentation_id", r.segmentation_id},
          {"marked_by", r.marked_by}, {"marked_at", r.marked_at}};
}

http::Response MarkReference(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto body = ReadJsonObject(r);
  if (!body) return http::ErrorResponse(body.error());
  if (!body->contains("segmentation_id") || !(*body)["segmentation_id"].is_number_integer())
    return http::ErrorResponse(400, "invalid_argument", "segmentation_id: the approved segmentation version of the series");
  const std::int64_t id = (*body)["segmentation_id"].get<std::int64_t>();
  // Under a support grant, only within the studies granted.
  auto version = deps.segmentations->Find(p.tenant_id, id);
  if (!version || !p.MayReadStudy(version->record.study_uid)) return http::ErrorResponse(404, "not_found", "no such segmentation");
  auto marked = deps.acceptance->MarkReference(p.tenant_id, r.Param("series"), id, p.username);
  if (!marked) return http::ErrorResponse(marked.error());
  http::Response response = http::JsonResponse(200, ReferenceJson(*marked).dump());
  response.audit_object = "reference_case series=" + r.Param("series") + " segmentation=" + std::to_string(id);
  return response;
}

http::Response UnmarkReference(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  if (auto ok = deps.acceptance->UnmarkReference(p.tenant_id, r.Param("series")); !ok) return http::ErrorResponse(ok.error());
  http::Response response;
  response.status = 204;
  response.audit_object = "reference_case series=" + r.Param("series") + " removed";
  return response;
}

http::Response ListReferences(http::Request&, const auth::Principal& p, const ApiDeps& deps) {
  auto list = deps.acceptance->References(p.tenant_id);
  if (!list) return http::ErrorResponse(list.error());
  json out = json::array();
  for (const auto& r : *list)
    if (p.MayReadStudy(r.study_uid)) out.push_back(ReferenceJson(r));
  return http::JsonResponse(200, out.dump());
}

http::Response StartRun(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto body = ReadJsonObject(r);
  if (!body) return http::ErrorResponse(body.error());
  auto algorithm = StringMember(*body, "algorithm", true);
  auto version = StringMember(*body, "version", true);
  if (!algorithm) return http::ErrorResponse(algorithm.error());
  if (!version) return http::ErrorResponse(version.error());
  auto run = deps.acceptance->Start(p.tenant_id, *algorithm, *version, p.username);
  if (!run) return http::ErrorResponse(run.error());
  if (deps.jobs_queued) deps.jobs_queued();
  http::Response response = http::JsonResponse(202, services::AcceptanceRunJson(*run, false).dump());
  response.Header("Location", "/api/v1/acceptance-runs/" + std::to_string(run->id));
  response.audit_object = "acceptance_run=" + std::to_string(run->id) + " algorithm=" + *algorithm + " version=" + *version;
  return response;
}

http::Response ListRuns(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto params = ParseQueryParams(r.query);
  if (!params) return http::ErrorResponse(params.error());
  auto runs = deps.deployments->store().ListAcceptanceRuns(p.tenant_id, (*params)["algorithm"], (*params)["version"], 200);
  if (!runs) return http::ErrorResponse(runs.error());
  json out = json::array();
  for (const auto& run : *runs) out.push_back(services::AcceptanceRunJson(run, false));
  http::Response response = http::JsonResponse(200, out.dump());
  response.Header("Cache-Control", "no-store");
  return response;
}

http::Response GetRun(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto id = PathId(r, "id", "no such acceptance run");
  if (!id) return http::ErrorResponse(id.error());
  auto run = deps.acceptance->Find(p.tenant_id, *id);
  if (!run) return http::ErrorResponse(run.error());
  http::Response response = http::JsonResponse(200, services::AcceptanceRunJson(*run, true).dump());
  response.Header("Cache-Control", "no-store");
  return response;
}

// The report for people: a self-contained page (pictures inline), for the clinic's staff.
http::Response RunReportHtml(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto id = PathId(r, "id", "no such acceptance run");
  if (!id) return http::ErrorResponse(id.error());
  auto run = deps.acceptance->Find(p.tenant_id, *id);
  if (!run) return http::ErrorResponse(run.error());
  if (run->state == "queued") return http::ErrorResponse(409, "conflict", "the acceptance run has not ended yet");
  auto pictures = deps.acceptance->Pictures(*run);
  if (!pictures) return http::ErrorResponse(pictures.error());
  // Under a support grant, pictures only of the studies granted (none: the grant is whole).
  std::map<std::string, std::string> shown;
  const json report = json::parse(run->report_json, nullptr, false);
  for (const auto& c : report.value("cases", json::array()))
    if (auto it = pictures->find(c.value("series_uid", "")); it != pictures->end() && p.MayReadStudy(c.value("study_uid", "")))
      shown.insert(*it);
  http::Response response;
  response.status = 200;
  response.Header("Content-Type", "text/html; charset=utf-8");
  response.Header("Content-Security-Policy", "default-src 'none'; img-src data:; style-src 'unsafe-inline'");
  response.Header("Content-Disposition", "inline; filename=\"acceptance-" + std::to_string(run->id) + ".html\"");
  response.Header("Cache-Control", "no-store");
  response.body = services::AcceptanceReportHtml(report.is_object() ? report : json::object(), shown);
  return response;
}

// ---- the vendor's, across clinics (never pixels) ----

http::Response VendorStartRuns(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  const std::string algorithm = r.Param("id");
  auto body = ReadJsonObject(r);
  if (!body) return http::ErrorResponse(body.error());
  auto version = StringMember(*body, "version", true);
  if (!version) return http::ErrorResponse(version.error());
  auto targets = ClinicsNamed(body->value("clinics", json()), deps, /*allow_all=*/false);
  if (!targets) return http::ErrorResponse(targets.error());
  json results = json::array();
  int started = 0;
  std::optional<Error> first_error;
  for (const auto& tenant : *targets) {
    auto run = deps.acceptance->Start(tenant.id, algorithm, *version, p.username);
    if (run) {
      ++started;
      results.push_back({{"clinic", tenant.slug}, {"ok", true}, {"run", services::AcceptanceRunJson(*run, false)}});
    } else {
      if (!first_error) first_error = run.error();
      results.push_back({{"clinic", tenant.slug},
                         {"ok", false},
                         {"error", {{"code", run.error().reason.empty() ? ErrorCodeName(run.error().code) : run.error().reason},
                                    {"message", run.error().public_message}}}});
    }
  }
  if (started > 0 && deps.jobs_queued) deps.jobs_queued();
  const int status = started > 0 || !first_error ? 202 : HttpStatusFor(first_error->code);
  http::Response response = http::JsonResponse(status, json{{"started", started}, {"results", results}}.dump());
  response.audit_object = "acceptance algorithm=" + algorithm + " version=" + *version;
  return response;
}

http::Response VendorListRuns(http::Request& r, const auth::Principal&, const ApiDeps& deps) {
  auto params = ParseQueryParams(r.query);
  if (!params) return http::ErrorResponse(params.error());
  std::optional<std::int64_t> tenant;
  if (auto it = params->find("clinic"); it != params->end() && !it->second.empty()) {
    auto found = deps.catalog.FindTenant(it->second);
    if (!found) return http::ErrorResponse(404, "not_found", "no such clinic");
    tenant = found->id;
  }
  auto runs = deps.deployments->store().ListAcceptanceRuns(tenant, r.Param("id"), (*params)["version"], 500);
  if (!runs) return http::ErrorResponse(runs.error());
  std::map<std::int64_t, std::string> slugs;
  if (auto all = deps.catalog.ListTenants())
    for (const auto& t : *all) slugs[t.id] = t.slug;
  json out = json::array();
  for (const auto& run : *runs) {
    json entry = services::AcceptanceRunJson(run, true);
    entry["clinic"] = slugs[run.tenant_id];
    out.push_back(entry);
  }
  http::Response response = http::JsonResponse(200, out.dump());
  response.Header("Cache-Control", "no-store");
  return response;
}

}  // namespace

void AddAcceptanceRoutes(http::Router& router, const ApiDeps& deps) {
  AddGuarded(router, deps, "GET", "/api/v1/reference-cases", "reference_cases_list", "acceptance.read",
             WithDeps(deps, ListReferences));
  AddGuarded(router, deps, "PUT", "/api/v1/reference-cases/{series}", "reference_case_mark", "acceptance.write",
             WithDeps(deps, MarkReference));
  AddGuarded(router, deps, "DELETE", "/api/v1/reference-cases/{series}", "reference_case_unmark", "acceptance.write",
             WithDeps(deps, UnmarkReference));
  AddGuarded(router, deps, "POST", "/api/v1/acceptance-runs", "acceptance_run_start", "acceptance.write",
             WithDeps(deps, StartRun));
  AddGuarded(router, deps, "GET", "/api/v1/acceptance-runs", "acceptance_runs_list", "acceptance.read", WithDeps(deps, ListRuns));
  AddGuarded(router, deps, "GET", "/api/v1/acceptance-runs/{id}", "acceptance_run_get", "acceptance.read", WithDeps(deps, GetRun));
  AddGuarded(router, deps, "GET", "/api/v1/acceptance-runs/{id}/report.html", "acceptance_run_report", "acceptance.read",
             WithDeps(deps, RunReportHtml));
  AddGuarded(router, deps, "POST", "/api/v1/algorithms/{id}/acceptance-runs", "vendor_acceptance_start", "deployments.write",
             WithDeps(deps, VendorStartRuns));
  AddGuarded(router, deps, "GET", "/api/v1/algorithms/{id}/acceptance-runs", "vendor_acceptance_list", "deployments.read",
             WithDeps(deps, VendorListRuns));
}

}  // namespace vg::api
