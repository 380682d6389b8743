#include "services/evidence_pack.h"

#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/clock.h"
#include "services/bundle_writer.h"

namespace vg::services {
namespace {

using nlohmann::json;

std::string Pretty(const json& j) { return j.dump(1) + "\n"; }

}  // namespace

std::string DefaultSbomPath() {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const auto beside = exe.parent_path() / "sbom.cdx.json";
    if (std::filesystem::exists(beside, ec)) return beside.string();
  }
  return "/usr/share/voxelgate/sbom.cdx.json";
}

Result<std::string> EvidencePack::Build(const EvidenceRequest& request) {
  auto algorithm = algorithms_.Resolve(request.algorithm_id, request.version);
  if (!algorithm) return std::unexpected(algorithm.error());
  const auto& [record, manifest] = *algorithm;
  std::map<std::int64_t, std::string> slugs;
  if (auto tenants = catalog_.ListTenants())
    for (const auto& t : *tenants) slugs[t.id] = t.slug;
  const auto in_period = [&](std::int64_t t) { return t >= request.from && t < request.to; };
  std::map<std::string, std::string> files;

  files["manifest.json"] = Pretty(json::parse(ManifestToJson(manifest)));

  // History: the registration, and every change at the clinics that names this version.
  json history = {{"registered_at", record.created_at}, {"default", record.is_default}, {"enabled", record.enabled},
                  {"events", json::array()}};
  auto events = deployments_.History(request.tenant_id, request.algorithm_id, 100000);
  if (!events) return std::unexpected(events.error());
  for (auto it = events->rbegin(); it != events->rend(); ++it) {
    if (it->from_version != request.version && it->to_version != request.version) continue;
    if (!in_period(it->changed_at)) continue;
    history["events"].push_back(DeploymentEventJson(*it, slugs[it->tenant_id]));
  }
  files["history.json"] = Pretty(history);

  // Acceptance reports (numbers, never pictures).
  auto runs = deployments_.store().ListAcceptanceRuns(request.tenant_id, request.algorithm_id, request.version, 100000);
  if (!runs) return std::unexpected(runs.error());
  json acceptance = json::array();
  for (const auto& run : *runs) {
    if (!in_period(run.created_at)) continue;
    json entry = AcceptanceRunJson(run, /*with_report=*/true);
    entry["clinic"] = slugs[run.tenant_id];
    acceptance.push_back(entry);
  }
  files["acceptance.json"] = Pretty(acceptance);

  // Shadow comparisons: this version in the shadow of the pinned one.
  storage::ShadowRunFilter shadow_filter;
  shadow_filter.algorithm_id = request.algorithm_id;
  shadow_filter.shadow_version = request.version;
  shadow_filter.tenant_id = request.tenant_id;
  shadow_filter.limit = 100000;
  auto shadow = shadow_runs_.Comparison(shadow_filter, slugs);
  if (!shadow) return std::unexpected(shadow.error());
  files["shadow.json"] = Pretty(*shadow);

  // Run statistics and drift, per clinic; failures by reason (the reason alone, never the
  // algorithm's log lines).
  const std::int64_t now = UnixSeconds();
  auto summary = monitoring_.Summary(request.tenant_id, request.algorithm_id, request.version, request.from,
                                     std::min<std::int64_t>(request.to, now + 1), now);
  if (!summary) return std::unexpected(summary.error());
  storage::RunFilter filter;
  filter.tenant_id = request.tenant_id;
  filter.algorithm = request.algorithm_id;
  filter.version = request.version;
  filter.from = request.from;
  filter.to = request.to;
  filter.limit = 100000;
  auto records = monitoring_.RunRecords(filter);
  if (!records) return std::unexpected(records.error());
  std::map<std::string, std::int64_t> reasons;
  std::int64_t total = 0, failed = 0;
  for (auto& r : *records) {
    Monitoring::WithholdRunOutput(r);
    ++total;
    if (r.value("state", "") == "failed") {
      ++failed;
      ++reasons[r["error"].is_string() ? r["error"].get<std::string>().substr(0, 200) : std::string("unknown")];
    }
  }
  json failure_reasons = json::array();
  for (const auto& [reason, count] : reasons) failure_reasons.push_back({{"reason", reason}, {"count", count}});
  files["runs.json"] = Pretty({{"runs", total}, {"failed", failed}, {"failure_reasons", failure_reasons}, {"summary", *summary}});

  // Clinicians' assessments and the corrections' Dice.
  auto assessments = monitoring_.Assessments(filter);
  if (!assessments) return std::unexpected(assessments.error());
  files["assessments.json"] = Pretty(json(*assessments));
  files["assessments.csv"] = Monitoring::AssessmentsCsv(*assessments);

  // Bug reports on runs of this version: their states, not their text.
  auto bugs = monitoring_store_.ListBugReports(request.tenant_id, "");
  if (!bugs) return std::unexpected(bugs.error());
  json bug_list = json::array();
  for (const auto& b : *bugs) {
    if (!b.job_id || !in_period(b.created_at)) continue;
    auto job = jobs_.FindJob(b.tenant_id, *b.job_id);
    if (!job) continue;
    const json params = json::parse(job->params, nullptr, false);
    if (!params.is_object() || params.value("algorithm", "") != request.algorithm_id ||
        params.value("version", "") != request.version)
      continue;
    bug_list.push_back({{"id", b.id}, {"clinic", slugs[b.tenant_id]}, {"job_id", *b.job_id}, {"severity", b.severity},
                        {"status", b.status}, {"created_at", b.created_at}, {"updated_at", b.updated_at}});
  }
  files["bug_reports.json"] = Pretty(bug_list);

  // The software bill of materials of this server's build.
  std::ifstream sbom(request.sbom_path, std::ios::binary);
  if (sbom) {
    std::stringstream text;
    text << sbom.rdbuf();
    files["sbom.cdx.json"] = text.str();
  }

  json index = {{"algorithm", request.algorithm_id},
                {"version", request.version},
                {"clinic", request.tenant_id ? json(slugs[*request.tenant_id]) : json("all")},
                {"from", request.from},
                {"to", request.to == INT64_MAX ? json(nullptr) : json(request.to)},
                {"made_at", now},
                {"sbom", sbom ? json("sbom.cdx.json") : json("not found at " + request.sbom_path)},
                {"files", json::array()}};
  for (const auto& [name, _] : files) index["files"].push_back(name);
  files["index.json"] = Pretty(index);

  std::string zip;
  auto writer = BundleWriter::Open(BundleFormat::kZip, [&zip](std::string_view chunk) {
    zip.append(chunk);
    return true;
  });
  if (!writer) return std::unexpected(writer.error());
  const std::string folder = fmt::format("evidence-{}-{}/", request.algorithm_id, request.version);
  for (const auto& [name, bytes] : files)
    if (auto ok = (*writer)->Add(folder + name, bytes); !ok) return std::unexpected(ok.error());
  if (auto ok = (*writer)->Finish(); !ok) return std::unexpected(ok.error());
  return zip;
}

}  // namespace vg::services
