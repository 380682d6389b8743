#include "services/exports.h"

#include <fmt/format.h>

#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/byte_pipe.h"
#include "crypto/crypto.h"
#include "services/bundle_writer.h"
#include "services/retrieve.h"

namespace vg::services {
namespace {

using nlohmann::json;

Result<std::vector<std::string>> StringList(const json& j, const char* field) {
  std::vector<std::string> out;
  if (!j.contains(field) || j[field].is_null()) return out;
  if (!j[field].is_array()) return Fail(ErrorCode::kInvalidArgument, std::string("filter.") + field + " is a list of strings");
  for (const auto& v : j[field]) {
    if (!v.is_string() || v.get<std::string>().empty())
      return Fail(ErrorCode::kInvalidArgument, std::string("filter.") + field + " is a list of strings");
    out.push_back(v.get<std::string>());
  }
  return out;
}

std::string CaseName(size_t index) { return fmt::format("case_{:04d}", index); }

std::string NiftiBytes(const dicom::Volume& volume, Result<void>& status) {
  std::string out;
  status = dicom::WriteNiftiGz(volume, [&](std::string_view chunk) -> Result<void> {
    out.append(chunk);
    return {};
  });
  return out;
}

}  // namespace

std::string DatasetName(std::string_view name) {
  std::string out;
  for (char c : name)
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') out += c;
  if (out.empty()) out = "voxelgate";
  return out.substr(0, 48);
}

Result<ExportRequest> ParseExportRequest(const json& body) {
  if (!body.is_object()) return Fail(ErrorCode::kInvalidArgument, "send a JSON object");
  ExportRequest r;
  auto text = [&](const char* field, std::string& out, std::initializer_list<const char*> allowed) -> Result<void> {
    if (!body.contains(field)) return {};
    if (!body[field].is_string()) return Fail(ErrorCode::kInvalidArgument, std::string(field) + " must be a string");
    out = body[field].get<std::string>();
    if (allowed.size() == 0) return {};
    for (const char* a : allowed)
      if (out == a) return {};
    std::string list;
    for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
    return Fail(ErrorCode::kInvalidArgument, std::string(field) + " is one of " + list);
  };
  if (auto ok = text("format", r.format, {"nnunet", "dicom"}); !ok) return std::unexpected(ok.error());
  if (auto ok = text("container", r.container, {"tar", "zip"}); !ok) return std::unexpected(ok.error());
  if (auto ok = text("segmentation", r.segmentation, {"latest_reviewed", "latest"}); !ok) return std::unexpected(ok.error());
  if (auto ok = text("dataset_name", r.dataset_name, {}); !ok) return std::unexpected(ok.error());
  r.dataset_name = DatasetName(r.dataset_name);
  if (body.contains("filter")) {
    const json& f = body["filter"];
    if (!f.is_object()) return Fail(ErrorCode::kInvalidArgument, "filter is an object");
    for (const auto& [key, value] : f.items())
      if (key != "tags" && key != "status" && key != "date" && key != "modality")
        return Fail(ErrorCode::kInvalidArgument, "unknown filter: " + key);
    auto tags = StringList(f, "tags");
    auto statuses = StringList(f, "status");
    if (!tags) return std::unexpected(tags.error());
    if (!statuses) return std::unexpected(statuses.error());
    r.tags = *tags;
    for (const auto& s : *statuses)
      if (!IsValidStatus(s)) return Fail(ErrorCode::kInvalidArgument, "filter.status holds todo, in_progress, done, reviewed");
    r.statuses = *statuses;
    if (f.contains("date")) {
      if (!f["date"].is_string()) return Fail(ErrorCode::kInvalidArgument, "filter.date is YYYYMMDD-YYYYMMDD");
      r.date = ParseDateRange(f["date"].get<std::string>());
      if (!r.date) return Fail(ErrorCode::kInvalidArgument, "filter.date is YYYYMMDD or YYYYMMDD-YYYYMMDD");
    }
    if (f.contains("modality")) {
      if (!f["modality"].is_string()) return Fail(ErrorCode::kInvalidArgument, "filter.modality is a string, e.g. CT");
      r.modalities = {f["modality"].get<std::string>()};
    }
  }
  return r;
}

std::string ExportRequestJson(const ExportRequest& r) {
  json filter = {{"tags", r.tags}, {"status", r.statuses}};
  if (r.date) filter["date"] = r.date->low + "-" + r.date->high;
  if (!r.modalities.empty()) filter["modality"] = r.modalities.front();
  return json{{"format", r.format},
              {"container", r.container},
              {"segmentation", r.segmentation},
              {"dataset_name", r.dataset_name},
              {"filter", filter}}
      .dump();
}

Result<storage::JobRecord> Exports::Submit(std::int64_t tenant_id, const ExportRequest& request, const std::string& author) {
  storage::JobRecord job;
  job.tenant_id = tenant_id;
  job.kind = "export";
  job.params = ExportRequestJson(request);
  job.created_by = author;
  job.max_attempts = 2;
  return jobs_.EnqueueJob(job);
}

Result<storage::JobRecord> Exports::Find(std::int64_t tenant_id, std::int64_t id) {
  auto job = jobs_.FindJob(tenant_id, id);
  if (!job || job->kind != "export") return Fail(ErrorCode::kNotFound, "no such export");
  return job;
}

Result<std::vector<storage::JobRecord>> Exports::List(std::int64_t tenant_id) {
  storage::JobFilter filter;
  filter.kind = "export";
  filter.limit = 200;
  return jobs_.ListJobs(tenant_id, filter);
}

Result<Exports::Download> Exports::Open(std::int64_t tenant_id, std::int64_t id) {
  auto job = Find(tenant_id, id);
  if (!job) return std::unexpected(job.error());
  if (job->state != "succeeded")
    return Fail(ErrorCode::kConflict, "the export is " + job->state + "; download it once it has succeeded");
  auto result = json::parse(job->result, nullptr, false);
  if (!result.is_object() || !result.contains("blob")) return Fail(ErrorCode::kInternal, "the export lost its bundle");
  auto source = archive_.blobs.Get({tenant_id, result["blob"].get<std::string>()});
  if (!source) return std::unexpected(source.error());
  Download d;
  d.source = std::move(*source);
  const std::string container = result.value("container", "tar");
  d.media_type = container == "zip" ? "application/zip" : "application/x-tar";
  d.filename = result.value("dataset", "export") + "." + container;
  d.size = result.value("size", std::int64_t{0});
  return d;
}

Result<std::string> Exports::Run(const storage::JobRecord& job, JobProgress& progress) {
  auto request = ParseExportRequest(json::parse(job.params, nullptr, false));
  if (!request) return std::unexpected(request.error());
  const std::int64_t tenant = job.tenant_id;

  WorklistQuery query;
  query.tags = request->tags;
  query.statuses = request->segmentation == "latest_reviewed" ? std::vector<std::string>{"reviewed"} : request->statuses;
  query.date = request->date;
  query.modalities = request->modalities;
  query.sort = "date";
  query.limit = -1;
  auto studies = annotations_.Worklist(tenant, query);
  if (!studies) return std::unexpected(studies.error());
  if (request->segmentation == "latest_reviewed" && !request->statuses.empty() &&
      std::find(request->statuses.begin(), request->statuses.end(), "reviewed") == request->statuses.end())
    studies->studies.clear();  // "reviewed" and a status filter without it: nothing matches

  const std::string dataset = fmt::format("Dataset001_{}", request->dataset_name);
  const std::string blob = crypto::RandomHexId(16);
  BytePipe pipe;
  Result<void> stored;
  std::int64_t size = 0;
  std::thread consumer([&] {
    stored = archive_.blobs.Put({tenant, blob}, pipe);
    if (!stored) pipe.Abandon();
  });
  // Every way out ends the consumer: with the data when the bundle is complete, else
  // with an error, so that the blob store discards what it staged.
  struct ConsumerGuard {
    BytePipe& pipe;
    std::thread& thread;
    ~ConsumerGuard() {
      pipe.Close(Error{ErrorCode::kUnavailable, "the export stopped", {}});
      if (thread.joinable()) thread.join();
    }
  } guard{pipe, consumer};
  auto finish_consumer = [&](std::optional<Error> error) {
    pipe.Close(error);
    consumer.join();
  };
  auto writer = BundleWriter::Open(request->container == "zip" ? BundleFormat::kZip : BundleFormat::kTar,
                                   [&](std::string_view bytes) {
                                     size += static_cast<std::int64_t>(bytes.size());
                                     return pipe.Write(bytes);
                                   });
  if (!writer) {
    finish_consumer(writer.error());
    return std::unexpected(writer.error());
  }

  json skipped = json::array(), cases = json::array();
  std::map<std::string, int> label_of_name;  // nnU-Net labels by segment name, 1..K
  std::string channel = "CT";
  size_t index = 0;
  const auto total = static_cast<std::int64_t>(studies->studies.size());
  Result<void> status;
  for (std::int64_t done = 0; done < total && status; ++done) {
    const auto& study = studies->studies[done];
    if (!progress.Report(done, total, "case " + std::to_string(done + 1) + " of " + std::to_string(total))) {
      status = Fail(ErrorCode::kUnavailable, "cancelled");
      break;
    }
    auto skip = [&](std::string reason) { skipped.push_back({{"study_uid", study.study_uid}, {"reason", reason}}); };
    auto versions = segmentations_.List(tenant, study.study_uid, std::nullopt);
    if (!versions) return std::unexpected(versions.error());
    if (versions->empty()) {
      skip("no segmentation");
      continue;
    }
    const storage::SegmentationRecord& version = versions->front().record;
    const std::string name = CaseName(index + 1);
    if (request->format == "nnunet") {
      auto source = volumes_.Assemble(tenant, version.source_series_uid);
      if (!source) {
        skip(source.error().public_message);
        continue;
      }
      auto labels = segmentations_.Labels(tenant, version);
      if (!labels || !labels->geometry.SameGrid(source->volume.geometry, 0.01)) {
        skip(labels ? "the segmentation is not on its series' grid" : labels.error().public_message);
        continue;
      }
      // Renumber by segment name so a label means the same thing in every case.
      std::array<std::uint8_t, 256> remap{};
      for (const auto& s : SegmentsFromJson(version.segments_json)) {
        auto [it, added] = label_of_name.emplace(s.name, static_cast<int>(label_of_name.size()) + 1);
        if (it->second > 255) return Fail(ErrorCode::kInvalidArgument, "more than 255 distinct segment names");
        remap[s.label] = static_cast<std::uint8_t>(it->second);
      }
      for (auto& v : labels->labels) v = remap[v];
      labels->geometry = source->volume.geometry;  // exactly the image's grid, not a float copy
      if (index == 0 && !source->modality.empty()) channel = source->modality;
      Result<void> written;
      const std::string image = NiftiBytes(source->volume, written);
      if (!written) return std::unexpected(written.error());
      auto label_file = dicom::NiftiGzBytes(*labels);
      if (!label_file) return std::unexpected(label_file.error());
      status = (*writer)->Add(dataset + "/imagesTr/" + name + "_0000.nii.gz", image);
      if (status) status = (*writer)->Add(dataset + "/labelsTr/" + name + ".nii.gz", *label_file);
    } else {
      Retrieval retrieval(archive_);
      auto rows = retrieval.Locate(tenant, {study.study_uid, version.source_series_uid, {}});
      if (!rows) {
        skip(rows.error().public_message);
        continue;
      }
      int n = 0;
      for (const auto& row : *rows) {
        auto bytes = retrieval.ReadWhole(tenant, row);
        if (!bytes) return std::unexpected(bytes.error());
        status = (*writer)->Add(fmt::format("{}/{}/image/IM{:05d}.dcm", dataset, name, ++n), *bytes);
        if (!status) break;
      }
      auto seg = segmentations_.SegFile(tenant, version);
      if (!seg) return std::unexpected(seg.error());
      if (status) status = (*writer)->Add(dataset + "/" + name + "/seg.dcm", *seg);
    }
    ++index;
    cases.push_back({{"case", name}, {"study_uid", study.study_uid}, {"segmentation_id", version.id}});
  }
  if (status && request->format == "nnunet") {
    json labels = {{"background", 0}};
    for (const auto& [name, value] : label_of_name) labels[name] = value;
    json manifest = {{"name", request->dataset_name},
                     {"description", "Exported by voxelgate"},
                     {"channel_names", {{"0", channel}}},
                     {"labels", labels},
                     {"numTraining", index},
                     {"file_ending", ".nii.gz"}};
    status = (*writer)->Add(dataset + "/dataset.json", manifest.dump(2));
  }
  if (status) status = (*writer)->Finish();
  if (!status) {
    finish_consumer(status.error());
    // The failed bundle is not referenced anywhere; a blob left behind is only space.
    WarnIfFailed(archive_.blobs.Remove({tenant, blob}), "export_cleanup_failed");
    return std::unexpected(status.error());
  }
  finish_consumer(std::nullopt);
  if (!stored) return std::unexpected(stored.error());
  json result = {{"blob", blob},        {"container", request->container}, {"format", request->format},
                 {"dataset", dataset},  {"cases", index},                  {"skipped", skipped},
                 {"size", size},        {"case_studies", cases}};
  return result.dump();
}

}  // namespace vg::services
