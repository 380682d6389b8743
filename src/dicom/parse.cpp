#include <dcmtk/dcmdata/dcjson.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>
#include <dcmtk/oflog/oflog.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <span>
#include <sstream>

#include "dicom/dcmtk_io.h"
#include "dicom/dicom.h"

namespace vg::dicom {
namespace {

// Attributes kept at study level (patient + general study modules) and series level.
const DcmTagKey kStudyTags[] = {
    DCM_SpecificCharacterSet, DCM_PatientName, DCM_PatientID, DCM_IssuerOfPatientID, DCM_PatientBirthDate,
    DCM_PatientSex, DCM_PatientAge, DCM_OtherPatientIDsSequence, DCM_StudyInstanceUID, DCM_StudyDate,
    DCM_StudyTime, DCM_AccessionNumber, DCM_ReferringPhysicianName, DCM_StudyID, DCM_StudyDescription,
    DCM_TimezoneOffsetFromUTC, DCM_PatientIdentityRemoved};
const DcmTagKey kSeriesTags[] = {
    DCM_SpecificCharacterSet, DCM_Modality, DCM_SeriesInstanceUID, DCM_SeriesNumber, DCM_SeriesDescription,
    DCM_SeriesDate, DCM_SeriesTime, DCM_BodyPartExamined, DCM_Laterality, DCM_PerformedProcedureStepStartDate,
    DCM_PerformedProcedureStepStartTime, DCM_RequestAttributesSequence, DCM_FrameOfReferenceUID, DCM_Manufacturer,
    DCM_ManufacturerModelName, DCM_TimezoneOffsetFromUTC};

bool IsBulkTag(const DcmTagKey& tag) {
  return tag == DCM_PixelData || tag == DCM_FloatPixelData || tag == DCM_DoubleFloatPixelData ||
         tag == DCM_EncapsulatedDocument || tag == DCM_WaveformData || tag == DCM_SpectroscopyData ||
         (tag.getGroup() >= 0x6000 && tag.getGroup() <= 0x601E && tag.getElement() == 0x3000);
}

class BulkUriFormat final : public DcmJsonFormatCompact {
 public:
  explicit BulkUriFormat(std::string base) : DcmJsonFormatCompact(OFFalse), base_(std::move(base)) {}
  OFBool asBulkDataURI(const DcmTagKey& tag, OFString& uri) override {
    if (!IsBulkTag(tag)) return OFFalse;
    char hex[9];
    std::snprintf(hex, sizeof hex, "%04X%04X", tag.getGroup(), tag.getElement());
    uri = (base_ + hex).c_str();
    return OFTrue;
  }
 private:
  std::string base_;
};

// DCMTK 3.6.7 writes a multi-valued string element to JSON one value at a time, finding
// value i by counting delimiters from the start and counting them all again for the VM
// (DcmByteString::getOFString, determineVM): quadratic in the number of values. An RT
// structure set's ContourData of a few thousand numbers took seconds; 32,000 values in
// one element took 11 s, so one hostile instance could hold a core for hours. This writes
// the same JSON in one pass over the value, as DCMTK would: each value with leading and
// trailing spaces and NULs removed; a DS or IS that is a valid number as a JSON number,
// anything else (a DS of 17 characters, "1]}..." in a DS) as a JSON string.
bool IsDecimalString(std::string_view v) {
  if (v.empty() || v.size() > 16) return false;
  std::size_t i = (v[0] == '+' || v[0] == '-') ? 1 : 0;
  std::size_t digits = 0;
  while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i]))) ++i, ++digits;
  if (i < v.size() && v[i] == '.') {
    ++i;
    while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i]))) ++i, ++digits;
  }
  if (digits == 0) return false;
  if (i < v.size() && (v[i] == 'e' || v[i] == 'E')) {
    ++i;
    if (i < v.size() && (v[i] == '+' || v[i] == '-')) ++i;
    std::size_t exponent = 0;
    while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i]))) ++i, ++exponent;
    if (exponent == 0) return false;
  }
  return i == v.size();
}

bool IsIntegerString(std::string_view v) {
  if (v.empty() || v.size() > 12) return false;
  std::size_t i = (v[0] == '+' || v[0] == '-') ? 1 : 0;
  if (i == v.size()) return false;
  for (std::size_t j = i; j < v.size(); ++j)
    if (!std::isdigit(static_cast<unsigned char>(v[j]))) return false;
  long long n = 0;
  for (std::size_t j = i; j < v.size(); ++j) n = n * 10 + (v[j] - '0');
  return (v[0] == '-' ? -n : n) >= -2147483648ll && (v[0] == '-' ? -n : n) <= 2147483647ll;
}

template <typename Base>
class OnePassJson final : public Base {
 public:
  explicit OnePassJson(const Base& original) : Base(original) {}
  // A copy (SubsetJson clones elements) keeps writing in one pass.
  DcmObject* clone() const override { return new OnePassJson(*this); }
  OFCondition writeJson(STD_NAMESPACE ostream& out, DcmJsonFormat& format) override {
    this->writeJsonOpener(out, format);
    char* text = nullptr;
    Uint32 length = 0;
    if (!this->isEmpty() && this->getString(text, length).good() && text) {
      format.printValuePrefix(out);
      const DcmEVR vr = this->getTag().getEVR();
      std::string_view all(text, length);
      bool first = true;
      for (std::size_t start = 0;;) {
        const std::size_t end = std::min(all.find('\\', start), all.size());
        std::string_view v = all.substr(start, end - start);
        while (!v.empty() && (v.back() == ' ' || v.back() == '\0')) v.remove_suffix(1);
        while (!v.empty() && (v.front() == ' ' || v.front() == '\0')) v.remove_prefix(1);
        if (!first) format.printNextArrayElementPrefix(out);
        first = false;
        OFString value(v.data(), v.size());
        if (vr == EVR_DS && IsDecimalString(v)) DcmJsonFormat::printNumberDecimal(out, value);
        else if (vr == EVR_IS && IsIntegerString(v)) DcmJsonFormat::printNumberInteger(out, value);
        else DcmJsonFormat::printValueString(out, value);
        if (end == all.size()) break;
        start = end + 1;
      }
      format.printValueSuffix(out);
    }
    this->writeJsonCloser(out, format);
    return EC_Normal;
  }
};

// Values past which a string element is written by OnePassJson (below it DCMTK's own
// writer is as fast and its output is the reference).
constexpr unsigned long kOnePassValues = 64;

// Swaps every many-valued DS, IS and delimited string element (at any depth) for a
// OnePassJson copy. Person names (objects, not strings) and UC (leading spaces count) keep
// DCMTK's writer.
void UseOnePassJson(DcmItem& item) {
  DcmStack stack;
  std::vector<std::pair<DcmItem*, DcmElement*>> swaps;
  while (item.nextObject(stack, OFTrue).good()) {
    DcmObject* object = stack.top();
    const DcmEVR vr = object->ident();
    if (vr != EVR_DS && vr != EVR_IS && vr != EVR_AE && vr != EVR_AS && vr != EVR_CS && vr != EVR_DA &&
        vr != EVR_DT && vr != EVR_LO && vr != EVR_SH && vr != EVR_TM && vr != EVR_UI)
      continue;
    // The value's length bounds how many values there can be: no count needed below that.
    if (object->getLength() < 2 * kOnePassValues) continue;
    if (static_cast<DcmElement*>(object)->getVM() <= kOnePassValues) continue;
    auto* parent = stack.card() > 1 ? dynamic_cast<DcmItem*>(stack.elem(1)) : &item;
    if (parent) swaps.emplace_back(parent, static_cast<DcmElement*>(object));
  }
  for (auto [parent, element] : swaps) {
    DcmElement* copy = nullptr;
    switch (element->ident()) {
      case EVR_DS: copy = new OnePassJson<DcmDecimalString>(*static_cast<DcmDecimalString*>(element)); break;
      case EVR_IS: copy = new OnePassJson<DcmIntegerString>(*static_cast<DcmIntegerString*>(element)); break;
      default: copy = new OnePassJson<DcmByteString>(*static_cast<DcmByteString*>(element)); break;
    }
    parent->insert(copy, /*replaceOld=*/OFTrue);  // deletes the original
  }
}

Result<std::string> ToJson(DcmItem& item, DcmJsonFormat& format) {
  std::ostringstream out;
  OFCondition cond = item.writeJson(out, format);
  if (cond.bad()) return Fail(ErrorCode::kInvalidArgument, std::string("cannot express the dataset as DICOM JSON: ") + cond.text());
  std::string json = out.str();
  // DcmItem::writeJson writes members only; wrap them as one object.
  if (json.empty() || json.front() != '{') json = "{" + json + "}";
  return json;
}

Result<std::string> SubsetJson(DcmDataset& dataset, std::span<const DcmTagKey> tags) {
  DcmDataset subset;
  for (const auto& tag : tags) {
    DcmElement* element = nullptr;
    if (dataset.findAndGetElement(tag, element).good() && element)
      subset.insert(static_cast<DcmElement*>(element->clone()), true);
  }
  DcmJsonFormatCompact format(OFFalse);
  return ToJson(subset, format);
}

// findAndGetLongInt reads every integer VR (US, SS, UL, SL, IS); findAndGetSint32
// would miss Rows and Columns, which are US.
std::optional<std::int64_t> GetInt(DcmItem& item, const DcmTagKey& tag) {
  long value = 0;
  if (item.findAndGetLongInt(tag, value).good()) return value;
  return std::nullopt;
}

}  // namespace

void Initialize() {
  OFLog::configure(OFLogger::FATAL_LOG_LEVEL);
  DJDecoderRegistration::registerCodecs();
  DJLSDecoderRegistration::registerCodecs();
  DcmRLEDecoderRegistration::registerCodecs();
}

std::pair<std::string, std::string> PeekSopIdentity(std::string_view bytes) {
  if (bytes.size() < 132 || bytes.substr(128, 4) != "DICM") return {};
  DcmFileFormat file;
  (void)ReadPart10(bytes, file);  // errors expected: keep what could be read
  std::string sop_class = GetString(*file.getMetaInfo(), DCM_MediaStorageSOPClassUID);
  std::string sop_uid = GetString(*file.getMetaInfo(), DCM_MediaStorageSOPInstanceUID);
  if (sop_class.empty()) sop_class = GetString(*file.getDataset(), DCM_SOPClassUID);
  if (sop_uid.empty()) sop_uid = GetString(*file.getDataset(), DCM_SOPInstanceUID);
  if (!IsValidUid(sop_class)) sop_class.clear();
  if (!IsValidUid(sop_uid)) sop_uid.clear();
  return {sop_class, sop_uid};
}

bool IsValidUid(std::string_view uid) {
  if (uid.empty() || uid.size() > 64 || uid.front() == '.' || uid.back() == '.') return false;
  char previous = '.';
  for (char c : uid) {
    if (c == '.') {
      if (previous == '.') return false;
    } else if (c < '0' || c > '9') {
      return false;
    }
    previous = c;
  }
  return true;
}

Result<ParsedInstance> ParseInstance(std::string_view bytes) {
  auto loaded = LoadFromMemory(bytes);
  if (!loaded) return std::unexpected(loaded.error());
  DcmDataset& ds = *loaded->dataset;

  ParsedInstance p;
  p.sop_class_uid = GetString(ds, DCM_SOPClassUID);
  p.sop_uid = GetString(ds, DCM_SOPInstanceUID);
  p.study_uid = GetString(ds, DCM_StudyInstanceUID);
  p.series_uid = GetString(ds, DCM_SeriesInstanceUID);
  struct Required { const char* name; const std::string& value; };
  for (const Required& r : {Required{"SOPClassUID", p.sop_class_uid}, Required{"SOPInstanceUID", p.sop_uid},
                            Required{"StudyInstanceUID", p.study_uid}, Required{"SeriesInstanceUID", p.series_uid}}) {
    if (r.value.empty()) return Fail(ErrorCode::kInvalidArgument, std::string("missing ") + r.name);
    if (!IsValidUid(r.value)) return Fail(ErrorCode::kInvalidArgument, std::string("invalid ") + r.name);
  }
  if (loaded->transfer_syntax_uid.empty())
    return Fail(ErrorCode::kInvalidArgument, "missing TransferSyntaxUID in the file meta information");
  p.transfer_syntax = loaded->transfer_syntax_uid;
  p.study_date = GetString(ds, DCM_StudyDate);
  p.study_time = GetString(ds, DCM_StudyTime);
  p.modality = GetString(ds, DCM_Modality);
  p.accession_number = GetString(ds, DCM_AccessionNumber);
  p.patient_name = GetString(ds, DCM_PatientName);
  p.patient_id = GetString(ds, DCM_PatientID);
  p.series_number = GetInt(ds, DCM_SeriesNumber);
  p.instance_number = GetInt(ds, DCM_InstanceNumber);
  p.rows = GetInt(ds, DCM_Rows).value_or(0);
  p.columns = GetInt(ds, DCM_Columns).value_or(0);
  p.bits_allocated = GetInt(ds, DCM_BitsAllocated).value_or(0);
  p.frames = ds.tagExists(DCM_PixelData) ? GetInt(ds, DCM_NumberOfFrames).value_or(1) : 0;

  // JSON must be UTF-8. Convert only when the file declares another character set.
  std::string charset = GetString(ds, DCM_SpecificCharacterSet);
  if (!charset.empty() && charset != "ISO_IR 192" && charset != "ISO_IR 6") {
    if (ds.convertToUTF8().bad())
      return Fail(ErrorCode::kInvalidArgument, "cannot convert the character set '" + charset + "' to UTF-8");
  }

  UseOnePassJson(ds);
  auto study = SubsetJson(ds, kStudyTags);
  if (!study) return std::unexpected(study.error());
  auto series = SubsetJson(ds, kSeriesTags);
  if (!series) return std::unexpected(series.error());
  BulkUriFormat format(std::string(kBulkDataMarker) + "studies/" + p.study_uid + "/series/" + p.series_uid +
                       "/instances/" + p.sop_uid + "/bulkdata/");
  auto full = ToJson(ds, format);
  if (!full) return std::unexpected(full.error());
  p.study_json = std::move(*study);
  p.series_json = std::move(*series);
  p.instance_json = std::move(*full);
  return p;
}

std::string TagInfo::Hex() const {
  char hex[9];
  std::snprintf(hex, sizeof hex, "%04X%04X", group, element);
  return hex;
}

std::optional<TagInfo> LookupTag(std::string_view keyword_or_hex) {
  std::string text(keyword_or_hex);
  DcmTag tag;
  bool is_hex = text.size() == 8 && text.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos;
  if (is_hex) {
    unsigned long value = std::stoul(text, nullptr, 16);
    tag = DcmTag(static_cast<Uint16>(value >> 16), static_cast<Uint16>(value & 0xFFFF));
  } else if (DcmTag::findTagFromName(text.c_str(), tag).bad()) {
    return std::nullopt;
  }
  TagInfo info;
  info.group = tag.getGroup();
  info.element = tag.getElement();
  info.vr = tag.getVR().getValidVRName();
  const char* name = tag.getTagName();
  if (name && std::string_view(name) != DcmTag_ERROR_TagName) info.keyword = name;
  return info;
}

Result<AcquisitionFacts> ReadAcquisitionFacts(std::string_view part10) {
  auto loaded = LoadFromMemory(part10);
  if (!loaded) return std::unexpected(loaded.error());
  DcmDataset& ds = *loaded->dataset;
  auto number = [&](const DcmTagKey& tag) -> std::optional<double> {
    Float64 value = 0;
    if (ds.findAndGetFloat64(tag, value).good() && std::isfinite(value)) return value;
    return std::nullopt;
  };
  auto text = [&](const DcmTagKey& tag) { return GetString(ds, tag).substr(0, 64); };
  AcquisitionFacts facts;
  facts.manufacturer = text(DCM_Manufacturer);
  facts.model = text(DCM_ManufacturerModelName);
  facts.kernel = text(DCM_ConvolutionKernel);
  facts.body_part = text(DCM_BodyPartExamined);
  facts.slice_thickness_mm = number(DCM_SliceThickness);
  facts.kvp = number(DCM_KVP);
  facts.field_strength_t = number(DCM_MagneticFieldStrength);
  return facts;
}

std::string UidFromBits(std::span<const std::uint8_t> bits) {
  unsigned __int128 value = 0;
  for (size_t i = 0; i < 16 && i < bits.size(); ++i) value = (value << 8) | bits[i];
  std::string digits;
  do {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(value % 10)));
    value /= 10;
  } while (value != 0);
  return "2.25." + digits;
}

bool IsStorageSopClass(std::string_view uid) {
  // Storage SOP classes the standard added after DCMTK 3.6.7's list was made.
  static constexpr std::string_view kNewer[] = {
      "1.2.840.10008.5.1.4.1.1.66.7",  // Label Map Segmentation Storage (2024)
      "1.2.840.10008.5.1.4.1.1.66.8",  // Height Map Segmentation Storage (2024)
  };
  if (std::find(std::begin(kNewer), std::end(kNewer), uid) != std::end(kNewer)) return true;
  return dcmIsaStorageSOPClassUID(std::string(uid).c_str(), ESSC_All);
}

}  // namespace vg::dicom
