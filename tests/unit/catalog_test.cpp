#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <set>
#include <thread>

#include "auth/login_throttle.h"
#include "catalog_backends.h"
#include "core/byte_source.h"
#include "core/clock.h"
#include "storage/blob_collector.h"
#include "storage/intent_blob_store.h"
#include "storage/memory_blob_store.h"
#include "crypto/crypto.h"
#include "storage/sql_catalog.h"
#include "storage/sql_schema.h"

namespace vg::storage {
namespace {

namespace fs = std::filesystem;

// The catalog's contract, on every backend (catalog_backends.h).
class CatalogTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!backend_.SetUp(GetParam())) GTEST_SKIP() << backend_.skip_reason;
    auto opened = backend_.Open();
    ASSERT_TRUE(opened) << opened.error().detail;
    catalog_ = std::move(*opened);
    a_ = catalog_->CreateTenant("alpha", "Alpha", {1, 2, 3}, "ALPHA")->id;
    b_ = catalog_->CreateTenant("beta", "Beta", {4, 5, 6}, "BETA")->id;
  }
  void TearDown() override {
    catalog_.reset();
    backend_.TearDown();
  }
  static NewInstance Instance(const std::string& study, const std::string& series, const std::string& sop,
                              const std::string& date = "20240102", const std::string& modality = "CT") {
    NewInstance in;
    in.study_uid = study;
    in.study_date = date;
    in.study_time = "101500";
    in.series_uid = series;
    in.modality = modality;
    in.series_number = 1;
    in.sop_uid = sop;
    in.sop_class_uid = "1.2.840.10008.5.1.4.1.1.2";
    in.instance_number = 1;
    in.transfer_syntax = "1.2.840.10008.1.2.1";
    in.size = 100;
    in.blob_name = "0001" + crypto::RandomHexId(10);
    in.study_attrs = {1};
    in.series_attrs = {2};
    in.metadata = {3};
    return in;
  }
  // An export job of `tenant`, claimed and finished with `result` (its bundle is named there).
  bool FinishedExport(std::int64_t tenant, const std::string& result) {
    JobRecord job;
    job.tenant_id = tenant;
    job.kind = "export";
    job.created_by = "test";
    if (!catalog_->EnqueueJob(job)) return false;
    auto claimed = catalog_->ClaimJob({"w", {"export"}, 60, 2, {}});
    return claimed && *claimed && catalog_->FinishJob((*claimed)->id, "w", "succeeded", result, "");
  }
  testing::CatalogBackend backend_;
  std::unique_ptr<SqlCatalog> catalog_;
  std::int64_t a_ = 0, b_ = 0;
};

TEST_P(CatalogTest, DuplicateTenantSlugIsAConflict) {
  auto again = catalog_->CreateTenant("alpha", "Again", {1}, "AGAIN");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);
}

TEST_P(CatalogTest, CommittedInstancesAreVisibleOnlyToTheirTenant) {
  ASSERT_TRUE(catalog_->CommitInstances(a_, {Instance("1.1", "1.1.1", "1.1.1.1")}, false));
  auto mine = catalog_->SearchStudies(a_, {});
  ASSERT_TRUE(mine);
  ASSERT_EQ(mine->size(), 1u);
  EXPECT_EQ((*mine)[0].instance_count, 1);
  StudyFilter by_uid;
  by_uid.study_uids = {"1.1"};
  EXPECT_TRUE(catalog_->SearchStudies(b_, by_uid)->empty());
  InstanceFilter guess;
  guess.sop_uids = {"1.1.1.1"};
  EXPECT_TRUE(catalog_->SearchInstances(b_, guess)->empty());
  EXPECT_FALSE(catalog_->FindInstance(b_, "1.1.1.1")->has_value());
}

TEST_P(CatalogTest, SameSopUidInTwoTenantsIsTwoInstances) {
  ASSERT_TRUE(catalog_->CommitInstances(a_, {Instance("1.1", "1.1.1", "1.1.1.1")}, false));
  ASSERT_TRUE(catalog_->CommitInstances(b_, {Instance("1.1", "1.1.1", "1.1.1.1")}, false));
  EXPECT_EQ(catalog_->Stats()->instances, 2);
}

TEST_P(CatalogTest, ExistingSopUidIsReportedNotOverwrittenUnlessReplacing) {
  auto first = Instance("1.1", "1.1.1", "1.1.1.1");
  ASSERT_TRUE(catalog_->CommitInstances(a_, {first}, false));
  auto second = Instance("1.1", "1.1.1", "1.1.1.1");
  auto result = catalog_->CommitInstances(a_, {second}, false);
  ASSERT_TRUE(result);
  EXPECT_EQ((*result)[0].outcome, CommitOutcome::kExists);
  EXPECT_EQ((*result)[0].existing_blob, first.blob_name);
  EXPECT_EQ((*catalog_->FindInstance(a_, "1.1.1.1"))->blob_name, first.blob_name);
  auto replaced = catalog_->CommitInstances(a_, {second}, true);
  EXPECT_EQ((*replaced)[0].outcome, CommitOutcome::kReplaced);
  EXPECT_EQ((*catalog_->FindInstance(a_, "1.1.1.1"))->blob_name, second.blob_name);
}

TEST_P(CatalogTest, StudyFiltersNarrowByDateRangeAndModality) {
  ASSERT_TRUE(catalog_->CommitInstances(a_, {Instance("1.1", "1.1.1", "1.1.1.1", "20200101", "CT"),
                                             Instance("1.2", "1.2.1", "1.2.1.1", "20210101", "MR"),
                                             Instance("1.3", "1.3.1", "1.3.1.1", "20220101", "CT")},
                                        false));
  StudyFilter range;
  range.study_date = Range{"20200601", "20221231"};
  EXPECT_EQ(catalog_->SearchStudies(a_, range)->size(), 2u);
  StudyFilter ct;
  ct.modalities = {"CT"};
  EXPECT_EQ(catalog_->SearchStudies(a_, ct)->size(), 2u);
  StudyFilter paged;
  paged.limit = 1;
  paged.offset = 1;
  auto page = catalog_->SearchStudies(a_, paged);
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ((*page)[0].study_uid, "1.2");  // newest first
}

TEST_P(CatalogTest, SeriesAndInstanceCountsAreComputed) {
  ASSERT_TRUE(catalog_->CommitInstances(a_, {Instance("1.1", "1.1.1", "1.1.1.1"), Instance("1.1", "1.1.1", "1.1.1.2"),
                                             Instance("1.1", "1.1.2", "1.1.2.1", "20240102", "SEG")},
                                        false));
  auto study = catalog_->SearchStudies(a_, {});
  ASSERT_EQ(study->size(), 1u);
  EXPECT_EQ((*study)[0].series_count, 2);
  EXPECT_EQ((*study)[0].instance_count, 3);
  EXPECT_EQ((*study)[0].modalities.size(), 2u);
  auto series = catalog_->SearchSeries(a_, {});
  ASSERT_EQ(series->size(), 2u);
}

TEST_P(CatalogTest, KnowsWhichBlobsAreIndexedPerTenant) {
  auto committed = Instance("1.1", "1.1.1", "1.1.1.1");
  ASSERT_TRUE(catalog_->CommitInstances(a_, {committed}, false));
  EXPECT_TRUE(*catalog_->IsBlobIndexed(a_, committed.blob_name));
  EXPECT_FALSE(*catalog_->IsBlobIndexed(b_, committed.blob_name));
  EXPECT_FALSE(*catalog_->IsBlobIndexed(a_, "0001deadbeefdeadbeef"));
}

TEST_P(CatalogTest, RevokedTokenStaysFoundButMarked) {
  Digest hash(32, 7);
  UserRecord owner;
  owner.tenant_id = a_;
  owner.username = "service:alpha";
  owner.role = "service";
  auto user = catalog_->CreateUser(owner);
  ASSERT_TRUE(user);
  ASSERT_TRUE(catalog_->CreateToken(a_, user->id, "script", hash, {"dicomweb:read"}, std::nullopt));
  EXPECT_EQ(catalog_->RevokeToken(a_, "script", user->id + 1).error().code, ErrorCode::kNotFound);  // not theirs
  ASSERT_TRUE(catalog_->RevokeToken(a_, "script", user->id));
  auto found = catalog_->FindTokenByHash(hash);
  ASSERT_TRUE(found);
  EXPECT_TRUE(found->revoked_at.has_value());
  EXPECT_EQ(found->owner, "service:alpha");
  EXPECT_EQ(catalog_->RevokeToken(b_, "script", std::nullopt).error().code, ErrorCode::kNotFound);
}

TEST_P(CatalogTest, ReopeningKeepsDataAndSchemaVersion) {
  ASSERT_TRUE(catalog_->CommitInstances(a_, {Instance("1.1", "1.1.1", "1.1.1.1")}, false));
  catalog_.reset();
  auto reopened = backend_.Open();
  ASSERT_TRUE(reopened);
  EXPECT_EQ((*reopened)->Stats()->instances, 1);
}

TEST_P(CatalogTest, NewerSchemaIsRefusedWithAClearMessage) {
  catalog_.reset();
  {
    auto db = backend_.Raw();
    ASSERT_TRUE(db->Exec("UPDATE schema_version SET version = 999"));
  }
  auto refused = backend_.Open();
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().public_message.find("newer than this voxelgate"), std::string::npos);
}

}  // namespace
}  // namespace vg::storage

namespace vg::storage {
namespace {

TEST_P(CatalogTest, TenantsAreFoundByTheirAeTitleAndTitlesAreUnique) {
  auto found = catalog_->FindTenantByAeTitle("BETA");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->slug, "beta");
  EXPECT_FALSE(found->accept_any_caller);
  auto clash = catalog_->CreateTenant("gamma", "Gamma", {7}, "BETA");
  ASSERT_FALSE(clash);
  EXPECT_NE(clash.error().public_message.find("AE title"), std::string::npos);
  ASSERT_TRUE(catalog_->SetAcceptAnyCaller(b_, true));
  EXPECT_TRUE(catalog_->FindTenantByAeTitle("BETA")->accept_any_caller);
}

TEST_P(CatalogTest, DicomNodesBelongToOneTenant) {
  ASSERT_TRUE(catalog_->AddDicomNode({a_, "PACS", "127.0.0.1", 104}));
  EXPECT_EQ(catalog_->AddDicomNode({a_, "PACS", "127.0.0.2", 105}).error().code, ErrorCode::kConflict);
  ASSERT_TRUE(catalog_->AddDicomNode({b_, "PACS", "10.0.0.1", 104}));
  auto nodes = catalog_->ListDicomNodes(a_);
  ASSERT_EQ(nodes->size(), 1u);
  EXPECT_EQ((*nodes)[0].host, "127.0.0.1");
  ASSERT_TRUE(catalog_->RemoveDicomNode(a_, "PACS"));
  EXPECT_TRUE(catalog_->ListDicomNodes(a_)->empty());
  EXPECT_EQ(catalog_->ListDicomNodes(b_)->size(), 1u);
}

TEST(CatalogMigration, VersionOneDatabaseIsMigratedWithAeTitlesAndServiceUsers) {
  crypto::Initialize();
  auto dir = fs::temp_directory_path() / ("vg-mig-" + crypto::RandomHexId(6));
  fs::create_directories(dir);
  std::string path = (dir / "catalog.db").string();
  {
    // A database as version 1 left it.
    auto db = sql::Db::OpenSqlite(path, false);
    ASSERT_TRUE(db->Exec("CREATE TABLE schema_version(version INTEGER NOT NULL); INSERT INTO schema_version VALUES(1);"
                         "CREATE TABLE tenants(id INTEGER PRIMARY KEY, slug TEXT NOT NULL UNIQUE, name TEXT NOT NULL,"
                         " wrapped_key BLOB NOT NULL, created_at INTEGER NOT NULL);"
                         "INSERT INTO tenants(slug, name, wrapped_key, created_at) VALUES('old-clinic','Old',x'01',0);"
                         "CREATE TABLE api_tokens(id INTEGER PRIMARY KEY, tenant_id INTEGER NOT NULL, name TEXT NOT NULL,"
                         " token_hash BLOB NOT NULL UNIQUE, scopes TEXT NOT NULL, created_at INTEGER NOT NULL,"
                         " expires_at INTEGER, revoked_at INTEGER, UNIQUE(tenant_id, name));"
                         "INSERT INTO api_tokens(tenant_id, name, token_hash, scopes, created_at)"
                         " VALUES(1, 'pacs', x'0102', 'dicomweb:write', 0);"
                         "CREATE TABLE series(id INTEGER PRIMARY KEY, tenant_id INTEGER, modality TEXT);"
                         "CREATE TABLE instances(id INTEGER PRIMARY KEY, tenant_id INTEGER, blob_name TEXT);"));
  }
  auto catalog = SqlCatalog::Open(path, false);
  ASSERT_TRUE(catalog) << catalog.error().detail;
  auto tenant = (*catalog)->FindTenant("old-clinic");
  ASSERT_TRUE(tenant);
  EXPECT_EQ(tenant->ae_title, "OLD-CLINIC");
  // Foundation-era tokens now belong to the tenant's service user.
  auto token = (*catalog)->FindTokenByHash({1, 2});
  ASSERT_TRUE(token);
  auto owner = (*catalog)->FindUserById(token->user_id);
  ASSERT_TRUE(owner);
  EXPECT_EQ(owner->username, "service:old-clinic");
  EXPECT_EQ(owner->role, "service");
  EXPECT_EQ(owner->tenant_id, tenant->id);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace vg::storage

namespace vg::storage {
namespace {

AuditEvent Event(const std::string& action, std::optional<std::int64_t> tenant = 1) {
  AuditEvent e;
  e.tenant_id = tenant;
  e.actor = "script";
  e.actor_kind = "token";
  e.action = action;
  e.object = "study=1.2.3";
  e.outcome = "ok 200";
  e.remote = "127.0.0.1";
  return e;
}

TEST_P(CatalogTest, AuditFiltersByTenantActorTenantActionAndPage) {
  AuditEvent mine{a_, a_, "alice", "user", "dicomweb.qido", "", "ok 200", "127.0.0.1", ""};
  AuditEvent support{a_, b_, "bob", "support", "dicomweb.wado", "study=1.2", "ok 200", "127.0.0.1", "grant 1"};
  AuditEvent other{b_, b_, "carol", "user", "session.login", "", "denied 401", "127.0.0.1", ""};
  ASSERT_TRUE(catalog_->AppendAudit({mine, support, other, mine}));
  AuditFilter clinic;
  clinic.tenant_id = a_;
  EXPECT_EQ(catalog_->ListAudit(clinic)->size(), 3u);
  AuditFilter vendor;
  vendor.tenant_id = b_;
  vendor.or_actor_tenant = true;
  EXPECT_EQ(catalog_->ListAudit(vendor)->size(), 2u);  // carol's login and bob's access to alpha
  AuditFilter wado = clinic;
  wado.action_prefix = "dicomweb.w";
  ASSERT_EQ(catalog_->ListAudit(wado)->size(), 1u);
  EXPECT_EQ((*catalog_->ListAudit(wado))[0].event.actor_tenant_id, b_);
  AuditFilter page = clinic;
  page.newest_first = true;
  page.limit = 2;
  auto first = catalog_->ListAudit(page);
  ASSERT_EQ(first->size(), 2u);
  EXPECT_GT((*first)[0].id, (*first)[1].id);
  page.before_id = (*first)[1].id;
  EXPECT_EQ(catalog_->ListAudit(page)->size(), 1u);
  EXPECT_FALSE(catalog_->VerifyAudit()->first_bad_id);
}

TEST_P(CatalogTest, DisablingAUserRevokesTheirTokensForGood) {
  UserRecord person{0, a_, "alice", "radiologist", "hash", false, std::nullopt, 0};
  auto alice = catalog_->CreateUser(person);
  ASSERT_TRUE(alice);
  Digest hash(32, 9);
  ASSERT_TRUE(catalog_->CreateToken(a_, alice->id, "slicer", hash, {"dicomweb:read"}, std::nullopt));
  ASSERT_TRUE(catalog_->SetUserDisabled(alice->id, true));
  ASSERT_TRUE(catalog_->SetUserDisabled(alice->id, false));
  EXPECT_TRUE(catalog_->FindTokenByHash(hash)->revoked_at.has_value());
}

TEST_P(CatalogTest, GrantsAreListedPerTenantAndRevokedOnlyByTheirTenant) {
  SupportGrantRecord grant;
  grant.tenant_id = a_;
  grant.granted_by = "admin-a";
  grant.expires_at = 4102444800;
  auto created = catalog_->CreateGrant(grant);
  ASSERT_TRUE(created);
  EXPECT_EQ(catalog_->ListGrants(a_)->size(), 1u);
  EXPECT_EQ(catalog_->ListGrants(b_)->size(), 0u);
  EXPECT_EQ(catalog_->ListGrants(std::nullopt)->size(), 1u);
  EXPECT_EQ(catalog_->RevokeGrant(b_, created->id).error().code, ErrorCode::kNotFound);
  ASSERT_TRUE(catalog_->RevokeGrant(a_, created->id));
  EXPECT_FALSE((*catalog_->ListGrants(a_))[0].ActiveAt(0));
}

TEST_P(CatalogTest, AuditChainOfAppendedRecordsVerifies) {
  ASSERT_TRUE(catalog_->AppendAudit({Event("dicomweb.stow"), Event("dicomweb.qido")}));
  ASSERT_TRUE(catalog_->AppendAudit({Event("dimse.find", std::nullopt)}));
  auto result = catalog_->VerifyAudit();
  ASSERT_TRUE(result);
  EXPECT_EQ(result->records, 3);
  EXPECT_FALSE(result->first_bad_id.has_value());
  auto mine = catalog_->ListAudit({.tenant_id = 1, .after_id = std::nullopt, .limit = 10});
  EXPECT_EQ(mine->size(), 2u);
}

TEST_P(CatalogTest, AuditVerificationNamesTheFirstAlteredRecord) {
  ASSERT_TRUE(catalog_->AppendAudit({Event("a"), Event("b"), Event("c")}));
  ASSERT_TRUE(backend_.Raw()->Exec("UPDATE audit_log SET outcome = 'denied' WHERE id = 2"));
  auto result = catalog_->VerifyAudit();
  ASSERT_TRUE(result->first_bad_id);
  EXPECT_EQ(*result->first_bad_id, 2);
}

TEST_P(CatalogTest, AuditVerificationCatchesDeletedAndReorderedRecords) {
  ASSERT_TRUE(catalog_->AppendAudit({Event("a"), Event("b"), Event("c"), Event("d")}));
  {
    auto db = backend_.Raw();
    ASSERT_TRUE(db->Exec("DELETE FROM audit_log WHERE id = 2"));
  }
  EXPECT_EQ(*catalog_->VerifyAudit()->first_bad_id, 3);
  {
    // Swap the contents of two rows (a reordering that keeps the ids).
    auto db = backend_.Raw();
    ASSERT_TRUE(db->Exec("UPDATE audit_log SET action = CASE id WHEN 3 THEN 'd' WHEN 4 THEN 'c' END WHERE id IN (3,4)"));
    ASSERT_TRUE(db->Exec("INSERT INTO audit_log SELECT 2, ts_ms, tenant_id, actor, actor_kind, 'b', object, outcome,"
                         " remote, detail, prev_hash, hash, actor_tenant_id FROM audit_log WHERE id = 1"));
  }
  auto result = catalog_->VerifyAudit();
  ASSERT_TRUE(result->first_bad_id);
  EXPECT_LE(*result->first_bad_id, 3);
}

TEST_P(CatalogTest, AuditAppendsFromTwoConnectionsStayOneChain) {
  auto other = backend_.Open();
  ASSERT_TRUE(other);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(catalog_->AppendAudit({Event("server")}));
    ASSERT_TRUE((*other)->AppendAudit({Event("admin-cli")}));
  }
  auto result = catalog_->VerifyAudit();
  EXPECT_EQ(result->records, 10);
  EXPECT_FALSE(result->first_bad_id.has_value());
}

// ---- concurrency: several connections (processes, nodes) writing at once ----

TEST_P(CatalogTest, ParallelCommitsIntoOneStudyFromTwoConnectionsMakeOneStudyAndEachInstanceOnce) {
  auto other = backend_.Open();
  ASSERT_TRUE(other) << other.error().detail;
  SqlCatalog* catalogs[2] = {catalog_.get(), other->get()};
  // Both connections send 40 instances of one series, 20 of them sent by both.
  std::vector<CommitResult> results[2];
  std::vector<std::thread> threads;
  for (int c = 0; c < 2; ++c) {
    threads.emplace_back([&, c] {
      for (int i = 0; i < 40; i += 4) {
        std::vector<NewInstance> batch;
        for (int k = i; k < i + 4; ++k) {
          const int uid = k < 20 ? k : k + 100 * (c + 1);  // 0..19 shared, the rest each connection's own
          batch.push_back(Instance("9.1", "9.1.1", "9.1.1." + std::to_string(uid)));
        }
        auto done = catalogs[c]->CommitInstances(a_, batch, false);
        ASSERT_TRUE(done) << done.error().detail;
        results[c].insert(results[c].end(), done->begin(), done->end());
      }
    });
  }
  for (auto& t : threads) t.join();
  auto stats = catalog_->Stats();
  EXPECT_EQ(stats->studies, 1);
  EXPECT_EQ(stats->series, 1);
  EXPECT_EQ(stats->instances, 60);
  int stored = 0, existed = 0;
  for (auto& r : results)
    for (auto& one : r) (one.outcome == CommitOutcome::kStored ? stored : existed)++;
  EXPECT_EQ(stored, 60);
  EXPECT_EQ(existed, 20);
}

TEST_P(CatalogTest, ParallelAuditAppendsFromTwoConnectionsStayOneVerifiableChain) {
  auto other = backend_.Open();
  ASSERT_TRUE(other);
  SqlCatalog* catalogs[2] = {catalog_.get(), other->get()};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) ASSERT_TRUE(catalogs[t % 2]->AppendAudit({Event("writer" + std::to_string(t))}));
    });
  for (auto& t : threads) t.join();
  auto result = catalog_->VerifyAudit();
  ASSERT_TRUE(result);
  EXPECT_EQ(result->records, 100);
  EXPECT_FALSE(result->first_bad_id.has_value());
}

TEST_P(CatalogTest, TwoClaimersAtOnceNeverExceedTheClinicsRunningCap) {
  auto other = backend_.Open();
  ASSERT_TRUE(other);
  for (int i = 0; i < 8; ++i) {
    JobRecord job;
    job.tenant_id = a_;
    job.kind = "algorithm";
    job.created_by = "test";
    ASSERT_TRUE(catalog_->EnqueueJob(job));
  }
  JobRecord theirs;
  theirs.tenant_id = b_;
  theirs.kind = "algorithm";
  theirs.created_by = "test";
  ASSERT_TRUE(catalog_->EnqueueJob(theirs));
  SqlCatalog* catalogs[2] = {catalog_.get(), other->get()};
  std::atomic<int> claimed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      ClaimOptions options{"worker" + std::to_string(t), {"algorithm"}, 60, 2, {}};
      for (int i = 0; i < 5; ++i) {
        auto job = catalogs[t % 2]->ClaimJob(options);
        ASSERT_TRUE(job) << job.error().detail;
        if (*job) ++claimed;
      }
    });
  for (auto& t : threads) t.join();
  // Two of clinic a's (its cap) and clinic b's one; the rest wait.
  EXPECT_EQ(claimed.load(), 3);
  auto running = catalog_->ListJobs(a_, {.kind = std::nullopt, .state = "running"});
  EXPECT_EQ(running->size(), 2u);
}

TEST_P(CatalogTest, FailedSignInsCountedOnOneNodeAreThrottledOnAnother) {
  auto other = backend_.Open();
  ASSERT_TRUE(other);
  auth::LoginThrottle node_a({}, catalog_.get()), node_b({}, other->get());
  const std::int64_t now = 1'700'000'000'000;
  for (int i = 0; i < 3; ++i) node_a.RecordFailure("rad", "10.0.0.9", now + i);
  for (int i = 3; i < 6; ++i) node_b.RecordFailure("rad", "10.0.0.9", now + i);
  // Six failures from one address at one account: over the five free ones, on both nodes.
  EXPECT_GT(node_a.BlockedForMs("rad", "10.0.0.9", now + 10), 0);
  EXPECT_GT(node_b.BlockedForMs("rad", "10.0.0.9", now + 10), 0);
  EXPECT_EQ(node_b.BlockedForMs("rad", "10.0.0.10", now + 10), 0);  // the owner elsewhere is not held
  // Signing in clears that count everywhere.
  node_a.RecordSuccess("rad", "10.0.0.9");
  EXPECT_EQ(node_b.BlockedForMs("rad", "10.0.0.9", now + 10), 0);
}

TEST_P(CatalogTest, TheCollectorRemovesOnlyOldUncommittedBlobsAndKeepsEveryReferencedOne) {
  IntentRecordingBlobStore blobs(std::make_unique<MemoryBlobStore>(), *catalog_);
  int aborted_calls = 0;
  BlobCollector collector(*catalog_, blobs, [&](auto) -> Result<size_t> { ++aborted_calls; return 0; },
                          std::chrono::seconds(60));
  auto put = [&](const std::string& name) {
    MemorySource data("bytes");
    return blobs.Put({a_, name}, data);
  };
  // Written, never committed (the node died): an orphan once the grace has passed.
  const std::string orphan = "0001" + crypto::RandomHexId(10);
  ASSERT_TRUE(put(orphan));
  // Written and committed as an instance (a shared catalog forgets its intent at once).
  NewInstance committed = Instance("7.1", "7.1.1", "7.1.1.1");
  ASSERT_TRUE(put(committed.blob_name));
  ASSERT_TRUE(catalog_->CommitInstances(a_, {committed}, false));
  // Written and named by a finished export's result: its intent waits for the collector.
  const std::string bundle = crypto::RandomHexId(16);
  ASSERT_TRUE(put(bundle));
  ASSERT_TRUE(FinishedExport(a_, "{\"blob\":\"" + bundle + "\"}"));
  const std::int64_t now = UnixSeconds();
  // Within the grace nothing is touched.
  auto early = collector.Collect(now);
  ASSERT_TRUE(early) << early.error().detail;
  EXPECT_EQ(early->removed + early->kept, 0);
  EXPECT_TRUE(blobs.Get({a_, orphan}));
  // After it: the orphan goes, the committed blob stays, and neither intent is left.
  auto late = collector.Collect(now + 61);
  ASSERT_TRUE(late) << late.error().detail;
  EXPECT_EQ(late->removed, 1);
  EXPECT_EQ(late->kept, catalog_->Shared() ? 1 : 2);
  EXPECT_FALSE(blobs.Get({a_, orphan}));
  EXPECT_TRUE(blobs.Get({a_, committed.blob_name}));
  EXPECT_TRUE(blobs.Get({a_, bundle}));
  EXPECT_TRUE(catalog_->StaleBlobIntents(now + 1000, 10)->empty());
  EXPECT_EQ(aborted_calls, 2);
}

TEST_P(CatalogTest, AnExportsBundleNamedInItsJobResultCountsAsReferenced) {
  const std::string bundle = crypto::RandomHexId(16);
  ASSERT_TRUE(FinishedExport(a_, "{\"blob\":\"" + bundle + "\"}"));
  EXPECT_TRUE(*catalog_->IsBlobReferenced({a_, bundle}));
  EXPECT_FALSE(*catalog_->IsBlobReferenced({b_, bundle}));  // another clinic's name is not it
  EXPECT_FALSE(*catalog_->IsBlobReferenced({a_, crypto::RandomHexId(16)}));
}

// A backup copies what ReferencedBlobs lists: it must name every blob IsBlobReferenced
// would keep, and nothing else.
TEST_P(CatalogTest, ReferencedBlobsListsExactlyWhatIsBlobReferencedKeeps) {
  ASSERT_TRUE(catalog_->CommitInstances(a_, {Instance("1.1", "1.1.1", "1.1.1.1"), Instance("1.1", "1.1.1", "1.1.1.2")}, false));
  ASSERT_TRUE(catalog_->CommitInstances(b_, {Instance("2.1", "2.1.1", "2.1.1.1")}, false));
  const std::string bundle = crypto::RandomHexId(16);
  ASSERT_TRUE(FinishedExport(a_, "{\"blob\":\"" + bundle + "\",\"cases\":1}"));
  auto listed = catalog_->ReferencedBlobs();
  ASSERT_TRUE(listed) << listed.error().detail;
  ASSERT_EQ(listed->size(), 4u);  // three instances and the export's bundle
  for (const auto& key : *listed) EXPECT_TRUE(*catalog_->IsBlobReferenced(key)) << key.name;
  EXPECT_TRUE(std::any_of(listed->begin(), listed->end(), [&](const BlobKey& k) { return k.tenant_id == a_ && k.name == bundle; }));
  EXPECT_TRUE(std::is_sorted(listed->begin(), listed->end(), [](const BlobKey& x, const BlobKey& y) {
    return std::tie(x.tenant_id, x.name) < std::tie(y.tenant_id, y.name);
  }));
}

TEST_P(CatalogTest, AJobQueuedThroughOneConnectionWakesTheListenersOfAnother) {
  std::atomic<int> wakes{0};
  auto listener = catalog_->ListenForJobs([&] { ++wakes; });
  if (!catalog_->Shared()) {
    EXPECT_EQ(listener, nullptr) << "one machine: the process that queues wakes its own workers";
    return;
  }
  ASSERT_NE(listener, nullptr);
  // The listener calls once when it has connected (anything sent before it listened).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (wakes.load() == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_GE(wakes.load(), 1) << "the listener connected";
  const int before = wakes.load();
  auto other = backend_.Open();
  ASSERT_TRUE(other);
  JobRecord job;
  job.tenant_id = a_;
  job.kind = "export";
  job.created_by = "test";
  ASSERT_TRUE((*other)->EnqueueJob(job));
  while (wakes.load() == before && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_GT(wakes.load(), before);
}

TEST_P(CatalogTest, SubmissionsOfOneClinicOnTwoConnectionsTakeTurnsSoACheckedLimitHolds) {
  auto other = backend_.Open();
  ASSERT_TRUE(other);
  SqlCatalog* catalogs[2] = {catalog_.get(), other->get()};
  // Each body checks "fewer than 2 queued" and then enqueues, with a pause in between that
  // invites a race: taking turns is what keeps the limit.
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      auto made = catalogs[t % 2]->ForTenantAlone(a_, [&]() -> Result<JobRecord> {
        auto queued = catalogs[t % 2]->ListJobs(a_, {.kind = "algorithm", .state = "queued"});
        if (!queued) return std::unexpected(queued.error());
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        if (queued->size() >= 2) return Fail(ErrorCode::kResourceExhausted, "quota_exhausted");
        JobRecord job;
        job.tenant_id = a_;
        job.kind = "algorithm";
        job.created_by = "test";
        return catalogs[t % 2]->EnqueueJob(job);
      });
      if (!made) ++refused;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(catalog_->ListJobs(a_, {.kind = "algorithm", .state = "queued"})->size(), 2u);
  EXPECT_EQ(refused.load(), 2);
}

TEST_P(CatalogTest, TwoBatchesOfTheSameInstancesInOppositeOrderBothCommitWhateverTheInterleaving) {
  // On PostgreSQL each waits for the other's uncommitted rows: a deadlock, which the server
  // breaks by failing one transaction, which the catalog runs again.
  auto other = backend_.Open();
  ASSERT_TRUE(other);
  for (int round = 0; round < 3; ++round) {
    std::vector<NewInstance> forward;
    for (int k = 0; k < 40; ++k)
      forward.push_back(Instance("8." + std::to_string(round), "8." + std::to_string(round) + ".1",
                                 "8." + std::to_string(round) + ".1." + std::to_string(k)));
    std::vector<NewInstance> backward(forward.rbegin(), forward.rend());
    for (auto& in : backward) in.blob_name = "0001" + crypto::RandomHexId(10);
    Result<std::vector<CommitResult>> results[2];
    std::thread first([&] { results[0] = catalog_->CommitInstances(a_, forward, false); });
    std::thread second([&] { results[1] = (*other)->CommitInstances(a_, backward, false); });
    first.join();
    second.join();
    ASSERT_TRUE(results[0]) << results[0].error().detail;
    ASSERT_TRUE(results[1]) << results[1].error().detail;
    int stored = 0;
    for (auto& r : results)
      for (auto& one : *r) stored += one.outcome == CommitOutcome::kStored;
    EXPECT_EQ(stored, 40) << "each instance stored once, by one of the two";
  }
}

TEST(PostgresConnection, AFailedConnectionNamesTheCatalogWithoutItsPasswords) {
  // Nothing listens on port 1: the connection is refused at once.
  for (const std::string uri : {"postgresql://vg:hunter2secret@127.0.0.1:1/voxelgate",
                                "postgresql://vg@127.0.0.1:1/voxelgate?password=hunter2secret&connect_timeout=2"}) {
    auto db = sql::Db::OpenPostgres(uri);
    ASSERT_FALSE(db);
    EXPECT_EQ(db.error().code, ErrorCode::kUnavailable);
    EXPECT_EQ(db.error().detail.find("hunter2secret"), std::string::npos) << db.error().detail;
    EXPECT_EQ(db.error().public_message.find("hunter2secret"), std::string::npos);
    EXPECT_NE(db.error().detail.find("127.0.0.1"), std::string::npos) << "names where it tried";
  }
}

TEST_P(CatalogTest, SegAndRtStructInstancesAreImportCandidatesUntilRecordedAndWaitingOnesReturnWhenTheirSeriesGrows) {
  constexpr const char* kSeg = "1.2.840.10008.5.1.4.1.1.66.4";
  constexpr const char* kRt = "1.2.840.10008.5.1.4.1.1.481.3";
  auto seg = Instance("1.1", "1.1.9", "1.1.9.1", "20240102", "SEG");
  seg.sop_class_uid = kSeg;
  auto rt = Instance("1.1", "1.1.8", "1.1.8.1", "20240102", "RTSTRUCT");
  rt.sop_class_uid = kRt;
  auto forged = Instance("1.1", "1.1.7", "1.1.7.1", "20240102", "SEG");  // a CT under modality SEG
  auto ours = Instance("1.1", "1.1.6", "1.1.6.1", "20240102", "SEG");
  ours.sop_class_uid = kSeg;
  ASSERT_TRUE(catalog_->CommitInstances(a_, {seg, rt, forged, ours}, false));
  auto elsewhere = Instance("2.1", "2.1.9", "2.1.9.1", "20240102", "SEG");
  elsewhere.sop_class_uid = kSeg;
  ASSERT_TRUE(catalog_->CommitInstances(b_, {elsewhere}, false));
  ASSERT_TRUE(catalog_->RecordImport({a_, "1.1.6.1", "internal", "1.1.1"}));
  const std::int64_t now = UnixSeconds() + 10;

  // Not yet quiet: nothing.
  auto early = catalog_->FindImportCandidates(now - 10, 5, 10);
  ASSERT_TRUE(early) << early.error().detail;
  EXPECT_TRUE(early->empty());
  auto due = catalog_->FindImportCandidates(now, 2, 10);
  ASSERT_TRUE(due) << due.error().detail;
  std::set<std::string> sops;
  for (const auto& c : *due) {
    if (c.tenant_id == a_) {
      EXPECT_EQ(c.study_uid, "1.1");
    }
    sops.insert(c.sop_uid);
  }
  EXPECT_EQ(sops, (std::set<std::string>{"1.1.9.1", "1.1.8.1", "2.1.9.1"}));  // not the forged one, not ours

  // Recorded: no longer a candidate; waiting for a series that is not there: not either.
  ASSERT_TRUE(catalog_->RecordImport({a_, "1.1.9.1", "waiting", "1.1.1", std::nullopt, "source not here", now - 100}));
  ASSERT_TRUE(catalog_->RecordImport({a_, "1.1.8.1", "failed", "", std::nullopt, "bad", 0}));
  due = catalog_->FindImportCandidates(now, 2, 10);
  ASSERT_TRUE(due);
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ(due->front().tenant_id, b_);

  // The series it waits for arrives in another clinic: still waiting; in its own: due.
  ASSERT_TRUE(catalog_->CommitInstances(b_, {Instance("1.1", "1.1.1", "1.1.1.1")}, false));
  due = catalog_->FindImportCandidates(now, 2, 10);
  ASSERT_TRUE(due);
  EXPECT_EQ(due->size(), 1u);
  ASSERT_TRUE(catalog_->CommitInstances(a_, {Instance("1.1", "1.1.1", "1.1.1.1")}, false));
  due = catalog_->FindImportCandidates(now, 2, 10);
  ASSERT_TRUE(due);
  ASSERT_EQ(due->size(), 2u);
  EXPECT_TRUE(std::any_of(due->begin(), due->end(), [&](const auto& c) { return c.tenant_id == a_ && c.sop_uid == "1.1.9.1"; }));

  // Once looked at after the series arrived, it waits for more again.
  ASSERT_TRUE(catalog_->RecordImport({a_, "1.1.9.1", "waiting", "1.1.1", std::nullopt, "still not", now + 1}));
  due = catalog_->FindImportCandidates(now, 2, 10);
  ASSERT_TRUE(due);
  EXPECT_EQ(due->size(), 1u);
  auto record = catalog_->FindImport(a_, "1.1.9.1");
  ASSERT_TRUE(record && *record);
  EXPECT_EQ((*record)->state, "waiting");
  EXPECT_EQ((*record)->message, "still not");
  EXPECT_FALSE(catalog_->FindImport(b_, "1.1.9.1")->has_value());

  // One that could not be read is due again at its time, not before; a pass limited to
  // recent instances does not see old new ones.
  SegmentationImportRecord retrying{a_, "1.1.8.1", "retrying", ""};
  retrying.attempts = 3;
  retrying.updated_at = now + 100;
  ASSERT_TRUE(catalog_->RecordImport(retrying));
  due = catalog_->FindImportCandidates(now, 2, 10);
  ASSERT_TRUE(due);
  EXPECT_FALSE(std::any_of(due->begin(), due->end(), [&](const auto& c) { return c.sop_uid == "1.1.8.1"; }));
  due = catalog_->FindImportCandidates(now + 100, 2, 10);
  ASSERT_TRUE(due);
  auto again = std::find_if(due->begin(), due->end(), [&](const auto& c) { return c.sop_uid == "1.1.8.1"; });
  ASSERT_NE(again, due->end());
  EXPECT_EQ(again->attempts, 3);
  due = catalog_->FindImportCandidates(now, 2, 10, now + 5);
  ASSERT_TRUE(due);
  EXPECT_FALSE(std::any_of(due->begin(), due->end(), [&](const auto& c) { return c.sop_uid == "2.1.9.1"; }));
}

TEST_P(CatalogTest, BackgroundJobsWaitWhileAnyClinicRunIsQueuedOrRunning) {
  JobRecord shadow;
  shadow.tenant_id = a_;
  shadow.kind = "shadow_run";
  shadow.created_by = "shadow";
  shadow.priority = -100;
  ASSERT_TRUE(catalog_->EnqueueJob(shadow));
  JobRecord clinic;
  clinic.tenant_id = b_;  // another clinic's run holds it back too: the CPU is shared
  clinic.kind = "algorithm";
  clinic.created_by = "b.doc";
  ASSERT_TRUE(catalog_->EnqueueJob(clinic));
  EXPECT_TRUE(*catalog_->ForegroundWorkPending());
  auto none = catalog_->ClaimJob({"w", {"shadow_run"}, 60, 2, {}});
  ASSERT_TRUE(none) << none.error().detail;
  EXPECT_FALSE(*none);
  auto foreground = catalog_->ClaimJob({"w", {"shadow_run", "algorithm"}, 60, 2, {}});
  ASSERT_TRUE(foreground && *foreground);
  EXPECT_EQ((*foreground)->kind, "algorithm");
  auto still = catalog_->ClaimJob({"w", {"shadow_run"}, 60, 2, {}});
  ASSERT_TRUE(still);
  EXPECT_FALSE(*still) << "not while the clinic run runs";
  ASSERT_TRUE(catalog_->FinishJob((*foreground)->id, "w", "succeeded", "{}", ""));
  EXPECT_FALSE(*catalog_->ForegroundWorkPending());
  auto background = catalog_->ClaimJob({"w", {"shadow_run"}, 60, 2, {}});
  ASSERT_TRUE(background && *background);
  EXPECT_EQ((*background)->kind, "shadow_run");
}

INSTANTIATE_TEST_SUITE_P(Backends, CatalogTest, ::testing::Values("sqlite", "postgres"), testing::BackendName);

}  // namespace
}  // namespace vg::storage
