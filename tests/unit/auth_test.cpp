// UserService, TokenService, SupportGrants and LoginThrottle on a real SQLite catalog.
#include <gtest/gtest.h>

#include "auth/audit_checkpoint.h"
#include "auth/tenants.h"

#include <filesystem>
#include <thread>

#include "auth/login_throttle.h"
#include "auth/support_grants.h"
#include "auth/tokens.h"
#include "auth/users.h"
#include "storage/sql_catalog.h"

namespace vg::auth {
namespace {

namespace fs = std::filesystem;

class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::Initialize();
    dir_ = fs::temp_directory_path() / ("vg-auth-" + crypto::RandomHexId(6));
    fs::create_directories(dir_);
    catalog_ = std::move(*storage::SqlCatalog::Open((dir_ / "catalog.db").string(), false));
    clinic_ = *catalog_->CreateTenant("clinic", "Clinic", {1}, "CLINIC");
    other_ = *catalog_->CreateTenant("other", "Other", {2}, "OTHER");
    provider_ = *catalog_->CreateTenant("provider", "Vendor", {3}, "PROVIDER");
  }
  void TearDown() override {
    catalog_.reset();
    fs::remove_all(dir_);
  }
  Principal SignIn(const std::string& username, const std::string& password) {
    auto login = users().Login(username, password);
    EXPECT_TRUE(login) << username;
    return login ? login->principal : Principal{};
  }
  UserService users() { return UserService(*catalog_); }

  fs::path dir_;
  std::unique_ptr<storage::SqlCatalog> catalog_;
  storage::TenantRecord clinic_, other_, provider_;
  const std::string password_ = "correct horse battery";
};

TEST_F(AuthTest, TokenOnlyUsersHaveNoPasswordAndCannotSignIn) {
  EXPECT_FALSE(users().Create(clinic_, "pacs", "uploader", "some password here"));
  ASSERT_TRUE(users().Create(clinic_, "pacs", "uploader", ""));
  EXPECT_EQ(users().Login("pacs", "").error().code, ErrorCode::kUnauthenticated);
  EXPECT_FALSE(users().Create(provider_, "pacs2", "uploader", ""));  // the vendor has no uploaders
}

TEST_F(AuthTest, ATokenCannotCarryAScopeBeyondItsUsersRole) {
  auto pacs = users().Create(clinic_, "pacs", "uploader", "");
  TokenService tokens(*catalog_);
  auto refused = tokens.Create(*pacs, "read", {kScopeDicomwebRead}, std::nullopt);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kForbidden);
  EXPECT_TRUE(tokens.Create(*pacs, "store", {kScopeDicomwebWrite}, std::nullopt));
}

TEST_F(AuthTest, ADisabledUsersTokenStopsAtOnce) {
  auto alice = users().Create(clinic_, "alice", "radiologist", password_);
  TokenService tokens(*catalog_);
  auto token = tokens.Create(*alice, "slicer", {kScopeDicomwebRead}, 3600);
  ASSERT_TRUE(token);
  auto principal = tokens.Authenticate(*token);
  ASSERT_TRUE(principal);
  EXPECT_EQ(principal->role, "radiologist");
  EXPECT_EQ(principal->Actor(), "alice/token:slicer");
  ASSERT_TRUE(catalog_->SetUserDisabled(alice->id, true));
  EXPECT_EQ(tokens.Authenticate(*token).error().code, ErrorCode::kUnauthenticated);
}

TEST_F(AuthTest, PeopleManageTheirOwnTokensAndAdminsTheTenants) {
  ASSERT_TRUE(users().Create(clinic_, "boss", "clinic_admin", password_));
  ASSERT_TRUE(users().Create(clinic_, "doc", "physician", password_));
  ASSERT_TRUE(users().Create(other_, "stranger", "physician", password_));
  ASSERT_TRUE(users().Create(clinic_, "pacs", "uploader", ""));
  Principal boss = SignIn("boss", password_);
  Principal doc = SignIn("doc", password_);
  TokenService tokens(*catalog_);
  EXPECT_EQ(tokens.CreateFor(doc, "pacs", "x", {kScopeDicomwebWrite}, 3600).error().code, ErrorCode::kForbidden);
  EXPECT_EQ(tokens.CreateFor(boss, "stranger", "x", {kScopeDicomwebRead}, 3600).error().code, ErrorCode::kNotFound);
  ASSERT_TRUE(tokens.CreateFor(boss, "pacs", "pacs", {kScopeDicomwebWrite}, 3600));
  ASSERT_TRUE(tokens.CreateFor(doc, "", "mine", {kScopeDicomwebRead}, 3600));
  auto own = tokens.List(doc);
  ASSERT_EQ(own->size(), 1u);
  EXPECT_EQ((*own)[0].owner, "doc");
  EXPECT_EQ(tokens.List(boss)->size(), 2u);
  EXPECT_EQ(tokens.RevokeFor(doc, "pacs").error().code, ErrorCode::kNotFound);  // not theirs
  ASSERT_TRUE(tokens.RevokeFor(boss, "pacs"));
  ASSERT_TRUE(tokens.RevokeFor(doc, "mine"));
}

TEST_F(AuthTest, TheServiceUserIsCreatedOnceAndOwnsTokens) {
  auto first = users().EnsureServiceUser(clinic_);
  auto second = users().EnsureServiceUser(clinic_);
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->id, second->id);
  EXPECT_EQ(first->username, "service:clinic");
  EXPECT_EQ(first->role, "service");
}

TEST_F(AuthTest, AdminsManageOnlyTheirOwnTenant) {
  ASSERT_TRUE(users().Create(clinic_, "boss", "clinic_admin", password_));
  ASSERT_TRUE(users().Create(other_, "stranger", "physician", password_));
  Principal boss = SignIn("boss", password_);
  EXPECT_EQ(users().SetDisabled(boss, "stranger", true).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(users().ResetPassword(boss, "stranger").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(users().SetDisabled(boss, "boss", true).error().code, ErrorCode::kConflict);
  auto created = users().CreateInTenant(boss, "newbie", "physician", "");
  ASSERT_TRUE(created);
  EXPECT_EQ(created->first.tenant_id, clinic_.id);
  EXPECT_TRUE(created->first.must_change_password);
  EXPECT_EQ(created->second.size(), 20u);
  auto listed = users().List(boss);
  ASSERT_TRUE(listed);
  for (const auto& u : *listed) EXPECT_EQ(u.tenant_id, clinic_.id);
}

TEST_F(AuthTest, AForcedResetEndsSessionsAndRequiresAChange) {
  ASSERT_TRUE(users().Create(clinic_, "boss", "clinic_admin", password_));
  ASSERT_TRUE(users().Create(clinic_, "doc", "physician", password_));
  Principal boss = SignIn("boss", password_);
  auto doc_login = users().Login("doc", password_);
  auto one_time = users().ResetPassword(boss, "doc");
  ASSERT_TRUE(one_time);
  EXPECT_FALSE(users().Authenticate(doc_login->session_token));
  auto again = users().Login("doc", *one_time);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->principal.must_change_password);
  EXPECT_FALSE(users().ChangeOwnPassword(again->principal, "wrong wrong wrong", "a brand new password"));
  EXPECT_FALSE(users().ChangeOwnPassword(again->principal, *one_time, "short"));
  ASSERT_TRUE(users().ChangeOwnPassword(again->principal, *one_time, "a brand new password"));
  auto after = users().Authenticate(again->session_token);
  ASSERT_TRUE(after);  // the session that changed it lives on
  EXPECT_FALSE(after->must_change_password);
}

TEST_F(AuthTest, SupportActsOnAClinicOnlyUnderAnActiveGrant) {
  ASSERT_TRUE(users().Create(clinic_, "boss", "clinic_admin", password_));
  ASSERT_TRUE(users().Create(provider_, "helper", "provider_support", password_));
  ASSERT_TRUE(users().Create(provider_, "vendor-boss", "provider_admin", password_));
  ASSERT_TRUE(users().Create(provider_, "other-helper", "provider_support", password_));
  Principal boss = SignIn("boss", password_);
  Principal helper = SignIn("helper", password_);
  SupportGrants grants(*catalog_);
  EXPECT_EQ(grants.Resolve(helper, "clinic").error().code, ErrorCode::kForbidden);
  EXPECT_FALSE(grants.Grant(boss, "vendor-boss", std::nullopt, 2, ""));  // not a support user
  EXPECT_FALSE(grants.Grant(boss, "nobody", std::nullopt, 2, ""));
  auto study_grant = grants.Grant(boss, "helper", std::string("1.2.3"), 2, "ticket 42");
  ASSERT_TRUE(study_grant);
  auto acting = grants.Resolve(helper, "clinic");
  ASSERT_TRUE(acting);
  EXPECT_EQ(acting->tenant_id, clinic_.id);
  EXPECT_EQ(acting->home_tenant_id, provider_.id);
  EXPECT_EQ(acting->ActorKind(), "support");
  EXPECT_TRUE(acting->MayReadStudy("1.2.3"));
  EXPECT_FALSE(acting->MayReadStudy("9.9.9"));
  EXPECT_FALSE(grants.Resolve(helper, "other"));                        // another clinic gave nothing
  EXPECT_FALSE(grants.Resolve(SignIn("other-helper", password_), "clinic"));  // made out to someone else
  EXPECT_FALSE(grants.Resolve(SignIn("vendor-boss", password_), "clinic"));  // admins are not support
  ASSERT_TRUE(grants.Revoke(boss, study_grant->id));
  EXPECT_FALSE(grants.Resolve(helper, "clinic"));
  EXPECT_FALSE(grants.Grant(boss, "helper", std::nullopt, 0, ""));
  EXPECT_FALSE(grants.Grant(boss, "helper", std::nullopt, 721, ""));
}

TEST_F(AuthTest, AKeyPurgedByAnotherProcessIsForgottenWithinTheCacheTime) {
  // Two directories over one catalog, as serve and a worker are.
  const crypto::SecretKey master = crypto::SecretKey::Generate();
  TenantDirectory serve(*catalog_, master), worker(*catalog_, master, std::chrono::milliseconds(50));
  auto created = serve.Create("leaving", "Leaving");
  ASSERT_TRUE(created);
  ASSERT_TRUE(worker.DataKey(created->id));  // cached by the worker
  ASSERT_TRUE(catalog_->PurgeTenant(created->id));
  serve.Forget(created->id);
  EXPECT_FALSE(serve.DataKey(created->id));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (worker.DataKey(created->id) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_FALSE(worker.DataKey(created->id)) << "the worker still hands out a purged clinic's key";
  EXPECT_FALSE(worker.SearchKey(created->id));
}

TEST(AuditCheckpointFile, MalformedFilesAreRefusedNotThrown) {
  for (const char* text : {"", "[]", "{\"format\": 5}", "{\"format\": \"voxelgate-audit-checkpoint/1\"}",
                           "{\"format\": \"voxelgate-audit-checkpoint/1\", \"id\": \"1\", \"head_ts_ms\": 1, "
                           "\"made_at_ms\": 1, \"hash\": \"\", \"public_key\": \"\", \"signature\": \"\"}",
                           "{\"format\": \"voxelgate-audit-checkpoint/1\", \"id\": -1, \"head_ts_ms\": 1, "
                           "\"made_at_ms\": 1, \"hash\": \"\", \"public_key\": \"\", \"signature\": \"\"}"})
    EXPECT_FALSE(AuditCheckpoint::FromJson(text)) << text;
  EXPECT_FALSE(AuditCheckpoint::FromJson(std::string(70000, ' ')));
}

TEST(LoginThrottle, BlocksAGuesserOfOneAccountWhereItGuessesFromWithGrowingDelays) {
  LoginThrottle throttle;
  const std::int64_t t0 = 1'000'000;
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(throttle.BlockedForMs("alice", "10.0.0.1", t0), 0);
    throttle.RecordFailure("alice", "10.0.0.1", t0);
  }
  EXPECT_EQ(throttle.BlockedForMs("alice", "10.0.0.1", t0), 0);  // 5 free failures
  throttle.RecordFailure("alice", "10.0.0.1", t0);
  EXPECT_EQ(throttle.BlockedForMs("alice", "10.0.0.1", t0), 1000);
  EXPECT_EQ(throttle.BlockedForMs("alice", "10.9.9.9", t0), 0);  // the owner elsewhere is not held
  throttle.RecordFailure("alice", "10.0.0.1", t0 + 1000);
  EXPECT_EQ(throttle.BlockedForMs("alice", "10.0.0.1", t0 + 1000), 2000);
  EXPECT_EQ(throttle.BlockedForMs("bob", "10.0.0.2", t0), 0);
  throttle.RecordSuccess("alice", "10.0.0.1");
  EXPECT_EQ(throttle.BlockedForMs("alice", "10.0.0.1", t0 + 1000), 0);
}

TEST(LoginThrottle, GuessingSpreadOverManyAddressesIsSlowedButCannotLockTheOwnerOut) {
  LoginThrottle throttle;
  const std::int64_t t0 = 2'000'000;
  throttle.RecordSuccess("alice", "10.0.0.7");  // her usual address
  // Three failures from each of 40 addresses: no address, and no account-and-address pair,
  // reaches its free failures; the account as a whole does.
  for (int a = 0; a < 40; ++a)
    for (int i = 0; i < 3; ++i) throttle.RecordFailure("alice", "10.1.0." + std::to_string(a), t0);
  EXPECT_GT(throttle.BlockedForMs("alice", "10.5.5.5", t0), 0);  // a new address waits
  EXPECT_GT(throttle.BlockedForMs("alice", "10.1.0.3", t0), 0);
  EXPECT_EQ(throttle.BlockedForMs("alice", "10.0.0.7", t0), 0);  // her own does not
  EXPECT_EQ(throttle.BlockedForMs("bob", "10.5.5.5", t0), 0);
}

TEST(LoginThrottle, BlocksAnAddressThatGuessesManyAccounts) {
  LoginThrottle throttle;
  for (int i = 0; i < 21; ++i) throttle.RecordFailure("user" + std::to_string(i), "10.0.0.1", 5000);
  EXPECT_GT(throttle.BlockedForMs("someone-else", "10.0.0.1", 5000), 0);
  EXPECT_EQ(throttle.BlockedForMs("someone-else", "10.0.0.2", 5000), 0);
}

TEST(LoginThrottle, ForgetsAfterQuietTimeAndStaysBounded) {
  ThrottleLimits limits;
  limits.max_keys = 100;
  LoginThrottle throttle(limits);
  for (int i = 0; i < 7; ++i) throttle.RecordFailure("alice", "10.0.0.1", 0);
  const std::int64_t later = 16 * 60 * 1000;
  EXPECT_EQ(throttle.BlockedForMs("alice", "10.0.0.1", later), 0);
  throttle.RecordFailure("alice", "10.0.0.1", later);
  EXPECT_EQ(throttle.BlockedForMs("alice", "10.0.0.1", later), 0);  // the count started over
  for (int i = 0; i < 1000; ++i) throttle.RecordFailure("u" + std::to_string(i), "a" + std::to_string(i), later);
  EXPECT_LE(throttle.TrackedKeys(), limits.max_keys + 3);
}

}  // namespace
}  // namespace vg::auth
