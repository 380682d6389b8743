// Series geometry and volumes, and segmentation versions.
#include <nlohmann/json.hpp>

#include "api/annotations/annotation_routes.h"
#include "api/query_params.h"
#include "core/json_depth.h"
#include "core/strings.h"
#include "http/media_type.h"
#include "http/multipart.h"
#include "services/overlap.h"

namespace vg::api {
namespace {

using nlohmann::json;

json VersionJson(const services::SegmentationView& v) {
  const auto& r = v.record;
  json segments = json::parse(r.segments_json, nullptr, false);
  if (!segments.is_array()) segments = json::array();
  return {{"id", r.id},
          {"study_uid", r.study_uid},
          {"source_series_uid", r.source_series_uid},
          {"seg_series_uid", r.seg_series_uid},
          {"seg_sop_uid", r.seg_sop_uid},
          {"parent_id", r.parent_id ? json(*r.parent_id) : json(nullptr)},
          {"author", r.author},
          {"created_at", r.created_at},
          {"source", r.source},
          {"algorithm", r.source == "algorithm"
                            ? json{{"name", r.algorithm_name}, {"version", r.algorithm_version}}
                            : json(nullptr)},
          {"job_id", r.job_id ? json(*r.job_id) : json(nullptr)},
          {"comment", v.comment},
          {"segments", segments},
          {"layers", r.layers},
          // An imported version is never changed: a save over it is a new version.
          {"read_only", r.source == "imported"},
          {"origin", r.source == "imported" ? json{{"format", r.origin_format},
                                                   {"manufacturer", r.origin_manufacturer},
                                                   {"software", r.origin_software},
                                                   {"series_description", r.origin_description},
                                                   {"sop_uid", r.seg_sop_uid}}
                                            : json(nullptr)}};
}

json GeometryJson(const services::SeriesVolume& s) {
  const auto& g = s.volume.geometry;
  json slices = json::array();
  for (const auto& slice : s.volume.slices) slices.push_back({{"sop_uid", slice.sop_uid}, {"frame", slice.frame}});
  return {{"series_uid", s.series_uid},
          {"study_uid", s.study_uid},
          {"modality", s.modality},
          {"dims", g.dims},
          {"spacing", g.spacing},
          {"origin", g.origin},
          {"direction", g.direction},
          {"slices", slices}};
}

// A series of another study the caller may not read (support grant of single studies)
// looks absent, like any other UID the caller cannot see.
Result<void> CheckStudyVisible(const auth::Principal& p, const std::string& study_uid) {
  if (!p.MayReadStudy(study_uid)) return Fail(ErrorCode::kNotFound, "no such series");
  return {};
}

http::Response GetGeometry(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto series = deps.volumes->Assemble(p.tenant_id, r.Param("series"), /*headers_only=*/true);
  if (!series) return http::ErrorResponse(series.error());
  if (auto ok = CheckStudyVisible(p, series->study_uid); !ok) return http::ErrorResponse(ok.error());
  http::Response response = http::JsonResponse(200, GeometryJson(*series).dump());
  response.Header("Cache-Control", "private, max-age=60");
  return response;
}

http::Response GetVolumeNifti(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto series = deps.volumes->Assemble(p.tenant_id, r.Param("series"));
  if (!series) return http::ErrorResponse(series.error());
  if (auto ok = CheckStudyVisible(p, series->study_uid); !ok) return http::ErrorResponse(ok.error());
  auto shared = std::make_shared<services::SeriesVolume>(std::move(*series));
  http::Response response;
  response.Header("Content-Type", "application/gzip");
  response.Header("Content-Disposition", "attachment; filename=\"volume.nii.gz\"");
  response.Header("Cache-Control", "no-store");
  response.stream = [shared](http::BodyWriter& out) -> Result<void> {
    return dicom::WriteNiftiGz(shared->volume, [&](std::string_view chunk) { return out.Write(chunk); });
  };
  return response;
}

http::Response ListVersions(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto params = ParseQueryParams(r.query);
  if (!params) return http::ErrorResponse(params.error());
  std::optional<std::string> series;
  if (auto it = params->find("series"); it != params->end()) series = it->second;
  if (auto ok = deps.annotations->RequireStudy(p.tenant_id, r.Param("study")); !ok) return http::ErrorResponse(ok.error());
  auto versions = deps.segmentations->List(p.tenant_id, r.Param("study"), series);
  if (!versions) return http::ErrorResponse(versions.error());
  json out = json::array();
  for (const auto& v : *versions) out.push_back(VersionJson(v));
  return http::JsonResponse(200, out.dump());
}

Result<services::SegmentationView> FindVisible(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto id = PathId(r, "id", "no such segmentation");
  if (!id) return std::unexpected(id.error());
  auto version = deps.segmentations->Find(p.tenant_id, *id);
  if (!version) return std::unexpected(version.error());
  if (!p.MayReadStudy(version->record.study_uid)) return Fail(ErrorCode::kNotFound, "no such segmentation");
  return version;
}

http::Response GetVersion(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto version = FindVisible(r, p, deps);
  if (!version) return http::ErrorResponse(version.error());
  return http::JsonResponse(200, VersionJson(*version).dump());
}

http::Response GetLabels(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto version = FindVisible(r, p, deps);
  if (!version) return http::ErrorResponse(version.error());
  // ?layer=N: one layer of a layered version; without it, every layer flattened.
  auto params = ParseQueryParams(r.query);
  if (!params) return http::ErrorResponse(params.error());
  auto layers = deps.segmentations->Layers(p.tenant_id, version->record);
  if (!layers) return http::ErrorResponse(layers.error());
  Result<dicom::LabelVolume> labels = dicom::FlattenLayers(*layers);
  if (params->contains("layer")) {
    auto layer = IntParam(*params, "layer", 0, static_cast<std::int64_t>(layers->size()) - 1);
    if (!layer)
      return http::ErrorResponse(400, "invalid_argument",
                                 "layer is from 0 to " + std::to_string(layers->size() - 1) + " for this version");
    labels = std::move((*layers)[static_cast<std::size_t>(*layer)]);
  }
  auto gz = dicom::Gzip(std::string_view(reinterpret_cast<const char*>(labels->labels.data()), labels->labels.size()));
  if (!gz) return http::ErrorResponse(gz.error());
  http::Response response;
  response.Header("Content-Type", "application/octet-stream");
  response.Header("Content-Encoding", "gzip");
  response.Header("Cache-Control", "private, max-age=3600");  // versions never change
  const auto& g = labels->geometry;
  response.Header("X-Voxelgate-Dims",
                  std::to_string(g.dims[0]) + "," + std::to_string(g.dims[1]) + "," + std::to_string(g.dims[2]));
  response.body = std::move(*gz);
  return response;
}

http::Response GetLabelsNifti(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto version = FindVisible(r, p, deps);
  if (!version) return http::ErrorResponse(version.error());
  auto nifti = deps.segmentations->LabelsNifti(p.tenant_id, version->record);
  if (!nifti) return http::ErrorResponse(nifti.error());
  http::Response response;
  response.Header("Content-Type", "application/gzip");
  response.Header("Content-Disposition", "attachment; filename=\"labels.nii.gz\"");
  response.body = std::move(*nifti);
  return response;
}

// Agreement of two versions on one series, per label: Dice, volumes, HD95 (the same
// figures a correction of an algorithm's result gets).
// The measurement report (TID 1500 SR) stored with an algorithm's result, as the archive
// holds it: 404 until it is made (or when the algorithm reports no measurements).
http::Response MeasurementReport(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto version = FindVisible(r, p, deps);
  if (!version) return http::ErrorResponse(version.error());
  if (!deps.result_forms) return http::ErrorResponse(404, "not_found", "no measurement report");
  auto report = deps.result_forms->Report(p.tenant_id, version->record);
  if (!report) return http::ErrorResponse(report.error());
  if (!*report) return http::ErrorResponse(404, "not_found", "no measurement report for this version (yet)");
  json measurements = json::array();
  for (const auto& m : (*report)->measurements)
    measurements.push_back({{"tracking_id", m.tracking_id},
                            {"segment", m.segment ? json(*m.segment) : json(nullptr)},
                            {"seg_sop_uid", m.seg_sop_uid},
                            {"quantity", services::CodedConceptJson(m.quantity)},
                            {"unit", services::CodedConceptJson(m.unit)},
                            {"value", m.value}});
  const json out = {{"sop_uid", (*report)->sop_uid},
                    {"series_uid", (*report)->series_uid},
                    {"title", (*report)->title},
                    {"observer", (*report)->observer_name},
                    {"measurements", measurements}};
  return http::JsonResponse(200, out.dump());
}

http::Response CompareVersions(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto a = FindVisible(r, p, deps);
  if (!a) return http::ErrorResponse(a.error());
  auto other_id = PathId(r, "other", "no such segmentation");
  if (!other_id) return http::ErrorResponse(other_id.error());
  auto b = deps.segmentations->Find(p.tenant_id, *other_id);
  if (!b || !p.MayReadStudy(b->record.study_uid)) return http::ErrorResponse(404, "not_found", "no such segmentation");
  if (b->record.source_series_uid != a->record.source_series_uid)
    return http::ErrorResponse(400, "invalid_argument", "the two versions segment different series");
  auto labels_a = deps.segmentations->Labels(p.tenant_id, a->record);
  if (!labels_a) return http::ErrorResponse(labels_a.error());
  auto labels_b = deps.segmentations->Labels(p.tenant_id, b->record);
  if (!labels_b) return http::ErrorResponse(labels_b.error());
  if (labels_a->geometry.dims != labels_b->geometry.dims)
    return http::ErrorResponse(422, "unprocessable", "the versions are on different grids");
  json names = json::object();
  for (const auto* v : {&b->record, &a->record})
    for (const auto& s : services::SegmentsFromJson(v->segments_json)) names[std::to_string(s.label)] = s.name;
  json labels = json::array();
  // HD95 (two distance transforms a label) only when asked for: the rest is one pass.
  auto params = ParseQueryParams(r.query);
  if (!params) return http::ErrorResponse(params.error());
  const bool with_hd95 = params->contains("hd95") && (*params)["hd95"] == "true";
  for (const auto& agreement : services::CompareLabels(*labels_a, *labels_b, with_hd95))
    labels.push_back({{"label", agreement.label},
                      {"name", names.value(std::to_string(agreement.label), "")},
                      {"dice", agreement.dice},
                      {"volume_ml", agreement.volume_a_ml},
                      {"other_volume_ml", agreement.volume_b_ml},
                      {"hd95_mm", agreement.hd95_mm ? json(*agreement.hd95_mm) : json(nullptr)}});
  return http::JsonResponse(200, json{{"id", a->record.id}, {"other_id", b->record.id}, {"labels", labels}}.dump());
}

// What became of a SEG or RTSTRUCT the clinic stored: imported (its version), waiting for
// its source series, or failed (why). An object of another clinic looks absent.
http::Response GetImport(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto record = deps.segmentations->ImportOf(p.tenant_id, r.Param("sop"));
  if (!record) return http::ErrorResponse(record.error());
  // A support grant of some studies sees the objects of those studies only.
  auto study = deps.segmentations->StudyOfInstance(p.tenant_id, r.Param("sop"));
  if (!study) return http::ErrorResponse(study.error());
  if (!*record || (*record)->state == "internal" || !*study || !p.MayReadStudy(**study))
    return http::ErrorResponse(404, "not_found", "no SEG or RTSTRUCT of this clinic has been looked at under that UID");
  const auto& i = **record;
  return http::JsonResponse(200, json{{"sop_uid", i.sop_uid},
                                      {"state", i.state},
                                      {"message", i.message},
                                      {"referenced_series_uid", i.referenced_series_uid},
                                      {"segmentation_id", i.segmentation_id ? json(*i.segmentation_id) : json(nullptr)},
                                      {"updated_at", i.updated_at},
                                      {"took_ms", i.took_ms}}
                                     .dump());
}

http::Response GetSegFile(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto version = FindVisible(r, p, deps);
  if (!version) return http::ErrorResponse(version.error());
  auto file = deps.segmentations->SegFile(p.tenant_id, version->record);
  if (!file) return http::ErrorResponse(file.error());
  http::Response response;
  response.Header("Content-Type", "application/dicom");
  response.Header("Content-Disposition", "attachment; filename=\"seg.dcm\"");
  response.body = std::move(*file);
  return response;
}

constexpr std::uint64_t kMaxMetaBytes = 64 * 1024;

// multipart/form-data: a "meta" JSON part and a "labels" part.
Result<void> ReadForm(http::Request& r, const http::MediaType& type, std::uint64_t max_part,
                      services::NewSegmentation& out) {
  const std::string boundary = type.Param("boundary");
  if (boundary.empty()) return Fail(ErrorCode::kInvalidArgument, "multipart/form-data needs a boundary");
  http::MultipartReader reader(r.body(), boundary, max_part);
  std::optional<std::string> meta, labels;
  while (true) {
    auto part = reader.NextHeaders();
    if (!part) return std::unexpected(part.error());
    if (!*part) break;
    auto disposition = http::ParseMediaType("x/" + (*part)->Header("content-disposition"));
    const std::string name = disposition.Param("name");
    if (name != "meta" && name != "labels") continue;  // skipped unread
    // meta is a small JSON object; labels are bounded by the instance limit.
    const std::uint64_t limit = name == "meta" ? kMaxMetaBytes : max_part;
    auto body = ReadAll(reader.Body(), limit);
    if (!body) return Fail(ErrorCode::kTooLarge, "the " + name + " part is over its limit of " + std::to_string(limit) + " bytes");
    (name == "meta" ? meta : labels) = std::move(*body);
  }
  if (!meta || !labels) return Fail(ErrorCode::kInvalidArgument, "send two parts: meta (JSON) and labels");
  if (!JsonDepthWithin(*meta)) return Fail(ErrorCode::kUnprocessable, "meta nests deeper than 64 levels");
  auto j = json::parse(*meta, nullptr, false);
  if (!j.is_object()) return Fail(ErrorCode::kInvalidArgument, "meta must be a JSON object");
  if (!j.contains("segments") || !j["segments"].is_array() || j["segments"].empty())
    return Fail(ErrorCode::kInvalidArgument, "meta.segments is a non-empty array");
  for (const auto& s : j["segments"]) {
    auto segment = services::SegmentFromApiJson(s);
    if (!segment) return std::unexpected(segment.error());
    out.segments.push_back(std::move(*segment));
  }
  if (j.contains("parent_id") && !j["parent_id"].is_null()) {
    if (!j["parent_id"].is_number_integer()) return Fail(ErrorCode::kInvalidArgument, "parent_id is a version id");
    out.parent_id = j["parent_id"].get<std::int64_t>();
  }
  if (j.contains("comment") && j["comment"].is_string()) out.comment = j["comment"].get<std::string>();
  // A NIfTI file (gzipped or not) says so in its header; anything else is raw labels.
  std::string_view head = *labels;
  std::string probe;
  if (dicom::LooksGzipped(head)) {
    // Only the first bytes are needed to tell a .nii.gz from gzipped raw labels.
    dicom::GzipReader gz(head);
    if (!gz.InflateTo(probe, 352)) probe.clear();
  } else {
    probe = std::string(head.substr(0, 352));
  }
  const bool nifti = probe.size() >= 348 && probe.compare(344, 3, "n+1") == 0;
  if (nifti) out.nifti = std::move(*labels);
  else out.raw_labels = std::move(*labels);
  return {};
}

http::Response CreateVersion(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  services::NewSegmentation request;
  request.source_series_uid = r.Param("series");
  request.author = p.username;
  const auto type = http::ParseMediaType(r.Header("content-type").value_or(""));
  const std::uint64_t max_part = deps.archive.max_instance_bytes;
  if (type.type == "application/dicom") {
    auto body = ReadAll(r.body(), max_part);
    if (!body) return http::ErrorResponse(body.error());
    request.seg = std::move(*body);
  } else if (type.type == "multipart/form-data") {
    if (auto ok = ReadForm(r, type, max_part, request); !ok) return http::ErrorResponse(ok.error());
  } else {
    return http::ErrorResponse(415, "unsupported",
                               "send multipart/form-data (meta + labels) or application/dicom (a SEG)");
  }
  auto created = deps.segmentations->Create(p.tenant_id, std::move(request));
  if (!created) return http::ErrorResponse(created.error());
  http::Response response = http::JsonResponse(201, VersionJson(*created).dump());
  response.audit_object = "series=" + r.Param("series") + " segmentation=" + std::to_string(created->record.id) +
                          " seg_series=" + created->record.seg_series_uid;
  return response;
}

}  // namespace

void AddSegmentationRoutes(http::Router& router, const ApiDeps& deps) {
  AddGuarded(router, deps, "GET", "/api/v1/series/{series}/geometry", "series_geometry", "volumes.read",
             WithDeps(deps, GetGeometry));
  AddGuarded(router, deps, "GET", "/api/v1/series/{series}/volume.nii.gz", "series_volume_nifti", "volumes.read",
             WithDeps(deps, GetVolumeNifti));
  AddGuarded(router, deps, "GET", "/api/v1/studies/{study}/segmentations", "segmentations_list", "annotations.read",
             WithDeps(deps, ListVersions));
  AddGuarded(router, deps, "POST", "/api/v1/series/{series}/segmentations", "segmentations_create",
             "segmentations.write", WithDeps(deps, CreateVersion));
  AddGuarded(router, deps, "GET", "/api/v1/segmentations/{id}", "segmentation_get", "annotations.read",
             WithDeps(deps, GetVersion));
  AddGuarded(router, deps, "GET", "/api/v1/segmentations/{id}/labels", "segmentation_labels", "annotations.read",
             WithDeps(deps, GetLabels));
  AddGuarded(router, deps, "GET", "/api/v1/segmentations/{id}/labels.nii.gz", "segmentation_labels_nifti",
             "annotations.read", WithDeps(deps, GetLabelsNifti));
  AddGuarded(router, deps, "GET", "/api/v1/segmentation-imports/{sop}", "segmentation_import_get", "annotations.read",
             WithDeps(deps, GetImport));
  AddGuarded(router, deps, "GET", "/api/v1/segmentations/{id}/report", "segmentation_report", "annotations.read",
             WithDeps(deps, MeasurementReport));
  AddGuarded(router, deps, "GET", "/api/v1/segmentations/{id}/compare/{other}", "segmentation_compare",
             "annotations.read", WithDeps(deps, CompareVersions));
  AddGuarded(router, deps, "GET", "/api/v1/segmentations/{id}/seg.dcm", "segmentation_seg", "annotations.read",
             WithDeps(deps, GetSegFile));
}

}  // namespace vg::api
