// Subscriptions' lifecycle (every action from every state), periods, plans and the
// offline licence's signature.
#include <gtest/gtest.h>

#include "catalog_backends.h"

#include <map>

#include "crypto/crypto.h"
#include "licensing/licence_file.h"
#include "licensing/plan.h"
#include "licensing/subscription.h"

namespace vg::licensing {
namespace {

constexpr std::int64_t kDay = 86400;
const std::int64_t kNow = *ParseDate("2026-03-10");

Subscription In(State state, bool cancel_at_end = false) {
  Subscription s;
  s.tenant_id = 7;
  s.plan_name = "basic";
  s.plan_version = 1;
  s.state = state;
  s.resume_to = State::kActive;
  s.started_at = *ParseDate("2026-01-10");
  s.period_start = *ParseDate("2026-03-01");
  s.period_end = *ParseDate("2026-04-01");
  s.cancel_at_period_end = cancel_at_end;
  if (state == State::kCancelled || state == State::kExpired) s.ended_at = *ParseDate("2026-03-05");
  return s;
}

Action Do(ActionKind kind, std::string plan = {}, std::string reason = {}, bool immediately = false) {
  Action a;
  a.kind = kind;
  a.plan_name = std::move(plan);
  a.plan_version = 2;
  a.reason = std::move(reason);
  a.immediately = immediately;
  return a;
}

// The whole matrix: for each (state, action), the next state, or "refused".
TEST(SubscriptionLifecycle, EveryActionFromEveryStateHasADefinedOutcome) {
  const std::vector<std::pair<std::string, std::optional<Subscription>>> states = {
      {"none", std::nullopt},
      {"trial", In(State::kTrial)},
      {"active", In(State::kActive)},
      {"past_due", In(State::kPastDue)},
      {"suspended", In(State::kSuspended)},
      {"cancelled", In(State::kCancelled)},
      {"expired", In(State::kExpired)}};
  const std::vector<std::pair<std::string, Action>> actions = {
      {"activate", Do(ActionKind::kActivate, "pro")},
      {"renew", Do(ActionKind::kRenew)},
      {"suspend", Do(ActionKind::kSuspend, {}, "invoice 42 unpaid")},
      {"resume", Do(ActionKind::kResume)},
      {"cancel", Do(ActionKind::kCancel)},
      {"cancel-now", Do(ActionKind::kCancel, {}, {}, true)},
      {"change-plan", Do(ActionKind::kChangePlan, "pro")}};
  // Expected next state (cancel at the period's end keeps the state and sets the flag).
  const std::map<std::pair<std::string, std::string>, std::string> expected = {
      {{"none", "activate"}, "active"},          {{"none", "renew"}, "refused"},
      {{"none", "suspend"}, "refused"},          {{"none", "resume"}, "refused"},
      {{"none", "cancel"}, "refused"},           {{"none", "cancel-now"}, "refused"},
      {{"none", "change-plan"}, "refused"},
      {{"trial", "activate"}, "active"},         {{"trial", "renew"}, "refused"},
      {{"trial", "suspend"}, "suspended"},       {{"trial", "resume"}, "refused"},
      {{"trial", "cancel"}, "trial"},            {{"trial", "cancel-now"}, "cancelled"},
      {{"trial", "change-plan"}, "trial"},
      {{"active", "activate"}, "refused"},       {{"active", "renew"}, "refused"},
      {{"active", "suspend"}, "suspended"},      {{"active", "resume"}, "refused"},
      {{"active", "cancel"}, "active"},          {{"active", "cancel-now"}, "cancelled"},
      {{"active", "change-plan"}, "active"},
      {{"past_due", "activate"}, "refused"},     {{"past_due", "renew"}, "active"},
      {{"past_due", "suspend"}, "suspended"},    {{"past_due", "resume"}, "refused"},
      {{"past_due", "cancel"}, "past_due"},      {{"past_due", "cancel-now"}, "cancelled"},
      {{"past_due", "change-plan"}, "past_due"},
      {{"suspended", "activate"}, "refused"},    {{"suspended", "renew"}, "refused"},
      {{"suspended", "suspend"}, "refused"},     {{"suspended", "resume"}, "active"},
      {{"suspended", "cancel"}, "suspended"},    {{"suspended", "cancel-now"}, "cancelled"},
      {{"suspended", "change-plan"}, "suspended"},
      {{"cancelled", "activate"}, "active"},     {{"cancelled", "renew"}, "refused"},
      {{"cancelled", "suspend"}, "refused"},     {{"cancelled", "resume"}, "refused"},
      {{"cancelled", "cancel"}, "refused"},      {{"cancelled", "cancel-now"}, "refused"},
      {{"cancelled", "change-plan"}, "refused"},
      {{"expired", "activate"}, "active"},       {{"expired", "renew"}, "refused"},
      {{"expired", "suspend"}, "refused"},       {{"expired", "resume"}, "refused"},
      {{"expired", "cancel"}, "refused"},        {{"expired", "cancel-now"}, "refused"},
      {{"expired", "change-plan"}, "refused"}};
  for (const auto& [state_name, current] : states)
    for (const auto& [action_name, action] : actions) {
      auto next = Apply(current, 7, action, kNow);
      const std::string got = next ? StateName(next->state) : "refused";
      EXPECT_EQ(got, expected.at({state_name, action_name})) << state_name << " + " << action_name;
      if (!next) {
        EXPECT_FALSE(next.error().public_message.empty()) << "a refusal says why";
      }
    }
}

TEST(SubscriptionLifecycle, ActionsCarryTheirEffects) {
  auto suspended = Apply(In(State::kPastDue), 7, Do(ActionKind::kSuspend, {}, "unpaid"), kNow);
  ASSERT_TRUE(suspended);
  EXPECT_EQ(suspended->reason, "unpaid");
  EXPECT_EQ(suspended->state_since, kNow);
  EXPECT_EQ(StateName(Apply(*suspended, 7, Do(ActionKind::kResume), kNow)->state), std::string("past_due"));
  EXPECT_FALSE(Apply(In(State::kActive), 7, Do(ActionKind::kSuspend), kNow)) << "suspending needs a reason";
  auto cancel = Apply(In(State::kActive), 7, Do(ActionKind::kCancel), kNow);
  EXPECT_TRUE(cancel->cancel_at_period_end);
  EXPECT_FALSE(Apply(*cancel, 7, Do(ActionKind::kCancel), kNow)) << "cancelled at the end already";
  auto now_cancelled = Apply(In(State::kActive), 7, Do(ActionKind::kCancel, {}, {}, true), kNow);
  EXPECT_EQ(now_cancelled->ended_at, kNow);
  auto changed = Apply(In(State::kActive), 7, Do(ActionKind::kChangePlan, "pro"), kNow);
  EXPECT_EQ(changed->plan_name, "pro");
  EXPECT_EQ(changed->period_end, In(State::kActive).period_end) << "the period runs on";
  auto fresh = Apply(std::nullopt, 7, Do(ActionKind::kActivate, "pro"), kNow);
  EXPECT_EQ(fresh->period_start, kNow);
  EXPECT_EQ(fresh->period_end, *ParseDate("2026-04-10"));
}

TEST(SubscriptionLifecycle, RenewStartsTheNextPeriodWithoutAGap) {
  Subscription s = In(State::kPastDue);
  auto renewed = Apply(s, 7, Do(ActionKind::kRenew), *ParseDate("2026-04-03"));
  ASSERT_TRUE(renewed);
  EXPECT_EQ(renewed->period_start, *ParseDate("2026-04-01"));
  EXPECT_EQ(renewed->period_end, *ParseDate("2026-05-01"));
  EXPECT_EQ(StateName(renewed->state), std::string("active"));
}

TEST(SubscriptionLifecycle, TimeEndsPeriodsTrialsAndGraces) {
  const std::int64_t grace = 14 * kDay;
  const std::int64_t end = In(State::kActive).period_end;
  EXPECT_EQ(Advance(In(State::kActive), end - 1, grace).state, State::kActive);
  EXPECT_EQ(Advance(In(State::kActive), end, grace).state, State::kPastDue);
  EXPECT_EQ(Advance(In(State::kActive), end + grace, grace).state, State::kExpired);
  EXPECT_EQ(Advance(In(State::kTrial), end, grace).state, State::kExpired);
  auto cancelled = Advance(In(State::kActive, /*cancel_at_end=*/true), end + 5, grace);
  EXPECT_EQ(cancelled.state, State::kCancelled);
  EXPECT_EQ(cancelled.ended_at, end);
  EXPECT_EQ(Advance(In(State::kSuspended), end + 100 * kDay, grace).state, State::kSuspended)
      << "a suspension is the vendor's to end";
}

TEST(Periods, AMonthLaterIsTheSameDayClampedToTheMonthsEnd) {
  EXPECT_EQ(AddMonth(*ParseDate("2026-01-31")), *ParseDate("2026-02-28"));
  EXPECT_EQ(AddMonth(*ParseDate("2028-01-31")), *ParseDate("2028-02-29"));
  EXPECT_EQ(AddMonth(*ParseDate("2026-12-15")), *ParseDate("2027-01-15"));
  EXPECT_EQ(AddMonth(*ParseDate("2026-03-10") + 3600), *ParseDate("2026-04-10") + 3600);
}

TEST(Plans, FeaturesAndAlgorithmsAreChecked) {
  Plan p;
  p.name = "basic";
  p.included_runs = 10;
  EXPECT_TRUE(SetFeatures(p, "annotation,export"));
  EXPECT_FALSE(SetFeatures(p, "annotation,teleport"));
  SetAlgorithms(p, "ct-lungs, liver");
  EXPECT_TRUE(p.AllowsAlgorithm("liver"));
  EXPECT_FALSE(p.AllowsAlgorithm("brain"));
  SetAlgorithms(p, "all");
  EXPECT_TRUE(p.AllowsAlgorithm("brain"));
  p.overage = "maybe";
  EXPECT_FALSE(ValidatePlan(p));
  p.overage = "allow";
  p.features = {"export"};
  auto back = PlanFromJson(PlanToJson(p));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->overage, "allow");
  EXPECT_TRUE(back->HasFeature("export"));
}

class LicenceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { crypto::Initialize(); }
  void SetUp() override {
    keys_ = crypto::GenerateSigningKeyPair();
    LicenceRequest r{"clinic", "onprem", "2026-01-01", "2027-01-01", "ct-lungs", "annotation,export", 500, "inst-1"};
    auto text = IssueLicence(r, keys_.secret_key_b64, kNow);
    ASSERT_TRUE(text) << text.error().public_message;
    text_ = *text;
  }
  crypto::SigningKeyPair keys_;
  std::string text_;
};

TEST_F(LicenceTest, AValidLicenceReadsBackItsGrants) {
  auto licence = ReadLicence(text_, keys_.public_key_b64);
  ASSERT_TRUE(licence) << licence.error().public_message;
  EXPECT_EQ(licence->tenant, "clinic");
  EXPECT_EQ(licence->not_after, *ParseDate("2027-01-01"));
  EXPECT_TRUE(licence->grants.AllowsAlgorithm("ct-lungs"));
  EXPECT_FALSE(licence->grants.AllowsAlgorithm("brain"));
  EXPECT_TRUE(licence->grants.HasFeature("export"));
  EXPECT_FALSE(licence->grants.HasFeature("auto_run"));
  EXPECT_EQ(licence->grants.included_runs, 500);
  EXPECT_EQ(licence->installation, "inst-1");
}

TEST_F(LicenceTest, OneChangedByteIsRefusedAsTampered) {
  std::string tampered = text_;
  const size_t at = tampered.find("max_runs = 500");
  ASSERT_NE(at, std::string::npos);
  tampered[at + 11] = '9';  // 500 -> 900
  auto licence = ReadLicence(tampered, keys_.public_key_b64);
  ASSERT_FALSE(licence);
  EXPECT_NE(licence.error().public_message.find("altered"), std::string::npos) << licence.error().public_message;
}

TEST_F(LicenceTest, AnotherVendorKeyIsRefused) {
  auto other = crypto::GenerateSigningKeyPair();
  auto licence = ReadLicence(text_, other.public_key_b64);
  ASSERT_FALSE(licence);
  EXPECT_NE(licence.error().public_message.find("another key"), std::string::npos);
}

TEST_F(LicenceTest, MalformedFilesAreRefusedAsSuch) {
  EXPECT_FALSE(ReadLicence("tenant = \"x\"\n", keys_.public_key_b64));
  EXPECT_FALSE(ReadLicence(text_, "not a key"));
  LicenceRequest backwards{"clinic", "p", "2027-01-01", "2026-01-01"};
  EXPECT_FALSE(IssueLicence(backwards, keys_.secret_key_b64, kNow));
}

}  // namespace
}  // namespace vg::licensing

// Enforcement over the real store: the period a run counts in, and the quota.
#include <filesystem>

#include "licensing/licensing.h"
#include "storage/sql_catalog.h"

namespace vg::licensing {
namespace {

class LicensingStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    crypto::Initialize();
    if (!backend_.SetUp(GetParam())) GTEST_SKIP() << backend_.skip_reason;
    auto opened = backend_.Open();
    ASSERT_TRUE(opened) << opened.error().detail;
    catalog_ = std::move(*opened);
    tenant_ = catalog_->CreateTenant("clinic", "Clinic", {1}, "CLINIC")->id;
    licensing_ = std::make_unique<Licensing>(*catalog_, *catalog_, LicensingOptions{});
    Plan plan;
    plan.name = "two";
    plan.included_runs = 2;
    ASSERT_TRUE(licensing_->SavePlan(plan, "test"));
    Action activate;
    activate.kind = ActionKind::kActivate;
    activate.plan_name = "two";
    ASSERT_TRUE(licensing_->Act(tenant_, activate, t0_));
  }
  void TearDown() override {
    licensing_.reset();
    catalog_.reset();
    backend_.TearDown();
  }
  void Ran(std::int64_t job, std::int64_t started, const RunGrant& grant) {
    storage::UsageRecord u;
    u.job_id = job;
    u.tenant_id = tenant_;
    u.algorithm_id = "ct-lungs";
    u.algorithm_version = "1";
    u.outcome = "succeeded";
    u.started_at = started;
    u.period_start = grant.period_start;
    u.counted = true;
    ASSERT_TRUE(licensing_->RecordUsage(u));
  }
  storage::testing::CatalogBackend backend_;
  std::unique_ptr<storage::SqlCatalog> catalog_;
  std::unique_ptr<Licensing> licensing_;
  std::int64_t tenant_ = 0;
  const std::int64_t t0_ = *ParseDate("2026-03-10");
};

TEST_P(LicensingStoreTest, TheSealedLicenceClockNeverGoesBackAndAnEditedMarkIsRefused) {
  const crypto::SecretKey key = crypto::SecretKey::Generate();
  EXPECT_EQ(*AdvanceSealedLicenceClock(*catalog_, key, 1000), 1000);
  EXPECT_EQ(*AdvanceSealedLicenceClock(*catalog_, key, 500), 1000);  // the wall clock went back
  EXPECT_EQ(*AdvanceSealedLicenceClock(*catalog_, key, 2000), 2000);
  // Someone with the catalog moves the mark back (its seal no longer matches) or drops the seal.
  auto clock = catalog_->LicenceClock();
  ASSERT_TRUE(clock && *clock);
  ASSERT_TRUE(*catalog_->SetLicenceClock(2000, 10, (*clock)->second));
  auto edited = AdvanceSealedLicenceClock(*catalog_, key, 500);
  ASSERT_FALSE(edited);
  EXPECT_EQ(edited.error().code, ErrorCode::kForbidden);
  ASSERT_TRUE(*catalog_->SetLicenceClock(10, 10, {}));
  EXPECT_FALSE(AdvanceSealedLicenceClock(*catalog_, key, 500));
  // ... which only the start that made the installation id accepts (an upgrade).
  EXPECT_EQ(*AdvanceSealedLicenceClock(*catalog_, key, 500, /*accept_unsealed=*/true), 500);
  EXPECT_EQ(*AdvanceSealedLicenceClock(*catalog_, key, 400), 500);
  // Another key (another master key) does not match either.
  EXPECT_FALSE(AdvanceSealedLicenceClock(*catalog_, crypto::SecretKey::Generate(), 600));
}

TEST_P(LicensingStoreTest, ARunThatCrossesThePeriodEndCountsInThePeriodItStarted) {
  const std::int64_t end = AddMonth(t0_);
  auto grant = licensing_->CheckRun(tenant_, "ct-lungs", end - 60);  // starts a minute before the end
  ASSERT_TRUE(grant);
  EXPECT_EQ(grant->period_start, t0_);
  Ran(1, end - 60, *grant);  // ... and finishes after it
  // The period ends: past due; the vendor renews; the next period starts where it ended.
  auto current = licensing_->Current(tenant_, end + 3600);
  ASSERT_TRUE(current && *current);
  EXPECT_EQ((*current)->state, State::kPastDue);
  Action renew;
  renew.kind = ActionKind::kRenew;
  ASSERT_TRUE(licensing_->Act(tenant_, renew, end + 3600));
  auto next = licensing_->CheckRun(tenant_, "ct-lungs", end + 7200);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->period_start, end);
  EXPECT_EQ(*catalog_->CountedRuns(tenant_, t0_), 1) << "counted in the period it started in";
  EXPECT_EQ(*catalog_->CountedRuns(tenant_, end), 0) << "the new period starts empty";
}

TEST_P(LicensingStoreTest, TheQuotaRefusesTheRunAfterTheIncludedOnes) {
  for (int job = 1; job <= 2; ++job) {
    auto grant = licensing_->CheckRun(tenant_, "ct-lungs", t0_ + job);
    ASSERT_TRUE(grant);
    Ran(job, t0_ + job, *grant);
  }
  auto third = licensing_->CheckRun(tenant_, "ct-lungs", t0_ + 10);
  ASSERT_FALSE(third);
  EXPECT_EQ(third.error().reason, "quota_exhausted");
  EXPECT_EQ(third.error().code, ErrorCode::kPaymentRequired);
}

TEST_P(LicensingStoreTest, AFeatureOutsideThePlanIsRefusedWithItsReason) {
  auto refused = licensing_->CheckFeature(tenant_, "export", t0_);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().reason, "feature_not_in_plan");
}

TEST_P(LicensingStoreTest, AChangeBasedOnAStaleReadOfTheSubscriptionIsRefusedSoNoneIsLost) {
  auto stored = catalog_->FindSubscription(tenant_);
  ASSERT_TRUE(stored && *stored);
  const std::string read = (*stored)->json;
  // Another node changes it first.
  auto first = catalog_->ReplaceSubscription(read, {tenant_, read + " ", t0_});
  ASSERT_TRUE(first);
  EXPECT_TRUE(*first);
  // This node's change, made from what it read before, does not overwrite theirs.
  auto second = catalog_->ReplaceSubscription(read, {tenant_, "{}", t0_});
  ASSERT_TRUE(second);
  EXPECT_FALSE(*second);
  EXPECT_EQ((*catalog_->FindSubscription(tenant_))->json, read + " ");
  // Nor does one that expects none to exist.
  EXPECT_FALSE(*catalog_->ReplaceSubscription(std::nullopt, {tenant_, "{}", t0_}));
}

}  // namespace
INSTANTIATE_TEST_SUITE_P(Backends, LicensingStoreTest, ::testing::Values("sqlite", "postgres"),
                         storage::testing::BackendName);

}  // namespace vg::licensing
