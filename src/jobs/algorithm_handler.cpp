#include "jobs/algorithm_handler.h"

#include "dicom/written_values.h"

#include <fmt/format.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "algorithms/algorithm.h"
#include "core/clock.h"
#include "core/json_depth.h"
#include "core/logging.h"
#include "core/strings.h"
#include "dicom/deid.h"
#include "dicom/dicom.h"
#include "crypto/crypto.h"
#include "jobs/sandbox.h"
#include "services/overlap.h"
#include "services/retrieve.h"

namespace vg::jobs {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

std::int64_t MsSince(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

Result<void> WriteFile(const fs::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) return Fail(ErrorCode::kResourceExhausted, "cannot write the job's input (disk full?)");
  return {};
}

// A file the algorithm wrote, read as the server: never through a link it planted (to
// the master key, another clinic's blobs), never a device or a pipe, never more than
// `limit` bytes.
Result<std::string> ReadFile(const fs::path& path, std::uintmax_t limit) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0 && errno == ELOOP)
    return Fail(ErrorCode::kInvalidArgument, "output/" + path.filename().string() +
                                                 " is a symbolic link: outputs must be regular files written in output/");
  if (fd < 0) return Fail(ErrorCode::kNotFound, path.filename().string() + " was not written");
  struct stat info {};
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd);
    return Fail(ErrorCode::kInvalidArgument, path.filename().string() + " is not a regular file");
  }
  if (static_cast<std::uintmax_t>(info.st_size) > limit) {
    ::close(fd);
    return Fail(ErrorCode::kTooLarge, path.filename().string() + " is larger than allowed");
  }
  std::string bytes(static_cast<std::size_t>(info.st_size), '\0');
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  bytes.resize(done);
  return bytes;
}

}  // namespace

Result<std::string> ProcessScratchFolder(const std::string& base) {
  static std::mutex mutex;
  static std::map<std::string, std::string> claimed;  // base -> this process's folder
  std::lock_guard lock(mutex);
  if (auto it = claimed.find(base); it != claimed.end()) return it->second;
  std::error_code ec;
  fs::create_directories(base, ec);
  ::chmod(base.c_str(), 0700);
  if (ec) return Fail(ErrorCode::kResourceExhausted, "cannot make the job folders' folder", ec.message());
  // A folder whose lock can be taken belongs to no living process.
  std::size_t swept = 0;
  for (const auto& entry : fs::directory_iterator(base, ec)) {
    const std::string name = entry.path().filename().string();
    bool dead = name.starts_with("job-");  // left by a version without per-process folders
    if (name.starts_with("p-")) {
      const int fd = ::open((entry.path() / ".lock").c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
      dead = fd < 0 || ::flock(fd, LOCK_EX | LOCK_NB) == 0;
      if (fd >= 0) ::close(fd);
    }
    if (!dead) continue;
    std::error_code gone;
    fs::remove_all(entry.path(), gone);
    if (!gone) ++swept;
  }
  if (swept > 0) LogInfo("job_folders_swept", "\"folders\":" + std::to_string(swept));
  const fs::path mine = fs::path(base) / fmt::format("p-{}-{}", ::getpid(), crypto::RandomHexId(4));
  if (!fs::create_directory(mine, ec)) return Fail(ErrorCode::kResourceExhausted, "cannot make the job folders' folder");
  ::chmod(mine.c_str(), 0700);
  // Held open (and locked) until the process ends; never inherited (O_CLOEXEC).
  const int fd = ::open((mine / ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0 || ::flock(fd, LOCK_EX | LOCK_NB) != 0)
    return Fail(ErrorCode::kResourceExhausted, "cannot lock the job folders' folder");
  claimed[base] = mine.string();
  return mine.string();
}

namespace {

// A private folder for one run, removed with everything in it when the run ends.
class JobFolder {
 public:
  static Result<JobFolder> Make(const std::string& base, std::int64_t job_id) {
    auto scratch = ProcessScratchFolder(base);
    if (!scratch) return std::unexpected(scratch.error());
    std::error_code ec;
    fs::path dir = fs::path(*scratch) / fmt::format("job-{}-{}", job_id, crypto::RandomHexId(6));
    if (!fs::create_directory(dir, ec)) return Fail(ErrorCode::kResourceExhausted, "cannot make the job folder");
    ::chmod(dir.c_str(), 0700);
    fs::create_directories(dir / "input" / "dicom", ec);
    fs::create_directories(dir / "output", ec);
    if (ec) return Fail(ErrorCode::kResourceExhausted, "cannot make the job folder");
    return JobFolder(dir);
  }
  JobFolder(JobFolder&& other) noexcept : dir_(std::move(other.dir_)) { other.dir_.clear(); }
  ~JobFolder() {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }
  const fs::path& dir() const { return dir_; }

 private:
  explicit JobFolder(fs::path dir) : dir_(std::move(dir)) {}
  fs::path dir_;
};

// What the vendor's run record says of the input: geometry and acquisition, no patient data.
json InputRecord(const services::SeriesVolume& source) {
  const auto& g = source.volume.geometry;
  json input = {{"study_uid", source.study_uid}, {"series_uid", source.series_uid}, {"modality", source.modality}, {"instances", source.instances},
                {"dims", g.dims},                  {"spacing_mm", g.spacing}};
  if (auto facts = dicom::ReadAcquisitionFacts(source.any_image)) {
    auto optional = [](const std::optional<double>& v) { return v ? json(*v) : json(nullptr); };
    input["manufacturer"] = facts->manufacturer;
    input["model"] = facts->model;
    input["kernel"] = facts->kernel;
    input["body_part"] = facts->body_part;
    input["slice_thickness_mm"] = optional(facts->slice_thickness_mm);
    input["kvp"] = optional(facts->kvp);
    input["field_strength_t"] = optional(facts->field_strength_t);
  }
  return input;
}

}  // namespace

json MeasurementReportOf(const services::AlgorithmManifest& manifest, const json& metrics) {
  // The SEG numbers its segments 1..n in the order of their labels.
  std::vector<dicom::SegmentInfo> segments = manifest.segments;
  std::sort(segments.begin(), segments.end(), [](const auto& a, const auto& b) { return a.label < b.label; });
  std::vector<dicom::ReportedMeasurement> measurements;
  for (const auto& m : manifest.measurements) {
    if (!metrics.contains(m.metric) || !metrics[m.metric].is_number()) continue;  // the run did not give it
    const double value = metrics[m.metric].get<double>();
    if (!std::isfinite(value)) continue;
    for (std::size_t i = 0; i < segments.size(); ++i)
      if (segments[i].label == m.segment)
        measurements.push_back({static_cast<int>(i + 1), segments[i].name, segments[i].type, m.quantity, m.unit, value});
  }
  if (measurements.empty()) return nullptr;
  return services::ResultForms::ReportJson({manifest.manufacturer, manifest.name, manifest.version}, measurements);
}

Result<std::string> JobUid(services::Archive& archive, std::int64_t tenant_id, std::int64_t job_id, std::string_view part) {
  return services::ClinicDerivedUid(archive, tenant_id, fmt::format("voxelgate job seg {} {} {}", tenant_id, job_id, part));
}

Result<AlgorithmOutput> AlgorithmHandler::Execute(const storage::JobRecord& job, const json& params,
                                                  const services::AlgorithmManifest& manifest,
                                                  const services::SeriesVolume& source, json& timings,
                                                  services::JobProgress& progress, const std::function<bool()>& stop) {
  const auto should_stop = [&] { return progress.Cancelled() || (stop && stop()); };
  const std::int64_t tenant = job.tenant_id;
  const std::string series_uid = params.value("series_uid", "");
  auto started = Clock::now();
  AlgorithmOutput output;
  if (manifest.runner.kind == "builtin") {
    progress.Report(1, 4, "running " + manifest.name);
    const algorithms::BuiltinAlgorithm* builtin = algorithms::FindBuiltin(manifest.runner.entry);
    if (!builtin) return Fail(ErrorCode::kInternal, "no built-in algorithm '" + manifest.runner.entry + "'");
    started = Clock::now();
    auto ran = (*builtin)(source.volume, should_stop);
    timings["run"] = MsSince(started);
    if (!ran) return std::unexpected(ran.error());
    output.labels = std::move(ran->labels);
    output.metrics = std::move(ran->metrics);
    output.warnings = std::move(ran->warnings);
  } else {
    progress.Report(1, 4, "preparing the input");
    started = Clock::now();
    auto folder = JobFolder::Make(scratch_dir_, job.id);
    if (!folder) return std::unexpected(folder.error());
    const fs::path input_dir = folder->dir() / "input", out_dir = folder->dir() / "output";
    std::string nifti;
    auto written = dicom::WriteNiftiGz(source.volume, [&](std::string_view chunk) -> Result<void> {
      nifti.append(chunk);
      return {};
    });
    if (!written) return std::unexpected(written.error());
    if (auto ok = WriteFile(input_dir / "image.nii.gz", nifti); !ok) return std::unexpected(ok.error());
    nifti.clear();
    // The DICOM headers as the manifest asks and the clinic allows: none; de-identified by
    // the Basic Profile with a secret of this run alone (its UIDs mean nothing elsewhere);
    // or, where the clinic's settings allow it, as stored.
    const std::string& headers = manifest.input.dicom_headers;
    if (headers == "full") {
      auto settings = annotations_.GetSettings(tenant);
      if (!settings) return std::unexpected(settings.error());
      if (!settings->algorithms_full_dicom_headers)
        return Fail(ErrorCode::kForbidden, manifest.name + " asks for the series' full DICOM headers "
                                                          "(input.dicom_headers = \"full\"), which this clinic does not "
                                                          "allow (setting algorithms_full_dicom_headers)");
    }
    if (headers != "none") {
      services::Retrieval retrieval(archive_);
      auto rows = retrieval.Locate(tenant, {source.study_uid, series_uid, {}});
      if (!rows) return std::unexpected(rows.error());
      const crypto::SecretKey run_secret = crypto::SecretKey::Generate();
      int n = 0;
      for (const auto& row : *rows) {
        auto bytes = retrieval.ReadWhole(tenant, row);
        if (!bytes) return std::unexpected(bytes.error());
        if (headers == "deidentified") {
          auto deidentified = dicom::Deidentify(*bytes, dicom::DeidOptions{}, run_secret);
          if (!deidentified) return std::unexpected(deidentified.error());
          *bytes = std::move(deidentified->part10);
        }
        if (auto ok = WriteFile(input_dir / "dicom" / fmt::format("IM{:05d}.dcm", ++n), *bytes); !ok)
          return std::unexpected(ok.error());
      }
    }
    const auto& g = source.volume.geometry;
    json job_json = {{"job_id", job.id},
                     {"algorithm", {{"id", manifest.id}, {"version", manifest.version}}},
                     {"parameters", params.value("parameters", json::object())},
                     {"geometry",
                      {{"dims", g.dims}, {"spacing", g.spacing}, {"origin_lps", g.origin}, {"direction_lps", g.direction}}},
                     {"modality", source.modality},
                     {"segments", json::parse(services::SegmentsToJson(manifest.segments))}};
    if (auto ok = WriteFile(input_dir / "job.json", job_json.dump(2)); !ok) return std::unexpected(ok.error());
    ::chmod(out_dir.c_str(), 0777);
    timings["convert"] = MsSince(started);

    progress.Report(2, 4, "running " + manifest.name);
    // Checked again as it runs: the catalog row may have been written by someone else.
    auto algorithm_dir = services::ConfinedAlgorithmFolder(manifest.runner.directory, algorithms_.confinement());
    if (!algorithm_dir) return std::unexpected(algorithm_dir.error());
    SandboxSpec spec;
    spec.command = manifest.runner.command;
    spec.algorithm_dir = *algorithm_dir;
    spec.input_dir = input_dir.string();
    spec.output_dir = out_dir.string();
    spec.memory_mb = manifest.limits.memory_mb;
    spec.wall_seconds = manifest.limits.wall_seconds;
    spec.threads = manifest.limits.threads;
    spec.max_processes = manifest.limits.processes;
    started = Clock::now();
    auto ran = RunSandboxed(spec, should_stop);
    timings["run"] = MsSince(started);
    if (!ran) return std::unexpected(ran.error());
    output.log = ran->log;
    if (ran->cancelled) return Fail(ErrorCode::kUnavailable, "cancelled");
    if (!ran->Succeeded())
      return Fail(ErrorCode::kUnprocessable, ran->FailureMessage(spec.memory_mb, spec.wall_seconds, spec.max_processes));
    // The output is the algorithm's (untrusted): no larger than the input's grid allows.
    const std::int64_t grid_voxels = source.volume.geometry.VoxelCount();
    auto labels_file = ReadFile(out_dir / "labels.nii.gz", static_cast<std::uintmax_t>(grid_voxels) * 8 + (1 << 20));
    if (!labels_file && labels_file.error().code == ErrorCode::kInvalidArgument)
      return Fail(ErrorCode::kUnprocessable, labels_file.error().public_message);
    if (!labels_file)
      return Fail(ErrorCode::kUnprocessable, "the algorithm ended without writing output/labels.nii.gz (or wrote one larger "
                                             "than 8 bytes per input voxel)");
    auto image = dicom::ReadNifti(*labels_file, grid_voxels);
    if (!image) return Fail(ErrorCode::kUnprocessable, "output/labels.nii.gz: " + image.error().public_message);
    auto labels = dicom::LabelsFromNifti(*image);
    if (!labels) return Fail(ErrorCode::kUnprocessable, "output/labels.nii.gz: " + labels.error().public_message);
    if (!labels->geometry.SameGrid(source.volume.geometry, 0.01))
      return Fail(ErrorCode::kUnprocessable,
                  "output/labels.nii.gz is not on the input's grid (same dims, spacing, origin and orientation)");
    labels->geometry = source.volume.geometry;
    output.labels = std::move(*labels);
    auto result = ReadFile(out_dir / "result.json", 1 << 20);
    if (!result && result.error().code != ErrorCode::kNotFound)  // a link, a device, too large
      return Fail(ErrorCode::kUnprocessable, result.error().public_message);
    if (result) {
      if (!JsonDepthWithin(*result, 4))
        return Fail(ErrorCode::kUnprocessable, "output/result.json nests deeper than 4 levels");
      json r = json::parse(*result, nullptr, false);
      if (!r.is_object()) return Fail(ErrorCode::kUnprocessable, "output/result.json is not a JSON object");
      // What flows back to the vendor is bounded (docs/algorithm-contract.md): metrics are
      // numbers, booleans or short strings; at most 20 warnings of 500 characters.
      if (r.contains("metrics") && r["metrics"].is_object()) {
        if (r["metrics"].size() > 256) return Fail(ErrorCode::kUnprocessable, "output/result.json has more than 256 metrics");
        for (const auto& [name, value] : r["metrics"].items()) {
          const bool fits = value.is_number() || value.is_boolean() || (value.is_string() && value.get<std::string>().size() <= 64);
          if (fits && name.size() <= 64) output.metrics[name] = value;
          else output.warnings.push_back("metric '" + name.substr(0, 64) +
                                         "' left out: metrics are numbers, booleans or strings of at most 64 characters");
        }
      }
      for (const char* key : {"warnings", "messages"})
        if (r.contains(key) && r[key].is_array())
          for (const auto& w : r[key])
            if (w.is_string() && output.warnings.size() < 20) output.warnings.push_back(w.get<std::string>().substr(0, 500));
    }
  }
  return output;
}

Result<std::string> AlgorithmHandler::Run(const storage::JobRecord& job, services::JobProgress& progress) {
  const json params = json::parse(job.params, nullptr, false);
  if (!params.is_object()) return Fail(ErrorCode::kInternal, "the job's parameters are unreadable");
  const std::int64_t now = UnixSeconds();
  auto grant = licensing_.CheckRun(job.tenant_id, params.value("algorithm", ""), now, /*running_self=*/1);
  if (!grant) {
    if (grant.error().reason == "subscription_suspended") {
      Error held = grant.error();
      held.code = ErrorCode::kUnavailable;
      held.reason = "held";
      return std::unexpected(held);
    }
    return std::unexpected(grant.error());
  }
  storage::UsageRecord usage;
  usage.job_id = job.id;
  usage.tenant_id = job.tenant_id;
  usage.user = job.created_by;
  usage.algorithm_id = params.value("algorithm", "");
  usage.algorithm_version = params.value("version", "");
  usage.series_uid = params.value("series_uid", "");
  usage.started_at = now;
  usage.period_start = grant->period_start;
  usage.overage = grant->overage;
  const auto started = Clock::now();
  auto result = RunGranted(job, progress, usage);
  if (!progress.Cancelled()) QueueShadow(job, params, result);
  usage.duration_ms = MsSince(started);
  usage.outcome = result ? "succeeded" : progress.Cancelled() ? "cancelled" : "failed";
  usage.counted = result.has_value();
  if (!usage.counted) usage.overage = false;
  if (auto recorded = licensing_.RecordUsage(usage); !recorded)
    LogWarn("usage_not_recorded", "\"job\":" + std::to_string(job.id));
  return result;
}

Result<std::string> AlgorithmHandler::RunGranted(const storage::JobRecord& job, services::JobProgress& progress,
                                                 storage::UsageRecord& usage) {
  const json params = json::parse(job.params, nullptr, false);
  if (!params.is_object()) return Fail(ErrorCode::kInternal, "the job's parameters are unreadable");
  const std::string algorithm_id = params.value("algorithm", ""), version = params.value("version", "");
  const std::string series_uid = params.value("series_uid", "");
  const std::int64_t tenant = job.tenant_id;
  json timings = json::object();
  json input = json::object();
  // From submission to a worker starting it (the queue's overhead, or its backlog).
  if (params.contains("submitted_ms") && params["submitted_ms"].is_number_integer())
    timings["queued"] = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count() -
                        params["submitted_ms"].get<std::int64_t>();

  auto result_of = [&](const storage::SegmentationRecord& seg, const json& metrics, const std::vector<std::string>& warnings,
                       const std::string& log_tail) {
    return json{{"algorithm", {{"id", algorithm_id}, {"version", version}}},
                {"series_uid", series_uid},
                {"seg_series_uid", seg.seg_series_uid},
                {"seg_sop_uid", seg.seg_sop_uid},
                {"segmentation_id", seg.id},
                {"metrics", metrics},
                {"warnings", warnings},
                {"timings_ms", timings},
                {"input", input},
                {"worker", job.lease_owner},
                {"log_tail", log_tail}}
        .dump();
  };
  // A retried job whose first attempt got as far as the segmentation: that is the result.
  auto earlier = annotations_.FindSegmentationByJob(tenant, job.id);
  if (!earlier) return std::unexpected(earlier.error());
  // Its other forms are queued again (the first attempt may have died before it queued
  // them): their UIDs derive from the version, so what was stored is found, not stored twice.
  if (*earlier) {
    auto resolved = algorithms_.Resolve(algorithm_id, version);
    const bool not_for_diagnosis = !resolved || resolved->second.not_for_diagnostic_use;
    auto forms_job = result_forms_.Enqueue(tenant, (*earlier)->id, not_for_diagnosis, job.created_by);
    std::vector<std::string> warnings;
    if (!forms_job) warnings.push_back("the result's other forms could not be queued: " + forms_job.error().public_message);
    json out = json::parse(result_of(**earlier, json::object(), warnings, ""));
    if (forms_job && *forms_job) out["forms_job_id"] = **forms_job;
    return out.dump();
  }

  auto algorithm = algorithms_.Resolve(algorithm_id, version);
  if (!algorithm) return std::unexpected(algorithm.error());
  const services::AlgorithmManifest& manifest = algorithm->second;

  progress.Report(0, 4, "fetching the series");
  auto started = Clock::now();
  auto source = volumes_.Assemble(tenant, series_uid);
  if (!source) return std::unexpected(source.error());
  timings["fetch"] = MsSince(started);
  input = InputRecord(*source);
  services::SeriesFacts facts;
  facts.modality = source->modality;
  facts.slices = source->volume.geometry.dims[2];
  facts.spacing = source->volume.geometry.spacing;
  usage.slices = source->volume.geometry.dims[2];
  usage.voxels = source->volume.geometry.VoxelCount();
  if (auto ok = services::CheckInput(manifest, facts); !ok) return std::unexpected(ok.error());
  if (progress.Cancelled()) return Fail(ErrorCode::kUnavailable, "cancelled");

  auto executed = Execute(job, params, manifest, *source, timings, progress);
  if (!executed) return std::unexpected(executed.error());
  AlgorithmOutput output = std::move(*executed);
  if (progress.Cancelled()) return Fail(ErrorCode::kUnavailable, "cancelled");

  progress.Report(3, 4, "storing the result");
  started = Clock::now();
  services::NewSegmentation request;
  request.source_series_uid = series_uid;
  request.segments = manifest.segments;
  request.author = job.created_by;
  request.source = "algorithm";
  request.algorithm_name = manifest.id;
  request.algorithm_version = manifest.version;
  request.algorithm_manufacturer = manifest.manufacturer;
  request.job_id = job.id;
  auto seg_series_uid = JobUid(archive_, tenant, job.id, "series");
  auto seg_sop_uid = JobUid(archive_, tenant, job.id, "instance");
  if (!seg_series_uid) return std::unexpected(seg_series_uid.error());
  if (!seg_sop_uid) return std::unexpected(seg_sop_uid.error());
  request.seg_series_uid = *seg_series_uid;
  request.seg_sop_uid = *seg_sop_uid;
  request.labels = std::move(output.labels);
  request.assembled_source = std::move(*source);
  auto created = segmentations_.Create(tenant, std::move(request));
  if (!created) {
    if (created.error().public_message.find("empty") != std::string::npos)
      return Fail(ErrorCode::kUnprocessable, manifest.name + " found nothing to segment in this series");
    return std::unexpected(created.error());
  }
  timings["store"] = MsSince(started);
  // The clinic's other forms of the result (RT structure set, overlay images) follow in a
  // job of their own: the result does not wait for them.
  auto forms_job = result_forms_.Enqueue(tenant, created->record.id, manifest.not_for_diagnostic_use, job.created_by,
                                         MeasurementReportOf(manifest, output.metrics));
  if (!forms_job) output.warnings.push_back("the result's other forms could not be queued: " + forms_job.error().public_message);
  std::string result = result_of(created->record, output.metrics, output.warnings, LastLines(output.log, 20, 4000));
  if (!forms_job || !*forms_job) return result;
  json out = json::parse(result);
  out["forms_job_id"] = **forms_job;
  return out.dump();
}

void AlgorithmHandler::QueueShadow(const storage::JobRecord& job, const json& params, const Result<std::string>& result) {
  const std::string shadow = params.value("shadow_version", "");
  if (shadow.empty()) return;
  services::ShadowRequest request;
  request.tenant_id = job.tenant_id;
  request.pinned_job_id = job.id;
  request.algorithm_id = params.value("algorithm", "");
  request.pinned_version = params.value("version", "");
  request.shadow_version = shadow;
  request.study_uid = params.value("study_uid", "");
  request.series_uid = params.value("series_uid", "");
  request.priority = job.priority;
  services::PinnedOutcome pinned;
  pinned.state = result ? "succeeded" : "failed";
  if (!result) pinned.error = result.error().public_message;
  if (result) {
    const json out = json::parse(*result, nullptr, false);
    if (out.is_object()) {
      if (out.contains("segmentation_id") && out["segmentation_id"].is_number_integer())
        pinned.segmentation_id = out["segmentation_id"].get<std::int64_t>();
      pinned.metrics = out.value("metrics", json::object());
      const json timings = out.value("timings_ms", json::object());
      if (timings.contains("run") && timings["run"].is_number_integer()) pinned.run_ms = timings["run"].get<std::int64_t>();
    }
  }
  // The clinic's result stands whatever becomes of its shadow.
  if (auto queued = shadow_runs_.Queue(request, pinned); !queued)
    LogWarn("shadow_run_not_queued", "\"job\":" + std::to_string(job.id) + ",\"detail\":\"" +
                                         JsonEscape(queued.error().public_message) + "\"");
}

Result<std::string> AlgorithmHandler::RunShadow(const storage::JobRecord& job, services::JobProgress& progress) {
  const json params = json::parse(job.params, nullptr, false);
  if (!params.is_object()) return Fail(ErrorCode::kInternal, "the job's parameters are unreadable");
  const std::int64_t tenant = job.tenant_id;
  const std::int64_t pinned_job_id = params.value("pinned_job_id", std::int64_t{0});
  const json pinned = params.value("pinned", json::object());
  json timings = json::object();
  json result = {{"pinned", pinned}, {"metrics", json::object()}, {"warnings", json::array()}};
  // The outcome is recorded with the shadow run however the run ends (but a cancellation).
  auto record_failure = [&](const Error& error) -> Result<std::string> {
    if (progress.Cancelled()) return std::unexpected(error);
    result["timings_ms"] = timings;
    if (auto ok = shadow_runs_.Finish(tenant, pinned_job_id, nullptr, result, error.public_message); !ok)
      return std::unexpected(ok.error());
    return std::unexpected(error);
  };
  // The clinics first: a clinic run waiting or running sends this job back to the queue.
  YieldToClinics yield(jobs_);
  if (yield()) return std::unexpected(YieldToClinics::Held());
  auto algorithm = algorithms_.Resolve(params.value("algorithm", ""), params.value("version", ""));
  if (!algorithm) return record_failure(algorithm.error());
  const services::AlgorithmManifest& manifest = algorithm->second;
  progress.Report(0, 4, "fetching the series");
  auto started = Clock::now();
  auto source = volumes_.Assemble(tenant, params.value("series_uid", ""));
  if (!source) return record_failure(source.error());
  timings["fetch"] = MsSince(started);
  services::SeriesFacts facts;
  facts.modality = source->modality;
  facts.slices = source->volume.geometry.dims[2];
  facts.spacing = source->volume.geometry.spacing;
  if (auto ok = services::CheckInput(manifest, facts); !ok) return record_failure(ok.error());
  auto executed = Execute(job, params, manifest, *source, timings, progress, std::ref(yield));
  if (!executed && yield.fired()) return std::unexpected(YieldToClinics::Held());
  if (timings.contains("run")) result["run_ms"] = timings["run"];
  if (!executed) return record_failure(executed.error());
  if (progress.Cancelled()) return Fail(ErrorCode::kUnavailable, "cancelled");
  result["metrics"] = executed->metrics;
  result["warnings"] = executed->warnings;

  // How far the shadow is from the clinic's result, segment by segment.
  progress.Report(3, 4, "comparing with the pinned version");
  started = Clock::now();
  if (pinned.contains("segmentation_id") && pinned["segmentation_id"].is_number_integer()) {
    auto seg = segmentations_.Find(tenant, pinned["segmentation_id"].get<std::int64_t>());
    auto labels = seg ? segmentations_.Labels(tenant, seg->record) : Result<dicom::LabelVolume>(std::unexpected(seg.error()));
    if (!labels) {
      result["warnings"].push_back("the pinned result could not be read: " + labels.error().public_message);
    } else if (labels->geometry.dims != executed->labels.geometry.dims) {
      result["warnings"].push_back("the pinned result is not on the series' grid");
    } else {
      json agreement = json::array();
      std::map<int, std::string> names;
      for (const auto& segment : manifest.segments) names[segment.label] = segment.name;
      for (const auto& a : services::CompareLabels(*labels, executed->labels, /*with_hd95=*/true))
        agreement.push_back({{"label", a.label},
                             {"name", names.count(a.label) ? names[a.label] : ""},
                             {"dice", a.dice},
                             {"hd95_mm", a.hd95_mm ? json(*a.hd95_mm) : json(nullptr)},
                             {"volume_pinned_ml", a.volume_a_ml},
                             {"volume_shadow_ml", a.volume_b_ml}});
      result["agreement"] = agreement;
    }
  }
  timings["compare"] = MsSince(started);
  result["timings_ms"] = timings;
  if (auto ok = shadow_runs_.Finish(tenant, pinned_job_id, &executed->labels, result, ""); !ok)
    return std::unexpected(ok.error());
  // A clinician may have corrected the pinned result before the shadow ended.
  if (auto ok = shadow_runs_.CompareWithLatestCorrection(tenant, pinned_job_id); !ok)
    LogWarn("shadow_correction_not_compared", "\"job\":" + std::to_string(job.id));
  return json{{"pinned_job_id", pinned_job_id}, {"shadow_version", params.value("version", "")}}.dump();
}

}  // namespace vg::jobs
