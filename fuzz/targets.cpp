#include "fuzz/targets.h"

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "api/query_params.h"
#include "core/config.h"
#include "core/json_depth.h"
#include "core/strings.h"
#include "auth/audit_checkpoint.h"
#include "core/toml_json.h"
#include "crypto/crypto.h"
#include "dicom/deid.h"
#include "dicom/dicom.h"
#include "dicom/nifti.h"
#include "dicom/nrrd.h"
#include "dicom/measurement_report.h"
#include "dicom/rtstruct.h"
#include "dicom/seg.h"
#include "dicom/structure_check.h"
#include "dicom/volume.h"
#include "dimse/pdu_watcher.h"
#include "http/media_type.h"
#include "http/multipart.h"
#include "services/algorithms.h"
#include "services/exports.h"
#include "services/qido.h"
#include "services/segmentations.h"
#include "storage/s3_xml.h"

namespace vg::fuzz {
namespace {

std::string_view Text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Hands out the input in pieces whose sizes the input's own bytes choose, so that
// readers meet every split of their headers and delimiters.
class ChoppedSource final : public ByteSource {
 public:
  ChoppedSource(std::string_view data, std::uint8_t seed) : data_(data), step_(1 + seed % 97) {}
  Result<size_t> Read(std::span<std::uint8_t> out) override {
    const size_t n = std::min({out.size(), step_, data_.size() - at_});
    if (n == 0) return size_t{0};  // an empty view's data() may be null
    std::memcpy(out.data(), data_.data() + at_, n);
    at_ += n;
    step_ = 1 + (step_ * 31 + n) % 1021;
    return n;
  }

 private:
  std::string_view data_;
  size_t at_ = 0;
  size_t step_;
};

// The first line is a parameter (a boundary, a query level...), the rest is the data.
std::pair<std::string_view, std::string_view> FirstLine(std::string_view text) {
  const size_t newline = text.find('\n');
  if (newline == std::string_view::npos) return {text, {}};
  return {text.substr(0, newline), text.substr(newline + 1)};
}

}  // namespace

int Multipart(const std::uint8_t* data, std::size_t size) {
  auto [boundary, body] = FirstLine(Text(data, size));
  if (boundary.empty() || boundary.size() > 70) return 0;
  {
    ChoppedSource source(body, size ? data[0] : 0);
    http::MultipartReader reader(source, std::string(boundary), 64 * 1024);
    for (int parts = 0; parts < 1000; ++parts) {
      auto next = reader.Next();
      if (!next || !*next) break;
      (void)(*next)->Header("content-type");
    }
  }
  ChoppedSource source(body, size > 1 ? data[1] : 0);
  http::MultipartReader reader(source, std::string(boundary), 64 * 1024);
  for (int parts = 0; parts < 1000; ++parts) {
    auto next = reader.NextHeaders();
    if (!next || !*next) break;
    std::uint8_t piece[37];
    for (int reads = 0; reads < 100000; ++reads) {
      auto n = reader.Body().Read(piece);
      if (!n || *n == 0) break;
    }
  }
  return 0;
}

int MediaTypes(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = Text(data, size);
  const http::MediaType type = http::ParseMediaType(text);
  (void)type.Param("boundary");
  (void)type.Param("type");
  (void)http::ParseAccept(text);
  (void)api::ParseQueryParams(text);
  (void)PercentDecode(text);
  return 0;
}

int Qido(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto level = static_cast<services::QueryLevel>(data[0] % 3);
  const std::string_view query = Text(data + 1, size - 1);
  (void)services::ParseQidoQuery(level, query);
  // Attribute matching: VR, key and value, separated by NUL.
  const auto parts = Split(query, '\0');
  if (parts.size() >= 3) (void)services::MatchesValue(parts[0], parts[1], parts[2]);
  return 0;
}

int JsonBodies(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = Text(data, size);
  (void)auth::AuditCheckpoint::FromJson(text);  // a checkpoint file handed to audit verify
  if (!JsonDepthWithin(text)) return 0;  // refused before parsing, as the server does
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) return 0;
  (void)j.dump();
  if (!j.is_object()) return 0;
  if (j.contains("segments") && j["segments"].is_array())
    for (const auto& segment : j["segments"]) (void)services::SegmentFromApiJson(segment);
  (void)services::ParseExportRequest(j);
  return 0;
}

int Nrrd(const std::uint8_t* data, std::size_t size) {
  (void)dicom::ReadNrrd(Text(data, size), 1 << 22);
  (void)dicom::ReadVolumeFile(Text(data, size), "upload.nrrd", 1 << 22);
  return 0;
}

int Nifti(const std::uint8_t* data, std::size_t size) {
  auto image = dicom::ReadNifti(Text(data, size), 1 << 22);
  if (image) (void)dicom::LabelsFromNifti(*image);
  return 0;
}

int DicomIngest(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes = Text(data, size);
  (void)dicom::ParseInstance(bytes);
  (void)dicom::PeekSopIdentity(bytes);
  (void)dicom::ReadAcquisitionFacts(bytes);
  static const crypto::SecretKey secret;
  static const dicom::DeidOptions basic;
  dicom::DeidScreen screen;
  screen.refuse_burned_in_annotation = true;
  (void)dicom::ApplyPrivacy(bytes, basic, secret, screen);
  // As from the clinic's trusted de-identifier: the residual-identifier walk.
  (void)dicom::ApplyPrivacy(bytes, basic, secret, screen, /*from_trusted_deidentifier=*/true);
  (void)dicom::ExtractFrames(bytes, {1}, /*allow_compressed=*/true);
  return 0;
}

int Volume(const std::uint8_t* data, std::size_t size) {
  // Up to four slices, separated by the marker.
  static constexpr std::string_view kMarker = "\n--slice--\n";
  std::vector<std::string_view> files;
  std::string_view rest = Text(data, size);
  while (files.size() < 4) {
    const size_t at = rest.find(kMarker);
    files.push_back(rest.substr(0, at));
    if (at == std::string_view::npos) break;
    rest = rest.substr(at + kMarker.size());
  }
  dicom::VolumeOptions options;
  options.max_voxels = 1 << 22;
  (void)dicom::AssembleVolume(files, options, 1);
  return 0;
}

int Seg(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes = Text(data, size);
  (void)dicom::ReadSegHeader(bytes);
  (void)dicom::GridOfSeg(bytes);
  dicom::VolumeGeometry grid;
  grid.dims = {16, 16, 4};
  grid.spacing = {1, 1, 1};
  grid.direction = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  (void)dicom::ReadSegOnGrid(bytes, grid);
  return 0;
}

int RtStruct(const std::uint8_t* data, std::size_t size) {
  auto rt = dicom::ReadRtStruct(Text(data, size));
  if (!rt) return 0;
  dicom::VolumeGeometry grid;
  grid.dims = {16, 16, 4};
  grid.spacing = {1, 1, 1};
  grid.direction = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  (void)dicom::RasteriseRtStruct(*rt, grid);
  for (const auto& roi : rt->rois) (void)dicom::SegmentOfRoi(roi);
  return 0;
}

int MeasurementReport(const std::uint8_t* data, std::size_t size) {
  (void)dicom::ReadMeasurementReport(Text(data, size));
  return 0;
}

int Toml(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = Text(data, size);
  (void)TomlToJson(text);
  (void)services::ParseManifest(text);
  ServerConfig config;
  (void)ApplyTomlConfigText(text, config);
  return 0;
}

int Structure(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes = Text(data, size);
  dicom::StructureLimits limits;
  limits.max_inflated_bytes = 16 << 20;
  (void)dicom::CheckPart10Structure(bytes, limits);
  (void)dicom::Part10DatasetOffset(bytes, limits);
  const std::span<const std::uint8_t> raw(data, size);
  for (const dicom::DatasetEncoding encoding : {dicom::DatasetEncoding{true, false}, dicom::DatasetEncoding{false, false},
                                                dicom::DatasetEncoding{true, true}})
    (void)dicom::WalkDataset(raw, encoding, limits);
  return 0;
}

int Pdu(const std::uint8_t* data, std::size_t size) {
  // An A-ASSOCIATE-AC accepting context 1 (Implicit VR LE) and 3 (Explicit VR LE), as the
  // server would send it, then the input as what the peer sends, in pieces.
  static const std::string kAccept = [] {
    std::string items;
    auto item = [&](std::uint8_t type, const std::string& value) {
      items += static_cast<char>(type);
      items += '\0';
      items += static_cast<char>(value.size() >> 8);
      items += static_cast<char>(value.size() & 0xFF);
      items += value;
    };
    auto context = [&](std::uint8_t id, const std::string& ts) {
      std::string sub;
      sub += static_cast<char>(0x40);
      sub += '\0';
      sub += static_cast<char>(ts.size() >> 8);
      sub += static_cast<char>(ts.size() & 0xFF);
      sub += ts;
      item(0x21, std::string{static_cast<char>(id), '\0', '\0', '\0'} + sub);
    };
    item(0x10, "1.2.840.10008.3.1.1.1");
    context(1, "1.2.840.10008.1.2");
    context(3, "1.2.840.10008.1.2.1");
    const std::string fixed(68, '\0');
    const std::string body = fixed + items;
    std::string pdu = {0x02, 0x00};
    for (int shift = 24; shift >= 0; shift -= 8) pdu += static_cast<char>((body.size() >> shift) & 0xFF);
    return pdu + body;
  }();
  dimse::PduWatcher watcher(dimse::PduLimits{});
  watcher.OnSent(std::span(reinterpret_cast<const std::uint8_t*>(kAccept.data()), kAccept.size()));
  std::size_t at = 0, step = size ? 1 + data[0] % 61 : 1;
  while (at < size) {
    const std::size_t n = std::min(step, size - at);
    if (!watcher.OnReceived(std::span(data + at, n))) break;
    at += n;
    step = 1 + (step * 17 + n) % 4099;
  }
  return 0;
}

int S3Xml(const std::uint8_t* data, std::size_t size) {
  namespace s3 = storage::s3;
  const std::string_view text = Text(data, size);
  // Each answer as the client reads it: a first page, and a later one whose token and
  // markers the answer may repeat (seeds list under clinic/t1/).
  (void)s3::ParseListObjectsPage(text, "", "", 1000);
  (void)s3::ParseListObjectsPage(text, "clinic/t1/", "T1", 2);
  (void)s3::ParseMultipartUploadsPage(text, "", "", "");
  (void)s3::ParseMultipartUploadsPage(text, "clinic/", "clinic/t1/0f3a9c", "U1");
  (void)s3::ParseInitiateUploadId(text);
  (void)s3::ParseCompleteAnswer(text);
  (void)s3::S3ErrorCode(text);
  (void)s3::ParseIsoTime(text);
  // What the client sends escaped (part ETags) must read back as it was.
  if (s3::IsPrintableToken(text, s3::kMaxTokenBytes)) {
    auto back = s3::ParseInitiateUploadId("<InitiateMultipartUploadResult><UploadId>" + s3::XmlEscape(text) +
                                          "</UploadId></InitiateMultipartUploadResult>");
    if (!back || *back != text) __builtin_trap();
  }
  return 0;
}

}  // namespace vg::fuzz
