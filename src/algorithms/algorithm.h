// Built-in algorithms: C++ in-process, 3D image in, label volume and metrics out. The
// job layer runs them under the same contract as process algorithms (docs/algorithm-
// contract.md): the labels on the input's grid, metrics as JSON, warnings for the user.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dicom/volume.h"

namespace vg::algorithms {

struct AlgorithmOutput {
  dicom::LabelVolume labels;  // on the input volume's grid
  nlohmann::json metrics = nlohmann::json::object();
  std::vector<std::string> warnings;
};

// Polled between steps; true: stop (the run fails as cancelled).
using StopCheck = std::function<bool()>;

using BuiltinAlgorithm = std::function<Result<AlgorithmOutput>(const dicom::Volume&, const StopCheck&)>;

// The built-in algorithm registered under `entry` ("ct-lungs"), or null.
const BuiltinAlgorithm* FindBuiltin(const std::string& entry);

// ct-lungs: left and right lung in chest CT (labels: 1 right lung, 2 left lung).
Result<AlgorithmOutput> SegmentLungs(const dicom::Volume& ct, const StopCheck& stop);

}  // namespace vg::algorithms
