// JobStore of SqlCatalog: the durable job queue.
#include "core/clock.h"
#include "storage/sql_catalog.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include "storage/sql_where.h"

namespace vg::storage {
namespace {

constexpr const char* kJobColumns =
    "id, tenant_id, kind, state, priority, params, progress_done, progress_total, progress_note, result, error, "
    "created_by, created_at, started_at, finished_at, lease_owner, lease_expires_at, attempts, max_attempts, "
    "cancel_requested";

JobRecord ReadJob(const sql::Stmt& st);

// The jobs matching `w`, newest first, at most `limit`.
Result<std::vector<JobRecord>> SelectJobs(const sql::Db& db, const sql::Where& w, std::int64_t limit) {
  auto st = sql::Stmt::Prepare(db, std::string("SELECT ") + kJobColumns + " FROM jobs" + w.sql + " ORDER BY id DESC" +
                                       sql::LimitClause(limit, 0));
  if (!st) return std::unexpected(st.error());
  w.BindTo(*st);
  return sql::CollectRows<JobRecord>(*st, ReadJob);
}

JobRecord ReadJob(const sql::Stmt& st) {
  JobRecord j;
  j.id = st.Int(0);
  j.tenant_id = st.Int(1);
  j.kind = st.Text(2);
  j.state = st.Text(3);
  j.priority = st.Int(4);
  j.params = st.Text(5);
  j.progress_done = st.Int(6);
  j.progress_total = st.Int(7);
  j.progress_note = st.Text(8);
  j.result = st.Text(9);
  j.error = st.Text(10);
  j.created_by = st.Text(11);
  j.created_at = st.Int(12);
  j.started_at = st.OptInt(13);
  j.finished_at = st.OptInt(14);
  j.lease_owner = st.Text(15);
  j.lease_expires_at = st.Int(16);
  j.attempts = st.Int(17);
  j.max_attempts = st.Int(18);
  j.cancel_requested = st.Int(19) != 0;
  return j;
}

Result<JobRecord> FindJobIn(sql::Db& db, std::int64_t id) {
  auto st = sql::Stmt::Prepare(db, std::string("SELECT ") + kJobColumns + " FROM jobs WHERE id = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(id);
  return sql::FirstRow<JobRecord>(*st, ReadJob, ErrorCode::kNotFound, "no such job");
}

}  // namespace

Result<std::int64_t> SqlCatalog::DatabaseNow() {
  if (writer_.IsSqlite()) return UnixSeconds();  // one machine, one clock
  auto st = sql::Stmt::Prepare(writer_, "SELECT CAST(extract(epoch from clock_timestamp()) AS BIGINT)");
  if (!st) return std::unexpected(st.error());
  return sql::FirstRow<std::int64_t>(*st, [](const sql::Stmt& s) { return s.Int(0); }, ErrorCode::kInternal, "no time");
}

Result<JobRecord> SqlCatalog::ForTenantAlone(std::int64_t tenant_id, const std::function<Result<JobRecord>()>& body) {
  std::lock_guard lock(tenant_lock_mutex_);
  if (writer_.IsSqlite()) {
    // Other processes on this machine may share the file (a second serve on it, say): a
    // lock file beside it, held for the body.
    const std::string path = path_ + ".submit.lock";
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return Fail(ErrorCode::kInternal, "cannot open the submission lock", std::strerror(errno));
    ::flock(fd, LOCK_EX);
    auto result = body();
    ::close(fd);  // releases the lock
    return result;
  }
  // PostgreSQL: a session advisory lock in the (tenant, "submissions") space, on a
  // connection of its own; if this process dies holding it, the server releases it.
  if (!tenant_lock_db_) {
    auto opened = connect_();
    if (!opened) return std::unexpected(opened.error());
    tenant_lock_db_ = std::make_unique<sql::Db>(std::move(*opened));
  }
  constexpr std::int64_t kSubmissions = 0x7673;  // "vs"
  auto lock_st = sql::Stmt::Prepare(*tenant_lock_db_, "SELECT pg_advisory_lock(CAST(? AS INTEGER), CAST(? AS INTEGER))");
  if (!lock_st) return std::unexpected(lock_st.error());
  lock_st->Bind(kSubmissions).Bind(tenant_id);
  if (auto locked = lock_st->Step(); !locked) {
    tenant_lock_db_.reset();
    return std::unexpected(locked.error());
  }
  auto result = body();
  auto unlock = sql::Stmt::Prepare(*tenant_lock_db_, "SELECT pg_advisory_unlock(CAST(? AS INTEGER), CAST(? AS INTEGER))");
  if (!unlock || !unlock->Bind(kSubmissions).Bind(tenant_id).Step()) tenant_lock_db_.reset();  // closing releases it
  return result;
}

Result<JobRecord> SqlCatalog::EnqueueJob(const JobRecord& job) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_,
                               "INSERT INTO jobs(tenant_id, kind, state, priority, params, created_by, created_at, "
                               "max_attempts) VALUES(?,?,'queued',?,?,?,?,?) RETURNING id");
  if (!st) return std::unexpected(st.error());
  st->Bind(job.tenant_id).Bind(job.kind).Bind(job.priority).Bind(job.params).Bind(job.created_by).Bind(UnixSeconds())
      .Bind(job.max_attempts);
  auto r = sql::RunReturningId(*st);
  if (!r) return std::unexpected(r.error());
  (void)NotifyJobs();  // other nodes' workers; the poll is the fallback
  return FindJobIn(writer_, *r);
}

Result<JobRecord> SqlCatalog::FindJob(std::int64_t tenant_id, std::int64_t id) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), std::string("SELECT ") + kJobColumns + " FROM jobs WHERE tenant_id = ? AND id = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(tenant_id).Bind(id);
  return sql::FirstRow<JobRecord>(*st, ReadJob, ErrorCode::kNotFound, "no such job");
}

Result<std::vector<JobRecord>> SqlCatalog::ListJobs(std::int64_t tenant_id, const JobFilter& filter) {
  sql::Where w;
  w.sql = " WHERE tenant_id = ?";
  w.Int(tenant_id);
  if (filter.kind) { w.And("kind = ?"); w.Text(*filter.kind); }
  if (filter.state) { w.And("state = ?"); w.Text(*filter.state); }
  if (filter.before_id) { w.And("id < ?"); w.Int(*filter.before_id); }
  if (filter.series_uid) { w.And(dialect().JsonText("params", "series_uid") + " = ?"); w.Text(*filter.series_uid); }
  if (filter.algorithm) { w.And(dialect().JsonText("params", "algorithm") + " = ?"); w.Text(*filter.algorithm); }
  auto reader = Reader();
  return SelectJobs(reader.db(), w, filter.limit);
}

Result<std::optional<JobRecord>> SqlCatalog::ClaimJob(const ClaimOptions& options) {
  if (options.kinds.empty()) return std::optional<JobRecord>{};
  std::lock_guard lock(write_mutex_);
  auto tx = sql::Transaction::Begin(writer_);  // serialised: one claimer at a time, across processes and nodes too
  if (!tx) return std::unexpected(tx.error());
  // Leases are judged by the database's clock: the nodes' clocks may disagree.
  auto db_now = DatabaseNow();
  if (!db_now) return std::unexpected(db_now.error());
  const std::int64_t now = *db_now;
  // Leases that ran out: the worker died. Run again, or fail after the last attempt.
  {
    auto requeue = sql::Stmt::Prepare(writer_,
                                      "UPDATE jobs SET state = CASE WHEN cancel_requested <> 0 THEN 'cancelled' "
                                      "WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END, "
                                      "error = CASE WHEN cancel_requested <> 0 THEN 'cancelled' WHEN attempts >= max_attempts "
                                      "THEN 'the worker running this job stopped ' || attempts || ' times' ELSE error END, "
                                      "finished_at = CASE WHEN cancel_requested <> 0 OR attempts >= max_attempts THEN CAST(? AS BIGINT) "
                                      "ELSE NULL END, lease_owner = '' WHERE state = 'running' AND lease_expires_at < ?");
    if (!requeue) return std::unexpected(requeue.error());
    requeue->Bind(now).Bind(now);
    if (auto r = requeue->Run(); !r) return std::unexpected(r.error());
  }
  const std::string kinds = sql::Placeholders(options.kinds.size());
  const std::string background =
      options.background_kinds.empty()
          ? std::string()
          : " AND NOT (j.kind IN (" + sql::Placeholders(options.background_kinds.size()) +
                ") AND EXISTS (SELECT 1 FROM jobs f WHERE f.state IN ('queued', 'running') AND f.kind = 'algorithm'))";
  const std::string held = options.held_tenants.empty()
                               ? std::string()
                               : " AND NOT (j.kind = 'algorithm' AND j.tenant_id IN (" +
                                     sql::Placeholders(options.held_tenants.size()) + "))";
  auto pick = sql::Stmt::Prepare(
      writer_,
      "SELECT id, busy FROM (SELECT j.id, j.priority, (SELECT count(*) FROM jobs r WHERE r.tenant_id = j.tenant_id "
      "AND r.state = 'running') AS busy FROM jobs j WHERE j.state = 'queued' AND j.kind IN (" + kinds + ")" + held + background +
      ") c WHERE busy < ? ORDER BY busy, priority DESC, id LIMIT 1");
  if (!pick) return std::unexpected(pick.error());
  for (const auto& kind : options.kinds) pick->Bind(kind);
  for (auto tenant : options.held_tenants) pick->Bind(tenant);
  for (const auto& kind : options.background_kinds) pick->Bind(kind);
  pick->Bind(options.per_tenant_running_limit);
  auto row = pick->Step();
  if (!row) return std::unexpected(row.error());
  if (!*row) {
    if (auto r = tx->Commit(); !r) return std::unexpected(r.error());
    return std::optional<JobRecord>{};
  }
  const std::int64_t id = pick->Int(0);
  pick->Reset();
  auto claim = sql::Stmt::Prepare(writer_,
                                  "UPDATE jobs SET state = 'running', lease_owner = ?, lease_expires_at = ?, "
                                  "attempts = attempts + 1, started_at = COALESCE(started_at, ?) WHERE id = ?");
  if (!claim) return std::unexpected(claim.error());
  claim->Bind(options.worker).Bind(now + options.lease_seconds).Bind(now).Bind(id);
  if (auto r = claim->Run(); !r) return std::unexpected(r.error());
  auto job = FindJobIn(writer_, id);
  if (!job) return std::unexpected(job.error());
  if (auto r = tx->Commit(); !r) return std::unexpected(r.error());
  return std::optional<JobRecord>(std::move(*job));
}

Result<bool> SqlCatalog::Heartbeat(std::int64_t job_id, const std::string& worker, std::int64_t lease_seconds,
                                      std::int64_t done, std::int64_t total, const std::string& note) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_,
                               "UPDATE jobs SET lease_expires_at = ?, progress_done = ?, progress_total = ?, "
                               "progress_note = ? WHERE id = ? AND state = 'running' AND lease_owner = ?");
  if (!st) return std::unexpected(st.error());
  auto db_now = DatabaseNow();
  if (!db_now) return std::unexpected(db_now.error());
  st->Bind(*db_now + lease_seconds).Bind(done).Bind(total).Bind(note).Bind(job_id).Bind(worker);
  if (auto r = st->Run(); !r) return std::unexpected(r.error());
  if (writer_.Changes() == 0) return Fail(ErrorCode::kConflict, "this worker no longer holds the job");
  auto job = FindJobIn(writer_, job_id);
  if (!job) return std::unexpected(job.error());
  return job->cancel_requested;
}

Result<void> SqlCatalog::FinishJob(std::int64_t job_id, const std::string& worker, const std::string& state,
                                      const std::string& result, const std::string& error) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_,
                               "UPDATE jobs SET state = ?, result = ?, error = ?, finished_at = ?, lease_owner = '', "
                               "progress_done = CASE WHEN ? = 'succeeded' THEN progress_total ELSE progress_done END "
                               "WHERE id = ? AND state = 'running' AND lease_owner = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(state).Bind(result).Bind(error).Bind(UnixSeconds()).Bind(state).Bind(job_id).Bind(worker);
  if (auto r = st->Run(); !r) return r;
  if (writer_.Changes() == 0) return Fail(ErrorCode::kConflict, "this worker no longer holds the job");
  (void)NotifyJobs();  // a clinic's running slot is free: its next job may start anywhere
  return {};
}

Result<void> SqlCatalog::NotifyJobs() {
  if (writer_.IsSqlite()) return {};
  return writer_.Exec("SELECT pg_notify('vg_jobs', '')");
}

Result<bool> SqlCatalog::ForegroundWorkPending() {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), "SELECT count(*) FROM (SELECT 1 FROM jobs WHERE state IN ('queued', 'running') AND "
                                            "kind = 'algorithm' LIMIT 1) f");
  if (!st) return std::unexpected(st.error());
  auto row = st->Step();
  if (!row) return std::unexpected(row.error());
  return *row && st->Int(0) != 0;
}

Result<void> SqlCatalog::ReleaseJob(std::int64_t job_id, const std::string& worker) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_,
                               "UPDATE jobs SET state = 'queued', lease_owner = '', lease_expires_at = 0, attempts = " +
                                   dialect().Greater("0", "attempts - 1") +
                                   " WHERE id = ? AND state = 'running' AND lease_owner = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(job_id).Bind(worker);
  if (auto r = st->Run(); !r) return r;
  (void)NotifyJobs();
  return {};
}

Result<JobRecord> SqlCatalog::CancelJob(std::int64_t tenant_id, std::int64_t id) {
  std::lock_guard lock(write_mutex_);
  auto tx = sql::Transaction::Begin(writer_);
  if (!tx) return std::unexpected(tx.error());
  auto job = FindJobIn(writer_, id);
  if (!job || job->tenant_id != tenant_id) return Fail(ErrorCode::kNotFound, "no such job");
  if (job->state != "queued" && job->state != "running")
    return Fail(ErrorCode::kConflict, "the job has already ended (" + job->state + ")");
  auto st = sql::Stmt::Prepare(writer_,
                               job->state == "queued"
                                   ? "UPDATE jobs SET state = 'cancelled', cancel_requested = 1, finished_at = ?, "
                                     "error = 'cancelled' WHERE id = ?"
                                   : "UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND ? > 0");
  if (!st) return std::unexpected(st.error());
  if (job->state == "queued") st->Bind(UnixSeconds()).Bind(id);
  else st->Bind(id).Bind(std::int64_t{1});
  if (auto r = st->Run(); !r) return std::unexpected(r.error());
  auto updated = FindJobIn(writer_, id);
  if (!updated) return std::unexpected(updated.error());
  if (auto r = tx->Commit(); !r) return std::unexpected(r.error());
  return updated;
}

}  // namespace vg::storage

namespace vg::storage {

// MonitoringStore's job queries live here, beside the job columns.
Result<std::vector<JobRecord>> SqlCatalog::ListRuns(const RunFilter& filter) {
  sql::Where w;
  w.sql = " WHERE kind = 'algorithm' AND created_at >= ? AND created_at < ?";
  w.Int(filter.from);
  w.Int(filter.to);
  if (filter.tenant_id) { w.And("tenant_id = ?"); w.Int(*filter.tenant_id); }
  if (!filter.algorithm.empty()) { w.And(dialect().JsonText("params", "algorithm") + " = ?"); w.Text(filter.algorithm); }
  if (!filter.version.empty()) { w.And(dialect().JsonText("params", "version") + " = ?"); w.Text(filter.version); }
  auto reader = Reader();
  return SelectJobs(reader.db(), w, filter.limit);
}

Result<std::pair<std::int64_t, std::optional<std::int64_t>>> SqlCatalog::QueueState() {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), "SELECT count(*), min(created_at) FROM jobs WHERE state = 'queued'");
  if (!st) return std::unexpected(st.error());
  auto row = st->Step();
  if (!row) return std::unexpected(row.error());
  return std::make_pair(st->Int(0), st->OptInt(1));
}

Result<std::vector<RunStatsRow>> SqlCatalog::RunStats(const std::vector<double>& bounds_seconds) {
  const sql::Dialect d = dialect();
  std::string sql =
      "WITH d AS (SELECT coalesce(" + d.JsonText("params", "algorithm") + ", '') AS a, "
      "coalesce(" + d.JsonText("params", "version") + ", '') AS v, tenant_id AS t, state AS s, "
      "CASE WHEN state = 'succeeded' AND " + d.JsonIsObject("result", "timings_ms") + " THEN "
      "(coalesce(" + d.JsonNumber("result", {"timings_ms", "fetch"}) + ", 0) + coalesce(" +
      d.JsonNumber("result", {"timings_ms", "convert"}) + ", 0) + coalesce(" +
      d.JsonNumber("result", {"timings_ms", "run"}) + ", 0) + coalesce(" +
      d.JsonNumber("result", {"timings_ms", "store"}) + ", 0)) / 1000.0 "
      "ELSE coalesce(finished_at - started_at, 0) END AS seconds "
      "FROM jobs WHERE kind = 'algorithm' AND state IN ('succeeded', 'failed', 'cancelled')) "
      "SELECT a, v, t, s, count(*), sum(seconds)";
  for (size_t i = 0; i < bounds_seconds.size(); ++i) sql += ", sum(CASE WHEN seconds <= ? THEN 1 ELSE 0 END)";
  sql += " FROM d GROUP BY a, v, t, s ORDER BY a, v, t, s";
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), sql);
  if (!st) return std::unexpected(st.error());
  for (double bound : bounds_seconds) st->BindDouble(bound);
  const size_t buckets = bounds_seconds.size();
  return sql::CollectRows<RunStatsRow>(*st, [buckets](const sql::Stmt& row) {
    RunStatsRow r;
    r.algorithm = row.Text(0);
    r.version = row.Text(1);
    r.tenant_id = row.Int(2);
    r.state = row.Text(3);
    r.count = row.Int(4);
    r.seconds_sum = row.Double(5);
    for (size_t i = 0; i < buckets; ++i) r.at_most.push_back(row.Int(6 + static_cast<int>(i)));
    return r;
  });
}

Result<std::vector<std::pair<std::string, std::int64_t>>> SqlCatalog::FeedbackCounts() {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), "SELECT verdict, count(*) FROM feedback GROUP BY verdict ORDER BY verdict");
  if (!st) return std::unexpected(st.error());
  return sql::CollectRows<std::pair<std::string, std::int64_t>>(
      *st, [](const sql::Stmt& row) { return std::make_pair(row.Text(0), row.Int(1)); });
}

}  // namespace vg::storage
