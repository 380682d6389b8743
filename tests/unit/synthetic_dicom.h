// Builds small DICOM Part 10 files (Explicit VR Little Endian) for unit tests, without
// DCMTK, so the parser is tested against bytes it did not write itself.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace vg::testing {

class DicomWriter {
 public:
  DicomWriter& Str(std::uint16_t group, std::uint16_t element, const char vr[3], std::string value) {
    if (value.size() % 2) value.push_back(vr[0] == 'U' && vr[1] == 'I' ? '\0' : ' ');
    Header(group, element, vr, value.size());
    body_ += value;
    return *this;
  }
  DicomWriter& U16(std::uint16_t group, std::uint16_t element, std::uint16_t value) {
    Header(group, element, "US", 2);
    Le(value, 2);
    return *this;
  }
  DicomWriter& Pixels(const std::vector<std::uint16_t>& pixels) {
    Header(0x7FE0, 0x0010, "OW", pixels.size() * 2);
    for (auto p : pixels) Le(p, 2);
    return *this;
  }
  // Part 10 file: preamble, DICM, meta group, then the dataset written so far.
  std::string File(const std::string& sop_class, const std::string& sop_uid,
                   const std::string& ts = "1.2.840.10008.1.2.1") const {
    DicomWriter meta;
    meta.Header(0x0002, 0x0001, "OB", 2);
    meta.body_ += std::string("\0\1", 2);
    meta.Str(0x0002, 0x0002, "UI", sop_class).Str(0x0002, 0x0003, "UI", sop_uid).Str(0x0002, 0x0010, "UI", ts);
    DicomWriter length;
    length.Header(0x0002, 0x0000, "UL", 4);
    length.Le(meta.body_.size(), 4);
    return std::string(128, '\0') + "DICM" + length.body_ + meta.body_ + body_;
  }

 private:
  void Le(std::uint64_t value, int bytes) {
    for (int i = 0; i < bytes; ++i) body_.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
  }
  void Header(std::uint16_t group, std::uint16_t element, const char vr[3], std::size_t length) {
    Le(group, 2);
    Le(element, 2);
    body_.append(vr, 2);
    std::string v(vr, 2);
    if (v == "OB" || v == "OW" || v == "SQ" || v == "UN" || v == "UT" || v == "UC" || v == "UR") {
      Le(0, 2);
      Le(length, 4);
    } else {
      Le(length, 2);
    }
  }
  std::string body_;
};

struct CtSpec {
  std::string patient_name = "DOE^JOHN";
  std::string patient_id = "PID001";
  std::string study_uid = "1.2.826.0.1.3680043.8.498.1";
  std::string series_uid = "1.2.826.0.1.3680043.8.498.1.1";
  std::string sop_uid = "1.2.826.0.1.3680043.8.498.1.1.1";
  std::string study_date = "20240102";
  std::string modality = "CT";
  std::string description = "CHEST";
  int instance_number = 1;
  int rows = 4, columns = 4;
  bool burned_in_annotation = false;  // BurnedInAnnotation YES
};

inline std::string MakeCt(const CtSpec& s) {
  constexpr const char* kCtImage = "1.2.840.10008.5.1.4.1.1.2";
  DicomWriter w;
  w.Str(0x0008, 0x0005, "CS", "ISO_IR 192")
      .Str(0x0008, 0x0016, "UI", kCtImage)
      .Str(0x0008, 0x0018, "UI", s.sop_uid)
      .Str(0x0008, 0x0020, "DA", s.study_date)
      .Str(0x0008, 0x0030, "TM", "101500")
      .Str(0x0008, 0x0050, "SH", "ACC1")
      .Str(0x0008, 0x0060, "CS", s.modality)
      .Str(0x0008, 0x1030, "LO", s.description)
      .Str(0x0010, 0x0010, "PN", s.patient_name)
      .Str(0x0010, 0x0020, "LO", s.patient_id)
      .Str(0x0010, 0x0030, "DA", "19700101")
      .Str(0x0020, 0x000D, "UI", s.study_uid)
      .Str(0x0020, 0x000E, "UI", s.series_uid)
      .Str(0x0020, 0x0011, "IS", "1")
      .Str(0x0020, 0x0013, "IS", std::to_string(s.instance_number))
      .U16(0x0028, 0x0002, 1)
      .Str(0x0028, 0x0004, "CS", "MONOCHROME2")
      .U16(0x0028, 0x0010, static_cast<std::uint16_t>(s.rows))
      .U16(0x0028, 0x0011, static_cast<std::uint16_t>(s.columns))
      .U16(0x0028, 0x0100, 16)
      .U16(0x0028, 0x0101, 16)
      .U16(0x0028, 0x0102, 15)
      .U16(0x0028, 0x0103, 0);
  if (s.burned_in_annotation) w.Str(0x0028, 0x0301, "CS", "YES");
  std::vector<std::uint16_t> pixels(static_cast<size_t>(s.rows * s.columns));
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<std::uint16_t>(i * 100 + s.instance_number);
  w.Pixels(pixels);
  return w.File(kCtImage, s.sop_uid);
}

// A slice with geometry, for volume assembly tests. Pixel (column c, row r) holds
// `value(c, r)` as stored (before rescale).
struct SliceSpec {
  std::string study_uid = "1.2.826.0.1.3680043.8.498.2";
  std::string series_uid = "1.2.826.0.1.3680043.8.498.2.1";
  std::string sop_uid;
  std::string frame_of_reference_uid = "1.2.826.0.1.3680043.8.498.2.9";
  int instance_number = 1;
  int rows = 6, columns = 5;
  double position[3] = {0, 0, 0};
  double orientation[6] = {1, 0, 0, 0, 1, 0};
  double pixel_spacing[2] = {0.5, 0.75};  // between rows, between columns
  std::string slope = "1", intercept = "0";
  bool is_signed = false;
  int bits_stored = 16;
  std::string echo_number;  // EchoNumbers, empty: absent
};

inline std::string Ds(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.6g", v);
  return text;
}

template <typename ValueFn>
std::string MakeSlice(const SliceSpec& s, ValueFn value) {
  constexpr const char* kCtImage = "1.2.840.10008.5.1.4.1.1.2";
  DicomWriter w;
  w.Str(0x0008, 0x0016, "UI", kCtImage)
      .Str(0x0008, 0x0018, "UI", s.sop_uid)
      .Str(0x0008, 0x0020, "DA", "20240102")
      .Str(0x0008, 0x0060, "CS", "CT")
      .Str(0x0010, 0x0010, "PN", "PHANTOM^ONE")
      .Str(0x0010, 0x0020, "LO", "PH1")
      .Str(0x0018, 0x0050, "DS", "9.9");  // deliberately not the real spacing
  if (!s.echo_number.empty()) w.Str(0x0018, 0x0086, "IS", s.echo_number);
  w.Str(0x0020, 0x000D, "UI", s.study_uid)
      .Str(0x0020, 0x000E, "UI", s.series_uid)
      .Str(0x0020, 0x0011, "IS", "2")
      .Str(0x0020, 0x0013, "IS", std::to_string(s.instance_number))
      .Str(0x0020, 0x0032, "DS", Ds(s.position[0]) + "\\" + Ds(s.position[1]) + "\\" + Ds(s.position[2]))
      .Str(0x0020, 0x0037, "DS",
           Ds(s.orientation[0]) + "\\" + Ds(s.orientation[1]) + "\\" + Ds(s.orientation[2]) + "\\" +
               Ds(s.orientation[3]) + "\\" + Ds(s.orientation[4]) + "\\" + Ds(s.orientation[5]))
      .Str(0x0020, 0x0052, "UI", s.frame_of_reference_uid)
      .U16(0x0028, 0x0002, 1)
      .Str(0x0028, 0x0004, "CS", "MONOCHROME2")
      .U16(0x0028, 0x0010, static_cast<std::uint16_t>(s.rows))
      .U16(0x0028, 0x0011, static_cast<std::uint16_t>(s.columns))
      .Str(0x0028, 0x0030, "DS", Ds(s.pixel_spacing[0]) + "\\" + Ds(s.pixel_spacing[1]))
      .U16(0x0028, 0x0100, 16)
      .U16(0x0028, 0x0101, static_cast<std::uint16_t>(s.bits_stored))
      .U16(0x0028, 0x0102, static_cast<std::uint16_t>(s.bits_stored - 1))
      .U16(0x0028, 0x0103, s.is_signed ? 1 : 0)
      .Str(0x0028, 0x1052, "DS", s.intercept)
      .Str(0x0028, 0x1053, "DS", s.slope);
  std::vector<std::uint16_t> pixels(static_cast<size_t>(s.rows * s.columns));
  for (int r = 0; r < s.rows; ++r)
    for (int c = 0; c < s.columns; ++c) pixels[r * s.columns + c] = static_cast<std::uint16_t>(value(c, r));
  w.Pixels(pixels);
  return w.File(kCtImage, s.sop_uid);
}

}  // namespace vg::testing
