// rtstruct.h's writing half: ContoursOfLabel (a tracer along the voxels' edges) and
// WriteRtStruct.
#include "dicom/rtstruct.h"

#include <dcmtk/dcmdata/dctk.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <limits>
#include <random>
#include <set>
#include <unordered_map>

#include "core/checked_math.h"
#include "dicom/dcmtk_io.h"
#include "dicom/written_values.h"
#include "dicom/dicom.h"
#include "dicom/rtstruct_internal.h"

namespace vg::dicom {
// A named namespace around the anonymous one: the library is a unity build, and seg.cpp's,
// overlay_series.cpp's and the other rtstruct_*.cpp files' helpers (Check, ...)
// would otherwise meet these.
namespace rtstruct_write_detail {
namespace {

using rtstruct_detail::kEntireBody;
using rtstruct_detail::Point;

// ---------------------------------------------------------------------------------------
// Tracing outlines

// Directions on the lattice of voxel corners, clockwise on screen (row index grows
// downwards): a right turn is d + 1.
enum : int { kEast = 0, kSouth = 1, kWest = 2, kNorth = 3 };
constexpr std::uint8_t kSaddle = 16;

// The boundary of one label on one slice as closed loops of corner indices
// (cy * (columns + 1) + cx; corner (cx, cy) is voxel position (cx - 0.5, cy - 0.5)).
// Each boundary edge is directed with the inside on its right, so every corner has as many
// edges in as out: one, or two at a saddle (two voxels touching only diagonally). At a
// saddle the walk turns right, staying with the voxel it went round; a loop that still
// meets itself at a corner (a ring pinched at a diagonal) is cut there into two. So no
// loop visits a corner twice, and the loops hold each boundary edge exactly once: their
// even-odd fill is the label's voxels, however they are linked.
class Tracer {
 public:
  Tracer(std::int64_t columns, std::int64_t rows)
      : columns_(columns), rows_(rows), stride_(columns + 1),
        out_(static_cast<std::size_t>((columns + 1) * (rows + 1)), 0),
        position_(static_cast<std::size_t>((columns + 1) * (rows + 1)), -1) {}

  // Rows [row0, row1) of `slice` (voxels outside the band count as outside).
  std::vector<std::vector<std::int64_t>> Loops(const std::uint8_t* slice, std::uint8_t label, std::int64_t row0,
                                               std::int64_t row1) {
    auto inside = [&](std::int64_t x, std::int64_t y) {
      return x >= 0 && x < columns_ && y >= row0 && y < row1 && slice[y * columns_ + x] == label;
    };
    std::fill(out_.begin() + row0 * stride_, out_.begin() + (row1 + 1) * stride_, 0);
    for (std::int64_t y = row0; y < row1; ++y)
      for (std::int64_t x = 0; x < columns_; ++x) {
        if (!inside(x, y)) continue;
        if (!inside(x, y - 1)) out_[y * stride_ + x] |= 1 << kEast;
        if (!inside(x + 1, y)) out_[y * stride_ + x + 1] |= 1 << kSouth;
        if (!inside(x, y + 1)) out_[(y + 1) * stride_ + x + 1] |= 1 << kWest;
        if (!inside(x - 1, y)) out_[(y + 1) * stride_ + x] |= 1 << kNorth;
      }
    for (std::int64_t c = row0 * stride_; c < (row1 + 1) * stride_; ++c)
      if (out_[c] == ((1 << kEast) | (1 << kWest)) || out_[c] == ((1 << kSouth) | (1 << kNorth))) out_[c] |= kSaddle;

    std::vector<std::vector<std::int64_t>> loops;
    for (std::int64_t s = row0 * stride_; s < (row1 + 1) * stride_; ++s)
      while (out_[s] & 15) Walk(s, loops);
    return loops;
  }

  std::int64_t stride() const { return stride_; }

 private:
  std::int64_t Step(int d) const { return d == kEast ? 1 : d == kSouth ? stride_ : d == kWest ? -1 : -stride_; }

  static int LowestDirection(std::uint8_t bits) {
    for (int d = 0; d < 4; ++d)
      if (bits & (1 << d)) return d;
    return -1;
  }

  void Walk(std::int64_t start, std::vector<std::vector<std::int64_t>>& loops) {
    const int first = LowestDirection(out_[start]);
    path_.clear();
    path_.push_back(start);
    std::int64_t at = start;
    int d = first;
    out_[at] &= static_cast<std::uint8_t>(~(1 << d));
    while (true) {
      at += Step(d);
      const int next = (out_[at] & kSaddle) ? (d + 1) % 4 : LowestDirection(out_[at] & 15);
      // Back where it started (the start's own edge is spent): closed. Anywhere else the
      // next edge exists by construction; the check only keeps a bug from looping forever.
      if (next < 0 || !(out_[at] & (1 << next))) break;
      out_[at] &= static_cast<std::uint8_t>(~(1 << next));
      path_.push_back(at);
      d = next;
    }
    // Cut at repeated corners: a stack of the open path; meeting a corner already on it
    // closes the loop from there.
    stack_.clear();
    auto visit = [&](std::int64_t corner) {
      std::int64_t& at_index = position_[corner];
      if (at_index < 0) {
        at_index = static_cast<std::int64_t>(stack_.size());
        stack_.push_back(corner);
        return;
      }
      const std::int64_t from = at_index;
      loops.emplace_back(stack_.begin() + from, stack_.end());
      for (std::size_t i = static_cast<std::size_t>(from) + 1; i < stack_.size(); ++i) position_[stack_[i]] = -1;
      stack_.resize(static_cast<std::size_t>(from) + 1);
    };
    for (std::int64_t corner : path_) visit(corner);
    visit(start);  // the closing edge
    for (std::int64_t corner : stack_) position_[corner] = -1;
  }

  std::int64_t columns_, rows_, stride_;
  std::vector<std::uint8_t> out_;        // per corner: the boundary edges leaving it, and kSaddle
  std::vector<std::int64_t> position_;   // per corner: its index on stack_, or -1
  std::vector<std::int64_t> path_, stack_;
};

// The loop's corners where it turns (a straight run keeps only its ends).
std::vector<std::int64_t> Corners(const std::vector<std::int64_t>& loop) {
  std::vector<std::int64_t> kept;
  const std::size_t n = loop.size();
  for (std::size_t i = 0; i < n; ++i) {
    const std::int64_t before = loop[i] - loop[(i + n - 1) % n];
    const std::int64_t after = loop[(i + 1) % n] - loop[i];
    if (before != after) kept.push_back(loop[i]);
  }
  return kept;
}

Point CornerPosition(const VolumeGeometry& g, std::int64_t corner, std::int64_t stride, std::int64_t k) {
  const std::int64_t cx = corner % stride, cy = corner / stride;
  return g.PatientPosition(static_cast<double>(cx) - 0.5, static_cast<double>(cy) - 0.5, static_cast<double>(k));
}

bool SliceHolds(const LabelVolume& labels, std::int64_t k, std::uint8_t label) {
  const std::int64_t plane = labels.geometry.dims[0] * labels.geometry.dims[1];
  const std::uint8_t* slice = labels.labels.data() + k * plane;
  return std::find(slice, slice + plane, label) != slice + plane;
}

bool HoldsItsGrid(const LabelVolume& labels) {
  const auto& d = labels.geometry.dims;
  const auto voxels = ProductWithin({d[0], d[1], d[2]}, std::numeric_limits<std::int64_t>::max());
  return voxels && d[0] > 0 && d[1] > 0 && d[2] > 0 && labels.labels.size() == *voxels;
}

std::vector<std::pair<std::int64_t, std::vector<Point>>> Outlines(const LabelVolume& labels, std::uint8_t label) {
  std::vector<std::pair<std::int64_t, std::vector<Point>>> out;
  if (!HoldsItsGrid(labels)) return out;
  const VolumeGeometry& g = labels.geometry;
  Tracer tracer(g.dims[0], g.dims[1]);
  for (std::int64_t k = 0; k < g.dims[2]; ++k) {
    if (!SliceHolds(labels, k, label)) continue;
    const std::uint8_t* slice = labels.labels.data() + k * g.dims[0] * g.dims[1];
    for (const auto& loop : tracer.Loops(slice, label, 0, g.dims[1])) {
      std::vector<Point> points;
      for (std::int64_t corner : Corners(loop)) points.push_back(CornerPosition(g, corner, tracer.stride(), k));
      out.emplace_back(k, std::move(points));
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Writing

bool IsMultiFrameClass(std::string_view sop_class) {
  static constexpr std::array<std::string_view, 9> kMultiFrame = {
      "1.2.840.10008.5.1.4.1.1.2.1", "1.2.840.10008.5.1.4.1.1.2.2", "1.2.840.10008.5.1.4.1.1.4.1",
      "1.2.840.10008.5.1.4.1.1.4.4", "1.2.840.10008.5.1.4.1.1.130", "1.2.840.10008.5.1.4.1.1.128.1",
      "1.2.840.10008.5.1.4.1.1.20",  "1.2.840.10008.5.1.4.1.1.7.2", "1.2.840.10008.5.1.4.1.1.7.3"};
  return std::find(kMultiFrame.begin(), kMultiFrame.end(), sop_class) != kMultiFrame.end();
}

// Patient (and clinical trial subject), study, patient study and clinical trial study
// attributes, copied from the source so that the structure set files under the same
// patient and study.
const DcmTagKey kCopied[] = {
    DCM_SpecificCharacterSet,
    // Patient
    DCM_PatientName, DCM_PatientID, DCM_IssuerOfPatientID, DCM_IssuerOfPatientIDQualifiersSequence, DCM_TypeOfPatientID,
    DCM_PatientBirthDate, DCM_PatientBirthTime, DCM_PatientSex, DCM_OtherPatientIDsSequence, DCM_OtherPatientNames,
    DCM_EthnicGroup, DCM_PatientComments, DCM_PatientSpeciesDescription, DCM_PatientSpeciesCodeSequence,
    DCM_PatientBreedDescription, DCM_PatientBreedCodeSequence, DCM_BreedRegistrationSequence, DCM_ResponsiblePerson,
    DCM_ResponsiblePersonRole, DCM_ResponsibleOrganization, DCM_PatientIdentityRemoved, DCM_DeidentificationMethod,
    DCM_DeidentificationMethodCodeSequence, DCM_QualityControlSubject,
    // Clinical Trial Subject
    DCM_ClinicalTrialSponsorName, DCM_ClinicalTrialProtocolID, DCM_ClinicalTrialProtocolName, DCM_ClinicalTrialSiteID,
    DCM_ClinicalTrialSiteName, DCM_ClinicalTrialSubjectID, DCM_ClinicalTrialSubjectReadingID,
    // General Study
    DCM_StudyInstanceUID, DCM_StudyDate, DCM_StudyTime, DCM_ReferringPhysicianName,
    DCM_ReferringPhysicianIdentificationSequence, DCM_ConsultingPhysicianName, DCM_StudyID, DCM_AccessionNumber,
    DCM_IssuerOfAccessionNumberSequence, DCM_StudyDescription, DCM_PhysiciansOfRecord, DCM_NameOfPhysiciansReadingStudy,
    DCM_ReferencedStudySequence, DCM_ProcedureCodeSequence, DCM_ReasonForPerformedProcedureCodeSequence,
    // Patient Study
    DCM_AdmittingDiagnosesDescription, DCM_PatientAge, DCM_PatientSize, DCM_PatientWeight, DCM_Occupation,
    DCM_AdditionalPatientHistory, DCM_PregnancyStatus,
    // Clinical Trial Study and Series
    DCM_ClinicalTrialTimePointID, DCM_ClinicalTrialTimePointDescription, DCM_ConsentForClinicalTrialUseSequence,
    DCM_ClinicalTrialCoordinatingCenterName,
    // Frame of Reference (its UID is set from the volume)
    DCM_PositionReferenceIndicator};

// Type 2 attributes of the Patient, General Study and Frame of Reference modules:
// present, if empty.
const DcmTagKey kRequiredEmpty[] = {DCM_PatientName,  DCM_PatientID,   DCM_PatientBirthDate,
                                    DCM_PatientSex,   DCM_StudyDate,   DCM_StudyTime,
                                    DCM_ReferringPhysicianName,        DCM_StudyID,
                                    DCM_AccessionNumber,               DCM_PositionReferenceIndicator};

constexpr const char* kRtTargetCodes[][2] = {{"228793007", "PTV"}, {"228792002", "CTV"}, {"228791009", "GTV"}};

// RT ROI Interpreted Type of a segment. PTV/CTV/GTV when the segment's type is that target
// concept and EXTERNAL for the entire body: then the label says what a planning system
// needs. ORGAN for the Anatomical Structure category, the term for an outlined organ.
// Otherwise empty (Type 2: not known): a lesion an algorithm found is not a GTV (a target
// is a clinician's decision), and CONTROL means a helper structure for dose optimisation,
// which a segmentation is not; claiming either would steer a planning system wrongly.
std::string RoiTypeOfSegment(const SegmentInfo& s) {
  if (s.type.scheme == "SCT") {
    for (const auto& [code, type] : kRtTargetCodes)
      if (s.type.code == code) return type;
    if (s.type.code == kEntireBody) return "EXTERNAL";
  }
  if (s.category.scheme == "SCT" && s.category.code == "123037004") return "ORGAN";
  return "";
}

void PutString(DcmItem& item, const DcmTagKey& tag, const std::string& value) {
  item.putAndInsertString(tag, value.c_str());
}

DcmItem& AppendItem(DcmSequenceOfItems& sequence) {
  auto* item = new DcmItem();
  sequence.append(item);
  return *item;
}

DcmSequenceOfItems& NewSequence(DcmItem& parent, const DcmTagKey& tag) {
  auto* sequence = new DcmSequenceOfItems(tag);
  parent.insert(sequence, /*replaceOld=*/OFTrue);
  return *sequence;
}

// An Explicit VR DS holds at most 64 KiB - 2 (a 16-bit length, even).
constexpr std::size_t kMaxDsBytes = 65534;

// The contours of `label` on slice k, as ContourData values. A loop whose value would not
// fit is traced again in two bands of rows, down to single rows if need be (where every
// loop is a rectangle of 4 points): the bands meet along a horizontal line between rows,
// which no row's centre line crosses, so rasterising the pieces gives the same voxels and
// each piece is an ordinary simple polygon for any reader.
void EncodeSlice(const LabelVolume& labels, std::uint8_t label, std::int64_t k, std::int64_t row0, std::int64_t row1,
                 Tracer& tracer, std::vector<std::pair<std::string, std::int64_t>>& encoded) {
  const VolumeGeometry& g = labels.geometry;
  const std::uint8_t* slice = labels.labels.data() + k * g.dims[0] * g.dims[1];
  const auto loops = tracer.Loops(slice, label, row0, row1);
  std::vector<std::pair<std::string, std::int64_t>> here;
  for (const auto& loop : loops) {
    const auto corners = Corners(loop);
    std::string data;
    for (std::int64_t corner : corners) {
      const Point p = CornerPosition(g, corner, tracer.stride(), k);
      if (!data.empty()) data += '\\';
      data += DsValue(p[0]);
      data += '\\';
      data += DsValue(p[1]);
      data += '\\';
      data += DsValue(p[2]);
      if (data.size() > kMaxDsBytes) break;
    }
    if (data.size() > kMaxDsBytes && row1 - row0 > 1) {
      const std::int64_t middle = row0 + (row1 - row0) / 2;
      EncodeSlice(labels, label, k, row0, middle, tracer, encoded);
      EncodeSlice(labels, label, k, middle, row1, tracer, encoded);
      return;
    }
    here.emplace_back(std::move(data), static_cast<std::int64_t>(corners.size()));
  }
  for (auto& e : here) encoded.push_back(std::move(e));
}

Result<std::string> Write(std::string_view source_part10, const Volume& source, const LabelVolume& labels,
                          const std::vector<SegmentInfo>& segments, const RtStructWriteOptions& options) {
  const VolumeGeometry& g = source.geometry;
  if (!labels.geometry.SameGrid(g) || !HoldsItsGrid(labels))
    return Fail(ErrorCode::kInvalidArgument, "the labels are not on the source volume's grid");
  if (static_cast<std::int64_t>(source.slices.size()) != g.dims[2])
    return Fail(ErrorCode::kInternal, "the source volume does not name its slices");
  if (segments.empty()) return Fail(ErrorCode::kInvalidArgument, "a structure set needs at least one segment");
  if (options.series_number < std::numeric_limits<std::int32_t>::min() ||
      options.series_number > std::numeric_limits<std::int32_t>::max())
    return Fail(ErrorCode::kInvalidArgument, "the series number does not fit DICOM's IS");
  std::set<int> numbers;
  for (const SegmentInfo& s : segments) {
    if (s.label < 1 || s.label > 255) return Fail(ErrorCode::kInvalidArgument, "segment labels are 1..255");
    if (!numbers.insert(s.label).second)
      return Fail(ErrorCode::kInvalidArgument, fmt::format("label {} is given to two segments", s.label));
  }
  auto loaded = LoadFromMemory(source_part10);
  if (!loaded) return std::unexpected(loaded.error());
  DcmDataset& src = *loaded->dataset;
  const std::string frame_of_reference =
      source.frame_of_reference_uid.empty() ? GetString(src, DCM_FrameOfReferenceUID) : source.frame_of_reference_uid;
  if (frame_of_reference.empty())
    return Fail(ErrorCode::kUnprocessable, "the source series has no Frame of Reference UID for the contours to be in");
  const std::string source_series = source.series_uid.empty() ? GetString(src, DCM_SeriesInstanceUID) : source.series_uid;

  DcmFileFormat file;
  DcmDataset& ds = *file.getDataset();
  for (const DcmTagKey& tag : kCopied)
    if (src.tagExists(tag)) src.findAndInsertCopyOfElement(tag, &ds);
  for (const DcmTagKey& tag : kRequiredEmpty)
    if (!ds.tagExists(tag)) ds.putAndInsertString(tag, "");
  if (GetString(ds, DCM_StudyInstanceUID).empty()) {
    if (source.study_uid.empty()) return Fail(ErrorCode::kInvalidArgument, "the source image names no study");
    PutString(ds, DCM_StudyInstanceUID, source.study_uid);
  }
  const std::string study_uid = GetString(ds, DCM_StudyInstanceUID);
  const bool utf8 = GetString(ds, DCM_SpecificCharacterSet).find("ISO_IR 192") != std::string::npos;

  OFString date, time;
  DcmDate::getCurrentDate(date);
  DcmTime::getCurrentTime(time);
  // SOP Common
  PutString(ds, DCM_SOPClassUID, UID_RTStructureSetStorage);
  PutString(ds, DCM_SOPInstanceUID, options.sop_uid.empty() ? NewRandomUid() : options.sop_uid);
  ds.putAndInsertOFStringArray(DCM_InstanceCreationDate, date);
  ds.putAndInsertOFStringArray(DCM_InstanceCreationTime, time);
  // RT Series
  PutString(ds, DCM_Modality, "RTSTRUCT");
  PutString(ds, DCM_SeriesInstanceUID, options.series_uid.empty() ? NewRandomUid() : options.series_uid);
  PutString(ds, DCM_SeriesNumber, std::to_string(options.series_number));
  ds.putAndInsertOFStringArray(DCM_SeriesDate, date);
  ds.putAndInsertOFStringArray(DCM_SeriesTime, time);
  if (auto description = SafeValueText(options.series_description, 64, utf8); !description.empty())
    PutString(ds, DCM_SeriesDescription, description);
  PutString(ds, DCM_OperatorsName, "");
  // General Equipment
  PutString(ds, DCM_Manufacturer, SafeValueText(options.manufacturer, 64, utf8));
  if (auto versions = SafeValueText(options.software_version, 64, utf8); !versions.empty())
    PutString(ds, DCM_SoftwareVersions, versions);
  // Frame of Reference: the grid's, so that a reader needs no other object to place it.
  PutString(ds, DCM_FrameOfReferenceUID, frame_of_reference);
  // Structure Set
  const std::string set_label = SafeValueText(options.label, 16, false);
  PutString(ds, DCM_StructureSetLabel, set_label.empty() ? "VOXELGATE" : set_label);
  ds.putAndInsertOFStringArray(DCM_StructureSetDate, date);
  ds.putAndInsertOFStringArray(DCM_StructureSetTime, time);
  PutString(ds, DCM_InstanceNumber, "1");

  // Which slices are frames of a multi-frame image (their references name the frame).
  std::unordered_map<std::string, int> uses;
  for (const SliceSource& s : source.slices) ++uses[s.sop_uid];
  auto reference_image = [&](DcmItem& item, std::int64_t k) {
    const SliceSource& s = source.slices[static_cast<std::size_t>(k)];
    PutString(item, DCM_ReferencedSOPClassUID, s.sop_class_uid);
    PutString(item, DCM_ReferencedSOPInstanceUID, s.sop_uid);
    if (uses[s.sop_uid] > 1 || s.frame > 1 || IsMultiFrameClass(s.sop_class_uid))
      PutString(item, DCM_ReferencedFrameNumber, std::to_string(s.frame));
  };
  {
    DcmItem& frame = AppendItem(NewSequence(ds, DCM_ReferencedFrameOfReferenceSequence));
    PutString(frame, DCM_FrameOfReferenceUID, frame_of_reference);
    DcmItem& study = AppendItem(NewSequence(frame, DCM_RTReferencedStudySequence));
    // The (retired) Detached Study Management SOP Class, as C.8.8.5 still asks here.
    PutString(study, DCM_ReferencedSOPClassUID, "1.2.840.10008.3.1.2.3.1");
    PutString(study, DCM_ReferencedSOPInstanceUID, study_uid);
    DcmItem& series = AppendItem(NewSequence(study, DCM_RTReferencedSeriesSequence));
    PutString(series, DCM_SeriesInstanceUID, source_series);
    DcmSequenceOfItems& images = NewSequence(series, DCM_ContourImageSequence);
    std::set<std::pair<std::string, std::int64_t>> listed;
    for (std::int64_t k = 0; k < g.dims[2]; ++k)
      if (listed.emplace(source.slices[k].sop_uid, source.slices[k].frame).second)
        reference_image(AppendItem(images), k);
  }

  DcmSequenceOfItems& roi_list = NewSequence(ds, DCM_StructureSetROISequence);
  DcmSequenceOfItems& roi_contours = NewSequence(ds, DCM_ROIContourSequence);
  DcmSequenceOfItems& observations = NewSequence(ds, DCM_RTROIObservationsSequence);
  Tracer tracer(g.dims[0], g.dims[1]);
  std::uint64_t contour_bytes = 0;
  std::int64_t contours_written = 0;
  std::int64_t observation = 0;
  for (const SegmentInfo& s : segments) {
    const std::string number = std::to_string(s.label);
    DcmItem& listed = AppendItem(roi_list);
    PutString(listed, DCM_ROINumber, number);
    PutString(listed, DCM_ReferencedFrameOfReferenceUID, frame_of_reference);
    PutString(listed, DCM_ROIName, SafeValueText(s.name.empty() ? s.type.meaning : s.name, 64, utf8));
    PutString(listed, DCM_ROIGenerationAlgorithm, options.automatic ? "AUTOMATIC" : "MANUAL");
    if (options.automatic) {
      const bool own = options.algorithm_name.empty();  // else the segment's, when it names one
      const std::string& name = own ? s.algorithm_name : options.algorithm_name;
      const std::string& version = own ? s.algorithm_version : options.algorithm_version;
      const std::string algorithm = version.empty() ? name : name + " " + version;
      if (auto description = SafeValueText(algorithm, 64, utf8); !description.empty())
        PutString(listed, DCM_ROIGenerationDescription, description);
    }

    DcmItem& outline = AppendItem(roi_contours);
    PutString(outline, DCM_ReferencedROINumber, number);
    PutString(outline, DCM_ROIDisplayColor, fmt::format("{}\\{}\\{}", s.rgb[0], s.rgb[1], s.rgb[2]));
    // A segment not painted yet keeps its ROI, without contours (Contour Sequence is Type 3).
    DcmSequenceOfItems* contours = nullptr;
    const auto label = static_cast<std::uint8_t>(s.label);
    std::vector<std::pair<std::string, std::int64_t>> encoded;
    for (std::int64_t k = 0; k < g.dims[2]; ++k) {
      if (!SliceHolds(labels, k, label)) continue;
      encoded.clear();
      EncodeSlice(labels, label, k, 0, g.dims[1], tracer, encoded);
      for (auto& [data, points] : encoded) {
        contour_bytes += data.size();
        if (contour_bytes > kMaxRtStructContourBytes)
          return Fail(ErrorCode::kTooLarge, fmt::format("the contours need more than the {} MiB a structure set written "
                                                        "here may hold; save fewer labels",
                                                        kMaxRtStructContourBytes >> 20));
        if (!contours) contours = &NewSequence(outline, DCM_ContourSequence);
        DcmItem& contour = AppendItem(*contours);
        reference_image(AppendItem(NewSequence(contour, DCM_ContourImageSequence)), k);
        PutString(contour, DCM_ContourGeometricType, "CLOSED_PLANAR");
        PutString(contour, DCM_NumberOfContourPoints, std::to_string(points));
        auto* values = new DcmDecimalString(DCM_ContourData);
        values->putString(data.c_str(), static_cast<Uint32>(data.size()));
        contour.insert(values, /*replaceOld=*/OFTrue);
        ++contours_written;
      }
    }

    DcmItem& observed = AppendItem(observations);
    PutString(observed, DCM_ObservationNumber, std::to_string(++observation));
    PutString(observed, DCM_ReferencedROINumber, number);
    PutString(observed, DCM_RTROIInterpretedType, RoiTypeOfSegment(s));
    PutString(observed, DCM_ROIInterpreter, "");
  }
  if (contours_written == 0)
    return Fail(ErrorCode::kInvalidArgument, "the segmentation is empty: no voxel carries a segment's label");
  return WriteFileToString(file);
}

}  // namespace
}  // namespace rtstruct_write_detail

std::vector<std::pair<std::int64_t, std::vector<std::array<double, 3>>>> ContoursOfLabel(const LabelVolume& labels,
                                                                                           std::uint8_t label) {
  return rtstruct_write_detail::Outlines(labels, label);
}

Result<std::string> WriteRtStruct(std::string_view source_part10, const Volume& source, const LabelVolume& labels,
                                  const std::vector<SegmentInfo>& segments, const RtStructWriteOptions& options) {
  return rtstruct_write_detail::Write(source_part10, source, labels, segments, options);
}

}  // namespace vg::dicom
