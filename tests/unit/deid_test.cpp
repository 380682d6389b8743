// De-identification against PS3.15 Table E.1-1: one test per attribute the Basic Profile
// removes (X), empties (Z) or replaces (D), driven from the same table the engine uses, on a
// synthetic object that carries every attribute of the table; then the options, nested
// sequences, private attributes, determinism, SEG references, and every real file in
// ../shared/data (skipped, with a message, when absent).
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcostrmb.h>
#include <dcmtk/dcmdata/dctk.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "dicom/deid.h"
#include "dicom/dicom.h"
#include "dicom/seg.h"
#include "dicom/volume.h"

namespace vg::dicom {
namespace {

namespace fs = std::filesystem;

const crypto::SecretKey& Secret() {
  static const crypto::SecretKey key = [] {
    crypto::Initialize();
    std::array<std::uint8_t, 32> bytes{};
    for (int i = 0; i < 32; ++i) bytes[i] = static_cast<std::uint8_t>(i * 7 + 1);
    return crypto::SecretKey(bytes);
  }();
  return key;
}

std::string ToPart10(DcmFileFormat& file, E_TransferSyntax xfer = EXS_LittleEndianExplicit) {
  file.getDataset()->chooseRepresentation(xfer, nullptr);
  std::string buffer(64 << 20, '\0');
  DcmOutputBufferStream stream(buffer.data(), buffer.size());
  file.transferInit();
  OFCondition cond = file.write(stream, xfer, EET_ExplicitLength, nullptr, EGL_withoutGL, EPD_noChange, 0, 0, 0,
                                EWM_createNewMeta);
  file.transferEnd();
  EXPECT_TRUE(cond.good()) << cond.text();
  void* data = nullptr;
  offile_off_t written = 0;
  stream.flushBuffer(data, written);
  buffer.resize(static_cast<size_t>(written));
  return buffer;
}

std::unique_ptr<DcmFileFormat> Parse(const std::string& part10) {
  auto file = std::make_unique<DcmFileFormat>();
  DcmInputBufferStream stream;
  stream.setBuffer(part10.data(), static_cast<offile_off_t>(part10.size()));
  stream.setEos();
  file->transferInit();
  const bool good = file->read(stream).good();
  file->transferEnd();
  return good ? std::move(file) : nullptr;
}

std::string Value(DcmItem& item, const DcmTagKey& key) {
  OFString value;
  item.findAndGetOFStringArray(key, value);
  return value.c_str();
}

// A value every VR accepts, recognisable in the output. Elements are made with the VR
// given, so attributes newer than DCMTK's dictionary go in too.
void PutSample(DcmItem& item, const DcmTagKey& key, DcmEVR vr, int n) {
  const std::string text = "SECRET" + std::to_string(n);
  DcmTag tag(key, DcmVR(vr));
  DcmElement* element = nullptr;
  if (vr == EVR_SQ) element = new DcmSequenceOfItems(tag);
  else if (vr == EVR_UI) element = new DcmUniqueIdentifier(tag);
  else if (vr == EVR_LO) element = new DcmLongString(tag);
  else if (vr == EVR_DT) element = new DcmDateTime(tag);
  else if (vr == EVR_DA) element = new DcmDate(tag);
  else if (vr == EVR_TM) element = new DcmTime(tag);
  else if (DcmItem::newDicomElement(element, tag).bad() || !element) {
    ADD_FAILURE() << "cannot make " << key.toString().c_str();
    return;
  }
  switch (vr) {
    case EVR_DA: element->putString("20200102"); break;
    case EVR_TM: element->putString("101112"); break;
    case EVR_DT: element->putString("20200102101112"); break;
    case EVR_PN: element->putString(("DOE^JOHN" + std::to_string(n)).c_str()); break;
    case EVR_UI: element->putString(("1.2.826.0.1.3680043.9.7777." + std::to_string(n)).c_str()); break;
    case EVR_AS: element->putString("045Y"); break;
    case EVR_IS: element->putString(std::to_string(1000 + n).c_str()); break;
    case EVR_DS: element->putString((std::to_string(1000 + n) + ".5").c_str()); break;
    case EVR_AE: element->putString(("AE" + std::to_string(n)).c_str()); break;
    case EVR_US: element->putUint16(static_cast<Uint16>(1000 + n)); break;
    case EVR_SS: element->putSint16(static_cast<Sint16>(1000 + n)); break;
    case EVR_UL: element->putUint32(static_cast<Uint32>(1000 + n)); break;
    case EVR_SL: element->putSint32(1000 + n); break;
    case EVR_FL: element->putFloat32(1000.5f + n); break;
    case EVR_FD: element->putFloat64(1000.5 + n); break;
    case EVR_SQ: {
      auto* child = new DcmItem;
      child->putAndInsertString(DCM_CodeValue, text.c_str());
      static_cast<DcmSequenceOfItems*>(element)->insert(child);
      break;
    }
    case EVR_OB:
    case EVR_OW:
    case EVR_UN: {
      const Uint8 bytes[4] = {'S', 'E', 'C', static_cast<Uint8>(n & 0xFF)};
      element->putUint8Array(bytes, 4);
      break;
    }
    default: element->putString(text.c_str()); break;
  }
  item.insert(element, true);
}

bool Concrete(const DeidRule& rule) { return rule.mask == 0xFFFFFFFF; }
DcmTagKey KeyOf(const DeidRule& rule) {
  return DcmTagKey(static_cast<Uint16>(rule.tag >> 16), static_cast<Uint16>(rule.tag & 0xFFFF));
}
DcmEVR VrFromKeyword(const std::string& keyword) {
  if (keyword.ends_with("UID")) return EVR_UI;
  if (keyword.ends_with("DateTime")) return EVR_DT;
  if (keyword.ends_with("Date")) return EVR_DA;
  if (keyword.ends_with("Time")) return EVR_TM;
  if (keyword.ends_with("Sequence")) return EVR_SQ;
  return EVR_LO;
}

// The dictionary's VR, or for an attribute newer than DCMTK's dictionary SQ (a
// "...Sequence") or LO.
DcmEVR VrOf(const DeidRule& rule) {
  DcmTag tag(KeyOf(rule));
  DcmEVR vr = tag.getEVR();
  if (vr == EVR_xs) return EVR_US;
  if (vr == EVR_ox || vr == EVR_px) return EVR_OW;
  if (vr == EVR_lt) return EVR_OW;
  if (vr == EVR_UNKNOWN || vr == EVR_UNKNOWN2B || vr == EVR_UN || vr == EVR_up || vr == EVR_na)
    return VrFromKeyword(rule.keyword);
  return vr;
}
bool Testable(const DeidRule& rule) {
  if (!Concrete(rule)) return false;
  const DcmTagKey key = KeyOf(rule);
  // File meta, pixel data and the instance's own identity are the object itself.
  return key.getGroup() != 0x0002 && key != DCM_PixelData && key != DCM_SOPClassUID;
}

// Every attribute of the table in one object, with a distinct value each.
struct Everything {
  std::string original;
  std::unique_ptr<DcmFileFormat> before, after;
  DeidResult result;
};
const Everything& TheEverythingObject() {
  static const Everything everything = [] {
    Everything e;
    DcmFileFormat file;
    DcmDataset* ds = file.getDataset();
    int n = 0;
    for (const DeidRule& rule : DeidRules())
      if (Testable(rule)) PutSample(*ds, KeyOf(rule), VrOf(rule), ++n);
    ds->putAndInsertString(DCM_SOPClassUID, UID_CTImageStorage);
    ds->putAndInsertString(DCM_SOPInstanceUID, "1.2.826.0.1.3680043.9.7777.1.1");
    ds->putAndInsertString(DCM_StudyInstanceUID, "1.2.826.0.1.3680043.9.7777.1.2");
    ds->putAndInsertString(DCM_SeriesInstanceUID, "1.2.826.0.1.3680043.9.7777.1.3");
    ds->putAndInsertString(DCM_PatientID, "PID-12345");
    ds->putAndInsertString(DCM_PatientName, "DOE^JOHN");
    e.original = ToPart10(file);
    auto result = Deidentify(e.original, DeidOptions{}, Secret());
    EXPECT_TRUE(result) << result.error().public_message;
    e.result = std::move(*result);
    e.before = Parse(e.original);
    e.after = Parse(e.result.part10);
    return e;
  }();
  return everything;
}

class BasicProfileAttribute : public ::testing::TestWithParam<DeidRule> {};
}  // namespace
void PrintTo(const DeidRule& rule, std::ostream* out) { *out << rule.keyword << " " << rule.basic; }
namespace {

TEST_P(BasicProfileAttribute, IsRemovedEmptiedOrReplacedAsTheTableSays) {
  const DeidRule& rule = GetParam();
  const Everything& e = TheEverythingObject();
  const DcmTagKey key = KeyOf(rule);
  DcmDataset& before = *e.before->getDataset();
  DcmDataset& after = *e.after->getDataset();
  ASSERT_TRUE(before.tagExists(key)) << "the synthetic object lacks " << rule.keyword;
  const std::string original = Value(before, key);
  const bool present = after.tagExists(key);
  const std::string now = present ? Value(after, key) : "";
  DcmElement* element = nullptr;
  const bool is_sequence = present && after.findAndGetElement(key, element).good() && element->ident() == EVR_SQ;
  const unsigned long items = is_sequence ? static_cast<DcmSequenceOfItems*>(element)->card() : 0;
  SCOPED_TRACE(rule.keyword + " (" + rule.basic + ") '" + original + "' -> '" + now + "'");
  if (key == DCM_PatientName || key == DCM_PatientID) {
    EXPECT_EQ(now, e.result.pseudonym) << "the patient's name and ID become the pseudonym";
    return;
  }
  if (rule.basic == "X") {
    EXPECT_FALSE(present);
  } else if (rule.basic == "Z") {
    EXPECT_TRUE(present);
    EXPECT_TRUE(now.empty() && items == 0);
  } else if (rule.basic == "D") {
    EXPECT_TRUE(present);
    if (!is_sequence) {
      EXPECT_FALSE(now.empty());
      EXPECT_NE(now, original);
    }
  } else if (rule.basic == "U") {
    EXPECT_TRUE(present);
    EXPECT_NE(now, original);
    EXPECT_TRUE(now.starts_with("2.25.")) << now;
    EXPECT_EQ(e.result.uid_map.at(original), now);
  } else {  // X/Z, X/D, Z/D, X/Z/D, X/Z/U*: whatever the choice, the original value is gone
    if (present && !is_sequence) {
      EXPECT_NE(now, original);
    }
    if (is_sequence) {
      for (unsigned long i = 0; i < items; ++i)
        EXPECT_NE(Value(*static_cast<DcmSequenceOfItems*>(element)->getItem(i), DCM_CodeValue),
                  "SECRET") << "a kept sequence is cleaned";
    }
  }
}

std::vector<DeidRule> BasicRules() {
  std::vector<DeidRule> out;
  for (const auto& rule : DeidRules())
    if (Testable(rule) && rule.basic != "K" && rule.basic != "C") out.push_back(rule);
  return out;
}

INSTANTIATE_TEST_SUITE_P(TableE11, BasicProfileAttribute, ::testing::ValuesIn(BasicRules()),
                         [](const ::testing::TestParamInfo<DeidRule>& param_info) {
                           const DeidRule& rule = param_info.param;
                           std::string name = rule.keyword.empty() ? "Tag" : rule.keyword;
                           char hex[9];
                           std::snprintf(hex, sizeof hex, "%08X", rule.tag);
                           return name + "_" + hex;
                         });

TEST(Deid, TheTableIsTheStandardsOwn) {
  // PS3.15 2026d: 653 attributes, three repeating groups and the private-attributes row.
  EXPECT_GE(DeidRules().size(), 650u);
  std::set<std::string> actions;
  for (const auto& r : DeidRules()) actions.insert(r.basic);
  for (const char* a : {"D", "Z", "X", "U", "X/Z", "X/D", "Z/D", "X/Z/D", "X/Z/U*"}) EXPECT_TRUE(actions.count(a)) << a;
  const DeidRule* name = FindDeidRule(0x0010, 0x0010);
  ASSERT_NE(name, nullptr);
  EXPECT_EQ(name->keyword, "PatientName");
  const DeidRule* curve = FindDeidRule(0x5002, 0x3000);
  ASSERT_NE(curve, nullptr) << "repeating groups match";
  EXPECT_EQ(curve->basic, "X");
  EXPECT_EQ(FindDeidRule(0x0028, 0x0010), nullptr) << "Rows is not in the table: kept";
}

TEST(Deid, TheObjectSaysHowItWasDeidentified) {
  DcmDataset& after = *TheEverythingObject().after->getDataset();
  EXPECT_EQ(Value(after, DCM_PatientIdentityRemoved), "YES");
  EXPECT_EQ(Value(after, DCM_DeidentificationMethod), "PS3.15 E.1 basic");
  DcmItem* code = nullptr;
  ASSERT_TRUE(after.findAndGetSequenceItem(DCM_DeidentificationMethodCodeSequence, code, 0).good());
  EXPECT_EQ(Value(*code, DCM_CodeValue), "113100");
  EXPECT_EQ(Value(*code, DCM_CodingSchemeDesignator), "DCM");
  EXPECT_EQ(Value(after, DCM_LongitudinalTemporalInformationModified), "REMOVED");
  // The meta header names the new instance.
  EXPECT_EQ(Value(*TheEverythingObject().after->getMetaInfo(), DCM_MediaStorageSOPInstanceUID),
            Value(after, DCM_SOPInstanceUID));
}

TEST(Deid, RepeatingGroupsAndPrivateAttributesGoUnlessSafePrivateIsRetained) {
  DcmFileFormat file;
  DcmDataset* ds = file.getDataset();
  ds->putAndInsertString(DCM_SOPClassUID, UID_CTImageStorage);
  ds->putAndInsertString(DCM_SOPInstanceUID, "1.2.3.4");
  ds->putAndInsertString(DCM_PatientID, "P1");
  ds->putAndInsertString(DcmTagKey(0x6000, 0x4000), "overlay comment naming DOE");
  ds->putAndInsertString(DcmTagKey(0x5000, 0x0022), "curve description");
  // A safe private attribute (GE's "Table Speed"? whatever the table lists first) and an unsafe one.
  ds->putAndInsertString(DcmTagKey(0x0009, 0x0010), "SOME VENDOR");
  auto* unsafe = new DcmLongString(DcmTag(DcmTagKey(0x0009, 0x1001), DcmVR(EVR_LO)));
  unsafe->putString("DOE^JOHN");
  ds->insert(unsafe, true);
  ds->putAndInsertString(DcmTagKey(0x00E1, 0x0010), "ELSCINT1");
  auto* dlp = new DcmDecimalString(DcmTag(DcmTagKey(0x00E1, 0x1021), DcmVR(EVR_DS)));
  dlp->putString("12.5");  // ELSCINT1 (00E1,xx21) DLP: safe
  ds->insert(dlp, true);
  ASSERT_TRUE(ds->tagExists(DcmTagKey(0x00E1, 0x1021)));
  const std::string original = ToPart10(file);

  auto basic = Deidentify(original, DeidOptions{}, Secret());
  ASSERT_TRUE(basic);
  auto after = Parse(basic->part10);
  DcmDataset& out = *after->getDataset();
  EXPECT_FALSE(out.tagExists(DcmTagKey(0x6000, 0x4000)));
  EXPECT_FALSE(out.tagExists(DcmTagKey(0x5000, 0x0022)));
  for (auto tag : {DcmTagKey(0x0009, 0x0010), DcmTagKey(0x0009, 0x1001), DcmTagKey(0x00E1, 0x1021)})
    EXPECT_FALSE(out.tagExists(tag)) << tag.toString().c_str();

  DeidOptions safe;
  safe.retain_safe_private = true;
  auto kept = Deidentify(original, safe, Secret());
  ASSERT_TRUE(kept);
  auto kept_file = Parse(kept->part10);
  DcmDataset& k = *kept_file->getDataset();
  EXPECT_TRUE(k.tagExists(DcmTagKey(0x00E1, 0x1021))) << "a safe private attribute stays";
  EXPECT_FALSE(k.tagExists(DcmTagKey(0x0009, 0x1001))) << "an unknown private attribute goes";
}

TEST(Deid, NestedSequencesAreDeidentifiedAtEveryDepthAndReferencesStayConsistent) {
  DcmFileFormat file;
  DcmDataset* ds = file.getDataset();
  ds->putAndInsertString(DCM_SOPClassUID, UID_CTImageStorage);
  ds->putAndInsertString(DCM_SOPInstanceUID, "1.2.3.100");
  ds->putAndInsertString(DCM_SeriesInstanceUID, "1.2.3.200");
  ds->putAndInsertString(DCM_PatientID, "P1");
  DcmItem* reference = nullptr;
  ds->findOrCreateSequenceItem(DCM_ReferencedImageSequence, reference, -2);
  reference->putAndInsertString(DCM_ReferencedSOPClassUID, UID_CTImageStorage);
  reference->putAndInsertString(DCM_ReferencedSOPInstanceUID, "1.2.3.100");
  DcmItem* request = nullptr;
  ds->findOrCreateSequenceItem(DCM_RequestAttributesSequence, request, -2);
  DcmItem* deeper = nullptr;
  ds->findOrCreateSequenceItem(DCM_SourceImageSequence, deeper, -2);
  deeper->putAndInsertString(DCM_ReferencedSOPInstanceUID, "1.2.3.300");
  DcmItem* anatomic = nullptr;
  deeper->findOrCreateSequenceItem(DCM_AnatomicRegionSequence, anatomic, -2);
  anatomic->putAndInsertString(DCM_PatientName, "DOE^JOHN");  // an identifier hidden two levels down
  anatomic->putAndInsertString(DCM_CodeValue, "T-D3000");
  auto result = Deidentify(ToPart10(file), DeidOptions{}, Secret());
  ASSERT_TRUE(result);
  auto after = Parse(result->part10);
  DcmDataset& out = *after->getDataset();
  DcmItem* ref = nullptr;
  ASSERT_TRUE(out.findAndGetSequenceItem(DCM_ReferencedImageSequence, ref, 0).good());
  EXPECT_EQ(Value(*ref, DCM_ReferencedSOPInstanceUID), Value(out, DCM_SOPInstanceUID))
      << "a reference to this very instance points at its new UID";
  EXPECT_EQ(Value(*ref, DCM_ReferencedSOPClassUID), UID_CTImageStorage) << "SOP classes are not identities";
  EXPECT_FALSE(out.tagExists(DCM_RequestAttributesSequence));
  DcmItem* source = nullptr;
  ASSERT_TRUE(out.findAndGetSequenceItem(DCM_SourceImageSequence, source, 0).good());
  EXPECT_EQ(Value(*source, DCM_ReferencedSOPInstanceUID), RemapUid(Secret(), "1.2.3.300"));
  DcmItem* region = nullptr;
  ASSERT_TRUE(source->findAndGetSequenceItem(DCM_AnatomicRegionSequence, region, 0).good());
  EXPECT_NE(Value(*region, DCM_PatientName), "DOE^JOHN");
  EXPECT_EQ(Value(*region, DCM_CodeValue), "T-D3000");
}

TEST(Deid, TwoRunsGiveIdenticalBytesAndAnotherSecretGivesOtherPseudonyms) {
  const std::string original = TheEverythingObject().original;
  auto a = Deidentify(original, DeidOptions{}, Secret());
  auto b = Deidentify(original, DeidOptions{}, Secret());
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->part10, b->part10);
  EXPECT_EQ(a->pseudonym, PseudonymOf(Secret(), "PID-12345",
                                      Value(*TheEverythingObject().before->getDataset(), DCM_IssuerOfPatientID)));
  auto other = Deidentify(original, DeidOptions{}, crypto::SecretKey::Generate());
  ASSERT_TRUE(other);
  EXPECT_NE(other->pseudonym, a->pseudonym);
  EXPECT_NE(other->sop_uid, a->sop_uid);
}

TEST(Deid, OptionsKeepWhatTheyRetain) {
  DcmFileFormat file;
  DcmDataset* ds = file.getDataset();
  ds->putAndInsertString(DCM_SOPClassUID, UID_CTImageStorage);
  ds->putAndInsertString(DCM_SOPInstanceUID, "1.2.3.4.5");
  ds->putAndInsertString(DCM_StudyInstanceUID, "1.2.3.4");
  ds->putAndInsertString(DCM_PatientID, "PID77");
  ds->putAndInsertString(DCM_PatientName, "SMITH^ANNA");
  ds->putAndInsertString(DCM_PatientSex, "F");
  ds->putAndInsertString(DCM_PatientAge, "061Y");
  ds->putAndInsertString(DCM_StationName, "CT-ROOM-3");
  ds->putAndInsertString(DCM_DeviceSerialNumber, "SN-991");
  ds->putAndInsertString(DCM_StudyDate, "20240229");
  ds->putAndInsertString(DCM_SeriesDescription, "Chest for SMITH PID77 follow-up");
  const std::string original = ToPart10(file);

  DeidOptions o;
  o.retain_patient_chars = o.retain_device_id = o.retain_uids = o.clean_descriptors = true;
  o.retain_long_modified_dates = true;
  auto r = Deidentify(original, o, Secret());
  ASSERT_TRUE(r);
  auto after = Parse(r->part10);
  DcmDataset& out = *after->getDataset();
  EXPECT_EQ(Value(out, DCM_PatientSex), "F");
  EXPECT_EQ(Value(out, DCM_PatientAge), "061Y");
  EXPECT_EQ(Value(out, DCM_StationName), "CT-ROOM-3");
  EXPECT_EQ(Value(out, DCM_DeviceSerialNumber), "SN-991");
  EXPECT_EQ(Value(out, DCM_SOPInstanceUID), "1.2.3.4.5");
  EXPECT_EQ(Value(out, DCM_StudyDate), ShiftDate("20240229", DateShiftDays(Secret(), "PID77", "")));
  EXPECT_NE(Value(out, DCM_StudyDate), "20240229");
  EXPECT_EQ(Value(out, DCM_SeriesDescription), "Chest for ***** ***** follow-up");
  EXPECT_EQ(Value(out, DCM_LongitudinalTemporalInformationModified), "MODIFIED");
  // LO holds 64 characters: a long profile name is split between options into several values.
  EXPECT_EQ(Value(out, DCM_DeidentificationMethod),
            "PS3.15 E.1 basic+retain-long-modified-dates+retain-patient-chars\\+retain-device-id+retain-uids+clean-"
            "descriptors");

  auto basic = Deidentify(original, DeidOptions{}, Secret());
  auto plain = Parse(basic->part10);
  EXPECT_FALSE(plain->getDataset()->tagExists(DCM_SeriesDescription));
  EXPECT_FALSE(plain->getDataset()->tagExists(DCM_StationName));
  EXPECT_TRUE(Value(*plain->getDataset(), DCM_PatientAge).empty() || !plain->getDataset()->tagExists(DCM_PatientAge));
}

TEST(Deid, DatesOfOnePatientMoveTogether) {
  const std::int64_t shift = DateShiftDays(Secret(), "PID77", "");
  EXPECT_LE(shift, -365);
  EXPECT_GE(shift, -3650);
  EXPECT_EQ(DateShiftDays(Secret(), "PID77", ""), shift);
  EXPECT_EQ(ShiftDate("20240301", -1), "20240229");
  EXPECT_EQ(ShiftDate("20240301120000.5", -366), "20230301120000.5");
  EXPECT_EQ(ShiftDate("garbage", -3), "garbage");
}

TEST(Deid, ProfilesParseAndUnknownOptionsAreNamed) {
  auto p = ParseDeidProfile("basic+retain-uids+clean_descriptors");
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->retain_uids && p->clean_descriptors);
  EXPECT_EQ(p->Name(), "basic+retain-uids+clean-descriptors");
  auto bad = ParseDeidProfile("basic+keep-everything");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().public_message.find("keep-everything"), std::string::npos);
  EXPECT_FALSE(ParseDeidProfile("strict"));
  EXPECT_FALSE(ParseDeidProfile("basic+retain-long-full-dates+retain-long-modified-dates"));
}

TEST(Deid, BurnedInTextRulesRefuseWhatTheClinicListed) {
  DcmFileFormat file;
  file.getDataset()->putAndInsertString(DCM_SOPClassUID, UID_SecondaryCaptureImageStorage);
  file.getDataset()->putAndInsertString(DCM_SOPInstanceUID, "1.2.3");
  file.getDataset()->putAndInsertString(DCM_Modality, "SC");
  file.getDataset()->putAndInsertString(DCM_SeriesDescription, "Dose Report");
  const std::string sc = ToPart10(file);
  DeidScreen screen{{"SC", "OT"}, {}};
  EXPECT_TRUE(ScreenForBurnedInText(sc, screen).has_value());
  EXPECT_TRUE(ScreenForBurnedInText(sc, DeidScreen{{}, {"dose report"}}).has_value());
  EXPECT_FALSE(ScreenForBurnedInText(sc, DeidScreen{}).has_value());
  file.getDataset()->putAndInsertString(DCM_Modality, "CT");
  file.getDataset()->putAndInsertString(DCM_SeriesDescription, "Chest");
  file.getDataset()->putAndInsertString(DCM_BurnedInAnnotation, "YES");
  EXPECT_TRUE(ScreenForBurnedInText(ToPart10(file), DeidScreen{{}, {}, true}).has_value());
  EXPECT_FALSE(ScreenForBurnedInText(ToPart10(file), DeidScreen{}).has_value())
      << "BurnedInAnnotation alone refuses only where objects are de-identified";
}

// ---- the shared data ----

fs::path SharedData() { return fs::path(VG_SOURCE_DIR) / ".." / "shared" / "data"; }
std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Walks an item: every element the table lists with X must be gone, Z and D must not keep
// a non-empty original value, no private attribute may remain.
void CheckAgainstTable(DcmItem& before, DcmItem& after, const std::string& where, int& checked) {
  for (unsigned long i = 0; i < after.card(); ++i) {
    DcmElement* element = after.getElement(i);
    const DcmTagKey key = element->getTag().getXTag();
    EXPECT_FALSE(key.getGroup() & 1) << where << ": private " << key.toString().c_str() << " remains";
  }
  for (unsigned long i = 0; i < before.card(); ++i) {
    DcmElement* element = before.getElement(i);
    const DcmTagKey key = element->getTag().getXTag();
    const DeidRule* rule = FindDeidRule(key.getGroup(), key.getElement());
    if (!rule || key == DCM_PatientIdentityRemoved || key == DCM_DeidentificationMethod) continue;
    const std::string original = Value(before, key);
    ++checked;
    if (rule->basic == "X") {
      EXPECT_FALSE(after.tagExists(key)) << where << ": " << rule->keyword << " kept";
    } else if (!original.empty() && element->ident() != EVR_SQ && after.tagExists(key) && rule->basic != "K") {
      EXPECT_NE(Value(after, key), original) << where << ": " << rule->keyword << " (" << rule->basic << ") unchanged";
    }
    if (element->ident() == EVR_SQ && after.tagExists(key)) {
      DcmElement* out = nullptr;
      after.findAndGetElement(key, out);
      auto* in_seq = static_cast<DcmSequenceOfItems*>(element);
      auto* out_seq = static_cast<DcmSequenceOfItems*>(out);
      for (unsigned long j = 0; j < std::min(in_seq->card(), out_seq->card()); ++j)
        CheckAgainstTable(*in_seq->getItem(j), *out_seq->getItem(j), where + "/" + rule->keyword, checked);
    }
  }
}

void CheckFolder(const std::string& name) {
  const fs::path dir = SharedData() / name;
  if (!fs::exists(dir)) GTEST_SKIP() << "needs ../shared/data/" << name << " (not present: the real-data checks are skipped)";
  int files = 0, checked = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    const std::string bytes = ReadFile(entry.path());
    if (bytes.size() < 132 || bytes.compare(128, 4, "DICM") != 0) continue;
    auto before = Parse(bytes);
    auto result = Deidentify(bytes, DeidOptions{}, Secret());
    if (!before) {  // broken on purpose (truncated, bad sequences): refused with a reason, never passed through
      EXPECT_FALSE(result.has_value() && result->part10 == bytes);
      continue;
    }
    if (!result) {
      // Files that are broken on purpose (truncated, bad sequences) may be refused: with a reason.
      EXPECT_FALSE(result.error().public_message.empty());
      continue;
    }
    ++files;
    const std::string where = entry.path().filename().string();
    auto after = Parse(result->part10);
    ASSERT_NE(after, nullptr) << where << ": the de-identified file does not parse";
    CheckAgainstTable(*before->getDataset(), *after->getDataset(), where, checked);
    EXPECT_EQ(Value(*after->getDataset(), DCM_PatientIdentityRemoved), "YES") << where;
    // The pixels are untouched, in the transfer syntax they came in.
    EXPECT_EQ(Value(*after->getMetaInfo(), DCM_TransferSyntaxUID), Value(*before->getMetaInfo(), DCM_TransferSyntaxUID));
    DcmElement* a = nullptr;
    DcmElement* b = nullptr;
    if (before->getDataset()->findAndGetElement(DCM_PixelData, a).good() &&
        after->getDataset()->findAndGetElement(DCM_PixelData, b).good()) {
      EXPECT_EQ(a->getLength(), b->getLength()) << where;
    }
    // Deterministic.
    EXPECT_EQ(Deidentify(bytes, DeidOptions{}, Secret())->part10, result->part10) << where;
  }
  EXPECT_GT(files, 0);
  EXPECT_GT(checked, files);
}

TEST(DeidSharedData, ChestCtLidc) { CheckFolder("ct-chest-lidc"); }
TEST(DeidSharedData, MultiframeAndCodecs) { CheckFolder("multiframe-and-codecs"); }
TEST(DeidSharedData, TransferSyntaxes) { CheckFolder("transfer-syntaxes"); }

TEST(DeidSharedData, SegReferencesStillResolveAfterDeidentification) {
  const fs::path dir = SharedData() / "ct-chest-lidc";
  if (!fs::exists(dir)) GTEST_SKIP() << "needs ../shared/data/ct-chest-lidc";
  std::vector<std::string> source, deidentified;
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    if (entry.is_regular_file()) source.push_back(ReadFile(entry.path()));
  std::vector<std::string_view> views(source.begin(), source.end());
  auto volume = AssembleVolume(views);
  ASSERT_TRUE(volume) << volume.error().public_message;
  LabelVolume labels{volume->geometry, std::vector<std::uint8_t>(volume->geometry.VoxelCount(), 0)};
  for (std::int64_t i = 0; i < 5000; ++i) labels.labels[static_cast<size_t>(volume->geometry.VoxelCount() / 2 + i)] = 1;
  SegmentInfo segment;
  segment.label = 1;
  segment.name = "Nodule";
  auto seg = WriteBinarySeg(source[0], *volume, labels, {segment}, SegWriteOptions{});
  ASSERT_TRUE(seg) << seg.error().public_message;
  for (const auto& s : source) deidentified.push_back(Deidentify(s, DeidOptions{}, Secret())->part10);
  auto seg_after = Deidentify(*seg, DeidOptions{}, Secret());
  ASSERT_TRUE(seg_after);
  // The de-identified SEG reads onto the de-identified series exactly as before.
  std::vector<std::string_view> new_views(deidentified.begin(), deidentified.end());
  auto new_volume = AssembleVolume(new_views);
  ASSERT_TRUE(new_volume);
  auto masks = ReadSegOnGrid(seg_after->part10, new_volume->geometry);
  ASSERT_TRUE(masks) << masks.error().public_message;
  auto header = ReadSegHeader(seg_after->part10);
  ASSERT_TRUE(header);
  ASSERT_EQ(header->referenced_series_uids.size(), 1u);
  EXPECT_EQ(header->referenced_series_uids[0], Deidentify(source[0], DeidOptions{}, Secret())->series_uid);
  EXPECT_EQ(header->frame_of_reference_uid, new_volume->frame_of_reference_uid);
  std::int64_t set = 0;
  for (const auto& [number, mask] : masks->masks)
    for (auto v : mask) set += v != 0;
  EXPECT_EQ(set, 5000);
}

}  // namespace
}  // namespace vg::dicom

namespace vg::dicom {
namespace {

TEST(Reid, AResultGetsBackTheOriginalPatientStudyAndReferences) {
  DcmFileFormat file;
  DcmDataset* ds = file.getDataset();
  ds->putAndInsertString(DCM_SOPClassUID, UID_CTImageStorage);
  ds->putAndInsertString(DCM_SOPInstanceUID, "1.2.3.9.1");
  ds->putAndInsertString(DCM_StudyInstanceUID, "1.2.3.9");
  ds->putAndInsertString(DCM_SeriesInstanceUID, "1.2.3.9.0");
  ds->putAndInsertString(DCM_PatientName, "ROE^RICHARD");
  ds->putAndInsertString(DCM_PatientID, "R-77");
  ds->putAndInsertString(DCM_StudyDate, "20210304");
  ds->putAndInsertString(DCM_AccessionNumber, "ACC9");
  const std::string original = ToPart10(file);
  auto identity = ReadIdentity(original);
  ASSERT_TRUE(identity);
  auto deid = Deidentify(original, DeidOptions{}, Secret());
  ASSERT_TRUE(deid);
  // A result made on the de-identified data: it references the de-identified instance.
  DcmFileFormat result;
  DcmDataset* r = result.getDataset();
  r->putAndInsertString(DCM_SOPClassUID, UID_SegmentationStorage);
  r->putAndInsertString(DCM_SOPInstanceUID, "2.25.555");
  r->putAndInsertString(DCM_StudyInstanceUID, deid->study_uid.c_str());
  r->putAndInsertString(DCM_PatientName, deid->pseudonym.c_str());
  r->putAndInsertString(DCM_PatientIdentityRemoved, "YES");
  DcmItem* ref = nullptr;
  r->findOrCreateSequenceItem(DCM_ReferencedSeriesSequence, ref, -2);
  ref->putAndInsertString(DCM_SeriesInstanceUID, deid->series_uid.c_str());
  DcmItem* instance = nullptr;
  ref->findOrCreateSequenceItem(DCM_ReferencedInstanceSequence, instance, -2);
  instance->putAndInsertString(DCM_ReferencedSOPInstanceUID, deid->sop_uid.c_str());
  std::map<std::string, std::string> back;
  for (const auto& [from, to] : deid->uid_map) back[to] = from;
  auto restored = Reidentify(ToPart10(result), [&](const std::string& uid) -> std::optional<std::string> {
    auto it = back.find(uid);
    return it == back.end() ? std::nullopt : std::optional<std::string>(it->second);
  }, *identity);
  ASSERT_TRUE(restored) << restored.error().public_message;
  auto out = Parse(*restored);
  DcmDataset& o = *out->getDataset();
  EXPECT_EQ(Value(o, DCM_PatientName), "ROE^RICHARD");
  EXPECT_EQ(Value(o, DCM_PatientID), "R-77");
  EXPECT_EQ(Value(o, DCM_StudyDate), "20210304");
  EXPECT_EQ(Value(o, DCM_AccessionNumber), "ACC9");
  EXPECT_EQ(Value(o, DCM_StudyInstanceUID), "1.2.3.9");
  EXPECT_EQ(Value(o, DCM_SOPInstanceUID), "2.25.555") << "the result's own UID stays";
  EXPECT_EQ(Value(o, DCM_PatientIdentityRemoved), "NO");
  DcmItem* series = nullptr;
  ASSERT_TRUE(o.findAndGetSequenceItem(DCM_ReferencedSeriesSequence, series, 0).good());
  EXPECT_EQ(Value(*series, DCM_SeriesInstanceUID), "1.2.3.9.0");
  DcmItem* inst = nullptr;
  ASSERT_TRUE(series->findAndGetSequenceItem(DCM_ReferencedInstanceSequence, inst, 0).good());
  EXPECT_EQ(Value(*inst, DCM_ReferencedSOPInstanceUID), "1.2.3.9.1");
}

}  // namespace
}  // namespace vg::dicom
