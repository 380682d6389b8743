#include "dicom/nrrd.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <sstream>

#include "core/checked_math.h"
#include "core/strings.h"

namespace vg::dicom {
namespace {

std::string LowerTrim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t start = 0;
  while (start < s.size() && std::isspace(static_cast<unsigned char>(s[start]))) ++start;
  s = s.substr(start);
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// "(1,0,0) (0,1,0) (0,0,2.5)" or "none (1,0,0) ..." -> vectors (none -> empty).
std::vector<std::vector<double>> ParseVectors(const std::string& text) {
  std::vector<std::vector<double>> out;
  size_t at = 0;
  while (at < text.size()) {
    while (at < text.size() && std::isspace(static_cast<unsigned char>(text[at]))) ++at;
    if (at >= text.size()) break;
    if (text.compare(at, 4, "none") == 0) {
      out.emplace_back();
      at += 4;
      continue;
    }
    if (text[at] != '(') return {};
    const size_t close = text.find(')', at);
    if (close == std::string::npos) return {};
    std::vector<double> v;
    for (auto item : Split(std::string_view(text).substr(at + 1, close - at - 1), ',')) {
      auto number = ParseFiniteDouble(Trim(item));
      if (!number) return {};  // not a number, or NaN/inf: the header is refused
      v.push_back(*number);
    }
    out.push_back(v);
    at = close + 1;
  }
  return out;
}

struct TypeInfo {
  int bytes = 0;
  bool is_float = false, is_signed = false;
};

std::optional<TypeInfo> TypeOf(const std::string& name) {
  static const std::map<std::string, TypeInfo> k = {
      {"signed char", {1, false, true}},   {"int8", {1, false, true}},        {"int8_t", {1, false, true}},
      {"uchar", {1, false, false}},        {"unsigned char", {1, false, false}}, {"uint8", {1, false, false}},
      {"uint8_t", {1, false, false}},      {"short", {2, false, true}},       {"short int", {2, false, true}},
      {"signed short", {2, false, true}},  {"signed short int", {2, false, true}}, {"int16", {2, false, true}},
      {"int16_t", {2, false, true}},       {"ushort", {2, false, false}},     {"unsigned short", {2, false, false}},
      {"unsigned short int", {2, false, false}}, {"uint16", {2, false, false}}, {"uint16_t", {2, false, false}},
      {"int", {4, false, true}},           {"signed int", {4, false, true}},  {"int32", {4, false, true}},
      {"int32_t", {4, false, true}},       {"uint", {4, false, false}},       {"unsigned int", {4, false, false}},
      {"uint32", {4, false, false}},       {"uint32_t", {4, false, false}},   {"float", {4, true, true}},
      {"double", {8, true, true}}};
  auto it = k.find(name);
  if (it == k.end()) return std::nullopt;
  return it->second;
}

double Decode(const unsigned char* p, const TypeInfo& t, bool big_endian) {
  unsigned char b[8];
  std::memcpy(b, p, static_cast<size_t>(t.bytes));
  if (big_endian) std::reverse(b, b + t.bytes);
  if (t.is_float) {
    if (t.bytes == 4) {
      float f;
      std::memcpy(&f, b, 4);
      return f;
    }
    double d;
    std::memcpy(&d, b, 8);
    return d;
  }
  std::uint64_t u = 0;
  for (int i = t.bytes - 1; i >= 0; --i) u = (u << 8) | b[i];
  if (!t.is_signed) return static_cast<double>(u);
  const std::uint64_t sign = std::uint64_t{1} << (8 * t.bytes - 1);
  return (u & sign) ? static_cast<double>(static_cast<std::int64_t>(u) - static_cast<std::int64_t>(sign << 1))
                    : static_cast<double>(u);
}

}  // namespace

Result<NiftiImage> ReadNrrd(std::string_view bytes, std::int64_t max_voxels) {
  if (!bytes.starts_with("NRRD000")) return Fail(ErrorCode::kInvalidArgument, "not a NRRD file (no NRRD000x magic)");
  // The header ends at the first empty line.
  size_t end = bytes.find("\n\n");
  size_t data_at = end == std::string_view::npos ? std::string_view::npos : end + 2;
  if (const size_t crlf = bytes.find("\r\n\r\n"); crlf != std::string_view::npos && (end == std::string_view::npos || crlf < end)) {
    end = crlf;
    data_at = crlf + 4;
  }
  if (end == std::string_view::npos || end > (1u << 20)) return Fail(ErrorCode::kInvalidArgument, "the NRRD header does not end");
  std::map<std::string, std::string> fields;
  std::istringstream header(std::string(bytes.substr(0, end)));
  std::string line;
  std::getline(header, line);  // the magic
  while (std::getline(header, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    const size_t colon = line.find(": ");
    if (colon == std::string::npos) continue;  // key:=value pairs
    fields[LowerTrim(line.substr(0, colon))] = line.substr(colon + 2);
  }
  if (fields.count("data file") || fields.count("datafile"))
    return Fail(ErrorCode::kUnsupported, "NRRD files with detached data are not read: send the .nrrd with its data attached");
  auto type = TypeOf(LowerTrim(fields["type"]));
  if (!type) return Fail(ErrorCode::kUnsupported, "the NRRD type '" + fields["type"] + "' is not read");
  const auto dimension = ParseUint(Trim(fields["dimension"]));
  std::vector<std::int64_t> sizes;
  for (auto item : Split(Trim(fields["sizes"]), ' ')) {
    if (item.empty()) continue;
    auto size = ParseUint(item);
    if (!size || *size < 1) return Fail(ErrorCode::kInvalidArgument, "a NRRD size is not a positive whole number");
    if (*size > (1u << 30))
      return Fail(ErrorCode::kTooLarge, "a NRRD size of " + std::to_string(*size) + " voxels along one axis is past the limit of 2^30");
    sizes.push_back(static_cast<std::int64_t>(*size));
  }
  if (dimension != 3u || sizes.size() != 3)
    return Fail(ErrorCode::kUnsupported, "only 3D scalar NRRD images are read (dimension " +
                                             std::string(Trim(fields["dimension"]).substr(0, 16)) + ")");
  auto directions = ParseVectors(fields["space directions"]);
  if (directions.size() != 3 || std::any_of(directions.begin(), directions.end(), [](const auto& v) { return v.size() != 3; }))
    return Fail(ErrorCode::kInvalidArgument, "the NRRD header needs three space directions");
  auto origin = ParseVectors(fields["space origin"]);
  const std::string space = LowerTrim(fields.count("space") ? fields["space"] : "");
  bool ras = false;
  if (space == "right-anterior-superior" || space == "ras") ras = true;
  else if (space != "left-posterior-superior" && space != "lps")
    return Fail(ErrorCode::kUnsupported, "the NRRD space '" + space + "' is not read (LPS or RAS)");
  const std::string encoding = LowerTrim(fields["encoding"]);
  const bool big_endian = LowerTrim(fields["endian"]) == "big";
  // Checked before anything is sized from it: sizes whose product wraps past 2^64 once
  // passed the old check and ended the process.
  auto counted = ProductWithin({sizes[0], sizes[1], sizes[2]}, static_cast<std::uint64_t>(std::max<std::int64_t>(0, max_voxels)));
  if (!counted)
    return Fail(ErrorCode::kTooLarge, fmt::format("the NRRD image has {}x{}x{} voxels, more than the limit of {}", sizes[0],
                                                  sizes[1], sizes[2], max_voxels));
  const std::int64_t voxels = static_cast<std::int64_t>(*counted);
  const std::uint64_t data_bytes = *counted * static_cast<std::uint64_t>(type->bytes);
  std::string inflated;
  std::string_view data = bytes.substr(data_at);
  if (encoding == "gzip" || encoding == "gz") {
    // Exactly the declared data is inflated, never more.
    GzipReader reader(data);
    if (auto r = reader.InflateTo(inflated, data_bytes); !r) return std::unexpected(r.error());
    data = inflated;
  } else if (encoding != "raw") {
    return Fail(ErrorCode::kUnsupported, "the NRRD encoding '" + encoding.substr(0, 32) + "' is not read (raw or gzip)");
  }
  if (data.size() < data_bytes) return Fail(ErrorCode::kInvalidArgument, "the NRRD data is shorter than its sizes say");

  NiftiImage image;
  VolumeGeometry& g = image.geometry;
  for (int a = 0; a < 3; ++a) g.dims[a] = sizes[a];
  for (int c = 0; c < 3; ++c) {
    std::array<double, 3> v{directions[c][0], directions[c][1], directions[c][2]};
    if (ras) v = {-v[0], -v[1], v[2]};
    const double length = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
    if (length <= 0) return Fail(ErrorCode::kInvalidArgument, "a NRRD space direction is zero");
    g.spacing[c] = length;
    for (int r = 0; r < 3; ++r) g.direction[3 * c + r] = v[r] / length;
  }
  if (origin.size() == 1 && origin[0].size() == 3) {
    g.origin = {origin[0][0], origin[0][1], origin[0][2]};
    if (ras) g.origin = {-g.origin[0], -g.origin[1], g.origin[2]};
  }
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  if (type->bytes == 1 && !type->is_signed) {
    image.datatype = 2;  // NIFTI_TYPE_UINT8
    image.bytes.assign(p, p + voxels);
  } else {
    image.values.resize(static_cast<size_t>(voxels));
    for (std::int64_t i = 0; i < voxels; ++i)
      image.values[i] = static_cast<float>(Decode(p + i * type->bytes, *type, big_endian));
  }
  if (auto usable = CheckGeometry(g, max_voxels); !usable) return std::unexpected(usable.error());
  MakeRightHanded(image);
  return image;
}

Result<std::string> WriteNrrd(const LabelVolume& labels, const NrrdWriteOptions& options) {
  const auto& g = labels.geometry;
  std::string out = "NRRD0004\n# written by voxelgate\n";
  out += options.uint16 ? "type: uint16\n" : "type: uint8\n";
  out += "dimension: 3\nspace: left-posterior-superior\n";
  out += fmt::format("sizes: {} {} {}\n", g.dims[0], g.dims[1], g.dims[2]);
  out += "space directions:";
  for (int c = 0; c < 3; ++c)  // + 0.0: no "-0" in the header
    out += fmt::format(" ({:.17g},{:.17g},{:.17g})", g.direction[3 * c] * g.spacing[c] + 0.0,
                       g.direction[3 * c + 1] * g.spacing[c] + 0.0, g.direction[3 * c + 2] * g.spacing[c] + 0.0);
  out += "\nkinds: domain domain domain\nendian: little\n";
  out += options.gzip ? "encoding: gzip\n" : "encoding: raw\n";
  out += fmt::format("space origin: ({:.17g},{:.17g},{:.17g})\n\n", g.origin[0], g.origin[1], g.origin[2]);
  std::string data;
  if (options.uint16) {
    data.resize(labels.labels.size() * 2);
    for (size_t i = 0; i < labels.labels.size(); ++i) {
      data[2 * i] = static_cast<char>(labels.labels[i]);
      data[2 * i + 1] = 0;
    }
  } else {
    data.assign(reinterpret_cast<const char*>(labels.labels.data()), labels.labels.size());
  }
  if (options.gzip) {
    auto packed = Gzip(data);
    if (!packed) return std::unexpected(packed.error());
    data = std::move(*packed);
  }
  return out + data;
}

Result<NiftiImage> ReadVolumeFile(std::string_view bytes, std::string_view filename, std::int64_t max_voxels) {
  std::string name(filename);
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (name.ends_with(".nrrd") || bytes.starts_with("NRRD000")) return ReadNrrd(bytes, max_voxels);
  if (name.ends_with(".nii") || name.ends_with(".nii.gz") || LooksGzipped(bytes) ||
      (bytes.size() >= 348 && bytes.substr(344, 3) == "n+1"))
    return ReadNifti(bytes, max_voxels);
  return Fail(ErrorCode::kUnsupported, "the file is neither NIfTI (.nii, .nii.gz) nor NRRD (.nrrd)");
}

}  // namespace vg::dicom
