#include "api/monitoring/monitoring_routes.h"

#include <nlohmann/json.hpp>

#include "api/exports/export_routes.h"
#include "api/json_body.h"
#include "api/query_params.h"
#include "core/clock.h"
#include "crypto/crypto.h"
#include "licensing/licence_file.h"

namespace vg::api {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxBugReportBody = 12u << 20;  // an 8 MiB PNG in base64, and the text

// Vendor staff acting as themselves (not under a clinic's support grant).
bool IsVendor(const auth::Principal& p) { return p.role.starts_with("provider_") && p.support_grant_id == 0; }
// The clinic whose records a request reads: its own, or for the vendor every clinic (none).
std::optional<std::int64_t> Scope(const auth::Principal& p) {
  return IsVendor(p) ? std::nullopt : std::optional<std::int64_t>(p.tenant_id);
}

// A vendor's `?tenant=slug` narrows to one clinic; for a clinic it is ignored.
Result<std::optional<std::int64_t>> TenantFilter(const ApiDeps& deps, const auth::Principal& p,
                                                 const std::map<std::string, std::string>& params) {
  if (!IsVendor(p)) return std::optional<std::int64_t>(p.tenant_id);
  auto it = params.find("tenant");
  if (it == params.end() || it->second.empty()) return std::optional<std::int64_t>();
  auto tenant = deps.catalog.FindTenant(it->second);
  if (!tenant) return Fail(ErrorCode::kNotFound, "no such clinic");
  return std::optional<std::int64_t>(tenant->id);
}

// The runs a request selects: the clinic (TenantFilter), algorithm, version, from, to and
// limit (up to `max_limit`).
Result<storage::RunFilter> RunFilterOf(const ApiDeps& deps, const auth::Principal& p,
                                       const std::map<std::string, std::string>& params, std::int64_t default_limit,
                                       std::int64_t max_limit) {
  auto tenant = TenantFilter(deps, p, params);
  if (!tenant) return std::unexpected(tenant.error());
  storage::RunFilter filter;
  filter.tenant_id = *tenant;
  filter.algorithm = params.count("algorithm") ? params.at("algorithm") : "";
  filter.version = params.count("version") ? params.at("version") : "";
  auto from = TimeParam(params, "from", 0, false);
  auto to = TimeParam(params, "to", UnixSeconds() + 1, true);
  auto limit = IntParam(params, "limit", default_limit, max_limit);
  for (auto* v : {&from, &to, &limit})
    if (!*v) return std::unexpected(v->error());
  filter.from = *from;
  filter.to = *to;
  filter.limit = *limit;
  return filter;
}


// ---- feedback ----

http::Response PostFeedback(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto id = PathId(r, "id", "no such record");
  if (!id) return http::ErrorResponse(id.error());
  auto body = ReadJsonObject(r);
  if (!body) return http::ErrorResponse(body.error());
  auto verdict = StringMember(*body, "verdict", true);
  auto reason = StringMember(*body, "reason");
  auto comment = StringMember(*body, "comment");
  for (auto* f : {&verdict, &reason, &comment})
    if (!*f) return http::ErrorResponse(f->error());
  auto saved = deps.monitoring->Verdict(p.tenant_id, *id, *verdict, *reason, *comment, p.username);
  if (!saved) return http::ErrorResponse(saved.error());
  http::Response response = http::JsonResponse(201, deps.monitoring->FeedbackJson(p.tenant_id, *saved).dump());
  response.audit_object = "job=" + std::to_string(*id) + " verdict=" + *verdict;
  return response;
}

http::Response ListFeedback(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto id = PathId(r, "id", "no such record");
  if (!id) return http::ErrorResponse(id.error());
  auto job = deps.runs->Find(p.tenant_id, *id);
  if (!job) return http::ErrorResponse(job.error());
  auto list = deps.monitoring->FeedbackFor(p.tenant_id, *id);
  if (!list) return http::ErrorResponse(list.error());
  http::Response response = http::JsonResponse(200, json(*list).dump());
  response.Header("Cache-Control", "no-store");
  return response;
}

// ---- bug reports ----

http::Response FileBug(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto body = ReadJsonObject(r, kMaxBugReportBody);
  if (!body) return http::ErrorResponse(body.error());
  services::BugReportInput input;
  for (auto [field, name, required] : {std::tuple{&input.severity, "severity", true},
                                       std::tuple{&input.description, "description", true},
                                       std::tuple{&input.steps, "steps", false},
                                       std::tuple{&input.browser, "browser", false},
                                       std::tuple{&input.app_version, "app_version", false}}) {
    auto value = StringMember(*body, name, required);
    if (!value) return http::ErrorResponse(value.error());
    *field = std::move(*value);
  }
  if (input.browser.empty()) input.browser = r.Header("user-agent").value_or("").substr(0, 512);
  if (body->contains("job_id") && !(*body)["job_id"].is_null()) {
    if (!(*body)["job_id"].is_number_integer()) return http::ErrorResponse(400, "invalid_argument", "job_id is a number");
    input.job_id = (*body)["job_id"].get<std::int64_t>();
  }
  auto screenshot = StringMember(*body, "screenshot");
  if (!screenshot) return http::ErrorResponse(screenshot.error());
  if (!screenshot->empty()) {
    std::string_view text = *screenshot;
    constexpr std::string_view kDataUrl = "data:image/png;base64,";
    if (text.starts_with(kDataUrl)) text.remove_prefix(kDataUrl.size());
    auto png = crypto::Base64Decode(text);
    if (!png) return http::ErrorResponse(400, "invalid_argument", "screenshot is a base64 PNG (or its data: URL)");
    input.screenshot_png.assign(png->begin(), png->end());
  }
  auto filed = deps.monitoring->FileBug(p.tenant_id, input, p.username);
  if (!filed) return http::ErrorResponse(filed.error());
  auto view = deps.monitoring->BugJson(p.tenant_id, filed->id);
  if (!view) return http::ErrorResponse(view.error());
  http::Response response = http::JsonResponse(201, view->dump());
  response.Header("Location", "/api/v1/bug-reports/" + std::to_string(filed->id));
  response.audit_object = "bug-report=" + std::to_string(filed->id) + " severity=" + input.severity;
  return response;
}

http::Response ListBugs(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto params = ParseQueryParams(r.query);
  if (!params) return http::ErrorResponse(params.error());
  auto tenant = TenantFilter(deps, p, *params);
  if (!tenant) return http::ErrorResponse(tenant.error());
  const std::string status = params->count("status") ? params->at("status") : "";
  auto list = deps.monitoring->ListBugs(*tenant, status);
  if (!list) return http::ErrorResponse(list.error());
  http::Response response = http::JsonResponse(200, json(*list).dump());
  response.Header("Cache-Control", "no-store");
  return response;
}

http::Response GetBug(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto id = PathId(r, "id", "no such record");
  if (!id) return http::ErrorResponse(id.error());
  auto view = deps.monitoring->BugJson(Scope(p), *id);
  if (!view) return http::ErrorResponse(view.error());
  if (IsVendor(p)) {
    auto report = deps.monitoring->FindBug(std::nullopt, *id);
    if (!report) return http::ErrorResponse(report.error());
    auto pixels = deps.monitoring->VendorMaySeePixels(report->tenant_id, report->job_id, UnixSeconds());
    if (!pixels) return http::ErrorResponse(pixels.error());
    (*view)["pixels_shared"] = *pixels;
  }
  http::Response response = http::JsonResponse(200, view->dump());
  response.Header("Cache-Control", "no-store");
  response.audit_object = "bug-report=" + std::to_string(*id);
  return response;
}

http::Response CommentBug(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto id = PathId(r, "id", "no such record");
  if (!id) return http::ErrorResponse(id.error());
  auto body = ReadJsonObject(r);
  if (!body) return http::ErrorResponse(body.error());
  auto text = StringMember(*body, "text", true);
  if (!text) return http::ErrorResponse(text.error());
  if (auto ok = deps.monitoring->CommentBug(Scope(p), *id, *text, p.username); !ok) return http::ErrorResponse(ok.error());
  auto view = deps.monitoring->BugJson(Scope(p), *id);
  if (!view) return http::ErrorResponse(view.error());
  http::Response response = http::JsonResponse(201, view->dump());
  response.audit_object = "bug-report=" + std::to_string(*id) + " comment";
  return response;
}

http::Response SetBugStatus(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto id = PathId(r, "id", "no such record");
  if (!id) return http::ErrorResponse(id.error());
  auto body = ReadJsonObject(r);
  if (!body) return http::ErrorResponse(body.error());
  auto status = StringMember(*body, "status", true);
  if (!status) return http::ErrorResponse(status.error());
  if (auto ok = deps.monitoring->SetBugStatus(*id, *status); !ok) return http::ErrorResponse(ok.error());
  auto note = StringMember(*body, "comment");
  if (note && !note->empty())
    if (auto ok = deps.monitoring->CommentBug(std::nullopt, *id, *note, p.username); !ok)
      return http::ErrorResponse(ok.error());
  auto view = deps.monitoring->BugJson(std::nullopt, *id);
  if (!view) return http::ErrorResponse(view.error());
  http::Response response = http::JsonResponse(200, view->dump());
  response.audit_object = "bug-report=" + std::to_string(*id) + " status=" + *status;
  return response;
}

http::Response BugScreenshot(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto id = PathId(r, "id", "no such record");
  if (!id) return http::ErrorResponse(id.error());
  auto report = deps.monitoring->FindBug(Scope(p), *id);
  if (!report) return http::ErrorResponse(report.error());
  if (IsVendor(p)) {
    // A screenshot of the viewer shows the patient's images (and may show their name).
    auto pixels = deps.monitoring->VendorMaySeePixels(report->tenant_id, report->job_id, UnixSeconds());
    if (!pixels) return http::ErrorResponse(pixels.error());
    if (!*pixels)
      return http::ErrorResponse(403, "forbidden",
                                 "the clinic does not share cases with the vendor and no support grant covers this "
                                 "report's study: its screenshot stays with the clinic");
  }
  auto png = deps.monitoring->BugScreenshot(Scope(p), *id);
  if (!png) return http::ErrorResponse(png.error());
  http::Response response;
  response.Header("Content-Type", "image/png");
  response.Header("Cache-Control", "private, no-store");
  response.body = std::move(*png);
  response.audit_object = "bug-report=" + std::to_string(*id) + " screenshot";
  return response;
}

http::Response BugBundle(http::Request& r, const auth::Principal&, const ApiDeps& deps) {
  auto id = PathId(r, "id", "no such record");
  if (!id) return http::ErrorResponse(id.error());
  auto report = deps.monitoring->FindBug(std::nullopt, *id);
  if (!report) return http::ErrorResponse(report.error());
  auto pixels = deps.monitoring->VendorMaySeePixels(report->tenant_id, report->job_id, UnixSeconds());
  if (!pixels) return http::ErrorResponse(pixels.error());
  http::Response response;
  response.Header("Content-Type", "application/zip");
  response.Header("Content-Disposition", "attachment; filename=\"bug-" + std::to_string(*id) + ".zip\"");
  response.Header("Cache-Control", "private, no-store");
  // Streamed: with pixels, the input volume alone can be tens of megabytes.
  const bool with_pixels = *pixels;
  services::Monitoring* monitoring = deps.monitoring;
  const std::int64_t report_id = *id;
  response.stream = [monitoring, report_id, with_pixels](http::BodyWriter& out) -> Result<void> {
    Result<void> failed;
    auto written = monitoring->WriteBundle(report_id, with_pixels, [&](std::string_view chunk) {
      if (auto ok = out.Write(chunk); !ok) {
        failed = ok;
        return false;
      }
      return true;
    });
    if (!failed) return failed;
    return written;
  };
  response.audit_object =
      "bug-report=" + std::to_string(*id) + " bundle pixels=" + (*pixels ? std::string("yes") : std::string("no"));
  return response;
}

// ---- dashboard ----

http::Response Summary(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto params = ParseQueryParams(r.query);
  if (!params) return http::ErrorResponse(params.error());
  auto tenant = TenantFilter(deps, p, *params);
  if (!tenant) return http::ErrorResponse(tenant.error());
  const std::int64_t now = UnixSeconds();
  auto from = TimeParam(*params, "from", now - 30 * 86400, false);
  auto to = TimeParam(*params, "to", now + 1, true);
  if (!from) return http::ErrorResponse(from.error());
  if (!to) return http::ErrorResponse(to.error());
  const std::string algorithm = params->count("algorithm") ? params->at("algorithm") : "";
  const std::string version = params->count("version") ? params->at("version") : "";
  auto summary = deps.monitoring->Summary(*tenant, algorithm, version, *from, *to, now);
  if (!summary) return http::ErrorResponse(summary.error());
  http::Response response;
  if (params->count("format") && params->at("format") == "csv") {
    response.Header("Content-Type", "text/csv; charset=utf-8");
    response.Header("Content-Disposition", "attachment; filename=\"monitoring-summary.csv\"");
    response.body = services::Monitoring::SummaryCsv(*summary);
  } else {
    if (IsVendor(p)) {
      auto alerts = deps.monitoring->Alerts(deps.alert_thresholds, now, /*max_age_seconds=*/15);
      if (alerts) (*summary)["alerts"] = (*alerts)["alerts"];
    }
    response = http::JsonResponse(200, summary->dump());
  }
  response.Header("Cache-Control", "no-store");
  return response;
}

http::Response Runs(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto params = ParseQueryParams(r.query);
  if (!params) return http::ErrorResponse(params.error());
  auto filter = RunFilterOf(deps, p, *params, 100, 1000);
  if (!filter) return http::ErrorResponse(filter.error());
  const std::int64_t now = UnixSeconds();
  auto runs = deps.monitoring->RunRecords(*filter);
  if (!runs) return http::ErrorResponse(runs.error());
  // The vendor reads a clinic's run logs only where the clinic shares cases or grants support.
  if (IsVendor(p))
    for (auto& run : *runs) {
      auto clinic = deps.catalog.FindTenant(run.value("tenant", ""));
      if (!clinic || clinic->id == p.tenant_id) continue;
      auto may = deps.monitoring->VendorMaySeePixels(clinic->id, run.value("id", std::int64_t{0}), now);
      if (!may || !*may) services::Monitoring::WithholdRunOutput(run);
    }
  http::Response response = http::JsonResponse(200, json(*runs).dump());
  response.Header("Cache-Control", "no-store");
  return response;
}

// The accept/reject log (JSON, or CSV with format=csv): the clinic's own; the vendor's
// across clinics (tenant= narrows it).
http::Response Assessments(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto params = ParseQueryParams(r.query);
  if (!params) return http::ErrorResponse(params.error());
  auto filter = RunFilterOf(deps, p, *params, 10000, 100000);
  if (!filter) return http::ErrorResponse(filter.error());
  auto rows = deps.monitoring->Assessments(*filter);
  if (!rows) return http::ErrorResponse(rows.error());
  http::Response response;
  response.Header("Cache-Control", "no-store");
  if (params->count("format") && params->at("format") == "csv") {
    response.status = 200;
    response.Header("Content-Type", "text/csv; charset=utf-8");
    response.Header("Content-Disposition", "attachment; filename=\"assessments.csv\"");
    response.body = services::Monitoring::AssessmentsCsv(*rows);
    return response;
  }
  response = http::JsonResponse(200, json(*rows).dump());
  response.Header("Cache-Control", "no-store");
  return response;
}

http::Response Alerts(http::Request&, const auth::Principal&, const ApiDeps& deps) {
  auto alerts = deps.monitoring->Alerts(deps.alert_thresholds, UnixSeconds());
  if (!alerts) return http::ErrorResponse(alerts.error());
  http::Response response = http::JsonResponse(200, alerts->dump());
  response.Header("Cache-Control", "no-store");
  return response;
}

}  // namespace

void AddMonitoringRoutes(http::Router& router, const ApiDeps& deps) {
  AddGuarded(router, deps, "POST", "/api/v1/jobs/{id}/feedback", "job_feedback", "feedback.write", WithDeps(deps, PostFeedback));
  AddGuarded(router, deps, "GET", "/api/v1/jobs/{id}/feedback", "job_feedback_list", "jobs.read", WithDeps(deps, ListFeedback));
  AddGuarded(router, deps, "POST", "/api/v1/bug-reports", "bug_reports_file", "bugs.write", WithDeps(deps, FileBug));
  AddGuarded(router, deps, "GET", "/api/v1/bug-reports", "bug_reports_list", "bugs.read", WithDeps(deps, ListBugs));
  AddGuarded(router, deps, "GET", "/api/v1/bug-reports/{id}", "bug_report_get", "bugs.read", WithDeps(deps, GetBug));
  AddGuarded(router, deps, "POST", "/api/v1/bug-reports/{id}/comments", "bug_report_comment", "bugs.comment",
             WithDeps(deps, CommentBug));
  AddGuarded(router, deps, "POST", "/api/v1/bug-reports/{id}/status", "bug_report_status", "bugs.triage",
             WithDeps(deps, SetBugStatus));
  AddGuarded(router, deps, "GET", "/api/v1/bug-reports/{id}/screenshot", "bug_report_screenshot", "bugs.read",
             WithDeps(deps, BugScreenshot));
  AddGuarded(router, deps, "GET", "/api/v1/bug-reports/{id}/bundle", "bug_report_bundle", "bugs.bundle",
             WithDeps(deps, BugBundle));
  AddGuarded(router, deps, "GET", "/api/v1/monitoring/summary", "monitoring_summary", "monitoring.read", WithDeps(deps, Summary));
  AddGuarded(router, deps, "GET", "/api/v1/monitoring/runs", "monitoring_runs", "monitoring.read", WithDeps(deps, Runs));
  AddGuarded(router, deps, "GET", "/api/v1/monitoring/assessments", "monitoring_assessments", "monitoring.read",
             WithDeps(deps, Assessments));
  AddGuarded(router, deps, "GET", "/api/v1/monitoring/alerts", "monitoring_alerts", "monitoring.alerts", WithDeps(deps, Alerts));
}

}  // namespace vg::api
