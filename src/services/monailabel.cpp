#include "services/monailabel.h"

#include <archive.h>
#include <archive_entry.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <optional>
#include <semaphore>
#include <map>
#include <set>
#include <thread>
#include <utility>

#include "core/strings.h"
#include "crypto/crypto.h"
#include "dicom/image_to_series.h"
#include "dicom/nrrd.h"
#include "services/ingest.h"

namespace vg::services {
namespace {

using nlohmann::json;

constexpr std::uint64_t kMaxArchiveBytes = 8ull << 30;
constexpr int kMaxArchiveEntries = 20000;
// A NIfTI or NRRD image uploaded to become a series: 512 x 512 x 512 voxels. Converting
// it takes its file (at most 8 bytes a voxel), its values as float (4) and one slice at a
// time: at most 1.5 GiB, and at most kConversionsAtOnce conversions run together.
constexpr std::int64_t kMaxUploadedImageVoxels = 1ll << 27;
constexpr std::uint64_t kMaxUploadedImageBytes = (1ull << 27) * 8 + (1 << 20);
constexpr int kConversionsAtOnce = 2;

// Holds one of the kConversionsAtOnce places while a volume is converted. Waits for one
// at most kConversionWait: a request queued behind others longer than that is told to
// come back (503) instead of holding its thread.
constexpr auto kConversionWait = std::chrono::seconds(30);
class ConversionSlot {
 public:
  static std::optional<ConversionSlot> Take() {
    if (!Places().try_acquire_for(kConversionWait)) return std::nullopt;
    return std::optional<ConversionSlot>(std::in_place, Token{});
  }
  struct Token {};
  explicit ConversionSlot(Token) {}
  ~ConversionSlot() {
    if (held_) Places().release();
  }
  ConversionSlot(ConversionSlot&& other) noexcept : held_(std::exchange(other.held_, false)) {}
  ConversionSlot(const ConversionSlot&) = delete;
  ConversionSlot& operator=(const ConversionSlot&) = delete;
  ConversionSlot& operator=(ConversionSlot&&) = delete;

 private:
  bool held_ = true;
  static std::counting_semaphore<kConversionsAtOnce>& Places() {
    static std::counting_semaphore<kConversionsAtOnce> places(kConversionsAtOnce);
    return places;
  }
};

bool IsDicomPart10(std::string_view bytes) { return bytes.size() > 132 && bytes.substr(128, 4) == "DICM"; }

// libarchive reads the spooled file through this, a buffer at a time: archives are
// streamed, never expanded in memory.
struct ArchiveInput {
  std::unique_ptr<ByteSource> source;
  std::vector<std::uint8_t> buffer = std::vector<std::uint8_t>(256 * 1024);
  std::optional<Error> failed;
};

la_ssize_t ReadArchiveInput(struct archive*, void* client, const void** out) {
  auto* input = static_cast<ArchiveInput*>(client);
  auto n = input->source->Read(input->buffer);
  if (!n) {
    input->failed = n.error();
    return -1;
  }
  *out = input->buffer.data();
  return static_cast<la_ssize_t>(*n);
}

// Hands each DICOM file of a zip (or tar) archive to `each`, one at a time, with limits
// on their count, on each file (max_instance) and on what the archive unpacks to.
Result<int> ForEachArchivedDicom(const SpooledFile& file, std::uint64_t max_instance,
                                 const std::function<void(std::string)>& each) {
  ArchiveInput input;
  auto opened = file.Open();
  if (!opened) return std::unexpected(opened.error());
  input.source = std::move(*opened);
  std::unique_ptr<struct archive, decltype(&archive_read_free)> a(archive_read_new(), archive_read_free);
  archive_read_support_format_zip(a.get());
  archive_read_support_format_tar(a.get());
  // Only the compressions zip and tar archives are made with: filter_all would also run
  // external programs (lrzip, lzop, grzip) for formats libarchive has no code for.
  archive_read_support_filter_gzip(a.get());
  archive_read_support_filter_bzip2(a.get());
  archive_read_support_filter_xz(a.get());
  archive_read_support_filter_zstd(a.get());
  if (archive_read_open(a.get(), &input, nullptr, ReadArchiveInput, nullptr) != ARCHIVE_OK)
    return Fail(ErrorCode::kInvalidArgument, "the zip file cannot be read");
  std::uint64_t total = 0;
  int entries = 0, found = 0;
  struct archive_entry* entry = nullptr;
  while (true) {
    const int r = archive_read_next_header(a.get(), &entry);
    if (r == ARCHIVE_EOF) break;
    if (input.failed) return std::unexpected(*input.failed);
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) return Fail(ErrorCode::kInvalidArgument, "the zip file is damaged");
    if (archive_entry_filetype(entry) != AE_IFREG) continue;
    if (++entries > kMaxArchiveEntries)
      return Fail(ErrorCode::kTooLarge, "the zip file holds more than " + std::to_string(kMaxArchiveEntries) + " files");
    std::string data;
    char buffer[64 * 1024];
    bool dicom = true, too_large = false;
    la_ssize_t n = 0;
    while ((n = archive_read_data(a.get(), buffer, sizeof buffer)) > 0) {
      total += static_cast<std::uint64_t>(n);
      if (total > kMaxArchiveBytes)
        return Fail(ErrorCode::kTooLarge, "the zip file unpacks to more than " + std::to_string(kMaxArchiveBytes >> 30) + " GiB");
      if (!dicom || too_large) continue;  // read to the end of the entry, dropped
      data.append(buffer, static_cast<size_t>(n));
      if (data.size() > 132 && !IsDicomPart10(data)) {
        dicom = false;
        std::string().swap(data);
      } else if (data.size() > max_instance) {
        too_large = true;
        std::string().swap(data);
      }
    }
    if (input.failed) return std::unexpected(*input.failed);
    // A damaged entry (bad CRC, truncated, encrypted) fails the upload rather than
    // passing on what came out of it before the damage.
    if (n < 0) return Fail(ErrorCode::kInvalidArgument, "a file in the zip is damaged or cannot be unpacked");
    if (too_large)
      return Fail(ErrorCode::kTooLarge, "a DICOM file in the zip exceeds limits.max_instance_bytes (" +
                                            std::to_string(max_instance) + " bytes)");
    if (dicom && IsDicomPart10(data)) {
      each(std::move(data));
      ++found;
    }
  }
  return found;
}

std::string Hex(std::span<const std::uint8_t> bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (auto b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

std::vector<std::string> SplitTilde(const std::string& id) {
  std::vector<std::string> parts;
  for (auto p : Split(id, '~')) parts.emplace_back(p);
  return parts;
}

}  // namespace

std::string FileEnding(const std::string& filename) {
  std::string name = filename.substr(filename.find_last_of("/\\") == std::string::npos ? 0 : filename.find_last_of("/\\") + 1);
  name = ToLower(name);
  for (const char* ending : {".seg.nrrd", ".nii.gz", ".nii", ".nrrd", ".zip", ".dcm", ".bin", ".json"})
    if (name.ends_with(ending)) return ending;
  const size_t dot = name.rfind('.');
  return dot == std::string::npos ? "" : name.substr(dot);
}

Result<json> MonaiLabel::Info(std::int64_t tenant_id, std::int64_t now) {
  auto list = algorithms_.List();
  if (!list) return std::unexpected(list.error());
  json models = json::object();
  json labels = json::array({"background"});
  std::set<std::string> seen;
  for (const auto& [record, manifest] : *list) {
    if (!record.is_default || !record.enabled) continue;
    // Runs the plan does not cover are not offered; a suspension or a spent quota is said
    // at run time, where Slicer shows the reason.
    if (auto grant = licensing_.CheckRun(tenant_id, manifest.id, now, 0);
        !grant && grant.error().reason == "algorithm_not_in_plan")
      continue;
    json model_labels = json::object();
    for (const auto& s : manifest.segments) {
      model_labels[s.name] = s.label;
      if (seen.insert(s.name).second) labels.push_back(s.name);
    }
    std::string description = manifest.name + " " + manifest.version + ": " + manifest.description;
    if (manifest.not_for_diagnostic_use) description += " Not for diagnostic use.";
    models[manifest.id] = {{"type", "segmentation"},
                           {"labels", model_labels},
                           {"dimension", 3},
                           {"description", description},
                           {"version", manifest.version},
                           {"config", json::object()}};
  }
  auto store = Datastore(tenant_id, "stats");
  return json{{"name", "voxelgate"},
              {"description", "The clinic's licensed segmentation algorithms, run on the vendor's server"},
              {"version", "1"},
              {"labels", labels},
              {"models", models},
              {"trainers", json::object()},
              {"strategies",
               {{"first", {{"description", "the oldest study still to annotate (workflow status: to do)"}}},
                {"last", {{"description", "the newest study still to annotate"}}}}},
              {"scoring", json::object()},
              {"train_stats", json::object()},
              {"datastore", store ? *store : json{{"total", 0}, {"completed", 0}}}};
}

Result<std::string> MonaiLabel::SeriesOf(std::int64_t tenant_id, const std::string& image_id, std::int64_t now) {
  if (image_id.empty()) return Fail(ErrorCode::kInvalidArgument, "name an image (?image=ID)");
  if (image_id.find('~') != std::string::npos) {
    auto signed_id = VerifySignedId(image_id, now);
    if (!signed_id || signed_id->tenant_id != tenant_id) return Fail(ErrorCode::kNotFound, "no such image in this clinic");
    return signed_id->series_uid;
  }
  if (auto alias = aliases_.FindImageAlias(tenant_id, image_id, now)) return alias->series_uid;
  storage::SeriesFilter filter;
  filter.series_uids = {image_id};
  filter.limit = 1;
  auto rows = archive_.catalog.SearchSeries(tenant_id, filter);
  if (!rows) return std::unexpected(rows.error());
  if (rows->empty()) return Fail(ErrorCode::kNotFound, "no image '" + image_id.substr(0, 80) + "' in this clinic");
  return image_id;
}

Result<std::string> MonaiLabel::StoreImage(std::int64_t tenant_id, const std::string& name,
                                           const std::vector<const UploadedFile*>& files, const std::string& kind,
                                           std::int64_t expires_at, std::int64_t now) {
  if (name.empty() || name.size() > 256) return Fail(ErrorCode::kInvalidArgument, "an image name is 1 to 256 characters");
  if (files.empty()) return Fail(ErrorCode::kInvalidArgument, "send the image as a file");
  // Instances go to the session as they are read (its queue is bounded): an upload is
  // never held in memory whole, only the instance at hand or the one volume converted.
  IngestSession session(archive_, tenant_id);
  int instances = 0;
  for (const UploadedFile* file : files) {
    const std::string ending = FileEnding(file->filename());
    auto head = file->Head(512);
    if (!head) return std::unexpected(head.error());
    if (ending == ".zip" || head->starts_with("PK\x03\x04") || (head->size() > 262 && head->compare(257, 5, "ustar") == 0)) {
      auto found = ForEachArchivedDicom(*file, archive_.max_instance_bytes, [&](std::string bytes) {
        session.Add(std::move(bytes));
      });
      if (!found) {
        session.Abandon();
        return std::unexpected(found.error());
      }
      instances += *found;
      continue;
    }
    if (IsDicomPart10(*head)) {
      auto bytes = file->ReadAll(archive_.max_instance_bytes);
      if (!bytes) {
        session.Abandon();
        return std::unexpected(bytes.error());
      }
      session.Add(std::move(*bytes));
      ++instances;
      continue;
    }
    // Converting a volume is the most memory one request can ask for: a few at a time.
    auto slot = ConversionSlot::Take();
    if (!slot) {
      session.Abandon();
      return Fail(ErrorCode::kUnavailable, "other image conversions are running; try again shortly");
    }
    auto bytes = file->ReadAll(kMaxUploadedImageBytes);
    if (!bytes) {
      session.Abandon();
      return std::unexpected(bytes.error());
    }
    auto image = dicom::ReadVolumeFile(*bytes, file->filename(), kMaxUploadedImageVoxels);
    std::string().swap(*bytes);
    if (!image) {
      session.Abandon();
      return std::unexpected(image.error());
    }
    dicom::ConvertedSeriesInfo info;
    info.patient_name = name.substr(0, 64);
    info.patient_id = name.substr(0, 64);
    info.series_description = ("Uploaded " + name).substr(0, 64);
    info.derivation = "converted from " + std::string(ending == ".nrrd" || ending == ".seg.nrrd" ? "NRRD" : "NIfTI") +
                      " (uploaded through the MONAI Label interface) by voxelgate";
    // Each slice goes to the session as it is made: the series is never held whole.
    auto made = dicom::SeriesFromImage(*image, info, [&](std::string slice) {
      session.Add(std::move(slice));
      ++instances;
    });
    if (!made) {
      session.Abandon();
      return std::unexpected(made.error());
    }
  }
  if (instances == 0) {
    session.Abandon();
    return Fail(ErrorCode::kInvalidArgument, "the upload holds no DICOM file, NIfTI or NRRD image");
  }
  auto outcomes = session.Finish();
  std::map<std::string, int> per_series;
  for (const auto& o : outcomes) {
    if (!o.stored) return Fail(ErrorCode::kUnprocessable, "an image of the upload was refused: " + o.message);
    ++per_series[o.series_uid];
  }
  // The largest series is the image (a zip of a study names its main series).
  auto largest = std::max_element(per_series.begin(), per_series.end(),
                                  [](const auto& a, const auto& b) { return a.second < b.second; });
  storage::ImageAlias alias{tenant_id, name, largest->first, kind, now, expires_at};
  if (auto ok = aliases_.PutImageAlias(alias); !ok) return std::unexpected(ok.error());
  return largest->first;
}

Result<LabelFile> MonaiLabel::Infer(std::int64_t tenant_id, const std::string& model, const std::string& series_uid,
                                    const std::string& author, const ResultFormat& format, int timeout_seconds,
                                    const std::function<bool()>& cancelled, const std::function<void()>& queued) {
  const auto started = std::chrono::steady_clock::now();
  RunRequest request{model, "", series_uid, author, "monailabel", 0};
  auto job = runs_.Submit(tenant_id, request);
  if (!job) return std::unexpected(job.error());
  if (queued) queued();
  storage::JobRecord done = *job;
  const auto deadline = started + std::chrono::seconds(timeout_seconds);
  while (done.state == "queued" || done.state == "running") {
    if ((cancelled && cancelled()) || std::chrono::steady_clock::now() > deadline) {
      (void)runs_.Cancel(tenant_id, done.id);
      return Fail(ErrorCode::kUnavailable, fmt::format("the run did not finish within {} s (voxelgate job {})",
                                                       timeout_seconds, done.id));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto now = jobs_.FindJob(tenant_id, done.id);
    if (!now) return std::unexpected(now.error());
    done = std::move(*now);
  }
  if (done.state != "succeeded")
    return Fail(ErrorCode::kUnprocessable, "the run " + done.state + ": " + (done.error.empty() ? "no reason given" : done.error));
  const json result = json::parse(done.result, nullptr, false);
  const std::int64_t version_id = result.is_object() ? result.value("segmentation_id", std::int64_t{0}) : 0;
  auto version = annotations_.FindSegmentation(tenant_id, version_id);
  if (!version) return std::unexpected(version.error());
  auto labels = segmentations_.Labels(tenant_id, *version);
  if (!labels) return std::unexpected(labels.error());
  LabelFile out;
  const std::string stem = fmt::format("label_{}_{}", model, done.id);
  if (format.extension == ".nii.gz" || format.extension == ".nii") {
    auto gz = dicom::NiftiGzBytes(*labels);
    if (!gz) return std::unexpected(gz.error());
    if (format.extension == ".nii") {
      auto plain = dicom::Gunzip(*gz, 4ull << 30);
      if (!plain) return std::unexpected(plain.error());
      out.bytes = std::move(*plain);
    } else {
      out.bytes = std::move(*gz);
    }
  } else {
    auto nrrd = dicom::WriteNrrd(*labels, {format.uint16, format.compress});
    if (!nrrd) return std::unexpected(nrrd.error());
    out.bytes = std::move(*nrrd);
  }
  out.filename = stem + (format.extension == ".nii" || format.extension == ".nii.gz" ? format.extension : ".nrrd");
  json names = json::object();
  for (const auto& s : SegmentsFromJson(version->segments_json)) names[s.name] = s.label;
  out.params = {{"label_names", names},
                {"centroids", json::object()},
                {"job_id", done.id},
                {"segmentation_id", version->id},
                {"model", model},
                {"version", version->algorithm_version},
                {"latencies",
                 {{"total", std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()},
                  {"stages_ms", result.is_object() ? result.value("timings_ms", json::object()) : json::object()}}}};
  return out;
}

Result<SegmentationView> MonaiLabel::SaveLabel(std::int64_t tenant_id, const std::string& series_uid,
                                               const UploadedFile& label_file, const json& label_info,
                                               const std::string& author) {
  auto source = volumes_.Assemble(tenant_id, series_uid, /*headers_only=*/true);
  if (!source) return std::unexpected(source.error());
  const auto& grid = source->volume.geometry;
  // A label holds at most two bytes per voxel of its image (raw uint16), a header aside.
  auto label_bytes = label_file.ReadAll(static_cast<std::uint64_t>(grid.VoxelCount()) * 8 + (1 << 20));
  if (!label_bytes) return std::unexpected(label_bytes.error());
  const struct {
    const std::string& filename;
    const std::string& bytes;
  } label{label_file.filename(), *label_bytes};
  NewSegmentation request;
  request.source_series_uid = series_uid;
  request.author = author;
  request.comment = "saved from 3D Slicer / OHIF (MONAI Label)";
  const std::string ending = FileEnding(label.filename);
  std::set<int> present;
  if (ending == ".nii" || ending == ".nii.gz" || ending == ".nrrd" || ending == ".seg.nrrd" ||
      label.bytes.starts_with("NRRD000")) {
    // No more voxels than the image the label belongs to.
    auto image = dicom::ReadVolumeFile(label.bytes, label.filename, grid.VoxelCount());
    if (!image) return std::unexpected(image.error());
    auto labels = dicom::LabelsFromNifti(*image);
    if (!labels) return std::unexpected(labels.error());
    if (!labels->geometry.SameGrid(grid, 0.05))
      return Fail(ErrorCode::kInvalidArgument, "the label is not on the image's grid (size, spacing, origin, orientation)");
    labels->geometry = grid;
    for (auto v : labels->labels) present.insert(v);
    request.labels = std::move(*labels);
  } else {
    // OHIF sends the labelmap's raw buffer: one byte (or two) per voxel on the series grid.
    const std::int64_t voxels = grid.VoxelCount();
    std::string raw;
    if (static_cast<std::int64_t>(label.bytes.size()) == voxels) raw = label.bytes;
    else if (static_cast<std::int64_t>(label.bytes.size()) == 2 * voxels) {
      raw.resize(static_cast<size_t>(voxels));
      for (std::int64_t i = 0; i < voxels; ++i) {
        const unsigned v = static_cast<unsigned char>(label.bytes[2 * i]) | (static_cast<unsigned char>(label.bytes[2 * i + 1]) << 8);
        if (v > 255) return Fail(ErrorCode::kInvalidArgument, "label values are 0..255");
        raw[i] = static_cast<char>(v);
      }
    } else {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("a raw label holds one or two bytes for each of the image's {} voxels", voxels));
    }
    for (unsigned char v : raw) present.insert(v);
    request.raw_labels = std::move(raw);
  }
  present.erase(0);
  // Segments: as named by the client, then any other value present.
  std::map<int, std::string> names;
  if (label_info.is_array())
    for (const auto& item : label_info) {
      if (!item.is_object()) continue;
      const int idx = item.contains("idx") && item["idx"].is_number_integer() ? item["idx"].get<int>()
                      : item.contains("id") && item["id"].is_number_integer() ? item["id"].get<int>()
                                                                                : 0;
      if (idx >= 1 && idx <= 255 && item.contains("name") && item["name"].is_string())
        names[idx] = item["name"].get<std::string>().substr(0, 64);
    }
  for (int v : present)
    if (!names.count(v)) names[v] = "Label " + std::to_string(v);
  // The algorithm's result this corrects: the newest on this series (monitoring compares them).
  auto versions = annotations_.ListSegmentations(tenant_id, source->study_uid, series_uid);
  if (!versions) return std::unexpected(versions.error());
  std::vector<dicom::SegmentInfo> parent_segments;
  for (const auto& v : *versions)
    if (v.source == "algorithm") {
      request.parent_id = v.id;
      parent_segments = SegmentsFromJson(v.segments_json);
      break;
    }
  for (const auto& [label_value, name] : names) {
    dicom::SegmentInfo info;
    info.label = label_value;
    info.name = name;
    // Keep the coded meaning of the algorithm's segment of the same name.
    for (const auto& p : parent_segments)
      if (p.name == name) {
        info = p;
        info.label = label_value;
        info.automatic = false;
      }
    request.segments.push_back(info);
  }
  return segmentations_.Create(tenant_id, std::move(request));
}

Result<json> MonaiLabel::Datastore(std::int64_t tenant_id, const std::string& output) {
  storage::SeriesFilter filter;
  filter.modalities = {"CT", "MR"};
  filter.limit = 2000;
  auto series = archive_.catalog.SearchSeries(tenant_id, filter);
  if (!series) return std::unexpected(series.error());
  auto latest = annotations_.LatestVersionsBySeries(tenant_id);
  if (!latest) return std::unexpected(latest.error());
  std::map<std::string, std::vector<const storage::LatestVersion*>> by_series;
  for (const auto& v : *latest) by_series[v.series_uid].push_back(&v);
  json objects = json::object();
  std::int64_t completed = 0, finals = 0, originals = 0;
  for (const auto& row : *series) {
    json labels = json::object();
    for (const auto* v : by_series[row.series_uid]) {
      // Imported segmentations (another tool's SEG or RTSTRUCT) are not a clinician's final
      // label here: a clinician who accepts one saves it as a version of their own.
      if (v->source == "imported") continue;
      const std::string tag = v->source == "algorithm" ? "original" : "final";
      labels[tag] = {{"ext", ".nii.gz"},
                     {"info", {{"name", row.series_uid + "." + tag + ".nii.gz"}, {"ts", v->created_at},
                               {"segmentation_id", v->id}, {"author", v->author}}}};
    }
    if (labels.contains("final")) {
      ++completed;
      ++finals;
    }
    if (labels.contains("original")) ++originals;
    objects[row.series_uid] = {{"image",
                                {{"ext", ".nii.gz"},
                                 {"info",
                                  {{"name", row.series_uid + ".nii.gz"},
                                   {"StudyInstanceUID", row.study_uid},
                                   {"SeriesInstanceUID", row.series_uid},
                                   {"Modality", row.modality},
                                   {"instances", row.instance_count}}}}},
                               {"labels", labels}};
  }
  json stats = {{"total", objects.size()},
                {"completed", completed},
                {"label_tags", {{"final", finals}, {"original", originals}}}};
  if (output == "stats" || output.empty()) return stats;
  return json{{"name", "voxelgate"}, {"description", "the clinic's CT and MR series"}, {"objects", objects}, {"stats", stats}};
}

Result<json> MonaiLabel::NextSample(std::int64_t tenant_id, const std::string& tenant_slug, std::int64_t user_id,
                                    const std::string& strategy, std::int64_t now) {
  if (strategy != "first" && strategy != "last" && strategy != "random")
    return Fail(ErrorCode::kNotFound, "strategies are first and last");
  storage::WorklistFilter filter;
  filter.statuses = {"todo"};
  filter.sort = strategy == "last" ? "-date" : "date";
  filter.limit = 50;
  auto page = annotations_.SearchWorklist(tenant_id, filter);
  if (!page) return std::unexpected(page.error());
  for (const auto& row : page->rows) {
    storage::SeriesFilter series_filter;
    series_filter.study_uids = {row.study.study_uid};
    series_filter.modalities = {"CT", "MR"};
    auto series = archive_.catalog.SearchSeries(tenant_id, series_filter);
    if (!series || series->empty()) continue;
    auto largest = std::max_element(series->begin(), series->end(),
                                    [](const auto& a, const auto& b) { return a.instance_count < b.instance_count; });
    auto id = SignedId(tenant_id, tenant_slug, user_id, largest->series_uid, now + link_seconds_);
    if (!id) return std::unexpected(id.error());
    return json{{"id", *id},
                {"name", largest->series_uid + ".nii.gz"},
                {"StudyInstanceUID", largest->study_uid},
                {"SeriesInstanceUID", largest->series_uid},
                {"Modality", largest->modality},
                {"strategy", strategy}};
  }
  return json::object();
}

Result<std::string> MonaiLabel::SignedId(std::int64_t tenant_id, const std::string& tenant_slug, std::int64_t user_id,
                                         const std::string& series_uid, std::int64_t expires_at) {
  auto key = archive_.tenants.DataKey(tenant_id);
  if (!key) return std::unexpected(key.error());
  const auto signer = crypto::DeriveSubKey(*key, 3, "mlsample");
  const std::string payload =
      series_uid + "~" + tenant_slug + "~" + std::to_string(user_id) + "~" + std::to_string(expires_at);
  auto mac = crypto::KeyedHash(signer, payload);
  return payload + "~" + Hex(std::span(mac.data(), 16));
}

Result<MonaiLabel::SignedImage> MonaiLabel::VerifySignedId(const std::string& id, std::int64_t now) {
  auto parts = SplitTilde(id);
  if (parts.size() != 5) return Fail(ErrorCode::kNotFound, "no such image");
  auto tenant = archive_.catalog.FindTenant(parts[1]);
  if (!tenant) return Fail(ErrorCode::kNotFound, "no such image");
  auto user = ParseUint(parts[2]);
  auto expires = ParseUint(parts[3]);
  if (!user || !expires) return Fail(ErrorCode::kNotFound, "no such image");
  auto expected = SignedId(tenant->id, tenant->slug, static_cast<std::int64_t>(*user), parts[0],
                           static_cast<std::int64_t>(*expires));
  if (!expected) return std::unexpected(expected.error());
  if (!crypto::ConstantTimeEquals(std::span(reinterpret_cast<const std::uint8_t*>(expected->data()), expected->size()),
                                  std::span(reinterpret_cast<const std::uint8_t*>(id.data()), id.size())))
    return Fail(ErrorCode::kNotFound, "no such image");
  if (static_cast<std::int64_t>(*expires) < now) return Fail(ErrorCode::kNotFound, "the image link has expired");
  return SignedImage{tenant->id, static_cast<std::int64_t>(*user), parts[0]};
}

}  // namespace vg::services
