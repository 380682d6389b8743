// DeploymentStore of SqlCatalog: deployments, their events, shadow runs.
#include "core/clock.h"
#include "storage/sql_catalog.h"

namespace vg::storage {
namespace {

constexpr const char* kEventColumns =
    "id, tenant_id, algorithm_id, action, from_version, to_version, detail_json, actor, changed_at, notified_at";
constexpr const char* kShadowColumns =
    "tenant_id, pinned_job_id, shadow_job_id, algorithm_id, pinned_version, shadow_version, series_uid, state, "
    "labels_blob, result_json, error, created_at, finished_at, correction_json";

DeploymentRecord ReadDeployment(const sql::Stmt& st) {
  return DeploymentRecord{st.Int(0), st.Text(1), st.Text(2), st.Int(3)};
}

DeploymentEventRecord ReadEvent(const sql::Stmt& st) {
  DeploymentEventRecord e;
  e.id = st.Int(0);
  e.tenant_id = st.Int(1);
  e.algorithm_id = st.Text(2);
  e.action = st.Text(3);
  e.from_version = st.Text(4);
  e.to_version = st.Text(5);
  e.detail_json = st.Text(6);
  e.actor = st.Text(7);
  e.changed_at = st.Int(8);
  e.notified_at = st.OptInt(9);
  return e;
}

ShadowRunRecord ReadShadow(const sql::Stmt& st) {
  ShadowRunRecord r;
  r.tenant_id = st.Int(0);
  r.pinned_job_id = st.Int(1);
  r.shadow_job_id = st.OptInt(2);
  r.algorithm_id = st.Text(3);
  r.pinned_version = st.Text(4);
  r.shadow_version = st.Text(5);
  r.series_uid = st.Text(6);
  r.state = st.Text(7);
  r.labels_blob = st.Text(8);
  r.result_json = st.Text(9);
  r.error = st.Text(10);
  r.created_at = st.Int(11);
  r.finished_at = st.OptInt(12);
  r.correction_json = st.Text(13);
  return r;
}

}  // namespace

Result<std::optional<DeploymentRecord>> SqlCatalog::FindDeployment(std::int64_t tenant_id, const std::string& algorithm_id) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), "SELECT tenant_id, algorithm_id, state_json, updated_at FROM "
                                            "algorithm_deployments WHERE tenant_id = ? AND algorithm_id = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(tenant_id).Bind(algorithm_id);
  auto rows = sql::CollectRows<DeploymentRecord>(*st, ReadDeployment);
  if (!rows) return std::unexpected(rows.error());
  if (rows->empty()) return std::optional<DeploymentRecord>{};
  return std::optional<DeploymentRecord>(std::move(rows->front()));
}

Result<std::vector<DeploymentRecord>> SqlCatalog::ListDeployments(std::optional<std::int64_t> tenant_id,
                                                                  const std::string& algorithm_id) {
  auto reader = Reader();
  std::string sql = "SELECT tenant_id, algorithm_id, state_json, updated_at FROM algorithm_deployments WHERE 1 = 1";
  if (tenant_id) sql += " AND tenant_id = ?";
  if (!algorithm_id.empty()) sql += " AND algorithm_id = ?";
  auto st = sql::Stmt::Prepare(reader.db(), sql + " ORDER BY algorithm_id, tenant_id");
  if (!st) return std::unexpected(st.error());
  if (tenant_id) st->Bind(*tenant_id);
  if (!algorithm_id.empty()) st->Bind(algorithm_id);
  return sql::CollectRows<DeploymentRecord>(*st, ReadDeployment);
}

Result<bool> SqlCatalog::ReplaceDeployment(const std::optional<std::string>& expected, const DeploymentRecord& record,
                                           const std::vector<DeploymentEventRecord>& events) {
  std::lock_guard lock(write_mutex_);
  auto tx = sql::Transaction::Begin(writer_);
  if (!tx) return std::unexpected(tx.error());
  auto st = expected ? sql::Stmt::Prepare(writer_, "UPDATE algorithm_deployments SET state_json = ?, updated_at = ? "
                                                   "WHERE tenant_id = ? AND algorithm_id = ? AND state_json = ?")
                     : sql::Stmt::Prepare(writer_, "INSERT INTO algorithm_deployments(state_json, updated_at, tenant_id, "
                                                   "algorithm_id) VALUES(?,?,?,?) ON CONFLICT(tenant_id, algorithm_id) "
                                                   "DO NOTHING");
  if (!st) return std::unexpected(st.error());
  st->Bind(record.state_json).Bind(record.updated_at).Bind(record.tenant_id).Bind(record.algorithm_id);
  if (expected) st->Bind(*expected);
  if (auto r = st->Run(); !r) return std::unexpected(r.error());
  if (writer_.Changes() == 0) return false;  // another change came first: nothing written
  for (const auto& e : events) {
    auto add = sql::Stmt::Prepare(writer_, "INSERT INTO deployment_events(tenant_id, algorithm_id, action, from_version, "
                                           "to_version, detail_json, actor, changed_at) VALUES(?,?,?,?,?,?,?,?)");
    if (!add) return std::unexpected(add.error());
    add->Bind(record.tenant_id).Bind(record.algorithm_id).Bind(e.action).Bind(e.from_version).Bind(e.to_version)
        .Bind(e.detail_json).Bind(e.actor).Bind(e.changed_at);
    if (auto r = add->Run(); !r) return std::unexpected(r.error());
  }
  if (auto r = tx->Commit(); !r) return std::unexpected(r.error());
  return true;
}

Result<std::vector<DeploymentEventRecord>> SqlCatalog::ListDeploymentEvents(std::optional<std::int64_t> tenant_id,
                                                                            const std::string& algorithm_id,
                                                                            std::int64_t limit) {
  auto reader = Reader();
  std::string sql = std::string("SELECT ") + kEventColumns + " FROM deployment_events WHERE 1 = 1";
  if (tenant_id) sql += " AND tenant_id = ?";
  if (!algorithm_id.empty()) sql += " AND algorithm_id = ?";
  auto st = sql::Stmt::Prepare(reader.db(), sql + " ORDER BY id DESC LIMIT ?");
  if (!st) return std::unexpected(st.error());
  if (tenant_id) st->Bind(*tenant_id);
  if (!algorithm_id.empty()) st->Bind(algorithm_id);
  st->Bind(limit);
  return sql::CollectRows<DeploymentEventRecord>(*st, ReadEvent);
}

Result<std::vector<DeploymentEventRecord>> SqlCatalog::DeploymentEventsToNotify(std::int64_t limit) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), std::string("SELECT ") + kEventColumns +
                                                " FROM deployment_events WHERE notified_at IS NULL ORDER BY id LIMIT ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(limit);
  return sql::CollectRows<DeploymentEventRecord>(*st, ReadEvent);
}

Result<void> SqlCatalog::MarkDeploymentEventNotified(std::int64_t id, std::int64_t at) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_, "UPDATE deployment_events SET notified_at = ? WHERE id = ? AND notified_at IS NULL");
  if (!st) return std::unexpected(st.error());
  st->Bind(at).Bind(id);
  return st->Run();
}

Result<bool> SqlCatalog::AddShadowRun(const ShadowRunRecord& r) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_, std::string("INSERT INTO shadow_runs(") + kShadowColumns +
                                            ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(tenant_id, pinned_job_id) "
                                            "DO NOTHING");
  if (!st) return std::unexpected(st.error());
  st->Bind(r.tenant_id).Bind(r.pinned_job_id).Bind(r.shadow_job_id).Bind(r.algorithm_id).Bind(r.pinned_version)
      .Bind(r.shadow_version).Bind(r.series_uid).Bind(r.state).Bind(r.labels_blob).Bind(r.result_json).Bind(r.error)
      .Bind(r.created_at).Bind(r.finished_at).Bind(r.correction_json);
  if (auto ok = st->Run(); !ok) return std::unexpected(ok.error());
  return writer_.Changes() > 0;
}

Result<void> SqlCatalog::SetShadowJob(std::int64_t tenant_id, std::int64_t pinned_job_id, std::int64_t shadow_job_id) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_, "UPDATE shadow_runs SET shadow_job_id = ? WHERE tenant_id = ? AND pinned_job_id = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(shadow_job_id).Bind(tenant_id).Bind(pinned_job_id);
  return st->Run();
}

Result<void> SqlCatalog::FinishShadowRun(const ShadowRunRecord& r) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_, "UPDATE shadow_runs SET state = ?, labels_blob = ?, result_json = ?, error = ?, "
                                        "finished_at = ? WHERE tenant_id = ? AND pinned_job_id = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(r.state).Bind(r.labels_blob).Bind(r.result_json).Bind(r.error).Bind(r.finished_at).Bind(r.tenant_id)
      .Bind(r.pinned_job_id);
  if (auto ok = st->Run(); !ok) return ok;
  if (writer_.Changes() == 0) return Fail(ErrorCode::kNotFound, "no such shadow run");
  return {};
}

Result<void> SqlCatalog::SetShadowCorrection(std::int64_t tenant_id, std::int64_t pinned_job_id,
                                             const std::string& correction_json) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_, "UPDATE shadow_runs SET correction_json = ? WHERE tenant_id = ? AND pinned_job_id = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(correction_json).Bind(tenant_id).Bind(pinned_job_id);
  return st->Run();
}

Result<std::optional<ShadowRunRecord>> SqlCatalog::FindShadowRun(std::int64_t tenant_id, std::int64_t pinned_job_id) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), std::string("SELECT ") + kShadowColumns +
                                                " FROM shadow_runs WHERE tenant_id = ? AND pinned_job_id = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(tenant_id).Bind(pinned_job_id);
  auto rows = sql::CollectRows<ShadowRunRecord>(*st, ReadShadow);
  if (!rows) return std::unexpected(rows.error());
  if (rows->empty()) return std::optional<ShadowRunRecord>{};
  return std::optional<ShadowRunRecord>(std::move(rows->front()));
}

Result<std::vector<ShadowRunRecord>> SqlCatalog::ListShadowRuns(const ShadowRunFilter& filter) {
  auto reader = Reader();
  std::string sql = std::string("SELECT ") + kShadowColumns + " FROM shadow_runs WHERE algorithm_id = ?";
  if (!filter.shadow_version.empty()) sql += " AND shadow_version = ?";
  if (filter.tenant_id) sql += " AND tenant_id = ?";
  auto st = sql::Stmt::Prepare(reader.db(), sql + " ORDER BY created_at DESC, pinned_job_id DESC LIMIT ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(filter.algorithm_id);
  if (!filter.shadow_version.empty()) st->Bind(filter.shadow_version);
  if (filter.tenant_id) st->Bind(*filter.tenant_id);
  st->Bind(filter.limit);
  return sql::CollectRows<ShadowRunRecord>(*st, ReadShadow);
}

}  // namespace vg::storage

namespace vg::storage {
namespace {

constexpr const char* kAcceptanceColumns =
    "id, tenant_id, algorithm_id, version, job_id, state, passed, report_json, pictures_sealed, created_by, created_at, "
    "finished_at";

AcceptanceRunRecord ReadAcceptance(const sql::Stmt& st) {
  AcceptanceRunRecord r;
  r.id = st.Int(0);
  r.tenant_id = st.Int(1);
  r.algorithm_id = st.Text(2);
  r.version = st.Text(3);
  r.job_id = st.OptInt(4);
  r.state = st.Text(5);
  if (auto passed = st.OptInt(6)) r.passed = *passed != 0;
  r.report_json = st.Text(7);
  r.pictures_sealed = st.Blob(8);
  r.created_by = st.Text(9);
  r.created_at = st.Int(10);
  r.finished_at = st.OptInt(11);
  return r;
}

}  // namespace

Result<void> SqlCatalog::PutReferenceCase(const ReferenceCaseRecord& r) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_, "INSERT INTO reference_cases(tenant_id, series_uid, study_uid, segmentation_id, "
                                        "marked_by, marked_at) VALUES(?,?,?,?,?,?) ON CONFLICT(tenant_id, series_uid) DO "
                                        "UPDATE SET study_uid = excluded.study_uid, segmentation_id = excluded.segmentation_id, "
                                        "marked_by = excluded.marked_by, marked_at = excluded.marked_at");
  if (!st) return std::unexpected(st.error());
  st->Bind(r.tenant_id).Bind(r.series_uid).Bind(r.study_uid).Bind(r.segmentation_id).Bind(r.marked_by).Bind(r.marked_at);
  return st->Run();
}

Result<void> SqlCatalog::RemoveReferenceCase(std::int64_t tenant_id, const std::string& series_uid) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_, "DELETE FROM reference_cases WHERE tenant_id = ? AND series_uid = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(tenant_id).Bind(series_uid);
  if (auto ok = st->Run(); !ok) return ok;
  if (writer_.Changes() == 0) return Fail(ErrorCode::kNotFound, "that series is not a reference case");
  return {};
}

Result<std::vector<ReferenceCaseRecord>> SqlCatalog::ListReferenceCases(std::int64_t tenant_id) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), "SELECT tenant_id, series_uid, study_uid, segmentation_id, marked_by, marked_at "
                                            "FROM reference_cases WHERE tenant_id = ? ORDER BY marked_at, series_uid");
  if (!st) return std::unexpected(st.error());
  st->Bind(tenant_id);
  return sql::CollectRows<ReferenceCaseRecord>(*st, [](const sql::Stmt& s) {
    return ReferenceCaseRecord{s.Int(0), s.Text(1), s.Text(2), s.Int(3), s.Text(4), s.Int(5)};
  });
}

Result<AcceptanceRunRecord> SqlCatalog::AddAcceptanceRun(const AcceptanceRunRecord& r) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_, "INSERT INTO acceptance_runs(tenant_id, algorithm_id, version, state, report_json, "
                                        "created_by, created_at) VALUES(?,?,?,?,?,?,?) RETURNING id");
  if (!st) return std::unexpected(st.error());
  st->Bind(r.tenant_id).Bind(r.algorithm_id).Bind(r.version).Bind(r.state).Bind(r.report_json).Bind(r.created_by)
      .Bind(r.created_at);
  auto id = sql::RunReturningId(*st);
  if (!id) return std::unexpected(id.error());
  AcceptanceRunRecord out = r;
  out.id = *id;
  return out;
}

Result<void> SqlCatalog::SetAcceptanceJob(std::int64_t tenant_id, std::int64_t id, std::int64_t job_id) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_, "UPDATE acceptance_runs SET job_id = ? WHERE tenant_id = ? AND id = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(job_id).Bind(tenant_id).Bind(id);
  return st->Run();
}

Result<void> SqlCatalog::FinishAcceptanceRun(const AcceptanceRunRecord& r) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_, "UPDATE acceptance_runs SET state = ?, passed = ?, report_json = ?, "
                                        "pictures_sealed = ?, finished_at = ? WHERE tenant_id = ? AND id = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(r.state);
  if (r.passed) st->Bind(std::int64_t{*r.passed});
  else st->BindNull();
  st->Bind(r.report_json).Bind(r.pictures_sealed).Bind(r.finished_at).Bind(r.tenant_id).Bind(r.id);
  if (auto ok = st->Run(); !ok) return ok;
  if (writer_.Changes() == 0) return Fail(ErrorCode::kNotFound, "no such acceptance run");
  return {};
}

Result<std::optional<AcceptanceRunRecord>> SqlCatalog::FindAcceptanceRun(std::int64_t tenant_id, std::int64_t id) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), std::string("SELECT ") + kAcceptanceColumns +
                                                " FROM acceptance_runs WHERE tenant_id = ? AND id = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(tenant_id).Bind(id);
  auto rows = sql::CollectRows<AcceptanceRunRecord>(*st, ReadAcceptance);
  if (!rows) return std::unexpected(rows.error());
  if (rows->empty()) return std::optional<AcceptanceRunRecord>{};
  return std::optional<AcceptanceRunRecord>(std::move(rows->front()));
}

Result<std::vector<AcceptanceRunRecord>> SqlCatalog::ListAcceptanceRuns(std::optional<std::int64_t> tenant_id,
                                                                        const std::string& algorithm_id,
                                                                        const std::string& version, std::int64_t limit) {
  auto reader = Reader();
  std::string sql = std::string("SELECT ") + kAcceptanceColumns + " FROM acceptance_runs WHERE 1 = 1";
  if (tenant_id) sql += " AND tenant_id = ?";
  if (!algorithm_id.empty()) sql += " AND algorithm_id = ?";
  if (!version.empty()) sql += " AND version = ?";
  auto st = sql::Stmt::Prepare(reader.db(), sql + " ORDER BY id DESC LIMIT ?");
  if (!st) return std::unexpected(st.error());
  if (tenant_id) st->Bind(*tenant_id);
  if (!algorithm_id.empty()) st->Bind(algorithm_id);
  if (!version.empty()) st->Bind(version);
  st->Bind(limit);
  return sql::CollectRows<AcceptanceRunRecord>(*st, ReadAcceptance);
}

}  // namespace vg::storage
