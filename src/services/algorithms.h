// Algorithms: the vendor's registry. A version is described by a TOML manifest:
//
//   id = "ct-lungs"                version = "1.0.0"          name = "CT lungs"
//   description = "..."            intended_use = "..."       not_for_diagnostic_use = true
//   [input]   modality = "CT"   min_slices = 50   spacing_mm = [0.3, 5.0]   body_part = "CHEST"
//   manufacturer = "Vendor Inc."   (who makes it: named in its SEG and SR as processing equipment)
//   [[output.segments]]  label = 1  name = "Right lung"  colour = "#dc8c6e"
//                        category = {code = "123037004", scheme = "SCT", meaning = "Anatomical Structure"}
//                        type = {code = "3341006", scheme = "SCT", meaning = "Right lung"}
//   [[output.measurements]]  metric = "right_lung_ml"  segment = 1      (a result metric, coded for the SR)
//                        quantity = {code = "118565006", scheme = "SCT", meaning = "Volume"}
//                        unit = {code = "mL", scheme = "UCUM", meaning = "milliliter"}
//   [acceptance]  min_cases = 3                                         (what a clinic's acceptance run checks)
//   [[acceptance.segments]]  label = 1  min_mean_dice = 0.9  max_hd95_mm = 10  max_failure_rate = 0.05
//   [runner]  kind = "builtin"  entry = "ct-lungs"
//         or  kind = "process"  command = ["/usr/bin/python3", "run.py"]  directory = "/opt/vendor/algo"
//   [limits]  wall_seconds = 600   memory_mb = 4096   threads = 2   processes = 64
//
// Versions are immutable; a new version is a new entry, the first one is the default.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "dicom/seg.h"
#include "storage/algorithm_store.h"

namespace vg::services {

struct AlgorithmManifest {
  std::string id, version, name, description, intended_use;
  bool not_for_diagnostic_use = true;
  struct Input {
    std::string modality = "CT";
    std::int64_t min_slices = 1;
    double min_spacing_mm = 0, max_spacing_mm = 1e9;  // every axis of the volume
    std::string body_part;                           // "" any
    // What of the series' DICOM headers the algorithm gets in /job/input/dicom: "none",
    // "deidentified" (the Basic Profile, UIDs remapped per run; the default) or "full"
    // (only in a clinic whose settings allow it).
    std::string dicom_headers = "deidentified";
  } input;
  std::string manufacturer = "unspecified";
  std::vector<dicom::SegmentInfo> segments;
  // Metrics of a run that the SR reports as coded measurements of a segment.
  struct Measurement {
    std::string metric;
    int segment = 0;
    dicom::CodedConcept quantity, unit;
  };
  std::vector<Measurement> measurements;
  // What an acceptance run at a clinic must show (none: a clinic cannot require one).
  struct Acceptance {
    std::int64_t min_cases = 1;
    struct Segment {
      int label = 0;
      std::optional<double> min_mean_dice, max_hd95_mm, max_failure_rate;
    };
    std::vector<Segment> segments;
  };
  std::optional<Acceptance> acceptance;
  struct Runner {
    std::string kind;  // builtin, process
    std::string entry;  // builtin: its name
    std::vector<std::string> command;  // process: argv, run in `directory`
    std::string directory;
  } runner;
  struct Limits {
    // memory_mb and processes hold for the whole sandbox: every process it starts, together.
    std::int64_t wall_seconds = 600, memory_mb = 4096, threads = 1, processes = 64;
  } limits;
};

// From the TOML text: kInvalidArgument names the missing or bad field.
Result<AlgorithmManifest> ParseManifest(std::string_view toml_text);
std::string ManifestToJson(const AlgorithmManifest& manifest);
Result<AlgorithmManifest> ManifestFromJson(const std::string& json);
nlohmann::json ManifestSummaryJson(const AlgorithmManifest& manifest, const storage::AlgorithmRecord& record);

// The series facts the input constraints are checked against.
struct SeriesFacts {
  std::string modality, body_part;
  std::int64_t slices = 0;
  std::optional<std::array<double, 3>> spacing;  // when the volume is known
};
// kUnprocessable saying which constraint the series misses.
Result<void> CheckInput(const AlgorithmManifest& manifest, const SeriesFacts& series);

// True when `inner` is `outer` or inside it, element by element (both already resolved).
bool PathWithin(const std::filesystem::path& inner, const std::filesystem::path& outer);

// Where a process runner's folder may be: inside `root` (the algorithms root), and never
// holding or inside a protected folder (the data folder with the catalog and the blobs,
// the key folder): the sandbox mounts the whole folder for the vendor's code to read.
struct AlgorithmConfinement {
  std::string root;
  std::vector<std::string> protected_folders;
};
// The folder resolved with every link followed (a link inside the root that leads out of
// it leads out) and checked against `confinement`: its real path, or kInvalidArgument
// saying which rule it breaks.
Result<std::string> ConfinedAlgorithmFolder(const std::string& folder, const AlgorithmConfinement& confinement);

class Algorithms {
 public:
  Algorithms(storage::AlgorithmStore& store, AlgorithmConfinement confinement)
      : store_(store), confinement_(std::move(confinement)) {}
  // Registers a version (manifest TOML). kConflict for an existing (id, version). A
  // process runner's relative directory is resolved against `base_dir` (the manifest
  // file's folder); without one it must be absolute. It must exist, inside the
  // algorithms root (ConfinedAlgorithmFolder).
  Result<std::pair<storage::AlgorithmRecord, AlgorithmManifest>> Register(std::string_view toml_text,
                                                                          const std::string& base_dir = {});
  // The version asked for, or the default; kNotFound when absent or disabled.
  Result<std::pair<storage::AlgorithmRecord, AlgorithmManifest>> Resolve(const std::string& id,
                                                                         const std::string& version);
  Result<std::vector<std::pair<storage::AlgorithmRecord, AlgorithmManifest>>> List();
  storage::AlgorithmStore& store() { return store_; }
  const AlgorithmConfinement& confinement() const { return confinement_; }

 private:
  storage::AlgorithmStore& store_;
  AlgorithmConfinement confinement_;
};

// The manifest of the built-in ct-lungs, registered at first start.
std::string_view BuiltinCtLungsManifest();

}  // namespace vg::services
