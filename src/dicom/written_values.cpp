#include "dicom/written_values.h"

#include <fmt/format.h>

#include <cctype>
#include <cmath>

#include "crypto/crypto.h"
#include "dicom/dicom.h"

#include <dcmtk/dcmdata/dctk.h>

namespace vg::dicom {

std::string DsValue(double value) {
  if (std::abs(value) < 5e-10) return "0";
  for (int precision = 12; precision > 1; --precision) {
    std::string text = fmt::format("{:.{}g}", value, precision);
    if (text.size() <= 16) return text;
  }
  return fmt::format("{:.1e}", value);
}

std::string NewRandomUid() {
  const auto bits = crypto::RandomBytes(16);
  return UidFromBits(bits);
}

std::string UidFromText(std::string_view text) { return UidFromBits(crypto::Sha256Of(text)); }

std::string SafeValueText(std::string_view text, std::size_t max_bytes, bool utf8) {
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t length = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    length = std::min(length, text.size() - i);
    if (c < 0x80) {
      if (out.size() + 1 > max_bytes) break;
      out += c == '\\' ? '/' : std::iscntrl(c) ? ' ' : static_cast<char>(c);
    } else if (utf8 && c >= 0xC0) {
      if (out.size() + length > max_bytes) break;
      out.append(text.substr(i, length));
    }
    i += length;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

void PutProcessingAlgorithm(DcmItem& dataset, const ProcessingAlgorithm& algorithm, bool utf8) {
  dataset.findAndDeleteElement(DCM_ContributingEquipmentSequence);
  DcmItem* item = nullptr;
  if (dataset.findOrCreateSequenceItem(DCM_ContributingEquipmentSequence, item, -2).bad() || !item) return;
  const auto text = [&](std::string_view value, std::size_t max) {
    std::string safe = SafeValueText(value, max, utf8);
    return safe.empty() ? std::string("unknown") : safe;
  };
  item->putAndInsertString(DCM_Manufacturer, text(algorithm.manufacturer, 64).c_str());
  item->putAndInsertString(DCM_ManufacturerModelName, text(algorithm.name, 64).c_str());
  item->putAndInsertString(DCM_SoftwareVersions, text(algorithm.version, 64).c_str());
  DcmItem* purpose = nullptr;
  if (item->findOrCreateSequenceItem(DCM_PurposeOfReferenceCodeSequence, purpose, -2).good() && purpose) {
    purpose->putAndInsertString(DCM_CodeValue, "109102");
    purpose->putAndInsertString(DCM_CodingSchemeDesignator, "DCM");
    purpose->putAndInsertString(DCM_CodeMeaning, "Processing Equipment");
  }
}

}  // namespace vg::dicom
