#include "api/deployments/deployment_routes.h"

#include <map>
#include <nlohmann/json.hpp>

#include "api/json_body.h"
#include "api/query_params.h"
#include "core/clock.h"

namespace vg::api {
namespace {

using nlohmann::json;

json ErrorJson(const Error& e) {
  return {{"error", {{"code", e.reason.empty() ? ErrorCodeName(e.code) : e.reason}, {"message", e.public_message}}}};
}

// The algorithm named by the path, which must be registered.
Result<std::string> AlgorithmOf(const http::Request& r, const ApiDeps& deps) {
  const std::string id = r.Param("id");
  auto record = deps.algorithms->store().FindAlgorithm(id, "");
  if (!record) return Fail(ErrorCode::kNotFound, "no algorithm '" + id + "'");
  return id;
}

std::map<std::int64_t, std::string> ClinicSlugs(const ApiDeps& deps) {
  std::map<std::int64_t, std::string> slugs;
  if (auto tenants = deps.catalog.ListTenants())
    for (const auto& t : *tenants) slugs[t.id] = t.slug;
  return slugs;
}

http::Response ListDeployments(http::Request& r, const auth::Principal&, const ApiDeps& deps) {
  auto algorithm = AlgorithmOf(r, deps);
  if (!algorithm) return http::ErrorResponse(algorithm.error());
  auto clinics = deps.deployments->AllClinics(*algorithm, deps.licensing->provider_tenant_id(), UnixSeconds());
  if (!clinics) return http::ErrorResponse(clinics.error());
  auto versions = deps.algorithms->store().ListAlgorithms();
  if (!versions) return http::ErrorResponse(versions.error());
  json out = {{"algorithm", *algorithm}, {"default", nullptr}, {"versions", json::array()}, {"clinics", json::array()}};
  for (const auto& v : *versions) {
    if (v.id != *algorithm) continue;
    if (v.is_default) out["default"] = v.version;
    out["versions"].push_back({{"version", v.version}, {"enabled", v.enabled}, {"default", v.is_default},
                               {"registered_at", v.created_at}});
  }
  for (const auto& [tenant, d] : *clinics) {
    json entry = services::DeploymentView(d);
    entry["clinic"] = tenant.slug;
    entry["name"] = tenant.name;
    out["clinics"].push_back(entry);
  }
  http::Response response = http::JsonResponse(200, out.dump());
  response.Header("Cache-Control", "no-store");
  return response;
}

// POST .../deployments/{action} {clinics: ["slug", ...] | "all", version, canary_percent,
// effective_at, reason}: applied clinic by clinic; each clinic's outcome is in the answer.
http::Response Act(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto algorithm = AlgorithmOf(r, deps);
  if (!algorithm) return http::ErrorResponse(algorithm.error());
  auto kind = services::DeploymentActionFromName(r.Param("action"));
  if (!kind) return http::ErrorResponse(404, "not_found", "actions: promote, rollback, shadow, end-shadow");
  auto body = ReadJsonObject(r);
  if (!body) return http::ErrorResponse(body.error());
  auto version = StringMember(*body, "version");
  auto reason = StringMember(*body, "reason");
  if (!version) return http::ErrorResponse(version.error());
  if (!reason) return http::ErrorResponse(reason.error());
  if (reason->size() > 500) return http::ErrorResponse(400, "invalid_argument", "reason: at most 500 characters");
  services::DeploymentAction action;
  action.kind = *kind;
  action.version = *version;
  action.reason = *reason;
  const auto number = [&](const char* name, std::int64_t fallback) -> std::optional<std::int64_t> {
    if (!body->contains(name) || (*body)[name].is_null()) return fallback;
    if (!(*body)[name].is_number_integer()) return std::nullopt;
    return (*body)[name].get<std::int64_t>();
  };
  auto percent = number("canary_percent", 100);
  auto at = number("effective_at", 0);
  if (!percent || *percent < 1 || *percent > 100)
    return http::ErrorResponse(400, "invalid_argument", "canary_percent is an integer 1-100 (100: every run)");
  if (!at || *at < 0) return http::ErrorResponse(400, "invalid_argument", "effective_at is a Unix time in seconds");
  action.percent = static_cast<int>(*percent);
  action.effective_at = *at;
  if (action.effective_at > UnixSeconds() + 366 * 86400)
    return http::ErrorResponse(400, "invalid_argument", "effective_at is at most a year ahead");

  auto targets = ClinicsNamed(body->value("clinics", json()), deps, /*allow_all=*/true);
  if (!targets) return http::ErrorResponse(targets.error());

  json results = json::array();
  std::optional<Error> first_error;
  int done = 0;
  std::string names;
  for (const auto& tenant : *targets) {
    auto d = deps.deployments->Act(tenant.id, *algorithm, action, p.username, UnixSeconds());
    if (d) {
      ++done;
      json entry = services::DeploymentView(*d);
      entry["clinic"] = tenant.slug;
      results.push_back({{"clinic", tenant.slug}, {"ok", true}, {"deployment", entry}});
    } else {
      if (!first_error) first_error = d.error();
      results.push_back({{"clinic", tenant.slug}, {"ok", false}, {"error", ErrorJson(d.error())["error"]}});
    }
    if (names.size() < 400) names += (names.empty() ? "" : ",") + tenant.slug;
  }
  json out = {{"algorithm", *algorithm}, {"action", r.Param("action")}, {"changed", done}, {"results", results}};
  // Nothing changed anywhere: the (first) reason is the answer's status.
  const int status = done > 0 || !first_error ? 200 : HttpStatusFor(first_error->code);
  if (done == 0 && first_error) out.update(ErrorJson(*first_error));
  http::Response response = http::JsonResponse(status, out.dump());
  response.audit_object = "algorithm=" + *algorithm + " action=" + r.Param("action") +
                          (action.version.empty() ? "" : " version=" + action.version) + " clinics=" + names;
  return response;
}

http::Response SetDefault(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto algorithm = AlgorithmOf(r, deps);
  if (!algorithm) return http::ErrorResponse(algorithm.error());
  auto body = ReadJsonObject(r);
  if (!body) return http::ErrorResponse(body.error());
  auto version = StringMember(*body, "version", true);
  if (!version) return http::ErrorResponse(version.error());
  if (auto ok = deps.deployments->SetDefault(*algorithm, *version, p.username, UnixSeconds()); !ok)
    return http::ErrorResponse(ok.error());
  http::Response response = http::JsonResponse(200, json{{"algorithm", *algorithm}, {"default", *version}}.dump());
  response.audit_object = "algorithm=" + *algorithm + " default=" + *version;
  return response;
}

http::Response Events(http::Request& r, const auth::Principal&, const ApiDeps& deps) {
  auto algorithm = AlgorithmOf(r, deps);
  if (!algorithm) return http::ErrorResponse(algorithm.error());
  auto params = ParseQueryParams(r.query);
  if (!params) return http::ErrorResponse(params.error());
  auto limit = IntParam(*params, "limit", 200, 1000);
  if (!limit) return http::ErrorResponse(limit.error());
  std::optional<std::int64_t> tenant;
  if (auto it = params->find("clinic"); it != params->end() && !it->second.empty()) {
    auto found = deps.catalog.FindTenant(it->second);
    if (!found) return http::ErrorResponse(404, "not_found", "no such clinic");
    tenant = found->id;
  }
  auto events = deps.deployments->History(tenant, *algorithm, *limit);
  if (!events) return http::ErrorResponse(events.error());
  const auto slugs = ClinicSlugs(deps);
  json out = json::array();
  for (const auto& e : *events) {
    auto slug = slugs.find(e.tenant_id);
    json entry = services::DeploymentEventJson(e, slug == slugs.end() ? "" : slug->second);
    entry["notified_at"] = e.notified_at ? json(*e.notified_at) : json(nullptr);
    out.push_back(entry);
  }
  http::Response response = http::JsonResponse(200, out.dump());
  response.Header("Cache-Control", "no-store");
  return response;
}

http::Response ShadowComparison(http::Request& r, const auth::Principal&, const ApiDeps& deps) {
  auto algorithm = AlgorithmOf(r, deps);
  if (!algorithm) return http::ErrorResponse(algorithm.error());
  auto params = ParseQueryParams(r.query);
  if (!params) return http::ErrorResponse(params.error());
  auto limit = IntParam(*params, "limit", 500, 5000);
  if (!limit) return http::ErrorResponse(limit.error());
  storage::ShadowRunFilter filter;
  filter.algorithm_id = *algorithm;
  filter.limit = *limit;
  if (auto it = params->find("version"); it != params->end()) filter.shadow_version = it->second;
  if (auto it = params->find("clinic"); it != params->end() && !it->second.empty()) {
    auto found = deps.catalog.FindTenant(it->second);
    if (!found) return http::ErrorResponse(404, "not_found", "no such clinic");
    filter.tenant_id = found->id;
  }
  auto comparison = deps.shadow_runs->Comparison(filter, ClinicSlugs(deps));
  if (!comparison) return http::ErrorResponse(comparison.error());
  http::Response response = http::JsonResponse(200, comparison->dump());
  response.Header("Cache-Control", "no-store");
  return response;
}

// The evidence pack of a version (zip): GET .../evidence?version=&clinic=&from=&to=
http::Response Evidence(http::Request& r, const auth::Principal&, const ApiDeps& deps) {
  auto algorithm = AlgorithmOf(r, deps);
  if (!algorithm) return http::ErrorResponse(algorithm.error());
  auto params = ParseQueryParams(r.query);
  if (!params) return http::ErrorResponse(params.error());
  services::EvidenceRequest request;
  request.algorithm_id = *algorithm;
  request.version = (*params)["version"];
  if (request.version.empty()) return http::ErrorResponse(400, "invalid_argument", "version: the version the pack is of");
  if (auto it = params->find("clinic"); it != params->end() && !it->second.empty()) {
    auto found = deps.catalog.FindTenant(it->second);
    if (!found || found->id == deps.licensing->provider_tenant_id())
      return http::ErrorResponse(404, "not_found", "no such clinic");
    request.tenant_id = found->id;
  }
  auto from = TimeParam(*params, "from", 0, false);
  auto to = TimeParam(*params, "to", INT64_MAX, true);
  if (!from) return http::ErrorResponse(from.error());
  if (!to) return http::ErrorResponse(to.error());
  request.from = *from;
  request.to = *to;
  request.sbom_path = services::DefaultSbomPath();
  auto zip = deps.evidence->Build(request);
  if (!zip) return http::ErrorResponse(zip.error());
  http::Response response;
  response.status = 200;
  response.Header("Content-Type", "application/zip");
  response.Header("Content-Disposition",
                  "attachment; filename=\"evidence-" + *algorithm + "-" + request.version + ".zip\"");
  response.Header("Cache-Control", "no-store");
  response.body = std::move(*zip);
  response.audit_object = "evidence algorithm=" + *algorithm + " version=" + request.version;
  return response;
}

// The clinic's own: what it runs of each algorithm, what is scheduled, and every change.
http::Response OwnDeployments(http::Request&, const auth::Principal& p, const ApiDeps& deps) {
  auto list = deps.algorithms->List();
  if (!list) return http::ErrorResponse(list.error());
  json out = json::array();
  for (const auto& [record, manifest] : *list) {
    if (!record.is_default) continue;  // one entry per algorithm
    auto d = deps.deployments->Current(p.tenant_id, record.id, UnixSeconds());
    if (!d) return http::ErrorResponse(d.error());
    json entry = services::DeploymentView(*d);
    entry["algorithm"] = record.id;
    entry["name"] = manifest.name;
    entry["history"] = json::array();
    if (auto events = deps.deployments->History(p.tenant_id, record.id, 100))
      for (const auto& e : *events) {
        json event = services::DeploymentEventJson(e, "");
        event.erase("clinic");
        entry["history"].push_back(event);
      }
    out.push_back(entry);
  }
  http::Response response = http::JsonResponse(200, out.dump());
  response.Header("Cache-Control", "no-store");
  return response;
}

}  // namespace

Result<std::vector<storage::TenantRecord>> ClinicsNamed(const json& clinics, const ApiDeps& deps, bool allow_all) {
  const std::string shape = allow_all ? "clinics: a list of clinic slugs, or \"all\"" : "clinics: a list of clinic slugs";
  std::vector<storage::TenantRecord> targets;
  if (allow_all && clinics.is_string() && clinics.get<std::string>() == "all") {
    auto all = deps.catalog.ListTenants();
    if (!all) return std::unexpected(all.error());
    for (const auto& t : *all)
      if (t.id != deps.licensing->provider_tenant_id()) targets.push_back(t);
    return targets;
  }
  if (!clinics.is_array() || clinics.empty() || clinics.size() > 1000) return Fail(ErrorCode::kInvalidArgument, shape);
  for (const auto& slug : clinics) {
    if (!slug.is_string()) return Fail(ErrorCode::kInvalidArgument, shape);
    auto tenant = deps.catalog.FindTenant(slug.get<std::string>());
    if (!tenant || tenant->id == deps.licensing->provider_tenant_id())
      return Fail(ErrorCode::kNotFound, "no clinic '" + slug.get<std::string>() + "'");
    targets.push_back(*tenant);
  }
  return targets;
}

void AddDeploymentRoutes(http::Router& router, const ApiDeps& deps) {
  AddGuarded(router, deps, "GET", "/api/v1/algorithms/{id}/deployments", "deployments_list", "deployments.read",
             WithDeps(deps, ListDeployments));
  AddGuarded(router, deps, "POST", "/api/v1/algorithms/{id}/deployments/{action}", "deployments_act",
             "deployments.write", WithDeps(deps, Act));
  AddGuarded(router, deps, "POST", "/api/v1/algorithms/{id}/default", "algorithm_default", "deployments.write",
             WithDeps(deps, SetDefault));
  AddGuarded(router, deps, "GET", "/api/v1/algorithms/{id}/deployment-events", "deployment_events", "deployments.read",
             WithDeps(deps, Events));
  AddGuarded(router, deps, "GET", "/api/v1/algorithms/{id}/shadow", "shadow_comparison", "deployments.read",
             WithDeps(deps, ShadowComparison));
  AddGuarded(router, deps, "GET", "/api/v1/deployments", "own_deployments", "deployments.self",
             WithDeps(deps, OwnDeployments));
  AddGuarded(router, deps, "GET", "/api/v1/algorithms/{id}/evidence", "algorithm_evidence", "deployments.read",
             WithDeps(deps, Evidence));
  AddAcceptanceRoutes(router, deps);
}

}  // namespace vg::api
