#include "services/monitoring.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>

#include "core/clock.h"
#include "crypto/crypto.h"
#include "services/overlap.h"

namespace vg::services {
namespace {

using nlohmann::json;
constexpr std::int64_t kDay = 86400;

template <typename Array>
bool OneOf(const Array& list, std::string_view value) {
  return std::any_of(std::begin(list), std::end(list), [&](const char* v) { return value == v; });
}

std::string Day(std::int64_t t) {
  using namespace std::chrono;
  year_month_day ymd{floor<days>(sys_seconds{seconds{t}})};
  return fmt::format("{:04d}-{:02d}-{:02d}", static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                     static_cast<unsigned>(ymd.day()));
}

std::string BugContext(std::int64_t report) { return "bug-report:" + std::to_string(report); }
std::string FeedbackContext(std::int64_t job) { return "feedback:" + std::to_string(job); }

// A failure's message without its variable parts, to count reasons together.
std::string FailureKind(const std::string& error) {
  std::string kind = error.substr(0, error.find(':'));
  if (kind.size() > 80) kind = kind.substr(0, 80);
  return kind.empty() ? "unknown" : kind;
}

double TotalMs(const json& result) {
  double total = 0;
  if (result.contains("timings_ms") && result["timings_ms"].is_object())
    for (const auto& [stage, ms] : result["timings_ms"].items())
      if (stage != "queued" && ms.is_number()) total += ms.get<double>();
  return total;
}

json Distribution(const std::vector<double>& values) {
  if (values.empty()) return json{{"n", 0}};
  const double lo = *std::min_element(values.begin(), values.end());
  const double hi = *std::max_element(values.begin(), values.end());
  double sum = 0;
  for (double v : values) sum += v;
  std::vector<int> bins(10, 0);
  for (double v : values) {
    const int b = hi > lo ? std::min(9, static_cast<int>((v - lo) / (hi - lo) * 10)) : 0;
    ++bins[b];
  }
  return {{"n", values.size()}, {"mean", sum / values.size()}, {"p50", Percentile(values, 0.5)},
          {"min", lo},          {"max", hi},                   {"histogram", bins}};
}

}  // namespace

RunSample SampleOf(const storage::JobRecord& run) {
  RunSample sample;
  sample.created_at = run.created_at;
  sample.succeeded = run.state == "succeeded";
  if (!sample.succeeded) return sample;
  const json result = json::parse(run.result, nullptr, false);
  if (!result.is_object()) return sample;
  sample.duration_ms = TotalMs(result);
  if (result.contains("metrics") && result["metrics"].is_object())
    for (const auto& [name, value] : result["metrics"].items())
      if (value.is_number()) sample.metrics[name] = value.get<double>();
  return sample;
}

DriftResult DetectDrift(const std::vector<const RunSample*>& runs, std::int64_t now) {
  // Each numeric output metric of the last 7 days against the version's first 30.
  std::int64_t first = INT64_MAX;
  for (const auto* r : runs) first = std::min(first, r->created_at);
  std::map<std::string, std::pair<std::vector<double>, std::vector<double>>> samples;
  for (const auto* r : runs) {
    if (!r->succeeded) continue;
    const bool baseline = r->created_at < first + 30 * kDay;
    const bool recent = r->created_at >= now - 7 * kDay;
    for (const auto& [name, value] : r->metrics) {
      if (baseline) samples[name].first.push_back(value);
      else if (recent) samples[name].second.push_back(value);
    }
  }
  DriftResult out;
  out.per_metric = json::object();
  for (const auto& [name, pair] : samples) {
    if (pair.first.size() < kMinDriftSample || pair.second.size() < kMinDriftSample) {
      out.per_metric[name] = {{"baseline_n", pair.first.size()}, {"recent_n", pair.second.size()}, {"flag", false},
                              {"note", "too few runs to compare"}};
      continue;
    }
    auto ks = KolmogorovSmirnov(pair.first, pair.second);
    const bool flag = ks.p_value < 0.01;
    out.flagged |= flag;
    out.per_metric[name] = {{"ks", ks.statistic}, {"p", ks.p_value}, {"flag", flag},
                            {"baseline_n", pair.first.size()}, {"recent_n", pair.second.size()}};
  }
  return out;
}

// ---- feedback ----

Result<storage::FeedbackRecord> Monitoring::Verdict(std::int64_t tenant_id, std::int64_t job_id, const std::string& verdict,
                                                    const std::string& reason, const std::string& comment,
                                                    const std::string& author) {
  if (verdict != "accept" && verdict != "reject")
    return Fail(ErrorCode::kInvalidArgument, "verdict is accept or reject (a correction is a new segmentation version)");
  if (verdict == "reject" && !OneOf(kRejectReasons, reason))
    return Fail(ErrorCode::kInvalidArgument,
                "a rejection names its reason: missed_structure, wrong_structure, boundary_error, wrong_side, "
                "artefact, image_unsuitable or other");
  if (comment.size() > 2000) return Fail(ErrorCode::kInvalidArgument, "a comment is at most 2000 characters");
  auto job = jobs_.FindJob(tenant_id, job_id);
  if (!job || job->kind != "algorithm") return Fail(ErrorCode::kNotFound, "no such result");
  if (job->state != "succeeded") return Fail(ErrorCode::kConflict, "only a finished result takes feedback");
  storage::FeedbackRecord record;
  record.tenant_id = tenant_id;
  record.job_id = job_id;
  record.verdict = verdict;
  record.reason = verdict == "reject" ? reason : "";
  record.author = author;
  if (!comment.empty()) {
    auto sealed = SealFor(archive_, tenant_id, FeedbackContext(job_id), comment);
    if (!sealed) return std::unexpected(sealed.error());
    record.comment_sealed = std::move(*sealed);
  }
  return store_.AddFeedback(record);
}

void Monitoring::OnVersionCreated(std::int64_t tenant_id, const storage::SegmentationRecord& version) {
  if (!version.parent_id || version.source == "algorithm") return;
  auto parent = annotations_.FindSegmentation(tenant_id, *version.parent_id);
  if (!parent || !parent->job_id) return;
  storage::JobRecord job;
  job.tenant_id = tenant_id;
  job.kind = "correction";
  job.created_by = version.author;
  job.params = json{{"job_id", *parent->job_id}, {"parent_id", parent->id}, {"child_id", version.id}}.dump();
  if (jobs_.EnqueueJob(job) && job_queued_) job_queued_();
}

Result<std::string> Monitoring::RecordCorrection(std::int64_t tenant_id, const json& params) {
  if (!params.is_object()) return Fail(ErrorCode::kInternal, "the correction job's parameters are unreadable");
  const std::int64_t job_id = params.value("job_id", std::int64_t{0});
  auto parent = annotations_.FindSegmentation(tenant_id, params.value("parent_id", std::int64_t{0}));
  auto child = annotations_.FindSegmentation(tenant_id, params.value("child_id", std::int64_t{0}));
  if (!parent || !child) return Fail(ErrorCode::kNotFound, "the corrected versions are gone");
  auto a = segmentations_.Labels(tenant_id, *parent);
  auto b = segmentations_.Labels(tenant_id, *child);
  if (!a) return std::unexpected(a.error());
  if (!b) return std::unexpected(b.error());
  if (a->geometry.dims != b->geometry.dims) return Fail(ErrorCode::kUnprocessable, "the versions are on different grids");
  // Names per label from the algorithm's version (its segments define what is compared).
  std::map<int, std::string> names;
  for (const auto& s : SegmentsFromJson(parent->segments_json)) names[s.label] = s.name;
  json metrics = json::array();
  for (const auto& agreement : CompareLabels(*a, *b)) {
    metrics.push_back({{"label", agreement.label},
                       {"name", names.count(agreement.label) ? names[agreement.label] : ""},
                       {"dice", agreement.dice},
                       {"volume_algorithm_ml", agreement.volume_a_ml},
                       {"volume_corrected_ml", agreement.volume_b_ml},
                       {"volume_difference_ml", agreement.volume_difference_ml},
                       {"hd95_mm", agreement.hd95_mm ? json(*agreement.hd95_mm) : json(nullptr)}});
  }
  storage::FeedbackRecord record;
  record.tenant_id = tenant_id;
  record.job_id = job_id;
  record.verdict = "correct";
  record.author = child->author;
  record.segmentation_id = child->id;
  record.metrics = metrics.dump();
  auto added = store_.AddFeedback(record);
  if (!added) return std::unexpected(added.error());
  if (on_correction_) on_correction_(tenant_id, job_id, child->id);
  return json{{"feedback_id", added->id}, {"metrics", metrics}}.dump();
}

json Monitoring::FeedbackJson(std::int64_t tenant_id, const storage::FeedbackRecord& f) {
  json out = {{"id", f.id},         {"job_id", f.job_id}, {"verdict", f.verdict},    {"reason", f.reason},
              {"author", f.author}, {"created_at", f.created_at},
              {"segmentation_id", f.segmentation_id ? json(*f.segmentation_id) : json(nullptr)},
              {"metrics", json::parse(f.metrics, nullptr, false)}};
  if (!f.comment_sealed.empty())
    if (auto text = OpenFor(archive_, tenant_id, FeedbackContext(f.job_id), f.comment_sealed)) out["comment"] = *text;
  return out;
}

Result<std::vector<json>> Monitoring::FeedbackFor(std::int64_t tenant_id, std::int64_t job_id) {
  auto list = store_.ListFeedback(tenant_id, {job_id});
  if (!list) return std::unexpected(list.error());
  std::vector<json> out;
  for (const auto& f : *list) out.push_back(FeedbackJson(tenant_id, f));
  return out;
}

void Monitoring::WithholdRunOutput(json& run) {
  constexpr const char* kWithheld = "withheld: the clinic does not share cases with the vendor";
  if (run.contains("log_tail")) run["log_tail"] = kWithheld;
  if (run.contains("result") && run["result"].is_object() && run["result"].contains("log_tail"))
    run["result"]["log_tail"] = kWithheld;
  if (run.contains("error") && run["error"].is_string()) {
    // "the algorithm exited with status 1: <its last lines>": the reason stays.
    std::string error = run["error"].get<std::string>();
    if (error.starts_with("the algorithm ")) {
      const auto colon = error.find(": ");
      if (colon != std::string::npos) error = error.substr(0, colon) + " (its output is " + kWithheld + ")";
    }
    run["error"] = error.substr(0, 500);
  }
}

Result<std::vector<json>> Monitoring::RunRecords(const storage::RunFilter& filter) {
  auto runs = store_.ListRuns(filter);
  if (!runs) return std::unexpected(runs.error());
  std::vector<std::int64_t> ids;
  for (const auto& r : *runs) ids.push_back(r.id);
  auto feedback = ids.empty() ? Result<std::vector<storage::FeedbackRecord>>{} : store_.ListFeedback(filter.tenant_id, ids);
  if (!feedback) return std::unexpected(feedback.error());
  std::map<std::int64_t, std::vector<json>> by_job;
  for (const auto& f : *feedback) by_job[f.job_id].push_back(FeedbackJson(f.tenant_id, f));
  std::map<std::int64_t, std::string> slugs;
  std::vector<json> out;
  for (const auto& r : *runs) {
    json params = json::parse(r.params, nullptr, false), result = json::parse(r.result, nullptr, false);
    if (!params.is_object()) params = json::object();
    if (!result.is_object()) result = json::object();
    if (!slugs.count(r.tenant_id)) {
      auto tenant = archive_.catalog.FindTenantById(r.tenant_id);
      slugs[r.tenant_id] = tenant ? tenant->slug : "";
    }
    json record = {{"id", r.id},
                   {"tenant", slugs[r.tenant_id]},
                   {"algorithm", params.value("algorithm", "")},
                   {"version", params.value("version", "")},
                   {"series_uid", params.value("series_uid", "")},
                   {"state", r.state},
                   {"error", r.error.empty() ? json(nullptr) : json(r.error)},
                   {"created_by", r.created_by},
                   {"created_at", r.created_at},
                   {"started_at", r.started_at ? json(*r.started_at) : json(nullptr)},
                   {"finished_at", r.finished_at ? json(*r.finished_at) : json(nullptr)},
                   {"attempts", r.attempts},
                   {"worker", result.value("worker", r.lease_owner)},
                   {"input", result.value("input", json::object())},
                   {"timings_ms", result.value("timings_ms", json::object())},
                   {"duration_ms", TotalMs(result)},
                   {"metrics", result.value("metrics", json::object())},
                   {"warnings", result.value("warnings", json::array())},
                   {"log_tail", result.value("log_tail", "")},
                   {"segmentation_id", result.value("segmentation_id", json(nullptr))},
                   {"segments", json::array()},
                   {"feedback", by_job.count(r.id) ? json(by_job[r.id]) : json::array()}};
    if (result.contains("segmentation_id") && result["segmentation_id"].is_number_integer())
      if (auto seg = annotations_.FindSegmentation(r.tenant_id, result["segmentation_id"].get<std::int64_t>()))
        for (const auto& segment : SegmentsFromJson(seg->segments_json))
          record["segments"].push_back({{"label", segment.label}, {"name", segment.name}});
    out.push_back(std::move(record));
  }
  return out;
}

// ---- bug reports ----

Result<storage::BugReportRecord> Monitoring::FileBug(std::int64_t tenant_id, const BugReportInput& in,
                                                     const std::string& reporter) {
  if (!OneOf(kBugSeverities, in.severity)) return Fail(ErrorCode::kInvalidArgument, "severity is low, medium, high or critical");
  if (in.description.empty() || in.description.size() > 10000)
    return Fail(ErrorCode::kInvalidArgument, "a description is 1 to 10000 characters");
  if (in.steps.size() > 10000 || in.browser.size() > 512 || in.app_version.size() > 64)
    return Fail(ErrorCode::kInvalidArgument, "steps, browser or app version is too long");
  if (in.job_id) {
    auto job = jobs_.FindJob(tenant_id, *in.job_id);
    if (!job || job->kind != "algorithm") return Fail(ErrorCode::kNotFound, "no such run to attach");
  }
  storage::BugReportRecord record;
  record.tenant_id = tenant_id;
  record.job_id = in.job_id;
  record.reporter = reporter;
  record.severity = in.severity;
  record.browser = in.browser;
  record.app_version = in.app_version;
  if (!in.screenshot_png.empty()) {
    if (in.screenshot_png.size() > (8u << 20) || in.screenshot_png.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0)
      return Fail(ErrorCode::kInvalidArgument, "the screenshot is a PNG of at most 8 MiB");
    record.screenshot_blob = crypto::RandomHexId(16);
    MemorySource png(in.screenshot_png);
    if (auto ok = archive_.blobs.Put({tenant_id, record.screenshot_blob}, png); !ok) return std::unexpected(ok.error());
  }
  const std::string body = json{{"description", in.description}, {"steps", in.steps}}.dump();
  return store_.AddBugReport(record, [&](std::int64_t id) { return SealFor(archive_, tenant_id, BugContext(id), body); });
}

Result<json> Monitoring::BugJson(std::optional<std::int64_t> tenant_id, std::int64_t id) {
  auto report = store_.FindBugReport(tenant_id, id);
  if (!report) return std::unexpected(report.error());
  auto comments = store_.ListBugComments(id);
  if (!comments) return std::unexpected(comments.error());
  auto tenant = archive_.catalog.FindTenantById(report->tenant_id);
  json out = {{"id", report->id},
              {"tenant", tenant ? tenant->slug : ""},
              {"job_id", report->job_id ? json(*report->job_id) : json(nullptr)},
              {"reporter", report->reporter},
              {"severity", report->severity},
              {"status", report->status},
              {"browser", report->browser},
              {"app_version", report->app_version},
              {"has_screenshot", !report->screenshot_blob.empty()},
              {"created_at", report->created_at},
              {"updated_at", report->updated_at},
              {"comments", json::array()}};
  auto body_text = OpenFor(archive_, report->tenant_id, BugContext(id), report->body_sealed);
  if (!body_text) return std::unexpected(body_text.error());
  const json body = json::parse(*body_text, nullptr, false);
  out["description"] = body.is_object() ? body.value("description", "") : "";
  out["steps"] = body.is_object() ? body.value("steps", "") : "";
  for (const auto& c : *comments) {
    auto text = OpenFor(archive_, report->tenant_id, BugContext(id), c.body_sealed);
    if (!text) return std::unexpected(text.error());
    out["comments"].push_back({{"author", c.author}, {"from", c.author_kind}, {"text", *text}, {"created_at", c.created_at}});
  }
  return out;
}

Result<std::vector<json>> Monitoring::ListBugs(std::optional<std::int64_t> tenant_id, const std::string& status) {
  auto reports = store_.ListBugReports(tenant_id, status);
  if (!reports) return std::unexpected(reports.error());
  std::vector<json> out;
  for (const auto& r : *reports) {
    auto full = BugJson(tenant_id, r.id);
    if (!full) return std::unexpected(full.error());
    full->erase("comments");
    out.push_back(std::move(*full));
  }
  return out;
}

Result<void> Monitoring::SetBugStatus(std::int64_t id, const std::string& status) {
  if (!OneOf(kBugStatuses, status))
    return Fail(ErrorCode::kInvalidArgument, "status is new, triaged, in_progress, fixed or wont_fix");
  return store_.SetBugStatus(id, status);
}

Result<void> Monitoring::CommentBug(std::optional<std::int64_t> tenant_id, std::int64_t id, const std::string& text,
                                    const std::string& author) {
  if (text.empty() || text.size() > 10000) return Fail(ErrorCode::kInvalidArgument, "a comment is 1 to 10000 characters");
  auto report = store_.FindBugReport(tenant_id, id);
  if (!report) return std::unexpected(report.error());
  auto sealed = SealFor(archive_, report->tenant_id, BugContext(id), text);
  if (!sealed) return std::unexpected(sealed.error());
  storage::BugCommentRecord comment;
  comment.report_id = id;
  comment.tenant_id = report->tenant_id;
  comment.author = author;
  comment.author_kind = tenant_id ? "clinic" : "vendor";
  comment.body_sealed = std::move(*sealed);
  if (auto ok = store_.AddBugComment(comment); !ok) return std::unexpected(ok.error());
  return {};
}

Result<std::string> Monitoring::BugScreenshot(std::optional<std::int64_t> tenant_id, std::int64_t id) {
  auto report = store_.FindBugReport(tenant_id, id);
  if (!report) return std::unexpected(report.error());
  if (report->screenshot_blob.empty()) return Fail(ErrorCode::kNotFound, "the report has no screenshot");
  auto source = archive_.blobs.Get({report->tenant_id, report->screenshot_blob});
  if (!source) return std::unexpected(source.error());
  return ReadAll(**source, 8u << 20);
}

Result<bool> Monitoring::VendorMaySeePixels(std::int64_t tenant_id, std::optional<std::int64_t> job_id,
                                            std::int64_t now) {
  auto settings = annotations_.GetSettings(tenant_id);
  if (!settings) return std::unexpected(settings.error());
  if (settings->share_cases_with_vendor) return true;
  std::string study_uid;
  if (job_id) {
    auto job = jobs_.FindJob(tenant_id, *job_id);
    if (!job) return std::unexpected(job.error());
    json result = json::parse(job->result, nullptr, false);
    if (result.is_object() && result.contains("input") && result["input"].is_object())
      study_uid = result["input"].value("study_uid", "");
    if (study_uid.empty())
      if (auto version = annotations_.FindSegmentationByJob(tenant_id, job->id); version && *version)
        study_uid = (*version)->study_uid;
  }
  auto grants = archive_.catalog.ListGrants(tenant_id);
  if (!grants) return std::unexpected(grants.error());
  for (const auto& g : *grants)
    if (g.ActiveAt(now) && (!g.study_uid || (!study_uid.empty() && *g.study_uid == study_uid))) return true;
  return false;
}

Result<void> Monitoring::WriteBundle(std::int64_t id, bool pixels_allowed, const BundleWriter::Sink& sink) {
  auto report = BugJson(std::nullopt, id);
  if (!report) return std::unexpected(report.error());
  auto record = store_.FindBugReport(std::nullopt, id);
  if (!record) return std::unexpected(record.error());
  auto writer = BundleWriter::Open(BundleFormat::kZip, sink);
  if (!writer) return std::unexpected(writer.error());
  const std::string root = fmt::format("bug-{}/", id);
  json readme = {{"report", id}, {"pixels_included", false}};
  if (auto ok = (*writer)->Add(root + "report.json", report->dump(2)); !ok) return ok;
  if (record->job_id) {
    const std::int64_t tenant = record->tenant_id;
    auto job = jobs_.FindJob(tenant, *record->job_id);
    if (!job) return std::unexpected(job.error());
    json params = json::parse(job->params, nullptr, false), result = json::parse(job->result, nullptr, false);
    json run = {{"id", job->id},       {"state", job->state},   {"error", job->error}, {"params", params},
                {"result", result},    {"attempts", job->attempts}, {"created_at", job->created_at},
                {"started_at", job->started_at ? json(*job->started_at) : json(nullptr)},
                {"finished_at", job->finished_at ? json(*job->finished_at) : json(nullptr)}};
    if (!pixels_allowed) WithholdRunOutput(run);
    if (auto ok = (*writer)->Add(root + "run.json", run.dump(2)); !ok) return ok;
    const std::string log = !pixels_allowed ? std::string("withheld: the clinic does not share cases with the vendor\n")
                            : result.is_object() ? result.value("log_tail", "")
                                                 : "";
    if (auto ok = (*writer)->Add(root + "log.txt", log); !ok) return ok;
    auto algorithm = algorithms_.store().FindAlgorithm(params.value("algorithm", ""), params.value("version", ""));
    if (algorithm)
      if (auto ok = (*writer)->Add(root + "manifest.json", json::parse(algorithm->manifest_json).dump(2)); !ok) return ok;
    auto feedback = store_.ListFeedback(tenant, {job->id});
    if (feedback) {
      json list = json::array();
      for (const auto& f : *feedback) list.push_back(FeedbackJson(tenant, f));
      if (auto ok = (*writer)->Add(root + "feedback.json", list.dump(2)); !ok) return ok;
    }
    if (pixels_allowed && job->state == "succeeded") {
      // Pixels in NIfTI only: no patient name, ID or date travels with them.
      auto version = annotations_.FindSegmentationByJob(tenant, job->id);
      if (version && *version) {
        auto labels = segmentations_.LabelsNifti(tenant, **version);
        if (labels)
          if (auto ok = (*writer)->Add(root + "outputs/labels.nii.gz", *labels); !ok) return ok;
      }
      auto source = volumes_.Assemble(tenant, params.value("series_uid", ""));
      if (source) {
        std::string image;
        auto written = dicom::WriteNiftiGz(source->volume, [&](std::string_view c) -> Result<void> {
          image.append(c);
          return {};
        });
        if (written)
          if (auto ok = (*writer)->Add(root + "inputs/image.nii.gz", image); !ok) return ok;
      }
      readme["pixels_included"] = true;
    }
  }
  readme["note"] = readme["pixels_included"].get<bool>()
                       ? "inputs and outputs as NIfTI (no patient identifiers); the clinic shares its cases"
                       : "no image data: the clinic has not agreed to share cases with the vendor, and no support grant "
                         "covers this study";
  if (auto ok = (*writer)->Add(root + "README.json", readme.dump(2)); !ok) return ok;
  return (*writer)->Finish();
}

// ---- dashboard ----

Result<json> Monitoring::Summary(std::optional<std::int64_t> tenant_id, const std::string& algorithm,
                                 const std::string& version, std::int64_t from, std::int64_t to, std::int64_t now) {
  storage::RunFilter filter;
  filter.tenant_id = tenant_id;
  filter.algorithm = algorithm;
  filter.version = version;
  // All of each version's runs: the drift baseline is its first 30 days, whatever the range.
  filter.from = 0;
  filter.to = INT64_MAX;
  auto runs = store_.ListRuns(filter);
  if (!runs) return std::unexpected(runs.error());
  std::vector<std::int64_t> ids;
  for (const auto& r : *runs) ids.push_back(r.id);
  auto feedback = store_.ListFeedback(tenant_id, ids);
  if (!feedback) return std::unexpected(feedback.error());
  std::map<std::int64_t, std::vector<const storage::FeedbackRecord*>> by_job;
  for (const auto& f : *feedback) by_job[f.job_id].push_back(&f);
  auto bugs = store_.ListBugReports(tenant_id, "");
  if (!bugs) return std::unexpected(bugs.error());

  // Each run's parameters and result are read once, here.
  std::vector<RunSample> samples;
  samples.reserve(runs->size());
  for (const auto& r : *runs) samples.push_back(SampleOf(r));
  struct Group {
    std::string algorithm, version;
    std::int64_t tenant_id = 0;
    std::vector<const RunSample*> all;
    std::vector<size_t> in_range;  // indexes into runs and samples
  };
  std::map<std::tuple<std::string, std::string, std::int64_t>, Group> groups;
  for (size_t i = 0; i < runs->size(); ++i) {
    const auto& r = (*runs)[i];
    json p = json::parse(r.params, nullptr, false);
    const std::string a = p.is_object() ? p.value("algorithm", "") : "", v = p.is_object() ? p.value("version", "") : "";
    Group& g = groups[{a, v, r.tenant_id}];
    g.algorithm = a;
    g.version = v;
    g.tenant_id = r.tenant_id;
    g.all.push_back(&samples[i]);
    if (r.created_at >= from && r.created_at < to) g.in_range.push_back(i);
  }
  json out = {{"from", from}, {"to", to}, {"groups", json::array()}};
  for (auto& [key, g] : groups) {
    json entry = {{"algorithm", g.algorithm}, {"version", g.version}};
    auto tenant = archive_.catalog.FindTenantById(g.tenant_id);
    entry["tenant"] = tenant ? tenant->slug : "";
    std::map<std::string, int> per_day, failures;
    std::map<std::string, int> verdicts{{"accept", 0}, {"reject", 0}, {"correct", 0}};
    std::vector<double> durations, dice;
    std::map<std::string, std::vector<double>> metric_values;
    std::int64_t failed = 0, finished = 0;
    std::set<std::int64_t> job_ids;
    for (size_t i : g.in_range) {
      const storage::JobRecord* r = &(*runs)[i];
      const RunSample& sample = samples[i];
      job_ids.insert(r->id);
      ++per_day[Day(r->created_at)];
      if (r->state == "failed") {
        ++failed;
        ++failures[FailureKind(r->error)];
      }
      if (r->state == "succeeded" || r->state == "failed") ++finished;
      if (sample.succeeded) {
        durations.push_back(sample.duration_ms);
        for (const auto& [name, value] : sample.metrics) metric_values[name].push_back(value);
      }
      for (const auto* f : by_job[r->id]) {
        ++verdicts[f->verdict];
        if (f->verdict == "correct")
          for (const auto& m : json::parse(f->metrics, nullptr, false))
            if (m.contains("dice") && m["dice"].is_number()) dice.push_back(m["dice"].get<double>());
      }
    }
    entry["runs"] = g.in_range.size();
    entry["failed"] = failed;
    entry["finished"] = finished;
    entry["failure_rate"] = finished ? static_cast<double>(failed) / finished : 0.0;
    json top = json::array();
    std::vector<std::pair<int, std::string>> ranked;
    for (const auto& [reason, n] : failures) ranked.emplace_back(n, reason);
    std::sort(ranked.rbegin(), ranked.rend());
    for (size_t i = 0; i < ranked.size() && i < 5; ++i) top.push_back({{"reason", ranked[i].second}, {"count", ranked[i].first}});
    entry["top_failures"] = top;
    entry["runs_per_day"] = per_day;
    entry["p50_ms"] = Percentile(durations, 0.5);
    entry["p95_ms"] = Percentile(durations, 0.95);
    entry["feedback"] = verdicts;
    const int judged = verdicts["accept"] + verdicts["reject"] + verdicts["correct"];
    entry["acceptance_rate"] = judged ? json(static_cast<double>(verdicts["accept"]) / judged) : json(nullptr);
    if (dice.empty()) entry["mean_dice"] = nullptr;
    else {
      double sum = 0;
      for (double d : dice) sum += d;
      entry["mean_dice"] = sum / dice.size();
    }
    json distributions = json::object();
    for (const auto& [name, values] : metric_values) distributions[name] = Distribution(values);
    entry["metrics"] = distributions;
    auto drift = DetectDrift(g.all, now);
    entry["drift"] = drift.per_metric;
    entry["drift_flag"] = drift.flagged;
    int open = 0;
    for (const auto& b : *bugs)
      if (b.tenant_id == g.tenant_id && b.status != "fixed" && b.status != "wont_fix" &&
          (!b.job_id || job_ids.count(*b.job_id)))
        ++open;
    entry["open_bug_reports"] = open;
    out["groups"].push_back(std::move(entry));
  }
  return out;
}

Result<std::string> Monitoring::RenderMetrics(bool tenant_labels) {
  static const std::vector<double> kBounds = {0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600};
  auto rows = store_.RunStats(kBounds);
  if (!rows) return std::unexpected(rows.error());
  auto escape = [](const std::string& v) {
    std::string out;
    for (char c : v) {
      if (c == '\\' || c == '"') out += '\\';
      if (c == '\n') { out += "\\n"; continue; }
      out += c;
    }
    return out;
  };
  std::map<std::int64_t, std::string> slugs;
  auto slug = [&](std::int64_t id) -> const std::string& {
    auto it = slugs.find(id);
    if (it != slugs.end()) return it->second;
    auto tenant = archive_.catalog.FindTenantById(id);
    return slugs[id] = tenant ? tenant->slug : std::to_string(id);
  };
  struct Totals {
    std::int64_t count = 0;
    double sum = 0;
    std::vector<std::int64_t> at_most;
  };
  std::map<std::string, std::int64_t> runs;  // label set -> count
  std::map<std::string, Totals> durations;   // label set -> histogram
  for (const auto& r : *rows) {
    std::string labels = fmt::format(R"(algorithm="{}",version="{}")", escape(r.algorithm), escape(r.version));
    if (tenant_labels) labels += fmt::format(R"(,tenant="{}")", escape(slug(r.tenant_id)));
    runs[labels + fmt::format(R"(,status="{}")", r.state)] += r.count;
    Totals& t = durations[labels];
    if (t.at_most.empty()) t.at_most.assign(kBounds.size(), 0);
    t.count += r.count;
    t.sum += r.seconds_sum;
    for (size_t i = 0; i < kBounds.size(); ++i) t.at_most[i] += r.at_most[i];
  }
  std::string out;
  out += "# HELP voxelgate_jobs_total Finished algorithm runs by algorithm, version and outcome.\n";
  out += "# TYPE voxelgate_jobs_total counter\n";
  for (const auto& [labels, n] : runs) out += fmt::format("voxelgate_jobs_total{{{}}} {}\n", labels, n);
  out += "# HELP voxelgate_job_duration_seconds How long finished algorithm runs took (fetch, convert, run, store).\n";
  out += "# TYPE voxelgate_job_duration_seconds histogram\n";
  for (const auto& [labels, t] : durations) {
    for (size_t i = 0; i < kBounds.size(); ++i)
      out += fmt::format("voxelgate_job_duration_seconds_bucket{{{},le=\"{}\"}} {}\n", labels, kBounds[i], t.at_most[i]);
    out += fmt::format("voxelgate_job_duration_seconds_bucket{{{},le=\"+Inf\"}} {}\n", labels, t.count);
    out += fmt::format("voxelgate_job_duration_seconds_sum{{{}}} {}\n", labels, t.sum);
    out += fmt::format("voxelgate_job_duration_seconds_count{{{}}} {}\n", labels, t.count);
  }
  auto queue = store_.QueueState();
  if (!queue) return std::unexpected(queue.error());
  out += "# HELP voxelgate_job_queue_depth Jobs waiting for a worker.\n# TYPE voxelgate_job_queue_depth gauge\n";
  out += fmt::format("voxelgate_job_queue_depth {}\n", queue->first);
  auto feedback = store_.FeedbackCounts();
  if (!feedback) return std::unexpected(feedback.error());
  out += "# HELP voxelgate_feedback_total Clinicians' feedback on results by verdict.\n";
  out += "# TYPE voxelgate_feedback_total counter\n";
  std::map<std::string, std::int64_t> verdicts{{"accept", 0}, {"reject", 0}, {"correct", 0}};
  for (const auto& [verdict, n] : *feedback) verdicts[verdict] = n;
  for (const auto& [verdict, n] : verdicts) out += fmt::format("voxelgate_feedback_total{{verdict=\"{}\"}} {}\n", verdict, n);
  return out;
}

Result<std::vector<json>> Monitoring::Assessments(const storage::RunFilter& filter) {
  auto runs = store_.ListRuns(filter);
  if (!runs) return std::unexpected(runs.error());
  std::map<std::int64_t, const storage::JobRecord*> by_id;
  std::vector<std::int64_t> ids;
  for (const auto& r : *runs) {
    by_id[r.id] = &r;
    ids.push_back(r.id);
  }
  auto feedback = ids.empty() ? Result<std::vector<storage::FeedbackRecord>>{} : store_.ListFeedback(filter.tenant_id, ids);
  if (!feedback) return std::unexpected(feedback.error());
  std::map<std::int64_t, std::string> slugs;
  std::vector<json> rows;
  for (const auto& f : *feedback) {
    auto run = by_id.find(f.job_id);
    if (run == by_id.end()) continue;
    const storage::JobRecord& job = *run->second;
    const json params = json::parse(job.params, nullptr, false);
    if (!slugs.count(job.tenant_id)) {
      auto tenant = archive_.catalog.FindTenantById(job.tenant_id);
      slugs[job.tenant_id] = tenant ? tenant->slug : "";
    }
    json dice = json::array();
    double sum = 0;
    int n = 0;
    const json metrics = json::parse(f.metrics, nullptr, false);
    if (metrics.is_array())
      for (const auto& m : metrics)
        if (m.contains("dice") && m["dice"].is_number()) {
          dice.push_back({{"label", m.value("label", 0)}, {"name", m.value("name", "")}, {"dice", m["dice"]}});
          sum += m["dice"].get<double>();
          ++n;
        }
    const std::optional<std::int64_t> ready = job.finished_at;
    rows.push_back({{"clinic", slugs[job.tenant_id]},
                    {"job_id", job.id},
                    {"algorithm", params.is_object() ? params.value("algorithm", "") : ""},
                    {"version", params.is_object() ? params.value("version", "") : ""},
                    {"series_uid", params.is_object() ? params.value("series_uid", "") : ""},
                    {"result_at", ready ? json(*ready) : json(nullptr)},
                    {"verdict", f.verdict == "correct" ? "corrected" : f.verdict == "accept" ? "accepted" : "rejected"},
                    {"reason", f.reason},
                    {"author", f.author},
                    {"assessed_at", f.created_at},
                    {"seconds_to_assessment", ready ? json(std::max<std::int64_t>(0, f.created_at - *ready)) : json(nullptr)},
                    {"correction_dice", dice},
                    {"mean_correction_dice", n ? json(sum / n) : json(nullptr)}});
  }
  std::sort(rows.begin(), rows.end(), [](const json& a, const json& b) {
    return std::pair(a["assessed_at"].get<std::int64_t>(), a["job_id"].get<std::int64_t>()) <
           std::pair(b["assessed_at"].get<std::int64_t>(), b["job_id"].get<std::int64_t>());
  });
  return rows;
}

std::string Monitoring::AssessmentsCsv(const std::vector<json>& rows) {
  auto field = [](std::string text) {
    if (!text.empty() && std::string_view("=+-@\t\r").find(text[0]) != std::string_view::npos) text = "'" + text;
    if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
    std::string quoted = "\"";
    for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    return quoted + "\"";
  };
  auto num = [](const json& v) {
    if (v.is_number_integer()) return std::to_string(v.get<std::int64_t>());
    return v.is_number() ? fmt::format("{:.4f}", v.get<double>()) : std::string();
  };
  std::string out =
      "clinic,job_id,algorithm,version,series_uid,result_at,verdict,reason,author,assessed_at,seconds_to_assessment,"
      "mean_correction_dice,correction_dice\r\n";
  for (const auto& r : rows) {
    std::string dice;
    for (const auto& d : r["correction_dice"])
      dice += (dice.empty() ? "" : ";") + d["name"].get<std::string>() + "=" + num(d["dice"]);
    out += field(r["clinic"].get<std::string>()) + "," + num(r["job_id"]) + "," + field(r["algorithm"].get<std::string>()) + "," +
           field(r["version"].get<std::string>()) + "," + field(r["series_uid"].get<std::string>()) + "," + num(r["result_at"]) +
           "," + r["verdict"].get<std::string>() + "," + field(r["reason"].get<std::string>()) + "," +
           field(r["author"].get<std::string>()) + "," + num(r["assessed_at"]) + "," + num(r["seconds_to_assessment"]) + "," +
           num(r["mean_correction_dice"]) + "," + field(dice) + "\r\n";
  }
  return out;
}

std::string Monitoring::SummaryCsv(const json& summary) {
  std::string out = "algorithm,version,tenant,runs,failed,failure_rate,p50_ms,p95_ms,acceptance_rate,mean_dice,drift_flag,open_bug_reports\r\n";
  auto num = [](const json& v) { return v.is_number() ? fmt::format("{:.4g}", v.get<double>()) : std::string(); };
  for (const auto& g : summary["groups"])
    out += g["algorithm"].get<std::string>() + "," + g["version"].get<std::string>() + "," + g["tenant"].get<std::string>() +
           "," + std::to_string(g["runs"].get<std::int64_t>()) + "," + std::to_string(g["failed"].get<std::int64_t>()) + "," +
           num(g["failure_rate"]) + "," + num(g["p50_ms"]) + "," + num(g["p95_ms"]) + "," + num(g["acceptance_rate"]) +
           "," + num(g["mean_dice"]) + "," + (g["drift_flag"].get<bool>() ? "yes" : "no") + "," +
           std::to_string(g["open_bug_reports"].get<int>()) + "\r\n";
  return out;
}

Result<json> Monitoring::Alerts(const AlertThresholds& t, std::int64_t now, std::int64_t max_age_seconds) {
  if (max_age_seconds > 0) {
    std::lock_guard lock(alerts_mutex_);
    if (last_alerts_ && now - (*last_alerts_)["at"].get<std::int64_t>() <= max_age_seconds) return *last_alerts_;
  }
  json alerts = json::array();
  auto last_hour = Summary(std::nullopt, "", "", now - 3600, now + 1, now);
  if (!last_hour) return std::unexpected(last_hour.error());
  std::map<std::string, std::pair<std::int64_t, std::int64_t>> per_version;  // failed, finished
  for (const auto& g : (*last_hour)["groups"]) {
    auto& c = per_version[g["algorithm"].get<std::string>() + "@" + g["version"].get<std::string>()];
    c.first += g["failed"].get<std::int64_t>();
    c.second += g["finished"].get<std::int64_t>();
    if (t.drift && g["drift_flag"].get<bool>())
      alerts.push_back({{"kind", "drift"},
                        {"key", "drift:" + g["algorithm"].get<std::string>() + "@" + g["version"].get<std::string>() +
                                    ":" + g["tenant"].get<std::string>()},
                        {"message", "the outputs of " + g["algorithm"].get<std::string>() + " " +
                                        g["version"].get<std::string>() + " at " + g["tenant"].get<std::string>() +
                                        " drift from its first 30 days"}});
  }
  for (const auto& [version, c] : per_version)
    if (c.second >= t.failure_min_runs && static_cast<double>(c.first) / c.second >= t.failure_rate)
      alerts.push_back({{"kind", "failure_rate"},
                        {"key", "failure_rate:" + version},
                        {"message", fmt::format("{} failed {} of {} runs in the last hour", version, c.first, c.second)}});
  auto queue = store_.QueueState();
  if (!queue) return std::unexpected(queue.error());
  if (queue->second && now - *queue->second >= t.queue_age_seconds)
    alerts.push_back({{"kind", "queue_age"},
                      {"key", "queue_age"},
                      {"message", fmt::format("the oldest of {} queued jobs has waited {} s", queue->first,
                                              now - *queue->second)}});
  json evaluated = {{"at", now}, {"alerts", alerts}};
  std::lock_guard lock(alerts_mutex_);
  last_alerts_ = evaluated;
  return evaluated;
}

}  // namespace vg::services
