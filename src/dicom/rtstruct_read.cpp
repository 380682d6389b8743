// rtstruct.h's reading half: ReadRtStruct (dcmrt for the modules, the ROI Contour Sequence
// parsed here) and SegmentOfRoi.
#include "dicom/rtstruct.h"

#include <dcmtk/dcmdata/dctk.h>
#include <dcmtk/dcmrt/drtstrct.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <memory>
#include <set>
#include <unordered_map>

#include "dicom/dcmtk_io.h"
#include "dicom/rtstruct_internal.h"

namespace vg::dicom {
// A named namespace around the anonymous one: the library is a unity build, and seg.cpp's,
// overlay_series.cpp's and the other rtstruct_*.cpp files' helpers would otherwise meet these.
namespace rtstruct_read_detail {
namespace {

using rtstruct_detail::kEntireBody;
using rtstruct_detail::Point;

// ---------------------------------------------------------------------------------------
// Reading

// DS values ("1.5\-2\+3E1", spaces allowed around each) into `out`; false when one is not a
// number. std::from_chars: no locale, no allocation, and a whole-value check.
bool ParseDecimals(std::string_view text, std::vector<double>& out) {
  out.clear();
  if (text.find_first_not_of(" \0", 0, 2) == std::string_view::npos) return true;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = text.find('\\', start);
    std::string_view value = text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    while (!value.empty() && (value.front() == ' ')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\0')) value.remove_suffix(1);
    if (!value.empty() && value.front() == '+') value.remove_prefix(1);
    double number = 0;
    const auto [at, error] = std::from_chars(value.data(), value.data() + value.size(), number);
    if (value.empty() || at != value.data() + value.size()) return false;
    // Out of range (1e999) is as unusable as NaN: the caller refuses what is not finite.
    out.push_back(error == std::errc() ? number : std::numeric_limits<double>::infinity());
    if (end == std::string_view::npos) return true;
    start = end + 1;
  }
}

// A contour's ContourData as text, without copying it. DCMTK keeps an element that came
// as UN as bytes (unless a process-wide switch says otherwise); an Explicit VR writer sends
// ContourData past 64 KiB as UN (PS3.5 6.2.2, which C.8.8.6 allows), and its bytes are
// the DS text all the same.
std::string_view ContourText(DcmItem& contour) {
  DcmElement* data = nullptr;
  if (contour.findAndGetElement(DCM_ContourData, data).bad() || !data) return {};
  if (data->ident() == EVR_DS) {
    char* text = nullptr;
    Uint32 length = 0;
    if (static_cast<DcmByteString*>(data)->getString(text, length).bad() || !text) return {};
    return {text, length};
  }
  Uint8* bytes = nullptr;
  if (data->getUint8Array(bytes).bad() || !bytes) return {};
  return {reinterpret_cast<const char*>(bytes), data->getLength()};
}

// The items of a sequence; nextInContainer is O(1) per step, where getItem(i) walks the
// list from its start.
std::vector<DcmItem*> ItemsOf(DcmSequenceOfItems& sequence) {
  std::vector<DcmItem*> items;
  for (DcmObject* o = sequence.nextInContainer(nullptr); o; o = sequence.nextInContainer(o))
    items.push_back(static_cast<DcmItem*>(o));
  return items;
}

// The items of a dcmrt sequence, in order. Checked with getCurrentItem(Item*&): DCMTK
// 3.6.7's gotoNextItem reports success when it steps past the last item.
template <typename Sequence>
std::vector<typename Sequence::Item*> ItemsOf(Sequence& sequence) {
  std::vector<typename Sequence::Item*> items;
  typename Sequence::Item* item = nullptr;
  for (OFCondition c = sequence.gotoFirstItem(); c.good() && sequence.getCurrentItem(item).good() && item;
       c = sequence.gotoNextItem())
    items.push_back(item);
  return items;
}

std::string Str(OFCondition condition, const OFString& value) {
  return condition.good() ? std::string(value.c_str(), value.length()) : std::string();
}

// The ROI Contour Sequence into `out.rois` (matched by ROI number).
Result<void> ReadContours(DcmSequenceOfItems& outlines, const std::unordered_map<int, std::size_t>& index_of,
                          const RtStructLimits& limits, RtStructHeader& out) {
  std::int64_t points_kept = 0;
  std::vector<double> values;
  for (DcmItem* item : ItemsOf(outlines)) {
    Sint32 number = 0;
    if (item->findAndGetSint32(DCM_ReferencedROINumber, number).bad())
      return Fail(ErrorCode::kUnprocessable, "an item of the ROI Contour Sequence names no ROI");
    auto found = index_of.find(number);
    if (found == index_of.end())
      return Fail(ErrorCode::kUnprocessable,
                  fmt::format("the ROI Contour Sequence outlines ROI {}, which the Structure Set ROI Sequence does not list",
                              number));
    RoiContours& roi = out.rois[found->second];
    Sint32 rgb[3] = {-1, -1, -1};
    for (unsigned long c = 0; c < 3; ++c) item->findAndGetSint32(DCM_ROIDisplayColor, rgb[c], c);
    if (std::all_of(rgb, rgb + 3, [](Sint32 c) { return c >= 0 && c <= 255; }))
      roi.rgb = std::array<std::uint8_t, 3>{static_cast<std::uint8_t>(rgb[0]), static_cast<std::uint8_t>(rgb[1]),
                                            static_cast<std::uint8_t>(rgb[2])};
    DcmSequenceOfItems* contours = nullptr;
    if (item->findAndGetSequence(DCM_ContourSequence, contours).bad() || !contours) continue;
    std::int64_t index = 0;
    for (DcmItem* contour : ItemsOf(*contours)) {
      ++index;
      if (GetString(*contour, DCM_ContourGeometricType) != "CLOSED_PLANAR") {
        ++out.skipped_contours;  // POINT, OPEN_PLANAR, OPEN_NONPLANAR: no area to fill
        continue;
      }
      const std::string_view data = ContourText(*contour);
      // The count first, so that a forged file is refused before its numbers are parsed.
      const std::int64_t count =
          data.find_first_not_of(" \0", 0, 2) == std::string_view::npos ? 0 : std::count(data.begin(), data.end(), '\\') + 1;
      const std::string where = fmt::format("ROI {}, contour {}", number, index);
      if (count % 3 != 0)
        return Fail(ErrorCode::kUnprocessable, fmt::format("{}: {} coordinates, not a multiple of 3", where, count));
      if (contour->tagExistsWithValue(DCM_NumberOfContourPoints)) {
        Sint32 declared = 0;
        if (contour->findAndGetSint32(DCM_NumberOfContourPoints, declared).bad() ||
            static_cast<std::int64_t>(declared) * 3 != count)
          return Fail(ErrorCode::kUnprocessable,
                      fmt::format("{}: {} coordinates where NumberOfContourPoints says {} points", where, count,
                                  GetString(*contour, DCM_NumberOfContourPoints)));
      }
      if (count < 9) {  // fewer than 3 points: no area
        ++out.skipped_contours;
        continue;
      }
      points_kept += count / 3;
      if (points_kept > limits.max_points)
        return Fail(ErrorCode::kTooLarge, fmt::format("the structure set holds more than {} contour points",
                                                      limits.max_points));
      if (!ParseDecimals(data, values))
        return Fail(ErrorCode::kUnprocessable, fmt::format("{}: a coordinate is not a number", where));
      std::vector<Point> points(values.size() / 3);
      for (std::size_t p = 0; p < points.size(); ++p) {
        points[p] = {values[3 * p], values[3 * p + 1], values[3 * p + 2]};
        if (!std::isfinite(points[p][0]) || !std::isfinite(points[p][1]) || !std::isfinite(points[p][2]))
          return Fail(ErrorCode::kUnprocessable, fmt::format("{}: point {} is not a finite position", where, p + 1));
      }
      roi.contours.push_back(std::move(points));
    }
  }
  return {};
}

Result<RtStructHeader> Read(std::string_view part10, const RtStructLimits& limits) {
  auto loaded = LoadFromMemory(part10);
  if (!loaded) return std::unexpected(loaded.error());
  DcmDataset& ds = *loaded->dataset;
  if (GetString(ds, DCM_SOPClassUID) != UID_RTStructureSetStorage)
    return Fail(ErrorCode::kInvalidArgument, "not a DICOM RT Structure Set");
  // Counted before dcmrt copies every item.
  DcmSequenceOfItems* listed = nullptr;
  if (ds.findAndGetSequence(DCM_StructureSetROISequence, listed).good() && listed &&
      static_cast<std::int64_t>(listed->card()) > limits.max_rois)
    return Fail(ErrorCode::kTooLarge, fmt::format("the structure set lists {} ROIs, more than the {} accepted",
                                                  listed->card(), limits.max_rois));
  // dcmrt reads the modules; the ROI Contour Sequence is taken out first and read here:
  // dcmrt would copy every ContourData, and its ContourData getters (DCMTK 3.6.7) count
  // the values again for every value they return, quadratic in a contour's size.
  std::unique_ptr<DcmElement> outlines(ds.remove(DCM_ROIContourSequence));
  // Large (every attribute of every module is a member): on the heap.
  auto iod = std::make_unique<DRTStructureSetIOD>();
  if (OFCondition read = iod->read(ds); read.bad())
    return Fail(ErrorCode::kUnprocessable, "the RT Structure Set cannot be read", read.text());

  RtStructHeader out;
  OFString v;
  out.sop_uid = Str(iod->getSOPInstanceUID(v), v);
  out.series_uid = Str(iod->getSeriesInstanceUID(v), v);
  out.study_uid = Str(iod->getStudyInstanceUID(v), v);
  out.frame_of_reference_uid = Str(iod->getFrameOfReferenceUID(v), v);
  out.manufacturer = Str(iod->getManufacturer(v), v);
  out.software_versions = Str(iod->getSoftwareVersions(v, -1), v);
  out.label = Str(iod->getStructureSetLabel(v), v);
  out.series_description = Str(iod->getSeriesDescription(v), v);

  std::set<std::string> seen_series;
  for (auto* frame : ItemsOf(iod->getReferencedFrameOfReferenceSequence())) {
    if (out.frame_of_reference_uid.empty()) out.frame_of_reference_uid = Str(frame->getFrameOfReferenceUID(v), v);
    for (auto* study : ItemsOf(frame->getRTReferencedStudySequence()))
      for (auto* series : ItemsOf(study->getRTReferencedSeriesSequence())) {
        std::string uid = Str(series->getSeriesInstanceUID(v), v);
        if (!uid.empty() && seen_series.insert(uid).second) out.referenced_series_uids.push_back(std::move(uid));
      }
  }

  std::unordered_map<int, std::size_t> index_of;  // ROI number -> out.rois
  for (auto* item : ItemsOf(iod->getStructureSetROISequence())) {
    Sint32 number = 0;
    if (item->getROINumber(number).bad())
      return Fail(ErrorCode::kUnprocessable,
                  fmt::format("item {} of the Structure Set ROI Sequence has no ROI Number", out.rois.size() + 1));
    if (!index_of.emplace(number, out.rois.size()).second)
      return Fail(ErrorCode::kUnprocessable, fmt::format("ROI Number {} is listed twice", number));
    RoiContours roi;
    roi.number = number;
    roi.name = Str(item->getROIName(v), v);
    roi.generation_algorithm = Str(item->getROIGenerationAlgorithm(v), v);
    if (out.frame_of_reference_uid.empty()) out.frame_of_reference_uid = Str(item->getReferencedFrameOfReferenceUID(v), v);
    out.rois.push_back(std::move(roi));
  }

  for (auto* item : ItemsOf(iod->getRTROIObservationsSequence())) {
    Sint32 number = 0;
    if (item->getReferencedROINumber(number).bad()) continue;
    auto found = index_of.find(number);
    if (found == index_of.end()) continue;  // an observation of nothing outlined: harmless
    std::string type = Str(item->getRTROIInterpretedType(v), v);
    if (out.rois[found->second].interpreted_type.empty()) out.rois[found->second].interpreted_type = std::move(type);
  }

  if (outlines && outlines->ident() == EVR_SQ)
    if (auto read = ReadContours(*static_cast<DcmSequenceOfItems*>(outlines.get()), index_of, limits, out); !read)
      return std::unexpected(read.error());
  return out;
}

// ---------------------------------------------------------------------------------------
// ROI -> segment

const CodedConcept kAnatomy{"123037004", "SCT", "Anatomical Structure"};
const CodedConcept kAltered{"49755003", "SCT", "Morphologically Altered Structure"};
const CodedConcept kSpatial{"309825002", "SCT", "Spatial and Relational Concept"};
const CodedConcept kTissueCategory{"85756007", "SCT", "Tissue"};

struct NamedConcept {
  std::string_view keyword;  // in the ROI name, lower case, without spaces and punctuation
  CodedConcept category, type;
  CodedConcept left{}, right{};  // the lateral concepts, where SNOMED CT has them
};

// Common organs in ROI names, in matching order (brainstem before brain, gallbladder before
// bladder). Codes as in web/src/viewer/terms.ts where it has them.
const std::vector<NamedConcept>& NamedConcepts() {
  static const std::vector<NamedConcept> kConcepts = {
      {"lung", kAnatomy, {"39607008", "SCT", "Lung"}, {"44029006", "SCT", "Left lung"}, {"3341006", "SCT", "Right lung"}},
      {"kidney", kAnatomy, {"64033007", "SCT", "Kidney"}, {"18639004", "SCT", "Left kidney"},
       {"9846003", "SCT", "Right kidney"}},
      {"liver", kAnatomy, {"10200004", "SCT", "Liver"}},
      {"heart", kAnatomy, {"80891009", "SCT", "Heart"}},
      {"spleen", kAnatomy, {"78961009", "SCT", "Spleen"}},
      {"pancreas", kAnatomy, {"15776009", "SCT", "Pancreas"}},
      {"stomach", kAnatomy, {"69695003", "SCT", "Stomach"}},
      {"gallbladder", kAnatomy, {"28231008", "SCT", "Gallbladder"}},
      {"bladder", kAnatomy, {"89837001", "SCT", "Urinary bladder"}},
      {"brainstem", kAnatomy, {"15926001", "SCT", "Brainstem"}},
      {"brain", kAnatomy, {"12738006", "SCT", "Brain"}},
      {"spinalcord", kAnatomy, {"2748008", "SCT", "Spinal cord"}},
      {"esophagus", kAnatomy, {"32849002", "SCT", "Esophagus"}},
      {"prostate", kAnatomy, {"41216001", "SCT", "Prostate"}},
      {"rectum", kAnatomy, {"34402009", "SCT", "Rectum"}},
      {"aorta", kAnatomy, {"15825003", "SCT", "Aorta"}},
      {"trachea", kAnatomy, {"44567001", "SCT", "Trachea"}},
      {"thyroid", kAnatomy, {"69748006", "SCT", "Thyroid"}},
      {"parotid", kAnatomy, {"45289007", "SCT", "Parotid gland"}},
      {"mandible", kAnatomy, {"91609006", "SCT", "Mandible"}},
      {"duodenum", kAnatomy, {"38848004", "SCT", "Duodenum"}},
      {"colon", kAnatomy, {"71854001", "SCT", "Colon"}},
      {"vessel", kAnatomy, {"59820001", "SCT", "Blood vessel"}},
      {"bone", kTissueCategory, {"272673000", "SCT", "Bone"}},
      {"tumour", kAltered, {"108369006", "SCT", "Neoplasm"}},
      {"tumor", kAltered, {"108369006", "SCT", "Neoplasm"}},
      {"lesion", kAltered, {"52988006", "SCT", "Lesion"}},
      {"nodule", kAltered, {"27925004", "SCT", "Nodule"}},
  };
  return kConcepts;
}

struct Target {
  std::string_view interpreted_type;
  CodedConcept category, type;
};
// CID 9534 Radiotherapy Targets (SNOMED CT observable entities).
const std::vector<Target>& Targets() {
  static const std::vector<Target> kTargets = {
      {"PTV", kSpatial, {"228793007", "SCT", "Planning target volume"}},
      {"CTV", kSpatial, {"228792002", "SCT", "Clinical target volume"}},
      {"GTV", kAltered, {"228791009", "SCT", "Gross tumor volume"}},
      {"ITV", kSpatial, {"1201745009", "SCT", "Internal target volume"}},
  };
  return kTargets;
}

SegmentInfo OfRoi(const RoiContours& roi) {
  SegmentInfo s;
  s.label = roi.number >= 1 && roi.number <= 255 ? roi.number : 0;
  s.name = roi.name;
  if (roi.rgb) s.rgb = *roi.rgb;
  // SEMIAUTOMATIC stays manual: a segment's algorithm type has no "semi", and calling a
  // person's corrected outline automatic would hide the person.
  s.automatic = roi.generation_algorithm == "AUTOMATIC";
  if (s.automatic) s.algorithm_name = "unknown";

  // The name, lower case, letters and digits only; its words for laterality.
  std::string compact, spaced;
  for (char c : roi.name) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u)) {
      compact += static_cast<char>(std::tolower(u));
      spaced += static_cast<char>(std::tolower(u));
    } else {
      spaced += ' ';
    }
  }
  const std::string words = " " + spaced + " ";
  auto has_word = [&](std::initializer_list<std::string_view> options) {
    for (auto w : options)
      if (words.find(" " + std::string(w) + " ") != std::string::npos) return true;
    return false;
  };
  const bool left = compact.find("left") != std::string::npos || has_word({"l", "lt", "lft", "sin"});
  const bool right = compact.find("right") != std::string::npos || has_word({"r", "rt", "rgt", "dx"});

  std::string type = roi.interpreted_type;
  std::transform(type.begin(), type.end(), type.begin(), [](unsigned char c) { return std::toupper(c); });
  // The interpreted type first; without one, a name that starts like a target ("PTV_60").
  for (const Target& t : Targets()) {
    std::string lower(t.interpreted_type);
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    if (type == t.interpreted_type || (type.empty() && compact.starts_with(lower))) {
      s.category = t.category;
      s.type = t.type;
      return s;
    }
  }
  if (type == "EXTERNAL" || compact == "body" || compact.starts_with("external")) {
    s.category = kAnatomy;
    s.type = {kEntireBody, "SCT", "Entire body"};
    return s;
  }
  for (const NamedConcept& c : NamedConcepts()) {
    if (compact.find(c.keyword) == std::string::npos) continue;
    // "LungL", "KidneyR": a side written straight after the organ.
    const std::string keyword(c.keyword);
    const bool is_left = left || compact.ends_with(keyword + "l");
    const bool is_right = right || compact.ends_with(keyword + "r");
    s.category = c.category;
    s.type = is_left != is_right && !c.left.code.empty() ? (is_left ? c.left : c.right) : c.type;
    return s;
  }
  return s;  // Anatomical Structure / Tissue (SegmentInfo's defaults)
}

}  // namespace
}  // namespace rtstruct_read_detail

Result<RtStructHeader> ReadRtStruct(std::string_view part10, const RtStructLimits& limits) {
  return rtstruct_read_detail::Read(part10, limits);
}

SegmentInfo SegmentOfRoi(const RoiContours& roi) { return rtstruct_read_detail::OfRoi(roi); }

}  // namespace vg::dicom
