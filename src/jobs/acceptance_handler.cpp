#include "jobs/acceptance_handler.h"

#include <chrono>
#include <set>

#include "dicom/dicom.h"
#include "dicom/thumbnail.h"
#include "services/overlap.h"

namespace vg::jobs {
namespace {

using nlohmann::json;

// A window that shows the slice: its 2nd to 98th percentile.
std::pair<double, double> WindowOf(const dicom::Volume& v) {
  std::vector<double> sample;
  const std::int64_t n = v.geometry.VoxelCount();
  const std::int64_t step = std::max<std::int64_t>(1, n / 20000);
  for (std::int64_t i = 0; i < n; i += step) sample.push_back(v.ValueAt(i));
  if (sample.empty()) return {0, 1};
  const double lo = services::Percentile(sample, 0.02), hi = services::Percentile(sample, 0.98);
  return {(lo + hi) / 2, std::max(1.0, hi - lo)};
}

}  // namespace

Result<std::string> AcceptanceHandler::Run(const storage::JobRecord& job, services::JobProgress& progress) {
  const json params = json::parse(job.params, nullptr, false);
  if (!params.is_object()) return Fail(ErrorCode::kInternal, "the job's parameters are unreadable");
  const std::int64_t tenant = job.tenant_id, run_id = params.value("run_id", std::int64_t{0});
  auto algorithm = registry_.Resolve(params.value("algorithm", ""), params.value("version", ""));
  if (!algorithm) {
    (void)acceptance_.Finish(tenant, run_id, {}, {}, algorithm.error().public_message);
    return std::unexpected(algorithm.error());
  }
  const services::AlgorithmManifest& manifest = algorithm->second;
  auto references = acceptance_.References(tenant);
  if (!references) return std::unexpected(references.error());
  // A run that yielded to the clinics earlier resumes with the cases it finished.
  auto run = acceptance_.Find(tenant, run_id);
  if (!run) return std::unexpected(run.error());
  auto so_far = acceptance_.CasesSoFar(*run);
  if (!so_far) return std::unexpected(so_far.error());
  std::vector<json> cases = std::move(*so_far);
  std::set<std::string> already;
  for (const auto& c : cases) already.insert(c.value("series_uid", ""));
  // The worst cases' pictures: kept for the three lowest mean Dice seen so far.
  std::vector<std::pair<double, std::pair<std::string, std::string>>> pictures;
  if (auto saved = acceptance_.Pictures(*run))
    for (auto& [series, png] : *saved)
      for (const auto& c : cases)
        if (c.value("series_uid", "") == series) pictures.push_back({c.value("mean_dice", 0.0), {series, std::move(png)}});
  YieldToClinics yield(algorithms_.jobs());
  auto hand_back = [&]() -> Result<std::string> {
    std::map<std::string, std::string> png;
    for (const auto& [_, picture] : pictures) png[picture.first] = picture.second;
    if (auto ok = acceptance_.SaveProgress(tenant, run_id, cases, png); !ok) return std::unexpected(ok.error());
    return std::unexpected(YieldToClinics::Held());
  };
  std::int64_t done = 0;
  for (const auto& reference : *references) {
    if (progress.Cancelled()) return Fail(ErrorCode::kUnavailable, "cancelled");
    if (already.contains(reference.series_uid)) {
      ++done;
      continue;
    }
    if (yield()) return hand_back();
    progress.Report(done, static_cast<std::int64_t>(references->size()), "case " + std::to_string(done + 1));
    ++done;
    json c = {{"series_uid", reference.series_uid},
              {"study_uid", reference.study_uid},
              {"reference_segmentation_id", reference.segmentation_id},
              {"labels", json::array()},
              {"facts", json::object()},
              {"tags", json::array()}};
    auto fail = [&](const std::string& why) {
      c["state"] = "failed";
      c["error"] = why;
      cases.push_back(c);
    };
    if (auto tags = annotations_.ListStudyTags(tenant, {reference.study_uid})) {
      std::set<std::string> names;
      for (const auto& t : *tags)
        if (t.tag_name) names.insert(*t.tag_name);
      for (const auto& n : names) c["tags"].push_back(n);
    }
    auto source = volumes_.Assemble(tenant, reference.series_uid);
    if (!source) {
      fail("the series could not be read: " + source.error().public_message);
      continue;
    }
    if (auto facts = dicom::ReadAcquisitionFacts(source->any_image)) {
      auto optional = [](const std::optional<double>& v) { return v ? json(*v) : json(nullptr); };
      c["facts"] = {{"manufacturer", facts->manufacturer}, {"model", facts->model}, {"kernel", facts->kernel},
                    {"slice_thickness_mm", optional(facts->slice_thickness_mm)}};
    }
    auto reference_version = segmentations_.Find(tenant, reference.segmentation_id);
    auto reference_labels = reference_version ? segmentations_.Labels(tenant, reference_version->record)
                                              : Result<dicom::LabelVolume>(std::unexpected(reference_version.error()));
    if (!reference_labels) {
      // Not the version's failure: the case cannot be judged.
      c["state"] = "skipped";
      c["error"] = "the reference segmentation could not be read: " + reference_labels.error().public_message;
      cases.push_back(c);
      continue;
    }
    services::SeriesFacts facts;
    facts.modality = source->modality;
    facts.slices = source->volume.geometry.dims[2];
    facts.spacing = source->volume.geometry.spacing;
    if (auto ok = services::CheckInput(manifest, facts); !ok) {
      fail(ok.error().public_message);
      continue;
    }
    json timings = json::object();
    const json run_params = {{"series_uid", reference.series_uid}};
    auto output = algorithms_.Execute(job, run_params, manifest, *source, timings, progress, std::ref(yield));
    if (progress.Cancelled()) return Fail(ErrorCode::kUnavailable, "cancelled");
    if (!output && yield.fired()) return hand_back();  // this case again when resumed
    if (!output) {
      fail(output.error().public_message);
      continue;
    }
    c["run_ms"] = timings.value("run", 0);
    if (reference_labels->geometry.dims != output->labels.geometry.dims) {
      fail("the output is not on the reference's grid");
      continue;
    }
    c["state"] = "succeeded";
    double sum = 0, worst_dice = 2;
    int counted = 0, worst_label = 0;
    std::map<int, services::LabelAgreement> by_label;
    for (const auto& a : services::CompareLabels(*reference_labels, output->labels, /*with_hd95=*/true)) by_label[a.label] = a;
    for (const auto& segment : manifest.segments) {
      // A segment neither side has is a perfect agreement (Dice 1, no distance).
      services::LabelAgreement a;
      a.label = segment.label;
      a.dice = 1;
      if (auto it = by_label.find(segment.label); it != by_label.end()) a = it->second;
      c["labels"].push_back({{"label", a.label},
                             {"dice", a.dice},
                             {"hd95_mm", a.hd95_mm ? json(*a.hd95_mm) : json(nullptr)},
                             {"volume_reference_ml", a.volume_a_ml},
                             {"volume_result_ml", a.volume_b_ml}});
      sum += a.dice;
      ++counted;
      if (a.dice < worst_dice) worst_dice = a.dice, worst_label = a.label;
    }
    const double mean = counted ? sum / counted : 1;
    c["mean_dice"] = mean;
    const bool among_worst = pictures.size() < 3 || mean < pictures.back().first;
    if (among_worst && worst_label > 0) {
      auto picture = dicom::DisagreementPicture(source->volume, *reference_labels, output->labels, worst_label,
                                                WindowOf(source->volume));
      if (picture) {
        pictures.push_back({mean, {reference.series_uid, std::move(picture->png)}});
        std::sort(pictures.begin(), pictures.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
        if (pictures.size() > 3) pictures.pop_back();
      }
    }
    cases.push_back(c);
  }
  // Skipped cases (an unreadable reference) are listed but judge nothing.
  std::vector<json> judged;
  for (const auto& c : cases)
    if (c.value("state", "") != "skipped") judged.push_back(c);
  std::map<std::string, std::string> png;
  for (auto& [_, picture] : pictures) png[picture.first] = std::move(picture.second);
  auto finished = acceptance_.Finish(tenant, run_id, judged, png, "");
  if (!finished) return std::unexpected(finished.error());
  return json{{"run_id", run_id}, {"state", finished->state}, {"cases", judged.size()},
              {"skipped", cases.size() - judged.size()}}
      .dump();
}

}  // namespace vg::jobs
