#include "api/exports/export_routes.h"

#include <nlohmann/json.hpp>

#include "api/json_body.h"
#include "api/query_params.h"
#include "core/strings.h"

namespace vg::api {
namespace {

using nlohmann::json;

http::Response Submit(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto body = ReadJsonObject(r);
  if (!body) return http::ErrorResponse(body.error());
  auto request = services::ParseExportRequest(*body);
  if (!request) return http::ErrorResponse(request.error());
  auto job = deps.exports->Submit(p.tenant_id, *request, p.username);
  if (!job) return http::ErrorResponse(job.error());
  if (deps.jobs_queued) deps.jobs_queued();
  http::Response response = http::JsonResponse(202, JobJson(*job).dump());
  response.Header("Location", "/api/v1/exports/" + std::to_string(job->id));
  response.audit_object = "export=" + std::to_string(job->id) + " format=" + request->format;
  return response;
}

http::Response List(http::Request&, const auth::Principal& p, const ApiDeps& deps) {
  auto jobs = deps.exports->List(p.tenant_id);
  if (!jobs) return http::ErrorResponse(jobs.error());
  json out = json::array();
  for (const auto& j : *jobs) out.push_back(JobJson(j));
  return http::JsonResponse(200, out.dump());
}

http::Response Get(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto id = PathId(r, "id", "no such export");
  if (!id) return http::ErrorResponse(id.error());
  auto job = deps.exports->Find(p.tenant_id, *id);
  if (!job) return http::ErrorResponse(job.error());
  http::Response response = http::JsonResponse(200, JobJson(*job).dump());
  response.Header("Cache-Control", "no-store");
  return response;
}

http::Response Download(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto id = PathId(r, "id", "no such export");
  if (!id) return http::ErrorResponse(id.error());
  auto download = deps.exports->Open(p.tenant_id, *id);
  if (!download) return http::ErrorResponse(download.error());
  http::Response response;
  response.Header("Content-Type", download->media_type);
  response.Header("Content-Disposition", "attachment; filename=\"" + download->filename + "\"");
  response.Header("Cache-Control", "no-store");
  if (download->size > 0) response.stream_length = static_cast<std::uint64_t>(download->size);
  auto source = std::shared_ptr<ByteSource>(std::move(download->source));
  response.stream = [source](http::BodyWriter& out) -> Result<void> {
    std::vector<std::uint8_t> buffer(256 * 1024);
    while (true) {
      auto n = source->Read(buffer);
      if (!n) return std::unexpected(n.error());
      if (*n == 0) return {};
      if (auto ok = out.Write(std::span(buffer.data(), *n)); !ok) return ok;
    }
  };
  response.audit_object = "export=" + r.Param("id") + " downloaded";
  return response;
}

}  // namespace

json JobJson(const storage::JobRecord& job) {
  json result = json::parse(job.result, nullptr, false);
  json params = json::parse(job.params, nullptr, false);
  json out = {{"id", job.id},
              {"kind", job.kind},
              {"state", job.state},
              {"progress", {{"done", job.progress_done}, {"total", job.progress_total}, {"note", job.progress_note}}},
              {"error", job.error.empty() ? json(nullptr) : json(job.error)},
              {"created_by", job.created_by},
              {"created_at", job.created_at},
              {"started_at", job.started_at ? json(*job.started_at) : json(nullptr)},
              {"finished_at", job.finished_at ? json(*job.finished_at) : json(nullptr)},
              {"attempts", job.attempts},
              {"params", params.is_discarded() ? json::object() : params}};
  if (result.is_object()) {
    result.erase("blob");  // where the bundle lies is the server's business
    for (auto& [key, value] : result.items()) out[key] = value;
  }
  return out;
}

void AddExportRoutes(http::Router& router, const ApiDeps& deps) {
  AddGuarded(router, deps, "POST", "/api/v1/exports", "exports_create", "exports.write", WithDeps(deps, Submit));
  AddGuarded(router, deps, "GET", "/api/v1/exports", "exports_list", "exports.read", WithDeps(deps, List));
  AddGuarded(router, deps, "GET", "/api/v1/exports/{id}", "export_get", "exports.read", WithDeps(deps, Get));
  AddGuarded(router, deps, "GET", "/api/v1/exports/{id}/download", "export_download", "exports.read", WithDeps(deps, Download));
}

}  // namespace vg::api
