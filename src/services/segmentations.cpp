#include "services/segmentations.h"

#include "dicom/written_values.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <array>
#include <chrono>
#include <future>
#include <set>

#include "crypto/crypto.h"
#include "services/ingest.h"
#include "services/retrieve.h"

namespace vg::services {
namespace {

using nlohmann::json;

json ConceptJson(const dicom::CodedConcept& c) { return CodedConceptJson(c); }

Result<dicom::CodedConcept> ConceptFrom(const json& j, const char* field) { return CodedConceptFromJson(j, field); }

}  // namespace

json CodedConceptJson(const dicom::CodedConcept& c) { return {{"code", c.code}, {"scheme", c.scheme}, {"meaning", c.meaning}}; }

Result<dicom::CodedConcept> CodedConceptFromJson(const json& j, const char* field) {
  if (!j.is_object()) return Fail(ErrorCode::kInvalidArgument, std::string(field) + " is {code, scheme, meaning}");
  dicom::CodedConcept c;
  for (auto [key, out] : {std::pair{"code", &c.code}, {"scheme", &c.scheme}, {"meaning", &c.meaning}}) {
    if (!j.contains(key) || !j[key].is_string() || j[key].get<std::string>().empty() ||
        j[key].get<std::string>().size() > 64)
      return Fail(ErrorCode::kInvalidArgument, std::string(field) + "." + key + " is a string of 1 to 64 characters");
    *out = j[key].get<std::string>();
  }
  return c;
}

namespace {

std::optional<std::array<std::uint8_t, 3>> ParseColour(const std::string& text) {
  if (text.size() != 7 || text[0] != '#') return std::nullopt;
  std::array<std::uint8_t, 3> rgb{};
  for (int i = 0; i < 3; ++i) {
    unsigned value = 0;
    for (int d = 0; d < 2; ++d) {
      const char c = text[1 + 2 * i + d];
      value <<= 4;
      if (c >= '0' && c <= '9') value |= c - '0';
      else if (c >= 'a' && c <= 'f') value |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') value |= c - 'A' + 10;
      else return std::nullopt;
    }
    rgb[i] = static_cast<std::uint8_t>(value);
  }
  return rgb;
}

constexpr std::uint64_t kMaxLabelVoxels = 1ull << 30;

std::string SegContext(const std::string& study_uid) { return "segmentation:" + study_uid; }

// A username as a DICOM person name: PN reserves ^ = \ and the old colon form.
std::string PersonName(std::string_view username) {
  std::string out;
  for (char c : username) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ' ') ? c : '_';
  return out.substr(0, 64);
}

}  // namespace

std::string ColourHex(const std::array<std::uint8_t, 3>& rgb) {
  return fmt::format("#{:02x}{:02x}{:02x}", rgb[0], rgb[1], rgb[2]);
}

std::string SegmentsToJson(const std::vector<dicom::SegmentInfo>& segments, bool with_layers) {
  json out = json::array();
  for (const auto& s : segments) {
    json j = {{"label", s.label},
              {"name", s.name},
              {"colour", ColourHex(s.rgb)},
              {"category", ConceptJson(s.category)},
              {"type", ConceptJson(s.type)},
              {"automatic", s.automatic}};
    if (s.automatic) {
      j["algorithm_name"] = s.algorithm_name;
      j["algorithm_version"] = s.algorithm_version;
    }
    if (with_layers) j["layer"] = s.layer;
    out.push_back(std::move(j));
  }
  // Text from an imported object is made valid UTF-8 on the way in; this is the last guard.
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::vector<dicom::SegmentInfo> SegmentsFromJson(const std::string& text) {
  std::vector<dicom::SegmentInfo> out;
  auto j = json::parse(text, nullptr, false);
  if (!j.is_array()) return out;
  for (const auto& item : j) {
    dicom::SegmentInfo s;
    s.label = item.value("label", 0);
    s.name = item.value("name", "");
    if (auto rgb = ParseColour(item.value("colour", ""))) s.rgb = *rgb;
    if (item.contains("category")) s.category = *ConceptFrom(item["category"], "category");
    if (item.contains("type")) s.type = *ConceptFrom(item["type"], "type");
    s.automatic = item.value("automatic", false);
    s.algorithm_name = item.value("algorithm_name", "");
    s.algorithm_version = item.value("algorithm_version", "");
    s.layer = item.value("layer", 0);
    out.push_back(std::move(s));
  }
  return out;
}

Result<dicom::SegmentInfo> SegmentFromApiJson(const json& j) {
  if (!j.is_object()) return Fail(ErrorCode::kInvalidArgument, "each segment is an object");
  dicom::SegmentInfo s;
  if (!j.contains("label") || !j["label"].is_number_integer() || j["label"].get<int>() < 1 || j["label"].get<int>() > 255)
    return Fail(ErrorCode::kInvalidArgument, "segment label is a whole number from 1 to 255");
  s.label = j["label"].get<int>();
  if (!j.contains("name") || !j["name"].is_string() || j["name"].get<std::string>().empty() ||
      j["name"].get<std::string>().size() > 64)
    return Fail(ErrorCode::kInvalidArgument, "segment name is 1 to 64 characters");
  s.name = j["name"].get<std::string>();
  if (j.contains("colour")) {
    auto rgb = j["colour"].is_string() ? ParseColour(j["colour"].get<std::string>()) : std::nullopt;
    if (!rgb) return Fail(ErrorCode::kInvalidArgument, "segment colour is #rrggbb");
    s.rgb = *rgb;
  }
  if (j.contains("category")) {
    auto c = ConceptFrom(j["category"], "category");
    if (!c) return std::unexpected(c.error());
    s.category = *c;
  }
  if (j.contains("type")) {
    auto c = ConceptFrom(j["type"], "type");
    if (!c) return std::unexpected(c.error());
    s.type = *c;
  }
  return s;
}

Result<dicom::LabelVolume> Segmentations::LabelsOf(NewSegmentation& request, const SeriesVolume& source,
                                                   std::vector<dicom::SegmentInfo>& segments) {
  const dicom::VolumeGeometry& grid = source.volume.geometry;
  const auto voxels = static_cast<std::uint64_t>(grid.VoxelCount());
  if (request.labels) {
    if (!request.labels->geometry.SameGrid(grid))
      return Fail(ErrorCode::kInvalidArgument, "the labels are not on the source series' grid");
    return std::move(*request.labels);
  }
  if (request.raw_labels) {
    std::string raw = std::move(*request.raw_labels);
    if (dicom::LooksGzipped(raw)) {
      auto inflated = dicom::Gunzip(raw, voxels);
      if (!inflated) return std::unexpected(inflated.error());
      raw = std::move(*inflated);
    }
    if (raw.size() != voxels)
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("the labels hold {} bytes; the series' grid is {} x {} x {} = {} voxels", raw.size(),
                              grid.dims[0], grid.dims[1], grid.dims[2], voxels));
    return dicom::LabelVolume{grid, std::vector<std::uint8_t>(raw.begin(), raw.end())};
  }
  if (request.nifti) {
    // The grid is known: a label image may not hold more voxels than it.
    auto image = dicom::ReadNifti(*request.nifti, static_cast<std::int64_t>(voxels));
    if (!image && image.error().code == ErrorCode::kTooLarge)
      return Fail(ErrorCode::kInvalidArgument, fmt::format("the label image is larger than the series' grid of {} x {} x {}",
                                                           grid.dims[0], grid.dims[1], grid.dims[2]));
    if (!image) return std::unexpected(image.error());
    auto labels = dicom::LabelsFromNifti(*image);
    if (!labels) return std::unexpected(labels.error());
    if (labels->geometry.dims != grid.dims)
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("the label image is {} x {} x {}; the series is {} x {} x {}", labels->geometry.dims[0],
                              labels->geometry.dims[1], labels->geometry.dims[2], grid.dims[0], grid.dims[1],
                              grid.dims[2]));
    if (!labels->geometry.SameGrid(grid, 0.01))
      return Fail(ErrorCode::kInvalidArgument,
                  "the label image's position or orientation differs from the series' (more than 0.01 mm)");
    labels->geometry = grid;
    return labels;
  }
  if (request.seg) {
    auto masks = dicom::ReadSegOnGrid(*request.seg, grid);
    if (!masks) return std::unexpected(masks.error());
    if (segments.empty()) {
      for (const auto& s : masks->header.segments)
        if (s.label >= 1 && s.label <= 255) segments.push_back(s);
    }
    if (masks->masks.size() > 255) return Fail(ErrorCode::kInvalidArgument, "a SEG of more than 255 segments");
    return dicom::FlattenMasks(*masks, grid);
  }
  return Fail(ErrorCode::kInvalidArgument, "no labels were sent");
}

Result<SegmentationView> Segmentations::View(std::int64_t tenant_id, storage::SegmentationRecord record) {
  SegmentationView view;
  if (!record.comment_sealed.empty()) {
    auto comment = OpenFor(archive_, tenant_id, SegContext(record.study_uid), record.comment_sealed);
    if (!comment) return std::unexpected(comment.error());
    view.comment = std::move(*comment);
  }
  view.record = std::move(record);
  return view;
}

Result<SegmentationView> Segmentations::Create(std::int64_t tenant_id, NewSegmentation request) {
  if (request.comment.size() > 4096) return Fail(ErrorCode::kInvalidArgument, "a comment is at most 4096 characters");
  // The caller may have the source at hand already (an algorithm job does).
  Result<SeriesVolume> assembled = request.assembled_source ? Result<SeriesVolume>(std::move(*request.assembled_source))
                                                  : volumes_.Assemble(tenant_id, request.source_series_uid, true);
  if (!assembled) return std::unexpected(assembled.error());
  const SeriesVolume* source = &*assembled;
  if (request.parent_id) {
    auto parent = store_.FindSegmentation(tenant_id, *request.parent_id);
    if (!parent) return Fail(ErrorCode::kInvalidArgument, "the parent version does not exist");
    if (parent->source_series_uid != request.source_series_uid)
      return Fail(ErrorCode::kInvalidArgument, "the parent version is on another series");
  }
  std::vector<dicom::SegmentInfo> segments = request.segments;
  const bool imported = request.source == "imported";
  if (imported && (!request.layers || request.layers->empty() || request.seg_sop_uid.empty()))
    return Fail(ErrorCode::kInternal, "an import names its object and brings its labels");
  std::vector<dicom::LabelVolume> layers;
  if (imported) {
    layers = std::move(*request.layers);
    // What is stored must read back (Layers() reads at most kMaxLabelVoxels bytes).
    if (static_cast<std::uint64_t>(layers.size()) * static_cast<std::uint64_t>(source->volume.geometry.VoxelCount()) >
        kMaxLabelVoxels)
      return Fail(ErrorCode::kTooLarge, fmt::format("its {} layers of overlapping segments on this grid are more than a "
                                                    "version may hold ({} bytes)",
                                                    layers.size(), kMaxLabelVoxels));
    for (const auto& layer : layers)
      if (!layer.geometry.SameGrid(source->volume.geometry) ||
          static_cast<std::int64_t>(layer.labels.size()) != source->volume.geometry.VoxelCount())
        return Fail(ErrorCode::kInvalidArgument, "the labels are not on the source series' grid");
  } else {
    auto labels = LabelsOf(request, *source, segments);
    if (!labels) return std::unexpected(labels.error());
    layers.push_back(std::move(*labels));
  }
  const dicom::LabelVolume* labels = &layers.front();
  if (segments.empty()) return Fail(ErrorCode::kInvalidArgument, "name at least one segment");
  std::set<int> listed;
  for (auto& s : segments) {
    if (!listed.insert(s.label).second)
      return Fail(ErrorCode::kInvalidArgument, fmt::format("label {} is listed twice", s.label));
    if (request.source == "algorithm") {
      s.automatic = true;
      s.algorithm_name = request.algorithm_name;
      s.algorithm_version = request.algorithm_version;
    }
  }
  std::array<std::uint8_t, 256> present{};  // bytes, not vector<bool>'s bits: this loop sees every voxel
  for (const auto& layer : layers)
    for (std::uint8_t v : layer.labels) present[v] = 1;
  for (int v = 1; v < 256; ++v)
    if (present[v] && !listed.contains(v))
      return Fail(ErrorCode::kInvalidArgument, fmt::format("the labels hold value {}, which is not a listed segment", v));
  std::sort(segments.begin(), segments.end(), [](const auto& a, const auto& b) { return a.label < b.label; });

  auto versions = store_.ListSegmentations(tenant_id, source->study_uid, std::nullopt);
  if (!versions) return std::unexpected(versions.error());
  dicom::SegWriteOptions options;
  options.series_number = 900 + static_cast<std::int64_t>(versions->size() % 99);
  options.series_description =
      request.source == "algorithm"
          ? fmt::format("{} {}", request.algorithm_name, request.algorithm_version).substr(0, 64)
          : fmt::format("Segmentation by {}", request.author).substr(0, 64);
  options.content_label = request.source == "algorithm" ? request.algorithm_name : "SEGMENTATION";
  options.content_creator = PersonName(request.author);
  options.software_version = "voxelgate";
  options.series_uid = request.seg_series_uid;
  options.sop_uid = request.seg_sop_uid;
  if (request.source == "algorithm")
    options.processing_algorithm =
        dicom::ProcessingAlgorithm{request.algorithm_manufacturer, request.algorithm_name, request.algorithm_version};
  // The labels' NIfTI (kept for fast reads) is made on another core meanwhile.
  auto nifti_future = std::async(std::launch::async, [&layers] { return dicom::NiftiGzLayers(layers); });
  std::optional<storage::ExistingInstance> stored_before;
  if (!request.seg_sop_uid.empty()) {
    auto existing = archive_.catalog.FindInstance(tenant_id, request.seg_sop_uid);
    if (!existing) return std::unexpected(existing.error());
    stored_before = *existing;
  }
  if (imported && !stored_before) return Fail(ErrorCode::kNotFound, "the imported object is not in the archive");
  dicom::SegHeader header;
  if (stored_before) {
    header.series_uid = request.seg_series_uid;
    header.sop_uid = request.seg_sop_uid;
  } else {
    // The UIDs are chosen here, so the SEG just written need not be parsed back for them.
    if (options.series_uid.empty()) options.series_uid = dicom::NewRandomUid();
    if (options.sop_uid.empty()) options.sop_uid = dicom::NewRandomUid();
    auto seg = dicom::WriteBinarySeg(source->any_image, source->volume, *labels, segments, options);
    if (!seg) return std::unexpected(seg.error());
    header.series_uid = options.series_uid;
    header.sop_uid = options.sop_uid;
    // Ours: the importer must never take it for a SEG that arrived from elsewhere.
    storage::SegmentationImportRecord own{tenant_id, header.sop_uid, "internal", request.source_series_uid};
    if (auto r = store_.RecordImport(own); !r) return std::unexpected(r.error());
    IngestSession ingest(archive_, tenant_id, source->study_uid, /*pipelined=*/false);
    ingest.SkipPrivacyPolicy();  // made from the stored (already de-identified) source
    ingest.Add(std::move(*seg));
    auto outcomes = ingest.Finish();
    if (outcomes.size() != 1 || !outcomes[0].stored)
      return Fail(ErrorCode::kUnavailable,
                  "the SEG could not be stored: " + (outcomes.empty() ? std::string("no outcome") : outcomes[0].message));
  }

  auto nifti = nifti_future.get();
  if (!nifti) return std::unexpected(nifti.error());
  const std::string blob = crypto::RandomHexId(16);
  MemorySource nifti_source(*nifti);
  if (auto r = archive_.blobs.Put({tenant_id, blob}, nifti_source); !r) return std::unexpected(r.error());

  storage::SegmentationRecord record;
  record.tenant_id = tenant_id;
  record.study_uid = source->study_uid;
  record.source_series_uid = request.source_series_uid;
  record.seg_series_uid = header.series_uid;
  record.seg_sop_uid = header.sop_uid;
  record.parent_id = request.parent_id;
  record.author = request.author;
  record.source = request.source;
  record.algorithm_name = request.algorithm_name;
  record.algorithm_version = request.algorithm_version;
  record.job_id = request.job_id;
  record.segments_json = SegmentsToJson(segments, layers.size() > 1);
  record.labels_blob = blob;
  record.layers = static_cast<std::int64_t>(layers.size());
  record.origin_format = request.origin_format;
  record.origin_manufacturer = request.origin_manufacturer;
  record.origin_software = request.origin_software;
  record.origin_description = request.origin_description;
  if (!request.comment.empty()) {
    auto sealed = SealFor(archive_, tenant_id, SegContext(source->study_uid), request.comment);
    if (!sealed) return std::unexpected(sealed.error());
    record.comment_sealed = std::move(*sealed);
  }
  auto created = store_.CreateSegmentation(record);
  if (!created) return std::unexpected(created.error());
  if (on_created_) on_created_(tenant_id, *created);
  return View(tenant_id, std::move(*created));
}

Result<SegmentationView> Segmentations::Find(std::int64_t tenant_id, std::int64_t id) {
  auto record = store_.FindSegmentation(tenant_id, id);
  if (!record) return std::unexpected(record.error());
  return View(tenant_id, std::move(*record));
}

Result<std::vector<SegmentationView>> Segmentations::List(std::int64_t tenant_id, const std::string& study_uid,
                                                          const std::optional<std::string>& series_uid) {
  auto records = store_.ListSegmentations(tenant_id, study_uid, series_uid);
  if (!records) return std::unexpected(records.error());
  std::vector<SegmentationView> out;
  for (auto& r : *records) {
    auto view = View(tenant_id, std::move(r));
    if (!view) return std::unexpected(view.error());
    out.push_back(std::move(*view));
  }
  return out;
}

Result<std::string> Segmentations::LabelsNifti(std::int64_t tenant_id, const storage::SegmentationRecord& record) {
  auto source = archive_.blobs.Get({tenant_id, record.labels_blob});
  if (!source) return std::unexpected(source.error());
  return ReadAll(**source, kMaxLabelVoxels + (1 << 20));
}

Result<dicom::LabelVolume> Segmentations::Labels(std::int64_t tenant_id, const storage::SegmentationRecord& record) {
  auto layers = Layers(tenant_id, record);
  if (!layers) return std::unexpected(layers.error());
  return dicom::FlattenLayers(*layers);
}

Result<std::vector<dicom::LabelVolume>> Segmentations::Layers(std::int64_t tenant_id,
                                                              const storage::SegmentationRecord& record) {
  auto nifti = LabelsNifti(tenant_id, record);
  if (!nifti) return std::unexpected(nifti.error());
  return dicom::ReadNiftiLayers(*nifti, static_cast<std::int64_t>(kMaxLabelVoxels));
}

Result<std::optional<std::string>> Segmentations::StudyOfInstance(std::int64_t tenant_id, const std::string& sop_uid) {
  storage::InstanceFilter filter;
  filter.sop_uids = {sop_uid};
  filter.limit = 1;
  auto rows = archive_.catalog.SearchInstances(tenant_id, filter);
  if (!rows) return std::unexpected(rows.error());
  if (rows->empty()) return std::optional<std::string>{};
  return std::optional<std::string>(rows->front().study_uid);
}

Result<std::string> Segmentations::SegFile(std::int64_t tenant_id, const storage::SegmentationRecord& record) {
  Retrieval retrieval(archive_);
  auto rows = retrieval.Locate(tenant_id, {record.study_uid, record.seg_series_uid, record.seg_sop_uid});
  if (!rows) return std::unexpected(rows.error());
  return retrieval.ReadWhole(tenant_id, rows->front());
}

}  // namespace vg::services
