#include "dicom/seg.h"

#include "dicom/dicom.h"

#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmfg/fgderimg.h>
#include <dcmtk/dcmfg/fgfracon.h>
#include <dcmtk/dcmfg/fgpixmsr.h>
#include <dcmtk/dcmfg/fgplanor.h>
#include <dcmtk/dcmfg/fgplanpo.h>
#include <dcmtk/dcmiod/cielabutil.h>
#include <dcmtk/dcmseg/segdoc.h>
#include <dcmtk/dcmseg/segment.h>
#include <fmt/format.h>

#include <cmath>
#include <memory>
#include <random>
#include <set>

#include "core/checked_math.h"
#include "dicom/dcmtk_io.h"
#include "dicom/written_values.h"
#include "dicom/pixels.h"

namespace vg::dicom {
namespace {

Result<void> Check(const OFCondition& condition, std::string_view what) {
  if (condition.good()) return {};
  return Fail(ErrorCode::kInternal, fmt::format("cannot write the SEG ({})", what), condition.text());
}

// Content Label is a CS: upper case letters, digits, space and underscore, 16 at most.
std::string ContentLabel(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (out.size() == 16) break;
    if (std::isalnum(static_cast<unsigned char>(c))) out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    else if (c == ' ' || c == '_' || c == '-') out += '_';
  }
  return out.empty() ? "SEGMENTATION" : out;
}

// LO values: at most 64 characters, no backslash.
std::string Lo(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (out.size() == 64) break;
    out += c == '\\' ? '/' : c;
  }
  return out;
}

// DCMTK 3.6.7 mis-packs 1-bit frames whose size is not a multiple of 8 (fixed in 3.6.8).
// Every frame is packed here, straight from the labels, and the pixel data is replaced with
// them back to back, least significant bit first (PS3.5 8.1.1), as every reader expects.
class BitPacker {
 public:
  // The frame `slice == label` (n voxels), packed without a byte frame in between.
  void AddMask(const std::uint8_t* slice, size_t n, std::uint8_t label) {
    bits_.resize((count_ + n + 7) / 8, 0);
    size_t i = 0;
    if (count_ % 8 == 0) {
      Uint8* out = bits_.data() + count_ / 8;
      for (; i + 8 <= n; i += 8, ++out)
        *out = static_cast<Uint8>((slice[i] == label) | (slice[i + 1] == label) << 1 | (slice[i + 2] == label) << 2 |
                                  (slice[i + 3] == label) << 3 | (slice[i + 4] == label) << 4 |
                                  (slice[i + 5] == label) << 5 | (slice[i + 6] == label) << 6 |
                                  (slice[i + 7] == label) << 7);
      count_ += i;
    }
    for (; i < n; ++i, ++count_)
      if (slice[i] == label) bits_[count_ / 8] |= static_cast<Uint8>(1u << (count_ % 8));
  }
  void Reserve(size_t bits) { bits_.reserve((bits + 7) / 8 + 1); }
  Result<void> Replace(DcmDataset& ds) {
    if (bits_.size() % 2) bits_.push_back(0);  // OB values have even length
    if (ds.putAndInsertUint8Array(DCM_PixelData, bits_.data(), static_cast<unsigned long>(bits_.size())).bad())
      return Fail(ErrorCode::kInternal, "cannot store the SEG frames");
    return {};
  }
 private:
  std::vector<Uint8> bits_;
  size_t count_ = 0;
};

// Whether a reference to this source slice names its frame (a multi-frame source).
bool SourceFrameNumber(const SliceSource& src) {
  return src.frame > 1 || src.sop_class_uid.find(".1.1.2.1") != std::string::npos ||
         src.sop_class_uid.find(".1.1.4.1") != std::string::npos;
}

DcmItem* FirstItem(DcmItem& parent, const DcmTagKey& sequence) {
  DcmItem* item = nullptr;
  return parent.findAndGetSequenceItem(sequence, item, 0).good() ? item : nullptr;
}

// The Per-frame Functional Groups Sequence for every planned frame, from the one item DCMTK
// wrote for each segment (its first frame): a copy with the frame's position, dimension
// index and source image set.
template <typename Planned>
Result<void> ExpandPerFrameGroups(DcmDataset& ds, const std::vector<Planned>& planned, const VolumeGeometry& g,
                                  const Volume& source) {
  DcmSequenceOfItems* written = nullptr;
  if (ds.findAndGetSequence(DCM_PerFrameFunctionalGroupsSequence, written).bad() || !written)
    return Fail(ErrorCode::kInternal, "the SEG has no per-frame functional groups");
  std::vector<const DcmItem*> templates;  // by segment index
  for (unsigned long i = 0; i < written->card(); ++i) templates.push_back(written->getItem(i));
  auto expanded = std::make_unique<DcmSequenceOfItems>(DCM_PerFrameFunctionalGroupsSequence);
  for (const auto& frame : planned) {
    // Every segment has at least one frame, so DCMTK wrote one item per segment, in order.
    if (frame.segment >= templates.size()) return Fail(ErrorCode::kInternal, "a segment has no template frame");
    auto item = std::make_unique<DcmItem>(*templates[frame.segment]);
    DcmItem* position = FirstItem(*item, DCM_PlanePositionSequence);
    DcmItem* content = FirstItem(*item, DCM_FrameContentSequence);
    DcmItem* derivation = FirstItem(*item, DCM_DerivationImageSequence);
    DcmItem* source_image = derivation ? FirstItem(*derivation, DCM_SourceImageSequence) : nullptr;
    if (!position || !content || !source_image) return Fail(ErrorCode::kInternal, "the SEG's template frame is incomplete");
    const auto xyz = g.PatientPosition(0, 0, static_cast<double>(frame.slice));
    const std::string ipp = DsValue(xyz[0]) + "\\" + DsValue(xyz[1]) + "\\" + DsValue(xyz[2]);
    const SliceSource& src = source.slices[frame.slice];
    const Uint32 index_values[2] = {frame.number, static_cast<Uint32>(frame.slice + 1)};
    bool ok = position->putAndInsertString(DCM_ImagePositionPatient, ipp.c_str()).good() &&
              content->putAndInsertUint32Array(DCM_DimensionIndexValues, index_values, 2).good() &&
              source_image->putAndInsertString(DCM_ReferencedSOPClassUID, src.sop_class_uid.c_str()).good() &&
              source_image->putAndInsertString(DCM_ReferencedSOPInstanceUID, src.sop_uid.c_str()).good();
    if (SourceFrameNumber(src))
      ok = ok && source_image->putAndInsertString(DCM_ReferencedFrameNumber, std::to_string(src.frame).c_str()).good();
    else
      source_image->findAndDeleteElement(DCM_ReferencedFrameNumber);
    if (!ok || expanded->append(item.release()).bad()) return Fail(ErrorCode::kInternal, "cannot write a SEG frame's groups");
  }
  if (ds.insert(expanded.release(), /*replaceOld=*/true).bad() ||
      ds.putAndInsertString(DCM_NumberOfFrames, std::to_string(planned.size()).c_str()).bad())
    return Fail(ErrorCode::kInternal, "cannot write the SEG's frames");
  return {};
}

struct SegDeleter {
  void operator()(DcmSegmentation* s) const { delete s; }
};

}  // namespace

Result<std::string> WriteBinarySeg(std::string_view source_part10, const Volume& source, const LabelVolume& labels,
                                   const std::vector<SegmentInfo>& segments, const SegWriteOptions& options) {
  const VolumeGeometry& g = source.geometry;
  if (!labels.geometry.SameGrid(g) || static_cast<std::int64_t>(labels.labels.size()) != g.VoxelCount())
    return Fail(ErrorCode::kInvalidArgument, "the labels are not on the source volume's grid");
  if (static_cast<std::int64_t>(source.slices.size()) != g.dims[2])
    return Fail(ErrorCode::kInternal, "the source volume does not name its slices");
  if (segments.empty()) return Fail(ErrorCode::kInvalidArgument, "a segmentation needs at least one segment");
  if (g.dims[0] > 65535 || g.dims[1] > 65535) return Fail(ErrorCode::kInvalidArgument, "slices are too large for a SEG");
  auto loaded = LoadFromMemory(source_part10);
  if (!loaded) return std::unexpected(loaded.error());

  IODGeneralEquipmentModule::EquipmentInfo equipment(
      options.manufacturer.c_str(), "voxelgate", "1", options.software_version.empty() ? "1" : options.software_version.c_str());
  ContentIdentificationMacro identification("1", ContentLabel(options.content_label).c_str(),
                                            Lo(options.content_description).c_str(),
                                            options.content_creator.empty() ? "voxelgate" : options.content_creator.c_str());
  DcmSegmentation* raw = nullptr;
  if (auto r = Check(DcmSegmentation::createBinarySegmentation(raw, static_cast<Uint16>(g.dims[1]),
                                                               static_cast<Uint16>(g.dims[0]), equipment, identification),
                     "create");
      !r)
    return std::unexpected(r.error());
  std::unique_ptr<DcmSegmentation, SegDeleter> seg(raw);
  // Patient, study and frame of reference of the source; the series is the SEG's own.
  if (auto r = Check(seg->importHierarchy(*loaded->dataset, OFTrue, OFTrue, OFTrue, OFFalse), "import"); !r)
    return std::unexpected(r.error());
  // The volume's frame of reference, which the grid is in (some archives give every slice
  // its own; the volume takes its first slice's in space, whichever file was given here).
  if (!source.frame_of_reference_uid.empty())
    if (auto r = Check(seg->getFrameOfReference().setFrameOfReferenceUID(source.frame_of_reference_uid.c_str()),
                       "frame of reference");
        !r)
      return std::unexpected(r.error());
  seg->setCheckFGOnWrite(OFFalse);  // built correctly below; checking costs seconds on big volumes

  const std::string dimension_uid = NewRandomUid();
  IODMultiframeDimensionModule& dimensions = seg->getDimensions();
  dimensions.addDimensionIndex(DCM_ReferencedSegmentNumber, dimension_uid.c_str(), DCM_SegmentIdentificationSequence,
                               "ReferencedSegmentNumber");
  dimensions.addDimensionIndex(DCM_ImagePositionPatient, dimension_uid.c_str(), DCM_PlanePositionSequence,
                               "ImagePositionPatient");

  std::unique_ptr<FGPlaneOrientationPatient> orientation(FGPlaneOrientationPatient::createMinimal(
      DsValue(g.direction[0]).c_str(), DsValue(g.direction[1]).c_str(), DsValue(g.direction[2]).c_str(), DsValue(g.direction[3]).c_str(),
      DsValue(g.direction[4]).c_str(), DsValue(g.direction[5]).c_str()));
  if (auto r = Check(seg->addForAllFrames(*orientation), "orientation"); !r) return std::unexpected(r.error());
  FGPixelMeasures measures;
  measures.setPixelSpacing((DsValue(g.spacing[1]) + "\\" + DsValue(g.spacing[0])).c_str());
  measures.setSliceThickness(DsValue(g.spacing[2]).c_str());
  measures.setSpacingBetweenSlices(DsValue(g.spacing[2]).c_str());
  if (auto r = Check(seg->addForAllFrames(measures), "pixel measures"); !r) return std::unexpected(r.error());

  const std::int64_t plane = g.dims[0] * g.dims[1];
  // Which slices each label occupies, in one pass over the voxels.
  std::vector<std::array<std::uint8_t, 256>> occupied(g.dims[2]);  // [slice][label]
  for (std::int64_t k = 0; k < g.dims[2]; ++k) {
    auto& seen = occupied[k];
    seen.fill(0);
    const std::uint8_t* slice = labels.labels.data() + k * plane;
    for (std::int64_t i = 0; i < plane; ++i) seen[slice[i]] = 1;
  }

  // The frames this SEG will hold (a frame per segment and occupied slice), checked
  // before any is built: 255 labels on every slice of a large grid would make a SEG past
  // what a DICOM element can hold, and several copies of it in memory.
  std::uint64_t planned_frames = 0;
  for (const SegmentInfo& info : segments) {
    if (info.label < 1 || info.label > 255) return Fail(ErrorCode::kInvalidArgument, "segment labels are 1..255");
    std::uint64_t on = 0;
    for (std::int64_t k = 0; k < g.dims[2]; ++k) on += occupied[k][info.label];
    planned_frames += std::max<std::uint64_t>(on, 1);
  }
  const std::uint64_t frame_bytes = (static_cast<std::uint64_t>(plane) + 7) / 8;
  if (auto total = CheckedMul(planned_frames, frame_bytes); !total || *total > kMaxSegPixelBytes)
    return Fail(ErrorCode::kTooLarge, fmt::format("the segmentation needs {} SEG frames, more than a SEG of at most {} MiB "
                                                  "of pixel data holds; save fewer labels",
                                                  planned_frames, kMaxSegPixelBytes >> 20));

  IODCommonInstanceReferenceModule& references = seg->getCommonInstanceReference();
  auto* referenced_series = new IODSeriesAndInstanceReferenceMacro::ReferencedSeriesItem;
  referenced_series->setSeriesInstanceUID(source.series_uid.c_str());
  std::set<std::string> referenced;

  // DCMTK builds one frame per segment (its first), which serves as the template of that
  // segment's per-frame functional groups; every other frame's groups are copies of it
  // with the three values that differ set, and every frame's bits are packed here straight
  // from the labels. Adding each frame through DCMTK packed its bits twice and built its
  // groups object by object: three quarters of the time of a 400-frame SEG.
  struct PlannedFrame {
    size_t segment;  // index into `segments`
    Uint16 number;   // the segment's number in the SEG
    std::int64_t slice;
  };
  std::vector<PlannedFrame> planned;
  planned.reserve(planned_frames);
  std::vector<Uint8> frame(plane);
  std::int64_t frames_added = 0;
  BitPacker packer;
  packer.Reserve(planned_frames * static_cast<std::uint64_t>(plane));
  auto source_item_for = [&](const SliceSource& src, SourceImageItem& item) {
    item.getPurposeOfReferenceCode().set("121322", "DCM", "Source image for image processing operation");
    item.getImageSOPInstanceReference().setReferencedSOPClassUID(src.sop_class_uid.c_str());
    item.getImageSOPInstanceReference().setReferencedSOPInstanceUID(src.sop_uid.c_str());
    if (SourceFrameNumber(src)) item.getImageSOPInstanceReference().addReferencedFrameNumber(static_cast<Uint16>(src.frame));
  };
  for (size_t index = 0; index < segments.size(); ++index) {
    const SegmentInfo& info = segments[index];
    if (info.label < 1 || info.label > 255) return Fail(ErrorCode::kInvalidArgument, "segment labels are 1..255");
    DcmSegment* segment = nullptr;
    const auto algorithm = info.automatic ? DcmSegTypes::SAT_AUTOMATIC : DcmSegTypes::SAT_MANUAL;
    if (auto r = Check(DcmSegment::create(segment, Lo(info.name.empty() ? info.type.meaning : info.name).c_str(),
                                          CodeSequenceMacro(info.category.code.c_str(), info.category.scheme.c_str(),
                                                            info.category.meaning.c_str()),
                                          CodeSequenceMacro(info.type.code.c_str(), info.type.scheme.c_str(),
                                                            info.type.meaning.c_str()),
                                          algorithm, info.automatic ? Lo(info.algorithm_name).c_str() : ""),
                       "segment");
        !r)
      return std::unexpected(r.error());
    if (info.automatic) {
      AlgorithmIdentificationMacro& id = segment->getSegmentationAlgorithmIdentification();
      id.getAlgorithmFamilyCode().set(info.algorithm_family.code.c_str(), info.algorithm_family.scheme.c_str(),
                                      info.algorithm_family.meaning.c_str());
      id.setAlgorithmName(Lo(info.algorithm_name).c_str());
      id.setAlgorithmVersion(Lo(info.algorithm_version.empty() ? "unknown" : info.algorithm_version).c_str());
    }
    double lab_l = 0, lab_a = 0, lab_b = 0;
    IODCIELabUtil::rgb2DicomLab(lab_l, lab_a, lab_b, info.rgb[0] / 255.0, info.rgb[1] / 255.0, info.rgb[2] / 255.0);
    segment->setRecommendedDisplayCIELabValue(static_cast<Uint16>(std::lround(lab_l)), static_cast<Uint16>(std::lround(lab_a)),
                                              static_cast<Uint16>(std::lround(lab_b)));
    Uint16 number = 0;
    if (auto r = Check(seg->addSegment(segment, number), "segment number"); !r) return std::unexpected(r.error());

    // A segment the user named but has not painted yet keeps its definition: DCMTK (and
    // the standard's Per-frame Functional Groups) want at least one frame per segment, so
    // it gets one blank frame on the middle slice.
    bool painted = false;
    for (std::int64_t k = 0; k < g.dims[2] && !painted; ++k) painted = occupied[k][info.label];
    const std::int64_t blank_slice = painted ? -1 : g.dims[2] / 2;
    bool first = true;
    for (std::int64_t k = 0; k < g.dims[2]; ++k) {
      if (!occupied[k][info.label] && k != blank_slice) continue;
      const std::uint8_t* slice = labels.labels.data() + k * plane;
      planned.push_back({index, number, k});
      packer.AddMask(slice, static_cast<size_t>(plane), static_cast<std::uint8_t>(info.label));
      if (k != blank_slice) ++frames_added;
      if (referenced.insert(source.slices[k].sop_uid).second) {
        auto* instance = new SOPInstanceReferenceMacro;
        instance->setReferencedSOPClassUID(source.slices[k].sop_class_uid.c_str());
        instance->setReferencedSOPInstanceUID(source.slices[k].sop_uid.c_str());
        referenced_series->getReferencedInstanceItems().push_back(instance);
      }
      if (!first) continue;
      first = false;
      // The segment's template frame, through DCMTK (its bits are replaced below).
      for (std::int64_t i = 0; i < plane; ++i) frame[i] = slice[i] == info.label ? 1 : 0;
      const auto position = g.PatientPosition(0, 0, static_cast<double>(k));
      std::unique_ptr<FGPlanePosPatient> plane_position(
          FGPlanePosPatient::createMinimal(DsValue(position[0]).c_str(), DsValue(position[1]).c_str(), DsValue(position[2]).c_str()));
      FGFrameContent content;
      content.setDimensionIndexValues(number, 0);
      content.setDimensionIndexValues(static_cast<Uint32>(k + 1), 1);
      FGDerivationImage derivation;
      DerivationImageItem* derivation_item = nullptr;
      derivation.addDerivationImageItem(CodeSequenceMacro("113076", "DCM", "Segmentation"), "", derivation_item);
      auto* source_item = new SourceImageItem;
      source_item_for(source.slices[k], *source_item);
      derivation_item->getSourceImageItems().push_back(source_item);
      OFVector<FGBase*> per_frame{plane_position.get(), &content, &derivation};
      if (auto r = Check(seg->addFrame(frame.data(), number, per_frame), "frame"); !r) return std::unexpected(r.error());
    }
  }
  if (frames_added == 0) {
    delete referenced_series;
    return Fail(ErrorCode::kInvalidArgument, "the segmentation is empty: no voxel carries a segment's label");
  }
  references.getReferencedSeriesItems().push_back(referenced_series);

  seg->getSeries().setSeriesInstanceUID((options.series_uid.empty() ? NewRandomUid() : options.series_uid).c_str());
  seg->getSeries().setSeriesNumber(std::to_string(options.series_number).c_str());
  seg->getSeries().setSeriesDescription(Lo(options.series_description).c_str());
  seg->getSOPCommon().setSOPInstanceUID((options.sop_uid.empty() ? NewRandomUid() : options.sop_uid).c_str());
  OFString date, time;
  DcmDate::getCurrentDate(date);
  DcmTime::getCurrentTime(time);
  seg->getSeries().setSeriesDate(date);
  seg->getSeries().setSeriesTime(time);
  seg->getGeneralImage().setContentDate(date);
  seg->getGeneralImage().setContentTime(time);

  DcmFileFormat file;
  if (auto r = Check(seg->writeDataset(*file.getDataset()), "dataset"); !r) return std::unexpected(r.error());
  DcmDataset& ds = *file.getDataset();
  if (auto r = ExpandPerFrameGroups(ds, planned, g, source); !r) return std::unexpected(r.error());
  if (auto r = packer.Replace(ds); !r) return std::unexpected(r.error());
  ds.putAndInsertString(DCM_SegmentsOverlap, "NO");
  if (options.processing_algorithm)
    PutProcessingAlgorithm(ds, *options.processing_algorithm,
                           GetString(ds, DCM_SpecificCharacterSet).find("ISO_IR 192") != std::string::npos);
  if (auto body_part = GetString(*loaded->dataset, DCM_BodyPartExamined); !body_part.empty())
    ds.putAndInsertString(DCM_BodyPartExamined, body_part.c_str());
  return WriteFileToString(file);
}

Result<SegHeader> ReadSegHeader(std::string_view part10) {
  auto loaded = LoadFromMemory(part10);
  if (!loaded) return std::unexpected(loaded.error());
  DcmDataset& ds = *loaded->dataset;
  // Segmentation Storage, or Label Map Segmentation Storage (2024; not yet named by DCMTK 3.6.7).
  const std::string sop_class = GetString(ds, DCM_SOPClassUID);
  if (sop_class != UID_SegmentationStorage && sop_class != "1.2.840.10008.5.1.4.1.1.66.7")
    return Fail(ErrorCode::kInvalidArgument, "not a DICOM Segmentation object");
  SegHeader header;
  header.segmentation_type = GetString(ds, DCM_SegmentationType);
  header.sop_uid = GetString(ds, DCM_SOPInstanceUID);
  header.series_uid = GetString(ds, DCM_SeriesInstanceUID);
  header.study_uid = GetString(ds, DCM_StudyInstanceUID);
  header.frame_of_reference_uid = GetString(ds, DCM_FrameOfReferenceUID);
  DcmItem* item = nullptr;
  for (unsigned long i = 0; ds.findAndGetSequenceItem(DCM_ReferencedSeriesSequence, item, static_cast<int>(i)).good() && item; ++i)
    header.referenced_series_uids.push_back(GetString(*item, DCM_SeriesInstanceUID));
  header.manufacturer = GetString(ds, DCM_Manufacturer);
  header.software_versions = GetString(ds, DCM_SoftwareVersions);
  header.series_description = GetString(ds, DCM_SeriesDescription);
  DcmItem* frame = nullptr;
  for (unsigned long f = 0; header.referenced_sop_uids.size() < kMaxReferencedSops &&
                            ds.findAndGetSequenceItem(DCM_PerFrameFunctionalGroupsSequence, frame, static_cast<int>(f)).good() &&
                            frame;
       ++f) {
    DcmItem *derivation = nullptr, *source = nullptr;
    if (frame->findAndGetSequenceItem(DCM_DerivationImageSequence, derivation).good() && derivation &&
        derivation->findAndGetSequenceItem(DCM_SourceImageSequence, source).good() && source) {
      std::string uid = GetString(*source, DCM_ReferencedSOPInstanceUID);
      if (!uid.empty() && std::find(header.referenced_sop_uids.begin(), header.referenced_sop_uids.end(), uid) ==
                              header.referenced_sop_uids.end())
        header.referenced_sop_uids.push_back(std::move(uid));
    }
  }
  for (unsigned long i = 0; ds.findAndGetSequenceItem(DCM_SegmentSequence, item, static_cast<int>(i)).good() && item; ++i) {
    SegmentInfo info;
    Uint16 number = 0;
    item->findAndGetUint16(DCM_SegmentNumber, number);
    info.label = number;
    info.name = GetString(*item, DCM_SegmentLabel);
    info.automatic = GetString(*item, DCM_SegmentAlgorithmType) != "MANUAL";
    info.algorithm_name = GetString(*item, DCM_SegmentAlgorithmName);
    DcmItem* code = nullptr;
    if (item->findAndGetSequenceItem(DCM_SegmentedPropertyCategoryCodeSequence, code).good() && code)
      info.category = {GetString(*code, DCM_CodeValue), GetString(*code, DCM_CodingSchemeDesignator),
                       GetString(*code, DCM_CodeMeaning)};
    if (item->findAndGetSequenceItem(DCM_SegmentedPropertyTypeCodeSequence, code).good() && code)
      info.type = {GetString(*code, DCM_CodeValue), GetString(*code, DCM_CodingSchemeDesignator),
                   GetString(*code, DCM_CodeMeaning)};
    DcmItem* algorithm = nullptr;
    if (item->findAndGetSequenceItem(DCM_SegmentationAlgorithmIdentificationSequence, algorithm).good() && algorithm)
      info.algorithm_version = GetString(*algorithm, DCM_AlgorithmVersion);
    const Uint16* lab = nullptr;
    unsigned long count = 0;
    if (item->findAndGetUint16Array(DCM_RecommendedDisplayCIELabValue, lab, &count).good() && lab && count == 3) {
      double r = 0, gr = 0, b = 0;
      IODCIELabUtil::dicomLab2RGB(r, gr, b, lab[0], lab[1], lab[2]);
      info.rgb = {static_cast<std::uint8_t>(std::clamp(std::lround(r * 255), 0l, 255l)),
                  static_cast<std::uint8_t>(std::clamp(std::lround(gr * 255), 0l, 255l)),
                  static_cast<std::uint8_t>(std::clamp(std::lround(b * 255), 0l, 255l))};
    }
    header.segments.push_back(std::move(info));
  }
  if (header.segmentation_type != "BINARY" && header.segmentation_type != "FRACTIONAL" &&
      header.segmentation_type != "LABELMAP")
    return Fail(ErrorCode::kUnsupported, "unknown SegmentationType '" + header.segmentation_type + "'");
  return header;
}

Result<SegMasks> ReadSegOnGrid(std::string_view part10, const VolumeGeometry& grid) {
  auto header = ReadSegHeader(part10);
  if (!header) return std::unexpected(header.error());
  auto loaded_result = LoadFromMemory(part10);
  if (!loaded_result) return std::unexpected(loaded_result.error());
  auto loaded = std::make_shared<LoadedFile>(std::move(*loaded_result));
  DcmDataset& ds = *loaded->dataset;
  DcmSequenceOfItems* per_frame = nullptr;
  if (ds.findAndGetSequence(DCM_PerFrameFunctionalGroupsSequence, per_frame).bad() || !per_frame)
    return Fail(ErrorCode::kInvalidArgument, "the SEG has no per-frame functional groups");
  DcmItem* shared = nullptr;
  ds.findAndGetSequenceItem(DCM_SharedFunctionalGroupsSequence, shared, 0);
  auto decoded = DecodeFrames(loaded);
  if (!decoded) return std::unexpected(decoded.error());
  const PixelLayout& layout = decoded->layout;
  if (layout.columns != grid.dims[0] || layout.rows != grid.dims[1])
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("the SEG's frames are {}x{}, the source slices {}x{}", layout.columns, layout.rows,
                            grid.dims[0], grid.dims[1]));
  if (static_cast<std::int64_t>(per_frame->card()) != layout.frames)
    return Fail(ErrorCode::kInvalidArgument, "the per-frame functional groups do not match NumberOfFrames");

  SegMasks out;
  out.header = std::move(*header);
  const bool labelmap = out.header.segmentation_type == "LABELMAP";
  const bool fractional = out.header.segmentation_type == "FRACTIONAL";
  Uint16 max_fractional = 255;
  ds.findAndGetUint16(DCM_MaximumFractionalValue, max_fractional);
  Uint16 padding = 0;
  const bool has_padding = ds.findAndGetUint16(DCM_PixelPaddingValue, padding).good();
  const std::int64_t plane = grid.dims[0] * grid.dims[1];
  const std::array<double, 3> row{grid.direction[0], grid.direction[1], grid.direction[2]};
  const std::array<double, 3> column{grid.direction[3], grid.direction[4], grid.direction[5]};
  const std::array<double, 3> normal{grid.direction[6], grid.direction[7], grid.direction[8]};
  auto dot = [](const std::array<double, 3>& a, const std::array<double, 3>& b) {
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
  };
  // A mask per segment, made when a frame first names it, within a memory budget: a SEG
  // may list many segments on a large grid.
  std::set<int> listed;
  for (const SegmentInfo& s : out.header.segments)
    if (s.label > 0) listed.insert(s.label);
  std::uint64_t mask_bytes = 0;
  auto mask_of = [&](int number) -> Result<std::vector<std::uint8_t>*> {
    auto it = out.masks.find(number);
    if (it != out.masks.end()) return &it->second;
    if (!listed.contains(number))
      return Fail(ErrorCode::kInvalidArgument, fmt::format("a SEG frame names segment {}, which is not listed", number));
    mask_bytes += static_cast<std::uint64_t>(grid.VoxelCount());
    if (mask_bytes > kMaxSegMaskBytes)
      return Fail(ErrorCode::kTooLarge, fmt::format("the SEG's segments need more than {} MiB on this grid",
                                                    kMaxSegMaskBytes >> 20));
    auto& mask = out.masks[number];
    mask.assign(static_cast<std::size_t>(grid.VoxelCount()), 0);
    return &mask;
  };

  for (std::int64_t f = 0; f < layout.frames; ++f) {
    DcmItem* frame_groups = per_frame->getItem(static_cast<unsigned long>(f));
    auto group = [&](const DcmTagKey& sequence) -> DcmItem* {
      DcmItem* found = nullptr;
      if (frame_groups && frame_groups->findAndGetSequenceItem(sequence, found, 0).good() && found) return found;
      if (shared && shared->findAndGetSequenceItem(sequence, found, 0).good() && found) return found;
      return nullptr;
    };
    DcmItem* position_item = group(DCM_PlanePositionSequence);
    std::array<double, 3> position{};
    Float64 v = 0;
    for (int a = 0; a < 3; ++a) {
      if (!position_item || position_item->findAndGetFloat64(DCM_ImagePositionPatient, v, a).bad())
        return Fail(ErrorCode::kInvalidArgument, "a SEG frame has no plane position");
      position[a] = v;
    }
    if (DcmItem* orientation_item = group(DCM_PlaneOrientationSequence)) {
      for (int a = 0; a < 6; ++a) {
        if (orientation_item->findAndGetFloat64(DCM_ImageOrientationPatient, v, a).bad()) break;
        if (std::abs(v - grid.direction[a]) > 1e-3)
          return Fail(ErrorCode::kInvalidArgument, "the SEG's orientation differs from the source volume's");
      }
    }
    const std::array<double, 3> offset{position[0] - grid.origin[0], position[1] - grid.origin[1],
                                       position[2] - grid.origin[2]};
    const double k_exact = dot(offset, normal) / grid.spacing[2];
    const auto k = static_cast<std::int64_t>(std::llround(k_exact));
    if (std::abs(k_exact - static_cast<double>(k)) > 0.1 || k < 0 || k >= grid.dims[2] ||
        std::abs(dot(offset, row)) > 0.1 * grid.spacing[0] || std::abs(dot(offset, column)) > 0.1 * grid.spacing[1])
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("SEG frame {} lies at ({:.1f}, {:.1f}, {:.1f}) mm, on no slice of the source volume", f + 1,
                              position[0], position[1], position[2]));
    int segment_number = 0;
    if (!labelmap) {
      DcmItem* identification = group(DCM_SegmentIdentificationSequence);
      Uint16 number = 0;
      if (!identification || identification->findAndGetUint16(DCM_ReferencedSegmentNumber, number).bad())
        return Fail(ErrorCode::kInvalidArgument, "a SEG frame does not name its segment");
      segment_number = number;
      if (!listed.contains(segment_number))
        return Fail(ErrorCode::kInvalidArgument, fmt::format("a SEG frame names segment {}, which is not listed", number));
    }
    std::uint8_t* base = nullptr;
    for (std::int64_t i = 0; i < plane; ++i) {
      const std::int32_t value = decoded->Sample(f, i);
      if (labelmap) {
        if (value == 0 || (has_padding && value == padding)) continue;
        if (!listed.contains(value))
          return Fail(ErrorCode::kInvalidArgument, fmt::format("the label map holds value {}, not a listed segment", value));
        auto mask = mask_of(value);
        if (!mask) return std::unexpected(mask.error());
        (**mask)[k * plane + i] = 1;
      } else {
        const bool set = fractional ? value * 2 >= max_fractional && value > 0 : value != 0;
        if (!set) continue;
        if (!base) {
          auto mask = mask_of(segment_number);
          if (!mask) return std::unexpected(mask.error());
          base = (*mask)->data() + k * plane;
        }
        base[i] = 1;
      }
    }
  }
  return out;
}

Result<VolumeGeometry> GridOfSeg(std::string_view part10) {
  auto loaded = LoadFromMemory(part10);
  if (!loaded) return std::unexpected(loaded.error());
  DcmDataset& ds = *loaded->dataset;
  DcmSequenceOfItems* per_frame = nullptr;
  if (ds.findAndGetSequence(DCM_PerFrameFunctionalGroupsSequence, per_frame).bad() || !per_frame || per_frame->card() == 0)
    return Fail(ErrorCode::kInvalidArgument, "the SEG has no per-frame functional groups");
  DcmItem* shared = nullptr;
  ds.findAndGetSequenceItem(DCM_SharedFunctionalGroupsSequence, shared, 0);
  auto group = [&](DcmItem* frame, const DcmTagKey& sequence) -> DcmItem* {
    DcmItem* found = nullptr;
    if (frame && frame->findAndGetSequenceItem(sequence, found, 0).good() && found) return found;
    if (shared && shared->findAndGetSequenceItem(sequence, found, 0).good() && found) return found;
    return nullptr;
  };
  auto doubles = [](DcmItem* item, const DcmTagKey& tag, size_t count) -> std::optional<std::vector<double>> {
    if (!item) return std::nullopt;
    std::vector<double> out;
    Float64 v = 0;
    for (size_t i = 0; i < count; ++i) {
      if (item->findAndGetFloat64(tag, v, static_cast<unsigned long>(i)).bad()) return std::nullopt;
      out.push_back(v);
    }
    return out;
  };
  DcmItem* first = per_frame->getItem(0);
  auto orientation = doubles(group(first, DCM_PlaneOrientationSequence), DCM_ImageOrientationPatient, 6);
  DcmItem* measures = group(first, DCM_PixelMeasuresSequence);
  auto spacing = doubles(measures, DCM_PixelSpacing, 2);
  if (!orientation || !spacing) return Fail(ErrorCode::kInvalidArgument, "the SEG lacks plane orientation or pixel spacing");
  auto image = ReadImageLayout(ds);
  if (!image) return std::unexpected(image.error());
  VolumeGeometry g;
  g.dims[0] = image->columns;
  g.dims[1] = image->rows;
  const std::array<double, 3> row{(*orientation)[0], (*orientation)[1], (*orientation)[2]};
  const std::array<double, 3> col{(*orientation)[3], (*orientation)[4], (*orientation)[5]};
  const std::array<double, 3> normal{row[1] * col[2] - row[2] * col[1], row[2] * col[0] - row[0] * col[2],
                                     row[0] * col[1] - row[1] * col[0]};
  g.direction = {row[0], row[1], row[2], col[0], col[1], col[2], normal[0], normal[1], normal[2]};
  g.spacing[0] = (*spacing)[1];
  g.spacing[1] = (*spacing)[0];
  std::vector<std::pair<double, std::array<double, 3>>> positions;
  for (unsigned long f = 0; f < per_frame->card(); ++f) {
    auto p = doubles(group(per_frame->getItem(f), DCM_PlanePositionSequence), DCM_ImagePositionPatient, 3);
    if (!p) return Fail(ErrorCode::kInvalidArgument, "a SEG frame has no plane position");
    const std::array<double, 3> at{(*p)[0], (*p)[1], (*p)[2]};
    positions.emplace_back(at[0] * normal[0] + at[1] * normal[1] + at[2] * normal[2], at);
  }
  std::sort(positions.begin(), positions.end(), [](auto& a, auto& b) { return a.first < b.first; });
  double step = 0;
  if (auto between = doubles(measures, DCM_SpacingBetweenSlices, 1)) step = (*between)[0];
  for (size_t i = 1; i < positions.size() && step <= 0; ++i) {
    const double gap = positions[i].first - positions[i - 1].first;
    if (gap > 1e-3) step = gap;
  }
  for (size_t i = 1; i < positions.size(); ++i) {
    const double gap = positions[i].first - positions[i - 1].first;
    if (gap > 1e-3) step = std::min(step, gap);
  }
  if (!(step > 0)) step = 1;
  g.spacing[2] = step;
  g.origin = positions.front().second;
  // Computed in double and bounded before it becomes an integer: positions and spacing
  // come from the file (NaN, or a spacing of 1e-300, must not reach llround).
  const double gaps = (positions.back().first - positions.front().first) / step;
  if (!std::isfinite(gaps) || gaps < 0 || gaps > 65534)
    return Fail(ErrorCode::kUnprocessable, "the SEG's frames do not span a plausible grid");
  g.dims[2] = static_cast<std::int64_t>(std::llround(gaps)) + 1;
  if (auto usable = CheckGeometry(g, 1ll << 30); !usable) return std::unexpected(usable.error());
  return g;
}

LabelVolume FlattenMasks(const SegMasks& masks, const VolumeGeometry& grid, const std::map<int, int>& label_of) {
  LabelVolume out;
  out.geometry = grid;
  out.labels.assign(grid.VoxelCount(), 0);
  std::vector<std::pair<int, const std::vector<std::uint8_t>*>> ordered;
  for (const auto& [number, mask] : masks.masks) {
    auto mapped = label_of.find(number);
    ordered.emplace_back(mapped == label_of.end() ? number : mapped->second, &mask);
  }
  std::sort(ordered.begin(), ordered.end(), [](auto& a, auto& b) { return a.first < b.first; });
  for (const auto& [label, mask] : ordered) {
    if (label < 1 || label > 255) continue;
    for (size_t i = 0; i < mask->size(); ++i)
      if ((*mask)[i]) out.labels[i] = static_cast<std::uint8_t>(label);
  }
  return out;
}

Result<LabelLayers> LayerMasks(const SegMasks& masks, const VolumeGeometry& grid) {
  LabelLayers out;
  const auto voxels = static_cast<std::size_t>(grid.VoxelCount());
  out.layers.push_back({grid, std::vector<std::uint8_t>(voxels, 0)});
  // occupied[i]: bit l set when layer l holds a segment at voxel i (only once layer 0 alone
  // no longer says it).
  std::vector<std::uint16_t> occupied;
  for (const auto& [number, mask] : masks.masks) {  // std::map: in number order
    if (number < 1 || number > 255 || mask.size() != voxels) continue;
    std::uint16_t taken = 0;
    if (occupied.empty()) {
      const auto& first = out.layers.front().labels;
      for (std::size_t i = 0; i < voxels && !taken; ++i) taken = mask[i] && first[i] ? 1 : 0;
    } else {
      for (std::size_t i = 0; i < voxels; ++i)
        if (mask[i]) taken |= occupied[i];
    }
    int layer = 0;
    while (layer < kMaxLabelLayers && (taken >> layer) & 1) ++layer;
    if (layer == kMaxLabelLayers)
      return Fail(ErrorCode::kUnprocessable,
                  fmt::format("its segments overlap more than {} deep; at most {} layers are kept", kMaxLabelLayers,
                              kMaxLabelLayers));
    if (layer >= static_cast<int>(out.layers.size())) {
      if (occupied.empty()) {  // from now on, keep the set of occupied layers per voxel
        occupied.assign(voxels, 0);
        const auto& first = out.layers.front().labels;
        for (std::size_t i = 0; i < voxels; ++i) occupied[i] = first[i] ? 1 : 0;
      }
      out.layers.push_back({grid, std::vector<std::uint8_t>(voxels, 0)});
    }
    auto& labels = out.layers[static_cast<std::size_t>(layer)].labels;
    const auto bit = static_cast<std::uint16_t>(1u << layer);
    for (std::size_t i = 0; i < voxels; ++i)
      if (mask[i]) {
        labels[i] = static_cast<std::uint8_t>(number);
        if (!occupied.empty()) occupied[i] |= bit;
      }
    out.layer_of[number] = layer;
  }
  return out;
}

LabelVolume FlattenLayers(const std::vector<LabelVolume>& layers) {
  if (layers.empty()) return {};
  LabelVolume out = layers.front();
  for (std::size_t l = 1; l < layers.size(); ++l) {
    const auto& labels = layers[l].labels;
    for (std::size_t i = 0; i < labels.size() && i < out.labels.size(); ++i)
      if (labels[i]) out.labels[i] = labels[i];
  }
  return out;
}

}  // namespace vg::dicom
