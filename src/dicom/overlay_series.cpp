#include "dicom/overlay_series.h"

#include <dcmtk/dcmdata/dcuid.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <limits>
#include <random>

#include "core/checked_math.h"
#include "dicom/dcmtk_io.h"
#include "dicom/written_values.h"
#include "dicom/dicom.h"

namespace vg::dicom {
// A named namespace around the anonymous one: the library is a unity build, and seg.cpp's
// helpers (Lo, Check, ...) would otherwise meet these in the same translation unit.
namespace overlay_series_detail {
namespace {

Result<void> Check(const OFCondition& condition, std::string_view what) {
  if (condition.good()) return {};
  return Fail(ErrorCode::kInternal, fmt::format("cannot write the overlay series ({})", what), condition.text());
}

bool MentionsLung(const SegmentInfo& s) {
  std::string text = s.name + " " + s.type.meaning;
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text.find("lung") != std::string::npos;
}

struct Window {
  double centre = 0, width = 1;
};

Result<Window> ChooseWindow(const OverlayOptions& options, DcmDataset& source_ds, const Volume& source,
                            const std::vector<SegmentInfo>& segments) {
  if (options.window) {
    const auto [centre, width] = *options.window;
    if (!std::isfinite(centre) || !std::isfinite(width) || width <= 0)
      return Fail(ErrorCode::kInvalidArgument, "the overlay window needs a finite centre and a positive width");
    return Window{centre, width};
  }
  Float64 centre = 0, width = 0;
  if (source_ds.findAndGetFloat64(DCM_WindowCenter, centre, 0).good() &&
      source_ds.findAndGetFloat64(DCM_WindowWidth, width, 0).good() && std::isfinite(centre) && std::isfinite(width) &&
      width > 0)
    return Window{centre, width};
  if (source.modality == "CT") {
    if (std::any_of(segments.begin(), segments.end(), MentionsLung)) return Window{-600, 1500};
    return Window{40, 400};
  }
  double lo = INFINITY, hi = -INFINITY;
  const std::int64_t count = source.geometry.VoxelCount();
  for (std::int64_t i = 0; i < count; ++i) {
    const double v = source.ValueAt(i);
    if (!std::isfinite(v)) continue;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  if (!(lo <= hi)) return Window{0, 1};
  return Window{(lo + hi) / 2, std::max(hi - lo, 1.0)};
}

std::uint8_t Grey(double value, double low, double width) {
  const double t = (value - low) / width * 255.0 + 0.5;
  if (!(t > 0)) return 0;  // NaN too
  return t >= 255 ? 255 : static_cast<std::uint8_t>(t);
}

// PatientOrientation (the direction of a row and of a column): the letters of the
// patient axes a direction runs along, main one first (LPS: +x L, +y P, +z H).
std::string OrientationLetters(double x, double y, double z) {
  std::array<std::pair<double, char>, 3> axes{
      {{std::abs(x), x > 0 ? 'L' : 'R'}, {std::abs(y), y > 0 ? 'P' : 'A'}, {std::abs(z), z > 0 ? 'H' : 'F'}}};
  std::stable_sort(axes.begin(), axes.end(), [](auto& a, auto& b) { return a.first > b.first; });
  std::string out(1, axes[0].second);
  for (int a = 1; a < 3; ++a)
    if (axes[a].first > 0.25) out += axes[a].second;
  return out;
}

// Marks the outline of every listed segment on one slice: outline[p] = the label of a
// pixel within `width` 4-neighbour steps of its segment's edge (a neighbour with another
// label, or the image border), else 0. `current` and `next` are scratch planes.
void OutlineSlice(const std::uint8_t* labels, std::int64_t columns, std::int64_t rows,
                  const std::array<bool, 256>& listed, int width, std::vector<std::uint8_t>& current,
                  std::vector<std::uint8_t>& next, std::vector<std::uint8_t>& outline) {
  const std::int64_t plane = columns * rows;
  for (std::int64_t p = 0; p < plane; ++p) current[p] = listed[labels[p]] ? labels[p] : 0;
  std::fill(outline.begin(), outline.end(), 0);
  // Each pass peels one pixel layer off every segment (an erosion); the layers are the outline.
  for (int pass = 0; pass < width; ++pass) {
    next = current;
    bool peeled = false;
    for (std::int64_t r = 0; r < rows; ++r) {
      const std::uint8_t* row = current.data() + r * columns;
      for (std::int64_t c = 0; c < columns; ++c) {
        const std::uint8_t v = row[c];
        if (v == 0) continue;
        const bool edge = c == 0 || c == columns - 1 || r == 0 || r == rows - 1 || row[c - 1] != v || row[c + 1] != v ||
                          row[c - columns] != v || row[c + columns] != v;
        if (!edge) continue;
        outline[r * columns + c] = v;
        next[r * columns + c] = 0;
        peeled = true;
      }
    }
    if (!peeled) break;
    current.swap(next);
  }
}

bool IsMultiFrameClass(std::string_view sop_class) {
  static constexpr std::array<std::string_view, 9> kMultiFrame = {
      "1.2.840.10008.5.1.4.1.1.2.1", "1.2.840.10008.5.1.4.1.1.2.2", "1.2.840.10008.5.1.4.1.1.4.1",
      "1.2.840.10008.5.1.4.1.1.4.4", "1.2.840.10008.5.1.4.1.1.130", "1.2.840.10008.5.1.4.1.1.128.1",
      "1.2.840.10008.5.1.4.1.1.20",  "1.2.840.10008.5.1.4.1.1.7.2", "1.2.840.10008.5.1.4.1.1.7.3"};
  return std::find(kMultiFrame.begin(), kMultiFrame.end(), sop_class) != kMultiFrame.end();
}

// Patient (and clinical trial subject), study, patient study and clinical trial study
// attributes: copied from the source so the overlay files under the same patient and study.
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
    // The same body part; a derived image that was lossy compressed stays marked as such.
    DCM_BodyPartExamined, DCM_Laterality, DCM_LossyImageCompression, DCM_LossyImageCompressionRatio,
    DCM_LossyImageCompressionMethod};

// Type 2 attributes of the Patient and General Study modules: present, if empty.
const DcmTagKey kRequiredEmpty[] = {DCM_PatientName,    DCM_PatientID, DCM_PatientBirthDate,       DCM_PatientSex,
                                    DCM_StudyDate,      DCM_StudyTime, DCM_ReferringPhysicianName, DCM_StudyID,
                                    DCM_AccessionNumber};

std::string Legend(const std::vector<SegmentInfo>& segments, const std::array<bool, 256>& drawn, bool utf8) {
  std::string legend = "Outlines:";
  std::array<bool, 256> said{};
  for (const SegmentInfo& s : segments) {
    if (!drawn[s.label] || said[s.label]) continue;
    said[s.label] = true;
    legend += fmt::format(" {} = RGB({},{},{});", SafeValueText(s.name.empty() ? s.type.meaning : s.name, 64, utf8), s.rgb[0],
                          s.rgb[1], s.rgb[2]);
  }
  return legend;
}

Result<void> CheckInputs(const Volume& source, const LabelVolume& labels, const std::vector<SegmentInfo>& segments,
                         const OverlayOptions& options) {
  const VolumeGeometry& g = source.geometry;
  if (!labels.geometry.SameGrid(g) || static_cast<std::int64_t>(labels.labels.size()) != g.VoxelCount())
    return Fail(ErrorCode::kInvalidArgument, "the labels are not on the source volume's grid");
  if (static_cast<std::int64_t>(source.slices.size()) != g.dims[2])
    return Fail(ErrorCode::kInternal, "the source volume does not name its slices");
  const std::size_t voxels_held =
      source.type == VoxelType::kInt16 ? source.int16_voxels.size() : source.float32_voxels.size();
  if (static_cast<std::int64_t>(voxels_held) != g.VoxelCount())
    return Fail(ErrorCode::kInvalidArgument, "the source volume holds no pixels (read with headers only)");
  if (g.dims[0] < 1 || g.dims[1] < 1 || g.dims[2] < 1 || g.dims[0] > 65535 || g.dims[1] > 65535)
    return Fail(ErrorCode::kInvalidArgument, "the slices' size cannot be a DICOM image");
  if (segments.empty()) return Fail(ErrorCode::kInvalidArgument, "an overlay needs at least one segment");
  for (const SegmentInfo& s : segments)
    if (s.label < 1 || s.label > 255) return Fail(ErrorCode::kInvalidArgument, "segment labels are 1..255");
  if (options.series_number < std::numeric_limits<std::int32_t>::min() ||
      options.series_number > std::numeric_limits<std::int32_t>::max())
    return Fail(ErrorCode::kInvalidArgument, "the series number does not fit DICOM's IS");
  if (options.outline_width < 1 || options.outline_width > kMaxOutlineWidth)
    return Fail(ErrorCode::kInvalidArgument, fmt::format("the outline width is 1..{} pixels", kMaxOutlineWidth));
  return {};
}

// Patient, study and clinical trial attributes of the source, with the Patient and
// General Study modules' type 2 attributes present even when the source lacks them.
Result<void> CopyPatientAndStudy(DcmDataset& src, const Volume& source, DcmDataset& ds) {
  for (const DcmTagKey& tag : kCopied)
    if (src.tagExists(tag)) src.findAndInsertCopyOfElement(tag, &ds);
  for (const DcmTagKey& tag : kRequiredEmpty)
    if (!ds.tagExists(tag)) ds.putAndInsertString(tag, "");
  if (GetString(ds, DCM_StudyInstanceUID).empty()) {
    if (source.study_uid.empty()) return Fail(ErrorCode::kInvalidArgument, "the source image names no study");
    ds.putAndInsertString(DCM_StudyInstanceUID, source.study_uid.c_str());
  }
  // Laterality (General Series, 2C): the source series', else its image's; empty (unknown)
  // when the source names no body part either, which dciodvfy asks of a series without one.
  if (!ds.tagExists(DCM_Laterality)) {
    const std::string image_laterality = GetString(src, DCM_ImageLaterality);
    if (image_laterality == "L" || image_laterality == "R")
      ds.putAndInsertString(DCM_Laterality, image_laterality.c_str());
    else if (GetString(src, DCM_BodyPartExamined).empty())
      ds.putAndInsertString(DCM_Laterality, "");
  }
  return {};
}

struct Put {
  DcmTagKey tag;
  std::string value;
};

Result<void> PutAll(DcmItem& item, const std::vector<Put>& puts) {
  for (const Put& put : puts)
    if (auto r = Check(item.putAndInsertString(put.tag, put.value.c_str()), "header"); !r) return r;
  return {};
}

void PutCode(DcmItem& item, const DcmTagKey& sequence, const char* value, const char* meaning) {
  DcmItem* code = nullptr;
  if (item.findOrCreateSequenceItem(sequence, code, 0).bad() || !code) return;
  code->putAndInsertString(DCM_CodeValue, value);
  code->putAndInsertString(DCM_CodingSchemeDesignator, "DCM");
  code->putAndInsertString(DCM_CodeMeaning, meaning);
}

// What every image of the series shares: series, equipment, SC image, plane orientation
// and pixel format.
Result<void> PutSeriesHeader(DcmDataset& src, const Volume& source, const OverlayOptions& options,
                             const std::string& comments, bool utf8, DcmDataset& ds) {
  const VolumeGeometry& g = source.geometry;
  OFString date, time;
  DcmDate::getCurrentDate(date);
  DcmTime::getCurrentTime(time);
  // Modality: the source's (CT, MR, ...), not OT. The SC Equipment module defines Modality
  // as the source equipment's, dciodvfy accepts it for Secondary Capture, and PACS route,
  // list and hang series by modality: an OT series falls out of CT worklists and hanging
  // protocols, which is where a reader needs the overlay.
  std::string modality = source.modality.empty() ? GetString(src, DCM_Modality) : source.modality;
  if (modality.empty()) modality = "OT";
  std::vector<Put> puts = {
      {DCM_SOPClassUID, UID_SecondaryCaptureImageStorage},
      {DCM_InstanceCreationDate, date.c_str()},
      {DCM_InstanceCreationTime, time.c_str()},
      // General Series
      {DCM_Modality, modality},
      {DCM_SeriesInstanceUID, options.series_uid.empty() ? NewRandomUid() : options.series_uid},
      {DCM_SeriesNumber, std::to_string(options.series_number)},
      {DCM_SeriesDescription, SafeValueText(options.series_description, 64, utf8)},
      {DCM_SeriesDate, date.c_str()},
      {DCM_SeriesTime, time.c_str()},
      // General Equipment and SC Equipment
      {DCM_Manufacturer, SafeValueText(options.manufacturer, 64, utf8)},
      {DCM_ConversionType, "WSD"},
      {DCM_SecondaryCaptureDeviceManufacturer, SafeValueText(options.manufacturer, 64, utf8)},
      {DCM_SecondaryCaptureDeviceManufacturerModelName, "voxelgate"},
      // General Image and SC Image
      {DCM_ImageType, "DERIVED\\SECONDARY"},
      {DCM_PatientOrientation, OrientationLetters(g.direction[0], g.direction[1], g.direction[2]) + "\\" +
                                   OrientationLetters(g.direction[3], g.direction[4], g.direction[5])},
      {DCM_ContentDate, date.c_str()},
      {DCM_ContentTime, time.c_str()},
      {DCM_DateOfSecondaryCapture, date.c_str()},
      {DCM_TimeOfSecondaryCapture, time.c_str()},
      {DCM_BurnedInAnnotation, "NO"},
      {DCM_ImageComments, comments},
      // Pixel Spacing is the SC Image module's (so viewers measure). Image Orientation and
      // Position (Patient) and the Frame of Reference are not in the SC IOD: dciodvfy warns
      // (a Standard Extended SOP Class), but viewers sort, link and scroll with them.
      {DCM_ImageOrientationPatient,
       fmt::format("{}\\{}\\{}\\{}\\{}\\{}", DsValue(g.direction[0]), DsValue(g.direction[1]), DsValue(g.direction[2]),
                   DsValue(g.direction[3]), DsValue(g.direction[4]), DsValue(g.direction[5]))},
      {DCM_PixelSpacing, DsValue(g.spacing[1]) + "\\" + DsValue(g.spacing[0])},  // between rows, between columns
      // Image Pixel
      {DCM_PhotometricInterpretation, "RGB"},
  };
  // The volume's frame of reference (the grid is in it), as the SEG does.
  const std::string frame =
      source.frame_of_reference_uid.empty() ? GetString(src, DCM_FrameOfReferenceUID) : source.frame_of_reference_uid;
  if (!frame.empty()) puts.push_back({DCM_FrameOfReferenceUID, frame});
  if (const std::string versions = SafeValueText(options.software_version, 64, utf8); !versions.empty()) {
    puts.push_back({DCM_SoftwareVersions, versions});
    puts.push_back({DCM_SecondaryCaptureDeviceSoftwareVersions, versions});
  }
  if (auto r = PutAll(ds, puts); !r) return r;
  const std::pair<DcmTagKey, Uint16> numbers[] = {{DCM_SamplesPerPixel, 3},
                                                  {DCM_PlanarConfiguration, 0},  // R, G, B of a pixel together
                                                  {DCM_Rows, static_cast<Uint16>(g.dims[1])},
                                                  {DCM_Columns, static_cast<Uint16>(g.dims[0])},
                                                  {DCM_BitsAllocated, 8},
                                                  {DCM_BitsStored, 8},
                                                  {DCM_HighBit, 7},
                                                  {DCM_PixelRepresentation, 0}};
  for (const auto& [tag, value] : numbers)
    if (auto r = Check(ds.putAndInsertUint16(tag, value), "image pixel"); !r) return r;
  PutCode(ds, DCM_DerivationCodeSequence, "113076", "Segmentation");
  return {};
}

// Paints slices: the source windowed to grey, the outlines in their segments' colours.
class SlicePainter {
 public:
  SlicePainter(const Volume& source, const LabelVolume& labels, const Window& window, int outline_width,
               const std::array<bool, 256>& listed, const std::array<std::array<std::uint8_t, 3>, 256>& colour)
      : source_(source),
        labels_(labels),
        window_(window),
        outline_width_(outline_width),
        listed_(listed),
        colour_(colour),
        plane_(source.geometry.dims[0] * source.geometry.dims[1]),
        current_(plane_),
        next_(plane_),
        outline_(plane_),
        rgb_(plane_ * 3 + (plane_ * 3) % 2) {
    // int16 volumes (almost all): a table from value to grey, so the loop is one lookup a pixel.
    if (source.type == VoxelType::kInt16) {
      grey_of_.resize(65536);
      for (int v = -32768; v <= 32767; ++v) grey_of_[v + 32768] = Grey(v, Low(), window_.width);
    }
  }

  // Slice k as RGB triplets, row by row (padded to an even length).
  const std::vector<std::uint8_t>& Paint(std::int64_t k) {
    const auto& dims = source_.geometry.dims;
    OutlineSlice(labels_.labels.data() + k * plane_, dims[0], dims[1], listed_, outline_width_, current_, next_,
                 outline_);
    std::uint8_t* px = rgb_.data();
    const std::int64_t base = k * plane_;
    const bool int16 = source_.type == VoxelType::kInt16;
    for (std::int64_t p = 0; p < plane_; ++p, px += 3) {
      if (const std::uint8_t label = outline_[p]) {
        px[0] = colour_[label][0], px[1] = colour_[label][1], px[2] = colour_[label][2];
        continue;
      }
      const std::uint8_t grey = int16 ? grey_of_[source_.int16_voxels[base + p] + 32768]
                                      : Grey(source_.float32_voxels[base + p], Low(), window_.width);
      px[0] = px[1] = px[2] = grey;
    }
    return rgb_;
  }

 private:
  double Low() const { return window_.centre - window_.width / 2; }

  const Volume& source_;
  const LabelVolume& labels_;
  Window window_;
  int outline_width_;
  const std::array<bool, 256>& listed_;
  const std::array<std::array<std::uint8_t, 3>, 256>& colour_;
  std::int64_t plane_;
  std::vector<std::uint8_t> current_, next_, outline_, rgb_, grey_of_;
};

// What names slice k: instance, position and the source image it was made from.
Result<void> PutSlice(std::int64_t k, const Volume& source, const std::string& derivation, DcmItem& source_item,
                      DcmDataset& ds, const std::string& uid_seed) {
  const SliceSource& slice = source.slices[k];
  const auto position = source.geometry.PatientPosition(0, 0, static_cast<double>(k));
  if (auto r = PutAll(
          ds, {{DCM_SOPInstanceUID, uid_seed.empty() ? NewRandomUid()
                                                      : UidFromText(fmt::format("{} slice {}", uid_seed, k))},
               {DCM_InstanceNumber, std::to_string(k + 1)},
               {DCM_ImagePositionPatient, fmt::format("{}\\{}\\{}", DsValue(position[0]), DsValue(position[1]), DsValue(position[2]))},
               {DCM_DerivationDescription, derivation}});
      !r)
    return r;
  if (auto r = PutAll(source_item, {{DCM_ReferencedSOPClassUID, slice.sop_class_uid},
                                    {DCM_ReferencedSOPInstanceUID, slice.sop_uid}});
      !r)
    return r;
  if (slice.frame > 1 || IsMultiFrameClass(slice.sop_class_uid))
    return PutAll(source_item, {{DCM_ReferencedFrameNumber, std::to_string(slice.frame)}});
  source_item.findAndDeleteElement(DCM_ReferencedFrameNumber);
  return {};
}

Result<std::vector<std::string>> Write(std::string_view source_part10, const Volume& source, const LabelVolume& labels,
                                       const std::vector<SegmentInfo>& segments, const OverlayOptions& options) {
  if (auto r = CheckInputs(source, labels, segments, options); !r) return std::unexpected(r.error());
  std::array<bool, 256> listed{};
  std::array<std::array<std::uint8_t, 3>, 256> colour{};
  for (const SegmentInfo& s : segments) {
    if (listed[s.label]) continue;  // the first entry for a label gives its colour
    listed[s.label] = true;
    colour[s.label] = s.rgb;
  }

  // Which slices get an image, and whether their pixels fit, before any is made.
  const VolumeGeometry& g = source.geometry;
  const std::int64_t plane = g.dims[0] * g.dims[1];
  std::vector<std::int64_t> chosen;
  std::array<bool, 256> drawn{};
  for (std::int64_t k = 0; k < g.dims[2]; ++k) {
    const std::uint8_t* slice = labels.labels.data() + k * plane;
    bool any = false;
    for (std::int64_t p = 0; p < plane; ++p)
      if (listed[slice[p]]) any = drawn[slice[p]] = true;
    if (any) chosen.push_back(k);
  }
  if (chosen.empty()) return std::vector<std::string>{};
  if (!ProductWithin({static_cast<std::int64_t>(chosen.size()), plane, 3}, kMaxOverlaySeriesBytes))
    return Fail(ErrorCode::kTooLarge, fmt::format("the overlay series would need more than {} MiB of pixel data",
                                                  kMaxOverlaySeriesBytes >> 20));

  auto loaded = LoadFromMemory(source_part10);
  if (!loaded) return std::unexpected(loaded.error());
  DcmDataset& src = *loaded->dataset;
  auto window = ChooseWindow(options, src, source, segments);
  if (!window) return std::unexpected(window.error());

  DcmFileFormat file;
  DcmDataset& ds = *file.getDataset();
  if (auto r = CopyPatientAndStudy(src, source, ds); !r) return std::unexpected(r.error());
  const bool utf8 = GetString(ds, DCM_SpecificCharacterSet).find("ISO_IR 192") != std::string::npos;
  const std::string warning = options.not_for_primary_diagnosis ? "NOT FOR PRIMARY DIAGNOSIS. " : "";
  if (auto r =
          PutSeriesHeader(src, source, options, SafeValueText(warning + Legend(segments, drawn, utf8), 10240, utf8), utf8, ds);
      !r)
    return std::unexpected(r.error());
  DcmItem* source_item = nullptr;
  if (auto r = Check(ds.findOrCreateSequenceItem(DCM_SourceImageSequence, source_item, 0), "source image"); !r)
    return std::unexpected(r.error());
  PutCode(*source_item, DCM_PurposeOfReferenceCodeSequence, "121322", "Source image for image processing operation");

  const std::string algorithm =
      SafeValueText(options.algorithm_version.empty() ? options.algorithm_name
                                             : options.algorithm_name + " " + options.algorithm_version,
           128, utf8);
  SlicePainter painter(source, labels, *window, options.outline_width, listed, colour);
  std::vector<std::string> out;
  out.reserve(chosen.size());
  for (const std::int64_t k : chosen) {
    const std::string derivation = SafeValueText(
        fmt::format("{}Windowed copy (centre {}, width {}) of source image {} with segment outlines{}{} burned in; "
                    "the segmentation holds the measurements",
                    warning, DsValue(window->centre), DsValue(window->width), source.slices[k].sop_uid,
                    algorithm.empty() ? "" : " by ", algorithm),
        1024, utf8);
    if (auto r = PutSlice(k, source, derivation, *source_item, ds, options.uid_seed); !r) return std::unexpected(r.error());
    const std::vector<std::uint8_t>& rgb = painter.Paint(k);
    if (auto r = Check(ds.putAndInsertUint8Array(DCM_PixelData, rgb.data(), static_cast<unsigned long>(rgb.size())),
                       "pixels");
        !r)
      return std::unexpected(r.error());
    auto bytes = WriteFileToString(file);
    if (!bytes) return std::unexpected(bytes.error());
    out.push_back(std::move(*bytes));
  }
  return out;
}

}  // namespace
}  // namespace overlay_series_detail

Result<std::vector<std::string>> WriteOverlaySeries(std::string_view source_part10, const Volume& source,
                                                    const LabelVolume& labels, const std::vector<SegmentInfo>& segments,
                                                    const OverlayOptions& options) {
  return overlay_series_detail::Write(source_part10, source, labels, segments, options);
}

}  // namespace vg::dicom
