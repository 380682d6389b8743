// SqlCatalog: the Catalog (and the other stores) on SQL, embedded (SQLite, WAL) or shared
// by many nodes (PostgreSQL). One writer connection per process behind a mutex, a pool of
// reader connections so searches run in parallel with ingest. Other processes (the admin
// CLI, other nodes) may open the same catalog concurrently: writes that read before they
// write are serialised across all of them (sql::Isolation), ingest is not.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "storage/algorithm_store.h"
#include "storage/annotation_store.h"
#include "storage/catalog.h"
#include "storage/job_store.h"
#include "storage/leader_lease.h"
#include "storage/throttle_store.h"
#include "storage/blob_intent_store.h"
#include "storage/deployment_store.h"
#include "storage/image_alias_store.h"
#include "storage/licensing_store.h"
#include "storage/monitoring_store.h"
#include "storage/sql_db.h"

namespace vg::storage {

class SqlCatalog final : public Catalog,
                            public AnnotationStore,
                            public JobStore,
                            public AlgorithmStore,
                            public LicensingStore,
                            public MonitoringStore,
                            public ImageAliasStore,
                            public ThrottleStore,
                            public BlobIntentStore,
                            public DeploymentStore {
 public:
  // The embedded catalog: a SQLite file.
  static Result<std::unique_ptr<SqlCatalog>> Open(const std::string& path, bool durable, int readers = 4);
  // A PostgreSQL database (libpq URI) that any number of nodes share.
  static Result<std::unique_ptr<SqlCatalog>> OpenPostgres(const std::string& uri, int readers = 4);
  // Whether a shared catalog (PostgreSQL): other nodes read and write it too.
  bool Shared() const { return !writer_.IsSqlite(); }
  // Calls `wake` whenever a job is queued or a running one ends on any node of a shared
  // catalog (PostgreSQL LISTEN/NOTIFY); null on SQLite, where the process that queues a
  // job wakes its own workers and the others poll.
  std::unique_ptr<sql::Listener> ListenForJobs(std::function<void()> wake);
  // The lease that elects one leader among the processes sharing this catalog.
  std::unique_ptr<LeaderLease> NewLeaderLease(std::int64_t key = kLeaderLeaseKey);

  Result<TenantRecord> CreateTenant(const std::string& slug, const std::string& name,
                                    const SealedBytes& wrapped_key, const std::string& ae_title) override;
  Result<void> SetAcceptAnyCaller(std::int64_t tenant_id, bool accept) override;
  Result<void> SetTenantPrivacy(std::int64_t tenant_id, const std::string& deid_profile,
                                const std::string& reject_modalities, const std::string& reject_descriptions,
                                const std::string& trusted_deidentifiers) override;
  Result<TenantRecord> FindTenantByAeTitle(const std::string& ae_title) override;
  Result<void> AddDicomNode(const DicomNodeRecord& node) override;
  Result<std::vector<DicomNodeRecord>> ListDicomNodes(std::int64_t tenant_id) override;
  Result<void> RemoveDicomNode(std::int64_t tenant_id, const std::string& ae_title) override;
  Result<TenantRecord> FindTenant(const std::string& slug) override;
  Result<TenantRecord> FindTenantById(std::int64_t id) override;
  Result<std::vector<TenantRecord>> ListTenants() override;
  Result<TokenRecord> CreateToken(std::int64_t tenant_id, std::int64_t user_id, const std::string& name,
                                  const Digest& token_hash,
                                  const std::vector<std::string>& scopes,
                                  std::optional<std::int64_t> expires_at) override;
  Result<TokenRecord> FindTokenByHash(const Digest& token_hash) override;
  Result<void> RevokeToken(std::int64_t tenant_id, const std::string& name,
                           std::optional<std::int64_t> owner_id) override;
  Result<std::vector<TokenRecord>> ListTokens(std::int64_t tenant_id) override;

  Result<bool> IsBlobIndexed(std::int64_t tenant_id, const std::string& blob_name) override;
  Result<std::optional<ExistingInstance>> FindInstance(std::int64_t tenant_id, const std::string& sop_uid) override;
  Result<std::vector<CommitResult>> CommitInstances(std::int64_t tenant_id, const std::vector<NewInstance>& batch,
                                                    bool replace) override;

  Result<std::vector<StudyRow>> SearchStudies(std::int64_t tenant_id, const StudyFilter& filter) override;
  Result<std::vector<SeriesRow>> SearchSeries(std::int64_t tenant_id, const SeriesFilter& filter) override;
  Result<std::vector<InstanceRow>> SearchInstances(std::int64_t tenant_id, const InstanceFilter& filter) override;
  Result<CatalogStats> Stats() override;
  Result<void> PurgeTenant(std::int64_t tenant_id) override;
  Result<UserRecord> CreateUser(const UserRecord& user) override;
  Result<UserRecord> FindUser(const std::string& username) override;
  Result<UserRecord> FindUserById(std::int64_t id) override;
  Result<std::vector<UserRecord>> ListUsers(std::int64_t tenant_id) override;
  Result<void> SetPassword(std::int64_t user_id, const std::string& password_hash, bool must_change) override;
  Result<void> SetUserDisabled(std::int64_t user_id, bool disabled) override;
  Result<void> RevokeUserSessions(std::int64_t user_id, std::optional<std::int64_t> keep) override;
  Result<SessionRecord> CreateSession(std::int64_t user_id, const Digest& token_hash, const Digest& csrf_hash) override;
  Result<SessionRecord> FindSession(const Digest& token_hash) override;
  Result<SessionRecord> FindSessionById(std::int64_t session_id) override;
  Result<void> TouchSession(std::int64_t session_id) override;
  Result<void> RevokeSession(std::int64_t session_id) override;
  Result<SupportGrantRecord> CreateGrant(const SupportGrantRecord& grant) override;
  Result<std::vector<SupportGrantRecord>> ListGrants(std::optional<std::int64_t> tenant_id) override;
  Result<void> RevokeGrant(std::int64_t tenant_id, std::int64_t grant_id) override;
  Result<void> AppendAudit(const std::vector<AuditEvent>& events) override;
  Result<std::vector<AuditRecord>> ListAudit(const AuditFilter& filter) override;
  Result<AuditVerification> VerifyAudit() override;

  // AnnotationStore (sql_annotations.cpp).
  Result<TenantSettings> GetSettings(std::int64_t tenant_id) override;
  Result<void> SetSettings(std::int64_t tenant_id, const TenantSettings& settings) override;
  Result<std::vector<TagRecord>> ListTags(std::int64_t tenant_id) override;
  Result<TagRecord> CreateTag(const TagRecord& tag) override;
  Result<void> DeleteTag(std::int64_t tenant_id, const std::string& name) override;
  Result<std::vector<StudyTagRecord>> ListStudyTags(std::int64_t tenant_id,
                                                    const std::vector<std::string>& study_uids) override;
  Result<std::pair<StudyTagRecord, bool>> AddStudyTag(const StudyTagRecord& tag) override;
  Result<void> RemoveStudyTag(std::int64_t tenant_id, const std::string& study_uid, std::int64_t id) override;
  Result<std::vector<StudyStatusRecord>> GetStatuses(std::int64_t tenant_id,
                                                     const std::vector<std::string>& study_uids) override;
  Result<void> SetStatus(const StudyStatusRecord& status) override;
  Result<SegmentationRecord> CreateSegmentation(const SegmentationRecord& record) override;
  Result<SegmentationRecord> FindSegmentation(std::int64_t tenant_id, std::int64_t id) override;
  Result<std::optional<SegmentationRecord>> FindSegmentationByJob(std::int64_t tenant_id, std::int64_t job_id) override;
  Result<std::vector<SegmentationRecord>> ListSegmentations(std::int64_t tenant_id, const std::string& study_uid,
                                                            const std::optional<std::string>& series) override;
  Result<std::vector<LatestVersion>> LatestVersionsBySeries(std::int64_t tenant_id) override;
  Result<std::map<std::string, std::int64_t>> CountSegmentations(std::int64_t tenant_id,
                                                                 const std::vector<std::string>& study_uids) override;
  Result<std::vector<SegmentationImportCandidate>> FindImportCandidates(std::int64_t now, std::int64_t quiet_seconds,
                                                                       std::int64_t limit, std::int64_t since = 0) override;
  Result<std::optional<std::int64_t>> SeriesLastStored(std::int64_t tenant_id, const std::string& series_uid) override;
  Result<void> RecordImport(const SegmentationImportRecord& record) override;
  Result<std::optional<SegmentationImportRecord>> FindImport(std::int64_t tenant_id, const std::string& sop_uid) override;
  Result<WorklistPage> SearchWorklist(std::int64_t tenant_id, const WorklistFilter& filter) override;

  // JobStore (sql_jobs.cpp).
  Result<JobRecord> EnqueueJob(const JobRecord& job) override;
  Result<JobRecord> ForTenantAlone(std::int64_t tenant_id, const std::function<Result<JobRecord>()>& body) override;
  Result<JobRecord> FindJob(std::int64_t tenant_id, std::int64_t id) override;
  Result<std::vector<JobRecord>> ListJobs(std::int64_t tenant_id, const JobFilter& filter) override;
  Result<std::optional<JobRecord>> ClaimJob(const ClaimOptions& options) override;
  Result<bool> Heartbeat(std::int64_t job_id, const std::string& worker, std::int64_t lease_seconds, std::int64_t done,
                         std::int64_t total, const std::string& note) override;
  Result<void> FinishJob(std::int64_t job_id, const std::string& worker, const std::string& state,
                         const std::string& result, const std::string& error) override;
  Result<JobRecord> CancelJob(std::int64_t tenant_id, std::int64_t id) override;
  Result<bool> ForegroundWorkPending() override;
  Result<void> ReleaseJob(std::int64_t job_id, const std::string& worker) override;

  // AlgorithmStore (sql_algorithms.cpp).
  Result<AlgorithmRecord> AddAlgorithm(const AlgorithmRecord& record) override;
  Result<std::vector<AlgorithmRecord>> ListAlgorithms() override;
  Result<AlgorithmRecord> FindAlgorithm(const std::string& id, const std::string& version) override;
  Result<void> SetDefaultVersion(const std::string& id, const std::string& version) override;
  Result<void> SetAlgorithmEnabled(const std::string& id, const std::string& version, bool enabled) override;
  Result<AutoRuleRecord> CreateAutoRule(const AutoRuleRecord& rule) override;
  Result<std::vector<AutoRuleRecord>> ListAutoRules(std::int64_t tenant_id) override;
  Result<void> DeleteAutoRule(std::int64_t tenant_id, std::int64_t id) override;
  Result<std::vector<AutoRunCandidate>> FindAutoRunCandidates(std::int64_t now, std::int64_t limit) override;
  Result<bool> MarkRuleFired(std::int64_t rule_id, const std::string& series_uid, std::int64_t job_id) override;

  // LicensingStore (sql_licensing.cpp).
  Result<PlanRecord> AddPlanVersion(const std::string& name, const std::string& json,
                                    const std::string& created_by) override;
  Result<PlanRecord> FindPlan(const std::string& name, std::optional<std::int64_t> version) override;
  Result<std::vector<PlanRecord>> ListPlans() override;
  Result<std::optional<SubscriptionRecord>> FindSubscription(std::int64_t tenant_id) override;
  Result<std::vector<SubscriptionRecord>> ListSubscriptions() override;
  Result<bool> ReplaceSubscription(const std::optional<std::string>& expected, const SubscriptionRecord& record) override;
  Result<void> PutUsage(const UsageRecord& record) override;
  Result<std::vector<UsageRecord>> ListUsage(std::int64_t tenant_id, std::int64_t from, std::int64_t to) override;
  Result<std::int64_t> CountedRuns(std::int64_t tenant_id, std::int64_t period_start) override;
  Result<std::int64_t> InFlightRuns(std::int64_t tenant_id) override;
  Result<std::int64_t> AdvanceLicenceClock(std::int64_t now) override;
  Result<std::optional<std::pair<std::int64_t, SealedBytes>>> LicenceClock() override;
  Result<bool> SetLicenceClock(std::optional<std::int64_t> expected, std::int64_t value, const SealedBytes& seal) override;
  Result<std::pair<SealedBytes, bool>> InstallationSealed(const SealedBytes& candidate) override;

  // MonitoringStore (sql_monitoring.cpp).
  Result<FeedbackRecord> AddFeedback(const FeedbackRecord& record) override;
  Result<std::vector<FeedbackRecord>> ListFeedback(std::optional<std::int64_t> tenant_id,
                                                   const std::vector<std::int64_t>& job_ids) override;
  Result<BugReportRecord> AddBugReport(const BugReportRecord& record,
                                       const std::function<Result<SealedBytes>(std::int64_t id)>& seal_body) override;
  Result<BugReportRecord> FindBugReport(std::optional<std::int64_t> tenant_id, std::int64_t id) override;
  Result<std::vector<BugReportRecord>> ListBugReports(std::optional<std::int64_t> tenant_id,
                                                      const std::string& status) override;
  Result<void> SetBugStatus(std::int64_t id, const std::string& status) override;
  Result<BugCommentRecord> AddBugComment(const BugCommentRecord& record) override;
  Result<std::vector<BugCommentRecord>> ListBugComments(std::int64_t report_id) override;
  Result<std::vector<JobRecord>> ListRuns(const RunFilter& filter) override;
  Result<std::pair<std::int64_t, std::optional<std::int64_t>>> QueueState() override;
  Result<std::vector<RunStatsRow>> RunStats(const std::vector<double>& bounds_seconds) override;
  Result<std::vector<std::pair<std::string, std::int64_t>>> FeedbackCounts() override;

  // ImageAliasStore (sql_image_aliases.cpp).
  Result<void> PutImageAlias(const ImageAlias& alias) override;
  Result<ImageAlias> FindImageAlias(std::int64_t tenant_id, const std::string& name, std::int64_t now) override;
  Result<void> RemoveImageAlias(std::int64_t tenant_id, const std::string& name) override;

  // BlobIntentStore (sql_blob_intents.cpp).
  Result<void> RecordBlobIntent(const BlobKey& key, std::int64_t now) override;
  Result<std::vector<BlobIntent>> StaleBlobIntents(std::int64_t before, std::int64_t limit) override;
  Result<bool> IsBlobReferenced(const BlobKey& key) override;
  Result<void> DropBlobIntent(const BlobKey& key) override;
  // Every blob a committed row names (the same sources as IsBlobReferenced), sorted: what
  // a backup of this catalog needs.
  Result<std::vector<BlobKey>> ReferencedBlobs();

  // DeploymentStore (sql_deployments.cpp).
  Result<std::optional<DeploymentRecord>> FindDeployment(std::int64_t tenant_id, const std::string& algorithm_id) override;
  Result<std::vector<DeploymentRecord>> ListDeployments(std::optional<std::int64_t> tenant_id,
                                                        const std::string& algorithm_id) override;
  Result<bool> ReplaceDeployment(const std::optional<std::string>& expected, const DeploymentRecord& record,
                                 const std::vector<DeploymentEventRecord>& events) override;
  Result<std::vector<DeploymentEventRecord>> ListDeploymentEvents(std::optional<std::int64_t> tenant_id,
                                                                  const std::string& algorithm_id,
                                                                  std::int64_t limit) override;
  Result<std::vector<DeploymentEventRecord>> DeploymentEventsToNotify(std::int64_t limit) override;
  Result<void> MarkDeploymentEventNotified(std::int64_t id, std::int64_t at) override;
  Result<bool> AddShadowRun(const ShadowRunRecord& record) override;
  Result<void> SetShadowJob(std::int64_t tenant_id, std::int64_t pinned_job_id, std::int64_t shadow_job_id) override;
  Result<void> FinishShadowRun(const ShadowRunRecord& record) override;
  Result<void> SetShadowCorrection(std::int64_t tenant_id, std::int64_t pinned_job_id,
                                   const std::string& correction_json) override;
  Result<std::optional<ShadowRunRecord>> FindShadowRun(std::int64_t tenant_id, std::int64_t pinned_job_id) override;
  Result<std::vector<ShadowRunRecord>> ListShadowRuns(const ShadowRunFilter& filter) override;
  Result<void> PutReferenceCase(const ReferenceCaseRecord& record) override;
  Result<void> RemoveReferenceCase(std::int64_t tenant_id, const std::string& series_uid) override;
  Result<std::vector<ReferenceCaseRecord>> ListReferenceCases(std::int64_t tenant_id) override;
  Result<AcceptanceRunRecord> AddAcceptanceRun(const AcceptanceRunRecord& record) override;
  Result<void> SetAcceptanceJob(std::int64_t tenant_id, std::int64_t id, std::int64_t job_id) override;
  Result<void> FinishAcceptanceRun(const AcceptanceRunRecord& record) override;
  Result<std::optional<AcceptanceRunRecord>> FindAcceptanceRun(std::int64_t tenant_id, std::int64_t id) override;
  Result<std::vector<AcceptanceRunRecord>> ListAcceptanceRuns(std::optional<std::int64_t> tenant_id,
                                                              const std::string& algorithm_id, const std::string& version,
                                                              std::int64_t limit) override;

  // ThrottleStore (sql_throttle.cpp).
  Result<std::vector<ThrottleEntry>> ThrottleEntries(const std::vector<std::string>& keys) override;
  Result<void> UpdateThrottle(const std::vector<std::string>& keys, const std::function<void(ThrottleEntry&)>& update,
                              std::int64_t now_ms, std::int64_t forget_before_ms) override;
  Result<void> ClearThrottle(const std::string& key) override;
  Result<bool> IsKnownLoginAddress(const std::string& username, const std::string& address) override;
  Result<void> AddKnownLoginAddress(const std::string& username, const std::string& address, std::int64_t now_ms,
                                    int keep) override;

 private:
  // PurgeTenant's one transaction (the caller holds write_mutex_).
  Result<void> PurgeTenantRows(std::int64_t tenant_id);
  class ReaderLease;
  SqlCatalog(sql::Db writer, std::vector<std::unique_ptr<sql::Db>> readers, std::string path, bool durable);
  static Result<std::unique_ptr<SqlCatalog>> OpenWith(const std::function<Result<sql::Db>()>& connect, int readers,
                                                      const std::string& path, bool durable);
  ReaderLease Reader();
  Result<std::vector<CommitResult>> CommitInstancesLocked(std::int64_t tenant_id, const std::vector<NewInstance>& batch,
                                                          bool replace);
  // fdatasync of the write-ahead log, without the writer lock.
  Result<void> SyncLog();

  sql::Dialect dialect() const { return sql::DialectOf(writer_); }
  // The database's clock (Unix seconds), which judges leases; call with write_mutex_ held.
  Result<std::int64_t> DatabaseNow();
  std::function<Result<sql::Db>()> connect_;  // another connection to this catalog
  std::string uri_;                            // PostgreSQL: the catalog's URI
  // PostgreSQL: tells every node's workers that the queue changed (after a commit).
  Result<void> NotifyJobs();
  std::mutex tenant_lock_mutex_;               // ForTenantAlone, within this process
  std::unique_ptr<sql::Db> tenant_lock_db_;    // PostgreSQL: the connection holding its lock

  std::string path_;
  bool durable_;
  std::mutex write_mutex_;
  sql::Db writer_;
  std::mutex readers_mutex_;
  std::condition_variable readers_cv_;
  std::vector<std::unique_ptr<sql::Db>> idle_readers_;
};

// A reader connection borrowed from the pool for one query (used by every sql_*.cpp).
class SqlCatalog::ReaderLease {
 public:
  ReaderLease(SqlCatalog& owner, std::unique_ptr<sql::Db> db) : owner_(owner), db_(std::move(db)) {}
  ~ReaderLease() {
    std::lock_guard lock(owner_.readers_mutex_);
    owner_.idle_readers_.push_back(std::move(db_));
    owner_.readers_cv_.notify_one();
  }
  sql::Db& db() { return *db_; }
 private:
  SqlCatalog& owner_;
  std::unique_ptr<sql::Db> db_;
};

}  // namespace vg::storage
