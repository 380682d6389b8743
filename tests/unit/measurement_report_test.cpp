// The TID 1500 measurement report of an algorithm's result: what is written reads back
// (values, units, segments, the SEG and the algorithm), it passes dciodvfy, it carries the
// algorithm as Contributing Equipment, and a hostile report is read within bounds.
#include <gtest/gtest.h>

#include <dcmtk/dcmdata/dctk.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "dicom/dcmtk_io.h"
#include "dicom/measurement_report.h"
#include "synthetic_dicom.h"

namespace vg::dicom::measurement_report_test {
namespace {

const CodedConcept kVolume{"118565006", "SCT", "Volume"};
const CodedConcept kMl{"mL", "UCUM", "milliliter"};

std::string Source() {
  testing::SliceSpec spec;
  spec.sop_uid = "1.2.826.0.1.3680043.8.498.2.1.1";
  return testing::MakeSlice(spec, [](int, int) { return 0; });
}

MeasurementReportOptions Options() {
  MeasurementReportOptions o;
  o.series_uid = "2.25.1001";
  o.sop_uid = "2.25.1002";
  o.algorithm = {"Vendor Inc.", "CT lungs", "1.1.0"};
  o.seg_sop_uid = "2.25.2001";
  o.seg_series_uid = "2.25.2000";
  o.source_series_uid = "1.2.826.0.1.3680043.8.498.2.1";
  return o;
}

std::vector<ReportedMeasurement> Lungs() {
  return {{1, "Right lung", {"3341006", "SCT", "Right lung"}, kVolume, kMl, 2210.4},
          {2, "Left lung", {"44029006", "SCT", "Left lung"}, kVolume, kMl, 1846.25}};
}

TEST(MeasurementReport, WhatIsWrittenReadsBackSegmentBySegmentWithItsUnitsAndTheSeg) {
  auto sr = WriteMeasurementReport(Source(), Lungs(), Options());
  ASSERT_TRUE(sr) << sr.error().public_message << " " << sr.error().detail;
  auto report = ReadMeasurementReport(*sr);
  ASSERT_TRUE(report) << report.error().public_message;
  EXPECT_EQ(report->sop_uid, "2.25.1002");
  EXPECT_EQ(report->series_uid, "2.25.1001");
  EXPECT_EQ(report->title, "Imaging Measurement Report");
  EXPECT_EQ(report->observer_name, "CT lungs");
  ASSERT_EQ(report->measurements.size(), 2u);
  EXPECT_EQ(report->measurements[0].tracking_id, "Right lung");
  EXPECT_EQ(report->measurements[0].segment, 1);
  EXPECT_EQ(report->measurements[0].seg_sop_uid, "2.25.2001");
  EXPECT_EQ(report->measurements[0].quantity.code, "118565006");
  EXPECT_EQ(report->measurements[0].unit.code, "mL");
  EXPECT_DOUBLE_EQ(report->measurements[0].value, 2210.4);
  EXPECT_EQ(report->measurements[1].segment, 2);
  EXPECT_DOUBLE_EQ(report->measurements[1].value, 1846.25);
}

TEST(MeasurementReport, IsOnTheSourcesPatientAndStudyAndNamesTheAlgorithmAsProcessingEquipment) {
  auto sr = WriteMeasurementReport(Source(), Lungs(), Options());
  ASSERT_TRUE(sr);
  auto loaded = LoadFromMemory(*sr);
  ASSERT_TRUE(loaded);
  DcmDataset& ds = *loaded->dataset;
  EXPECT_EQ(GetString(ds, DCM_StudyInstanceUID), "1.2.826.0.1.3680043.8.498.2");
  EXPECT_EQ(GetString(ds, DCM_PatientID), "PH1");
  EXPECT_EQ(GetString(ds, DCM_SOPClassUID), UID_EnhancedSRStorage);
  DcmItem* equipment = nullptr;
  ASSERT_TRUE(ds.findAndGetSequenceItem(DCM_ContributingEquipmentSequence, equipment, 0).good());
  EXPECT_EQ(GetString(*equipment, DCM_Manufacturer), "Vendor Inc.");
  EXPECT_EQ(GetString(*equipment, DCM_ManufacturerModelName), "CT lungs");
  EXPECT_EQ(GetString(*equipment, DCM_SoftwareVersions), "1.1.0");
  DcmItem* purpose = nullptr;
  ASSERT_TRUE(equipment->findAndGetSequenceItem(DCM_PurposeOfReferenceCodeSequence, purpose, 0).good());
  EXPECT_EQ(GetString(*purpose, DCM_CodeValue), "109102");
}

TEST(MeasurementReport, PassesDciodvfyWithoutErrors) {
  if (std::system("command -v dciodvfy > /dev/null 2>&1") != 0) GTEST_SKIP() << "dciodvfy is not installed (Debian: dicom3tools)";
  auto sr = WriteMeasurementReport(Source(), Lungs(), Options());
  ASSERT_TRUE(sr);
  const auto path = std::filesystem::temp_directory_path() / "vg-measurement-report.dcm";
  std::ofstream(path, std::ios::binary).write(sr->data(), static_cast<std::streamsize>(sr->size()));
  const std::string command = "dciodvfy -new " + path.string() + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe)) output += buffer;
  ::pclose(pipe);
  std::filesystem::remove(path);
  std::string errors;
  std::size_t at = 0;
  while ((at = output.find("Error", at)) != std::string::npos) {
    const std::size_t end = output.find('\n', at);
    errors += output.substr(at, end - at) + "\n";
    at = end == std::string::npos ? output.size() : end;
  }
  EXPECT_EQ(errors, "") << output;
}

TEST(MeasurementReport, NothingToReportOrAValueThatIsNotANumberIsRefused) {
  EXPECT_FALSE(WriteMeasurementReport(Source(), {}, Options()));
  auto bad = Lungs();
  bad[0].value = std::nan("");
  EXPECT_FALSE(WriteMeasurementReport(Source(), bad, Options()));
}

TEST(MeasurementReport, ANonReportOrAGarbledOneIsRefusedNotTrusted) {
  auto not_sr = ReadMeasurementReport(Source());
  ASSERT_FALSE(not_sr);
  EXPECT_EQ(not_sr.error().code, ErrorCode::kUnprocessable);
  EXPECT_FALSE(ReadMeasurementReport("DICM but not really"));
}

}  // namespace
}  // namespace vg::dicom::measurement_report_test
