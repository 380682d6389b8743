// The algorithm's versions in each clinic: the deployment rules as plain logic, and the
// service with its store on every catalog backend.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "catalog_backends.h"
#include "core/clock.h"
#include "services/acceptance.h"
#include "services/deployments.h"
#include "services/shadow_runs.h"

namespace vg::services {
namespace {

using nlohmann::json;

DeploymentAction Promote(const std::string& version, int percent = 100, std::int64_t at = 0) {
  DeploymentAction a;
  a.kind = DeploymentActionKind::kPromote;
  a.version = version;
  a.percent = percent;
  a.effective_at = at;
  return a;
}

DeploymentAction Simple(DeploymentActionKind kind, const std::string& version = "") {
  DeploymentAction a;
  a.kind = kind;
  a.version = version;
  return a;
}

std::vector<std::string> Actions(const DeploymentChange& change) {
  std::vector<std::string> out;
  for (const auto& e : change.events) out.push_back(e.action);
  return out;
}

TEST(DeploymentRules, PromotingMovesThePinAndRollbackReturnsToEachEarlierVersionInTurn) {
  Deployment d;
  d.pinned = "1.0";
  auto to11 = ApplyDeploymentAction(d, Promote("1.1"), "vendor", 100);
  ASSERT_TRUE(to11);
  EXPECT_EQ(to11->next.pinned, "1.1");
  EXPECT_EQ(Actions(*to11), std::vector<std::string>{"promoted"});
  EXPECT_EQ(to11->events[0].from_version, "1.0");
  auto to12 = ApplyDeploymentAction(to11->next, Promote("1.2"), "vendor", 200);
  ASSERT_TRUE(to12);
  auto back = ApplyDeploymentAction(to12->next, Simple(DeploymentActionKind::kRollback), "vendor", 300);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->next.pinned, "1.1");
  EXPECT_EQ(Actions(*back), std::vector<std::string>{"rolled_back"});
  back = ApplyDeploymentAction(back->next, Simple(DeploymentActionKind::kRollback), "vendor", 400);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->next.pinned, "1.0");
  auto nothing = ApplyDeploymentAction(back->next, Simple(DeploymentActionKind::kRollback), "vendor", 500);
  ASSERT_FALSE(nothing);
  EXPECT_EQ(nothing.error().code, ErrorCode::kConflict);
}

TEST(DeploymentRules, PromotingThePinnedVersionAgainIsRefused) {
  Deployment d;
  d.pinned = "1.0";
  auto again = ApplyDeploymentAction(d, Promote("1.0"), "vendor", 100);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);
  EXPECT_FALSE(ApplyDeploymentAction(d, Promote("1.1", 0), "vendor", 100));
  EXPECT_FALSE(ApplyDeploymentAction(d, Promote("1.1", 101), "vendor", 100));
}

TEST(DeploymentRules, ACanaryTakesItsShareOfSeriesAlwaysTheSameOnesAndRollbackEndsItFirst) {
  Deployment d;
  d.pinned = "1.0";
  auto canary = ApplyDeploymentAction(d, Promote("1.1", 30), "vendor", 100);
  ASSERT_TRUE(canary);
  EXPECT_EQ(canary->next.pinned, "1.0");
  ASSERT_TRUE(canary->next.canary);
  EXPECT_EQ(Actions(*canary), std::vector<std::string>{"canary_started"});
  int on_canary = 0;
  for (int i = 0; i < 2000; ++i) {
    const std::string series = "1.2.3." + std::to_string(i);
    const std::string version = VersionForRun(canary->next, "ct-lungs", series);
    EXPECT_EQ(version, VersionForRun(canary->next, "ct-lungs", series));  // stable per series
    on_canary += version == "1.1";
  }
  EXPECT_GT(on_canary, 2000 * 0.25);
  EXPECT_LT(on_canary, 2000 * 0.35);
  auto back = ApplyDeploymentAction(canary->next, Simple(DeploymentActionKind::kRollback), "vendor", 200);
  ASSERT_TRUE(back);
  EXPECT_FALSE(back->next.canary);
  EXPECT_EQ(back->next.pinned, "1.0");
  EXPECT_EQ(Actions(*back), std::vector<std::string>{"canary_ended"});
  // Promoting the canary's version fully makes it the pin.
  auto full = ApplyDeploymentAction(canary->next, Promote("1.1"), "vendor", 300);
  ASSERT_TRUE(full);
  EXPECT_EQ(full->next.pinned, "1.1");
  EXPECT_FALSE(full->next.canary);
}

TEST(DeploymentRules, AScheduledPromotionWaitsForItsTimeAndRollbackCancelsIt) {
  Deployment d;
  d.pinned = "1.0";
  auto scheduled = ApplyDeploymentAction(d, Promote("1.1", 100, 1000), "vendor", 100);
  ASSERT_TRUE(scheduled);
  EXPECT_EQ(scheduled->next.pinned, "1.0");
  ASSERT_TRUE(scheduled->next.scheduled);
  EXPECT_EQ(Actions(*scheduled), std::vector<std::string>{"scheduled"});
  EXPECT_FALSE(AdvanceDeployment(scheduled->next, 999));
  auto due = AdvanceDeployment(scheduled->next, 1000);
  ASSERT_TRUE(due);
  EXPECT_EQ(due->next.pinned, "1.1");
  EXPECT_FALSE(due->next.scheduled);
  EXPECT_EQ(Actions(*due), std::vector<std::string>{"promoted"});
  EXPECT_EQ(due->events[0].actor, "vendor");  // who scheduled it
  auto cancelled = ApplyDeploymentAction(scheduled->next, Simple(DeploymentActionKind::kRollback), "vendor", 200);
  ASSERT_TRUE(cancelled);
  EXPECT_EQ(cancelled->next.pinned, "1.0");
  EXPECT_FALSE(cancelled->next.scheduled);
  EXPECT_EQ(Actions(*cancelled), std::vector<std::string>{"schedule_cancelled"});
}

TEST(DeploymentRules, AShadowIsAnotherVersionAndEndsWhenPromoted) {
  Deployment d;
  d.pinned = "1.0";
  EXPECT_FALSE(ApplyDeploymentAction(d, Simple(DeploymentActionKind::kShadow, "1.0"), "vendor", 100));
  auto shadow = ApplyDeploymentAction(d, Simple(DeploymentActionKind::kShadow, "1.1"), "vendor", 100);
  ASSERT_TRUE(shadow);
  EXPECT_EQ(shadow->next.shadow, "1.1");
  auto promoted = ApplyDeploymentAction(shadow->next, Promote("1.1"), "vendor", 200);
  ASSERT_TRUE(promoted);
  EXPECT_EQ(promoted->next.shadow, "");
  EXPECT_EQ(Actions(*promoted), (std::vector<std::string>{"promoted", "shadow_ended"}));
  EXPECT_FALSE(ApplyDeploymentAction(promoted->next, Simple(DeploymentActionKind::kEndShadow), "vendor", 300));
}

TEST(DeploymentRules, TheStoredFormReadsBackTheSame) {
  Deployment d;
  d.pinned = "1.2";
  d.earlier = {"1.0", "1.1"};
  d.canary = Deployment::Canary{"1.3", 10};
  d.shadow = "2.0";
  d.scheduled = Deployment::Scheduled{"1.3", 100, 5000, "vendor", "validated"};
  auto back = DeploymentFromJson(DeploymentToJson(d));
  ASSERT_TRUE(back);
  EXPECT_EQ(DeploymentToJson(*back), DeploymentToJson(d));
  EXPECT_FALSE(DeploymentFromJson("[1]"));
}

TEST(ShadowSummary, CountsFailuresOfEachSideAndSummarisesAgreementAndMetricsPerVersion) {
  std::vector<storage::ShadowRunRecord> runs(3);
  runs[0].state = "succeeded";
  runs[0].result_json = json{{"pinned", {{"state", "succeeded"}, {"metrics", {{"volume_ml", 100.0}}}, {"run_ms", 200}}},
                             {"metrics", {{"volume_ml", 110.0}}},
                             {"run_ms", 300},
                             {"agreement", {{{"label", 1}, {"dice", 0.9}, {"hd95_mm", 2.0}}}}}
                            .dump();
  runs[1].state = "failed";
  runs[1].result_json = json{{"pinned", {{"state", "succeeded"}, {"metrics", {{"volume_ml", 90.0}}}}}}.dump();
  runs[2].state = "queued";
  const json s = SummariseShadowRuns(runs);
  EXPECT_EQ(s["cases"], 2);
  EXPECT_EQ(s["pending"], 1);
  EXPECT_EQ(s["compared"], 1);
  EXPECT_EQ(s["failures"]["shadow"], 1);
  EXPECT_EQ(s["failures"]["pinned"], 0);
  EXPECT_DOUBLE_EQ(s["labels"][0]["dice"]["mean"].get<double>(), 0.9);
  EXPECT_EQ(s["metrics"]["volume_ml"]["pinned"]["n"], 2);
  EXPECT_EQ(s["metrics"]["volume_ml"]["shadow"]["n"], 1);
}


// ---- acceptance: the statistics and the verdict, as plain logic ----

AlgorithmManifest LungsManifest() {
  AlgorithmManifest m;
  m.id = "lungs";
  m.version = "1.1";
  dicom::SegmentInfo right, left;
  right.label = 1;
  right.name = "Right lung";
  left.label = 2;
  left.name = "Left lung";
  m.segments = {right, left};
  AlgorithmManifest::Acceptance a;
  a.min_cases = 3;
  a.segments.push_back({1, 0.9, 10.0, 0.0});
  a.segments.push_back({2, 0.9, std::nullopt, std::nullopt});
  m.acceptance = a;
  return m;
}

json Case(const std::string& series, double dice1, double dice2, const std::string& manufacturer = "GE",
          std::vector<std::string> tags = {}) {
  return {{"series_uid", series},
          {"state", "succeeded"},
          {"labels", {{{"label", 1}, {"dice", dice1}, {"hd95_mm", 3.0}}, {{"label", 2}, {"dice", dice2}, {"hd95_mm", nullptr}}}},
          {"facts", {{"manufacturer", manufacturer}, {"slice_thickness_mm", 1.25}}},
          {"tags", tags}};
}

TEST(AcceptanceRules, PassesOnlyWhenEverySegmentMeetsItsCriteriaOverEnoughCases) {
  const auto m = LungsManifest();
  auto good = EvaluateAcceptance(m, {Case("a", 0.95, 0.94), Case("b", 0.96, 0.93), Case("c", 0.94, 0.95)});
  EXPECT_TRUE(good["passed"]) << good["reasons"].dump();
  auto few = EvaluateAcceptance(m, {Case("a", 0.95, 0.94), Case("b", 0.96, 0.93)});
  EXPECT_FALSE(few["passed"]);
  EXPECT_NE(few["reasons"].dump().find("at least 3"), std::string::npos);
  auto poor = EvaluateAcceptance(m, {Case("a", 0.95, 0.5), Case("b", 0.96, 0.6), Case("c", 0.94, 0.7)});
  EXPECT_FALSE(poor["passed"]);
  EXPECT_NE(poor["reasons"][0].get<std::string>().find("Left lung: min_mean_dice"), std::string::npos);
  // A failure counts against the failure rate (0 allowed for segment 1) and never as Dice.
  json failed = Case("d", 0, 0);
  failed["state"] = "failed";
  auto with_failure = EvaluateAcceptance(m, {Case("a", 0.95, 0.94), Case("b", 0.96, 0.93), Case("c", 0.94, 0.95), failed});
  EXPECT_FALSE(with_failure["passed"]);
  EXPECT_DOUBLE_EQ(with_failure["labels"][0]["failure_rate"].get<double>(), 0.25);
  EXPECT_NEAR(with_failure["labels"][0]["mean_dice"].get<double>(), 0.95, 1e-12);
}

TEST(AcceptanceRules, AManifestsCriteriaNameEachOutputSegmentAtMostOnce) {
  const std::string base = "id = \"x\"\nversion = \"1\"\nname = \"x\"\n[[output.segments]]\nlabel = 1\nname = \"A\"\n"
                           "[runner]\nkind = \"builtin\"\nentry = \"ct-lungs\"\n[acceptance]\nmin_cases = 3\n";
  EXPECT_TRUE(ParseManifest(base + "[[acceptance.segments]]\nlabel = 1\nmin_mean_dice = 0.9\n"));
  auto twice = ParseManifest(base + "[[acceptance.segments]]\nlabel = 1\n[[acceptance.segments]]\nlabel = 1\n");
  ASSERT_FALSE(twice);
  EXPECT_NE(twice.error().public_message.find("twice"), std::string::npos);
  EXPECT_FALSE(ParseManifest(base + "[[acceptance.segments]]\nlabel = 2\n"));            // not an output segment
  EXPECT_FALSE(ParseManifest(base + "[[acceptance.segments]]\nlabel = 1\nmin_mean_dice = 1.5\n"));
  EXPECT_FALSE(ParseManifest(base + "[[acceptance.segments]]\nlabel = 1\nmax_hd95_mm = -1\n"));
}

TEST(AcceptanceRules, IntervalsAreStudentTForMeansAndWilsonForRates) {
  EXPECT_FALSE(MeanInterval95({0.9}));
  auto ci = MeanInterval95({0.9, 1.0});
  ASSERT_TRUE(ci);
  // mean 0.95, sd 0.0707, t(1) 12.706: half width 0.635.
  EXPECT_NEAR(ci->first, 0.95 - 0.6353, 1e-3);
  EXPECT_NEAR(ci->second, 0.95 + 0.6353, 1e-3);
  auto w = WilsonInterval95(0, 10);
  EXPECT_DOUBLE_EQ(w.first, 0);
  EXPECT_NEAR(w.second, 0.2775, 1e-3);
  auto half = WilsonInterval95(5, 10);
  EXPECT_NEAR(half.first, 0.2366, 1e-3);
  EXPECT_NEAR(half.second, 0.7634, 1e-3);
}

TEST(AcceptanceRules, SubgroupsByAcquisitionAndTagAndTheWorstCasesFirst) {
  auto r = EvaluateAcceptance(LungsManifest(), {Case("a", 0.95, 0.94, "GE", {"follow-up"}), Case("b", 0.5, 0.4, "Siemens"),
                                                Case("c", 0.94, 0.95, "GE", {"follow-up"})});
  std::set<std::string> groups;
  for (const auto& g : r["subgroups"]) groups.insert(g["by"].get<std::string>() + "=" + g["value"].get<std::string>());
  EXPECT_TRUE(groups.contains("manufacturer=GE"));
  EXPECT_TRUE(groups.contains("manufacturer=Siemens"));
  EXPECT_TRUE(groups.contains("tag=follow-up"));
  EXPECT_TRUE(groups.contains("slice_thickness=<= 1.5 mm"));
  EXPECT_EQ(r["worst_cases"][0], "b");
}

TEST(AcceptanceRules, TheHtmlReportEscapesEverythingFromOutside) {
  auto r = EvaluateAcceptance(LungsManifest(), {Case("<script>alert(1)</script>", 0.95, 0.94, "<b>x</b>", {"<img src=x>"})});
  const std::string html = AcceptanceReportHtml(r, {{"<script>alert(1)</script>", "\x89PNG"}});
  EXPECT_EQ(html.find("<script>"), std::string::npos);
  EXPECT_EQ(html.find("<img src=x>"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;"), std::string::npos);
  EXPECT_NE(html.find("data:image/png;base64,"), std::string::npos);
}

// ---- the service, on every catalog backend ----

class DeploymentsTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!backend_.SetUp(GetParam())) GTEST_SKIP() << backend_.skip_reason;
    auto opened = backend_.Open();
    ASSERT_TRUE(opened) << opened.error().detail;
    catalog_ = std::move(*opened);
    a_ = catalog_->CreateTenant("alpha", "Alpha", {1, 2, 3}, "ALPHA")->id;
    b_ = catalog_->CreateTenant("beta", "Beta", {4, 5, 6}, "BETA")->id;
    for (const char* v : {"1.0", "1.1", "1.2"}) {
      storage::AlgorithmRecord record{"ct-lungs", v, "CT lungs", "{}"};
      ASSERT_TRUE(catalog_->AddAlgorithm(record));
    }
    deployments_ = std::make_unique<Deployments>(*catalog_, *catalog_, *catalog_);
  }
  void TearDown() override {
    deployments_.reset();
    catalog_.reset();
    backend_.TearDown();
  }
  storage::testing::CatalogBackend backend_;
  std::unique_ptr<storage::SqlCatalog> catalog_;
  std::unique_ptr<Deployments> deployments_;
  std::int64_t a_ = 0, b_ = 0;
};

TEST_P(DeploymentsTest, AClinicIsPinnedToTheDefaultOnFirstUseAndANewDefaultMovesOnlyClinicsNotYetPinned) {
  auto first = deployments_->Current(a_, "ct-lungs", 100);
  ASSERT_TRUE(first) << first.error().public_message;
  EXPECT_EQ(first->pinned, "1.0");
  ASSERT_TRUE(deployments_->SetDefault("ct-lungs", "1.1", "vendor", 200));
  // Both clinics existed when the default changed: both stay on 1.0.
  EXPECT_EQ(deployments_->Current(a_, "ct-lungs", 300)->pinned, "1.0");
  EXPECT_EQ(deployments_->Current(b_, "ct-lungs", 300)->pinned, "1.0");
  auto c = catalog_->CreateTenant("gamma", "Gamma", {7, 8, 9}, "GAMMA");
  ASSERT_TRUE(c);
  EXPECT_EQ(deployments_->Current(c->id, "ct-lungs", 400)->pinned, "1.1");
  auto history = deployments_->History(a_, "ct-lungs", 10);
  ASSERT_TRUE(history);
  ASSERT_EQ(history->size(), 1u);
  EXPECT_EQ((*history)[0].action, "pinned");
}

TEST_P(DeploymentsTest, PromotionRollbackAndTheVersionARunGetsAreThoseOfTheClinicAlone) {
  ASSERT_TRUE(deployments_->Act(a_, "ct-lungs", Promote("1.1"), "vendor", 100));
  EXPECT_EQ(deployments_->ForRun(a_, "ct-lungs", "1.2.3", "", 110)->version, "1.1");
  EXPECT_EQ(deployments_->ForRun(b_, "ct-lungs", "1.2.3", "", 110)->version, "1.0");
  // A clinic may name only what it is deployed.
  auto other = deployments_->ForRun(b_, "ct-lungs", "1.2.3", "1.1", 110);
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, ErrorCode::kForbidden);
  EXPECT_EQ(other.error().reason, "version_not_deployed");
  ASSERT_TRUE(deployments_->Act(a_, "ct-lungs", Simple(DeploymentActionKind::kRollback), "vendor", 120));
  EXPECT_EQ(deployments_->ForRun(a_, "ct-lungs", "1.2.3", "", 130)->version, "1.0");
  auto unknown = deployments_->Act(a_, "ct-lungs", Promote("9.9"), "vendor", 140);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
  auto events = deployments_->History(a_, "ct-lungs", 10);
  ASSERT_TRUE(events);
  std::vector<std::string> actions;
  for (const auto& e : *events) actions.push_back(e.action);
  EXPECT_EQ(actions, (std::vector<std::string>{"rolled_back", "promoted", "pinned"}));
}

TEST_P(DeploymentsTest, AWithdrawnVersionCannotBePromotedNorRolledBackTo) {
  ASSERT_TRUE(deployments_->Act(a_, "ct-lungs", Promote("1.1"), "vendor", 100));
  ASSERT_TRUE(catalog_->SetAlgorithmEnabled("ct-lungs", "1.0", false));
  auto back = deployments_->Act(a_, "ct-lungs", Simple(DeploymentActionKind::kRollback), "vendor", 110);
  ASSERT_FALSE(back);
  EXPECT_EQ(back.error().code, ErrorCode::kConflict);
  EXPECT_EQ(deployments_->Current(a_, "ct-lungs", 120)->pinned, "1.1");
  EXPECT_FALSE(deployments_->Act(b_, "ct-lungs", Promote("1.0"), "vendor", 130));
}

TEST_P(DeploymentsTest, TheClinicsGateRefusesAPromotionWithItsReason) {
  deployments_->SetPromotionGate([&](std::int64_t tenant, const std::string&, const std::string& version) -> Result<void> {
    if (tenant == a_ && version == "1.2") return Fail(ErrorCode::kConflict, "no passed acceptance run of 1.2");
    return {};
  });
  auto refused = deployments_->Act(a_, "ct-lungs", Promote("1.2"), "vendor", 100);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().public_message, "no passed acceptance run of 1.2");
  EXPECT_TRUE(deployments_->Act(b_, "ct-lungs", Promote("1.2"), "vendor", 100));
  // Rollbacks and shadows are never gated: going back must always be possible.
  EXPECT_TRUE(deployments_->Act(a_, "ct-lungs", Simple(DeploymentActionKind::kShadow, "1.2"), "vendor", 110));
}

TEST_P(DeploymentsTest, ConcurrentChangesToOneClinicAreAllKeptNoneLost) {
  ASSERT_TRUE(deployments_->Current(a_, "ct-lungs", 100));
  std::thread promote([&] { EXPECT_TRUE(deployments_->Act(a_, "ct-lungs", Promote("1.1", 20), "one", 110)); });
  std::thread shadow([&] {
    EXPECT_TRUE(deployments_->Act(a_, "ct-lungs", Simple(DeploymentActionKind::kShadow, "1.2"), "two", 110));
  });
  promote.join();
  shadow.join();
  auto d = deployments_->Current(a_, "ct-lungs", 120);
  ASSERT_TRUE(d);
  ASSERT_TRUE(d->canary);
  EXPECT_EQ(d->canary->version, "1.1");
  EXPECT_EQ(d->shadow, "1.2");
}

TEST_P(DeploymentsTest, ScheduledChangesApplyOnTimeAndEveryEventIsDeliveredOnceInOrder) {
  ASSERT_TRUE(deployments_->Act(a_, "ct-lungs", Promote("1.1", 100, 1000), "vendor", 100));
  EXPECT_EQ(*deployments_->AdvanceAll(999), 0);
  EXPECT_EQ(*deployments_->AdvanceAll(1000), 1);
  EXPECT_EQ(deployments_->Current(a_, "ct-lungs", 1001)->pinned, "1.1");
  std::vector<std::string> delivered;
  bool down = true;
  auto deliver = [&](const std::string& body) -> Result<void> {
    if (down) return Fail(ErrorCode::kUnavailable, "webhook down");
    delivered.push_back(json::parse(body)["event"]["action"]);
    return {};
  };
  EXPECT_FALSE(deployments_->Notify(deliver, 1100));  // nothing goes out, nothing is lost
  down = false;
  EXPECT_EQ(*deployments_->Notify(deliver, 1200), 3);
  EXPECT_EQ(delivered, (std::vector<std::string>{"pinned", "scheduled", "promoted"}));
  EXPECT_EQ(*deployments_->Notify(deliver, 1300), 0);
}

TEST_P(DeploymentsTest, AShadowRunIsMadeOnceAndItsLabelsCountAsReferencedBlobs) {
  storage::ShadowRunRecord run;
  run.tenant_id = a_;
  run.pinned_job_id = 7;
  run.algorithm_id = "ct-lungs";
  run.pinned_version = "1.0";
  run.shadow_version = "1.1";
  run.series_uid = "1.2.3";
  run.created_at = 100;
  EXPECT_TRUE(*catalog_->AddShadowRun(run));
  EXPECT_FALSE(*catalog_->AddShadowRun(run));
  ASSERT_TRUE(catalog_->SetShadowJob(a_, 7, 42));
  run.state = "succeeded";
  run.labels_blob = "00aa" + crypto::RandomHexId(12);
  run.result_json = R"({"agreement":[]})";
  run.finished_at = 200;
  ASSERT_TRUE(catalog_->FinishShadowRun(run));
  auto found = catalog_->FindShadowRun(a_, 7);
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->shadow_job_id, 42);
  EXPECT_EQ((*found)->state, "succeeded");
  EXPECT_TRUE(*catalog_->IsBlobReferenced({a_, run.labels_blob}));
  EXPECT_FALSE(*catalog_->IsBlobReferenced({b_, run.labels_blob}));
  EXPECT_FALSE(*catalog_->FindShadowRun(b_, 7));  // another clinic's pinned job 7 has none
  storage::ShadowRunFilter filter;
  filter.algorithm_id = "ct-lungs";
  filter.tenant_id = b_;
  EXPECT_TRUE(catalog_->ListShadowRuns(filter)->empty());
}

TEST_P(DeploymentsTest, ReferenceCasesAndAcceptanceRunsAreTheClinicsAlone) {
  ASSERT_TRUE(catalog_->PutReferenceCase({a_, "1.2.3", "1.2", 7, "a.rad", 100}));
  ASSERT_TRUE(catalog_->PutReferenceCase({a_, "1.2.3", "1.2", 8, "a.rad", 110}));  // replaces
  auto refs = catalog_->ListReferenceCases(a_);
  ASSERT_TRUE(refs);
  ASSERT_EQ(refs->size(), 1u);
  EXPECT_EQ((*refs)[0].segmentation_id, 8);
  EXPECT_TRUE(catalog_->ListReferenceCases(b_)->empty());
  EXPECT_EQ(catalog_->RemoveReferenceCase(b_, "1.2.3").error().code, ErrorCode::kNotFound);
  storage::AcceptanceRunRecord run;
  run.tenant_id = a_;
  run.algorithm_id = "ct-lungs";
  run.version = "1.1";
  run.created_by = "a.adm";
  run.created_at = 100;
  auto added = catalog_->AddAcceptanceRun(run);
  ASSERT_TRUE(added) << added.error().detail;
  EXPECT_GT(added->id, 0);
  added->state = "passed";
  added->passed = true;
  added->report_json = R"({"passed":true})";
  added->pictures_sealed = {1, 2, 3};
  added->finished_at = 200;
  ASSERT_TRUE(catalog_->FinishAcceptanceRun(*added));
  auto found = catalog_->FindAcceptanceRun(a_, added->id);
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->passed, true);
  EXPECT_EQ((*found)->pictures_sealed, (std::vector<std::uint8_t>{1, 2, 3}));
  EXPECT_FALSE(*catalog_->FindAcceptanceRun(b_, added->id));
  EXPECT_EQ(catalog_->ListAcceptanceRuns(a_, "ct-lungs", "1.1", 10)->size(), 1u);
  EXPECT_TRUE(catalog_->ListAcceptanceRuns(b_, "", "", 10)->empty());
}

INSTANTIATE_TEST_SUITE_P(Backends, DeploymentsTest, ::testing::Values("sqlite", "postgres"),
                         storage::testing::BackendName);

}  // namespace
}  // namespace vg::services
