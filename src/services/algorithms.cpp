#include "services/algorithms.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <algorithm>
#include <filesystem>
#include <set>

#include "core/toml_json.h"
#include "services/segmentations.h"

namespace vg::services {
namespace {

using nlohmann::json;

Result<std::string> Text(const json& j, const char* field, bool required, size_t max = 256) {
  if (!j.contains(field)) {
    if (required) return Fail(ErrorCode::kInvalidArgument, std::string("the manifest needs ") + field);
    return std::string();
  }
  if (!j[field].is_string()) return Fail(ErrorCode::kInvalidArgument, std::string(field) + " must be a string");
  std::string value = j[field].get<std::string>();
  if (value.size() > max) return Fail(ErrorCode::kInvalidArgument, std::string(field) + " is too long");
  return value;
}

Result<std::int64_t> Int(const json& j, const char* field, std::int64_t fallback, std::int64_t low, std::int64_t high) {
  if (!j.contains(field)) return fallback;
  if (!j[field].is_number_integer() || j[field].get<std::int64_t>() < low || j[field].get<std::int64_t>() > high)
    return Fail(ErrorCode::kInvalidArgument, fmt::format("{} is a whole number from {} to {}", field, low, high));
  return j[field].get<std::int64_t>();
}

bool IsIdentifier(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
  return true;
}

}  // namespace

Result<AlgorithmManifest> ParseManifest(std::string_view toml_text) {
  auto text = TomlToJson(toml_text);
  if (!text) return std::unexpected(text.error());
  return ManifestFromJson(*text);
}

Result<AlgorithmManifest> ManifestFromJson(const std::string& text) {
  const json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return Fail(ErrorCode::kInvalidArgument, "the manifest is not a table");
  AlgorithmManifest m;
  auto take = [&](const char* field, std::string& out, bool required, size_t max = 256) -> Result<void> {
    auto v = Text(j, field, required, max);
    if (!v) return std::unexpected(v.error());
    out = *v;
    return {};
  };
  for (auto r : {take("id", m.id, true), take("version", m.version, true), take("name", m.name, true),
                 take("description", m.description, false, 4096), take("intended_use", m.intended_use, false, 4096)})
    if (!r) return std::unexpected(r.error());
  if (auto v = Text(j, "manufacturer", false, 64); !v) return std::unexpected(v.error());
  else if (!v->empty()) m.manufacturer = *v;
  if (!IsIdentifier(m.id)) return Fail(ErrorCode::kInvalidArgument, "id is 1-64 of letters, digits, - _ .");
  if (!IsIdentifier(m.version)) return Fail(ErrorCode::kInvalidArgument, "version is 1-64 of letters, digits, - _ .");
  if (j.contains("not_for_diagnostic_use")) {
    if (!j["not_for_diagnostic_use"].is_boolean())
      return Fail(ErrorCode::kInvalidArgument, "not_for_diagnostic_use is true or false");
    m.not_for_diagnostic_use = j["not_for_diagnostic_use"].get<bool>();
  }
  if (j.contains("input")) {
    const json& in = j["input"];
    if (!in.is_object()) return Fail(ErrorCode::kInvalidArgument, "[input] is a table");
    if (auto v = Text(in, "modality", false, 16); !v) return std::unexpected(v.error());
    else if (!v->empty()) m.input.modality = *v;
    if (auto v = Text(in, "body_part", false, 64); !v) return std::unexpected(v.error());
    else m.input.body_part = *v;
    if (auto v = Text(in, "dicom_headers", false, 16); !v) return std::unexpected(v.error());
    else if (!v->empty()) m.input.dicom_headers = *v;
    if (m.input.dicom_headers != "none" && m.input.dicom_headers != "deidentified" && m.input.dicom_headers != "full")
      return Fail(ErrorCode::kInvalidArgument, "input.dicom_headers is \"none\", \"deidentified\" or \"full\"");
    auto slices = Int(in, "min_slices", 1, 1, 100000);
    if (!slices) return std::unexpected(slices.error());
    m.input.min_slices = *slices;
    if (in.contains("spacing_mm")) {
      const json& s = in["spacing_mm"];
      if (!s.is_array() || s.size() != 2 || !s[0].is_number() || !s[1].is_number() || s[0].get<double>() < 0 ||
          s[1].get<double>() < s[0].get<double>())
        return Fail(ErrorCode::kInvalidArgument, "input.spacing_mm is [low, high] in mm");
      m.input.min_spacing_mm = s[0].get<double>();
      m.input.max_spacing_mm = s[1].get<double>();
    }
  }
  if (!j.contains("output") || !j["output"].is_object() || !j["output"].contains("segments") ||
      !j["output"]["segments"].is_array() || j["output"]["segments"].empty())
    return Fail(ErrorCode::kInvalidArgument, "the manifest needs [[output.segments]]");
  std::set<int> labels;
  for (const auto& s : j["output"]["segments"]) {
    auto segment = SegmentFromApiJson(s);
    if (!segment) return std::unexpected(segment.error());
    if (!labels.insert(segment->label).second)
      return Fail(ErrorCode::kInvalidArgument, fmt::format("output segment label {} is listed twice", segment->label));
    segment->automatic = true;
    segment->algorithm_name = m.name;
    segment->algorithm_version = m.version;
    m.segments.push_back(std::move(*segment));
  }
  if (j["output"].contains("measurements")) {
    const json& list = j["output"]["measurements"];
    if (!list.is_array() || list.size() > 256) return Fail(ErrorCode::kInvalidArgument, "[[output.measurements]] is a list of at most 256");
    for (const auto& item : list) {
      if (!item.is_object()) return Fail(ErrorCode::kInvalidArgument, "an output measurement is a table");
      AlgorithmManifest::Measurement mm;
      auto metric = Text(item, "metric", true, 64);
      if (!metric) return std::unexpected(metric.error());
      mm.metric = *metric;
      auto segment = Int(item, "segment", 0, 1, 255);
      if (!segment) return std::unexpected(segment.error());
      mm.segment = static_cast<int>(*segment);
      if (!labels.contains(mm.segment))
        return Fail(ErrorCode::kInvalidArgument, fmt::format("output measurement {} names segment {}, which is not an output segment",
                                                             mm.metric, mm.segment));
      if (!item.contains("quantity") || !item.contains("unit"))
        return Fail(ErrorCode::kInvalidArgument, "an output measurement needs quantity and unit ({code, scheme, meaning})");
      auto quantity = CodedConceptFromJson(item["quantity"], "quantity");
      auto unit = CodedConceptFromJson(item["unit"], "unit");
      if (!quantity) return std::unexpected(quantity.error());
      if (!unit) return std::unexpected(unit.error());
      mm.quantity = *quantity;
      mm.unit = *unit;
      m.measurements.push_back(std::move(mm));
    }
  }
  if (j.contains("acceptance") && !j["acceptance"].is_null()) {
    const json& a = j["acceptance"];
    if (!a.is_object()) return Fail(ErrorCode::kInvalidArgument, "[acceptance] is a table");
    AlgorithmManifest::Acceptance acceptance;
    auto min_cases = Int(a, "min_cases", 1, 1, 100000);
    if (!min_cases) return std::unexpected(min_cases.error());
    acceptance.min_cases = *min_cases;
    if (a.contains("segments")) {
      if (!a["segments"].is_array()) return Fail(ErrorCode::kInvalidArgument, "[[acceptance.segments]] is a list");
      std::set<int> judged;
      for (const auto& item : a["segments"]) {
        if (!item.is_object()) return Fail(ErrorCode::kInvalidArgument, "an acceptance segment is a table");
        AlgorithmManifest::Acceptance::Segment s;
        auto label = Int(item, "label", 0, 1, 255);
        if (!label) return std::unexpected(label.error());
        s.label = static_cast<int>(*label);
        if (!labels.contains(s.label))
          return Fail(ErrorCode::kInvalidArgument, fmt::format("acceptance names segment {}, which is not an output segment", s.label));
        if (!judged.insert(s.label).second)
          return Fail(ErrorCode::kInvalidArgument, fmt::format("acceptance names segment {} twice", s.label));
        auto bound = [&](const char* field, double low, double high, std::optional<double>& out) -> Result<void> {
          if (!item.contains(field)) return {};
          if (!item[field].is_number() || item[field].get<double>() < low || item[field].get<double>() > high)
            return Fail(ErrorCode::kInvalidArgument, fmt::format("acceptance {} is a number from {} to {}", field, low, high));
          out = item[field].get<double>();
          return {};
        };
        for (auto r : {bound("min_mean_dice", 0, 1, s.min_mean_dice), bound("max_hd95_mm", 0, 1e4, s.max_hd95_mm),
                       bound("max_failure_rate", 0, 1, s.max_failure_rate)})
          if (!r) return std::unexpected(r.error());
        acceptance.segments.push_back(s);
      }
    }
    m.acceptance = std::move(acceptance);
  }
  if (!j.contains("runner") || !j["runner"].is_object()) return Fail(ErrorCode::kInvalidArgument, "the manifest needs [runner]");
  const json& runner = j["runner"];
  if (auto v = Text(runner, "kind", true, 16); !v) return std::unexpected(v.error());
  else m.runner.kind = *v;
  if (m.runner.kind == "builtin") {
    auto entry = Text(runner, "entry", true, 64);
    if (!entry) return std::unexpected(entry.error());
    m.runner.entry = *entry;
  } else if (m.runner.kind == "process") {
    if (!runner.contains("command") || !runner["command"].is_array() || runner["command"].empty())
      return Fail(ErrorCode::kInvalidArgument, "runner.command is the program and its arguments, e.g. [\"/usr/bin/python3\", \"run.py\"]");
    for (const auto& a : runner["command"]) {
      if (!a.is_string() || a.get<std::string>().empty() || a.get<std::string>().size() > 4096)
        return Fail(ErrorCode::kInvalidArgument, "runner.command holds strings");
      m.runner.command.push_back(a.get<std::string>());
    }
    auto directory = Text(runner, "directory", true, 4096);
    if (!directory) return std::unexpected(directory.error());
    if (directory->empty())
      return Fail(ErrorCode::kInvalidArgument, "runner.directory names the algorithm's folder (mounted read-only)");
    m.runner.directory = *directory;
  } else {
    return Fail(ErrorCode::kInvalidArgument, "runner.kind is builtin or process");
  }
  if (j.contains("limits")) {
    const json& l = j["limits"];
    auto wall = Int(l, "wall_seconds", 600, 1, 86400);
    auto memory = Int(l, "memory_mb", 4096, 64, 1 << 20);
    auto threads = Int(l, "threads", 1, 1, 256);
    auto processes = Int(l, "processes", 64, 1, 4096);
    for (auto* r : {&wall, &memory, &threads, &processes})
      if (!*r) return std::unexpected(r->error());
    m.limits = {*wall, *memory, *threads, *processes};
  }
  return m;
}

std::string ManifestToJson(const AlgorithmManifest& m) {
  json segments = json::parse(SegmentsToJson(m.segments));
  json runner = {{"kind", m.runner.kind}};
  if (m.runner.kind == "builtin") runner["entry"] = m.runner.entry;
  else {
    runner["command"] = m.runner.command;
    runner["directory"] = m.runner.directory;
  }
  return json{{"id", m.id},
              {"version", m.version},
              {"name", m.name},
              {"description", m.description},
              {"intended_use", m.intended_use},
              {"not_for_diagnostic_use", m.not_for_diagnostic_use},
              {"input",
               {{"modality", m.input.modality},
                {"min_slices", m.input.min_slices},
                {"spacing_mm", {m.input.min_spacing_mm, m.input.max_spacing_mm}},
                {"body_part", m.input.body_part},
                {"dicom_headers", m.input.dicom_headers}}},
              {"manufacturer", m.manufacturer},
              {"output", {{"segments", segments}, {"measurements", [&] {
                             json list = json::array();
                             for (const auto& mm : m.measurements)
                               list.push_back({{"metric", mm.metric}, {"segment", mm.segment},
                                               {"quantity", CodedConceptJson(mm.quantity)},
                                               {"unit", CodedConceptJson(mm.unit)}});
                             return list;
                           }()}}},
              {"acceptance", [&]() -> json {
                 if (!m.acceptance) return nullptr;
                 json segs = json::array();
                 for (const auto& s : m.acceptance->segments) {
                   json entry = {{"label", s.label}};
                   if (s.min_mean_dice) entry["min_mean_dice"] = *s.min_mean_dice;
                   if (s.max_hd95_mm) entry["max_hd95_mm"] = *s.max_hd95_mm;
                   if (s.max_failure_rate) entry["max_failure_rate"] = *s.max_failure_rate;
                   segs.push_back(entry);
                 }
                 return json{{"min_cases", m.acceptance->min_cases}, {"segments", segs}};
               }()},
              {"runner", runner},
              {"limits",
               {{"wall_seconds", m.limits.wall_seconds},
                {"memory_mb", m.limits.memory_mb},
                {"threads", m.limits.threads},
                {"processes", m.limits.processes}}}}
      .dump();
}

json ManifestSummaryJson(const AlgorithmManifest& m, const storage::AlgorithmRecord& record) {
  json segments = json::array();
  for (const auto& s : m.segments)
    segments.push_back({{"label", s.label}, {"name", s.name}, {"colour", ColourHex(s.rgb)},
                        {"type", {{"code", s.type.code}, {"scheme", s.type.scheme}, {"meaning", s.type.meaning}}}});
  return {{"id", m.id},
          {"version", m.version},
          {"name", m.name},
          {"description", m.description},
          {"intended_use", m.intended_use},
          {"not_for_diagnostic_use", m.not_for_diagnostic_use},
          {"input",
           {{"modality", m.input.modality},
            {"min_slices", m.input.min_slices},
            {"body_part", m.input.body_part},
            {"dicom_headers", m.input.dicom_headers}}},
          {"segments", segments},
          {"manufacturer", m.manufacturer},
          {"measurements", json::parse(ManifestToJson(m))["output"]["measurements"]},
          {"acceptance", json::parse(ManifestToJson(m))["acceptance"]},
          {"default", record.is_default},
          {"enabled", record.enabled},
          {"registered_at", record.created_at}};
}

Result<void> CheckInput(const AlgorithmManifest& m, const SeriesFacts& s) {
  if (!m.input.modality.empty() && s.modality != m.input.modality)
    return Fail(ErrorCode::kUnprocessable,
                fmt::format("{} takes {} series; this one is {}", m.name, m.input.modality, s.modality.empty() ? "of no modality" : s.modality));
  if (s.slices < m.input.min_slices)
    return Fail(ErrorCode::kUnprocessable,
                fmt::format("{} needs at least {} slices; this series has {}", m.name, m.input.min_slices, s.slices));
  if (!m.input.body_part.empty() && !s.body_part.empty() && s.body_part != m.input.body_part)
    return Fail(ErrorCode::kUnprocessable,
                fmt::format("{} is for {}; this series is of {}", m.name, m.input.body_part, s.body_part));
  if (s.spacing)
    for (double v : *s.spacing)
      if (v < m.input.min_spacing_mm || v > m.input.max_spacing_mm)
        return Fail(ErrorCode::kUnprocessable,
                    fmt::format("{} takes voxels of {:.2g} to {:.2g} mm; this volume has {:.2g} mm", m.name,
                                m.input.min_spacing_mm, m.input.max_spacing_mm, v));
  return {};
}

bool PathWithin(const std::filesystem::path& inner, const std::filesystem::path& outer) {
  auto [o, i] = std::mismatch(outer.begin(), outer.end(), inner.begin(), inner.end());
  // "a/b/" ends in an empty element: "a/b/c" is within it all the same.
  return o == outer.end() || (o->empty() && std::next(o) == outer.end());
}

Result<std::string> ConfinedAlgorithmFolder(const std::string& folder, const AlgorithmConfinement& confinement) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path root = fs::canonical(confinement.root, ec);
  if (ec)
    return Fail(ErrorCode::kInvalidArgument, "the algorithms root " + confinement.root +
                                                 " does not exist: algorithm folders go inside it (algorithms.root)");
  const fs::path real = fs::canonical(folder, ec);
  if (ec || !fs::is_directory(real))
    return Fail(ErrorCode::kInvalidArgument, "runner.directory " + folder + " is not a folder on the server");
  if (!PathWithin(real, root))
    return Fail(ErrorCode::kInvalidArgument, "runner.directory " + folder + (real.string() != folder ? " (" + real.string() + ")" : "") +
                                                 " is outside the algorithms root " + root.string() +
                                                 ": the vendor's folders go inside it");
  for (const auto& p : confinement.protected_folders) {
    const fs::path guarded = fs::weakly_canonical(p, ec);
    if (ec) continue;
    if (PathWithin(guarded, real) || PathWithin(real, guarded))
      return Fail(ErrorCode::kInvalidArgument, "runner.directory " + real.string() + " holds or is inside " +
                                                   guarded.string() +
                                                   " (the data or key folder), which an algorithm must never see");
  }
  return real.string();
}

Result<std::pair<storage::AlgorithmRecord, AlgorithmManifest>> Algorithms::Register(std::string_view toml_text,
                                                                                    const std::string& base_dir) {
  auto manifest = ParseManifest(toml_text);
  if (!manifest) return std::unexpected(manifest.error());
  if (manifest->runner.kind == "process") {
    std::filesystem::path dir(manifest->runner.directory);
    if (dir.is_relative()) {
      if (base_dir.empty())
        return Fail(ErrorCode::kInvalidArgument, "runner.directory must be an absolute path on the server");
      dir = std::filesystem::path(base_dir) / dir;
    }
    auto confined = ConfinedAlgorithmFolder(dir.string(), confinement_);
    if (!confined) return std::unexpected(confined.error());
    manifest->runner.directory = *confined;
  }
  storage::AlgorithmRecord record;
  record.id = manifest->id;
  record.version = manifest->version;
  record.name = manifest->name;
  record.manifest_json = ManifestToJson(*manifest);
  auto added = store_.AddAlgorithm(record);
  if (!added) return std::unexpected(added.error());
  return std::make_pair(std::move(*added), std::move(*manifest));
}

Result<std::pair<storage::AlgorithmRecord, AlgorithmManifest>> Algorithms::Resolve(const std::string& id,
                                                                                   const std::string& version) {
  auto record = store_.FindAlgorithm(id, version);
  if (!record) return std::unexpected(record.error());
  if (!record->enabled)
    return Fail(ErrorCode::kNotFound, "algorithm " + id + " version " + record->version + " is withdrawn");
  auto manifest = ManifestFromJson(record->manifest_json);
  if (!manifest) return std::unexpected(manifest.error());
  return std::make_pair(std::move(*record), std::move(*manifest));
}

Result<std::vector<std::pair<storage::AlgorithmRecord, AlgorithmManifest>>> Algorithms::List() {
  auto records = store_.ListAlgorithms();
  if (!records) return std::unexpected(records.error());
  std::vector<std::pair<storage::AlgorithmRecord, AlgorithmManifest>> out;
  for (auto& r : *records) {
    auto manifest = ManifestFromJson(r.manifest_json);
    if (!manifest) return std::unexpected(manifest.error());
    out.emplace_back(std::move(r), std::move(*manifest));
  }
  return out;
}

std::string_view BuiltinCtLungsManifest() {
  return R"toml(
id = "ct-lungs"
version = "1.0.0"
name = "CT lungs"
description = "Left and right lung in chest CT: air inside the body, airways removed, vessels closed, holes filled."
intended_use = "Lung volumes and lung masks for research and for training-set preparation."
not_for_diagnostic_use = true
manufacturer = "voxelgate"

[input]
modality = "CT"
min_slices = 30
spacing_mm = [0.3, 6.0]

[[output.segments]]
label = 1
name = "Right lung"
colour = "#dc8c6e"
category = { code = "123037004", scheme = "SCT", meaning = "Anatomical Structure" }
type = { code = "3341006", scheme = "SCT", meaning = "Right lung" }

[[output.segments]]
label = 2
name = "Left lung"
colour = "#6e8cdc"
category = { code = "123037004", scheme = "SCT", meaning = "Anatomical Structure" }
type = { code = "44029006", scheme = "SCT", meaning = "Left lung" }

[[output.measurements]]
metric = "right_lung_ml"
segment = 1
quantity = { code = "118565006", scheme = "SCT", meaning = "Volume" }
unit = { code = "mL", scheme = "UCUM", meaning = "milliliter" }

[[output.measurements]]
metric = "left_lung_ml"
segment = 2
quantity = { code = "118565006", scheme = "SCT", meaning = "Volume" }
unit = { code = "mL", scheme = "UCUM", meaning = "milliliter" }

[acceptance]
min_cases = 3

[[acceptance.segments]]
label = 1
min_mean_dice = 0.85
max_hd95_mm = 20.0
max_failure_rate = 0.1

[[acceptance.segments]]
label = 2
min_mean_dice = 0.85
max_hd95_mm = 20.0
max_failure_rate = 0.1

[runner]
kind = "builtin"
entry = "ct-lungs"

[limits]
wall_seconds = 300
memory_mb = 4096
threads = 2
)toml";
}

}  // namespace vg::services
