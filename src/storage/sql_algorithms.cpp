// AlgorithmStore of SqlCatalog: the algorithm registry and auto-run rules.
#include "core/clock.h"
#include "storage/sql_catalog.h"
#include "storage/sql_where.h"

namespace vg::storage {
namespace {

constexpr const char* kAlgorithmColumns = "id, version, name, manifest_json, created_at, is_default, enabled";
constexpr const char* kRuleColumns =
    "id, tenant_id, algorithm_id, modality, min_instances, quiet_seconds, enabled, created_by, created_at";

AlgorithmRecord ReadAlgorithm(const sql::Stmt& st) {
  return AlgorithmRecord{st.Text(0), st.Text(1), st.Text(2), st.Text(3), st.Int(4), st.Int(5) != 0, st.Int(6) != 0};
}

AutoRuleRecord ReadRule(const sql::Stmt& st, int at = 0) {
  return AutoRuleRecord{st.Int(at), st.Int(at + 1), st.Text(at + 2), st.Text(at + 3), st.Int(at + 4),
                        st.Int(at + 5), st.Int(at + 6) != 0, st.Text(at + 7), st.Int(at + 8)};
}

}  // namespace

Result<AlgorithmRecord> SqlCatalog::AddAlgorithm(const AlgorithmRecord& record) {
  std::lock_guard lock(write_mutex_);
  auto tx = sql::Transaction::Begin(writer_);
  if (!tx) return std::unexpected(tx.error());
  auto count = sql::Stmt::Prepare(writer_, "SELECT count(*) FROM algorithms WHERE id = ?");
  if (!count) return std::unexpected(count.error());
  count->Bind(record.id);
  auto row = count->Step();
  if (!row) return std::unexpected(row.error());
  const bool first = count->Int(0) == 0;
  count->Reset();
  AlgorithmRecord created = record;
  created.created_at = UnixSeconds();
  created.is_default = first;
  created.enabled = true;
  auto st = sql::Stmt::Prepare(writer_,
                               "INSERT INTO algorithms(id, version, name, manifest_json, created_at, is_default, "
                               "enabled) VALUES(?,?,?,?,?,?,1)");
  if (!st) return std::unexpected(st.error());
  st->Bind(created.id).Bind(created.version).Bind(created.name).Bind(created.manifest_json).Bind(created.created_at)
      .Bind(std::int64_t{first});
  if (auto r = st->Run(); !r) {
    if (writer_.LastFailure() == sql::Failure::kDuplicate)
      return Fail(ErrorCode::kConflict, "algorithm " + record.id + " version " + record.version +
                                            " is registered already; versions never change: register a new version");
    return std::unexpected(r.error());
  }
  if (auto r = tx->Commit(); !r) return std::unexpected(r.error());
  return created;
}

Result<std::vector<AlgorithmRecord>> SqlCatalog::ListAlgorithms() {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), std::string("SELECT ") + kAlgorithmColumns +
                                                " FROM algorithms ORDER BY id, created_at, version");
  if (!st) return std::unexpected(st.error());
  return sql::CollectRows<AlgorithmRecord>(*st, ReadAlgorithm);
}

Result<AlgorithmRecord> SqlCatalog::FindAlgorithm(const std::string& id, const std::string& version) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), std::string("SELECT ") + kAlgorithmColumns + " FROM algorithms WHERE id = ? AND " +
                                                (version.empty() ? "is_default = 1" : "version = ?"));
  if (!st) return std::unexpected(st.error());
  st->Bind(id);
  if (!version.empty()) st->Bind(version);
  return sql::FirstRow<AlgorithmRecord>(*st, ReadAlgorithm, ErrorCode::kNotFound,
                                        version.empty() ? "no algorithm '" + id + "'"
                                                        : "no algorithm '" + id + "' version " + version);
}

Result<void> SqlCatalog::SetDefaultVersion(const std::string& id, const std::string& version) {
  std::lock_guard lock(write_mutex_);
  auto tx = sql::Transaction::Begin(writer_);
  if (!tx) return std::unexpected(tx.error());
  auto set = sql::Stmt::Prepare(writer_, "UPDATE algorithms SET is_default = CASE WHEN version = ? THEN 1 ELSE 0 END WHERE id = ?");
  if (!set) return std::unexpected(set.error());
  set->Bind(version).Bind(id);
  if (auto r = set->Run(); !r) return r;
  auto check = sql::Stmt::Prepare(writer_, "SELECT 1 FROM algorithms WHERE id = ? AND version = ?");
  if (!check) return std::unexpected(check.error());
  check->Bind(id).Bind(version);
  auto row = check->Step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return Fail(ErrorCode::kNotFound, "no algorithm '" + id + "' version " + version);
  check->Reset();
  return tx->Commit();
}

Result<void> SqlCatalog::SetAlgorithmEnabled(const std::string& id, const std::string& version, bool enabled) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_, "UPDATE algorithms SET enabled = ? WHERE id = ? AND version = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(std::int64_t{enabled}).Bind(id).Bind(version);
  if (auto r = st->Run(); !r) return r;
  if (writer_.Changes() == 0) return Fail(ErrorCode::kNotFound, "no algorithm '" + id + "' version " + version);
  return {};
}

Result<AutoRuleRecord> SqlCatalog::CreateAutoRule(const AutoRuleRecord& rule) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_,
                               "INSERT INTO auto_rules(tenant_id, algorithm_id, modality, min_instances, quiet_seconds, "
                               "enabled, created_by, created_at) VALUES(?,?,?,?,?,?,?,?) RETURNING id");
  if (!st) return std::unexpected(st.error());
  AutoRuleRecord created = rule;
  created.created_at = UnixSeconds();
  st->Bind(rule.tenant_id).Bind(rule.algorithm_id).Bind(rule.modality).Bind(rule.min_instances).Bind(rule.quiet_seconds)
      .Bind(std::int64_t{rule.enabled}).Bind(rule.created_by).Bind(created.created_at);
  auto r = sql::RunReturningId(*st);
  if (!r) return std::unexpected(r.error());
  created.id = *r;
  return created;
}

Result<std::vector<AutoRuleRecord>> SqlCatalog::ListAutoRules(std::int64_t tenant_id) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), std::string("SELECT ") + kRuleColumns +
                                                " FROM auto_rules WHERE tenant_id = ? ORDER BY id");
  if (!st) return std::unexpected(st.error());
  st->Bind(tenant_id);
  return sql::CollectRows<AutoRuleRecord>(*st, [](const sql::Stmt& s) { return ReadRule(s); });
}

Result<void> SqlCatalog::DeleteAutoRule(std::int64_t tenant_id, std::int64_t id) {
  std::lock_guard lock(write_mutex_);
  auto tx = sql::Transaction::Begin(writer_);
  if (!tx) return std::unexpected(tx.error());
  // The series a rule fired on reference it: they go first (foreign keys are enforced).
  auto fired = sql::Stmt::Prepare(writer_, "DELETE FROM auto_rule_fired WHERE rule_id IN "
                                           "(SELECT id FROM auto_rules WHERE tenant_id = ? AND id = ?)");
  if (!fired) return std::unexpected(fired.error());
  fired->Bind(tenant_id).Bind(id);
  if (auto r = fired->Run(); !r) return r;
  auto st = sql::Stmt::Prepare(writer_, "DELETE FROM auto_rules WHERE tenant_id = ? AND id = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(tenant_id).Bind(id);
  if (auto r = st->Run(); !r) return r;
  if (writer_.Changes() == 0) return Fail(ErrorCode::kNotFound, "no such rule");
  return tx->Commit();
}

Result<std::vector<AutoRunCandidate>> SqlCatalog::FindAutoRunCandidates(std::int64_t now, std::int64_t limit) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(
      reader.db(),
      std::string("SELECT * FROM (SELECT ") +
          "r.id, r.tenant_id, r.algorithm_id, r.modality, r.min_instances, r.quiet_seconds, r.enabled, r.created_by, "
          "r.created_at, s.study_uid, se.series_uid, "
          "(SELECT count(*) FROM instances i WHERE i.series_id = se.id) AS n, "
          "(SELECT max(created_at) FROM instances i WHERE i.series_id = se.id) AS last "
          "FROM auto_rules r JOIN series se ON se.tenant_id = r.tenant_id AND se.modality = r.modality "
          "JOIN studies s ON s.id = se.study_id "
          "WHERE r.enabled = 1 AND NOT EXISTS (SELECT 1 FROM auto_rule_fired f WHERE f.rule_id = r.id AND "
          "f.series_uid = se.series_uid)) AS c WHERE c.n >= c.min_instances AND c.last <= ? - c.quiet_seconds "
          "ORDER BY c.last LIMIT ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(now).Bind(limit);
  return sql::CollectRows<AutoRunCandidate>(*st, [](const sql::Stmt& s) {
    AutoRunCandidate c;
    c.rule = ReadRule(s);
    c.study_uid = s.Text(9);
    c.series_uid = s.Text(10);
    c.instances = s.Int(11);
    return c;
  });
}

Result<bool> SqlCatalog::MarkRuleFired(std::int64_t rule_id, const std::string& series_uid, std::int64_t job_id) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_,
                               "INSERT INTO auto_rule_fired(rule_id, series_uid, job_id, fired_at) VALUES(?,?,?,?) ON CONFLICT DO NOTHING");
  if (!st) return std::unexpected(st.error());
  st->Bind(rule_id).Bind(series_uid).Bind(job_id).Bind(UnixSeconds());
  if (auto r = st->Run(); !r) return std::unexpected(r.error());
  return writer_.Changes() > 0;
}

}  // namespace vg::storage
