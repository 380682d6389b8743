#include "services/runs.h"

#include <chrono>
#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "services/queries.h"

namespace vg::services {

Result<storage::JobRecord> Runs::Submit(std::int64_t tenant_id, const RunRequest& request) {
  // The quota's check and the enqueue it allows happen with no other submission of this
  // clinic in between, on any node.
  return jobs_.ForTenantAlone(tenant_id, [&] { return SubmitAlone(tenant_id, request); });
}

Result<storage::JobRecord> Runs::SubmitAlone(std::int64_t tenant_id, const RunRequest& request) {
  auto versions = deployments_.ForRun(tenant_id, request.algorithm, request.series_uid, request.version, UnixSeconds());
  if (!versions) return std::unexpected(versions.error());
  auto algorithm = algorithms_.Resolve(request.algorithm, versions->version);
  if (!algorithm) return std::unexpected(algorithm.error());
  // The subscription (or licence) first: it is the clinic's standing, whatever the series.
  // It is checked again when the run starts.
  if (auto grant = licensing_.CheckRun(tenant_id, algorithm->first.id, UnixSeconds()); !grant)
    return std::unexpected(grant.error());
  storage::SeriesFilter filter;
  filter.series_uids = {request.series_uid};
  auto series = archive_.catalog.SearchSeries(tenant_id, filter);
  if (!series) return std::unexpected(series.error());
  if (series->empty()) return Fail(ErrorCode::kNotFound, "no such series");
  const storage::SeriesRow& row = series->front();
  SeriesFacts facts;
  facts.modality = row.modality;
  facts.slices = row.instance_count;
  if (auto attrs = OpenFor(archive_, tenant_id, "series:" + row.series_uid, row.series_attrs)) {
    auto json = nlohmann::json::parse(*attrs, nullptr, false);
    auto body = JsonValues(json, "00180015");
    if (!body.empty()) facts.body_part = body.front();
  }
  // Multi-frame series hold their slices as frames: the worker counts them.
  if (facts.slices == 1) facts.slices = algorithm->second.input.min_slices;
  if (auto ok = CheckInput(algorithm->second, facts); !ok) return std::unexpected(ok.error());
  storage::JobRecord job;
  job.tenant_id = tenant_id;
  job.kind = "algorithm";
  job.priority = request.priority;
  job.created_by = request.author;
  job.max_attempts = 3;
  job.params = nlohmann::json{{"algorithm", algorithm->first.id},
                              {"version", algorithm->first.version},
                              {"series_uid", row.series_uid},
                              {"study_uid", row.study_uid},
                              {"trigger", request.trigger},
                              {"canary", versions->canary},
                              {"shadow_version", versions->shadow},
                              {"submitted_ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                                   std::chrono::system_clock::now().time_since_epoch())
                                                   .count()}}
                   .dump();
  return jobs_.EnqueueJob(job);
}

Result<storage::JobRecord> Runs::Find(std::int64_t tenant_id, std::int64_t id) {
  auto job = jobs_.FindJob(tenant_id, id);
  if (!job || job->kind != "algorithm") return Fail(ErrorCode::kNotFound, "no such job");
  return job;
}

Result<std::vector<storage::JobRecord>> Runs::List(std::int64_t tenant_id, const storage::JobFilter& filter) {
  storage::JobFilter f = filter;
  f.kind = "algorithm";
  return jobs_.ListJobs(tenant_id, f);
}

}  // namespace vg::services
