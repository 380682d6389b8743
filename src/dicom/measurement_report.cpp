#include "dicom/measurement_report.h"

#include <dcmtk/dcmdata/dctk.h>
#include <dcmtk/dcmiod/modhelp.h>
#include <dcmtk/dcmsr/cmr/init.h>
#include <dcmtk/dcmsr/cmr/tid1500.h>
#include <dcmtk/dcmsr/codes/dcm.h>
#include <dcmtk/dcmsr/dsrdoc.h>

#include <cmath>
#include <mutex>

#include "dicom/dcmtk_io.h"

namespace vg::dicom {
namespace {

Result<void> Check(const OFCondition& condition, std::string_view what) {
  if (condition.good()) return {};
  return Fail(ErrorCode::kInternal, "the measurement report could not be made", std::string(what) + ": " + condition.text());
}

DSRCodedEntryValue Coded(const CodedConcept& c) {
  return DSRCodedEntryValue(c.code.c_str(), c.scheme.c_str(), c.meaning.c_str());
}

CodedConcept CodeOf(DcmItem& item, const DcmTagKey& sequence) {
  DcmItem* code = nullptr;
  if (item.findAndGetSequenceItem(sequence, code, 0).bad() || !code) return {};
  return CodedConcept{GetString(*code, DCM_CodeValue), GetString(*code, DCM_CodingSchemeDesignator),
                      GetString(*code, DCM_CodeMeaning)};
}

// The content items of `item`'s Content Sequence.
std::vector<DcmItem*> Children(DcmItem& item) {
  std::vector<DcmItem*> out;
  DcmSequenceOfItems* seq = nullptr;
  if (item.findAndGetSequence(DCM_ContentSequence, seq).bad() || !seq) return out;
  for (unsigned long i = 0; i < seq->card(); ++i) out.push_back(seq->getItem(i));
  return out;
}

// Walks the tree (at most `depth` levels: a hostile report nests no deeper than that)
// collecting measurement groups' numeric items.
void CollectMeasurements(DcmItem& node, ReadReport& out, int depth) {
  if (depth > 16 || out.measurements.size() > 10000) return;
  const std::vector<DcmItem*> children = Children(node);
  const CodedConcept name = CodeOf(node, DCM_ConceptNameCodeSequence);
  if (GetString(node, DCM_ValueType) == "CONTAINER" && name.code == "125007" && name.scheme == "DCM") {
    std::string tracking_id, seg_uid;
    std::optional<int> segment;
    for (DcmItem* child : children) {
      const CodedConcept c = CodeOf(*child, DCM_ConceptNameCodeSequence);
      const std::string type = GetString(*child, DCM_ValueType);
      if (type == "TEXT" && c.code == "112039") tracking_id = GetString(*child, DCM_TextValue);
      if (type == "IMAGE" && c.code == "121191") {
        DcmItem* ref = nullptr;
        if (child->findAndGetSequenceItem(DCM_ReferencedSOPSequence, ref, 0).good() && ref) {
          seg_uid = GetString(*ref, DCM_ReferencedSOPInstanceUID);
          Uint16 number = 0;
          if (ref->findAndGetUint16(DCM_ReferencedSegmentNumber, number).good()) segment = number;
        }
      }
    }
    for (DcmItem* child : children) {
      if (GetString(*child, DCM_ValueType) != "NUM") continue;
      DcmItem* measured = nullptr;
      if (child->findAndGetSequenceItem(DCM_MeasuredValueSequence, measured, 0).bad() || !measured) continue;
      ReadMeasurement m;
      m.tracking_id = tracking_id;
      m.segment = segment;
      m.seg_sop_uid = seg_uid;
      m.quantity = CodeOf(*child, DCM_ConceptNameCodeSequence);
      m.unit = CodeOf(*measured, DCM_MeasurementUnitsCodeSequence);
      Float64 value = 0;
      if (measured->findAndGetFloat64(DCM_NumericValue, value).bad() || !std::isfinite(value)) continue;
      m.value = value;
      out.measurements.push_back(std::move(m));
    }
    return;
  }
  for (DcmItem* child : children) CollectMeasurements(*child, out, depth + 1);
}

}  // namespace

Result<std::string> WriteMeasurementReport(std::string_view source_part10, const std::vector<ReportedMeasurement>& measurements,
                                           const MeasurementReportOptions& options) {
  if (measurements.empty()) return Fail(ErrorCode::kInvalidArgument, "a measurement report needs measurements");
  // DCMTK's context groups are built on first use; building them from several threads at
  // once is not safe, so once, here.
  static std::once_flag groups;
  std::call_once(groups, [] { CMR_ContentMappingResource::initializeAllContextGroups(); });
  auto loaded = LoadFromMemory(source_part10);
  if (!loaded) return std::unexpected(loaded.error());
  DcmDataset& source = *loaded->dataset;
  const bool utf8 = GetString(source, DCM_SpecificCharacterSet).find("ISO_IR 192") != std::string::npos;

  TID1500_MeasurementReport report(CMR_CID7021::ImagingMeasurementReport);
  if (auto r = Check(report.setLanguage(DSRCodedEntryValue("en-US", "RFC5646", "English (United States)")), "language"); !r)
    return std::unexpected(r.error());
  const ProcessingAlgorithm& algorithm = options.algorithm;
  const std::string observer_uid = UidFromText("voxelgate device observer " + algorithm.manufacturer + "\n" + algorithm.name);
  if (auto r = Check(report.getObservationContext().addDeviceObserver(
                         observer_uid.c_str(), SafeValueText(algorithm.name, 64, utf8).c_str(),
                         SafeValueText(algorithm.manufacturer, 64, utf8).c_str(), SafeValueText(algorithm.name, 64, utf8).c_str()),
                     "device observer");
      !r)
    return std::unexpected(r.error());
  if (auto r = Check(report.getImageLibrary().createNewImageLibrary(), "image library"); !r) return std::unexpected(r.error());
  if (auto r = Check(report.getImageLibrary().addImageGroup(), "image group"); !r) return std::unexpected(r.error());
  if (auto r = Check(report.getImageLibrary().addImageEntry(source, TID1600_ImageLibrary::withAllDescriptors), "image entry"); !r)
    return std::unexpected(r.error());
  if (auto r = Check(report.addProcedureReported(DSRCodedEntryValue("363679005", "SCT", "Imaging procedure")), "procedure"); !r)
    return std::unexpected(r.error());

  // One group per segment, in the order first seen.
  std::vector<int> order;
  for (const auto& m : measurements) {
    if (!std::isfinite(m.value)) return Fail(ErrorCode::kInvalidArgument, "a measurement is not a finite number");
    if (std::find(order.begin(), order.end(), m.segment) == order.end()) order.push_back(m.segment);
  }
  for (int segment : order) {
    if (auto r = Check(report.addVolumetricROIMeasurements(), "group"); !r) return std::unexpected(r.error());
    auto& group = report.getVolumetricROIMeasurements();
    const ReportedMeasurement* first = nullptr;
    for (const auto& m : measurements)
      if (m.segment == segment && !first) first = &m;
    const std::string tracking = SafeValueText(first->tracking_id.empty() ? "segment " + std::to_string(segment) : first->tracking_id,
                                               64, utf8);
    if (auto r = Check(group.setTrackingIdentifier(tracking.c_str()), "tracking id"); !r) return std::unexpected(r.error());
    const std::string tracking_uid = UidFromText("voxelgate tracking " + options.seg_sop_uid + " " + std::to_string(segment));
    if (auto r = Check(group.setTrackingUniqueIdentifier(tracking_uid.c_str()), "tracking uid"); !r) return std::unexpected(r.error());
    DSRImageReferenceValue referenced(UID_SegmentationStorage, options.seg_sop_uid.c_str());
    referenced.getSegmentList().addItem(static_cast<Uint16>(segment));
    if (auto r = Check(group.setReferencedSegment(referenced), "referenced segment"); !r) return std::unexpected(r.error());
    if (auto r = Check(group.setSourceSeriesForSegmentation(options.source_series_uid.c_str()), "source series"); !r)
      return std::unexpected(r.error());
    if (auto r = Check(group.setFinding(Coded(first->finding)), "finding"); !r) return std::unexpected(r.error());
    for (const auto& m : measurements) {
      if (m.segment != segment) continue;
      const CMR_TID1411_in_TID1500::MeasurementValue value(DsValue(m.value).c_str(),
                                                            CMR_CID7181(Coded(m.unit)));
      if (auto r = Check(group.addMeasurement(CMR_CID7469(Coded(m.quantity)), value, /*checkEmpty=*/OFFalse), "measurement"); !r)
        return std::unexpected(r.error());
      TID4019_AlgorithmIdentification& id = group.getMeasurement().getAlgorithmIdentification();
      if (auto r = Check(id.setIdentification(SafeValueText(algorithm.name, 64, utf8).c_str(),
                                              SafeValueText(algorithm.version, 64, utf8).c_str()),
                         "algorithm identification");
          !r)
        return std::unexpected(r.error());
    }
  }
  if (!report.isValid()) return Fail(ErrorCode::kInternal, "the measurement report is incomplete");

  DSRDocument document;
  if (auto r = Check(document.setTreeFromRootTemplate(report, OFTrue), "tree"); !r) return std::unexpected(r.error());
  const std::string study_uid = GetString(source, DCM_StudyInstanceUID);
  if (auto r = Check(document.createNewSeriesInStudy(study_uid.c_str()), "study"); !r) return std::unexpected(r.error());
  document.setSeriesDescription(SafeValueText(options.series_description, 64, utf8).c_str());
  document.setSeriesNumber(std::to_string(options.series_number).c_str());
  document.setInstanceNumber("1");
  document.setManufacturer(SafeValueText(algorithm.manufacturer.empty() ? "unknown" : algorithm.manufacturer, 64, utf8).c_str());
  document.setManufacturerModelName(SafeValueText(algorithm.name, 64, utf8).c_str());
  document.setSoftwareVersions(SafeValueText(algorithm.version, 64, utf8).c_str());
  if (utf8) document.setSpecificCharacterSet("ISO_IR 192");
  // The evidence: the SEG measured on, and the image of the library.
  const std::string source_study = study_uid;
  if (auto r = Check(document.getCurrentRequestedProcedureEvidence().addItem(
                         source_study.c_str(), options.seg_series_uid.c_str(), UID_SegmentationStorage,
                         options.seg_sop_uid.c_str()),
                     "evidence");
      !r)
    return std::unexpected(r.error());
  if (auto r = Check(document.getCurrentRequestedProcedureEvidence().addItem(source), "evidence"); !r)
    return std::unexpected(r.error());

  DcmFileFormat file;
  DcmDataset& ds = *file.getDataset();
  if (auto r = Check(document.write(ds), "write"); !r) return std::unexpected(r.error());
  // The patient and study are the source's; the UIDs ours (derived, so a retry names the
  // same object).
  DcmModuleHelpers::copyPatientModule(source, ds);
  DcmModuleHelpers::copyPatientStudyModule(source, ds);
  DcmModuleHelpers::copyGeneralStudyModule(source, ds);
  if (!options.series_uid.empty()) ds.putAndInsertString(DCM_SeriesInstanceUID, options.series_uid.c_str());
  if (!options.sop_uid.empty()) ds.putAndInsertString(DCM_SOPInstanceUID, options.sop_uid.c_str());
  PutProcessingAlgorithm(ds, algorithm, utf8);
  return WriteFileToString(file);
}

Result<ReadReport> ReadMeasurementReport(std::string_view part10) {
  auto loaded = LoadFromMemory(part10);
  if (!loaded) return std::unexpected(loaded.error());
  DcmDataset& ds = *loaded->dataset;
  if (GetString(ds, DCM_Modality) != "SR") return Fail(ErrorCode::kUnprocessable, "not a structured report");
  ReadReport out;
  out.sop_uid = GetString(ds, DCM_SOPInstanceUID);
  out.series_uid = GetString(ds, DCM_SeriesInstanceUID);
  out.title = CodeOf(ds, DCM_ConceptNameCodeSequence).meaning;
  for (DcmItem* child : Children(ds)) {
    const CodedConcept c = CodeOf(*child, DCM_ConceptNameCodeSequence);
    if (c.code == "121013" && c.scheme == "DCM") out.observer_name = GetString(*child, DCM_TextValue);  // Device Observer Name
  }
  CollectMeasurements(ds, out, 0);
  return out;
}

}  // namespace vg::dicom
