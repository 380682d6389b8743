// The fuzz targets: every parser of outside input, each as a function of one byte string.
// libFuzzer drives them (fuzz/entry.cpp, one executable each, `make fuzz`); the unit
// tests run every checked-in input of tests/fuzz_regressions/TARGET/ through them, so a
// crash once found stays found.
//
// A target returns normally for every input: refusals are expected, crashes, sanitizer
// reports, leaks and timeouts are the findings.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vg::fuzz {

using Target = int (*)(const std::uint8_t* data, std::size_t size);

struct NamedTarget {
  const char* name;
  Target run;
};

int Multipart(const std::uint8_t* data, std::size_t size);      // http::MultipartReader, whole and streamed
int MediaTypes(const std::uint8_t* data, std::size_t size);     // Content-Type, Accept, query strings
int Qido(const std::uint8_t* data, std::size_t size);           // QIDO-RS queries and attribute matching
int JsonBodies(const std::uint8_t* data, std::size_t size);     // JSON request bodies and what reads them
int Nrrd(const std::uint8_t* data, std::size_t size);           // NRRD reader
int Nifti(const std::uint8_t* data, std::size_t size);          // NIfTI reader (plain and gzip)
int DicomIngest(const std::uint8_t* data, std::size_t size);    // parse -> de-identify -> index attributes
int Volume(const std::uint8_t* data, std::size_t size);         // volume assembly from a few slices
int Seg(const std::uint8_t* data, std::size_t size);            // DICOM SEG reader
int Toml(const std::uint8_t* data, std::size_t size);           // manifests and the server configuration
int Structure(const std::uint8_t* data, std::size_t size);      // the structure check before DCMTK
int Pdu(const std::uint8_t* data, std::size_t size);            // the DIMSE PDU watcher
int S3Xml(const std::uint8_t* data, std::size_t size);          // S3's XML answers (listings, uploads, errors)
int RtStruct(const std::uint8_t* data, std::size_t size);       // RT structure set reader and rasteriser
int MeasurementReport(const std::uint8_t* data, std::size_t size);  // TID 1500 SR reader (a result's report)

inline constexpr NamedTarget kTargets[] = {
    {"multipart", Multipart}, {"media_types", MediaTypes}, {"qido", Qido},     {"json_bodies", JsonBodies},
    {"nrrd", Nrrd},           {"nifti", Nifti},            {"dicom_ingest", DicomIngest}, {"volume", Volume},
    {"seg", Seg},             {"toml", Toml},              {"structure", Structure},      {"pdu", Pdu},
    {"s3_xml", S3Xml},        {"rtstruct", RtStruct},      {"measurement_report", MeasurementReport},
};

}  // namespace vg::fuzz
