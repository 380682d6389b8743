// The measurement report of an algorithm's result, as IHE AI Results asks: a DICOM
// Enhanced SR with TID 1500 (Measurement Report) holding one TID 1411 measurement group
// per segment measured, each naming its segment in the result's SEG, the source series,
// the finding (the segment's type) and the coded measurements (e.g. the volume in mL),
// with the algorithm as device observer and as Contributing Equipment. Written with
// DCMTK's dcmsr/cmr; read back with dcmdata alone.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "dicom/seg.h"
#include "dicom/written_values.h"

namespace vg::dicom {

struct ReportedMeasurement {
  int segment = 0;             // the segment's number in the SEG
  std::string tracking_id;     // a name for the measured region (the segment's)
  CodedConcept finding;        // what the segment is (its type)
  CodedConcept quantity, unit;  // e.g. (118565006, SCT, Volume) in (mL, UCUM, milliliter)
  double value = 0;
};

struct MeasurementReportOptions {
  std::string series_uid, sop_uid;  // empty: new ones
  std::int64_t series_number = 950;
  std::string series_description = "Measurements";
  ProcessingAlgorithm algorithm;  // device observer and Contributing Equipment
  std::string seg_sop_uid, seg_series_uid;
  std::string source_series_uid;
};

// The report on `source_part10`'s patient and study (any image of the source series,
// which also enters the image library). Part 10, Explicit VR Little Endian.
// kInvalidArgument when there is nothing to report or a value is not finite.
Result<std::string> WriteMeasurementReport(std::string_view source_part10, const std::vector<ReportedMeasurement>& measurements,
                                           const MeasurementReportOptions& options);

// What a TID 1500 report holds, as read back: each numeric measurement with its group's
// tracking identifier and referenced segment.
struct ReadMeasurement {
  std::string tracking_id;
  std::optional<int> segment;
  std::string seg_sop_uid;
  CodedConcept quantity, unit;
  double value = 0;
};
struct ReadReport {
  std::string sop_uid, series_uid, title;
  std::string observer_name;  // the device observer (the algorithm)
  std::vector<ReadMeasurement> measurements;
};
Result<ReadReport> ReadMeasurementReport(std::string_view part10);

}  // namespace vg::dicom
