// Values of the objects voxelgate writes (SEG, RT structure sets, overlay images): decimal
// strings that fit DS, new UIDs, and free text of ours made safe for a DICOM string value.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

class DcmItem;

namespace vg::dicom {

// The algorithm that made an object (its SEG, its SR), named as IHE AI Results asks in
// the Contributing Equipment Sequence (0018,A001) with purpose of reference
// (109102, DCM, "Processing Equipment"): manufacturer, model (the algorithm's name),
// software versions (its version).
struct ProcessingAlgorithm {
  std::string manufacturer, name, version;
};
// Adds (or replaces) that sequence's item on `dataset`; `utf8`: the dataset's character
// set is ISO_IR 192 (otherwise the texts are made ASCII).
void PutProcessingAlgorithm(DcmItem& dataset, const ProcessingAlgorithm& algorithm, bool utf8);

// A DS value in at most 16 characters, with as many significant digits as fit (at most
// 12: sub-nanometre where coordinates are within metres). Rounding noise around zero
// ("-1.4e-14") is written as 0.
std::string DsValue(double value);

// A UID under 2.25 from 128 random bits.
std::string NewRandomUid();

// A UID under 2.25 derived from `text` (its SHA-256): the same text, the same UID, so a
// retried writer names its objects as the first attempt did.
std::string UidFromText(std::string_view text);

// `text` in a value of at most `max_bytes`: no backslash (the value separator) or control
// characters, and only ASCII unless the attributes it joins are in UTF-8 (ISO_IR 192); a
// UTF-8 sequence is never cut in half; trailing spaces dropped.
std::string SafeValueText(std::string_view text, std::size_t max_bytes, bool utf8);

}  // namespace vg::dicom
