// dicom: the only user of DCMTK. Parsing and validation of instances, DICOM JSON
// (PS3.18 F.2), frame extraction and rendering. Nothing here knows tenants or storage.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <utility>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace vg::dicom {

// Registers the decoders (JPEG, JPEG-LS, RLE) and quiets DCMTK's own logger. Call once.
void Initialize();

// JSON values of bulk data elements start with this marker; the HTTP layer replaces
// it with the absolute base URL of the request (the stored JSON is host-independent).
inline constexpr std::string_view kBulkDataMarker = "vg-bulk:";

struct ParsedInstance {
  std::string sop_class_uid, sop_uid, study_uid, series_uid;
  std::string transfer_syntax;
  std::string study_date, study_time, modality, accession_number;
  std::string patient_name, patient_id;  // for keyed hashing only; never log
  std::optional<std::int64_t> series_number, instance_number;
  std::int64_t rows = 0, columns = 0, bits_allocated = 0, frames = 0;
  std::string study_json;     // DICOM JSON object: patient + study attributes
  std::string series_json;    // DICOM JSON object: series attributes
  std::string instance_json;  // DICOM JSON object: the whole dataset, bulk data as URIs
};

// Parses one Part 10 file (DIMSE datasets are wrapped first, see WrapAsPart10).
// Failures are kInvalidArgument with a reason a user can act on (no patient data in it).
Result<ParsedInstance> ParseInstance(std::string_view bytes);

// Best effort for a file that failed to parse: the SOP class and instance UIDs from its
// meta header or the readable start of its dataset (empty strings when not found), so a
// failure report can name the instance.
std::pair<std::string, std::string> PeekSopIdentity(std::string_view bytes);

// A storage SOP class: DCMTK's list, and the ones the standard added since DCMTK 3.6.7
// (Label Map and Height Map Segmentation), so a DICOM node may send those too.
bool IsStorageSopClass(std::string_view uid);

// A Part 10 file around a bare dataset received over DIMSE: preamble, "DICM" and a file
// meta group naming the SOP class/instance, the transfer syntax the dataset is encoded
// in, and the sending AE. The dataset bytes are kept exactly as received.
std::string WrapAsPart10(std::string_view dataset, const std::string& sop_class_uid, const std::string& sop_uid,
                         const std::string& transfer_syntax, const std::string& source_ae);

// How a series was acquired, for the vendor's run records (no patient data): scanner,
// reconstruction kernel and the parameters that change what an algorithm sees.
struct AcquisitionFacts {
  std::string manufacturer, model, kernel, body_part;
  std::optional<double> slice_thickness_mm, kvp, field_strength_t;
};
Result<AcquisitionFacts> ReadAcquisitionFacts(std::string_view part10);

// A UUID-derived UID (PS3.5 B.2): "2.25." and the first 128 bits of `bits` in decimal.
// Random bits give a new UID; a keyed or plain hash gives the same UID for the same input.
std::string UidFromBits(std::span<const std::uint8_t> bits);

// True for a syntactically valid UID (digits and dots, <= 64 chars, no empty component).
bool IsValidUid(std::string_view uid);

struct TagInfo {
  std::uint16_t group = 0, element = 0;
  std::string vr;       // "PN", "DA", ...
  std::string keyword;  // "PatientName"; empty for unknown/private tags
  std::string Hex() const;  // "00100010"
};
// Looks up a keyword ("PatientName") or an 8-digit hex tag ("00100010").
std::optional<TagInfo> LookupTag(std::string_view keyword_or_hex);

// Frames, uncompressed or as stored.
struct FrameData {
  std::string bytes;
  std::string transfer_syntax;  // of `bytes`: the stored one, or Explicit VR LE when decoded
};

// Returns frame numbers `frames` (1-based). When `allow_compressed` is set and the instance
// is stored compressed, frames come as stored; otherwise they are decoded.
Result<std::vector<FrameData>> ExtractFrames(std::string_view file, const std::vector<std::int64_t>& frames,
                                             bool allow_compressed);

// Raw value of a top-level binary element (bulk data), e.g. PixelData as stored.
Result<std::string> ExtractBulkData(std::string_view file, std::uint16_t group, std::uint16_t element);

enum class ImageFormat { kJpeg, kPng };
struct RenderOptions {
  ImageFormat format = ImageFormat::kJpeg;
  std::int64_t frame = 1;
  std::optional<double> window_center, window_width;  // default: the file's first window, else min-max
  int max_size = 0;                                    // 0: native size; else fit in max_size x max_size
  int quality = 90;                                    // JPEG quality
};
Result<std::string> RenderFrame(std::string_view file, const RenderOptions& options);

}  // namespace vg::dicom
