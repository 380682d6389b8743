#include "services/shadow_runs.h"

#include <algorithm>
#include <set>

#include "core/clock.h"
#include "core/byte_source.h"
#include "crypto/crypto.h"
#include "dicom/nifti.h"
#include "services/overlap.h"
#include "services/segmentations.h"

namespace vg::services {
namespace {

using nlohmann::json;

json Spread(std::vector<double> values) {
  if (values.empty()) return json{{"n", 0}};
  double sum = 0;
  for (double v : values) sum += v;
  return {{"n", values.size()},
          {"mean", sum / static_cast<double>(values.size())},
          {"p05", Percentile(values, 0.05)},
          {"p50", Percentile(values, 0.5)},
          {"p95", Percentile(values, 0.95)},
          {"min", *std::min_element(values.begin(), values.end())},
          {"max", *std::max_element(values.begin(), values.end())}};
}

}  // namespace

json SummariseShadowRuns(const std::vector<storage::ShadowRunRecord>& runs) {
  std::map<int, std::vector<double>> dice, hd95;
  std::map<std::string, std::pair<std::vector<double>, std::vector<double>>> metrics;
  std::vector<double> pinned_ms, shadow_ms;
  std::map<int, std::pair<std::vector<double>, std::vector<double>>> corrected;  // label -> (pinned, shadow) Dice
  int corrections = 0;
  int cases = 0, compared = 0, shadow_failed = 0, pinned_failed = 0, both_failed = 0, pending = 0;
  for (const auto& run : runs) {
    if (run.state == "queued") {
      ++pending;
      continue;
    }
    ++cases;
    const json result = json::parse(run.result_json, nullptr, false);
    if (!result.is_object()) continue;
    const json pinned = result.value("pinned", json::object());
    const bool p_failed = pinned.value("state", "") != "succeeded", s_failed = run.state != "succeeded";
    pinned_failed += p_failed;
    shadow_failed += s_failed;
    both_failed += p_failed && s_failed;
    if (pinned.contains("run_ms") && pinned["run_ms"].is_number()) pinned_ms.push_back(pinned["run_ms"].get<double>());
    if (result.contains("run_ms") && result["run_ms"].is_number()) shadow_ms.push_back(result["run_ms"].get<double>());
    if (result.contains("agreement") && result["agreement"].is_array()) {
      ++compared;
      for (const auto& a : result["agreement"]) {
        const int label = a.value("label", 0);
        if (a.contains("dice") && a["dice"].is_number()) dice[label].push_back(a["dice"].get<double>());
        if (a.contains("hd95_mm") && a["hd95_mm"].is_number()) hd95[label].push_back(a["hd95_mm"].get<double>());
      }
    }
    const json correction = json::parse(run.correction_json, nullptr, false);
    if (correction.is_object() && correction.contains("pinned")) {
      ++corrections;
      for (const char* side : {"pinned", "shadow"})
        for (const auto& a : correction.value(side, json::array()))
          if (a.contains("dice") && a["dice"].is_number())
            (side[0] == 'p' ? corrected[a.value("label", 0)].first : corrected[a.value("label", 0)].second)
                .push_back(a["dice"].get<double>());
    }
    // Metrics side by side: only numbers, each version's own values.
    const json pm = pinned.value("metrics", json::object()), sm = result.value("metrics", json::object());
    for (const auto& [name, value] : pm.items())
      if (value.is_number()) metrics[name].first.push_back(value.get<double>());
    for (const auto& [name, value] : sm.items())
      if (value.is_number()) metrics[name].second.push_back(value.get<double>());
  }
  json labels = json::array();
  std::set<int> all;
  for (const auto& [label, _] : dice) all.insert(label);
  for (const auto& [label, _] : hd95) all.insert(label);
  for (int label : all) labels.push_back({{"label", label}, {"dice", Spread(dice[label])}, {"hd95_mm", Spread(hd95[label])}});
  json correction_view = json::array();
  for (const auto& [label, dice] : corrected)
    correction_view.push_back({{"label", label}, {"pinned_dice", Spread(dice.first)}, {"shadow_dice", Spread(dice.second)}});
  json metric_view = json::object();
  for (const auto& [name, values] : metrics)
    metric_view[name] = {{"pinned", Spread(values.first)}, {"shadow", Spread(values.second)}};
  return {{"cases", cases},
          {"pending", pending},
          {"compared", compared},
          {"failures", {{"pinned", pinned_failed}, {"shadow", shadow_failed}, {"both", both_failed}}},
          {"labels", labels},
          {"corrections", {{"cases", corrections}, {"labels", correction_view}}},
          {"metrics", metric_view},
          {"run_ms", {{"pinned", Spread(pinned_ms)}, {"shadow", Spread(shadow_ms)}}}};
}

Result<void> ShadowRuns::Queue(const ShadowRequest& request, const PinnedOutcome& pinned) {
  storage::ShadowRunRecord record;
  record.tenant_id = request.tenant_id;
  record.pinned_job_id = request.pinned_job_id;
  record.algorithm_id = request.algorithm_id;
  record.pinned_version = request.pinned_version;
  record.shadow_version = request.shadow_version;
  record.series_uid = request.series_uid;
  record.created_at = UnixSeconds();
  if (auto added = store_.AddShadowRun(record); !added) return std::unexpected(added.error());
  auto existing = store_.FindShadowRun(request.tenant_id, request.pinned_job_id);
  if (!existing) return std::unexpected(existing.error());
  if (!*existing) return Fail(ErrorCode::kInternal, "the shadow run vanished as it was made");
  if ((*existing)->shadow_job_id) return {};  // queued by an earlier attempt
  storage::JobRecord job;
  job.tenant_id = request.tenant_id;
  job.kind = "shadow_run";
  job.priority = request.priority - 100;  // after every run a clinician waits for
  job.created_by = "shadow";
  job.max_attempts = 2;
  json pinned_json = {{"state", pinned.state}, {"error", pinned.error}, {"metrics", pinned.metrics}, {"run_ms", pinned.run_ms}};
  if (pinned.segmentation_id) pinned_json["segmentation_id"] = *pinned.segmentation_id;
  job.params = json{{"algorithm", request.algorithm_id},
                    {"version", request.shadow_version},
                    {"pinned_version", request.pinned_version},
                    {"pinned_job_id", request.pinned_job_id},
                    {"series_uid", request.series_uid},
                    {"study_uid", request.study_uid},
                    {"pinned", pinned_json}}
                   .dump();
  auto queued = jobs_.EnqueueJob(job);
  if (!queued) return std::unexpected(queued.error());
  if (auto ok = store_.SetShadowJob(request.tenant_id, request.pinned_job_id, queued->id); !ok) return ok;
  if (job_queued_) job_queued_();
  return {};
}

Result<void> ShadowRuns::Finish(std::int64_t tenant_id, std::int64_t pinned_job_id, const dicom::LabelVolume* labels,
                                const json& result, const std::string& error) {
  auto existing = store_.FindShadowRun(tenant_id, pinned_job_id);
  if (!existing) return std::unexpected(existing.error());
  if (!*existing) return Fail(ErrorCode::kNotFound, "no such shadow run");
  storage::ShadowRunRecord record = **existing;
  if (labels) {
    auto nifti = dicom::NiftiGzBytes(*labels);
    if (!nifti) return std::unexpected(nifti.error());
    const std::string blob = crypto::RandomHexId(16);
    MemorySource source(*nifti);
    if (auto put = archive_.blobs.Put({tenant_id, blob}, source); !put) return std::unexpected(put.error());
    record.labels_blob = blob;
  }
  record.state = labels ? "succeeded" : "failed";
  record.result_json = result.dump();
  record.error = error;
  record.finished_at = UnixSeconds();
  return store_.FinishShadowRun(record);
}

Result<dicom::LabelVolume> ShadowRuns::Labels(const storage::ShadowRunRecord& run) {
  if (run.state != "succeeded" || run.labels_blob.empty()) return Fail(ErrorCode::kNotFound, "the shadow run has no labels");
  auto source = archive_.blobs.Get({run.tenant_id, run.labels_blob});
  if (!source) return std::unexpected(source.error());
  constexpr std::size_t kMaxLabels = std::size_t{1} << 31;
  auto bytes = ReadAll(**source, kMaxLabels);
  if (!bytes) return std::unexpected(bytes.error());
  auto layers = dicom::ReadNiftiLayers(*bytes, static_cast<std::int64_t>(kMaxLabels));
  if (!layers) return std::unexpected(layers.error());
  return dicom::FlattenLayers(*layers);
}

Result<void> ShadowRuns::CompareWithCorrection(std::int64_t tenant_id, std::int64_t pinned_job_id,
                                               std::int64_t correction_id) {
  auto run = store_.FindShadowRun(tenant_id, pinned_job_id);
  if (!run) return std::unexpected(run.error());
  if (!*run || (*run)->state != "succeeded") return {};
  auto correction = segmentations_.Find(tenant_id, correction_id);
  if (!correction) return std::unexpected(correction.error());
  if (!correction->record.parent_id) return Fail(ErrorCode::kInternal, "a correction without its parent");
  auto parent = segmentations_.Find(tenant_id, *correction->record.parent_id);
  if (!parent) return std::unexpected(parent.error());
  auto corrected = segmentations_.Labels(tenant_id, correction->record);
  auto pinned = segmentations_.Labels(tenant_id, parent->record);
  auto shadow = Labels(**run);
  if (!corrected) return std::unexpected(corrected.error());
  if (!pinned) return std::unexpected(pinned.error());
  if (!shadow) return std::unexpected(shadow.error());
  if (corrected->geometry.dims != shadow->geometry.dims || pinned->geometry.dims != shadow->geometry.dims)
    return Fail(ErrorCode::kUnprocessable, "the correction is not on the shadow's grid");
  auto side = [](const std::vector<LabelAgreement>& agreements) {
    json out = json::array();
    for (const auto& a : agreements)
      out.push_back({{"label", a.label}, {"dice", a.dice}, {"hd95_mm", a.hd95_mm ? json(*a.hd95_mm) : json(nullptr)}});
    return out;
  };
  const json comparison = {{"segmentation_id", correction_id},
                           {"author", correction->record.author},
                           {"pinned", side(CompareLabels(*pinned, *corrected))},
                           {"shadow", side(CompareLabels(*shadow, *corrected))}};
  return store_.SetShadowCorrection(tenant_id, pinned_job_id, comparison.dump());
}

Result<void> ShadowRuns::CompareWithLatestCorrection(std::int64_t tenant_id, std::int64_t pinned_job_id) {
  auto feedback = monitoring_.ListFeedback(tenant_id, {pinned_job_id});
  if (!feedback) return std::unexpected(feedback.error());
  std::optional<std::int64_t> latest;
  for (const auto& f : *feedback)
    if (f.verdict == "correct" && f.segmentation_id && (!latest || *f.segmentation_id > *latest)) latest = f.segmentation_id;
  if (!latest) return {};
  return CompareWithCorrection(tenant_id, pinned_job_id, *latest);
}

Result<json> ShadowRuns::Comparison(const storage::ShadowRunFilter& filter, const std::map<std::int64_t, std::string>& slugs) {
  auto runs = store_.ListShadowRuns(filter);
  if (!runs) return std::unexpected(runs.error());
  json cases = json::array();
  for (const auto& run : *runs) {
    json result = json::parse(run.result_json, nullptr, false);
    if (!result.is_object()) result = json::object();
    const json pinned = result.value("pinned", json::object());
    auto slug = slugs.find(run.tenant_id);
    cases.push_back({{"clinic", slug == slugs.end() ? "" : slug->second},
                     {"pinned_job_id", run.pinned_job_id},
                     {"shadow_job_id", run.shadow_job_id ? json(*run.shadow_job_id) : json(nullptr)},
                     {"series_uid", run.series_uid},
                     {"pinned_version", run.pinned_version},
                     {"shadow_version", run.shadow_version},
                     {"state", run.state},
                     {"error", run.error.empty() ? json(nullptr) : json(run.error)},
                     {"pinned", {{"state", pinned.value("state", "")},
                                 {"error", pinned.value("error", "")},
                                 {"metrics", pinned.value("metrics", json::object())},
                                 {"run_ms", pinned.value("run_ms", 0)}}},
                     {"shadow", {{"metrics", result.value("metrics", json::object())}, {"run_ms", result.value("run_ms", 0)}}},
                     {"agreement", result.value("agreement", json::array())},
                     {"correction", [&] {
                        json c = json::parse(run.correction_json, nullptr, false);
                        return c.is_object() && c.contains("pinned") ? c : json(nullptr);
                      }()},
                     {"created_at", run.created_at},
                     {"finished_at", run.finished_at ? json(*run.finished_at) : json(nullptr)}});
  }
  return json{{"algorithm", filter.algorithm_id},
              {"shadow_version", filter.shadow_version},
              {"summary", SummariseShadowRuns(*runs)},
              {"cases", cases}};
}

}  // namespace vg::services
