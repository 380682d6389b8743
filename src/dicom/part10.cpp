#include <cstring>

#include "dicom/dicom.h"

namespace vg::dicom {
namespace {

// A UUID-derived UID (PS3.5 B.2), fixed for this implementation.
constexpr const char* kImplementationClassUid = "2.25.65107938226519727680840957310957167897";
constexpr const char* kImplementationVersion = "VOXELGATE_01";

void Le(std::string& out, std::uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}

// One explicit VR little endian element with a short (2-byte) length.
void Element(std::string& out, std::uint16_t element, const char vr[3], std::string value, char pad) {
  if (value.size() % 2) value.push_back(pad);
  Le(out, 0x0002, 2);
  Le(out, element, 2);
  out.append(vr, 2);
  Le(out, value.size(), 2);
  out += value;
}

}  // namespace

std::string WrapAsPart10(std::string_view dataset, const std::string& sop_class_uid, const std::string& sop_uid,
                         const std::string& transfer_syntax, const std::string& source_ae) {
  std::string meta;
  // (0002,0001) OB version 00 01: OB has a 4-byte length.
  Le(meta, 0x0002, 2);
  Le(meta, 0x0001, 2);
  meta += "OB";
  Le(meta, 0, 2);
  Le(meta, 2, 4);
  meta += std::string("\0\1", 2);
  Element(meta, 0x0002, "UI", sop_class_uid, '\0');
  Element(meta, 0x0003, "UI", sop_uid, '\0');
  Element(meta, 0x0010, "UI", transfer_syntax, '\0');
  Element(meta, 0x0012, "UI", kImplementationClassUid, '\0');
  Element(meta, 0x0013, "SH", kImplementationVersion, ' ');
  if (!source_ae.empty()) Element(meta, 0x0016, "AE", source_ae.substr(0, 16), ' ');
  std::string file(128, '\0');
  file += "DICM";
  Le(file, 0x0002, 2);
  Le(file, 0x0000, 2);
  file += "UL";
  Le(file, 4, 2);
  Le(file, meta.size(), 4);
  file += meta;
  file.append(dataset);
  return file;
}


}  // namespace vg::dicom
