#include "dicom/image_to_series.h"

#include <dcmtk/dcmdata/dcuid.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "dicom/dcmtk_io.h"

namespace vg::dicom {
namespace {

std::string NewSeriesUid() {
  char uid[100];
  return dcmGenerateUniqueIdentifier(uid, SITE_INSTANCE_UID_ROOT);
}

std::string DecimalString(double v) {
  std::string s = fmt::format("{:.10g}", v);
  if (s.size() > 16) s = fmt::format("{:.8g}", v);
  return s;
}

}  // namespace

Result<std::vector<std::string>> SeriesFromImage(const NiftiImage& image, const ConvertedSeriesInfo& info) {
  std::vector<std::string> out;
  auto made = SeriesFromImage(image, info, [&](std::string slice) { out.push_back(std::move(slice)); });
  if (!made) return std::unexpected(made.error());
  return out;
}

Result<void> SeriesFromImage(const NiftiImage& image, const ConvertedSeriesInfo& info,
                             const std::function<void(std::string)>& each) {
  const auto& g = image.geometry;
  const std::int64_t columns = g.dims[0], rows = g.dims[1], slices = g.dims[2], plane = columns * rows;
  if (columns < 1 || rows < 1 || slices < 1 || columns > 65535 || rows > 65535)
    return Fail(ErrorCode::kInvalidArgument, "the image's size cannot be a DICOM series");
  auto value = [&](std::int64_t i) { return image.IsBytes() ? static_cast<double>(image.bytes[i]) : image.values[i]; };
  double lo = INFINITY, hi = -INFINITY;
  bool integers = true;
  for (std::int64_t i = 0; i < plane * slices; ++i) {
    const double v = value(i);
    // NaN or an infinity would make the rescale NaN and its cast to int16 undefined.
    if (!std::isfinite(v))
      return Fail(ErrorCode::kUnprocessable, "the image holds values that are not finite numbers (NaN or infinity)");
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    integers = integers && v == std::floor(v);
  }
  // int16 with slope 1 when the values allow it; else a linear map onto the int16 range.
  double slope = 1, intercept = 0;
  if (!integers || lo < -32768 || hi > 32767) {
    slope = hi > lo ? (hi - lo) / 65535.0 : 1.0;
    intercept = lo + 32768 * slope;
  }
  const std::string modality = !info.modality.empty() ? info.modality : (lo < -500 ? "CT" : "MR");
  const std::string study = info.study_uid.empty() ? NewSeriesUid() : info.study_uid;
  const std::string series = info.series_uid.empty() ? NewSeriesUid() : info.series_uid;
  const std::string frame = info.frame_of_reference_uid.empty() ? NewSeriesUid() : info.frame_of_reference_uid;
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char date[16], time[16];
  std::strftime(date, sizeof date, "%Y%m%d", &tm);
  std::strftime(time, sizeof time, "%H%M%S", &tm);
  const std::string orientation = fmt::format("{}\\{}\\{}\\{}\\{}\\{}", DecimalString(g.direction[0]), DecimalString(g.direction[1]),
                                              DecimalString(g.direction[2]), DecimalString(g.direction[3]), DecimalString(g.direction[4]), DecimalString(g.direction[5]));
  const double window_center = (lo + hi) / 2, window_width = std::max(1.0, hi - lo);
  std::vector<Sint16> pixels(static_cast<size_t>(plane));
  for (std::int64_t k = 0; k < slices; ++k) {
    DcmFileFormat file;
    DcmDataset& ds = *file.getDataset();
    const bool ct = modality == "CT";
    ds.putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 192");
    ds.putAndInsertString(DCM_SOPClassUID, ct ? UID_CTImageStorage : UID_MRImageStorage);
    ds.putAndInsertString(DCM_SOPInstanceUID, NewSeriesUid().c_str());
    ds.putAndInsertString(DCM_StudyInstanceUID, study.c_str());
    ds.putAndInsertString(DCM_SeriesInstanceUID, series.c_str());
    ds.putAndInsertString(DCM_FrameOfReferenceUID, frame.c_str());
    ds.putAndInsertString(DCM_ImageType, "DERIVED\\SECONDARY");
    ds.putAndInsertString(DCM_DerivationDescription, info.derivation.substr(0, 1024).c_str());
    ds.putAndInsertString(DCM_Modality, modality.c_str());
    ds.putAndInsertString(DCM_PatientName, info.patient_name.c_str());
    ds.putAndInsertString(DCM_PatientID, info.patient_id.c_str());
    ds.putAndInsertString(DCM_PatientBirthDate, "");
    ds.putAndInsertString(DCM_PatientSex, "");
    ds.putAndInsertString(DCM_StudyDate, date);
    ds.putAndInsertString(DCM_StudyTime, time);
    ds.putAndInsertString(DCM_ContentDate, date);
    ds.putAndInsertString(DCM_ContentTime, time);
    ds.putAndInsertString(DCM_AccessionNumber, "");
    ds.putAndInsertString(DCM_ReferringPhysicianName, "");
    ds.putAndInsertString(DCM_StudyID, "");
    ds.putAndInsertString(DCM_Manufacturer, "");
    ds.putAndInsertString(DCM_SeriesNumber, "1");
    ds.putAndInsertString(DCM_InstanceNumber, std::to_string(k + 1).c_str());
    ds.putAndInsertString(DCM_SeriesDescription, info.series_description.substr(0, 64).c_str());
    ds.putAndInsertString(DCM_PositionReferenceIndicator, "");
    if (ct) {
      ds.putAndInsertString(DCM_KVP, "");
      ds.putAndInsertString(DCM_AcquisitionNumber, "");
      ds.putAndInsertString(DCM_RescaleType, "HU");
    } else {
      ds.putAndInsertString(DCM_ScanningSequence, "RM");
      ds.putAndInsertString(DCM_SequenceVariant, "NONE");
      ds.putAndInsertString(DCM_ScanOptions, "");
      ds.putAndInsertString(DCM_MRAcquisitionType, "3D");
      ds.putAndInsertString(DCM_EchoTime, "");
      ds.putAndInsertString(DCM_EchoTrainLength, "");
      ds.putAndInsertString(DCM_RepetitionTime, "");
    }
    const auto position = g.PatientPosition(0, 0, static_cast<double>(k));
    ds.putAndInsertString(DCM_ImagePositionPatient,
                          fmt::format("{}\\{}\\{}", DecimalString(position[0]), DecimalString(position[1]), DecimalString(position[2])).c_str());
    ds.putAndInsertString(DCM_ImageOrientationPatient, orientation.c_str());
    ds.putAndInsertString(DCM_PixelSpacing, fmt::format("{}\\{}", DecimalString(g.spacing[1]), DecimalString(g.spacing[0])).c_str());
    ds.putAndInsertString(DCM_SliceThickness, DecimalString(g.spacing[2]).c_str());
    ds.putAndInsertString(DCM_SpacingBetweenSlices, DecimalString(g.spacing[2]).c_str());
    ds.putAndInsertUint16(DCM_SamplesPerPixel, 1);
    ds.putAndInsertString(DCM_PhotometricInterpretation, "MONOCHROME2");
    ds.putAndInsertUint16(DCM_Rows, static_cast<Uint16>(rows));
    ds.putAndInsertUint16(DCM_Columns, static_cast<Uint16>(columns));
    ds.putAndInsertUint16(DCM_BitsAllocated, 16);
    ds.putAndInsertUint16(DCM_BitsStored, 16);
    ds.putAndInsertUint16(DCM_HighBit, 15);
    ds.putAndInsertUint16(DCM_PixelRepresentation, 1);
    ds.putAndInsertString(DCM_RescaleIntercept, DecimalString(intercept).c_str());
    ds.putAndInsertString(DCM_RescaleSlope, DecimalString(slope).c_str());
    ds.putAndInsertString(DCM_WindowCenter, DecimalString(window_center).c_str());
    ds.putAndInsertString(DCM_WindowWidth, DecimalString(window_width).c_str());
    for (std::int64_t i = 0; i < plane; ++i) {
      const double stored = std::round((value(k * plane + i) - intercept) / slope);
      pixels[static_cast<size_t>(i)] = static_cast<Sint16>(std::clamp(stored, -32768.0, 32767.0));
    }
    ds.putAndInsertUint16Array(DCM_PixelData, reinterpret_cast<const Uint16*>(pixels.data()), static_cast<unsigned long>(plane));
    auto bytes = WriteFileToString(file);
    if (!bytes) return std::unexpected(bytes.error());
    each(std::move(*bytes));
  }
  return {};
}

}  // namespace vg::dicom
