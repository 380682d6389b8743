#include "api/jobs/job_routes.h"

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "api/exports/export_routes.h"
#include "api/json_body.h"
#include "api/query_params.h"
#include "core/strings.h"

namespace vg::api {
namespace {

using nlohmann::json;

// ---- algorithms ----

http::Response ListAlgorithms(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto params = ParseQueryParams(r.query);
  if (!params) return http::ErrorResponse(params.error());
  const bool all_versions = params->count("all") && p.role.starts_with("provider_");
  auto list = deps.algorithms->List();
  if (!list) return http::ErrorResponse(list.error());
  json out = json::array();
  for (const auto& [record, manifest] : *list) {
    if (!all_versions && (!record.is_default || !record.enabled)) continue;
    out.push_back(services::ManifestSummaryJson(manifest, record));
  }
  return http::JsonResponse(200, out.dump());
}

http::Response RegisterAlgorithm(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto body = ReadAll(r.body(), 1 << 20);
  if (!body) return http::ErrorResponse(body.error());
  auto registered = deps.algorithms->Register(*body);
  if (!registered) return http::ErrorResponse(registered.error());
  http::Response response =
      http::JsonResponse(201, services::ManifestSummaryJson(registered->second, registered->first).dump());
  response.audit_object = "algorithm=" + registered->first.id + " version=" + registered->first.version;
  return response;
}

// ---- jobs ----

http::Response SubmitJob(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto body = ReadJsonObject(r);
  if (!body) return http::ErrorResponse(body.error());
  auto algorithm = StringMember(*body, "algorithm", true);
  auto series = StringMember(*body, "series", true);
  auto version = StringMember(*body, "version");
  for (auto* field : {&algorithm, &series, &version})
    if (!*field) return http::ErrorResponse(field->error());
  services::RunRequest request{*algorithm, *version, *series, p.username, "manual", 0};
  auto job = deps.runs->Submit(p.tenant_id, request);
  if (!job) return http::ErrorResponse(job.error());
  if (deps.jobs_queued) deps.jobs_queued();
  http::Response response = http::JsonResponse(202, JobJson(*job).dump());
  response.Header("Location", "/api/v1/jobs/" + std::to_string(job->id));
  response.audit_object = "job=" + std::to_string(job->id) + " algorithm=" + *algorithm + " series=" + *series;
  return response;
}

http::Response GetJob(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto id = PathId(r, "id", "no such job");
  if (!id) return http::ErrorResponse(id.error());
  auto job = deps.runs->Find(p.tenant_id, *id);
  if (!job) return http::ErrorResponse(job.error());
  json out = JobJson(*job);
  // The result's other forms (RT structure set, overlay images) follow in a job of their own.
  if (out.contains("forms_job_id") && out["forms_job_id"].is_number_integer() && deps.result_forms) {
    if (auto forms = deps.result_forms->FindJob(p.tenant_id, out["forms_job_id"].get<std::int64_t>())) {
      json result = json::parse(forms->result, nullptr, false);
      out["forms"] = {{"state", forms->state},
                      {"error", forms->error.empty() ? json(nullptr) : json(forms->error)},
                      {"forms", result.is_object() && result.contains("forms") ? result["forms"] : json::array()}};
    }
  }
  http::Response response = http::JsonResponse(200, out.dump());
  response.Header("Cache-Control", "no-store");
  return response;
}

http::Response ListJobs(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto params = ParseQueryParams(r.query);
  if (!params) return http::ErrorResponse(params.error());
  storage::JobFilter filter;
  if (auto it = params->find("state"); it != params->end()) filter.state = it->second;
  auto limit = IntParam(*params, "limit", 50, 500);
  auto before = IntParam(*params, "before_id", 0, INT64_MAX);
  if (!limit) return http::ErrorResponse(limit.error());
  if (!before) return http::ErrorResponse(before.error());
  filter.limit = *limit;
  if (*before > 0) filter.before_id = *before;
  // Filtered in the query, so that a page is full whenever enough runs match.
  if (auto it = params->find("series"); it != params->end() && !it->second.empty()) filter.series_uid = it->second;
  if (auto it = params->find("algorithm"); it != params->end() && !it->second.empty()) filter.algorithm = it->second;
  auto jobs = deps.runs->List(p.tenant_id, filter);
  if (!jobs) return http::ErrorResponse(jobs.error());
  json out = json::array();
  for (const auto& job : *jobs) out.push_back(JobJson(job));
  http::Response response = http::JsonResponse(200, out.dump());
  response.Header("Cache-Control", "no-store");
  return response;
}

http::Response CancelJob(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto id = PathId(r, "id", "no such job");
  if (!id) return http::ErrorResponse(id.error());
  if (auto job = deps.runs->Find(p.tenant_id, *id); !job) return http::ErrorResponse(job.error());
  auto cancelled = deps.runs->Cancel(p.tenant_id, *id);
  if (!cancelled) return http::ErrorResponse(cancelled.error());
  http::Response response = http::JsonResponse(202, JobJson(*cancelled).dump());
  response.audit_object = "job=" + r.Param("id") + " cancel";
  return response;
}

// Server-Sent Events: the job as JSON each time its state or progress changes, until it
// ends (or after four minutes: EventSource reconnects by itself).
http::Response JobEvents(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto id = PathId(r, "id", "no such job");
  if (!id) return http::ErrorResponse(id.error());
  auto job = deps.runs->Find(p.tenant_id, *id);
  if (!job) return http::ErrorResponse(job.error());
  http::Response response;
  response.Header("Content-Type", "text/event-stream");
  response.Header("Cache-Control", "no-store");
  response.Header("X-Accel-Buffering", "no");
  services::Runs* runs = deps.runs;
  const std::int64_t tenant = p.tenant_id, job_id = *id;
  response.stream = [runs, tenant, job_id](http::BodyWriter& out) -> Result<void> {
    using Clock = std::chrono::steady_clock;
    const auto until = Clock::now() + std::chrono::minutes(4);
    auto last_sent = Clock::now();
    std::string last;
    if (auto ok = out.Write(std::string_view("retry: 1000\n\n")); !ok) return ok;
    while (Clock::now() < until) {
      auto current = runs->Find(tenant, job_id);
      if (!current) return {};
      const std::string text = JobJson(*current).dump();
      if (text != last) {
        if (auto ok = out.Write("event: job\ndata: " + text + "\n\n"); !ok) return ok;
        last = text;
        last_sent = Clock::now();
        if (current->state != "queued" && current->state != "running") {
          return out.Write(std::string_view("event: end\ndata: {}\n\n"));
        }
      } else if (Clock::now() - last_sent > std::chrono::seconds(15)) {
        if (auto ok = out.Write(std::string_view(": keep-alive\n\n")); !ok) return ok;
        last_sent = Clock::now();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    return {};
  };
  return response;
}

// ---- auto-run rules ----

json RuleJson(const storage::AutoRuleRecord& r) {
  return {{"id", r.id},           {"algorithm", r.algorithm_id},   {"modality", r.modality},
          {"min_instances", r.min_instances}, {"quiet_seconds", r.quiet_seconds}, {"enabled", r.enabled},
          {"created_by", r.created_by}, {"created_at", r.created_at}};
}

http::Response ListRules(http::Request&, const auth::Principal& p, const ApiDeps& deps) {
  auto rules = deps.algorithms->store().ListAutoRules(p.tenant_id);
  if (!rules) return http::ErrorResponse(rules.error());
  json out = json::array();
  for (const auto& r : *rules) out.push_back(RuleJson(r));
  return http::JsonResponse(200, out.dump());
}

http::Response CreateRule(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto body = ReadJsonObject(r);
  if (!body) return http::ErrorResponse(body.error());
  auto algorithm = StringMember(*body, "algorithm", true);
  auto modality = StringMember(*body, "modality");
  if (!algorithm) return http::ErrorResponse(algorithm.error());
  if (!modality) return http::ErrorResponse(modality.error());
  auto resolved = deps.algorithms->Resolve(*algorithm, "");
  if (!resolved) return http::ErrorResponse(resolved.error());
  storage::AutoRuleRecord rule;
  rule.tenant_id = p.tenant_id;
  rule.algorithm_id = *algorithm;
  rule.modality = modality->empty() ? resolved->second.input.modality : *modality;
  rule.min_instances = body->value("min_instances", resolved->second.input.min_slices);
  rule.quiet_seconds = body->value("quiet_seconds", std::int64_t{60});
  rule.created_by = p.username;
  if (rule.min_instances < 1 || rule.min_instances > 100000 || rule.quiet_seconds < 0 || rule.quiet_seconds > 86400)
    return http::ErrorResponse(400, "invalid_argument", "min_instances is 1-100000 and quiet_seconds 0-86400");
  auto created = deps.algorithms->store().CreateAutoRule(rule);
  if (!created) return http::ErrorResponse(created.error());
  http::Response response = http::JsonResponse(201, RuleJson(*created).dump());
  response.audit_object = "auto_rule=" + std::to_string(created->id) + " algorithm=" + *algorithm;
  return response;
}

http::Response DeleteRule(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto id = PathId(r, "id", "no such rule");
  if (!id) return http::ErrorResponse(id.error());
  if (auto ok = deps.algorithms->store().DeleteAutoRule(p.tenant_id, *id); !ok)
    return http::ErrorResponse(ok.error());
  http::Response response;
  response.status = 204;
  return response;
}

}  // namespace

void AddJobRoutes(http::Router& router, const ApiDeps& deps) {
  AddGuarded(router, deps, "GET", "/api/v1/algorithms", "algorithms_list", "algorithms.read", WithDeps(deps, ListAlgorithms));
  AddGuarded(router, deps, "POST", "/api/v1/algorithms", "algorithms_register", "algorithms.write",
             WithDeps(deps, RegisterAlgorithm));
  AddGuarded(router, deps, "POST", "/api/v1/jobs", "jobs_submit", "jobs.write", WithDeps(deps, SubmitJob));
  AddGuarded(router, deps, "GET", "/api/v1/jobs", "jobs_list", "jobs.read", WithDeps(deps, ListJobs));
  AddGuarded(router, deps, "GET", "/api/v1/jobs/{id}", "job_get", "jobs.read", WithDeps(deps, GetJob));
  AddGuarded(router, deps, "POST", "/api/v1/jobs/{id}/cancel", "job_cancel", "jobs.write", WithDeps(deps, CancelJob));
  AddGuarded(router, deps, "GET", "/api/v1/jobs/{id}/events", "job_events", "jobs.read", WithDeps(deps, JobEvents));
  AddGuarded(router, deps, "GET", "/api/v1/auto-rules", "auto_rules_list", "autorules.read", WithDeps(deps, ListRules));
  AddGuarded(router, deps, "POST", "/api/v1/auto-rules", "auto_rules_create", "autorules.write", WithDeps(deps, CreateRule));
  AddGuarded(router, deps, "DELETE", "/api/v1/auto-rules/{id}", "auto_rules_delete", "autorules.write",
             WithDeps(deps, DeleteRule));
}

}  // namespace vg::api
