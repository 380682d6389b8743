#include "services/result_forms.h"

#include <fmt/format.h>

#include <chrono>

#include "crypto/crypto.h"
#include "dicom/dicom.h"
#include "dicom/overlay_series.h"
#include "core/strings.h"
#include "dicom/rtstruct.h"
#include "dicom/written_values.h"
#include "services/ingest.h"
#include "services/retrieve.h"
#include "services/segmentations.h"

#include <nlohmann/json.hpp>

namespace vg::services {
namespace {

std::string DerivedUid(const std::string& seed, std::string_view part) {
  return dicom::UidFromText(fmt::format("voxelgate result form {} {}", seed, part));
}

// Our own text (algorithm names from a manifest) in a value of at most 64 bytes.
std::string Cut(std::string_view text) { return Utf8Text(text, 64); }

}  // namespace

nlohmann::json ResultForms::ReportJson(const dicom::ProcessingAlgorithm& algorithm,
                                      const std::vector<dicom::ReportedMeasurement>& measurements) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& m : measurements)
    list.push_back({{"segment", m.segment},
                    {"tracking_id", m.tracking_id},
                    {"finding", CodedConceptJson(m.finding)},
                    {"quantity", CodedConceptJson(m.quantity)},
                    {"unit", CodedConceptJson(m.unit)},
                    {"value", m.value}});
  return {{"algorithm", {{"manufacturer", algorithm.manufacturer}, {"name", algorithm.name}, {"version", algorithm.version}}},
          {"measurements", list}};
}

Result<std::pair<dicom::ProcessingAlgorithm, std::vector<dicom::ReportedMeasurement>>> ResultForms::ReportFromJson(
    const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("algorithm") || !j["algorithm"].is_object() || !j.contains("measurements") ||
      !j["measurements"].is_array())
    return Fail(ErrorCode::kInternal, "the report's parameters are unreadable");
  dicom::ProcessingAlgorithm algorithm{j["algorithm"].value("manufacturer", ""), j["algorithm"].value("name", ""),
                                       j["algorithm"].value("version", "")};
  std::vector<dicom::ReportedMeasurement> list;
  for (const auto& m : j["measurements"]) {
    if (!m.is_object() || !m.contains("value") || !m["value"].is_number()) return Fail(ErrorCode::kInternal, "a measurement is unreadable");
    auto finding = CodedConceptFromJson(m.value("finding", nlohmann::json()), "finding");
    auto quantity = CodedConceptFromJson(m.value("quantity", nlohmann::json()), "quantity");
    auto unit = CodedConceptFromJson(m.value("unit", nlohmann::json()), "unit");
    if (!finding || !quantity || !unit) return Fail(ErrorCode::kInternal, "a measurement's codes are unreadable");
    list.push_back({m.value("segment", 0), m.value("tracking_id", ""), *finding, *quantity, *unit, m["value"].get<double>()});
  }
  return std::pair{algorithm, list};
}

Result<std::string> ResultForms::UidSeed(std::int64_t tenant_id, std::int64_t segmentation_id) {
  return ClinicDerivedUid(archive_, tenant_id, fmt::format("result forms {} {}", tenant_id, segmentation_id));
}

Result<std::string> ResultForms::ReportSopUid(std::int64_t tenant_id, std::int64_t segmentation_id) {
  auto seed = UidSeed(tenant_id, segmentation_id);
  if (!seed) return std::unexpected(seed.error());
  return DerivedUid(*seed, "sr instance");
}

Result<std::optional<dicom::ReadReport>> ResultForms::Report(std::int64_t tenant_id, const storage::SegmentationRecord& record) {
  Retrieval retrieval(archive_);
  auto sop = ReportSopUid(tenant_id, record.id);
  if (!sop) return std::unexpected(sop.error());
  auto rows = retrieval.Locate(tenant_id, {record.study_uid, "", *sop});
  if (!rows) {
    if (rows.error().code == ErrorCode::kNotFound) return std::optional<dicom::ReadReport>{};
    return std::unexpected(rows.error());
  }
  if (rows->empty()) return std::optional<dicom::ReadReport>{};
  auto bytes = retrieval.ReadWhole(tenant_id, rows->front());
  if (!bytes) return std::unexpected(bytes.error());
  auto report = dicom::ReadMeasurementReport(*bytes);
  if (!report) return std::unexpected(report.error());
  return std::optional<dicom::ReadReport>(std::move(*report));
}

Result<std::optional<std::int64_t>> ResultForms::Enqueue(std::int64_t tenant_id, std::int64_t segmentation_id,
                                                         bool not_for_primary_diagnosis, const std::string& created_by,
                                                         const nlohmann::json& report) {
  auto settings = store_.GetSettings(tenant_id);
  if (!settings) return std::unexpected(settings.error());
  const bool with_report = report.is_object() && report.contains("measurements") && !report["measurements"].empty();
  if (!settings->results_as_rtstruct && !settings->results_as_overlay && !with_report) return std::optional<std::int64_t>{};
  storage::JobRecord job;
  job.tenant_id = tenant_id;
  job.kind = kJobKind;
  job.created_by = created_by;
  nlohmann::json params = {{"segmentation_id", segmentation_id}, {"not_for_primary_diagnosis", not_for_primary_diagnosis}};
  if (with_report) params["report"] = report;
  job.params = params.dump();
  auto queued = jobs_.EnqueueJob(job);
  if (!queued) return std::unexpected(queued.error());
  if (job_queued_) job_queued_();
  return std::optional<std::int64_t>(queued->id);
}

Result<storage::JobRecord> ResultForms::FindJob(std::int64_t tenant_id, std::int64_t job_id) {
  auto job = jobs_.FindJob(tenant_id, job_id);
  if (!job || job->kind != kJobKind) return Fail(ErrorCode::kNotFound, "no such job");
  return job;
}

Result<std::string> ResultForms::RunJob(std::int64_t tenant_id, const std::string& params_json) {
  auto params = nlohmann::json::parse(params_json, nullptr, false);
  if (!params.is_object() || !params.contains("segmentation_id") || !params["segmentation_id"].is_number_integer())
    return Fail(ErrorCode::kInternal, "the result-forms job's parameters are unreadable");
  const std::int64_t id = params["segmentation_id"].get<std::int64_t>();
  auto version = segmentations_.Find(tenant_id, id);
  if (!version) return std::unexpected(version.error());
  const auto& record = version->record;
  auto settings = store_.GetSettings(tenant_id);
  if (!settings) return std::unexpected(settings.error());
  ResultFormsRequest request;
  request.tenant_id = tenant_id;
  if (params.contains("report")) {
    auto report = ReportFromJson(params["report"]);
    if (!report) return std::unexpected(report.error());
    request.algorithm_manufacturer = report->first.manufacturer;
    request.measurements = std::move(report->second);
  }
  // The volume (with voxels) only for the forms drawn from it; the report needs one image.
  std::optional<SeriesVolume> source;
  std::optional<dicom::LabelVolume> labels;
  if (settings->results_as_rtstruct || settings->results_as_overlay) {
    auto assembled = volumes_.Assemble(tenant_id, record.source_series_uid);
    if (!assembled) return std::unexpected(assembled.error());
    source = std::move(*assembled);
    auto read = segmentations_.Labels(tenant_id, record);
    if (!read) return std::unexpected(read.error());
    labels = std::move(*read);
    request.source = &*source;
    request.labels = &*labels;
    request.source_image = source->any_image;
  } else {
    Retrieval retrieval(archive_);
    auto rows = retrieval.Locate(tenant_id, {record.study_uid, record.source_series_uid, {}});
    if (!rows) return std::unexpected(rows.error());
    if (rows->empty()) return Fail(ErrorCode::kNotFound, "the source series is gone");
    auto image = retrieval.ReadWhole(tenant_id, rows->front());
    if (!image) return std::unexpected(image.error());
    request.source_image = std::move(*image);
  }
  request.source_study_uid = record.study_uid;
  request.source_series_uid = record.source_series_uid;
  request.seg_sop_uid = record.seg_sop_uid;
  request.seg_series_uid = record.seg_series_uid;
  request.segments = SegmentsFromJson(record.segments_json);
  request.algorithm_name = record.algorithm_name;
  request.algorithm_version = record.algorithm_version;
  request.not_for_primary_diagnosis = params.value("not_for_primary_diagnosis", true);
  auto seed = UidSeed(tenant_id, id);
  if (!seed) return std::unexpected(seed.error());
  request.uid_seed = *seed;
  auto stored = Store(request);
  if (!stored) return std::unexpected(stored.error());
  nlohmann::json forms = nlohmann::json::array();
  for (const auto& f : *stored)
    forms.push_back({{"form", f.form}, {"series_uid", f.series_uid}, {"instances", f.instances}, {"took_ms", f.took_ms}});
  return nlohmann::json{{"segmentation_id", id}, {"forms", forms}}.dump();
}

Result<std::vector<StoredForm>> ResultForms::Store(const ResultFormsRequest& request) {
  auto settings = store_.GetSettings(request.tenant_id);
  if (!settings) return std::unexpected(settings.error());
  std::vector<StoredForm> stored;
  auto timed = [&](auto store) -> Result<void> {
    const auto started = std::chrono::steady_clock::now();
    auto form = store(request);
    if (!form) return std::unexpected(form.error());
    form->took_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
    stored.push_back(std::move(*form));
    return {};
  };
  if (!request.measurements.empty())
    if (auto r = timed([this](const ResultFormsRequest& q) { return StoreReport(q); }); !r) return std::unexpected(r.error());
  if (settings->results_as_rtstruct && request.source)
    if (auto r = timed([this](const ResultFormsRequest& q) { return StoreRtStruct(q); }); !r) return std::unexpected(r.error());
  if (settings->results_as_overlay && request.source)
    if (auto r = timed([this](const ResultFormsRequest& q) { return StoreOverlay(q); }); !r) return std::unexpected(r.error());
  return stored;
}

Result<StoredForm> ResultForms::StoreRtStruct(const ResultFormsRequest& request) {
  const SeriesVolume& source = *request.source;
  dicom::RtStructWriteOptions options;
  options.series_uid = DerivedUid(request.uid_seed, "rtstruct series");
  options.sop_uid = DerivedUid(request.uid_seed, "rtstruct instance");
  options.series_description = Cut(fmt::format("{} {} structures", request.algorithm_name, request.algorithm_version));
  options.software_version = "voxelgate";
  options.algorithm_name = request.algorithm_name;
  options.algorithm_version = request.algorithm_version;
  options.automatic = true;
  StoredForm form{"rtstruct", options.series_uid, 1};
  auto existing = archive_.catalog.FindInstance(request.tenant_id, options.sop_uid);
  if (!existing) return std::unexpected(existing.error());
  if (*existing) return form;  // a retried job stored it already
  // A structure set lists the ROIs that have contours: a segment the algorithm left empty
  // is not one.
  std::vector<bool> present(256, false);
  for (std::uint8_t v : request.labels->labels) present[v] = true;
  std::vector<dicom::SegmentInfo> drawn;
  for (const auto& s : request.segments)
    if (s.label >= 1 && s.label <= 255 && present[s.label]) drawn.push_back(s);
  if (drawn.empty()) return Fail(ErrorCode::kUnprocessable, "the result holds no segment to outline");
  auto file = dicom::WriteRtStruct(source.any_image, source.volume, *request.labels, drawn, options);
  if (!file) return std::unexpected(file.error());
  // Ours: the importer must not make a version of it.
  storage::SegmentationImportRecord own{request.tenant_id, options.sop_uid, "internal", source.series_uid};
  if (auto r = store_.RecordImport(own); !r) return std::unexpected(r.error());
  std::vector<std::string> files;
  files.push_back(std::move(*file));
  if (auto r = Ingest(request.tenant_id, source.study_uid, std::move(files)); !r) return std::unexpected(r.error());
  return form;
}

Result<StoredForm> ResultForms::StoreOverlay(const ResultFormsRequest& request) {
  const SeriesVolume& source = *request.source;
  dicom::OverlayOptions options;
  options.series_uid = DerivedUid(request.uid_seed, "overlay series");
  options.series_description = Cut(fmt::format("{} {} overlay{}", request.algorithm_name, request.algorithm_version,
                                               request.not_for_primary_diagnosis ? " - not for primary diagnosis" : ""));
  options.software_version = "voxelgate";
  options.algorithm_name = request.algorithm_name;
  options.algorithm_version = request.algorithm_version;
  options.not_for_primary_diagnosis = request.not_for_primary_diagnosis;
  options.uid_seed = DerivedUid(request.uid_seed, "overlay instances");
  auto files = dicom::WriteOverlaySeries(source.any_image, source.volume, *request.labels, request.segments, options);
  if (!files) return std::unexpected(files.error());
  StoredForm form{"overlay", options.series_uid, static_cast<std::int64_t>(files->size())};
  // A retried job: its images have the same UIDs; those an earlier attempt stored are kept.
  std::vector<std::string> missing;
  for (auto& file : *files) {
    auto existing = archive_.catalog.FindInstance(request.tenant_id, dicom::PeekSopIdentity(file).second);
    if (!existing) return std::unexpected(existing.error());
    if (!*existing) missing.push_back(std::move(file));
  }
  if (missing.empty()) return form;
  if (auto r = Ingest(request.tenant_id, source.study_uid, std::move(missing)); !r) return std::unexpected(r.error());
  return form;
}

Result<StoredForm> ResultForms::StoreReport(const ResultFormsRequest& request) {
  dicom::MeasurementReportOptions options;
  options.series_uid = DerivedUid(request.uid_seed, "sr series");
  options.sop_uid = DerivedUid(request.uid_seed, "sr instance");
  options.series_description = Cut(fmt::format("{} {} measurements", request.algorithm_name, request.algorithm_version));
  options.algorithm = {request.algorithm_manufacturer, request.algorithm_name, request.algorithm_version};
  options.seg_sop_uid = request.seg_sop_uid;
  options.seg_series_uid = request.seg_series_uid;
  options.source_series_uid = request.source_series_uid;
  StoredForm form{"sr", options.series_uid, 1};
  auto existing = archive_.catalog.FindInstance(request.tenant_id, options.sop_uid);
  if (!existing) return std::unexpected(existing.error());
  if (*existing) return form;  // a retried job stored it already
  auto file = dicom::WriteMeasurementReport(request.source_image, request.measurements, options);
  if (!file) return std::unexpected(file.error());
  std::vector<std::string> files;
  files.push_back(std::move(*file));
  if (auto r = Ingest(request.tenant_id, request.source_study_uid, std::move(files)); !r) return std::unexpected(r.error());
  return form;
}

Result<void> ResultForms::Ingest(std::int64_t tenant_id, const std::string& study_uid, std::vector<std::string> files) {
  IngestSession ingest(archive_, tenant_id, study_uid, /*pipelined=*/files.size() > 1);
  ingest.SkipPrivacyPolicy();  // made from the stored (already de-identified) source
  for (auto& file : files) ingest.Add(std::move(file));
  for (const auto& outcome : ingest.Finish())
    if (!outcome.stored) return Fail(ErrorCode::kUnavailable, "a result object could not be stored: " + outcome.message);
  return {};
}

}  // namespace vg::services
