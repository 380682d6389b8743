#include "services/segmentation_import.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <variant>

#include "core/clock.h"
#include "core/logging.h"
#include "core/strings.h"
#include "dicom/rtstruct.h"
#include "services/retrieve.h"

namespace vg::services {

inline constexpr const char* kSegClasses[] = {"1.2.840.10008.5.1.4.1.1.66.4", "1.2.840.10008.5.1.4.1.1.66.7"};
inline constexpr const char* kRtStructClass = "1.2.840.10008.5.1.4.1.1.481.3";

// What one attempt came to: a version, or waiting for its source, or a failure.
struct SegmentationImporter::Outcome {
  std::string state;  // imported, waiting, failed
  std::string referenced_series_uid;
  std::optional<std::int64_t> segmentation_id;
  std::string message;
  // Waiting for a series still arriving: recorded as of its newest instance, so that it is
  // due again once the series has been quiet (FindImportCandidates), new instances or not.
  std::int64_t as_of = 0;
};

namespace {

// Text from the object (names, its maker): valid UTF-8 (a SEG need not be in UTF-8; the
// JSON it goes into must be), at most 64 bytes.
std::string Truncated(std::string_view text) { return Utf8Text(text, 64); }

// Every text of a segment, from the object, made so.
void CleanText(dicom::SegmentInfo& s) {
  for (std::string* text : {&s.name, &s.category.code, &s.category.scheme, &s.category.meaning, &s.type.code, &s.type.scheme,
                            &s.type.meaning, &s.algorithm_name, &s.algorithm_version})
    *text = Truncated(*text);
}

// Storage trouble is retried after 2, 4, ... seconds, at most 10 minutes apart; after
// kMaxAttempts the object is recorded as failed.
constexpr std::int64_t kMaxAttempts = 12;
std::int64_t RetryDelay(std::int64_t attempts) { return std::min<std::int64_t>(600, std::int64_t{1} << std::min<std::int64_t>(attempts, 10)); }

// A referenced series that is present but whose images do not (yet) hold every frame's
// slice may still be arriving: that is worth waiting for; anything else is final.
bool MayBeIncomplete(const Error& e) { return e.code == ErrorCode::kUnprocessable || e.code == ErrorCode::kNotFound; }

// The version an import makes: the object itself is its SEG (nothing new is written).
NewSegmentation ImportRequest(const storage::SegmentationImportCandidate& c, SeriesVolume source,
                              std::vector<dicom::SegmentInfo> segments, std::vector<dicom::LabelVolume> layers,
                              std::string format, std::string_view manufacturer, std::string_view software,
                              std::string_view description) {
  NewSegmentation request;
  request.source_series_uid = source.series_uid;
  request.segments = std::move(segments);
  request.source = "imported";
  request.seg_series_uid = c.series_uid;
  request.seg_sop_uid = c.sop_uid;
  request.layers = std::move(layers);
  request.origin_format = std::move(format);
  request.origin_manufacturer = Truncated(manufacturer);
  request.origin_software = Truncated(software);
  request.origin_description = Truncated(description);
  request.assembled_source = std::move(source);
  return request;
}

}  // namespace

Result<int> SegmentationImporter::RunOnce(std::int64_t now, std::int64_t limit) {
  // Instances stored within the last hour are looked at on every pass; all of them on the
  // first pass and every 10 minutes (after a restart, a leader change, a long backlog).
  const bool full = last_full_scan_ == 0 || now - last_full_scan_ >= 600;
  auto due = store_.FindImportCandidates(now, kQuietSeconds, limit, full ? 0 : now - 3600);
  if (!due) return std::unexpected(due.error());
  if (full) last_full_scan_ = now;
  for (const auto& candidate : *due) {
    Result<storage::SegmentationImportRecord> done = Fail(ErrorCode::kInternal, "not run");
    try {
      done = Import(candidate, now);
    } catch (const std::exception&) {  // a reader's exception must not end the server
      done = Fail(ErrorCode::kInternal, "the object could not be read");
    }
    if (!done) {
      // Storage trouble (or worse): tried again later, not on every pass, so that a few such
      // objects cannot hold back every clinic's; recorded as failed after kMaxAttempts.
      storage::SegmentationImportRecord retry{candidate.tenant_id, candidate.sop_uid, "retrying", ""};
      retry.attempts = candidate.attempts + 1;
      retry.message = Utf8Text("could not be read: " + done.error().public_message, 1024);
      if (retry.attempts >= kMaxAttempts) retry.state = "failed";
      retry.updated_at = now + RetryDelay(retry.attempts);
      WarnIfFailed(store_.RecordImport(retry), "segmentation_import_not_recorded");
      LogWarn("segmentation_import_retry", fmt::format("\"tenant_id\":{},\"code\":\"{}\",\"attempts\":{}", candidate.tenant_id,
                                                       ErrorCodeName(done.error().code), retry.attempts));
      continue;
    }
    // No UIDs, names or reasons in the log (a reason may quote the object): the state and
    // the version are enough to follow it; the reason is in the import record.
    LogInfo("segmentation_import",
            fmt::format("\"tenant_id\":{},\"format\":\"{}\",\"state\":\"{}\",\"segmentation_id\":{}", candidate.tenant_id,
                        candidate.sop_class_uid == kRtStructClass ? "RTSTRUCT" : "SEG", done->state,
                        done->segmentation_id ? std::to_string(*done->segmentation_id) : "null"));
  }
  return static_cast<int>(due->size());
}

Result<storage::SegmentationImportRecord> SegmentationImporter::Import(const storage::SegmentationImportCandidate& c,
                                                                       std::int64_t now) {
  const auto started = std::chrono::steady_clock::now();
  if (c.version_id) {
    // A version exists already: voxelgate's own object (made before its record existed),
    // or an import whose record a crash kept from being written.
    storage::SegmentationImportRecord record{c.tenant_id, c.sop_uid, c.version_source == "imported" ? "imported" : "internal", ""};
    record.segmentation_id = c.version_id;
    record.updated_at = now;
    if (auto r = store_.RecordImport(record); !r) return std::unexpected(r.error());
    return record;
  }
  Retrieval retrieval(archive_);
  auto rows = retrieval.Locate(c.tenant_id, {c.study_uid, c.series_uid, c.sop_uid});
  if (!rows) return std::unexpected(rows.error());
  if (rows->empty()) return Fail(ErrorCode::kNotFound, "the object is gone");
  auto part10 = retrieval.ReadWhole(c.tenant_id, rows->front());
  if (!part10) return std::unexpected(part10.error());
  Result<Outcome> outcome = c.sop_class_uid == kRtStructClass ? ImportRtStruct(c, std::move(*part10), now)
                                                              : ImportSeg(c, std::move(*part10), now);
  if (!outcome) {
    // Storage trouble is retried; an object that cannot be read is a failure to report.
    if (outcome.error().code == ErrorCode::kUnavailable || outcome.error().code == ErrorCode::kInternal)
      return std::unexpected(outcome.error());
    outcome = Outcome{"failed", "", std::nullopt, outcome.error().public_message};
  }
  storage::SegmentationImportRecord record;
  record.tenant_id = c.tenant_id;
  record.sop_uid = c.sop_uid;
  record.state = outcome->state;
  record.referenced_series_uid = outcome->referenced_series_uid;
  record.segmentation_id = outcome->segmentation_id;
  record.message = Utf8Text(outcome->message, 1024);  // a reader's message may quote the object
  // A waiting object is due again when its series gets an instance stored after this; an
  // instance committed within the quiet period before `now` may not have been visible to
  // this attempt, so it counts as after.
  record.updated_at = outcome->as_of ? outcome->as_of : outcome->state == "waiting" ? now - kQuietSeconds : now;
  record.took_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  if (auto r = store_.RecordImport(record); !r) return std::unexpected(r.error());
  return record;
}

Result<std::optional<SegmentationImporter::Outcome>> SegmentationImporter::StillArriving(std::int64_t tenant_id,
                                                                                      const std::string& series_uid,
                                                                                      std::int64_t now) {
  auto last = store_.SeriesLastStored(tenant_id, series_uid);
  if (!last) return std::unexpected(last.error());
  if (!*last || **last <= now - kQuietSeconds) return std::optional<Outcome>{};
  return std::optional<Outcome>(
      Outcome{"waiting", series_uid, std::nullopt, "its source series is still arriving", **last});
}

Result<std::string> SegmentationImporter::FindSourceSeries(std::int64_t tenant_id,
                                                           const std::vector<std::string>& series_uids,
                                                           const std::vector<std::string>& sop_uids) {
  storage::InstanceFilter filter;
  filter.limit = 1;
  for (const auto& uid : series_uids) {
    filter.series_uids = {uid};
    auto rows = archive_.catalog.SearchInstances(tenant_id, filter);
    if (!rows) return std::unexpected(rows.error());
    if (!rows->empty()) return uid;
  }
  filter.series_uids.clear();
  for (const auto& uid : sop_uids) {
    filter.sop_uids = {uid};
    auto rows = archive_.catalog.SearchInstances(tenant_id, filter);
    if (!rows) return std::unexpected(rows.error());
    if (!rows->empty()) return rows->front().series_uid;
  }
  return Fail(ErrorCode::kNotFound, "its source series is not in the archive (yet)");
}

Result<std::variant<SegmentationImporter::Outcome, SeriesVolume>> SegmentationImporter::SettledSource(
    const storage::SegmentationImportCandidate& c, const std::vector<std::string>& series_uids,
    const std::vector<std::string>& sop_uids, std::int64_t now) {
  auto source_uid = FindSourceSeries(c.tenant_id, series_uids, sop_uids);
  if (!source_uid) {
    if (source_uid.error().code != ErrorCode::kNotFound) return std::unexpected(source_uid.error());
    return Outcome{"waiting", series_uids.empty() ? "" : series_uids.front(), std::nullopt, source_uid.error().public_message};
  }
  if (auto arriving = StillArriving(c.tenant_id, *source_uid, now); !arriving || *arriving) {
    if (!arriving) return std::unexpected(arriving.error());
    return **arriving;
  }
  auto source = volumes_.Assemble(c.tenant_id, *source_uid, /*headers_only=*/true);
  if (!source) {
    if (MayBeIncomplete(source.error()))
      return Outcome{"waiting", *source_uid, std::nullopt, "its source series is not one volume yet: " + source.error().public_message};
    return std::unexpected(source.error());
  }
  if (source->study_uid != c.study_uid)
    return Outcome{"failed", *source_uid, std::nullopt, "it is in another study than the series it refers to"};
  return std::move(*source);
}

Result<SegmentationImporter::Outcome> SegmentationImporter::ImportSeg(const storage::SegmentationImportCandidate& c,
                                                                      std::string part10, std::int64_t now) {
  auto header = dicom::ReadSegHeader(part10);
  if (!header) return std::unexpected(header.error());
  auto found = SettledSource(c, header->referenced_series_uids, header->referenced_sop_uids, now);
  if (!found) return std::unexpected(found.error());
  if (auto* instead = std::get_if<Outcome>(&*found)) return *instead;
  auto& source = std::get<SeriesVolume>(*found);
  const std::string source_uid = source.series_uid;
  auto masks = dicom::ReadSegOnGrid(part10, source.volume.geometry);
  if (!masks) {
    if (masks.error().code == ErrorCode::kUnprocessable)
      return Outcome{"waiting", source_uid, std::nullopt, "its frames do not lie on the source series' slices (yet): " +
                                                               masks.error().public_message};
    return std::unexpected(masks.error());
  }
  auto layering = dicom::LayerMasks(*masks, source.volume.geometry);
  if (!layering) return Outcome{"failed", source_uid, std::nullopt, layering.error().public_message};
  auto& layered = *layering;
  std::vector<dicom::SegmentInfo> segments;
  for (auto s : masks->header.segments) {
    if (s.label < 1 || s.label > 255) continue;
    s.layer = layered.layer_of.count(s.label) ? layered.layer_of[s.label] : 0;
    if (s.name.empty()) s.name = fmt::format("Segment {}", s.label);
    CleanText(s);
    segments.push_back(std::move(s));
  }
  masks->masks.clear();  // the layers hold them now
  if (segments.empty()) return Outcome{"failed", source_uid, std::nullopt, "it holds no segment numbered 1 to 255"};

  NewSegmentation request = ImportRequest(c, std::move(source), std::move(segments), std::move(layered.layers), "SEG",
                                          header->manufacturer, header->software_versions, header->series_description);
  auto created = segmentations_.Create(c.tenant_id, std::move(request));
  if (!created) return std::unexpected(created.error());
  return Outcome{"imported", source_uid, created->record.id, ""};
}

Result<SegmentationImporter::Outcome> SegmentationImporter::ImportRtStruct(const storage::SegmentationImportCandidate& c,
                                                                           std::string part10, std::int64_t now) {
  auto rt = dicom::ReadRtStruct(part10);
  if (!rt) return std::unexpected(rt.error());
  auto found = SettledSource(c, rt->referenced_series_uids, {}, now);
  if (!found) return std::unexpected(found.error());
  if (auto* instead = std::get_if<Outcome>(&*found)) return *instead;
  auto& source = std::get<SeriesVolume>(*found);
  const std::string source_uid = source.series_uid;
  if (!rt->frame_of_reference_uid.empty() && !source.volume.frame_of_reference_uid.empty() &&
      rt->frame_of_reference_uid != source.volume.frame_of_reference_uid)
    return Outcome{"failed", source_uid, std::nullopt, "its frame of reference is not the source series'"};
  auto rasterised = dicom::RasteriseRtStruct(*rt, source.volume.geometry);
  if (!rasterised) return std::unexpected(rasterised.error());

  // ROI numbers are any integers: segments are numbered 1..n in ROI order.
  dicom::SegMasks masks;
  std::vector<dicom::SegmentInfo> segments;
  int next = 1;
  for (const auto& roi : rt->rois) {
    auto mask = rasterised->masks.find(roi.number);
    if (mask == rasterised->masks.end()) continue;
    if (next > 255) return Outcome{"failed", source_uid, std::nullopt, "it has more than 255 ROIs with contours"};
    dicom::SegmentInfo s = dicom::SegmentOfRoi(roi);
    s.label = next;
    if (s.name.empty()) s.name = fmt::format("ROI {}", roi.number);
    CleanText(s);
    masks.masks[next] = std::move(mask->second);
    segments.push_back(std::move(s));
    ++next;
  }
  if (segments.empty()) return Outcome{"failed", source_uid, std::nullopt, "it has no closed planar contour on the series"};
  auto layering = dicom::LayerMasks(masks, source.volume.geometry);
  masks.masks.clear();  // the layers hold them now
  if (!layering) return Outcome{"failed", source_uid, std::nullopt, layering.error().public_message};
  auto& layered = *layering;
  for (auto& s : segments) s.layer = layered.layer_of[s.label];

  NewSegmentation request =
      ImportRequest(c, std::move(source), std::move(segments), std::move(layered.layers), "RTSTRUCT", rt->manufacturer,
                    rt->software_versions, rt->series_description.empty() ? rt->label : rt->series_description);
  auto created = segmentations_.Create(c.tenant_id, std::move(request));
  if (!created) return std::unexpected(created.error());
  std::string note = rasterised->skipped_contours + rt->skipped_contours > 0
                         ? fmt::format("{} contours were not closed planar contours on the series' slices and were left out",
                                       rasterised->skipped_contours + rt->skipped_contours)
                         : "";
  return Outcome{"imported", source_uid, created->record.id, note};
}

}  // namespace vg::services
