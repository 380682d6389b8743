// Ingest, search and retrieval over the real catalog and encrypted store (no HTTP).
#include <gtest/gtest.h>

#include "dicom/written_values.h"

#include <filesystem>
#include <set>

#include "auth/tenants.h"
#include "services/ingest.h"
#include "services/queries.h"
#include "services/retrieve.h"
#include "services/upload_spool.h"
#include "storage/encrypting_blob_store.h"
#include "storage/folder_blob_store.h"
#include "storage/sql_catalog.h"
#include "synthetic_dicom.h"

namespace vg::services {
namespace {

namespace fs = std::filesystem;

class ArchiveServicesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::Initialize();
    dicom::Initialize();
    dir_ = fs::temp_directory_path() / ("vg-svc-" + crypto::RandomHexId(6));
    fs::create_directories(dir_);
    catalog_ = std::move(*storage::SqlCatalog::Open((dir_ / "catalog.db").string(), false));
    tenants_ = std::make_unique<auth::TenantDirectory>(*catalog_, crypto::SecretKey::Generate());
    auth::TenantDirectory* tenants = tenants_.get();
    blobs_ = std::make_unique<storage::EncryptingBlobStore>(
        std::move(*storage::FolderBlobStore::Open((dir_ / "blobs").string(), false)),
        [tenants](std::int64_t id) { return tenants->DataKey(id); });
    archive_ = std::make_unique<Archive>(Archive{*catalog_, *blobs_, *tenants_});
    a_ = tenants_->Create("alpha", "")->id;
    b_ = tenants_->Create("beta", "")->id;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::vector<StoreOutcome> Store(std::int64_t tenant, const std::vector<std::string>& files,
                                  const std::string& study = {}) {
    IngestSession session(*archive_, tenant, study);
    for (const auto& f : files) session.Add(f);
    return session.Finish();
  }
  std::vector<nlohmann::json> Search(std::int64_t tenant, QueryLevel level, const std::string& query) {
    auto parsed = ParseQidoQuery(level, query);
    EXPECT_TRUE(parsed);
    StudyQueries queries(*archive_);
    auto found = queries.Search(tenant, *parsed, "http://h/dicomweb");
    EXPECT_TRUE(found) << (found ? "" : found.error().detail);
    return found ? *found : std::vector<nlohmann::json>{};
  }

  fs::path dir_;
  std::unique_ptr<storage::SqlCatalog> catalog_;
  std::unique_ptr<auth::TenantDirectory> tenants_;
  std::unique_ptr<storage::EncryptingBlobStore> blobs_;
  std::unique_ptr<Archive> archive_;
  std::int64_t a_ = 0, b_ = 0;
};

testing::CtSpec Slice(int n, const std::string& name = "DOE^JOHN", const std::string& study = "1.2.826.0.1.3680043.8.498.1") {
  testing::CtSpec spec;
  spec.patient_name = name;
  spec.study_uid = study;
  spec.series_uid = study + ".1";
  spec.sop_uid = study + ".1." + std::to_string(n);
  spec.instance_number = n;
  return spec;
}

TEST_F(ArchiveServicesTest, ResultUidsAreKeyedPerClinicNotPredictableFromTheJob) {
  const std::string text = "voxelgate job seg 1 7 instance";
  auto alpha = ClinicDerivedUid(*archive_, a_, text);
  auto again = ClinicDerivedUid(*archive_, a_, text);
  auto beta = ClinicDerivedUid(*archive_, b_, text);
  ASSERT_TRUE(alpha && again && beta);
  EXPECT_EQ(*alpha, *again);                       // a retry derives the same UID
  EXPECT_NE(*alpha, *beta);                        // another clinic's key, another UID
  EXPECT_NE(*alpha, dicom::UidFromText(text));     // not what anyone can compute from the text
  EXPECT_TRUE(dicom::IsValidUid(*alpha));
  EXPECT_TRUE(alpha->starts_with("2.25."));
}

TEST_F(ArchiveServicesTest, StoredInstanceReadsBackByteIdentical) {
  std::string file = testing::MakeCt(Slice(1));
  auto outcomes = Store(a_, {file});
  ASSERT_EQ(outcomes.size(), 1u);
  ASSERT_TRUE(outcomes[0].stored) << outcomes[0].message;
  Retrieval retrieval(*archive_);
  auto rows = retrieval.Locate(a_, {Slice(1).study_uid, "", ""});
  ASSERT_TRUE(rows);
  EXPECT_EQ(*retrieval.ReadWhole(a_, rows->front()), file);
}

TEST_F(ArchiveServicesTest, BadInstanceFailsAloneWithAReason) {
  std::string good = testing::MakeCt(Slice(1)), other = testing::MakeCt(Slice(2));
  auto outcomes = Store(a_, {good, "garbage that is not DICOM", other.substr(0, other.size() - 7)});
  ASSERT_EQ(outcomes.size(), 3u);
  EXPECT_TRUE(outcomes[0].stored);
  EXPECT_FALSE(outcomes[1].stored);
  EXPECT_EQ(outcomes[1].failure_reason, kReasonCannotUnderstand);
  EXPECT_FALSE(outcomes[2].stored);
  EXPECT_EQ(Search(a_, QueryLevel::kInstance, "").size(), 1u);
}

TEST_F(ArchiveServicesTest, RestoringIdenticalIsIdempotentAndDifferentIsAConflict) {
  std::string file = testing::MakeCt(Slice(1));
  ASSERT_TRUE(Store(a_, {file})[0].stored);
  auto again = Store(a_, {file});
  EXPECT_TRUE(again[0].stored);
  EXPECT_TRUE(again[0].already_stored);
  testing::CtSpec changed = Slice(1);
  changed.description = "DIFFERENT";
  auto conflict = Store(a_, {testing::MakeCt(changed)});
  EXPECT_FALSE(conflict[0].stored);
  EXPECT_EQ(conflict[0].failure_reason, kReasonDuplicate);
  EXPECT_EQ(Search(a_, QueryLevel::kInstance, "").size(), 1u);
}

TEST_F(ArchiveServicesTest, WrongStudyInUrlFailsTheInstance) {
  auto outcomes = Store(a_, {testing::MakeCt(Slice(1))}, "1.2.3.999");
  EXPECT_FALSE(outcomes[0].stored);
  EXPECT_EQ(outcomes[0].failure_reason, kReasonNotMatchingStudy);
}

TEST_F(ArchiveServicesTest, InstanceWhoseUidDiffersFromTheRequestIsRefusedAndNotStored) {
  IngestSession session(*archive_, a_, {}, /*pipelined=*/false);
  session.Add(testing::MakeCt(Slice(1)), "1.2.3.4.5.6");
  auto outcomes = session.Finish();
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_FALSE(outcomes[0].stored);
  EXPECT_EQ(outcomes[0].failure_reason, kReasonNotMatchingStudy);
  EXPECT_TRUE(Search(a_, QueryLevel::kInstance, "").empty());
}

TEST_F(ArchiveServicesTest, BurnedInAnnotationIsRefusedOnlyWhereTheClinicDeidentifies) {
  auto spec = Slice(1);
  spec.burned_in_annotation = true;
  auto kept = Store(a_, {testing::MakeCt(spec)});
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_TRUE(kept[0].stored) << "a clinic without a privacy policy stores what it is sent: " << kept[0].message;
  ASSERT_TRUE(catalog_->SetTenantPrivacy(b_, "basic", "", "", ""));
  auto refused = Store(b_, {testing::MakeCt(spec)});
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_FALSE(refused[0].stored);
  EXPECT_NE(refused[0].message.find("BurnedInAnnotation"), std::string::npos) << refused[0].message;
  spec.burned_in_annotation = false;
  auto deidentified = Store(b_, {testing::MakeCt(spec)});
  ASSERT_TRUE(deidentified[0].stored) << deidentified[0].message;
  EXPECT_NE(deidentified[0].sop_uid, spec.sop_uid) << "stored under its new UID";
}

// An instance staged while it arrived (DIMSE), as the listener does.
storage::StagedBlob StageWhole(storage::BlobStore& blobs, std::int64_t tenant, const std::string& bytes) {
  auto writer = blobs.StageStream({tenant, storage::NewBlobName()}, storage::SyncWhen::kSoon);
  EXPECT_TRUE(writer);
  EXPECT_TRUE((*writer)->Append(std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size())));
  return std::move(*(*writer)->Close());
}

size_t StagedFiles(const fs::path& dir) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir / "blobs" / ".staged")) ++n;
  return n;
}

TEST_F(ArchiveServicesTest, InstanceStagedAsItArrivedIsIndexedUnderThatBlobAndReadsBackByteIdentical) {
  const std::string file = testing::MakeCt(Slice(1));
  IngestSession session(*archive_, a_, {}, /*pipelined=*/false);
  ASSERT_TRUE(session.StoresBytesAsReceived());
  storage::StagedBlob staged = StageWhole(*blobs_, a_, file);
  const std::string blob_name = staged.key.name;
  session.AddStaged(file, Slice(1).sop_uid, std::move(staged));
  auto outcomes = session.Finish();
  ASSERT_TRUE(outcomes[0].stored) << outcomes[0].message;
  auto existing = catalog_->FindInstance(a_, Slice(1).sop_uid);
  ASSERT_TRUE(existing && *existing);
  EXPECT_EQ((*existing)->blob_name, blob_name) << "the blob written on arrival is the one indexed, not a second copy";
  Retrieval retrieval(*archive_);
  auto rows = retrieval.Locate(a_, {Slice(1).study_uid, "", ""});
  ASSERT_TRUE(rows);
  EXPECT_EQ(*retrieval.ReadWhole(a_, rows->front()), file);
  EXPECT_EQ(StagedFiles(dir_), 0u);
}

TEST_F(ArchiveServicesTest, InstanceStagedAsItArrivedThatFailsLeavesNoBlobBehind) {
  const std::string good = testing::MakeCt(Slice(1));
  ASSERT_TRUE(Store(a_, {good})[0].stored);
  testing::CtSpec changed = Slice(1);
  changed.description = "DIFFERENT";
  const std::string conflicting = testing::MakeCt(changed);
  const std::string garbage = "garbage that is not DICOM";
  IngestSession session(*archive_, a_, {}, /*pipelined=*/false);
  session.AddStaged(garbage, {}, StageWhole(*blobs_, a_, garbage));
  session.AddStaged(good, {}, StageWhole(*blobs_, a_, good));                // already stored: nothing new
  session.AddStaged(conflicting, {}, StageWhole(*blobs_, a_, conflicting));  // a conflict
  auto outcomes = session.Finish();
  ASSERT_EQ(outcomes.size(), 3u);
  EXPECT_EQ(outcomes[0].failure_reason, kReasonCannotUnderstand);
  EXPECT_TRUE(outcomes[1].already_stored);
  EXPECT_EQ(outcomes[2].failure_reason, kReasonDuplicate);
  EXPECT_EQ(StagedFiles(dir_), 0u);
  size_t blobs = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir_ / "blobs"))
    if (e.is_regular_file()) ++blobs;
  EXPECT_EQ(blobs, 1u) << "only the first copy is kept";
}

TEST_F(ArchiveServicesTest, ClinicThatDeidentifiesStoresTheDeidentifiedObjectNotTheBytesStagedOnArrival) {
  ASSERT_TRUE(catalog_->SetTenantPrivacy(b_, "basic", "", "", ""));
  const std::string file = testing::MakeCt(Slice(1));
  IngestSession session(*archive_, b_, {}, /*pipelined=*/false);
  EXPECT_FALSE(session.StoresBytesAsReceived());
  session.AddStaged(file, Slice(1).sop_uid, StageWhole(*blobs_, b_, file));  // a caller that staged anyway
  auto outcomes = session.Finish();
  ASSERT_TRUE(outcomes[0].stored) << outcomes[0].message;
  EXPECT_NE(outcomes[0].sop_uid, Slice(1).sop_uid);
  Retrieval retrieval(*archive_);
  auto rows = retrieval.Locate(b_, {outcomes[0].study_uid, "", ""});
  ASSERT_TRUE(rows);
  auto stored = retrieval.ReadWhole(b_, rows->front());
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->find("DOE^JOHN"), std::string::npos);
  EXPECT_EQ(StagedFiles(dir_), 0u);
}

TEST_F(ArchiveServicesTest, OtherTenantSeesNothing) {
  ASSERT_TRUE(Store(a_, {testing::MakeCt(Slice(1))})[0].stored);
  EXPECT_TRUE(Search(b_, QueryLevel::kStudy, "").empty());
  EXPECT_TRUE(Search(b_, QueryLevel::kInstance, "StudyInstanceUID=" + Slice(1).study_uid).empty());
  Retrieval retrieval(*archive_);
  auto rows = retrieval.Locate(b_, {Slice(1).study_uid, "", ""});
  ASSERT_FALSE(rows);
  EXPECT_EQ(rows.error().code, ErrorCode::kNotFound);
}

TEST_F(ArchiveServicesTest, SearchMatchesEncryptedPatientNamesExactlyAndByWildcard) {
  ASSERT_TRUE(Store(a_, {testing::MakeCt(Slice(1, "DOE^JOHN", "1.2.3.1"))})[0].stored);
  ASSERT_TRUE(Store(a_, {testing::MakeCt(Slice(1, "ROE^JANE", "1.2.3.2"))})[0].stored);
  EXPECT_EQ(Search(a_, QueryLevel::kStudy, "PatientName=DOE%5EJOHN").size(), 1u);
  EXPECT_EQ(Search(a_, QueryLevel::kStudy, "PatientName=doe^john").size(), 1u);
  EXPECT_EQ(Search(a_, QueryLevel::kStudy, "PatientName=*OE*").size(), 2u);
  EXPECT_EQ(Search(a_, QueryLevel::kStudy, "PatientName=R*").size(), 1u);
  EXPECT_EQ(Search(a_, QueryLevel::kStudy, "StudyDescription=CHE*").size(), 2u);
  EXPECT_EQ(Search(a_, QueryLevel::kStudy, "StudyDescription=HEAD*").size(), 0u);
}

TEST_F(ArchiveServicesTest, SearchWithinStudiesSeesOnlyThoseAndPagesOverThem) {
  for (const char* study : {"1.2.3.1", "1.2.3.2", "1.2.3.3"})
    ASSERT_TRUE(Store(a_, {testing::MakeCt(Slice(1, "DOE^JOHN", study))})[0].stored);
  StudyQueries queries(*archive_);
  auto search = [&](const std::string& raw, QueryLevel level = QueryLevel::kStudy) {
    auto parsed = ParseQidoQuery(level, raw);
    parsed->within_studies = std::vector<std::string>{"1.2.3.1", "1.2.3.3"};
    return *queries.Search(a_, *parsed, "http://h/dicomweb");
  };
  EXPECT_EQ(search("").size(), 2u);
  // Pages run over the allowed studies: two pages of one give both of them.
  auto first = search("limit=1&offset=0"), second = search("limit=1&offset=1");
  ASSERT_EQ(first.size(), 1u);
  ASSERT_EQ(second.size(), 1u);
  std::set<std::string> paged = {first[0]["0020000D"]["Value"][0], second[0]["0020000D"]["Value"][0]};
  EXPECT_EQ(paged, (std::set<std::string>{"1.2.3.1", "1.2.3.3"}));
  EXPECT_EQ(search("StudyInstanceUID=1.2.3.2").size(), 0u);
  EXPECT_EQ(search("StudyInstanceUID=1.2.3.2%5C1.2.3.3").size(), 1u);
  EXPECT_EQ(search("", QueryLevel::kInstance).size(), 2u);
}

TEST_F(ArchiveServicesTest, StudyResultsCarryComputedAttributes) {
  ASSERT_TRUE(Store(a_, {testing::MakeCt(Slice(1)), testing::MakeCt(Slice(2))})[0].stored);
  auto studies = Search(a_, QueryLevel::kStudy, "");
  ASSERT_EQ(studies.size(), 1u);
  EXPECT_EQ(studies[0]["00201208"]["Value"][0], 2);
  EXPECT_EQ(studies[0]["00201206"]["Value"][0], 1);
  EXPECT_EQ(studies[0]["00080061"]["Value"][0], "CT");
  EXPECT_EQ(studies[0]["00081190"]["Value"][0], "http://h/dicomweb/studies/" + Slice(1).study_uid);
  auto series = Search(a_, QueryLevel::kSeries, "");
  EXPECT_EQ(series[0]["00201209"]["Value"][0], 2);
}

TEST_F(ArchiveServicesTest, InstanceSearchPagesAndIncludesFields) {
  std::vector<std::string> files;
  for (int i = 1; i <= 5; ++i) files.push_back(testing::MakeCt(Slice(i)));
  Store(a_, files);
  auto page = Search(a_, QueryLevel::kInstance, "limit=2&offset=1");
  ASSERT_EQ(page.size(), 2u);
  EXPECT_EQ(page[0]["00200013"]["Value"][0], 2);
  auto with_field = Search(a_, QueryLevel::kInstance, "InstanceNumber=3&includefield=PhotometricInterpretation");
  ASSERT_EQ(with_field.size(), 1u);
  EXPECT_EQ(with_field[0]["00280004"]["Value"][0], "MONOCHROME2");
}

TEST_F(ArchiveServicesTest, MetadataResolvesBulkDataUris) {
  Store(a_, {testing::MakeCt(Slice(1))});
  Retrieval retrieval(*archive_);
  auto rows = retrieval.Locate(a_, {Slice(1).study_uid, "", ""}, /*with_metadata=*/true);
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 1u);
  auto json = retrieval.InstanceMetadata(a_, rows->front(), "http://h/dicomweb");
  ASSERT_TRUE(json);
  auto parsed = nlohmann::json::parse(*json);
  std::string uri = parsed["7FE00010"]["BulkDataURI"];
  EXPECT_EQ(uri.rfind("http://h/dicomweb/studies/", 0), 0u);
}

TEST_F(ArchiveServicesTest, RecoveryKeepsIndexedStagedBlobsAndDropsTheRest) {
  // As a crash would leave them: one blob indexed but not moved into place, one staged
  // but never indexed.
  std::string file = testing::MakeCt(Slice(1));
  ASSERT_TRUE(Store(a_, {file})[0].stored);
  Retrieval retrieval(*archive_);
  auto row = retrieval.Locate(a_, {Slice(1).study_uid, "", ""})->front();
  auto folder = storage::FolderBlobStore::Open((dir_ / "blobs").string(), false);
  std::string final_path = (*folder)->PathOf({a_, row.blob_name});
  fs::rename(final_path, (*folder)->StagedPathOf({a_, row.blob_name}));
  MemorySource orphan_bytes("never acknowledged");
  auto orphan = blobs_->Stage({a_, "0001cccccccccccccccccccc"}, orphan_bytes);
  ASSERT_TRUE(orphan && blobs_->Sync(std::span(&*orphan, 1)));

  auto report = RecoverInterruptedIngest(*archive_);
  ASSERT_TRUE(report);
  EXPECT_EQ(report->settled, 1u);
  EXPECT_EQ(report->discarded, 1u);
  EXPECT_TRUE(fs::exists(final_path));
  EXPECT_TRUE(blobs_->ListStaged()->empty());
  EXPECT_EQ(*retrieval.ReadWhole(a_, row), file);
}

TEST_F(ArchiveServicesTest, CatalogHoldsNoPatientNameInClear) {
  Store(a_, {testing::MakeCt(Slice(1, "ZZSECRET^PATIENT"))});
  catalog_.reset();
  for (const auto& entry : fs::recursive_directory_iterator(dir_)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    EXPECT_EQ(bytes.find("ZZSECRET"), std::string::npos) << entry.path();
    EXPECT_EQ(bytes.find("PID001"), std::string::npos) << entry.path();
  }
}

// Descriptors this process has open now.
int OpenDescriptors() {
  int count = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator("/proc/self/fd")) ++count;
  return count;
}

TEST_F(ArchiveServicesTest, SpooledUploadsHoldNoDescriptorAndReadBackAsSent) {
  const int before = OpenDescriptors();
  UploadSpool spool(*blobs_, a_, 1 << 20);
  for (int i = 0; i < 50; ++i) {
    const std::string body = "file " + std::to_string(i);
    MemorySource source(body);
    auto added = spool.Add("f" + std::to_string(i), source);
    ASSERT_TRUE(added && *added);
    auto back = (*added)->ReadAll(1 << 20);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, body);
  }
  EXPECT_EQ(spool.size(), 50u);
  EXPECT_LE(OpenDescriptors(), before + 2) << "a spooled file kept its descriptor open";
}

TEST_F(ArchiveServicesTest, AnEmptyUploadedFileIsNotKept) {
  UploadSpool spool(*blobs_, a_, 1 << 20);
  MemorySource empty("");
  auto added = spool.Add("nothing-chosen", empty);
  ASSERT_TRUE(added);
  EXPECT_EQ(*added, nullptr);
  EXPECT_EQ(spool.size(), 0u);
}

TEST_F(ArchiveServicesTest, AnUploadOfTooManyFilesIsRefused) {
  UploadSpool spool(*blobs_, a_, 1 << 20);
  for (std::size_t i = 0; i < UploadSpool::kMaxSpooledFiles; ++i) {
    MemorySource source("x");
    ASSERT_TRUE(spool.Add("f", source));
  }
  MemorySource one_more("x");
  auto refused = spool.Add("f", one_more);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kTooLarge);
}

}  // namespace
}  // namespace vg::services
